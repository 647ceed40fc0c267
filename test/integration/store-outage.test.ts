// The stores when Redis goes away: killed (fail fast with MWI_REDIS_UNAVAILABLE, data back after
// restart from AOF), hung (command timeout), never there (connect fails).
//
// Client: createStoreClient (enableOfflineQueue: false, maxRetriesPerRequest: 1,
// commandTimeout 500 ms here, default 1000 ms), ioredis' default reconnect backoff.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';

import type { Redis } from 'ioredis';

import { systemClock } from '../../src/clock.ts';
import type { Outcome } from '../../src/delivery/outcome.ts';
import { ErrorCodes, isMwiError } from '../../src/errors.ts';
import { storeKeys } from '../../src/store/keys.ts';
import type { MailboxUpdate } from '../../src/store/mailbox-state.ts';
import { RedisMailboxStore } from '../../src/store/redis-mailbox-store.ts';
import { RedisPublicationStore } from '../../src/store/redis-publication-store.ts';
import { createStoreClient } from '../../src/store/store-client.ts';
import { freePort } from '../harness/ports.ts';
import { startRedis, type RedisHandle } from '../harness/redis.ts';
import { leasedNames } from '../support/leased.ts';

const COMMAND_TIMEOUT_MS = 500;
const FAIL_FAST_MS = 1000;
const ROUTE = { mode: 'notify', contact: 'sip:1000@127.0.0.1:5062' } as const;

function update(mailbox: string, version: number): MailboxUpdate {
  return { mailbox, route: ROUTE, summary: { counts: { 'voice-message': { new: version, old: 0 } } }, version };
}

const isUnavailable = (err: unknown): boolean => isMwiError(err, ErrorCodes.REDIS_UNAVAILABLE) && err.retryable;

async function rejectsUnavailableWithin(call: () => Promise<unknown>, withinMs: number, what: string): Promise<number> {
  const start = performance.now();
  await assert.rejects(call(), (err: unknown) => isUnavailable(err), what);
  const elapsedMs = performance.now() - start;
  assert.ok(elapsedMs < withinMs, `${what} took ${Math.round(elapsedMs)} ms`);
  return elapsedMs;
}

function waitReady(client: Redis, timeoutMs: number): Promise<void> {
  if (client.status === 'ready') return Promise.resolve();
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`client not ready after ${timeoutMs} ms (status ${client.status})`)), timeoutMs);
    client.once('ready', () => {
      clearTimeout(timer);
      resolve();
    });
  });
}

