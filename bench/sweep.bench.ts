/**
 * The sweep over 1,000,000 mailboxes of the store (sweep.source "store"): wall time and peak RSS
 * of the process running it, with nothing to do and with 1% of the mailboxes changed (desired
 * state not delivered, no dirty mark: a lost mark), beside a plain SCAN + HGETALL loop over the
 * same keys in the same run. Each measurement runs in a process of its own (bench/sweep-child.ts)
 * so its RSS is its own. Goal (issue 4): unchanged sweep under 20 s and under 200 MB.
 */
import { execFile } from 'node:child_process';
import path from 'node:path';
import { performance } from 'node:perf_hooks';

import { Redis } from 'ioredis';

import { storeKeys } from '../src/store/keys.ts';
import { startRedis, type RedisHandle } from '../test/harness/redis.ts';
import { ratio, type BenchResult } from './report.ts';

const MAILBOXES = 1_000_000;
const SEED_BATCH = 10_000;
const CHANGED_EVERY = 100;
const PREFIX = '{mwi-bench-sweep}';
const GOAL_WALL_MS = 20_000;
const GOAL_RSS_BYTES = 200_000_000;
const UNCHANGED_WALL_ROW = 'sweep, nothing changed: wall time';
const UNCHANGED_RSS_ROW = 'sweep, nothing changed: peak RSS of the process';
const CHANGED_WALL_ROW = 'sweep, 1% changed: wall time';
const REFERENCE_WALL_ROW = 'reference SCAN + HGETALL: wall time';

/**
 * KEYS[1] mailbox index; ARGV: hash key prefix, first, last, now, expires at, target.
 * One mailbox hash as delivery leaves it (desired = delivered, ETag, expiry, last outcome), indexed.
 */
const SEED_LUA = `
local now, exp = ARGV[4], ARGV[5]
local ds = '{"summary":{"counts":{"voice-message":{"new":1,"old":2}}},"route":{"mode":"publish","target":"' .. ARGV[6] .. '"}}'
local xs = '{"counts":{"voice-message":{"new":1,"old":2}}}'
local lo = '{"kind":"delivered","status":200,"reason":"200 OK","at":' .. now .. '}'
for i = tonumber(ARGV[2]), tonumber(ARGV[3]) do
  local m = 'sip:' .. i .. '@bench.test'
  redis.call('HSET', ARGV[1] .. m, 'dv', '1', 'ds', ds, 'dat', now, 'xv', '1', 'xs', xs, 'xat', now, 'etag', 'a.1700000000.' .. i .. '.1', 'exp', exp, 'la', now, 'lo', lo)
  redis.call('ZADD', KEYS[1], 0, m)
end
return 1
`;

/** ARGV: hash key prefix, first, last, step: a newer desired version for every step-th mailbox. */
const CHANGE_LUA = `
for i = tonumber(ARGV[2]), tonumber(ARGV[3]), tonumber(ARGV[4]) do
  redis.call('HSET', ARGV[1] .. 'sip:' .. i .. '@bench.test', 'dv', '2')
end
return 1
`;

interface ChildResult {
  wallMs: number;
  maxRssBytes: number;
  outcome?: string;
  counts?: { scanned: number; changed: number; enqueued: number };
  keys?: number;
}

function child(mode: 'sweep' | 'reference', redis: RedisHandle): Promise<ChildResult> {
  return new Promise((resolve, reject) => {
    execFile(
      process.execPath,
      [...process.execArgv, path.join(import.meta.dirname, 'sweep-child.ts'), mode],
      { env: { ...process.env, BENCH_REDIS_URL: redis.url, BENCH_PREFIX: PREFIX }, timeout: 180_000, maxBuffer: 1 << 20 },
      (err, stdout, stderr) => {
        if (err) return reject(new Error(`${mode} child failed: ${err.message}\n${stderr}`));
        try {
          resolve(JSON.parse(stdout.trim().split('\n').at(-1) ?? '') as ChildResult);
        } catch {
          reject(new Error(`${mode} child printed no result: ${stdout}\n${stderr}`));
        }
      },
    );
  });
}

async function usedMemory(client: Redis): Promise<number> {
  return Number(/used_memory:(\d+)/.exec(await client.info('memory'))?.[1] ?? Number.NaN);
}

