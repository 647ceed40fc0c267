// The cross-host sweep lock (redlock 5.0.0-beta2 `using`, src/sweep/sweep-lock.ts) against a real
// redis-server: one holder at a time, a refused try that returns at once with the holder record,
// automatic extension through runs longer than the TTL, and a lock deleted or taken over in the
// middle of a run, which stops the run within one extension interval (lockTtlMs / 3) and leaves
// the new owner's lock alone.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';

import type { Redis } from 'ioredis';
import { pino } from 'pino';

import { FakeClock, systemClock } from '../../src/clock.ts';
import { StoreMailboxSource } from '../../src/sources/store-source.ts';
import { storeKeys } from '../../src/store/keys.ts';
import { RedisMailboxStore } from '../../src/store/redis-mailbox-store.ts';
import { createStoreClient } from '../../src/store/store-client.ts';
import { RedisSweepRunLog, type SweepRunRecord } from '../../src/sweep/run-records.ts';
import { RedlockSweepLock } from '../../src/sweep/sweep-lock.ts';
import { runSweep } from '../../src/sweep/sweep-run.ts';
import { startRedis, type RedisHandle } from '../harness/redis.ts';
import { SlowSource } from '../support/slow-source.ts';

const log = pino({ level: 'silent' });
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
const LOCK_TTL_MS = 1_500;
/** lockTtlMs / 3. */
const EXTEND_EVERY_MS = 500;
/** Scheduling and a Redis round trip on a busy 2-core machine. */
const SLACK_MS = 250;

/** Resolves with the time `signal` aborted. */
function abortedAt(signal: AbortSignal): Promise<number> {
  return new Promise((resolve) => signal.addEventListener('abort', () => resolve(performance.now()), { once: true }));
}

