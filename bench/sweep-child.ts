/**
 * One process, one measurement, for bench/sweep.bench.ts: `node bench/sweep-child.ts sweep|reference`
 * with BENCH_REDIS_URL and BENCH_PREFIX. Prints one JSON line: wall time, peak RSS of this
 * process (getrusage maxrss) and what it found. A process of its own, so the RSS is the sweep's
 * (or the reference's) and nothing else's.
 *   sweep      a sweep run as `mwi sweep run` makes it (store source, lock, run log, delivery
 *              scheduler; probes answered by a stub)
 *   reference  a plain SCAN MATCH <prefix>:mailbox:* COUNT 1000 + pipelined HGETALL loop over the same keys
 */
import { performance } from 'node:perf_hooks';

import { Redis } from 'ioredis';
import { pino } from 'pino';

import { loadConfig } from '../config/load.ts';
import { systemClock } from '../src/clock.ts';
import { startDelivery } from '../src/queue/delivery-runtime.ts';
import { storeKeys } from '../src/store/keys.ts';
import { startSweep } from '../src/sweep/sweep-runtime.ts';

const [mode] = process.argv.slice(2);
const redisUrl = process.env.BENCH_REDIS_URL ?? '';
const prefix = process.env.BENCH_PREFIX ?? '{mwi}';
const log = pino({ level: 'silent' });

async function sweep(): Promise<unknown> {
  const config = loadConfig({
    env: {},
    flags: { 'redis.url': redisUrl, 'redis.keyPrefix': prefix, 'sweep.deadlineSec': 600, 'sweep.maxDueBacklog': 10_000_000, 'sweep.lockTtlMs': 10_000 },
    readFile: () => '',
  });
  const stub = {
    send: () => Promise.reject(new Error('no sends in the bench')),
    probe: () => Promise.resolve({ up: true, status: 200, reason: '200 OK', elapsedMs: 1 }),
    close: () => Promise.resolve(),
  };
  const delivery = await startDelivery({ config, log, clock: systemClock, redisUrl, sender: stub, workers: false });
  const runtime = await startSweep({ config, log, clock: systemClock, redisUrl, store: delivery.store, scheduler: delivery.scheduler, prober: stub, schedule: false });
  const t0 = performance.now();
  const record = await runtime.runNow();
  const wallMs = performance.now() - t0;
  await runtime.close(2_000);
  await delivery.close(2_000);
  return { wallMs, outcome: record.outcome, counts: record.counts };
}

async function reference(): Promise<unknown> {
  const redis = new Redis(redisUrl);
  const t0 = performance.now();
  let cursor = '0';
  let keys = 0;
  let fields = 0;
  do {
    const [next, found] = await redis.scan(cursor, 'MATCH', `${storeKeys(prefix).mailbox('')}*`, 'COUNT', 1_000);
    cursor = next;
    const pipeline = redis.pipeline();
    for (const k of found) pipeline.hgetall(k);
    const results = (await pipeline.exec()) ?? [];
    for (const [, h] of results) fields += Object.keys(h as Record<string, string>).length;
    keys += found.length;
  } while (cursor !== '0');
  const wallMs = performance.now() - t0;
  await redis.quit();
  return { wallMs, keys, fields };
}

const result = mode === 'sweep' ? await sweep() : await reference();
process.stdout.write(`${JSON.stringify({ ...(result as object), maxRssBytes: process.resourceUsage().maxRSS * 1024 })}\n`);
process.exit(0);
