// Transactions in flight at once to a SIPp UAS that echoes each request's X-Req header: every
// response must reach the transaction that sent it (sip.js's own branch ids collide at this scale).
// 100k run over TCP: over UDP, 100k requests released at once outrun any peer within T1 and Timer E
// retransmissions multiply the load (RFC 6357 collapse; the in-flight cap that prevents it is the
// rate controller's job), so the UDP run keeps 10k in flight.
import assert from 'node:assert/strict';
import { after, describe, it } from 'node:test';
import type { SipResult } from '../../src/sip/stack.ts';
import { startSippUas, type SippUasHandle } from '../harness/sipp.ts';
import { testSender } from '../support/sender.ts';

const cleanups: Array<() => Promise<void>> = [];
after(async () => {
  for (const c of cleanups.reverse()) await c();
});

async function runConcurrent(transport: 'udp' | 'tcp', total: number) {
  const h: SippUasHandle = await startSippUas({ scenario: 'uas-echo', transport, countRequests: false, label: `echo-${transport}-${total}` });
  cleanups.push(() => h.stop());
  const built = await testSender({ 'sip.transactionTimeoutMs': 32_000 });
  cleanups.push(() => built.sender.close());
  const { stack } = built;
  const pending: Array<Promise<SipResult>> = [];
  for (let i = 0; i < total; i++) {
    pending.push(
      stack.request({
        method: 'PUBLISH',
        requestUri: `sip:${i}@mwi.test`,
        fromUri: `sip:${i}@mwi.test`,
        toUri: `sip:${i}@mwi.test`,
        protocol: transport === 'udp' ? 'UDP' : 'TCP',
        route: `${h.uri};lr`,
        headers: ['Event: message-summary', 'Expires: 3600', `X-Req: ${i}`],
        body: { contentType: 'application/simple-message-summary', content: 'Messages-Waiting: no\r\n' },
      }),
    );
  }
  const peakInFlight = stack.inFlightTransactions;
  const results = await Promise.all(pending);
  let matched = 0;
  let wrong = 0;
  const unanswered = new Map<string, number>();
  results.forEach((r, i) => {
    if (r.kind !== 'response') unanswered.set(r.kind, (unanswered.get(r.kind) ?? 0) + 1);
    else if (r.header('X-Req') === String(i)) matched++;
    else wrong++;
  });
  return { peakInFlight, matched, wrong, unanswered: Object.fromEntries(unanswered) };
}

describe('concurrent transactions', () => {
  it('100k in flight over TCP: every response reaches its own transaction', async () => {
    const r = await runConcurrent('tcp', 100_000);
    assert.ok(r.peakInFlight > 90_000, `in flight at once: ${r.peakInFlight}`);
    assert.equal(r.wrong, 0);
    assert.equal(r.matched, 100_000, JSON.stringify(r.unanswered));
  });

  it('10k in flight over UDP: every response reaches its own transaction', async () => {
    const r = await runConcurrent('udp', 10_000);
    assert.ok(r.peakInFlight > 9_000, `in flight at once: ${r.peakInFlight}`);
    assert.equal(r.wrong, 0);
    assert.equal(r.matched, 10_000, JSON.stringify(r.unanswered));
  });
});
