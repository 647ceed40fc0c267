/**
 * Coalescing: 1,000,000 MWI events for 10,000 mailboxes go through the ingest path while a worker
 * delivers to a SIPp UAS. MWI is state, not events: PUBLISHes sent and Redis size are bounded by
 * the mailboxes, not by the events. Reference in the same run: the same events as one BullMQ job
 * each (what a per-event queue holds as backlog), counted in keys and memory of a second Redis.
 */
import { readFileSync } from 'node:fs';
import { performance } from 'node:perf_hooks';
import { Queue } from 'bullmq';
import { Redis } from 'ioredis';
import pino from 'pino';
import { loadConfig } from '../config/load.ts';
import { systemClock } from '../src/clock.ts';
import { createSipSender } from '../src/delivery/create-sip-sender.ts';
import { IngestService } from '../src/ingest/ingest-service.ts';
import { startDelivery } from '../src/queue/delivery-runtime.ts';
import { storeKeys } from '../src/store/keys.ts';
import { RedisPublicationStore } from '../src/store/redis-publication-store.ts';
import { createStoreClient } from '../src/store/store-client.ts';
import { startRedis, type RedisHandle } from '../test/harness/redis.ts';
import { startSippUas } from '../test/harness/sipp.ts';
import { ratio, type BenchResult } from './report.ts';

const EVENTS = 1_000_000;
const MAILBOXES = 10_000;
const BATCH = 1_000;
const OURS_PUBLISHES_ROW = 'ours: PUBLISH requests sent';
const OURS_MEMORY_ROW = 'ours: Redis used memory right after ingest';
const PER_EVENT_JOBS_ROW = 'per-event queue: jobs = PUBLISHes it would send';
const PER_EVENT_MEMORY_ROW = 'per-event queue: Redis used memory (backlog)';

async function redisFootprint(redis: RedisHandle): Promise<{ keys: number; usedMemoryBytes: number }> {
  const client = new Redis(redis.url);
  try {
    const keys = await client.dbsize();
    const info = await client.info('memory');
    const usedMemoryBytes = Number(/used_memory:(\d+)/.exec(info)?.[1] ?? Number.NaN);
    return { keys, usedMemoryBytes };
  } finally {
    await client.quit();
  }
}

function event(i: number) {
  // Events for a mailbox arrive in order of their version, as a PBX emits them.
  return { mailbox: `sip:${i % MAILBOXES}@coalesce.test`, counts: { new: i % 4, old: (i >> 2) % 5 }, version: i + 1 };
}

