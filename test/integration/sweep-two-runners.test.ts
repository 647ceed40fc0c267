// Two runner processes (test/support/sweep-runner-process.ts), each with the sweep on the same
// 1 s schedule against one redis-server, for about 15 s, with runs (about 1.5 s) longer than the
// interval. Proven from the run log the sweep keeps in Redis (start right after acquiring the
// lock, end right before releasing it): no two runs ever overlapped, every run started at least
// the interval after the previous one ended (no stacking), and ticks that found the lock held
// were recorded as skips naming the other process as holder. Meanwhile the sweep queue never
// held more than one pending tick.
import assert from 'node:assert/strict';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';

import { Queue } from 'bullmq';
import { Redis } from 'ioredis';

import { storeKeys } from '../../src/store/keys.ts';
import { RedisMailboxStore } from '../../src/store/redis-mailbox-store.ts';
import { createStoreClient } from '../../src/store/store-client.ts';
import { RedisSweepRunLog, type SweepRunRecord } from '../../src/sweep/run-records.ts';
import { SWEEP_QUEUE } from '../../src/sweep/sweep-queue.ts';
import { REPO_ROOT, logMatches, spawnManaged, type ManagedProcess } from '../harness/process.ts';
import { startRedis, type RedisHandle } from '../harness/redis.ts';

const PREFIX = '{mwi-two}';
const INTERVAL_MS = 1_000;
const RUN_FOR_MS = 15_000;
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

describe('sweep: two runner processes on one schedule', { timeout: 60_000 }, () => {
  let redis: RedisHandle;
  let client: Redis;
  const procs: ManagedProcess[] = [];

  before(async () => {
    redis = await startRedis({ label: 'sweep-two-runners' });
    client = await createStoreClient({ url: redis.url });
  });
  after(async () => {
    for (const p of procs) await p.kill9();
    client?.disconnect();
    await redis?.dispose();
  });

  const spawnRunner = (label: string): Promise<ManagedProcess> => {
    const env: NodeJS.ProcessEnv = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('MWI_')));
    return spawnManaged({
      name: 'sweep-runner',
      label,
      command: process.execPath,
      args: [path.join(REPO_ROOT, 'test', 'support', 'sweep-runner-process.ts')],
      cwd: REPO_ROOT,
      env: {
        ...env,
        MWI_REDIS__URL: redis.url,
        MWI_REDIS__KEY_PREFIX: PREFIX,
        MWI_SWEEP__ENABLED: 'true',
        MWI_SWEEP__INTERVAL_SEC: String(INTERVAL_MS / 1_000),
        MWI_SWEEP__DEADLINE_SEC: '10',
        MWI_SWEEP__LOCK_TTL_MS: '1500',
        MWI_SWEEP__PAGE_SIZE: '10',
        MWI_SWEEP__RUN_HISTORY: '1000',
        MWI_LOG__LEVEL: 'info',
        SWEEP_TEST_PAGE_DELAY_MS: '150',
      },
      debPackages: 'nodejs',
      readyTimeoutMs: 15_000,
      ready: logMatches(/"msg":"sweep runner ready"/),
    });
  };

  it('never runs two sweeps at once, never stacks runs, and records skips with the holder', async (t) => {
    const keys = storeKeys(PREFIX);
    const store = new RedisMailboxStore({ redis: client, keys });
    const route = { mode: 'publish', target: 'sip:127.0.0.1:5060' } as const;
    const mailboxes = Array.from({ length: 100 }, (_, i) => `sip:${3000 + i}@two.test`);
    await store.applyUpdates(mailboxes.map((mailbox) => ({ mailbox, route, summary: { counts: { 'voice-message': { new: 1, old: 0 } } }, version: 1 })));

    procs.push(...(await Promise.all([spawnRunner('a'), spawnRunner('b')])));
    const queueConnection = new Redis(redis.url, { maxRetriesPerRequest: null });
    const queue = new Queue(SWEEP_QUEUE, { connection: queueConnection, prefix: PREFIX });
    let maxPending = 0;
    try {
      const end = Date.now() + RUN_FOR_MS;
      while (Date.now() < end) {
        const counts = await queue.getJobCounts('wait', 'delayed', 'prioritized');
        maxPending = Math.max(maxPending, (counts.wait ?? 0) + (counts.delayed ?? 0) + (counts.prioritized ?? 0));
        await sleep(200);
      }
    } finally {
      await queue.close();
      await queueConnection.quit();
    }
    const exits = await Promise.all(procs.map((p) => p.stop(10_000)));
    assert.deepEqual(exits, [{ code: 0, signal: null }, { code: 0, signal: null }], 'both runners shut down cleanly');

    const records = await new RedisSweepRunLog({ redis: client, keys, keep: 1000 }).recent(1000);
    const runs = records.filter((r) => r.outcome !== 'skipped').sort((x, y) => x.startedAt - y.startedAt);
    const skips = records.filter((r) => r.outcome === 'skipped');
    const pids = new Set(procs.map((p) => p.pid));

    assert.ok(runs.length >= 4, `${runs.length} runs in ${RUN_FOR_MS} ms`);
    for (const r of runs) {
      assert.ok(pids.has(r.pid), 'each run names its process');
      if (r.outcome !== 'completed') {
        // Only a run cut short by the runners' shutdown at the end.
        assert.equal(r.aborted?.reason, 'shutdown', JSON.stringify(r.aborted));
        continue;
      }
      assert.ok(r.endedAt - r.startedAt > INTERVAL_MS, `run ${r.runId} took ${r.endedAt - r.startedAt} ms: longer than the interval`);
      assert.equal(r.counts.scanned, 100);
    }
    const gaps: number[] = [];
    for (let i = 1; i < runs.length; i++) {
      const prev = runs[i - 1] as SweepRunRecord;
      const next = runs[i] as SweepRunRecord;
      assert.ok(next.startedAt >= prev.endedAt, `runs ${prev.runId} and ${next.runId} overlap`);
      gaps.push(next.startedAt - prev.endedAt);
      assert.ok(next.startedAt - prev.endedAt >= INTERVAL_MS, `run ${next.runId} started ${next.startedAt - prev.endedAt} ms after the previous ended: stacked`);
    }
    assert.ok(skips.length >= 1, 'ticks found the lock held');
    for (const s of skips) {
      const holder = s.holder;
      assert.ok(holder, 'a skip names the holder');
      const held = runs.find((r) => r.runId === holder.runId);
      assert.ok(held, `the holder ${holder.runId} is a recorded run`);
      assert.notEqual(holder.pid, s.pid, 'held by the other process');
      assert.ok(s.startedAt >= held.startedAt && s.startedAt <= held.endedAt, 'the skip happened while the holder ran');
    }
    assert.ok(maxPending <= 1, `at most one pending tick in the sweep queue, saw ${maxPending}`);
    t.diagnostic(
      `${runs.length} runs (${runs.filter((r) => r.pid === procs[0]?.pid).length} by A, ${runs.filter((r) => r.pid === procs[1]?.pid).length} by B), ` +
        `${skips.length} skips, run lengths ${runs.map((r) => r.endedAt - r.startedAt).join('/')} ms, pauses between runs ${gaps.join('/')} ms, max pending ticks ${maxPending}`,
    );
  });
});