describe('sweep lock (redlock) on a real Redis', { timeout: 60_000 }, () => {
  let redis: RedisHandle;
  const clients: Redis[] = [];
  let n = 0;
  const client = async (): Promise<Redis> => {
    const c = await createStoreClient({ url: redis.url });
    clients.push(c);
    return c;
  };
  const fresh = async () => {
    const keys = storeKeys(`{sweep-lock-${++n}}`);
    const [a, b] = [await client(), await client()];
    return {
      keys,
      a: new RedlockSweepLock({ redis: a, keys, lockTtlMs: LOCK_TTL_MS, clock: systemClock, log }),
      b: new RedlockSweepLock({ redis: b, keys, lockTtlMs: LOCK_TTL_MS, clock: systemClock, log }),
      raw: a,
    };
  };
  const who = (runId: string) => ({ runId, host: 'host-a', pid: 101, mode: 'sweep' });

  before(async () => {
    redis = await startRedis({ label: 'sweep-lock' });
  });
  after(async () => {
    for (const c of clients) c.disconnect();
    await redis?.dispose();
  });

  it('one holder at a time: a second try returns at once (no retry) with the holder record; the lock is free after', async () => {
    const { a, b, keys, raw } = await fresh();
    let release!: () => void;
    const held = new Promise<void>((resolve) => (release = resolve));
    let started!: () => void;
    const running = new Promise<void>((resolve) => (started = resolve));
    const first = a.withLock(who('run-a'), async () => {
      started();
      await held;
      return 'done';
    });
    await running;
    const t0 = performance.now();
    const second = await b.withLock({ ...who('run-b'), host: 'host-b' }, () => Promise.resolve('should not run'));
    const triedMs = performance.now() - t0;
    assert.equal(second.acquired, false);
    assert.ok(!second.acquired && second.holder?.runId === 'run-a' && second.holder.host === 'host-a' && second.holder.pid === 101, JSON.stringify(second));
    assert.ok(triedMs < 100, `a busy lock answered in ${triedMs.toFixed(0)} ms`);
    release();
    assert.deepEqual(await first, { acquired: true, value: 'done' });
    assert.equal(await raw.exists(keys.sweepLock(), keys.sweepHolder()), 0, 'lock and holder record removed');
    assert.equal((await b.withLock(who('run-c'), () => Promise.resolve(1))).acquired, true);
  });

  it('is extended automatically through a run three TTLs long, holder record included', async () => {
    const { a, b, keys, raw } = await fresh();
    const result = await a.withLock(who('long'), async (lost) => {
      for (let i = 0; i < 6; i++) {
        await sleep(LOCK_TTL_MS / 2);
        assert.equal(lost.aborted, false);
        assert.ok((await raw.pttl(keys.sweepLock())) > 0);
        assert.ok((await raw.pttl(keys.sweepHolder())) > 0, 'holder record kept alive');
        assert.equal((await b.withLock(who('intruder'), () => Promise.resolve())).acquired, false);
      }
      return lost.aborted;
    });
    assert.deepEqual(result, { acquired: true, value: false });
  });

  for (const [what, tamper] of [
    ['deleted', (r: Redis, key: string) => r.del(key)],
    ['taken over (overwritten with another value)', (r: Redis, key: string) => r.set(key, 'someone-else', 'PX', 10_000)],
  ] as const) {
    it(`${what} in the middle of a run: the run is told within one extension interval, and the other owner's lock is left alone`, async () => {
      const { a, keys, raw } = await fresh();
      let tamperedAt = 0;
      const result = await a.withLock(who('victim'), async (lost) => {
        const aborted = abortedAt(lost);
        await sleep(700);
        tamperedAt = performance.now();
        await tamper(raw, keys.sweepLock());
        const giveUp = AbortSignal.timeout(3 * LOCK_TTL_MS);
        return (await Promise.race([aborted, abortedAt(giveUp).then(() => Number.NaN)])) - tamperedAt;
      });
      assert.ok(result.acquired);
      const noticedMs = result.acquired ? result.value : Number.NaN;
      assert.ok(noticedMs <= EXTEND_EVERY_MS + SLACK_MS, `lost lock noticed after ${noticedMs.toFixed(0)} ms (extension every ${EXTEND_EVERY_MS} ms)`);
      if (what.startsWith('taken')) assert.equal(await raw.get(keys.sweepLock()), 'someone-else', 'our release did not remove the new owner\'s lock');
      else assert.equal(await raw.exists(keys.sweepLock()), 0);
    });
  }

  it('a holder-record refresh still in flight when the work ends schedules no other: nothing outlives the run', async () => {
    // Found by CI: every test passed, then the file never exited. A refresh that fired just
    // before the work ended completed after the cleanup had cleared the refresh timer, and
    // scheduled the next one: the holder record was refreshed every lockTtlMs / 3 for ever.
    const keys = storeKeys(`{sweep-lock-${++n}}`);
    const raw = await client();
    const clock = new FakeClock(Date.now());
    const lock = new RedlockSweepLock({ redis: raw, keys, lockTtlMs: LOCK_TTL_MS, clock, log });
    const result = await lock.withLock(who('racing'), () => {
      assert.equal(clock.pending, 1, 'the refresh timer');
      clock.advance(lock.extendEveryMs); // it fires: its script call is in flight as the work ends
      return Promise.resolve('done');
    });
    assert.deepEqual(result, { acquired: true, value: 'done' });
    await sleep(50); // any late reply has arrived
    assert.equal(clock.pending, 0, 'a refresh timer outlived the run');
    assert.equal(await raw.exists(keys.sweepHolder(), keys.sweepLock()), 0, 'holder record and lock removed');
  });

  it('a sweep run whose lock is taken over stops within one extension interval, queues nothing after, and says so in its record', async (t) => {
    const { keys, raw } = await fresh();
    const storeClient = await client();
    const store = new RedisMailboxStore({ redis: storeClient, clock: systemClock, keys });
    const route = { mode: 'publish', target: 'sip:127.0.0.1:5060' } as const;
    const mailboxes = Array.from({ length: 200 }, (_, i) => `sip:${1000 + i}@lock.test`);
    await store.applyUpdates(mailboxes.map((mailbox) => ({ mailbox, route, summary: { counts: { 'voice-message': { new: 1, old: 0 } } }, version: 1 })));
    await raw.del(keys.dirty()); // every mailbox differs and is not queued: each page queues its 10
    const source = new SlowSource(new StoreMailboxSource(store), 100);
    const lock = new RedlockSweepLock({ redis: await client(), keys, lockTtlMs: LOCK_TTL_MS, clock: systemClock, log });
    const runLog = new RedisSweepRunLog({ redis: raw, keys, keep: 10 });
    const prober = { probe: () => Promise.resolve({ up: true, status: 200, reason: '200 OK', elapsedMs: 1 }) };
    const deps = { store, scheduler: { schedule: () => Promise.resolve() }, prober, lock, runLog, source, clock: systemClock, log, identity: { host: 'host-a', pid: 1 } };
    const settings = { pageSize: 10, refreshMarginMs: 0, deadlineMs: 30_000, maxDueBacklog: 1_000_000, probeEveryMs: 60_000, maxBatchUpdates: 1_000 };

    const running = runSweep(deps, settings, { trigger: 'manual' });
    await sleep(800);
    const stolenAt = performance.now();
    await raw.set(keys.sweepLock(), 'another-host', 'PX', 10_000);
    const record = (await running) as SweepRunRecord;
    const stoppedMs = performance.now() - stolenAt;

    assert.equal(record.outcome, 'aborted');
    assert.equal(record.aborted?.reason, 'lock-lost');
    assert.ok(stoppedMs <= EXTEND_EVERY_MS + SLACK_MS + 100, `run stopped ${stoppedMs.toFixed(0)} ms after the takeover`);
    const lastPage = Math.max(...source.servedAt);
    assert.ok(lastPage <= stolenAt + EXTEND_EVERY_MS + SLACK_MS, 'no page handed out after the loss was noticed');
    assert.equal(await store.dirtyCount(), record.counts.enqueued, 'what it marked is what it counted');
    assert.ok(record.counts.enqueued < 200);
    assert.equal(await raw.get(keys.sweepLock()), 'another-host');
    assert.deepEqual((await runLog.recent(1))[0]?.runId, record.runId, 'recorded in Redis');
    t.diagnostic(`lock taken over after ${record.counts.pages} pages; the run stopped ${stoppedMs.toFixed(0)} ms later (extension every ${EXTEND_EVERY_MS} ms), having queued ${record.counts.enqueued} of 200`);
  });
});
