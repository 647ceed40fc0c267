/**
 * End to end: delivered PUBLISH/s through the queue (mailboxes dirty in Redis -> drain jobs ->
 * sender -> SIPp UAS), beside the naive reference (one BullMQ job per event calling a sip.js
 * Publisher) and raw SIPp UAC against the same UAS, in one run.
 * Latency: every sender.send() of the drain jobs, beside SIPp's own (-trace_rtt) at our rate.
 * Goal (issue 3): 3x naive and half of raw SIPp.
 */
import { readFileSync } from 'node:fs';
import { performance } from 'node:perf_hooks';
import pino from 'pino';
import { loadConfig } from '../config/load.ts';
import { systemClock } from '../src/clock.ts';
import { createSipSender } from '../src/delivery/create-sip-sender.ts';
import type { MwiSender } from '../src/delivery/sender.ts';
import { startDelivery } from '../src/queue/delivery-runtime.ts';
import { storeKeys } from '../src/store/keys.ts';
import { RedisPublicationStore } from '../src/store/redis-publication-store.ts';
import { createStoreClient } from '../src/store/store-client.ts';
import { startRedis } from '../test/harness/redis.ts';
import { startSippUas, type SippUasHandle } from '../test/harness/sipp.ts';
import { LatencyRecorder } from './latency-percentiles.ts';
import { highestCleanRate, RAW_STEP_SEC, rawSippRamp, sippLatency } from './raw-sipp.ts';
import { startNaive } from './reference/naive-publisher.ts';
import { ratio, type BenchResult } from './report.ts';

const MAILBOXES = 30_000;
const APPLY_BATCH = 1_000;
const NAIVE_EVENTS = 10_000;
const NAIVE_CONCURRENCY = 50;
const TIME_LIMIT_MS = 120_000;
const RAW_ROW = 'raw SIPp UAC: highest clean rate';
const NAIVE_ROW = 'naive (one job per event, sip.js Publisher)';
const OURS_ROW = 'ours: mailboxes delivered through the queue';

/** `sender` with the time of every send() (to its outcome) recorded. */
function timedSender(sender: MwiSender, latency: LatencyRecorder): MwiSender {
  return {
    send: (delivery) => {
      const t0 = performance.now();
      return sender.send(delivery).finally(() => latency.add(performance.now() - t0));
    },
    probe: (target, hop) => sender.probe(target, hop),
    close: () => sender.close(),
  };
}

async function uasRequests(uas: SippUasHandle): Promise<number> {
  // -trace_stat is written every second: wait for the line that covers what was sent.
  await new Promise((r) => setTimeout(r, 1_200));
  return (await uas.stats())?.incomingCalls ?? 0;
}

