// RedisMailboxStore against a private redis-server: ordering, batch atomicity, dirty tracking
// across deliveries, leases. Each test gets its own key prefix, so tests share one server.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';

import type { Redis } from 'ioredis';

import { FakeClock } from '../../src/clock.ts';
import type { Outcome } from '../../src/delivery/outcome.ts';
import { ErrorCodes, isMwiError } from '../../src/errors.ts';
import type { MessageSummary } from '../../src/mwi/message-summary.ts';
import { storeKeys, type StoreKeys } from '../../src/store/keys.ts';
import type { ApplyResult, MailboxUpdate } from '../../src/store/mailbox-state.ts';
import { RedisMailboxStore } from '../../src/store/redis-mailbox-store.ts';
import { createStoreClient } from '../../src/store/store-client.ts';
import { startRedis, type RedisHandle } from '../harness/redis.ts';
import { prng } from '../support/prng.ts';
import { leasedNames } from '../support/leased.ts';

const ROUTE = { mode: 'publish', target: 'sip:127.0.0.1:5060;transport=tcp' } as const;

function summaryFor(version: number): MessageSummary {
  return { counts: { 'voice-message': { new: version % 50, old: version % 7 } } };
}

function update(mailbox: string, version: number): MailboxUpdate {
  return { mailbox, route: ROUTE, summary: summaryFor(version), version };
}

function delivered(startedAt: number, extra: Partial<Outcome> = {}): Outcome {
  return { kind: 'delivered', status: 200, reason: '200 OK', cause: 'response', requests: 1, startedAt, elapsedMs: 10, etag: 'etag-1', expiresAt: startedAt + 3_600_000, ...extra };
}


function shuffle<T>(items: T[], random: () => number): T[] {
  for (let i = items.length - 1; i > 0; i--) {
    const j = Math.floor(random() * (i + 1));
    [items[i], items[j]] = [items[j] as T, items[i] as T];
  }
  return items;
}

/** 100 updates for each of `mailboxCount` mailboxes; some mailboxes near 2^53, ~10% repeated versions. */
function randomUpdates(random: () => number, mailboxCount: number): MailboxUpdate[] {
  const updates: MailboxUpdate[] = [];
  for (let m = 0; m < mailboxCount; m++) {
    const mailbox = `sip:${1000 + m}@pbx.test`;
    const base = m % 10 === 0 ? Number.MAX_SAFE_INTEGER - 2_000_000 : 0;
    const versions: number[] = [];
    for (let i = 0; i < 100; i++) {
      const repeat = versions.length > 0 && random() < 0.1;
      versions.push(repeat ? (versions[Math.floor(random() * versions.length)] ?? 0) : base + Math.floor(random() * 1_000_000));
    }
    updates.push(...versions.map((v) => update(mailbox, v)));
  }
  return shuffle(updates, random);
}

function batches<T>(items: T[], random: () => number, maxSize: number): T[][] {
  const out: T[][] = [];
  for (let i = 0; i < items.length; ) {
    const size = 1 + Math.floor(random() * maxSize);
    out.push(items.slice(i, i + size));
    i += size;
  }
  return out;
}

async function scriptCalls(admin: Redis): Promise<number> {
  const info = await admin.info('commandstats');
  let calls = 0;
  for (const m of info.matchAll(/^cmdstat_(?:eval|evalsha):calls=(\d+)/gm)) calls += Number(m[1]);
  return calls;
}

