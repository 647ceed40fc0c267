// Fuzz of the inbound path: 100k+ malformed or mutated SIP responses, many of them carrying the
// branch of a live transaction, go through transport -> guarded parser -> sip.js core.
// Nothing may throw out of the handler, every request must still settle, and no transaction may leak.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import pino from 'pino';
import { FakeClock } from '../../src/clock.ts';
import { SipStack, type SipResult } from '../../src/sip/stack.ts';
import { FakeTransport, responseTo } from '../support/fake-transport.ts';
import { prng } from '../support/prng.ts';


const JUNK = ['\0', '\r', '\n', '\r\n', ':', ';', ',', '<', '>', '"', '\\', ' ', '\t', '%', '=', 'SIP/2.0', 'z9hG4bK', '\u00ff', '\ud800', '9999999999999999999', '-1', 'CSeq: ', 'Via: ', 'Content-Length: 99999'];

function mutate(valid: string, rnd: () => number): string {
  const pick = <T>(xs: T[]): T => xs[Math.floor(rnd() * xs.length)] as T;
  let s = valid;
  const n = 1 + Math.floor(rnd() * 4);
  for (let i = 0; i < n; i++) {
    const at = Math.floor(rnd() * (s.length + 1));
    switch (Math.floor(rnd() * 10)) {
      case 9: s = s.replace(/\r\n(From|To|Via|CSeq): /, '\r\n$1:\r\n  '); break; // fold a header: the sip.js parser's path
      case 0: s = s.slice(0, at) + String.fromCharCode(Math.floor(rnd() * 256)) + s.slice(at + 1); break; // flip a char
      case 1: s = s.slice(0, at) + s.slice(at + 1 + Math.floor(rnd() * 20)); break; // delete a run
      case 2: s = s.slice(0, at) + pick(JUNK) + s.slice(at); break; // insert junk
      case 3: s = s.slice(0, at); break; // truncate
      case 4: { const lines = s.split('\r\n'); lines.splice(Math.floor(rnd() * lines.length), 1); s = lines.join('\r\n'); break; } // drop a line
      case 5: { const lines = s.split('\r\n'); const l = pick(lines); lines.splice(Math.floor(rnd() * lines.length), 0, l); s = lines.join('\r\n'); break; } // duplicate a line
      case 6: s = s.replace(/CSeq: [^\r]*/, `CSeq: ${pick(JUNK)}${Math.floor(rnd() * 1e6)} ${pick(['PUBLISH', '', 'X Y', '\u0000'])}`); break;
      case 7: s = s.replace(/^SIP\/2\.0 \d+/, `SIP/2.0 ${pick(['0', '99', '700', '2000', 'abc', '', '-5', '1e3'])}`); break;
      default: s = s.replace(/branch=[^;\r]*/, `branch=${pick(['', 'z9hG4bK', pick(JUNK)])}`); break;
    }
  }
  return s;
}

describe('inbound fuzz', () => {
  it('120k mutated responses: no exception escapes, every request settles, no transaction leaks', async () => {
    const clock = new FakeClock();
    const transport = new FakeTransport('UDP');
    const stack = new SipStack({ transports: { UDP: transport }, clock, log: pino({ level: 'silent' }), userAgent: 'fuzz', transactionTimeoutMs: 4000 });
    const escaped: unknown[] = [];
    const onUncaught = (err: unknown) => escaped.push(err);
    process.on('uncaughtException', onUncaught);
    const rnd = prng(0xc0ffee);
    const results: Array<Promise<SipResult>> = [];
    const rounds = 60;
    const perRound = 2000;
    for (let r = 0; r < rounds; r++) {
      const base = transport.sent.length;
      for (let i = 0; i < 50; i++) {
        results.push(stack.request({ method: 'PUBLISH', requestUri: 'sip:1@x.test', fromUri: 'sip:1@x.test', toUri: 'sip:1@x.test', protocol: 'UDP', headers: ['Event: message-summary'], body: { contentType: 'application/simple-message-summary', content: 'Messages-Waiting: no\r\n' } }));
      }
      await new Promise((res) => setImmediate(res));
      const live = transport.sent.slice(base);
      for (let i = 0; i < perRound; i++) {
        const req = live[Math.floor(rnd() * live.length)] ?? '';
        const status = [100, 180, 200, 202, 401, 407, 412, 423, 489, 500, 503][Math.floor(rnd() * 11)] ?? 200;
        const valid = responseTo(req, status, 'Reason', ['SIP-ETag: e', 'Expires: 60', 'Retry-After: 5', 'WWW-Authenticate: Digest realm="r", nonce="n"', 'Min-Expires: 70']);
        transport.deliver(mutate(valid, rnd));
      }
      clock.advance(4000); // whatever the fuzz did not settle times out
    }
    const settled = await Promise.all(results);
    await new Promise((res) => setTimeout(res, 20)); // sip.js Timer K (0 ms) removes completed transactions
    process.off('uncaughtException', onUncaught);
    assert.deepEqual(escaped, []);
    assert.equal(settled.length, rounds * 50);
    assert.equal(stack.inFlightTransactions, 0);
    assert.ok(stack.stats.malformedInbound > 10_000, `malformed counted: ${stack.stats.malformedInbound}`);
    await stack.close();
  });
});
