import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import pino from 'pino';
import { FakeClock } from '../../src/clock.ts';
import { newBranch } from '../../src/sip/branch.ts';
import { UserAgentClient } from 'sip.js/lib/core/index.js';
import { SipStack } from '../../src/sip/stack.ts';
import { peekHeader, peekTopViaBranch } from '../../src/sip/wire.ts';
import { FakeTransport, responseTo } from '../support/fake-transport.ts';

const log = pino({ level: 'silent' });
const tick = () => new Promise((r) => setImmediate(r));

function makeStack(opts: { auth?: { username: string; password: string } } = {}) {
  const clock = new FakeClock();
  const transport = new FakeTransport('UDP');
  const stack = new SipStack({ transports: { UDP: transport }, clock, log, userAgent: 'mwi-runner/test', transactionTimeoutMs: 4000, ...opts });
  return { clock, transport, stack };
}

const publish = {
  method: 'PUBLISH' as const,
  requestUri: 'sip:1000@pbx.test',
  fromUri: 'sip:1000@pbx.test',
  toUri: 'sip:1000@pbx.test',
  protocol: 'UDP' as const,
  route: 'sip:127.0.0.1:5070;lr',
  headers: ['Event: message-summary', 'Expires: 3600'],
  body: { contentType: 'application/simple-message-summary', content: 'Messages-Waiting: no\r\n' },
};

