/**
 * Ingest: MWI updates per second accepted through the HTTP batch API (raw fetch) and through the
 * TypeScript client, beside BullMQ `addBulk` of one job per update into the same Redis in the same
 * run. Ours does more per update than addBulk (validation, ordering check against the stored
 * version, dirty marking, scheduling) and answers only once the batch is durable in Redis.
 * Redis runs with appendonly yes / appendfsync everysec, as the embedded default does.
 * The API runs as deployed, in a process of its own (`mwi start --no-workers`, NODE_OPTIONS as in
 * the Dockerfile); this process is the producer, as a PBX platform would be, for both paths.
 * Every path is warmed up (JIT, connections) with WARMUP_BATCHES batches first, not counted.
 */
import { performance } from 'node:perf_hooks';
import { Queue } from 'bullmq';
import { Redis } from 'ioredis';
import { MwiClient } from '../src/client/mwi-client.ts';
import { storeKeys } from '../src/store/keys.ts';
import { startRedis } from '../test/harness/redis.ts';
import { spawnApiProcess } from '../test/support/api-process.ts';
import { ratio, type BenchResult } from './report.ts';

const MAILBOXES = 10_000;
const UPDATES = 200_000;
const BATCH = 1_000;
const PARALLEL_REQUESTS = 4;
const WARMUP_BATCHES = 20;
const TOKEN = 'bench-producer-token';
const ADD_BULK_ROW = 'BullMQ addBulk (reference), one job per update';
const HTTP_ROW = 'HTTP batch API (fetch)';
const CLIENT_ROW = 'MwiClient.updateBatch';

function update(i: number, round: number) {
  return { mailbox: `sip:${i % MAILBOXES}@bench.test`, counts: { new: i % 7, old: i % 3 }, version: round * UPDATES + i + 1 };
}

/** Runs `batches` batch submissions with `parallel` in flight; returns updates per second. */
async function timed(batches: number, parallel: number, submit: (b: number) => Promise<void>): Promise<number> {
  let next = 0;
  const t0 = performance.now();
  await Promise.all(
    Array.from({ length: parallel }, async () => {
      for (let b = next++; b < batches; b = next++) await submit(b);
    }),
  );
  return (batches * BATCH) / ((performance.now() - t0) / 1000);
}

export async function run(): Promise<BenchResult> {
  const redis = await startRedis({ appendonly: true, label: 'bench-ingest' });
  const api = await spawnApiProcess('bench-ingest', {
    MWI_REDIS__URL: redis.url,
    MWI_API__PRODUCER_TOKEN: TOKEN,
    MWI_API__MAX_BATCH_UPDATES: String(BATCH),
    MWI_TARGETS__DEFAULT_PUBLISH_TARGET: 'sip:127.0.0.1:5060',
    NODE_OPTIONS: '--max-semi-space-size=32',
  });
  const admin = new Redis(redis.url);
  const refConnection = new Redis(redis.url, { maxRetriesPerRequest: null });
  const refQueue = new Queue('bench-addbulk', { connection: refConnection, prefix: '{bench}' });
  const batches = UPDATES / BATCH;
  const batchOf = (b: number, round: number) => Array.from({ length: BATCH }, (_, k) => update(b * BATCH + k, round));
  const post = async (updates: unknown[]): Promise<void> => {
    const res = await fetch(`${api.url}/v1/mwi`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${TOKEN}` },
      body: JSON.stringify({ updates }),
    });
    if (res.status !== 202) throw new Error(`HTTP ${res.status}: ${await res.text()}`);
    await res.arrayBuffer();
  };
  try {
    // Warm-up of every path (JIT, connections), not counted; round 0 versions are below every counted one.
    const client = new MwiClient({ baseUrl: api.url, token: TOKEN });
    for (let b = 0; b < WARMUP_BATCHES; b++) {
      await refQueue.addBulk(batchOf(b, 0).map((data) => ({ name: 'mwi', data })));
      await post(batchOf(b, 0));
      await client.updateBatch(batchOf(b, 0));
    }

    const addBulk = await timed(batches, PARALLEL_REQUESTS, async (b) => {
      await refQueue.addBulk(batchOf(b, 1).map((data) => ({ name: 'mwi', data })));
    });
    const http = await timed(batches, PARALLEL_REQUESTS, (b) => post(batchOf(b, 2)));
    const viaClient = await timed(batches, PARALLEL_REQUESTS, async (b) => {
      await client.updateBatch(batchOf(b, 3));
    });
    const dirty = await admin.zcard(storeKeys().dirty());
    return {
      name: 'ingest',
      description:
        'MWI updates per second accepted (202, durable in Redis with AOF) through POST /v1/mwi batches and through MwiClient, beside BullMQ addBulk of one job per update into the same Redis in the same run. Goal: 1.4x addBulk.',
      rows: [
        { label: ADD_BULK_ROW, value: addBulk, unit: 'updates/s' },
        { label: HTTP_ROW, value: http, unit: 'updates/s' },
        { label: CLIENT_ROW, value: viaClient, unit: 'updates/s' },
        { label: 'mailboxes dirty afterwards (bounded by mailboxes, not updates)', value: dirty, unit: 'count' },
      ],
      ratios: [
        ratio('HTTP batch API / addBulk', http / addBulk, 1.4, { ours: HTTP_ROW, reference: ADD_BULK_ROW }),
        ratio('MwiClient / addBulk', viaClient / addBulk, 1.4, { ours: CLIENT_ROW, reference: ADD_BULK_ROW }),
      ],
      notes: [
        `${UPDATES.toLocaleString('en-US')} updates per path over ${MAILBOXES.toLocaleString('en-US')} mailboxes, batches of ${BATCH}, ${PARALLEL_REQUESTS} batches in flight, after ${WARMUP_BATCHES} warm-up batches per path; redis-server on loopback with appendonly yes, appendfsync everysec. The API is its own process (mwi start --no-workers, NODE_OPTIONS=--max-semi-space-size=32 as in the Dockerfile); this process is the producer for every path (BullMQ Queue, fetch, MwiClient). API, Redis and producer share the same 2-core machine.`,
      ],
    };
  } finally {
    await refQueue.close();
    await refConnection.quit();
    admin.disconnect();
    await api.proc.stop();
    await redis.stop();
  }
}