async function until(check: () => Promise<boolean>, what: string): Promise<void> {
  const deadline = Date.now() + TIME_LIMIT_MS;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

export async function run(): Promise<BenchResult> {
  const redis = await startRedis({ appendonly: true, label: 'bench-e2e' });
  const uas = await startSippUas({ scenario: 'uas-200', transport: 'udp', countRequests: false, label: 'bench-e2e' });
  const log = pino({ level: 'silent' });
  try {
    const raw = await rawSippRamp(uas);
    const rawRate = highestCleanRate(raw);

    // Ours: every mailbox dirty at once (as after an outage), then the queue drains them.
    const config = loadConfig({ flags: { 'redis.url': redis.url, 'targets.defaultPublishTarget': uas.uri }, env: {}, readFile: (p) => readFileSync(p, 'utf8') });
    const publicationsRedis = await createStoreClient({ url: redis.url });
    const built = await createSipSender({ config, clock: systemClock, log, readFile: (p) => readFileSync(p), store: new RedisPublicationStore({ redis: publicationsRedis, keys: storeKeys(config.redis.keyPrefix) }) });
    const sendLatency = new LatencyRecorder();
    const runtime = await startDelivery({ config, log, clock: systemClock, redisUrl: redis.url, sender: timedSender(built.sender, sendLatency) });
    const before = await uasRequests(uas);
    const t0 = performance.now();
    for (let b = 0; b < MAILBOXES / APPLY_BATCH; b++) {
      const updates = Array.from({ length: APPLY_BATCH }, (_, k) => {
        const i = b * APPLY_BATCH + k;
        return { mailbox: `sip:${i}@e2e.test`, route: { mode: 'publish' as const, target: uas.uri }, summary: { counts: { 'voice-message': { new: 1 + (i % 5), old: i % 3 } } }, version: 1 };
      });
      await runtime.store.applyUpdates(updates);
      await runtime.scheduler.schedule(updates.map((u) => u.mailbox));
    }
    await until(async () => (await runtime.store.dirtyCount()) === 0, 'the queue to drain');
    const oursMs = performance.now() - t0;
    const oursRate = MAILBOXES / (oursMs / 1000);
    const oursRequests = (await uasRequests(uas)) - before;
    await runtime.close();
    await built.sender.close();
    await publicationsRedis.quit();

    // Naive: one job per event.
    const naive = await startNaive({ redisUrl: redis.url, queueName: 'naive', target: { host: uas.host, port: uas.port }, concurrency: NAIVE_CONCURRENCY });
    const naiveBefore = await uasRequests(uas);
    const n0 = performance.now();
    for (let b = 0; b < NAIVE_EVENTS / APPLY_BATCH; b++) {
      await naive.queue.addBulk(
        Array.from({ length: APPLY_BATCH }, (_, k) => ({ name: 'mwi', data: { mailbox: `sip:${b * APPLY_BATCH + k}@naive.test`, summary: { counts: { 'voice-message': { new: 1, old: 0 } } } } })),
      );
    }
    await until(() => Promise.resolve(naive.completed() >= NAIVE_EVENTS), 'the naive jobs');
    const naiveMs = performance.now() - n0;
    const naiveRate = NAIVE_EVENTS / (naiveMs / 1000);
    const naiveRequests = (await uasRequests(uas)) - naiveBefore;
    await naive.close();

    // SIPp's own latency at the rate ours delivered, so both loads on the UAS are alike.
    const rawLatencyRate = Math.max(1_000, Math.floor(oursRate / 1_000) * 1_000);
    const rawLatency = await sippLatency(uas, { ratePerSec: rawLatencyRate, peerPid: uas.pid, label: 'bench-e2e-raw-latency' });

    return {
      name: 'end-to-end',
      description:
        'Delivered PUBLISH/s through the queue (every mailbox dirty at once in Redis, drain jobs, sender, SIPp UAS answering 200) beside the naive reference (one BullMQ job per event calling a sip.js Publisher) and raw SIPp UAC against the same UAS, in one run. Goals: 3x naive, half of raw SIPp.',
      rows: [
        { label: RAW_ROW, value: rawRate, unit: 'PUBLISH/s' },
        { label: NAIVE_ROW, value: naiveRate, unit: 'events/s' },
        { label: 'naive: PUBLISH requests per event at the UAS', value: naiveRequests / NAIVE_EVENTS, unit: 'ratio' },
        { label: OURS_ROW, value: oursRate, unit: 'PUBLISH/s' },
        { label: 'ours: time to drain', value: oursMs, unit: 'ms' },
        { label: 'ours: PUBLISH requests per mailbox at the UAS', value: oursRequests / MAILBOXES, unit: 'ratio' },
      ],
      ratios: [ratio('ours / naive', oursRate / naiveRate, 3, { ours: OURS_ROW, reference: NAIVE_ROW }), ratio('ours / raw SIPp', oursRate / rawRate, 0.5, { ours: OURS_ROW, reference: RAW_ROW })],
      percentiles: {
        'ours: sender.send() inside the worker': sendLatency.percentiles(),
        [`raw SIPp UAC, open loop at ${rawLatencyRate.toLocaleString('en-US')}/s`]: rawLatency.latency,
      },
      notes: [
        `${MAILBOXES.toLocaleString('en-US')} mailboxes dirty at once (applied in batches of ${APPLY_BATCH} with schedule() after each), one worker in this process with default delivery settings (concurrency ${config.delivery.concurrency}, batch ${config.delivery.batchSize}); redis-server with AOF everysec; the naive reference gets ${NAIVE_EVENTS.toLocaleString('en-US')} events (one per mailbox) at BullMQ concurrency ${NAIVE_CONCURRENCY}. Its jobs complete when sip.js hands the PUBLISH to the transport (Publisher.publish() reports nothing more).`,
        `Latency per transaction: ours is each sender.send() the drain jobs made (PUBLISH out to its final response, ETag read and write included), ${config.delivery.concurrency} in flight at most; ` +
          `raw SIPp from its -trace_rtt (whole milliseconds) in one more ${RAW_STEP_SEC} s step at about our delivery rate (asked ${rawLatencyRate.toLocaleString('en-US')}/s, achieved ${Math.round(rawLatency.step.achievedPerSec).toLocaleString('en-US')}/s, ${rawLatency.step.failed} failed, ${rawLatency.step.retransmissions} retransmissions). ` +
          'The naive reference has none to show: its jobs end when sip.js hands the PUBLISH to the transport, before any response.',
        `Raw SIPp ramp: ${raw.map((s) => `${s.askedPerSec}/s -> ${Math.round(s.achievedPerSec)}/s${s.clean ? '' : ' (not clean)'}`).join(', ')}.`,
      ],
    };
  } finally {
    await uas.stop();
    await redis.stop();
  }
}
