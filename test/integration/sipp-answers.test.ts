// The sender against scripted SIPp answers: digest challenge, 423, 489, 500, 503 + Retry-After,
// 412 recovery, and silence (timeout at the configured bound, datagrams per the Timer E schedule).
import assert from 'node:assert/strict';
import { after, describe, it } from 'node:test';
import { timerESendOffsetsMs } from '../../src/sip/transport/timer-e.ts';
import { SIPP_AUTH, startSippUas, type SippUasHandle, type UasScenario } from '../harness/sipp.ts';
import { testSender } from '../support/sender.ts';

const summary = { counts: { 'voice-message': { new: 1, old: 2 } } };
const running: Array<{ stop(): Promise<void> }> = [];
after(async () => {
  for (const r of running.reverse()) await r.stop();
});

async function uas(scenario: UasScenario): Promise<SippUasHandle> {
  const h = await startSippUas({ scenario, transport: 'udp', label: scenario });
  running.push(h);
  return h;
}

async function sender(flags: Record<string, unknown> = {}) {
  const built = await testSender({ 'sip.transactionTimeoutMs': 2000, ...flags });
  running.push({ stop: () => built.sender.close() });
  return built.sender;
}

describe('scripted SIPp answers', () => {
  it('401 challenge: answered with digest credentials, then 200', async () => {
    const h = await uas('uas-401-then-200');
    const s = await sender({ 'sip.auth.username': SIPP_AUTH.username, 'sip.auth.password': SIPP_AUTH.password });
    const out = await s.send({ mailbox: 'sip:2000@mwi.test', summary, route: { mode: 'publish', target: h.uri } });
    assert.equal(out.kind, 'delivered', out.reason);
    const reqs = await h.requests();
    assert.equal(reqs.filter((r) => r.method === 'PUBLISH').length, 2);
  });

  it('401 without credentials is a configuration error', async () => {
    const h = await uas('uas-401-then-200');
    const s = await sender();
    const out = await s.send({ mailbox: 'sip:2001@mwi.test', summary, route: { mode: 'publish', target: h.uri } });
    assert.equal(out.kind, 'config-error');
    assert.equal(out.status, 401);
  });

  it('423: adopts Min-Expires once and succeeds', async () => {
    const h = await uas('uas-423');
    const s = await sender();
    const out = await s.send({ mailbox: 'sip:2002@mwi.test', summary, route: { mode: 'publish', target: h.uri } });
    assert.equal(out.kind, 'delivered', out.reason);
    assert.equal(out.requests, 2);
    assert.equal(out.grantedExpiresSec, 7200);
  });

  it('489 is a configuration error for the target; 500 a permanent failure for the mailbox', async () => {
    const h489 = await uas('uas-489');
    const h500 = await uas('uas-500');
    const s = await sender();
    const a = await s.send({ mailbox: 'sip:2003@mwi.test', summary, route: { mode: 'publish', target: h489.uri } });
    const b = await s.send({ mailbox: 'sip:2003@mwi.test', summary, route: { mode: 'publish', target: h500.uri } });
    assert.deepEqual([a.kind, a.status, a.requests], ['config-error', 489, 1]);
    assert.deepEqual([b.kind, b.status, b.requests], ['permanent', 500, 1]);
  });

  it('503 with Retry-After is retryable and carries the delay', async () => {
    const h = await uas('uas-503-retry-after');
    const s = await sender();
    const out = await s.send({ mailbox: 'sip:2004@mwi.test', summary, route: { mode: 'publish', target: h.uri } });
    assert.deepEqual([out.kind, out.status, out.retryAfterMs], ['retryable', 503, 5000]);
  });

  it('412 on a modify: drops the ETag and sends exactly one initial PUBLISH', async () => {
    const h = await uas('uas-412');
    const s = await sender();
    const route = { mode: 'publish' as const, target: h.uri };
    const first = await s.send({ mailbox: 'sip:2005@mwi.test', summary, route });
    assert.equal(first.kind, 'delivered', first.reason);
    const second = await s.send({ mailbox: 'sip:2005@mwi.test', summary, route });
    assert.equal(second.kind, 'delivered', second.reason);
    assert.equal(second.requests, 2);
    assert.equal((await h.requests()).filter((r) => r.method === 'PUBLISH').length, 3);
  });

  for (const timeoutMs of [1000, 4000]) {
    it(`silence: gives up at ${timeoutMs} ms and SIPp received exactly the Timer E datagrams`, async () => {
      const h = await uas('uas-silent');
      const s = await sender({ 'sip.transactionTimeoutMs': timeoutMs });
      const out = await s.send({ mailbox: 'sip:2006@mwi.test', summary, route: { mode: 'publish', target: h.uri } });
      assert.equal(out.kind, 'retryable');
      assert.equal(out.status, undefined);
      assert.ok(out.elapsedMs >= timeoutMs && out.elapsedMs < timeoutMs + 300, `gave up after ${out.elapsedMs} ms`);
      const expected = timerESendOffsetsMs(500, 4000, timeoutMs); // 1000 ms: 0, 500; 4000 ms: 0, 500, 1500, 3500
      await new Promise((r) => setTimeout(r, 700)); // nothing more may arrive after the give-up
      const got = await h.requests();
      assert.equal(got.length, expected.length);
      const t0 = got[0]?.atMs ?? 0;
      got.forEach((r, i) => assert.ok(Math.abs(r.atMs - t0 - (expected[i] ?? 0)) < 150, `send ${i} at +${r.atMs - t0} ms, expected +${expected[i]}`));
    });
  }
});
