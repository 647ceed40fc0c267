/**
 * Ingest: MWI updates per second accepted through the HTTP batch API (raw fetch) and through the
 * TypeScript client, beside BullMQ `addBulk` of one job per update into the same Redis in the same
 * run. Ours does more per update than addBulk (validation, ordering check against the stored
 * version, dirty marking, scheduling) and answers only once the batch is durable in Redis.
 * Redis runs with appendonly yes / appendfsync everysec, as the embedded default does.
 */
import { readFileSync } from 'node:fs';
import { performance } from 'node:perf_hooks';
import { Queue } from 'bullmq';
import { Redis } from 'ioredis';
import pino from 'pino';
import { loadConfig } from '../config/load.ts';
import { startApi } from '../src/api/server.ts';
import { MwiClient } from '../src/client/mwi-client.ts';
import { systemClock } from '../src/clock.ts';
import type { MwiSender } from '../src/delivery/sender.ts';
import { IngestService } from '../src/ingest/ingest-service.ts';
import { startDelivery } from '../src/queue/delivery-runtime.ts';
import { startRedis } from '../test/harness/redis.ts';
import { ratio, type BenchResult } from './report.ts';

const MAILBOXES = 10_000;
const UPDATES = 200_000;
const BATCH = 1_000;
const PARALLEL_REQUESTS = 4;
const TOKEN = 'bench-producer-token';
const ADD_BULK_ROW = 'BullMQ addBulk (reference), one job per update';
const HTTP_ROW = 'HTTP batch API (fetch)';
const CLIENT_ROW = 'MwiClient.updateBatch';

const unusedSender: MwiSender = {
  send: () => Promise.reject(new Error('no deliveries in the ingest benchmark')),
  probe: () => Promise.reject(new Error('no probes in the ingest benchmark')),
  close: () => Promise.resolve(),
};

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
  const log = pino({ level: 'silent' });
  const config = loadConfig({
    flags: { 'redis.url': redis.url, 'api.port': 0, 'api.producerToken': TOKEN, 'api.maxBatchUpdates': BATCH, 'targets.defaultPublishTarget': 'sip:127.0.0.1:5060' },
    env: {},
    readFile: (p) => readFileSync(p, 'utf8'),
  });
  const delivery = await startDelivery({ config, log, clock: systemClock, redisUrl: redis.url, sender: unusedSender, workers: false });
  const ingest = new IngestService({ store: delivery.store, scheduler: delivery.scheduler, log, maxBatchUpdates: BATCH, defaultPublishTarget: config.targets.defaultPublishTarget });
  const api = await startApi({ config, log, ingest, store: delivery.store });
  const refConnection = new Redis(redis.url, { maxRetriesPerRequest: null });
  const refQueue = new Queue('bench-addbulk', { connection: refConnection, prefix: '{bench}' });
  const batches = UPDATES / BATCH;
  const batchOf = (b: number, round: number) => Array.from({ length: BATCH }, (_, k) => update(b * BATCH + k, round));
  try {
    // Warm-up of every path (JIT, connections), not counted.
    await refQueue.addBulk(batchOf(0, 0).map((data) => ({ name: 'mwi', data })));
    const client = new MwiClient({ baseUrl: api.url, token: TOKEN });
    await client.updateBatch(batchOf(1, 0));

    const addBulk = await timed(batches, PARALLEL_REQUESTS, async (b) => {
      await refQueue.addBulk(batchOf(b, 1).map((data) => ({ name: 'mwi', data })));
    });
    const http = await timed(batches, PARALLEL_REQUESTS, async (b) => {
      const res = await fetch(`${api.url}/v1/mwi`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', authorization: `Bearer ${TOKEN}` },
        body: JSON.stringify({ updates: batchOf(b, 2) }),
      });
      if (res.status !== 202) throw new Error(`HTTP ${res.status}: ${await res.text()}`);
      await res.arrayBuffer();
    });
    const viaClient = await timed(batches, PARALLEL_REQUESTS, async (b) => {
      await client.updateBatch(batchOf(b, 3));
    });
    const dirty = await delivery.store.dirtyCount();
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
        `${UPDATES.toLocaleString('en-US')} updates per path over ${MAILBOXES.toLocaleString('en-US')} mailboxes, batches of ${BATCH}, ${PARALLEL_REQUESTS} batches in flight; redis-server on loopback with appendonly yes, appendfsync everysec; API and Redis on the same 2-core machine as the load generator.`,
      ],
    };
  } finally {
    await refQueue.close();
    await refConnection.quit();
    await api.close();
    await delivery.close();
    await redis.stop();
  }
}