export async function run(): Promise<BenchResult> {
  const redis = await startRedis({ label: 'bench-sweep' });
  const client = new Redis(redis.url);
  try {
    const keys = storeKeys(PREFIX);
    const now = Date.now();
    const hashPrefix = keys.mailbox('');
    const s0 = performance.now();
    for (let first = 0; first < MAILBOXES; first += SEED_BATCH) {
      await client.eval(SEED_LUA, 1, keys.mailboxIndex(), hashPrefix, first, first + SEED_BATCH - 1, now, now + 3_600_000, 'sip:127.0.0.1:5060');
    }
    // As on an installation that wrote the index from the start: no backfill SCAN in the first run.
    await client.set(keys.mailboxIndexReady(), String(now));
    const seedMs = performance.now() - s0;
    const memory = await usedMemory(client);
    const indexBytes = Number(await client.call('MEMORY', 'USAGE', keys.mailboxIndex(), 'SAMPLES', '0'));

    const unchanged = await child('sweep', redis);
    const reference = await child('reference', redis);
    for (let first = 0; first < MAILBOXES; first += SEED_BATCH) {
      await client.eval(CHANGE_LUA, 0, hashPrefix, first, first + SEED_BATCH - 1, CHANGED_EVERY);
    }
    const changed = await child('sweep', redis);
    const mib = (b: number) => b / 1_048_576;

    return {
      name: 'sweep',
      description:
        `A sweep of ${MAILBOXES.toLocaleString('en-US')} mailboxes of the store (sweep.source "store", pages of 1,000, one Lua call per page), with nothing to do and with 1% changed, ` +
        'each in a process of its own, beside a plain SCAN + pipelined HGETALL loop over the same keys in the same run.',
      rows: [
        { label: 'seeding 1M mailbox hashes + index (one Lua call per 10,000)', value: seedMs, unit: 'ms' },
        { label: 'Redis used memory after seeding', value: mib(memory), unit: 'MiB' },
        { label: 'of which the mailbox index (sorted set)', value: mib(indexBytes), unit: 'MiB' },
        { label: UNCHANGED_WALL_ROW, value: unchanged.wallMs, unit: 'ms' },
        { label: UNCHANGED_RSS_ROW, value: mib(unchanged.maxRssBytes), unit: 'MiB' },
        { label: 'sweep, nothing changed: mailboxes scanned / enqueued', value: unchanged.counts?.scanned ?? Number.NaN, unit: `scanned (${unchanged.counts?.enqueued ?? '?'} enqueued)` },
        { label: CHANGED_WALL_ROW, value: changed.wallMs, unit: 'ms' },
        { label: 'sweep, 1% changed: peak RSS of the process', value: mib(changed.maxRssBytes), unit: 'MiB' },
        { label: 'sweep, 1% changed: mailboxes enqueued', value: changed.counts?.enqueued ?? Number.NaN, unit: 'count' },
        { label: REFERENCE_WALL_ROW, value: reference.wallMs, unit: 'ms' },
        { label: 'reference SCAN + HGETALL: peak RSS of the process', value: mib(reference.maxRssBytes), unit: 'MiB' },
        { label: 'reference SCAN + HGETALL: keys read', value: reference.keys ?? Number.NaN, unit: 'count' },
      ],
      ratios: [
        ratio('20 s / unchanged sweep wall time', GOAL_WALL_MS / unchanged.wallMs, 1, { ours: UNCHANGED_WALL_ROW }),
        ratio('200 MB / unchanged sweep peak RSS', GOAL_RSS_BYTES / unchanged.maxRssBytes, 1, { ours: UNCHANGED_RSS_ROW }),
        ratio('reference wall time / unchanged sweep wall time', reference.wallMs / unchanged.wallMs, undefined, { ours: UNCHANGED_WALL_ROW, reference: REFERENCE_WALL_ROW }),
        ratio('reference wall time / 1%-changed sweep wall time', reference.wallMs / changed.wallMs, undefined, { ours: CHANGED_WALL_ROW, reference: REFERENCE_WALL_ROW }),
      ],
      notes: [
        'Wall time is the run alone (runNow: lock, pages, plan, marks, run record), measured in the child after its connections are up; peak RSS is getrusage maxrss of the child, Node and its modules included.',
        'Probes are answered by a stub (one target; a real OPTIONS probe adds one round trip per target per sweep.probeEveryMs). No delivery worker runs: the 1% are marked dirty and the drains woken, not delivered. sweep.maxDueBacklog is raised so the changed run is not paced by an undrained queue.',
        'The reference reads whole hashes and parses nothing; the sweep reads 5 fields per mailbox plus its dirty mark in one Lua call per page and parses JSON only for mailboxes that need something. Redis runs without AOF here (seeding speed).',
      ],
    };
  } finally {
    await client.quit().catch(() => client.disconnect());
    await redis.dispose();
  }
}