export async function run(): Promise<BenchResult> {
  const ours = await startRedis({ appendonly: true, label: 'bench-coalesce' });
  const reference = await startRedis({ appendonly: true, label: 'bench-coalesce-ref' });
  const uas = await startSippUas({ scenario: 'uas-200', transport: 'udp', countRequests: false, label: 'bench-coalesce' });
  const log = pino({ level: 'silent' });
  try {
    const config = loadConfig({ flags: { 'redis.url': ours.url, 'targets.defaultPublishTarget': uas.uri }, env: {}, readFile: (p) => readFileSync(p, 'utf8') });
    const publicationsRedis = await createStoreClient({ url: ours.url });
    const built = await createSipSender({ config, clock: systemClock, log, readFile: (p) => readFileSync(p), store: new RedisPublicationStore({ redis: publicationsRedis, keys: storeKeys(config.redis.keyPrefix) }) });
    const runtime = await startDelivery({ config, log, clock: systemClock, redisUrl: ours.url, sender: built.sender });
    const ingest = new IngestService({ store: runtime.store, scheduler: runtime.scheduler, log, maxBatchUpdates: BATCH, defaultPublishTarget: uas.uri });

    const t0 = performance.now();
    for (let b = 0; b < EVENTS / BATCH; b++) {
      const result = await ingest.accept(
        Array.from({ length: BATCH }, (_, k) => event(b * BATCH + k)),
        { partial: false },
      );
      if (result.refused) throw new Error(`refused: ${result.issue.code}`);
    }
    const ingestMs = performance.now() - t0;
    const afterIngest = await redisFootprint(ours);
    const deadline = Date.now() + 120_000;
    while ((await runtime.store.dirtyCount()) > 0) {
      if (Date.now() > deadline) throw new Error('queue did not drain within 120 s');
      await new Promise((r) => setTimeout(r, 50));
    }
    const totalMs = performance.now() - t0;
    await new Promise((r) => setTimeout(r, 1_200)); // SIPp writes its counters every second
    const publishes = (await uas.stats())?.incomingCalls ?? Number.NaN;
    const drained = await redisFootprint(ours);
    await runtime.close();
    await built.sender.close();
    await publicationsRedis.quit();

    // Reference: one BullMQ job per event, the backlog a per-event queue holds while its consumer is down.
    const refConnection = new Redis(reference.url, { maxRetriesPerRequest: null });
    const refQueue = new Queue('per-event', { connection: refConnection });
    const r0 = performance.now();
    for (let b = 0; b < EVENTS / BATCH; b++) {
      await refQueue.addBulk(Array.from({ length: BATCH }, (_, k) => ({ name: 'mwi', data: event(b * BATCH + k) })));
    }
    const refMs = performance.now() - r0;
    const perEvent = await redisFootprint(reference);
    await refQueue.close();
    await refConnection.quit();

    return {
      name: 'coalescing',
      description: `${EVENTS.toLocaleString('en-US')} MWI events for ${MAILBOXES.toLocaleString('en-US')} mailboxes through the ingest path with a worker delivering to a SIPp UAS, beside the same events as one BullMQ job each (a per-event queue's backlog) in a second Redis, in one run.`,
      rows: [
        { label: 'events accepted', value: EVENTS, unit: 'count' },
        { label: 'ours: ingest time (1000-update batches, validated, durable)', value: ingestMs, unit: 'ms' },
        { label: 'ours: time until every mailbox delivered its latest state', value: totalMs, unit: 'ms' },
        { label: OURS_PUBLISHES_ROW, value: publishes, unit: 'count' },
        { label: 'ours: Redis keys right after ingest', value: afterIngest.keys, unit: 'count' },
        { label: OURS_MEMORY_ROW, value: afterIngest.usedMemoryBytes / 1_048_576, unit: 'MiB' },
        { label: 'ours: Redis keys once drained', value: drained.keys, unit: 'count' },
        { label: PER_EVENT_JOBS_ROW, value: EVENTS, unit: 'count' },
        { label: 'per-event queue: Redis keys (backlog)', value: perEvent.keys, unit: 'count' },
        { label: PER_EVENT_MEMORY_ROW, value: perEvent.usedMemoryBytes / 1_048_576, unit: 'MiB' },
        { label: 'per-event queue: addBulk time', value: refMs, unit: 'ms' },
      ],
      ratios: [
        ratio('events per PUBLISH sent (coalescing factor)', EVENTS / publishes, undefined, { ours: OURS_PUBLISHES_ROW, reference: PER_EVENT_JOBS_ROW }),
        ratio('per-event backlog memory / ours', perEvent.usedMemoryBytes / afterIngest.usedMemoryBytes, undefined, { ours: OURS_MEMORY_ROW, reference: PER_EVENT_MEMORY_ROW }),
      ],
      notes: [
        'Every event is a newer version of its mailbox (in order per mailbox); each mailbox is delivered at least once and at most once per accepted version. ' +
          'PUBLISHes above the mailbox count are deliveries of intermediate states that a worker picked up before newer ones arrived: the sender is idle otherwise, so it publishes what is current; the backlog never exceeds one entry per mailbox.',
        'Both Redis servers run with appendonly yes / appendfsync everysec on loopback; memory is INFO used_memory.',
      ],
    };
  } finally {
    await uas.stop();
    await ours.stop();
    await reference.stop();
  }
}
