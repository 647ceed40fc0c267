import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { FakeClock } from '../../src/clock.ts';
import { MemoryPublicationStore } from '../../src/sip/publication-store.ts';
import { Publisher, publicationKey } from '../../src/sip/publish.ts';
import type { SipRequest, SipResult } from '../../src/sip/stack.ts';
import { parseTarget } from '../../src/sip/target.ts';

type Reply = { status: number; reason?: string; headers?: Record<string, string>; delayMs?: number } | 'timeout' | 'transport' | 'not-admitted';

/** A requester that answers from a script and records what was sent. */
function scripted(clock: FakeClock, replies: Reply[]) {
  const sent: SipRequest[] = [];
  let inFlight = 0;
  let maxInFlight = 0;
  const requester = {
    async request(req: SipRequest): Promise<SipResult> {
      sent.push(req);
      inFlight++;
      maxInFlight = Math.max(maxInFlight, inFlight);
      const reply = replies.shift() ?? { status: 200, headers: { 'SIP-ETag': `e${sent.length}`, Expires: '3600' } };
      await new Promise((r) => setImmediate(r));
      inFlight--;
      const startedAt = clock.now();
      if (reply === 'timeout') return { kind: 'timeout', startedAt, elapsedMs: 4000 };
      if (reply === 'not-admitted') return { kind: 'not-admitted', reason: 'paced', retryAt: startedAt + 250, startedAt, elapsedMs: 1 };
      if (reply === 'transport') return { kind: 'transport-error', error: new (await import('../../src/errors.ts')).MwiError('MWI_SIP_TRANSPORT', 'ECONNREFUSED', { retryable: true }), startedAt, elapsedMs: 1 };
      const headers = Object.fromEntries(Object.entries(reply.headers ?? {}).map(([k, v]) => [k.toLowerCase(), v]));
      return { kind: 'response', status: reply.status, reason: reply.reason ?? 'R', header: (n) => headers[n.toLowerCase()], startedAt, elapsedMs: 1 };
    },
  };
  return { requester, sent, maxInFlight: () => maxInFlight };
}

const target = parseTarget('sip:127.0.0.1:5070', 'UDP');
const aor = 'sip:1000@pbx.test';
const body = 'Messages-Waiting: yes\r\nVoice-Message: 1/0\r\n';
const header = (req: SipRequest | undefined, name: string) => req?.headers.find((h) => h.toLowerCase().startsWith(`${name.toLowerCase()}:`))?.split(':').slice(1).join(':').trim();

function setup(replies: Reply[]) {
  const clock = new FakeClock();
  const store = new MemoryPublicationStore();
  const s = scripted(clock, replies);
  const publisher = new Publisher({ stack: s.requester, store, clock, expiresSec: 3600, transactionTimeoutMs: 4000 });
  return { clock, store, publisher, ...s };
}

