// RedisPublicationStore against a private redis-server: round trip, TTL past expiresAt, lapsed
// and unreadable entries.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';

import type { Redis } from 'ioredis';

import { FakeClock } from '../../src/clock.ts';
import { ErrorCodes, isMwiError } from '../../src/errors.ts';
import { Publisher, publicationKey } from '../../src/sip/publish.ts';
import type { SipRequest, SipResult } from '../../src/sip/stack.ts';
import { parseTarget } from '../../src/sip/target.ts';
import { storeKeys, type StoreKeys } from '../../src/store/keys.ts';
import { RedisPublicationStore } from '../../src/store/redis-publication-store.ts';
import { createStoreClient } from '../../src/store/store-client.ts';
import { startRedis, type RedisHandle } from '../harness/redis.ts';

const KEY = 'tcp:127.0.0.1:5060|sip:1000@pbx.test';

describe('RedisPublicationStore', { timeout: 30_000 }, () => {
  let redis: RedisHandle;
  let client: Redis;
  let seq = 0;

  before(async () => {
    redis = await startRedis({ label: 'store-publication' });
    client = await createStoreClient({ url: redis.url });
  });
  after(async () => {
    client?.disconnect();
    await redis?.dispose();
  });

  function fresh(ttlGraceMs?: number): { store: RedisPublicationStore; keys: StoreKeys } {
    const keys = storeKeys(`{mwi-pub-${++seq}}`);
    return { store: new RedisPublicationStore({ redis: client, keys, ...(ttlGraceMs === undefined ? {} : { ttlGraceMs }) }), keys };
  }

  it('round-trips etag and expiresAt, overwrites, deletes', async () => {
    const { store } = fresh();
    assert.equal(await store.get(KEY), undefined);
    const expiresAt = Date.now() + 3_600_000;
    await store.set(KEY, { etag: 'a1', expiresAt });
    assert.deepEqual(await store.get(KEY), { etag: 'a1', expiresAt });
    await store.set(KEY, { etag: 'a2', expiresAt: expiresAt + 1 });
    assert.deepEqual(await store.get(KEY), { etag: 'a2', expiresAt: expiresAt + 1 });
    assert.equal(await store.get('tcp:127.0.0.1:5060|sip:other@pbx.test'), undefined);
    await store.delete(KEY);
    assert.equal(await store.get(KEY), undefined);
    await store.delete(KEY);
  });

  it('the calls of one event-loop turn go out as one command of each kind, each with its own result', async () => {
    const { store } = fresh();
    const key = (i: number): string => `tcp:127.0.0.1:5060|sip:${i}@pbx.test`;
    const expiresAt = Date.now() + 3_600_000;
    await Promise.all([1, 2, 3].map((i) => store.set(key(i), { etag: `t${i}`, expiresAt: expiresAt + i })));
    const stats = async (): Promise<Record<string, number>> => {
      const info = await client.info('commandstats');
      return Object.fromEntries([...info.matchAll(/^cmdstat_(\w+):calls=(\d+)/gm)].map((m) => [m[1] ?? '', Number(m[2])]));
    };
    const before = await stats();
    const [got, , ,] = await Promise.all([
      Promise.all([1, 2, 3, 4].map((i) => store.get(key(i)))),
      store.set(key(5), { etag: 't5', expiresAt }),
      store.set(key(6), { etag: 't6', expiresAt }),
      Promise.all([store.delete(key(2)), store.delete(key(3))]),
    ]);
    const after = await stats();
    const delta = (name: string): number => (after[name] ?? 0) - (before[name] ?? 0);
    assert.deepEqual(got, [{ etag: 't1', expiresAt: expiresAt + 1 }, { etag: 't2', expiresAt: expiresAt + 2 }, { etag: 't3', expiresAt: expiresAt + 3 }, undefined]);
    assert.equal(delta('mget'), 1, 'four gets, one MGET');
    assert.equal(delta('get'), 0);
    assert.equal(delta('evalsha') + delta('eval'), 1, 'two sets, one script call');
    assert.equal(delta('del'), 1, 'two deletes, one DEL');
    assert.deepEqual(await Promise.all([2, 3, 5, 6].map(async (i) => (await store.get(key(i)))?.etag)), [undefined, undefined, 't5', 't6']);
  });

  it('gives each entry a Redis TTL ending ttlGraceMs after expiresAt', async () => {
    const { store, keys } = fresh(60_000);
    const expiresAt = Date.now() + 10_000;
    await store.set(KEY, { etag: 'e', expiresAt });
    assert.equal(await client.pexpiretime(keys.publication(KEY)), expiresAt + 60_000);
    const ttlMs = await client.pttl(keys.publication(KEY));
    assert.ok(ttlMs > 65_000 && ttlMs <= 70_000, String(ttlMs));
  });

  it('Redis drops an entry once expiresAt + ttlGraceMs has passed', async () => {
    const { store } = fresh(100);
    await store.set(KEY, { etag: 'short', expiresAt: Date.now() + 100 });
    assert.equal((await store.get(KEY))?.etag, 'short');
    await new Promise((resolve) => setTimeout(resolve, 400));
    assert.equal(await store.get(KEY), undefined);
    await store.set(KEY, { etag: 'lapsed', expiresAt: Date.now() - 1000 });
    assert.equal(await store.get(KEY), undefined);
  });

  it('still returns a just-lapsed entry within the grace, so the publisher can see it lapsed', async () => {
    const { store } = fresh(60_000);
    const expiresAt = Date.now() - 1000;
    await store.set(KEY, { etag: 'old', expiresAt });
    assert.deepEqual(await store.get(KEY), { etag: 'old', expiresAt });
  });

  it('reads an unreadable entry as absent and refuses to write an invalid one', async () => {
    const { store, keys } = fresh();
    await client.set(keys.publication(KEY), '{not json');
    assert.equal(await store.get(KEY), undefined);
    await client.set(keys.publication(KEY), JSON.stringify({ etag: '', expiresAt: 1 }));
    assert.equal(await store.get(KEY), undefined);
    await assert.rejects(store.set(KEY, { etag: '', expiresAt: Date.now() }), RangeError);
    await assert.rejects(store.set(KEY, { etag: 'x', expiresAt: Number.NaN }), RangeError);
  });

  it('serves the Publisher: the ETag of one PUBLISH is the SIP-If-Match of the next, a 412 removes it', async () => {
    const { store } = fresh();
    // The TTL is absolute in Redis time, so the publisher's clock must be near the real one.
    const clock = new FakeClock(Date.now());
    const replies = [
      { status: 200, etag: 'a1' },
      { status: 200, etag: 'a2' },
      { status: 412 },
      { status: 500 },
    ];
    const sent: SipRequest[] = [];
    const stack = {
      request(req: SipRequest): Promise<SipResult> {
        sent.push(req);
        const reply = replies.shift() ?? { status: 500 };
        const headers: Record<string, string> = reply.etag ? { 'sip-etag': reply.etag, expires: '3600' } : {};
        return Promise.resolve({ kind: 'response', status: reply.status, reason: 'R', header: (n: string) => headers[n.toLowerCase()], startedAt: clock.now(), elapsedMs: 1 });
      },
    };
    const publisher = new Publisher({ stack, store, clock, expiresSec: 3600, transactionTimeoutMs: 4000 });
    const target = parseTarget('sip:127.0.0.1:5070', 'UDP');
    const input = { aor: 'sip:1000@pbx.test', target, body: 'Messages-Waiting: no\r\n' };
    const ifMatch = (req: SipRequest | undefined) => req?.headers.find((h) => h.startsWith('SIP-If-Match:'));

    assert.equal((await publisher.publish(input)).kind, 'delivered');
    assert.equal(ifMatch(sent[0]), undefined);
    assert.equal((await store.get(publicationKey(target, input.aor)))?.etag, 'a1');
    assert.equal((await publisher.publish(input)).kind, 'delivered');
    assert.equal(ifMatch(sent[1]), 'SIP-If-Match: a1');
    assert.equal((await store.get(publicationKey(target, input.aor)))?.etag, 'a2');
    await publisher.publish(input);
    assert.equal(ifMatch(sent[2]), 'SIP-If-Match: a2');
    assert.equal(await store.get(publicationKey(target, input.aor)), undefined);
  });

  it('refuses a client with a keyPrefix', () => {
    assert.throws(
      () => new RedisPublicationStore({ redis: { options: { keyPrefix: 'x:' } } as unknown as Redis }),
      (err: unknown) => isMwiError(err, ErrorCodes.CONFIG_INVALID),
    );
  });
});
