/**
 * End to end: delivered PUBLISH/s through the queue (mailboxes dirty in Redis -> drain jobs ->
 * sender -> SIPp UAS), beside the naive reference (one BullMQ job per event calling a sip.js
 * Publisher) and raw SIPp UAC against the same UAS, in one run.
 * Ours: the backlog is written while delivery is paused (startDelivery's `paused` seam, which the
 * operator's global pause drives), so the time measures delivery alone, from the resume until the
 * dirty set is empty; ingest is benchmarked on its own (ingest.bench.ts). A first, uncounted
 * round warms the JIT. Measured in three rounds with the default delivery.concurrency (the fastest
 * is reported, every round's rate noted: the raw reference is its ramp's best step too) and once
 * with a larger one; the floor in three rounds likewise.
 * Latency: every sender.send() of the drain jobs, beside SIPp's own (-trace_rtt) at our rate.
 * Goal (issue 3): 3x naive and half of raw SIPp.
 */
import { readFileSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { performance } from 'node:perf_hooks';
import pino from 'pino';
import { loadConfig } from '../config/load.ts';
import { systemClock } from '../src/clock.ts';
import { createSipSender } from '../src/delivery/create-sip-sender.ts';
import type { MwiSender } from '../src/delivery/sender.ts';
import { startDelivery } from '../src/queue/delivery-runtime.ts';
import { storeKeys } from '../src/store/keys.ts';
import type { Redis } from 'ioredis';
import { RedisPublicationStore } from '../src/store/redis-publication-store.ts';
import { createStoreClient } from '../src/store/store-client.ts';
import { startRedis, type RedisHandle } from '../test/harness/redis.ts';
import { startSippUas, type SippUasHandle } from '../test/harness/sipp.ts';
import type { MailboxUpdate } from '../src/store/mailbox-state.ts';
import { LatencyRecorder } from './latency-percentiles.ts';
import { processCpuMs } from './process-cpu.ts';
import { highestCleanRate, RAW_STEP_SEC, rawSippRamp, sippLatency } from './raw-sipp.ts';
import { runFloor, seedFloor, type FloorOptions } from './reference/floor-deliverer.ts';
import { startNaive } from './reference/naive-publisher.ts';
import { ratio, type BenchResult } from './report.ts';

const MAILBOXES = 100_000;
const WARMUP_MAILBOXES = 20_000;
const APPLY_BATCH = 1_000;
/** Deliveries in flight per worker process in the second measurement (the default is 200). */
const WIDE_CONCURRENCY = 1_000;
/**
 * Measured rounds of ours (default concurrency) and of the floor, the fastest reported: this
 * machine's speed drifts by a third within a minute, and the raw reference is the best of its
 * ramp's steps too. Every round's rate is in the notes.
 */
const BEST_OF = 3;
const NAIVE_EVENTS = 10_000;
const NAIVE_CONCURRENCY = 50;
const TIME_LIMIT_MS = 120_000;
const RAW_ROW = 'raw SIPp UAC: highest clean rate';
const NAIVE_ROW = 'naive (one job per event, sip.js Publisher)';
const OURS_ROW = `ours: mailboxes delivered through the queue (fastest of ${BEST_OF} rounds)`;
const OURS_WIDE_ROW = `ours, delivery.concurrency ${WIDE_CONCURRENCY}: mailboxes delivered through the queue`;
const FLOOR_ROW = `floor (dgram + plain ioredis commands, no SIP stack, no fence): mailboxes delivered (fastest of ${BEST_OF} rounds)`;

/** `sender` with the time of every send() (to its outcome) recorded while `recording()`. */
function timedSender(sender: MwiSender, latency: LatencyRecorder, recording: () => boolean): MwiSender {
  return {
    send: (delivery) => {
      if (!recording()) return sender.send(delivery);
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

interface DrainFigures {
  perSec: number;
  elapsedMs: number;
  /** PUBLISH requests the UAS counted during the drain. */
  requests: number;
  concurrency: number;
  batchSize: number;
  cpu: { node: number; redis: number; uas: number };
  /** Redis commands during the drain (INFO commandstats: those run inside scripts included), and script calls. */
  redisCalls: { commands: number; scripts: number };
  /** Every measured round's rate; the other figures are of the fastest round. */
  rates: number[];
}

function perMailboxUs(f: DrainFigures, who: keyof DrainFigures['cpu']): string {
  return ((f.cpu[who] * f.elapsedMs * 1000) / MAILBOXES).toFixed(0);
}

/** Calls per command name since the server started (INFO commandstats). */
async function commandCalls(redis: Redis): Promise<Map<string, number>> {
  const calls = new Map<string, number>();
  for (const m of (await redis.info('commandstats')).matchAll(/^cmdstat_([^:]+):calls=(\d+)/gm)) calls.set(m[1] ?? '', Number(m[2]));
  return calls;
}

/** Commands run between two commandstats readings, and how many of them were script calls (EVALSHA/EVAL); INFO itself not counted. */
function callsBetween(before: Map<string, number>, after: Map<string, number>): { commands: number; scripts: number } {
  let commands = 0;
  let scripts = 0;
  for (const [name, n] of after) {
    if (name === 'info') continue;
    const d = n - (before.get(name) ?? 0);
    commands += d;
    if (name === 'evalsha' || name === 'eval') scripts += d;
  }
  return { commands, scripts };
}

/** The fastest of the measured rounds, with every round's rate. */
function fastestOf<T extends { perSec: number }>(measured: readonly T[]): T & { rates: number[] } {
  const best = measured.reduce((a, b) => (b.perSec > a.perSec ? b : a));
  return { ...best, rates: measured.map((m) => m.perSec) };
}

interface FloorFigures {
  perSec: number;
  delivered: number;
  lost: number;
  elapsedMs: number;
  cpuUs: { node: number; redis: number; uas: number };
  /** Every measured round's rate; the other figures are of the fastest round. */
  rates: number[];
}

/**
 * The floor reference (bench/reference/floor-deliverer.ts) over MAILBOXES other mailboxes, at our
 * default concurrency, after a warm-up round of its own, `rounds` times as ours: the figures of
 * the fastest round (CPU of the three processes as for ours), and every round's rate.
 */
async function floorRun(redis: RedisHandle, uas: SippUasHandle, concurrency: number, rounds: number): Promise<FloorFigures> {
  const options = (prefix: string): FloorOptions => ({ redisUrl: redis.url, target: { host: uas.host, port: uas.port }, concurrency, prefix });
  const mailboxes = (prefix: string, count: number) =>
    updatesFor(prefix, 0, count, uas.uri).map((u) => ({ mailbox: u.mailbox, summary: u.summary }));
  await seedFloor(options('{floor-warm}'), mailboxes('floor-warm', WARMUP_MAILBOXES));
  await runFloor(options('{floor-warm}'));
  const measured: Array<Omit<FloorFigures, 'rates'>> = [];
  for (let k = 0; k < rounds; k++) {
    await seedFloor(options(`{floor${k}}`), mailboxes(`floor${k}-`, MAILBOXES));
    const redis0 = processCpuMs(redis.pid());
    const uas0 = processCpuMs(uas.pid);
    const run = await runFloor(options(`{floor${k}}`));
    const us = (a: number | undefined, b: number | undefined): number => (a === undefined || b === undefined ? Number.NaN : ((b - a) * 1000) / run.delivered);
    measured.push({
      perSec: run.delivered / (run.elapsedMs / 1000),
      delivered: run.delivered,
      lost: run.lost,
      elapsedMs: run.elapsedMs,
      cpuUs: { node: (run.cpuMs * 1000) / run.delivered, redis: us(redis0, processCpuMs(redis.pid())), uas: us(uas0, processCpuMs(uas.pid)) },
    });
  }
  return fastestOf(measured);
}

function updatesFor(prefix: string, from: number, count: number, uri: string): MailboxUpdate[] {
  return Array.from({ length: count }, (_, k) => {
    const i = from + k;
    return { mailbox: `sip:${prefix}${i}@e2e.test`, route: { mode: 'publish' as const, target: uri }, summary: { counts: { 'voice-message': { new: 1 + (i % 5), old: i % 3 } } }, version: 1 };
  });
}

/**
 * One worker in this process (the sender, startDelivery) with `flags`: a warm-up round, then
 * `rounds` times MAILBOXES written while delivery is paused and timed from the resume until all
 * are delivered; the figures of the fastest round, and every round's rate.
 */
async function drainThroughQueue(redis: RedisHandle, uas: SippUasHandle, flags: Record<string, unknown>, rounds: number, latency?: LatencyRecorder): Promise<DrainFigures> {
  const config = loadConfig({ flags: { 'redis.url': redis.url, 'targets.defaultPublishTarget': uas.uri, ...flags }, env: {}, readFile: (p) => readFileSync(p, 'utf8') });
  const log = pino({ level: 'silent' });
  const publicationsRedis = await createStoreClient({ url: redis.url });
  const built = await createSipSender({ config, clock: systemClock, log, readFile: (p) => readFileSync(p), store: new RedisPublicationStore({ redis: publicationsRedis, keys: storeKeys(config.redis.keyPrefix) }) });
  let paused = false;
  let measuring = false;
  const sender = latency ? timedSender(built.sender, latency, () => measuring) : built.sender;
  const runtime = await startDelivery({ config, log, clock: systemClock, redisUrl: redis.url, sender, paused: () => paused });
  try {
    /** Writes the backlog while paused, then (after `atResume`) times the drain. */
    const round = async (prefix: string, count: number, atResume?: () => Promise<void>): Promise<number> => {
      paused = true;
      for (let b = 0; b < count / APPLY_BATCH; b++) {
        const updates = updatesFor(prefix, b * APPLY_BATCH, APPLY_BATCH, uas.uri);
        await runtime.store.applyUpdates(updates);
        await runtime.scheduler.schedule(updates.map((u) => u.mailbox));
      }
      await atResume?.();
      const t0 = performance.now();
      paused = false;
      await runtime.scheduler.schedule([updatesFor(prefix, 0, 1, uas.uri)[0]?.mailbox ?? '']);
      await until(async () => (await runtime.store.dirtyCount()) === 0, 'the queue to drain');
      return performance.now() - t0;
    };
    await round('warm', WARMUP_MAILBOXES);
    const measured: Array<Omit<DrainFigures, 'rates'>> = [];
    for (let k = 0; k < rounds; k++) {
      const before = await uasRequests(uas);
      // CPU and Redis commands from the resume on: the writing of the backlog is not the drain's.
      let calls0 = new Map<string, number>();
      let cpu0 = { node: process.cpuUsage(), redis: processCpuMs(redis.pid()), uas: processCpuMs(uas.pid) };
      const elapsedMs = await round(`m${k}-`, MAILBOXES, async () => {
        calls0 = await commandCalls(publicationsRedis);
        cpu0 = { node: process.cpuUsage(), redis: processCpuMs(redis.pid()), uas: processCpuMs(uas.pid) };
        measuring = true;
      });
      measuring = false;
      const node = process.cpuUsage(cpu0.node);
      const redisCalls = callsBetween(calls0, await commandCalls(publicationsRedis));
      const redisMs = processCpuMs(redis.pid());
      const uasMs = processCpuMs(uas.pid);
      const cores = (a: number | undefined, b: number | undefined): number => (a === undefined || b === undefined ? Number.NaN : (b - a) / elapsedMs);
      const requests = (await uasRequests(uas)) - before;
      measured.push({
        perSec: MAILBOXES / (elapsedMs / 1000),
        elapsedMs,
        requests,
        concurrency: config.delivery.concurrency,
        batchSize: config.delivery.batchSize,
        cpu: { node: (node.user + node.system) / 1000 / elapsedMs, redis: cores(cpu0.redis, redisMs), uas: cores(cpu0.uas, uasMs) },
        redisCalls,
      });
    }
    return fastestOf(measured);
  } finally {
    await runtime.close();
    await built.sender.close();
    await publicationsRedis.quit();
  }
}

export async function run(): Promise<BenchResult> {
  const redis = await startRedis({ appendonly: true, label: 'bench-e2e' });
  const uas = await startSippUas({ scenario: 'uas-200', transport: 'udp', countRequests: false, label: 'bench-e2e' });
  try {
    const raw = await rawSippRamp(uas);
    const rawRate = highestCleanRate(raw);

    // Ours: every mailbox dirty at once (as after an outage), then the queue drains them.
    const sendLatency = new LatencyRecorder();
    const ours = await drainThroughQueue(redis, uas, {}, BEST_OF, sendLatency);
    const wide = await drainThroughQueue(redis, uas, { 'delivery.concurrency': WIDE_CONCURRENCY, 'redis.keyPrefix': '{mwi-wide}' }, 1);
    const oursRate = ours.perSec;
    const floor = await floorRun(redis, uas, ours.concurrency, BEST_OF);

    // Naive: one job per event.
    const naive = await startNaive({ redisUrl: redis.url, queueName: 'naive', target: { host: uas.host, port: uas.port }, concurrency: NAIVE_CONCURRENCY });
    const naiveBefore = await uasRequests(uas);
    // Its backlog is queued before its worker starts, as ours is written while delivery is paused.
    for (let b = 0; b < NAIVE_EVENTS / APPLY_BATCH; b++) {
      await naive.queue.addBulk(
        Array.from({ length: APPLY_BATCH }, (_, k) => ({ name: 'mwi', data: { mailbox: `sip:${b * APPLY_BATCH + k}@naive.test`, summary: { counts: { 'voice-message': { new: 1, old: 0 } } } } })),
      );
    }
    const n0 = performance.now();
    naive.start();
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
        'Delivered PUBLISH/s through the queue (every mailbox dirty at once in Redis, drain jobs, sender, SIPp UAS answering 200) beside the naive reference (one BullMQ job per event calling a sip.js Publisher), a floor (the least a Node process with ioredis and dgram does to deliver a mailbox) and raw SIPp UAC against the same UAS, in one run. Goals: 3x naive, half of raw SIPp.',
      rows: [
        { label: RAW_ROW, value: rawRate, unit: 'PUBLISH/s' },
        { label: NAIVE_ROW, value: naiveRate, unit: 'events/s' },
        { label: 'naive: PUBLISH requests per event at the UAS', value: naiveRequests / NAIVE_EVENTS, unit: 'ratio' },
        { label: OURS_ROW, value: oursRate, unit: 'PUBLISH/s' },
        { label: 'ours: time to drain', value: ours.elapsedMs, unit: 'ms' },
        { label: 'ours: PUBLISH requests per mailbox at the UAS', value: ours.requests / MAILBOXES, unit: 'ratio' },
        { label: 'ours: CPU of the worker process (node)', value: ours.cpu.node, unit: 'cores' },
        { label: 'ours: CPU of redis-server', value: ours.cpu.redis, unit: 'cores' },
        { label: 'ours: CPU of the SIPp UAS', value: ours.cpu.uas, unit: 'cores' },
        { label: 'ours: Redis commands per delivered mailbox (inside scripts included)', value: ours.redisCalls.commands / MAILBOXES, unit: 'ratio' },
        { label: 'ours: Redis script calls per delivered mailbox', value: ours.redisCalls.scripts / MAILBOXES, unit: 'ratio' },
        { label: 'ours: CPU per delivered mailbox: node, redis-server, SIPp UAS', value: ((ours.cpu.node + ours.cpu.redis + ours.cpu.uas) * ours.elapsedMs * 1000) / MAILBOXES, unit: 'µs' },
        { label: OURS_WIDE_ROW, value: wide.perSec, unit: 'PUBLISH/s' },
        { label: `ours, delivery.concurrency ${WIDE_CONCURRENCY}: PUBLISH requests per mailbox at the UAS`, value: wide.requests / MAILBOXES, unit: 'ratio' },
        { label: `ours, delivery.concurrency ${WIDE_CONCURRENCY}: CPU of node, redis-server, SIPp UAS`, value: wide.cpu.node + wide.cpu.redis + wide.cpu.uas, unit: 'cores' },
        { label: FLOOR_ROW, value: floor.perSec, unit: 'PUBLISH/s' },
        { label: 'floor: requests without a response (not retried)', value: floor.lost, unit: 'count' },
        { label: 'floor: CPU per delivered mailbox: node, redis-server, SIPp UAS', value: floor.cpuUs.node + floor.cpuUs.redis + floor.cpuUs.uas, unit: 'µs' },
      ],
      ratios: [
        ratio('ours / naive', oursRate / naiveRate, 3, { ours: OURS_ROW, reference: NAIVE_ROW }),
        ratio('ours / raw SIPp', oursRate / rawRate, 0.5, { ours: OURS_ROW, reference: RAW_ROW }),
        ratio(`ours, delivery.concurrency ${WIDE_CONCURRENCY} / raw SIPp`, wide.perSec / rawRate, 0.5, { ours: OURS_WIDE_ROW, reference: RAW_ROW }),
        ratio('floor / raw SIPp', floor.perSec / rawRate, undefined, { ours: FLOOR_ROW, reference: RAW_ROW }),
        ratio('ours / floor', oursRate / floor.perSec, undefined, { ours: OURS_ROW, reference: FLOOR_ROW }),
      ],
      percentiles: {
        'ours: sender.send() inside the worker': sendLatency.percentiles(),
        [`raw SIPp UAC, open loop at ${rawLatencyRate.toLocaleString('en-US')}/s`]: rawLatency.latency,
      },
      notes: [
        `Ours: ${MAILBOXES.toLocaleString('en-US')} mailboxes dirty at once. The backlog is written while delivery is paused (batches of ${APPLY_BATCH}, schedule() after each); the time runs from the resume (and one schedule()) until the dirty set is empty. One worker in this process (startDelivery with the sender, no rate gate or breaker), default delivery settings (concurrency ${ours.concurrency}, batch ${ours.batchSize}), ${BEST_OF} rounds of ${MAILBOXES.toLocaleString('en-US')} fresh mailboxes each (${ours.rates.map((r) => Math.round(r).toLocaleString('en-US')).join(', ')} PUBLISH/s; the figures are the fastest round's), then once again with delivery.concurrency ${WIDE_CONCURRENCY} under another key prefix; before each, ${WARMUP_MAILBOXES.toLocaleString('en-US')} other mailboxes are delivered the same way and not counted (JIT warm-up). redis-server with AOF everysec, shared by all phases. ` +
          `CPU (cores, user + system from the resume until the dirty set is empty): default concurrency node ${ours.cpu.node.toFixed(2)}, redis-server ${ours.cpu.redis.toFixed(2)}, SIPp UAS ${ours.cpu.uas.toFixed(2)}; concurrency ${WIDE_CONCURRENCY} node ${wide.cpu.node.toFixed(2)}, redis-server ${wide.cpu.redis.toFixed(2)}, SIPp UAS ${wide.cpu.uas.toFixed(2)} (drained in ${Math.round(wide.elapsedMs)} ms). This machine has ${availableParallelism()} CPUs. ` +
          `Per delivered mailbox at default concurrency: node ${perMailboxUs(ours, 'node')} µs, redis-server ${perMailboxUs(ours, 'redis')} µs, SIPp UAS ${perMailboxUs(ours, 'uas')} µs of CPU; ` +
          `${(ours.redisCalls.commands / MAILBOXES).toFixed(1)} Redis commands (${(ours.redisCalls.scripts / MAILBOXES).toFixed(3)} script calls: the lease and the records are shared by the mailboxes of a moment).`,
        `Naive: ${NAIVE_EVENTS.toLocaleString('en-US')} events (one per mailbox) at BullMQ concurrency ${NAIVE_CONCURRENCY}, queued (addBulk) before its worker starts; the time runs from the start until every job completed. Its jobs complete when sip.js hands the PUBLISH to the transport (Publisher.publish() reports nothing more).`,
        `Latency per transaction: ours is each sender.send() the drain jobs made at default concurrency in all ${BEST_OF} rounds (PUBLISH out to its final response), ${ours.concurrency} in flight at most; ` +
          `raw SIPp from its -trace_rtt (whole milliseconds) in one more ${RAW_STEP_SEC} s step at about our delivery rate (asked ${rawLatencyRate.toLocaleString('en-US')}/s, achieved ${Math.round(rawLatency.step.achievedPerSec).toLocaleString('en-US')}/s, ${rawLatency.step.failed} failed, ${rawLatency.step.retransmissions} retransmissions). ` +
          'The naive reference has none to show: its jobs end when sip.js hands the PUBLISH to the transport, before any response.',
        `Floor (bench/reference/floor-deliverer.ts): the least a Node process does to deliver mailboxes from Redis to the UAS with ioredis and dgram, a yardstick and not a product. Per batch one ZPOPMIN and one pipeline of HMGET; per mailbox one PUBLISH from a template string on one dgram socket, its response matched by Call-ID; per event-loop turn one pipeline of plain HSETs (delivered version and ETag). No SIP transaction layer (no retransmission, no timeout), no lease, no fence against a newer update, no outcome or attempt record, no rate gate, breaker or BullMQ. ` +
          `${MAILBOXES.toLocaleString('en-US')} other mailboxes in the same Redis after a ${WARMUP_MAILBOXES.toLocaleString('en-US')}-mailbox warm-up, at our default concurrency (${ours.concurrency}), ${BEST_OF} rounds as ours (${floor.rates.map((r) => Math.round(r).toLocaleString('en-US')).join(', ')} mailboxes/s); in the fastest, ${floor.delivered.toLocaleString('en-US')} delivered in ${Math.round(floor.elapsedMs)} ms, ${floor.lost} without a response (the UAS's receive buffer overflows in the first burst; not retried). ` +
          `CPU per delivered mailbox: node ${floor.cpuUs.node.toFixed(0)} µs, redis-server ${floor.cpuUs.redis.toFixed(0)} µs, SIPp UAS ${floor.cpuUs.uas.toFixed(0)} µs (ours: ${perMailboxUs(ours, 'node')}, ${perMailboxUs(ours, 'redis')}, ${perMailboxUs(ours, 'uas')}).`,
        `Raw SIPp ramp: ${raw.map((s) => `${s.askedPerSec}/s -> ${Math.round(s.achievedPerSec)}/s${s.clean ? '' : ' (not clean)'}`).join(', ')}.`,
      ],
    };
  } finally {
    await uas.stop();
    await redis.stop();
  }
}