describe('Publisher (RFC 3903 state machine)', () => {
  it('sends an initial PUBLISH with body and no SIP-If-Match, then stores the ETag and granted expiry', async () => {
    const { publisher, sent, store, clock } = setup([{ status: 200, reason: 'OK', headers: { 'SIP-ETag': 'a1', Expires: '1800' } }]);
    const out = await publisher.publish({ aor, target, body });
    assert.equal(out.kind, 'delivered');
    assert.equal(out.etag, 'a1');
    assert.equal(out.grantedExpiresSec, 1800);
    assert.equal(sent[0]?.method, 'PUBLISH');
    assert.equal(sent[0]?.requestUri, aor);
    assert.equal(sent[0]?.body?.content, body);
    assert.equal(sent[0]?.body?.contentType, 'application/simple-message-summary');
    assert.equal(header(sent[0], 'Event'), 'message-summary');
    assert.equal(header(sent[0], 'Expires'), '3600');
    assert.equal(header(sent[0], 'SIP-If-Match'), undefined);
    assert.equal(sent[0]?.route, 'sip:127.0.0.1:5070;lr');
    assert.deepEqual(await store.get(publicationKey(target, aor)), { etag: 'a1', expiresAt: clock.now() + 1_800_000 });
  });

  it('modifies with SIP-If-Match and the full body (never a bodiless refresh)', async () => {
    const { publisher, sent } = setup([
      { status: 200, headers: { 'SIP-ETag': 'a1', Expires: '3600' } },
      { status: 200, headers: { 'SIP-ETag': 'a2', Expires: '3600' } },
      { status: 200, headers: { 'SIP-ETag': 'a3', Expires: '3600' } },
    ]);
    await publisher.publish({ aor, target, body });
    await publisher.publish({ aor, target, body });
    const third = await publisher.publish({ aor, target, body: 'Messages-Waiting: no\r\n' });
    assert.equal(header(sent[1], 'SIP-If-Match'), 'a1');
    assert.equal(header(sent[2], 'SIP-If-Match'), 'a2');
    assert.equal(sent[1]?.body?.content, body);
    assert.equal(sent[2]?.body?.content, 'Messages-Waiting: no\r\n');
    assert.equal(third.etag, 'a3');
  });

  it('starts over with an initial PUBLISH once the granted expiry has lapsed', async () => {
    const { publisher, sent, clock } = setup([{ status: 200, headers: { 'SIP-ETag': 'a1', Expires: '60' } }]);
    await publisher.publish({ aor, target, body });
    clock.advance(61_000);
    await publisher.publish({ aor, target, body });
    assert.equal(header(sent[1], 'SIP-If-Match'), undefined);
  });

  it('on 412 drops the ETag and sends exactly one initial PUBLISH', async () => {
    const { publisher, sent } = setup([
      { status: 200, headers: { 'SIP-ETag': 'a1', Expires: '3600' } },
      { status: 412, reason: 'Conditional Request Failed' },
      { status: 200, reason: 'OK', headers: { 'SIP-ETag': 'b1', Expires: '3600' } },
    ]);
    await publisher.publish({ aor, target, body });
    const out = await publisher.publish({ aor, target, body });
    assert.equal(sent.length, 3);
    assert.equal(header(sent[1], 'SIP-If-Match'), 'a1');
    assert.equal(header(sent[2], 'SIP-If-Match'), undefined);
    assert.equal(out.kind, 'delivered');
    assert.equal(out.requests, 2);
    assert.equal(out.etag, 'b1');
    assert.match(out.reason, /^412 .* then 200/);
  });

  it('never loops on 412: a second 412 after the recovery ends the delivery', async () => {
    const { publisher, sent, store } = setup([
      { status: 200, headers: { 'SIP-ETag': 'a1', Expires: '3600' } },
      { status: 412 },
      { status: 412 },
    ]);
    await publisher.publish({ aor, target, body });
    const out = await publisher.publish({ aor, target, body });
    assert.equal(sent.length, 3);
    assert.equal(out.kind, 'permanent');
    assert.equal(out.status, 412);
    assert.equal(await store.get(publicationKey(target, aor)), undefined);
  });

  it('asks admitAnother before the request that follows a 412 or a 423 (the rate is per request); refused: deferred, nothing more sent', async () => {
    // Found by the outage test: after Kamailio resumed, the PUBLISHes it had queued while hung
    // changed the ETags, every next modify got a 412, and the initial PUBLISHes that followed
    // went out without a send slot: 205-217 PUBLISH/s at the server against a limit of 200.
    const asked: string[] = [];
    const ok = setup([
      { status: 200, headers: { 'SIP-ETag': 'a1', Expires: '3600' } },
      { status: 412, reason: 'Conditional Request Failed' },
      { status: 200, headers: { 'SIP-ETag': 'b1', Expires: '3600' } },
      { status: 423, headers: { 'Min-Expires': '7200' } },
      { status: 200, headers: { 'SIP-ETag': 'c1', Expires: '7200' } },
    ]);
    const admitAnother = () => {
      asked.push(`after ${ok.sent.length}`);
      return Promise.resolve({ ok: true } as const);
    };
    await ok.publisher.publish({ aor, target, body, admitAnother });
    assert.deepEqual(asked, [], 'the first request of a delivery is the caller\'s');
    assert.equal((await ok.publisher.publish({ aor, target, body, admitAnother })).kind, 'delivered');
    assert.equal((await ok.publisher.publish({ aor, target, body, admitAnother })).kind, 'delivered');
    assert.deepEqual(asked, ['after 2', 'after 4']);

    const refused = setup([
      { status: 200, headers: { 'SIP-ETag': 'a1', Expires: '3600' } },
      { status: 412, reason: 'Conditional Request Failed' },
    ]);
    await refused.publisher.publish({ aor, target, body });
    const retryAt = refused.clock.now() + 1_500;
    const out = await refused.publisher.publish({ aor, target, body, admitAnother: () => Promise.resolve({ ok: false, reason: 'paced', retryAt }) });
    assert.equal(refused.sent.length, 2, 'no initial PUBLISH without a slot');
    assert.equal(out.kind, 'deferred');
    assert.equal(out.retryAt, retryAt);
    assert.equal(out.requests, 1);
    assert.match(out.reason, /^412 .*, then no send slot for the next request: paced$/);
    assert.equal(await refused.store.get(publicationKey(target, aor)), undefined, 'the ETag is gone: the next attempt is an initial PUBLISH');
  });

  it("uses the caller's publication instead of the store, and neither reads nor writes the store (the caller records the outcome's ETag)", async () => {
    const { publisher, sent, store, clock } = setup([
      { status: 200, headers: { 'SIP-ETag': 'b2', Expires: '3600' } },
      { status: 412, reason: 'Conditional Request Failed' },
      { status: 200, headers: { 'SIP-ETag': 'b4', Expires: '1800' } },
      { status: 200, headers: { 'SIP-ETag': 'b5', Expires: '3600' } },
    ]);
    const key = publicationKey(target, aor);
    await store.set(key, { etag: 'store-etag', expiresAt: clock.now() + 3_600_000 });
    const live = { etag: 'b1', expiresAt: clock.now() + 60_000 };
    const first = await publisher.publish({ aor, target, body, publication: live });
    assert.equal(header(sent[0], 'SIP-If-Match'), 'b1', 'the caller’s ETag, not the store’s');
    assert.deepEqual([first.kind, first.etag, first.expiresAt], ['delivered', 'b2', clock.now() + 3_600_000]);
    // A 412 on the caller's ETag: exactly one initial PUBLISH, and the store is left alone.
    const second = await publisher.publish({ aor, target, body, publication: { etag: 'b2', expiresAt: clock.now() + 60_000 } });
    assert.equal(header(sent[1], 'SIP-If-Match'), 'b2');
    assert.equal(header(sent[2], 'SIP-If-Match'), undefined);
    assert.deepEqual([second.kind, second.etag, second.requests], ['delivered', 'b4', 2]);
    // null (the caller holds none) and a lapsed grant both start with an initial PUBLISH.
    await publisher.publish({ aor, target, body, publication: null });
    assert.equal(header(sent[3], 'SIP-If-Match'), undefined);
    await publisher.publish({ aor, target, body, publication: { etag: 'old', expiresAt: clock.now() } });
    assert.equal(header(sent[4], 'SIP-If-Match'), undefined);
    assert.deepEqual(await store.get(key), { etag: 'store-etag', expiresAt: clock.now() + 3_600_000 }, 'the store was not written');
  });

  it('names the ETag a 412 refused when the delivery then fails, so the caller can forget it', async () => {
    const { publisher, clock } = setup([{ status: 412, reason: 'Conditional Request Failed' }, 'timeout', { status: 412 }, { status: 200, headers: { 'SIP-ETag': 'c3', Expires: '3600' } }]);
    const failed = await publisher.publish({ aor, target, body, publication: { etag: 'c1', expiresAt: clock.now() + 60_000 } });
    assert.deepEqual([failed.kind, failed.refusedEtag, failed.requests], ['retryable', 'c1', 2]);
    const recovered = await publisher.publish({ aor, target, body, publication: { etag: 'c2', expiresAt: clock.now() + 60_000 } });
    assert.deepEqual([recovered.kind, recovered.etag, recovered.refusedEtag], ['delivered', 'c3', undefined], 'a delivery brings its own ETag: nothing to forget');
  });

  it('hands admitAnother to the stack for a digest retry, and a retry refused its slot is deferred, not a failure', async () => {
    const { publisher, sent, clock } = setup(['not-admitted']);
    const admitAnother = () => Promise.resolve({ ok: true as const });
    const out = await publisher.publish({ aor, target, body, admitAnother });
    assert.equal(sent[0]?.admitRetry, admitAnother);
    assert.deepEqual([out.kind, out.retryAt, out.requests], ['deferred', clock.now() + 250, 1]);
    assert.match(out.reason, /no send slot for the digest retry: paced/);
  });

  it('adopts Min-Expires from a 423 exactly once', async () => {
    const { publisher, sent } = setup([
      { status: 423, headers: { 'Min-Expires': '7200' } },
      { status: 200, headers: { 'SIP-ETag': 'x', Expires: '7200' } },
    ]);
    const out = await publisher.publish({ aor, target, body });
    assert.equal(header(sent[1], 'Expires'), '7200');
    assert.equal(out.kind, 'delivered');
    assert.equal(out.grantedExpiresSec, 7200);

    const again = setup([{ status: 423, headers: { 'Min-Expires': '7200' } }, { status: 423, headers: { 'Min-Expires': '9000' } }]);
    const out2 = await again.publisher.publish({ aor, target, body });
    assert.equal(again.sent.length, 2);
    assert.equal(out2.kind, 'permanent');
  });

  it('classifies 489 and 415 as configuration errors, 403/404/500 as permanent, 503 as retryable with Retry-After', async () => {
    const cases: Array<[Reply, string, number | undefined]> = [
      [{ status: 489, reason: 'Bad Event' }, 'config-error', undefined],
      [{ status: 415 }, 'config-error', undefined],
      [{ status: 401 }, 'config-error', undefined],
      [{ status: 403 }, 'permanent', undefined],
      [{ status: 404 }, 'permanent', undefined],
      [{ status: 500 }, 'permanent', undefined],
      [{ status: 408 }, 'retryable', undefined],
      [{ status: 503, headers: { 'Retry-After': '7 (maintenance)' } }, 'retryable', 7000],
      [{ status: 503 }, 'retryable', undefined],
      ['timeout', 'retryable', undefined],
      ['transport', 'retryable', undefined],
    ];
    for (const [reply, kind, retryAfterMs] of cases) {
      const { publisher, sent } = setup([reply]);
      const out = await publisher.publish({ aor, target, body });
      assert.equal(out.kind, kind, JSON.stringify(reply));
      assert.equal(out.retryAfterMs, retryAfterMs, JSON.stringify(reply));
      assert.equal(sent.length, 1, JSON.stringify(reply));
    }
  });

  it('keeps one PUBLISH in flight per mailbox, and runs different mailboxes concurrently', async () => {
    const { publisher, sent, maxInFlight } = setup([]);
    await Promise.all(Array.from({ length: 5 }, () => publisher.publish({ aor, target, body })));
    assert.equal(maxInFlight(), 1);
    // each later PUBLISH carries the ETag the previous one got
    for (let i = 1; i < 5; i++) assert.equal(header(sent[i], 'SIP-If-Match'), `e${i}`);
    const other = setup([]);
    await Promise.all(Array.from({ length: 5 }, (_, i) => other.publisher.publish({ aor: `sip:${i}@pbx.test`, target, body })));
    assert.equal(other.maxInFlight(), 5);
  });
});