describe('stores during a Redis outage', { timeout: 60_000 }, () => {
  let redis: RedisHandle;
  let client: Redis;
  let mailboxes: RedisMailboxStore;
  let publications: RedisPublicationStore;

  before(async () => {
    redis = await startRedis({ appendonly: true, label: 'store-outage' });
    client = await createStoreClient({ url: redis.url, commandTimeoutMs: COMMAND_TIMEOUT_MS });
    const keys = storeKeys('{mwi-outage}');
    mailboxes = new RedisMailboxStore({ redis: client, clock: systemClock, keys });
    publications = new RedisPublicationStore({ redis: client, keys });
  });
  after(async () => {
    client?.disconnect();
    await redis?.dispose();
  });

  it('after kill -9 every call rejects with MWI_REDIS_UNAVAILABLE quickly; after restart the AOF data is all there', async (t) => {
    const delivered: Outcome = { kind: 'delivered', status: 200, reason: '200 OK', cause: 'response', requests: 1, startedAt: Date.now(), elapsedMs: 3 };
    assert.deepEqual(await mailboxes.applyUpdates([update('sip:a@pbx.test', 1), update('sip:b@pbx.test', 4)]), ['applied', 'applied']);
    assert.equal(await mailboxes.recordDelivered('sip:a@pbx.test', 1, { counts: { 'voice-message': { new: 1, old: 0 } } }, delivered), 'clean');
    await publications.set('udp:127.0.0.1:5060|sip:b@pbx.test', { etag: 'keep-me', expiresAt: Date.now() + 3_600_000 });
    const before = { a: await mailboxes.get('sip:a@pbx.test'), b: await mailboxes.get('sip:b@pbx.test') };

    // Calls in flight while the server dies either complete or fail fast, never hang.
    const inFlight: Array<{ ok: boolean; unavailable: boolean; ms: number }> = [];
    let stop = false;
    const hammer = (async () => {
      while (!stop) {
        const start = performance.now();
        try {
          await mailboxes.get('sip:a@pbx.test');
          inFlight.push({ ok: true, unavailable: false, ms: performance.now() - start });
        } catch (err) {
          inFlight.push({ ok: false, unavailable: isUnavailable(err), ms: performance.now() - start });
          if (inFlight.filter((r) => !r.ok).length >= 3) break;
        }
      }
    })();
    await new Promise((resolve) => setTimeout(resolve, 20));
    await redis.kill9();
    await Promise.race([hammer, new Promise((resolve) => setTimeout(resolve, 2 * FAIL_FAST_MS))]);
    stop = true;
    await hammer;
    const failures = inFlight.filter((r) => !r.ok);
    assert.ok(inFlight.some((r) => r.ok) && failures.length > 0, JSON.stringify(inFlight.length));
    assert.ok(failures.every((r) => r.unavailable && r.ms < FAIL_FAST_MS), JSON.stringify(failures));
    t.diagnostic(`${inFlight.length} calls around kill -9: slowest failure ${Math.max(...failures.map((r) => r.ms)).toFixed(1)} ms`);

    const timings = [
      await rejectsUnavailableWithin(() => mailboxes.applyUpdates([update('sip:c@pbx.test', 1)]), FAIL_FAST_MS, 'applyUpdates'),
      await rejectsUnavailableWithin(() => mailboxes.get('sip:a@pbx.test'), FAIL_FAST_MS, 'get'),
      await rejectsUnavailableWithin(() => leasedNames(mailboxes, 10, 30_000), FAIL_FAST_MS, 'takeDue'),
      await rejectsUnavailableWithin(() => mailboxes.dirtyCount(), FAIL_FAST_MS, 'dirtyCount'),
      await rejectsUnavailableWithin(() => mailboxes.recordDelivered('sip:b@pbx.test', 4, { counts: {} }, delivered), FAIL_FAST_MS, 'recordDelivered'),
      await rejectsUnavailableWithin(() => publications.get('udp:127.0.0.1:5060|sip:b@pbx.test'), FAIL_FAST_MS, 'publication get'),
      await rejectsUnavailableWithin(() => publications.set('x', { etag: 'y', expiresAt: Date.now() + 1000 }), FAIL_FAST_MS, 'publication set'),
    ];
    t.diagnostic(`calls after kill -9 rejected in ${timings.map((ms) => ms.toFixed(1)).join(', ')} ms`);

    await redis.restart();
    await waitReady(client, 15_000);
    assert.deepEqual(await mailboxes.get('sip:a@pbx.test'), before.a);
    assert.deepEqual(await mailboxes.get('sip:b@pbx.test'), before.b);
    assert.equal(await mailboxes.get('sip:c@pbx.test'), undefined);
    assert.equal((await publications.get('udp:127.0.0.1:5060|sip:b@pbx.test'))?.etag, 'keep-me');
    // The restarted server has an empty script cache: ioredis falls back from EVALSHA to EVAL.
    assert.deepEqual(await leasedNames(mailboxes, 10, 30_000), ['sip:b@pbx.test']);
    assert.deepEqual(await mailboxes.applyUpdates([update('sip:b@pbx.test', 5)]), ['applied']);
  });

  it('a hung Redis (SIGSTOP) fails calls after the command timeout; a timed-out batch may still apply, and retrying it is safe', async () => {
    redis.pause();
    try {
      await rejectsUnavailableWithin(() => mailboxes.applyUpdates([update('sip:hung@pbx.test', 1)]), COMMAND_TIMEOUT_MS + FAIL_FAST_MS, 'applyUpdates while hung');
    } finally {
      redis.resume();
    }
    // The script was already on the socket: Redis runs it once it resumes.
    let record = await mailboxes.get('sip:hung@pbx.test');
    for (let i = 0; i < 50 && record === undefined; i++) {
      await new Promise((resolve) => setTimeout(resolve, 20));
      record = await mailboxes.get('sip:hung@pbx.test');
    }
    assert.equal(record?.desired?.version, 1);
    assert.deepEqual(await mailboxes.applyUpdates([update('sip:hung@pbx.test', 1)]), ['stale']);
  });

  it('createStoreClient fails with MWI_REDIS_UNAVAILABLE when nothing listens', async () => {
    const port = await freePort({ host: '127.0.0.1' });
    await assert.rejects(createStoreClient({ url: `redis://127.0.0.1:${port}`, connectTimeoutMs: 500 }), (err: unknown) => isUnavailable(err));
  });
});
