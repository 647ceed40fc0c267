// The store's side of the sweep against a real redis-server: the mailbox index that apply-updates
// keeps, paging through it, the backfill for mailboxes written before the index existed, the
// views the sweep plans from, and markDirty. Each test uses its own key prefix.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';

import type { Redis } from 'ioredis';

import { FakeClock } from '../../src/clock.ts';
import type { Outcome } from '../../src/delivery/outcome.ts';
import { StoreMailboxSource } from '../../src/sources/store-source.ts';
import { storeKeys } from '../../src/store/keys.ts';
import type { MailboxScreen, MailboxUpdate } from '../../src/store/mailbox-state.ts';
import { needsDetail } from '../../src/sweep/plan.ts';
import { prng } from '../support/prng.ts';
import { RedisMailboxStore } from '../../src/store/redis-mailbox-store.ts';
import { createStoreClient } from '../../src/store/store-client.ts';
import { startRedis, type RedisHandle } from '../harness/redis.ts';
import { leasedNames } from '../support/leased.ts';

const ROUTE = { mode: 'publish', target: 'sip:127.0.0.1:5060' } as const;

function update(mailbox: string, version: number, route: MailboxUpdate['route'] = ROUTE): MailboxUpdate {
  return { mailbox, route, summary: { counts: { 'voice-message': { new: version, old: 1 } } }, version };
}

function delivered(startedAt: number, expiresAt?: number): Outcome {
  return { kind: 'delivered', status: 200, reason: '200 OK', cause: 'response', requests: 1, startedAt, elapsedMs: 5, ...(expiresAt === undefined ? {} : { etag: 'e1', expiresAt }) };
}