describe('RedisMailboxStore', { timeout: 120_000 }, () => {
  let redis: RedisHandle;
  let client: Redis;
  let seq = 0;

  before(async () => {
    redis = await startRedis({ label: 'store-mailbox' });
    client = await createStoreClient({ url: redis.url });
  });
  after(async () => {
    client?.disconnect();
    await redis?.dispose();
  });

  function fresh(opts: { clock?: FakeClock; maxBatchUpdates?: number } = {}): { store: RedisMailboxStore; keys: StoreKeys; clock: FakeClock } {
    const keys = storeKeys(`{mwi-test-${++seq}}`);
    const clock = opts.clock ?? new FakeClock();
    return { store: new RedisMailboxStore({ redis: client, clock, keys, ...(opts.maxBatchUpdates ? { maxBatchUpdates: opts.maxBatchUpdates } : {}) }), keys, clock };
  }

  for (const seed of [1, 2, 3]) {
    it(`10k updates over 100 mailboxes in random order and batches end at each mailbox's max version (seed ${seed})`, async () => {
      const random = prng(seed);
      const { store } = fresh();
      const updates = randomUpdates(random, 100);
      const maxSeen = new Map<string, number>();
      for (const batch of batches(updates, random, 500)) {
        const expected: ApplyResult[] = batch.map((u) => {
          const applied = u.version > (maxSeen.get(u.mailbox) ?? -1);
          if (applied) maxSeen.set(u.mailbox, u.version);
          return applied ? 'applied' : 'stale';
        });
        assert.deepEqual(await store.applyUpdates(batch), expected, `seed ${seed}`);
      }
      assert.equal(maxSeen.size, 100);
      for (const [mailbox, max] of maxSeen) {
        const record = await store.get(mailbox);
        assert.equal(record?.desired?.version, max, `${mailbox} seed ${seed}`);
        assert.deepEqual(record.desired.summary, summaryFor(max));
        assert.deepEqual(record.desired.route, ROUTE);
      }
      assert.equal(await store.dirtyCount(), 100);
    });
  }

  it('concurrent batches from four clients end at each mailbox max version', async () => {
    const random = prng(42);
    const { keys, clock } = fresh();
    const clients = await Promise.all([0, 1, 2, 3].map(() => createStoreClient({ url: redis.url })));
    try {
      const stores = clients.map((c) => new RedisMailboxStore({ redis: c, clock, keys }));
      const updates = randomUpdates(random, 100);
      const perClient = stores.map((_, i) => updates.filter((__, j) => j % stores.length === i));
      await Promise.all(stores.map(async (s, i) => {
        for (const batch of batches(perClient[i] ?? [], random, 250)) await s.applyUpdates(batch);
      }));
      const max = new Map<string, number>();
      for (const u of updates) max.set(u.mailbox, Math.max(max.get(u.mailbox) ?? -1, u.version));
      const reader = stores[0];
      assert.ok(reader);
      for (const [mailbox, v] of max) assert.equal((await reader.get(mailbox))?.desired?.version, v, mailbox);
    } finally {
      for (const c of clients) c.disconnect();
    }
  });

  it('compares repeated mailboxes within one batch in order', async () => {
    const { store } = fresh();
    const m = 'sip:dup@pbx.test';
    assert.deepEqual(await store.applyUpdates([update(m, 5), update(m, 3), update(m, 5), update(m, 9), update(m, 7)]), ['applied', 'stale', 'stale', 'applied', 'stale']);
    assert.equal((await store.get(m))?.desired?.version, 9);
  });

  it('rejects a batch with one invalid item before Redis: no script runs, nothing is written', async () => {
    const { store, keys } = fresh();
    const good = update('sip:good@pbx.test', 1);
    const before = await scriptCalls(client);
    await assert.rejects(store.applyUpdates([good, { ...update('sip:bad@pbx.test', 2), version: -1 }]), RangeError);
    await assert.rejects(store.applyUpdates([good, update('not a uri', 2)]), (err: unknown) => isMwiError(err, ErrorCodes.URI_INVALID));
    await assert.rejects(store.applyUpdates([good, { ...good, summary: { counts: { 'voice-message': { new: 1, old: 1, urgentNew: 2 } } } }]), (err: unknown) => isMwiError(err, ErrorCodes.BODY_INVALID));
    await assert.rejects(store.applyUpdates([good, { ...good, route: { mode: 'publish', target: 'mailto:x' } }]), (err: unknown) => isMwiError(err, ErrorCodes.URI_INVALID));
    assert.equal(await scriptCalls(client), before);
    assert.equal(await store.get(good.mailbox), undefined);
    assert.equal(await client.exists(keys.dirty()), 0);
  });

  it('refuses a batch larger than maxBatchUpdates before Redis', async () => {
    const { store } = fresh({ maxBatchUpdates: 2 });
    await assert.rejects(store.applyUpdates([1, 2, 3].map((v) => update('sip:a@pbx.test', v))), RangeError);
    assert.equal(await store.get('sip:a@pbx.test'), undefined);
  });

  it('writes nothing when a key in the batch holds foreign data (checks run before the first write)', async () => {
    const { store, keys } = fresh();
    await client.set(keys.mailbox('sip:foreign@pbx.test'), 'not a hash');
    await assert.rejects(store.applyUpdates([update('sip:first@pbx.test', 1), update('sip:foreign@pbx.test', 1)]), /WRONGTYPE/);
    await client.hset(keys.mailbox('sip:corrupt@pbx.test'), 'dv', 'abc');
    await assert.rejects(store.applyUpdates([update('sip:first@pbx.test', 1), update('sip:corrupt@pbx.test', 1)]), /MWI_CORRUPT/);
    assert.equal(await store.get('sip:first@pbx.test'), undefined);
    assert.equal(await store.dirtyCount(), 0);
  });

  it('stale updates (equal or older version) change nothing and do not mark a clean mailbox dirty', async () => {
    const { store, clock } = fresh();
    const m = 'sip:stale@pbx.test';
    assert.deepEqual(await store.applyUpdates([update(m, 5)]), ['applied']);
    assert.deepEqual(await leasedNames(store, 10, 30_000), [m]);
    assert.equal(await store.recordDelivered(m, 5, summaryFor(5), delivered(clock.now())), 'clean');
    assert.equal(await store.dirtyCount(), 0);
    const before = await store.get(m);
    clock.advance(1000);
    assert.deepEqual(await store.applyUpdates([update(m, 3), update(m, 5), { ...update(m, 5), summary: summaryFor(6) }]), ['stale', 'stale', 'stale']);
    assert.equal(await store.dirtyCount(), 0);
    assert.deepEqual(await store.get(m), before);
  });

  it('an update that arrives during a delivery keeps the mailbox dirty and due at once', async () => {
    const { store, clock } = fresh();
    const m = 'sip:busy@pbx.test';
    await store.applyUpdates([update(m, 1)]);
    assert.deepEqual(await leasedNames(store, 10, 60_000), [m]);
    const taken = await store.get(m);
    assert.equal(taken?.desired?.version, 1);

    clock.advance(100);
    assert.deepEqual(await store.applyUpdates([update(m, 2)]), ['applied']);
    assert.deepEqual(await leasedNames(store, 10, 60_000), [], 'still leased: no second delivery while one runs');

    clock.advance(100);
    assert.equal(await store.recordDelivered(m, 1, taken.desired.summary, delivered(clock.now() - 50)), 'still-dirty');
    const record = await store.get(m);
    assert.equal(record?.delivered?.version, 1);
    assert.equal(record.desired?.version, 2);
    assert.equal(await store.dirtyCount(), 1);
    assert.deepEqual(await leasedNames(store, 10, 60_000), [m], 'due now, not at the end of the old lease');

    assert.equal(await store.recordDelivered(m, 2, summaryFor(2), delivered(clock.now())), 'clean');
    assert.equal(await store.dirtyCount(), 0);
  });

  it('a taker that crashes loses nothing: the mailbox is due again when its lease ends', async () => {
    const { store, clock } = fresh();
    await store.applyUpdates([update('sip:crash@pbx.test', 1)]);
    assert.deepEqual(await leasedNames(store, 10, 30_000), ['sip:crash@pbx.test']);
    clock.advance(29_999);
    assert.deepEqual(await leasedNames(store, 10, 30_000), []);
    clock.advance(1);
    assert.deepEqual(await leasedNames(store, 10, 30_000), ['sip:crash@pbx.test']);
  });

  it('takeDue returns due mailboxes oldest first, at most limit', async () => {
    const { store, clock } = fresh();
    for (const m of ['sip:a@x.test', 'sip:b@x.test', 'sip:c@x.test']) {
      await store.applyUpdates([update(m, 1)]);
      clock.advance(10);
    }
    await store.applyUpdates([update('sip:a@x.test', 2)]);
    assert.deepEqual(await leasedNames(store, 2, 1000), ['sip:a@x.test', 'sip:b@x.test']);
    assert.deepEqual(await leasedNames(store, 2, 1000), ['sip:c@x.test']);
    await assert.rejects(leasedNames(store, 0, 1000), RangeError);
    await assert.rejects(leasedNames(store, 1, 0), RangeError);
  });

  it('recordAttempt stores the outcome and reschedules only with retryAt; unknown mailboxes are not created', async () => {
    const { store, clock } = fresh();
    const m = 'sip:fail@pbx.test';
    await store.applyUpdates([update(m, 1)]);
    await leasedNames(store, 1, 30_000);
    const startedAt = clock.now();
    const failed: Outcome = { kind: 'retryable', status: 503, reason: '503 Service Unavailable', cause: 'response', requests: 1, startedAt, elapsedMs: 20, retryAfterMs: 5000 };
    assert.equal(await store.recordAttempt(m, failed, { retryAt: startedAt + 5000 }), 'recorded');
    const record = await store.get(m);
    assert.equal(record?.lastAttemptAt, startedAt);
    assert.deepEqual(record.lastOutcome, { kind: 'retryable', status: 503, reason: '503 Service Unavailable', at: startedAt + 20 });
    assert.equal(record.delivered, undefined);
    clock.advance(4999);
    assert.deepEqual(await leasedNames(store, 1, 30_000), []);
    clock.advance(1);
    assert.deepEqual(await leasedNames(store, 1, 30_000), [m]);

    assert.equal(await store.recordAttempt('sip:nobody@pbx.test', failed), 'unknown-mailbox');
    assert.equal(await store.get('sip:nobody@pbx.test'), undefined);
    await assert.rejects(store.recordAttempt(m, delivered(startedAt)), RangeError);
  });

  it('takeDue hands out the ETag recorded with the target that granted it; another target, a NOTIFY or none get null, a record without a target undefined', async () => {
    const { store, clock, keys } = fresh();
    const [same, moved, none, legacy, notify] = ['sip:same@pbx.test', 'sip:moved@pbx.test', 'sip:none@pbx.test', 'sip:legacy@pbx.test', 'sip:notify@pbx.test'];
    const other = { mode: 'publish', target: 'sip:127.0.0.2:5060' } as const;
    await store.applyUpdates([update(same, 1), update(moved, 1), update(none, 1), update(legacy, 1), { ...update(notify, 1), route: { mode: 'notify', contact: 'sip:phone@127.0.0.1:5062' } }]);
    const at = clock.now();
    assert.equal(await store.recordDelivered(same, 1, summaryFor(1), delivered(at, { etag: 'e-same' }), ROUTE.target), 'clean');
    assert.equal(await store.recordDelivered(moved, 1, summaryFor(1), delivered(at, { etag: 'e-moved' }), ROUTE.target), 'clean');
    assert.equal(await store.recordDelivered(none, 1, summaryFor(1), delivered(at, { etag: undefined, expiresAt: undefined }), ROUTE.target), 'clean');
    assert.equal(await store.recordDelivered(legacy, 1, summaryFor(1), delivered(at, { etag: 'e-legacy' })), 'clean');
    assert.equal(await store.recordDelivered(notify, 1, summaryFor(1), delivered(at, { etag: undefined, expiresAt: undefined })), 'clean');
    await store.applyUpdates([update(same, 2), { ...update(moved, 2), route: other }, update(none, 2), update(legacy, 2), { ...update(notify, 2), route: { mode: 'notify', contact: 'sip:phone@127.0.0.1:5062' } }]);
    const taken = new Map((await store.takeDue(10, 60_000)).map((d) => [d.mailbox, d]));
    assert.deepEqual(taken.get(same)?.publication, { etag: 'e-same', expiresAt: at + 3_600_000 });
    assert.equal(taken.get(moved)?.publication, null, 'an ETag of the old target is not sent to the new one');
    assert.equal(taken.get(none)?.publication, null);
    assert.equal(taken.get(notify)?.publication, null);
    assert.equal(taken.get(legacy)?.publication, undefined, 'no target recorded: the sender asks its own store');
    assert.ok(taken.has(legacy) && !Object.hasOwn(taken.get(legacy) ?? {}, 'publication'));

    // A delivery without an ETag removes the ETag, its expiry and its target; so does one recorded without a target.
    assert.equal(await store.recordDelivered(same, 2, summaryFor(2), delivered(at + 20, { etag: undefined, expiresAt: undefined }), ROUTE.target), 'clean');
    assert.deepEqual(await client.hmget(keys.mailbox(same), 'etag', 'exp', 'et', 'na'), [null, null, null, null]);
    assert.equal(await store.recordDelivered(moved, 2, summaryFor(2), delivered(at + 20, { etag: 'e-moved-2' })), 'clean');
    assert.deepEqual(await client.hmget(keys.mailbox(moved), 'etag', 'et'), ['e-moved-2', null]);
  });

  it('recordAttempt and park forget a refused ETag, and only that one', async () => {
    const { store, clock, keys } = fresh();
    const [a, b, c] = ['sip:refused-a@pbx.test', 'sip:refused-b@pbx.test', 'sip:refused-c@pbx.test'];
    await store.applyUpdates([update(a, 1), update(b, 1), update(c, 1)]);
    const at = clock.now();
    for (const m of [a, b, c]) assert.equal(await store.recordDelivered(m, 1, summaryFor(1), delivered(at, { etag: `e-${m}` }), ROUTE.target), 'clean');
    await store.applyUpdates([update(a, 2), update(b, 2), update(c, 2)]);
    const timeout = (refusedEtag: string): Outcome => ({ kind: 'retryable', reason: '412, then timeout', cause: 'timeout', requests: 2, startedAt: at, elapsedMs: 4000, refusedEtag });
    const notFound = (refusedEtag: string): Outcome => ({ kind: 'permanent', status: 404, reason: '412, then 404', cause: 'response', requests: 2, startedAt: at, elapsedMs: 5, refusedEtag });
    assert.equal(await store.recordAttempt(a, timeout(`e-${a}`), { retryAt: at + 1000 }), 'recorded');
    assert.equal(await store.recordAttempt(b, timeout('an-older-etag'), { retryAt: at + 1000 }), 'recorded');
    assert.equal(await store.park(c, 2, notFound(`e-${c}`)), 'parked');
    assert.deepEqual(await client.hmget(keys.mailbox(a), 'etag', 'exp', 'et'), [null, null, null]);
    assert.deepEqual(await client.hmget(keys.mailbox(b), 'etag', 'et'), [`e-${b}`, ROUTE.target], 'a newer ETag than the refused one stays');
    assert.deepEqual(await client.hmget(keys.mailbox(c), 'etag', 'exp', 'et'), [null, null, null]);
  });

  it('recordAttempt with retryAt does not re-mark a mailbox that is already clean', async () => {
    const { store, clock } = fresh();
    const m = 'sip:late@pbx.test';
    await store.applyUpdates([update(m, 1)]);
    await store.recordDelivered(m, 1, summaryFor(1), delivered(clock.now()));
    const timeout: Outcome = { kind: 'retryable', reason: 'timeout', cause: 'timeout', requests: 1, startedAt: clock.now(), elapsedMs: 1 };
    assert.equal(await store.recordAttempt(m, timeout, { retryAt: clock.now() }), 'recorded');
    assert.equal(await store.dirtyCount(), 0);
  });

  it('recordDelivered keeps the etag of a PUBLISH, drops it after a NOTIFY, and ignores unknown or superseded versions', async () => {
    const { store, clock } = fresh();
    const m = 'sip:rec@pbx.test';
    await store.applyUpdates([update(m, 10)]);
    const at = clock.now();
    assert.equal(await store.recordDelivered(m, 11, summaryFor(11), delivered(at)), 'unknown-version');
    assert.equal(await store.recordDelivered('sip:none@pbx.test', 1, summaryFor(1), delivered(at)), 'unknown-version');
    assert.equal(await store.get('sip:none@pbx.test'), undefined);

    assert.equal(await store.recordDelivered(m, 10, summaryFor(10), delivered(at)), 'clean');
    let record = await store.get(m);
    assert.deepEqual(record?.delivered, { summary: summaryFor(10), version: 10, deliveredAt: at + 10 });
    assert.equal(record.etag, 'etag-1');
    assert.equal(record.expiresAt, at + 3_600_000);
    assert.deepEqual(record.lastOutcome, { kind: 'delivered', status: 200, reason: '200 OK', at: at + 10 });

    assert.equal(await store.recordDelivered(m, 9, summaryFor(9), delivered(at)), 'superseded');
    assert.equal((await store.get(m))?.delivered?.version, 10);

    // Two deliveries of the same version overlapped (a lease ran out): the one that completed
    // first must not overwrite the ETag of the one that completed later, whatever the order of the records.
    assert.equal(await store.recordDelivered(m, 10, summaryFor(10), delivered(at + 5, { etag: 'etag-later' })), 'clean');
    assert.equal(await store.recordDelivered(m, 10, summaryFor(10), delivered(at + 2, { etag: 'etag-earlier' })), 'superseded');
    assert.equal((await store.get(m))?.etag, 'etag-later');

    assert.equal(await store.recordDelivered(m, 10, summaryFor(10), delivered(at + 6, { etag: undefined, expiresAt: undefined })), 'clean');
    record = await store.get(m);
    assert.equal(record?.etag, undefined);
    assert.equal(record?.expiresAt, undefined);
    await assert.rejects(store.recordDelivered(m, 10, summaryFor(10), { ...delivered(at), kind: 'permanent' }), RangeError);
  });

  it('recordDelivered calls made in one event-loop turn share one script call, and each gets its own result', async () => {
    const { store, clock } = fresh();
    const at = clock.now();
    await store.applyUpdates([update('sip:r1@pbx.test', 1), update('sip:r2@pbx.test', 2), update('sip:r3@pbx.test', 3)]);
    await store.recordDelivered('sip:r3@pbx.test', 3, summaryFor(3), delivered(at));
    await store.applyUpdates([update('sip:r2@pbx.test', 5)]);
    const calls0 = await scriptCalls(client);
    const results = await Promise.all([
      store.recordDelivered('sip:r1@pbx.test', 1, summaryFor(1), delivered(at, { etag: 'e-r1' })),
      store.recordDelivered('sip:r2@pbx.test', 2, summaryFor(2), delivered(at)),
      store.recordDelivered('sip:r3@pbx.test', 2, summaryFor(2), delivered(at)),
      store.recordDelivered('sip:r4@pbx.test', 1, summaryFor(1), delivered(at)),
    ]);
    assert.equal((await scriptCalls(client)) - calls0, 1, 'one script call for the four records');
    assert.deepEqual(results, ['clean', 'still-dirty', 'superseded', 'unknown-version']);
    assert.equal((await store.get('sip:r1@pbx.test'))?.etag, 'e-r1');
    assert.equal((await store.get('sip:r2@pbx.test'))?.delivered?.version, 2);
    assert.equal((await store.get('sip:r3@pbx.test'))?.delivered?.version, 3);
    assert.equal(await store.get('sip:r4@pbx.test'), undefined);
    assert.equal(await store.dirtyCount(), 1, 'only r2 (version 5 still to deliver)');
  });

  it('one script call that records a mailbox still dirty and then clean leaves it clean; its clean marks are removed together', async () => {
    const { store, clock } = fresh();
    const at = clock.now();
    await store.applyUpdates([update('sip:t1@pbx.test', 2), update('sip:t2@pbx.test', 1), update('sip:t3@pbx.test', 1)]);
    const calls0 = await scriptCalls(client);
    const results = await Promise.all([
      store.recordDelivered('sip:t1@pbx.test', 1, summaryFor(1), delivered(at)),
      store.recordDelivered('sip:t2@pbx.test', 1, summaryFor(1), delivered(at)),
      store.recordDelivered('sip:t1@pbx.test', 2, summaryFor(2), delivered(at + 1)),
      store.recordDelivered('sip:t3@pbx.test', 1, summaryFor(1), delivered(at)),
    ]);
    assert.equal((await scriptCalls(client)) - calls0, 1);
    assert.deepEqual(results, ['still-dirty', 'clean', 'clean', 'clean']);
    assert.equal((await store.get('sip:t1@pbx.test'))?.delivered?.version, 2);
    assert.equal(await store.dirtyCount(), 0);
  });

  it('the record-delivered script removes the clean marks of more mailboxes than one ZREM takes (1,100: chunks of 1,000)', async () => {
    const { store, keys, clock } = fresh();
    const at = clock.now();
    const mailboxes = Array.from({ length: 1_100 }, (_, i) => `sip:z${i}@pbx.test`);
    for (let i = 0; i < mailboxes.length; i += 500) await store.applyUpdates(mailboxes.slice(i, i + 500).map((m) => update(m, 1)));
    assert.equal(await store.dirtyCount(), 1_100);
    // The store sends at most 256 records per call; the script itself takes any number.
    const args: string[] = [];
    for (const m of mailboxes) args.push(m, '1', JSON.stringify(summaryFor(1)), String(at), String(at), '{"kind":"delivered"}', `e-${m}`, String(at + 60_000), String(at), ROUTE.target);
    const call = (client as unknown as Record<string, (...a: string[]) => Promise<string[]>>)['mwiRecordDelivered'];
    const results = await call?.call(client, String(mailboxes.length + 1), keys.dirty(), ...mailboxes.map((m) => keys.mailbox(m)), ...args);
    assert.equal(results?.length, 1_100);
    assert.ok(results?.every((r) => r === 'clean'));
    assert.equal(await store.dirtyCount(), 0);
    assert.equal((await store.get('sip:z1099@pbx.test'))?.etag, 'e-sip:z1099@pbx.test');
  });

  it('takeDue brings each mailbox\'s desired state, failed attempts and publication (none yet)', async () => {
    const { store, keys, clock } = fresh();
    await store.applyUpdates([update('sip:d1@pbx.test', 7), update('sip:d2@pbx.test', 8)]);
    const failed: Outcome = { kind: 'retryable', reason: 'timeout', cause: 'timeout', requests: 1, startedAt: clock.now(), elapsedMs: 1 };
    await store.recordAttempt('sip:d2@pbx.test', failed, { retryAt: clock.now() });
    await store.recordAttempt('sip:d2@pbx.test', failed, { retryAt: clock.now() });
    // A dirty entry whose hash is gone (written by hand here): it comes back without a desired state.
    await client.zadd(keys.dirty(), clock.now(), 'sip:ghost@pbx.test');
    clock.advance(1);
    const due = await store.takeDue(10, 30_000);
    assert.deepEqual(
      [...due].sort((a, b) => a.mailbox.localeCompare(b.mailbox)),
      [
        { mailbox: 'sip:d1@pbx.test', desired: { summary: summaryFor(7), route: ROUTE, version: 7 }, publication: null },
        { mailbox: 'sip:d2@pbx.test', desired: { summary: summaryFor(8), route: ROUTE, version: 8 }, attempts: 2, publication: null },
        { mailbox: 'sip:ghost@pbx.test' },
      ],
    );
    assert.deepEqual(await store.takeDue(10, 30_000), [], 'all three are leased');
    clock.advance(30_000);
    assert.equal((await store.takeDue(10, 30_000)).length, 3, 'due again when the lease ends');
  });

  it('one corrupt key (not a hash) fails only its own recordDelivered, not the others of the same turn', async () => {
    const { store, keys, clock } = fresh();
    const at = clock.now();
    await store.applyUpdates([update('sip:g1@pbx.test', 1), update('sip:g2@pbx.test', 1)]);
    await client.set(keys.mailbox('sip:wrong@pbx.test'), 'not a hash');
    const results = await Promise.allSettled([
      store.recordDelivered('sip:g1@pbx.test', 1, summaryFor(1), delivered(at)),
      store.recordDelivered('sip:wrong@pbx.test', 1, summaryFor(1), delivered(at)),
      store.recordDelivered('sip:g2@pbx.test', 1, summaryFor(1), delivered(at)),
    ]);
    assert.deepEqual(results.map((r) => (r.status === 'fulfilled' ? r.value : 'rejected')), ['clean', 'rejected', 'clean']);
    assert.match(String((results[1] as PromiseRejectedResult).reason), /WRONGTYPE/);
    assert.equal(await store.dirtyCount(), 0);
  });

  it('takeDue marks a mailbox whose stored desired state is not JSON as unreadable, and still returns the others', async () => {
    const { store, keys, clock } = fresh();
    await store.applyUpdates([update('sip:ok@pbx.test', 1), update('sip:bad@pbx.test', 4)]);
    await client.hset(keys.mailbox('sip:bad@pbx.test'), 'ds', '{"summary":');
    clock.advance(1);
    const due = [...(await store.takeDue(10, 30_000))].sort((a, b) => a.mailbox.localeCompare(b.mailbox));
    assert.equal(due.length, 2);
    assert.equal(due[0]?.mailbox, 'sip:bad@pbx.test');
    assert.equal(due[0]?.desired, undefined);
    assert.equal(due[0]?.unreadable?.version, 4);
    assert.match(due[0]?.unreadable?.reason ?? '', /not valid JSON/);
    assert.deepEqual(due[1], { mailbox: 'sip:ok@pbx.test', desired: { summary: summaryFor(1), route: ROUTE, version: 1 }, publication: null });
  });

  it('takeDue leases every mailbox of a batch larger than one ZADD call takes (2,500: chunks of 1,000)', async () => {
    const { store, clock } = fresh();
    const all = Array.from({ length: 2_500 }, (_, i) => update(`sip:bulk${i}@pbx.test`, 1));
    for (let i = 0; i < all.length; i += 1_000) await store.applyUpdates(all.slice(i, i + 1_000));
    clock.advance(1);
    const due = await store.takeDue(5_000, 30_000);
    assert.equal(due.length, 2_500);
    assert.equal(new Set(due.map((d) => d.mailbox)).size, 2_500);
    assert.ok(due.every((d) => d.desired?.version === 1));
    assert.equal(await store.dueCount(), 0, 'all 2,500 leased');
    clock.advance(30_000);
    assert.equal(await store.dueCount(), 2_500);
  });

  it('keeps versions up to 2^53 - 1 exact through Lua', async () => {
    const { store } = fresh();
    const m = 'sip:big@pbx.test';
    const top = Number.MAX_SAFE_INTEGER;
    assert.deepEqual(await store.applyUpdates([update(m, top - 1), update(m, top), update(m, top - 1)]), ['applied', 'applied', 'stale']);
    assert.equal((await store.get(m))?.desired?.version, top);
    assert.equal(await store.recordDelivered(m, top - 1, summaryFor(1), delivered(0)), 'still-dirty');
    assert.equal(await store.recordDelivered(m, top, summaryFor(1), delivered(0)), 'clean');
  });

  it('counts failed attempts (recordAttempt and park) and a delivery resets the count', async () => {
    const { store, clock } = fresh();
    const m = 'sip:count@pbx.test';
    await store.applyUpdates([update(m, 1)]);
    assert.equal((await store.get(m))?.attempts, undefined);
    const failed: Outcome = { kind: 'retryable', reason: 'timeout', cause: 'timeout', requests: 1, startedAt: clock.now(), elapsedMs: 1 };
    await store.recordAttempt(m, failed, { retryAt: clock.now() });
    await store.recordAttempt(m, failed);
    assert.equal((await store.get(m))?.attempts, 2);
    assert.equal(await store.recordDelivered(m, 1, summaryFor(1), delivered(clock.now())), 'clean');
    assert.equal((await store.get(m))?.attempts, undefined);
  });

  it('park takes a permanently failed mailbox out of the dirty set until a newer update arrives', async () => {
    const { store, clock } = fresh();
    const m = 'sip:parked@pbx.test';
    const notFound: Outcome = { kind: 'permanent', status: 404, reason: '404 Not Found', cause: 'response', requests: 1, startedAt: clock.now(), elapsedMs: 7 };
    await store.applyUpdates([update(m, 3)]);
    assert.deepEqual(await leasedNames(store, 10, 60_000), [m]);
    assert.equal(await store.park(m, 3, notFound), 'parked');
    assert.equal(await store.dirtyCount(), 0);
    const record = await store.get(m);
    assert.deepEqual(record?.lastOutcome, { kind: 'permanent', status: 404, reason: '404 Not Found', at: notFound.startedAt + 7 });
    assert.equal(record.attempts, 1);
    assert.equal(record.desired?.version, 3, 'the desired state is kept');

    assert.deepEqual(await store.applyUpdates([update(m, 3)]), ['stale']);
    assert.equal(await store.dirtyCount(), 0, 'a repeat of the parked version does not wake it');
    assert.deepEqual(await store.applyUpdates([update(m, 4)]), ['applied']);
    assert.deepEqual(await leasedNames(store, 10, 60_000), [m], 'a newer update makes it due again');
    await assert.rejects(store.park(m, 4, delivered(clock.now())), RangeError);
  });

  it('park keeps the mailbox dirty and due now when a newer version arrived during the attempt', async () => {
    const { store, clock } = fresh();
    const m = 'sip:parkrace@pbx.test';
    await store.applyUpdates([update(m, 1)]);
    assert.deepEqual(await leasedNames(store, 10, 60_000), [m]);
    await store.applyUpdates([update(m, 2)]);
    const failed: Outcome = { kind: 'permanent', status: 500, reason: '500', cause: 'response', requests: 1, startedAt: clock.now(), elapsedMs: 1 };
    assert.equal(await store.park(m, 1, failed), 'still-dirty');
    assert.deepEqual(await leasedNames(store, 10, 60_000), [m], 'due now, not at the end of the lease');
  });

  it('park drops a dirty entry whose mailbox hash is gone, without creating the hash', async () => {
    const { store, keys, clock } = fresh();
    await client.zadd(keys.dirty(), clock.now(), 'sip:ghost@pbx.test');
    const failed: Outcome = { kind: 'permanent', reason: 'no desired state stored', cause: 'response', requests: 0, startedAt: clock.now(), elapsedMs: 0 };
    assert.equal(await store.park('sip:ghost@pbx.test', 0, failed), 'unknown-mailbox');
    assert.equal(await store.dirtyCount(), 0);
    assert.equal(await client.exists(keys.mailbox('sip:ghost@pbx.test')), 0);
  });

  it('dueCount counts dirty mailboxes that are due, not leased or waiting for a retry', async () => {
    const { store, clock } = fresh();
    await store.applyUpdates([update('sip:d1@pbx.test', 1), update('sip:d2@pbx.test', 1), update('sip:d3@pbx.test', 1)]);
    assert.equal(await store.dueCount(), 3);
    await leasedNames(store, 1, 10_000);
    const failed: Outcome = { kind: 'retryable', reason: 'timeout', cause: 'timeout', requests: 1, startedAt: clock.now(), elapsedMs: 1 };
    await store.recordAttempt('sip:d2@pbx.test', failed, { retryAt: clock.now() + 5_000 });
    assert.equal(await store.dueCount(), 1);
    clock.advance(5_000);
    assert.equal(await store.dueCount(), 2);
    clock.advance(5_000);
    assert.equal(await store.dueCount(), 3);
  });

  it('measures applyUpdates throughput with batches of 500 (diagnostic only)', async (t) => {
    const { store } = fresh();
    const random = prng(7);
    const mailboxes = Array.from({ length: 10_000 }, (_, i) => `sip:${100_000 + i}@pbx.test`);
    const makeBatch = (round: number): MailboxUpdate[] =>
      Array.from({ length: 500 }, () => update(mailboxes[Math.floor(random() * mailboxes.length)] ?? 'sip:x@y', round * 1_000_000 + Math.floor(random() * 1_000_000)));
    const rounds = 200;
    const work = Array.from({ length: rounds }, (_, r) => makeBatch(r));
    await store.applyUpdates(makeBatch(0));

    let start = performance.now();
    for (const batch of work) await store.applyUpdates(batch);
    const sequentialPerSec = (rounds * 500) / ((performance.now() - start) / 1000);

    const concurrency = 4;
    start = performance.now();
    for (let r = 0; r < rounds; r += concurrency) {
      await Promise.all(work.slice(r, r + concurrency).map((batch) => store.applyUpdates(batch.map((u) => ({ ...u, version: u.version + 500_000_000 })))));
    }
    const pipelinedPerSec = (rounds * 500) / ((performance.now() - start) / 1000);
    t.diagnostic(`applyUpdates, batches of 500 over 10k mailboxes: ${Math.round(sequentialPerSec)} updates/s sequential, ${Math.round(pipelinedPerSec)} updates/s with ${concurrency} batches in flight`);
    assert.ok(sequentialPerSec > 0);
  });
});