describe('SipStack over sip.js UserAgentCore', () => {
  it('builds a request with Route, rport Via, our User-Agent, a strong branch, and no Contact on PUBLISH', async () => {
    const { transport, stack } = makeStack();
    const pending = stack.request(publish);
    await tick();
    const msg = transport.sent[0] ?? '';
    assert.match(msg, /^PUBLISH sip:1000@pbx\.test SIP\/2\.0\r\n/);
    assert.equal(peekHeader(msg, 'Route'), '<sip:127.0.0.1:5070;lr>');
    assert.match(peekHeader(msg, 'Via') ?? '', /^SIP\/2\.0\/UDP 127\.0\.0\.1:5099;branch=z9hG4bK[A-Za-z0-9_-]{11}\.[0-9a-z]+;rport;oc$/);
    assert.equal(peekHeader(msg, 'User-Agent'), 'mwi-runner/test');
    assert.equal(peekHeader(msg, 'Contact'), undefined);
    assert.equal(peekHeader(msg, 'Content-Type'), 'application/simple-message-summary');
    assert.ok(msg.endsWith('\r\n\r\nMessages-Waiting: no\r\n'));
    transport.deliver(responseTo(msg, 200, 'OK', ['SIP-ETag: abc', 'Expires: 3600']));
    const res = await pending;
    await stack.close();
    assert.equal(res.kind, 'response');
    if (res.kind === 'response') {
      assert.equal(res.status, 200);
      assert.equal(res.header('SIP-ETag'), 'abc');
    }
  });

  it('branch ids stay unique: 1M from the generator, 20k concurrent through sip.js transactions', async () => {
    const ids = new Set<string>();
    for (let i = 0; i < 1_000_000; i++) ids.add(newBranch());
    assert.equal(ids.size, 1_000_000);
    const { transport, stack } = makeStack();
    for (let i = 0; i < 20_000; i++) void stack.request(publish);
    await tick();
    const seen = new Set(transport.sent.map((m) => peekTopViaBranch(m)));
    assert.equal(transport.sent.length, 20_000);
    assert.equal(seen.size, 20_000);
    await stack.close();
  });

  it('times out at the configured transaction timeout, not sip.js Timer F, and forgets the transaction', async () => {
    const { clock, transport, stack } = makeStack();
    const pending = stack.request(publish);
    await tick();
    clock.advance(3999);
    let done = false;
    void pending.then(() => (done = true));
    await tick();
    assert.equal(done, false);
    clock.advance(1);
    const res = await pending;
    assert.equal(res.kind, 'timeout');
    assert.equal(stack.stats.timeouts, 1);
    // A late answer is discarded, not delivered to anyone.
    transport.deliver(responseTo(transport.sent[0] ?? '', 200, 'OK'));
    await stack.close();
  });

  it('reports a transport send failure as transport-error, not as a server 503', async () => {
    const { transport, stack } = makeStack();
    transport.failWith = new Error('ECONNREFUSED');
    const res = await stack.request(publish);
    assert.equal(res.kind, 'transport-error');
    if (res.kind === 'transport-error') assert.match(res.error.message, /ECONNREFUSED/);
    await stack.close();
  });

  it('answers a 401 challenge with digest credentials and a new branch', async () => {
    const { transport, stack } = makeStack({ auth: { username: 'alice', password: 's3cret' } });
    const pending = stack.request(publish);
    await tick();
    const first = transport.sent[0] ?? '';
    transport.deliver(responseTo(first, 401, 'Unauthorized', ['WWW-Authenticate: Digest realm="mwi.test", nonce="n1", algorithm=MD5, qop="auth"']));
    await tick();
    const second = transport.sent[1] ?? '';
    assert.match(peekHeader(second, 'Authorization') ?? '', /^Digest .*username="alice".*realm="mwi\.test"/);
    assert.notEqual(peekTopViaBranch(second), peekTopViaBranch(first));
    assert.equal(peekHeader(first, 'CSeq'), '1 PUBLISH');
    assert.equal(peekHeader(second, 'CSeq'), '2 PUBLISH');
    assert.equal(peekHeader(second, 'Call-ID'), peekHeader(first, 'Call-ID'));
    assert.doesNotMatch(second, /s3cret/);
    // Both sends came with the facts of their own text (FakeTransport checks them): the retry's new branch.
    assert.deepEqual(transport.facts.map((f) => f?.branch), [peekTopViaBranch(first), peekTopViaBranch(second)]);
    transport.deliver(responseTo(second, 200, 'OK', ['SIP-ETag: z']));
    const res = await pending;
    assert.equal(res.kind === 'response' && res.status, 200);
    await stack.close();
  });

  it('asks admitRetry before a digest retry: admitted, the retry goes once the slot is granted; refused, nothing more is sent', async () => {
    const challenge = ['WWW-Authenticate: Digest realm="mwi.test", nonce="n1", algorithm=MD5, qop="auth"'];
    const { transport, stack } = makeStack({ auth: { username: 'alice', password: 's3cret' } });
    let grant: ((slot: { ok: true }) => void) | undefined;
    let asked = 0;
    const admitted = stack.request({ ...publish, admitRetry: () => (asked++, new Promise((resolve) => (grant = resolve))) });
    await tick();
    transport.deliver(responseTo(transport.sent[0] ?? '', 401, 'Unauthorized', challenge));
    await tick();
    assert.equal(asked, 1);
    assert.equal(transport.sent.length, 1, 'no retry before the slot is granted');
    grant?.({ ok: true });
    await tick();
    assert.equal(transport.sent.length, 2);
    assert.match(peekHeader(transport.sent[1] ?? '', 'Authorization') ?? '', /^Digest .*username="alice"/);
    transport.deliver(responseTo(transport.sent[1] ?? '', 200, 'OK', ['SIP-ETag: z']));
    const ok = await admitted;
    assert.equal(ok.kind === 'response' && ok.status, 200);

    const refused = stack.request({ ...publish, admitRetry: () => Promise.resolve({ ok: false as const, reason: 'paced', retryAt: 12_345 }) });
    await tick();
    transport.deliver(responseTo(transport.sent[2] ?? '', 407, 'Proxy Authentication Required', ['Proxy-Authenticate: Digest realm="mwi.test", nonce="n2"']));
    const res = await refused;
    assert.deepEqual(res.kind === 'not-admitted' && [res.reason, res.retryAt], ['paced', 12_345]);
    await tick();
    assert.equal(transport.sent.length, 3, 'the refused retry was never sent');
    assert.equal(stack.inFlightTransactions, 0);
    await stack.close();
  });

  it('an admitted digest retry that sip.js fails to build settles as a transport error, nothing escapes', async (t) => {
    const { transport, stack } = makeStack({ auth: { username: 'alice', password: 's3cret' } });
    t.mock.method(UserAgentClient.prototype as unknown as { authenticationGuard: () => boolean }, 'authenticationGuard', () => {
      throw new TypeError('broken challenge handling');
    });
    const pending = stack.request({ ...publish, admitRetry: () => Promise.resolve({ ok: true as const }) });
    await tick();
    transport.deliver(responseTo(transport.sent[0] ?? '', 401, 'Unauthorized', ['WWW-Authenticate: Digest realm="mwi.test", nonce="n1"']));
    const res = await pending;
    assert.equal(res.kind, 'transport-error');
    assert.match(res.kind === 'transport-error' ? res.error.message : '', /digest retry could not be sent: broken challenge handling/);
    assert.equal(transport.sent.length, 1);
    await stack.close();
  });

  it('the deadline passing while a digest retry waits for its slot ends the request; a later grant sends nothing', async () => {
    const { clock, transport, stack } = makeStack({ auth: { username: 'alice', password: 's3cret' } });
    let grant: ((slot: { ok: true }) => void) | undefined;
    const pending = stack.request({ ...publish, admitRetry: () => new Promise((resolve) => (grant = resolve)) });
    await tick();
    transport.deliver(responseTo(transport.sent[0] ?? '', 401, 'Unauthorized', ['WWW-Authenticate: Digest realm="mwi.test", nonce="n1"']));
    await tick();
    clock.advance(4_000);
    assert.equal((await pending).kind, 'timeout');
    grant?.({ ok: true });
    await tick();
    assert.equal(transport.sent.length, 1);
    await stack.close();
  });

  it('a stack without credentials answers no challenge, so it asks no admission: the 401 is the final response', async () => {
    const { transport, stack } = makeStack();
    let asked = 0;
    const pending = stack.request({ ...publish, admitRetry: () => (asked++, Promise.resolve({ ok: true as const })) });
    await tick();
    transport.deliver(responseTo(transport.sent[0] ?? '', 401, 'Unauthorized', ['WWW-Authenticate: Digest realm="mwi.test", nonce="n1"']));
    const res = await pending;
    assert.equal(res.kind === 'response' && res.status, 401);
    assert.equal(asked, 0);
    await stack.close();
  });

  it('sends to the explicit hop RFC 3263 chose, for the first request and its digest retry, then forgets it', async () => {
    const { transport, stack } = makeStack({ auth: { username: 'alice', password: 's3cret' } });
    const hop = { destination: { host: '10.0.0.7', port: 5080 }, hostName: 'ps.example.test' };
    const pending = stack.request({ ...publish, hop });
    await tick();
    transport.deliver(responseTo(transport.sent[0] ?? '', 401, 'Unauthorized', ['WWW-Authenticate: Digest realm="mwi.test", nonce="n1", algorithm=MD5, qop="auth"']));
    await tick();
    transport.deliver(responseTo(transport.sent[1] ?? '', 200, 'OK', ['SIP-ETag: z']));
    await pending;
    const other = stack.request(publish);
    await tick();
    transport.deliver(responseTo(transport.sent[2] ?? '', 200, 'OK', ['SIP-ETag: y']));
    await other;
    assert.deepEqual(transport.hops, [hop, hop, undefined]);
    await stack.close();
  });

  it('accepts a folded response through the sip.js parser fallback', async () => {
    const { transport, stack } = makeStack();
    const pending = stack.request(publish);
    await tick();
    const folded = responseTo(transport.sent[0] ?? '', 200, 'OK', ['SIP-ETag: f1']).replace('\r\nFrom: ', '\r\nFrom:\r\n   ');
    transport.deliver(folded);
    const res = await pending;
    assert.equal(res.kind === 'response' && res.header('SIP-ETag'), 'f1');
    await stack.close();
  });

  it('drops inbound requests and malformed text, counting them', async () => {
    const { transport, stack } = makeStack();
    transport.deliver('garbage\r\n\r\n');
    transport.deliver('SIP/2.0 200 OK\r\nCSeq: x\r\n\r\n');
    transport.deliver('NOTIFY sip:x@y SIP/2.0\r\nVia: SIP/2.0/UDP 1.2.3.4;branch=z9hG4bKx\r\nFrom: <sip:a@b>;tag=1\r\nTo: <sip:x@y>\r\nCall-ID: c\r\nCSeq: 1 NOTIFY\r\nContent-Length: 0\r\n\r\n');
    assert.equal(stack.stats.malformedInbound, 2);
    assert.equal(stack.stats.unexpectedRequests, 1);
    await stack.close();
  });
});