describe('SipMwiSender input errors', () => {
  it('a bad mailbox URI or counts is a permanent outcome, a closed stack a retryable one; neither throws', async () => {
    const { SipMwiSender } = await import('../../src/delivery/sip-sender.ts');
    const { SipStack } = await import('../../src/sip/stack.ts');
    const { FakeTransport } = await import('../support/fake-transport.ts');
    const pino = (await import('pino')).default;
    const clock = new FakeClock();
    const stack = new SipStack({ transports: { UDP: new FakeTransport() }, clock, log: pino({ level: 'silent' }), userAgent: 't', transactionTimeoutMs: 4000 });
    const sender = new SipMwiSender({ stack, store: new MemoryPublicationStore(), clock, defaultProtocol: 'UDP', expiresSec: 3600, transactionTimeoutMs: 4000, subscriptionState: 'terminated', probeFromUri: 'sip:p@x.test' });
    const route = { mode: 'publish' as const, target: 'sip:127.0.0.1:5070' };
    const badCounts = await sender.send({ mailbox: 'sip:1@x.test', summary: { counts: { 'voice-message': { new: -1, old: 0 } } }, route });
    assert.equal(badCounts.kind, 'permanent');
    assert.match(badCounts.reason, /MWI_BODY_INVALID/);
    const badTarget = await sender.send({ mailbox: 'sip:1@x.test', summary: { counts: {} }, route: { mode: 'publish', target: 'sip:x y' } });
    assert.equal(badTarget.kind, 'permanent');
    await sender.close();
    const closed = await sender.send({ mailbox: 'sip:1@x.test', summary: { counts: {} }, route });
    assert.equal(closed.kind, 'retryable');
    assert.equal(closed.requests, 0);
  });
});