describe('store: mailbox index and sweep reads', { timeout: 30_000 }, () => {
  let redis: RedisHandle;
  let client: Redis;
  let n = 0;
  const fresh = (clock = new FakeClock()) => {
    const keys = storeKeys(`{sweep-index-${++n}}`);
    return { keys, clock, store: new RedisMailboxStore({ redis: client, clock, keys }) };
  };

  before(async () => {
    redis = await startRedis({ label: 'store-sweep-index' });
    client = await createStoreClient({ url: redis.url });
  });
  after(async () => {
    client?.disconnect();
    await redis?.dispose();
  });

  it('indexes every mailbox apply-updates writes, once, and pages through them in lexical order', async () => {
    const { store } = fresh();
    const mailboxes = Array.from({ length: 25 }, (_, i) => `sip:${2000 - i}@pbx.test`);
    await store.applyUpdates(mailboxes.map((m) => update(m, 1)));
    await store.applyUpdates(mailboxes.slice(0, 5).map((m) => update(m, 2)));
    assert.equal(await store.indexedCount(), 25);

    const seen: string[] = [];
    let after = '';
    for (;;) {
      const page = await store.screenMailboxes(after, 10, { now: 0, refreshMarginMs: 0, mode: 'all' });
      seen.push(...page.candidates.map((v) => v.mailbox));
      if (page.read < 10 || page.last === undefined) break;
      after = page.last;
    }
    assert.deepEqual(seen, [...mailboxes].sort());
  });

  it('screens a page in Redis (counts all, returns only what may need a delivery) and gives the full view of named mailboxes', async () => {
    const { store, clock } = fresh();
    const [a, b, c] = ['sip:a@pbx.test', 'sip:b@pbx.test', 'sip:c@pbx.test'];
    await store.applyUpdates([update(a, 5), update(b, 7), update(c, 9, { mode: 'notify', contact: 'sip:c@192.0.2.1' })]);
    await leasedNames(store, 10, 60_000);
    await store.recordDelivered(a, 5, update(a, 5).summary, delivered(clock.now(), clock.now() + 3_600_000));
    await store.park(b, 7, { kind: 'permanent', status: 404, reason: '404', cause: 'response', requests: 1, startedAt: clock.now(), elapsedMs: 1 });

    assert.deepEqual(await store.screenMailboxes('', 10, { now: clock.now(), refreshMarginMs: 0, mode: 'all' }), {
      read: 3,
      last: c,
      scanned: 3,
      dirty: 1,
      candidates: [
        { mailbox: a, desiredVersion: 5, deliveredVersion: 5, expiresAt: clock.now() + 3_600_000 },
        { mailbox: b, desiredVersion: 7 },
        { mailbox: c, desiredVersion: 9 },
      ],
    });
    const screened = await store.screenMailboxes('', 10, { now: clock.now(), refreshMarginMs: 0, mode: 'sweep' });
    assert.deepEqual(screened.candidates.map((x) => x.mailbox), [b], 'clean a and dirty c are only counted');

    const [vc, unknown, va, vb] = await store.viewMailboxes([c, 'sip:unknown@pbx.test', a, b]);
    assert.deepEqual([va?.desiredVersion, va?.deliveredVersion, va?.expiresAt, va?.dueAt], [5, 5, clock.now() + 3_600_000, undefined]);
    assert.deepEqual(va?.desired?.route, ROUTE);
    assert.deepEqual([vb?.desiredVersion, vb?.deliveredVersion, vb?.dueAt, vb?.lastOutcomeKind], [7, undefined, undefined, 'permanent']);
    assert.equal(vc?.dueAt, clock.now() + 60_000, 'leased: due when the lease ends');
    assert.deepEqual(vc?.desired?.route, { mode: 'notify', contact: 'sip:c@192.0.2.1' });
    assert.deepEqual([unknown?.mailbox, unknown?.desiredVersion], ['sip:unknown@pbx.test', undefined]);
  });

  it('the Lua screen selects exactly what needsDetail (the TypeScript spec) selects, over random mailboxes and times', async () => {
    const { store, clock, keys } = fresh();
    const random = prng(11);
    const now = clock.now();
    const pick = <T>(xs: T[]): T => xs[Math.floor(random() * xs.length)] as T;
    const mailboxes = Array.from({ length: 400 }, (_, i) => `sip:${i}@screen.test`);
    await store.applyUpdates(mailboxes.map((m) => update(m, 1 + Math.floor(random() * 3))));
    await client.del(keys.dirty());
    const screens = new Map<string, MailboxScreen>();
    for (const m of mailboxes) {
      const dv = Number(await client.hget(keys.mailbox(m), 'dv'));
      const xv = pick([undefined, dv - 1, dv, dv + 0]);
      const exp = pick([undefined, now - 1_000, now + 500, now + 1_000, now + 1_001, now + 10 ** 12]);
      const due = pick([undefined, undefined, now + 5]);
      if (xv !== undefined) await client.hset(keys.mailbox(m), 'xv', String(xv));
      if (exp !== undefined) await client.hset(keys.mailbox(m), 'exp', String(exp));
      if (due !== undefined) await client.zadd(keys.dirty(), due, m);
      screens.set(m, { mailbox: m, desiredVersion: dv, ...(xv === undefined ? {} : { deliveredVersion: xv }), ...(exp === undefined ? {} : { expiresAt: exp }), ...(due === undefined ? {} : { dueAt: due }) });
    }
    for (const mode of ['sweep', 'force'] as const) {
      const page = await store.screenMailboxes('', 1_000, { now, refreshMarginMs: 1_000, mode });
      const expected = [...screens.values()].filter((v) => needsDetail(v, { now, refreshMarginMs: 1_000, force: mode === 'force' })).map((v) => v.mailbox).sort();
      assert.deepEqual(page.candidates.map((c) => c.mailbox), expected, mode);
      assert.equal(page.scanned, 400);
      assert.equal(page.dirty, [...screens.values()].filter((v) => v.dueAt !== undefined).length);
      for (const c of page.candidates) assert.deepEqual(c, Object.fromEntries(Object.entries(screens.get(c.mailbox) ?? {}).filter(([k]) => k !== "dueAt")));
    }
  });

  it('returns versions and times up to 2^53 - 1 exactly', async () => {
    const { store, keys } = fresh();
    const big = Number.MAX_SAFE_INTEGER;
    await store.applyUpdates([{ ...update('sip:big@pbx.test', 1), version: big }]);
    await client.hset(keys.mailbox('sip:big@pbx.test'), 'xv', String(big - 1), 'exp', String(big - 2));
    await client.del(keys.dirty());
    const page = await store.screenMailboxes('', 10, { now: 0, refreshMarginMs: 0, mode: 'sweep' });
    assert.deepEqual(page.candidates, [{ mailbox: 'sip:big@pbx.test', desiredVersion: big, deliveredVersion: big - 1, expiresAt: big - 2 }]);
  });

  it('markDirty marks clean mailboxes due, keeps the turn of dirty ones and ignores unknown ones', async () => {
    const { store, clock, keys } = fresh();
    const [a, b] = ['sip:a@pbx.test', 'sip:b@pbx.test'];
    await store.applyUpdates([update(a, 1), update(b, 1)]);
    await leasedNames(store, 10, 60_000);
    await store.recordDelivered(a, 1, update(a, 1).summary, delivered(clock.now()));
    clock.advance(1_000);
    assert.deepEqual(await store.markDirty([a, b, 'sip:nobody@pbx.test']), ['marked', 'already-dirty', 'no-desired-state']);
    assert.equal(Number(await client.zscore(keys.dirty(), a)), clock.now());
    assert.equal(Number(await client.zscore(keys.dirty(), b)), clock.now() - 1_000 + 60_000, 'the lease is kept');
    assert.equal(await client.zscore(keys.dirty(), 'sip:nobody@pbx.test'), null);
  });

  it('backfills the index from the mailbox hashes of an older version, once', async () => {
    const { store, keys } = fresh();
    await store.applyUpdates(['sip:1@old.test', 'sip:2@old.test', 'sip:3@old.test'].map((m) => update(m, 1)));
    await client.del(keys.mailboxIndex()); // as written before the index existed
    const source = new StoreMailboxSource(store);
    const seen: string[] = [];
    for await (const page of source.pages(2, new AbortController().signal)) seen.push(...page.map((m) => m.mailbox));
    assert.deepEqual(seen, ['sip:1@old.test', 'sip:2@old.test', 'sip:3@old.test']);
    assert.equal(await store.backfillMailboxIndex(), 0, 'done once: the marker is set');
  });
});
