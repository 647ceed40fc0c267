/**
 * The sweep side of a process (`mwi start`, a delivery worker, or `mwi sweep run` / `mwi resync`
 * for one run): the lock, the run log, the mailbox source and, with `schedule: true`, the BullMQ
 * job scheduler that ticks and a Worker (one job at a time) that runs the ticks.
 *
 * Connections: a fail-fast client (createStoreClient) for the lock, holder and run log, so a
 * Redis outage surfaces at once; the queue producer another; the Worker its own with
 * maxRetriesPerRequest: null, as BullMQ requires. The delivery store and scheduler are the
 * caller's (startDelivery's).
 */
import { Queue, Worker, type Job } from 'bullmq';

import type { Config } from '../../config/schema.ts';
import { sweepTick, type SweepTickResult } from '../../jobs/sweep.ts';
import type { Clock } from '../clock.ts';
import type { Logger } from '../log.ts';
import type { DeliveryScheduler } from '../queue/delivery-scheduler.ts';
import type { MailboxSource } from '../sources/mailbox-source.ts';
import type { IndexedStore } from '../sources/store-source.ts';
import { storeKeys } from '../store/keys.ts';
import { withRedis } from '../store/redis-unavailable.ts';
import { jitteredRetryStrategy, quitOrDisconnect } from '../store/reconnect.ts';
import { createRedisConnection, type RedisClient } from '../store/redis-connection.ts';
import { createStoreClient } from '../store/store-client.ts';
import { createSweepSource } from './create-source.ts';
import { RedisSweepRunLog, type SweepMode, type SweepRunEnd, type SweepRunRecord } from './run-records.ts';
import { RedlockSweepLock, processIdentity } from './sweep-lock.ts';
import { SWEEP_JOB, SWEEP_JOB_OPTIONS, SWEEP_QUEUE, SWEEP_SCHEDULER_ID, sweepTickMs } from './sweep-queue.ts';
import { runSweep, type SweepDeps, type SweepProgress, type SweepResult, type SweepSettings, type SweepStore } from './sweep-run.ts';
import type { Prober } from './target-health.ts';

// A sweep job renews its BullMQ lock every lockDuration / 2 while it runs; after a crash the
// tick is taken again by another worker's stalled check (the run lock lapses by then too).
const JOB_LOCK_DURATION_MS = 30_000;
const JOB_STALLED_INTERVAL_MS = 15_000;
const QUIT_TIMEOUT_MS = 1_000;

export interface SweepRuntimeDeps {
  config: Config;
  log: Logger;
  clock: Clock;
  redisUrl: string;
  /** The delivery store (startDelivery's): what is read, marked and updated. */
  store: SweepStore & IndexedStore;
  /** Wakes drain jobs for what a run queued. */
  scheduler: DeliveryScheduler;
  /** SIP OPTIONS health probes of the presence servers (the MwiSender). */
  prober: Prober;
  /** Default: built from sweep.source. Closed by close(). */
  source?: MailboxSource;
  /** Tick on the sweep.intervalSec schedule and run the ticks here. Default true; false for one-off runs (CLI). */
  schedule?: boolean;
  /** Default: this host and pid. */
  identity?: { host: string; pid: number };
  /** Told how each run of this process ended (the metrics: src/metrics/sweep-metrics.ts). */
  onRunEnd?: (end: SweepRunEnd) => void;
  /** Why scheduled runs must not start now (an operator drain or global pause), or undefined. */
  holdRuns?: () => string | undefined;
}

export interface RunNowOptions {
  mode?: SweepMode;
  dryRun?: boolean;
  onProgress?: (progress: SweepProgress) => unknown;
  /** Aborts this run (reason 'shutdown'); close() aborts it too. */
  signal?: AbortSignal;
}

export interface SweepRuntime {
  /** One run now, under the lock (skipped, with the holder, if another run holds it); no pause check. */
  runNow(opts?: RunNowOptions): Promise<SweepRunRecord>;
  /** The latest run records, newest first. */
  recentRuns(limit: number): Promise<SweepRunRecord[]>;
  /** Stops ticking, aborts a run in progress (reason 'shutdown'), closes connections. */
  close(deadlineMs?: number): Promise<void>;
}

/** The run settings from config. resync-all has no deadline: it is paced by the queue and as long as it takes. */
export function sweepSettings(config: Config, mode: SweepMode = 'sweep'): SweepSettings {
  const s = config.sweep;
  const target = config.targets.defaultPublishTarget;
  return {
    pageSize: s.pageSize,
    refreshMarginMs: s.refreshMarginSec * 1_000,
    deadlineMs: mode === 'resync-all' ? Infinity : s.deadlineSec * 1_000,
    maxDueBacklog: s.maxDueBacklog,
    probeEveryMs: s.probeEveryMs,
    maxBatchUpdates: config.api.maxBatchUpdates,
    ...(target === undefined ? {} : { defaultRoute: { mode: 'publish', target } }),
  };
}

/** Settings that deserve a warning (the schema refuses the outright wrong ones). */
export function sweepConfigWarnings(config: Config): string[] {
  const s = config.sweep;
  const out: string[] = [];
  if (s.refreshMarginSec < s.intervalSec + s.deadlineSec) {
    out.push(
      `sweep.refreshMarginSec (${s.refreshMarginSec}) is less than sweep.intervalSec + sweep.deadlineSec (${s.intervalSec + s.deadlineSec}): a publication may lapse between two runs`,
    );
  }
  if (s.lockTtlMs > s.intervalSec * 1_000) {
    out.push(`sweep.lockTtlMs (${s.lockTtlMs}) is longer than sweep.intervalSec: after a crash the next run waits for the lock to lapse`);
  }
  return out;
}


export async function startSweep(deps: SweepRuntimeDeps): Promise<SweepRuntime> {
  const { config, clock } = deps;
  const log = deps.log.child({ component: 'sweep' });
  const prefix = config.redis.keyPrefix;
  const keys = storeKeys(prefix);
  const clients: RedisClient[] = [];
  const stop = new AbortController();
  const running = new Set<Promise<unknown>>();
  let queue: Queue | undefined;
  let worker: Worker | undefined;
  let source: MailboxSource | undefined = deps.source;

  const track = <T>(p: Promise<T>): Promise<T> => {
    running.add(p);
    const forget = (): void => {
      running.delete(p);
    };
    p.then(forget, forget);
    return p;
  };

  try {
    for (const warning of sweepConfigWarnings(config)) log.warn(warning);
    const lockRedis = await createStoreClient({ url: deps.redisUrl, onError: (err) => log.debug({ err }, 'sweep lock: Redis connection error') });
    clients.push(lockRedis);
    const lock = new RedlockSweepLock({ redis: lockRedis, keys, lockTtlMs: config.sweep.lockTtlMs, clock, log });
    const runLog = new RedisSweepRunLog({ redis: lockRedis, keys, keep: config.sweep.runHistory });
    source ??= createSweepSource(config, deps.store);
    const runDeps: SweepDeps = {
      store: deps.store,
      scheduler: deps.scheduler,
      prober: deps.prober,
      lock,
      runLog,
      source,
      clock,
      log,
      identity: deps.identity ?? processIdentity(),
      onRunEnd: deps.onRunEnd,
    };

    const run = (opts: Parameters<typeof runSweep>[2], mode: SweepMode = 'sweep'): Promise<SweepResult> => {
      const signal = opts.signal === undefined ? stop.signal : AbortSignal.any([stop.signal, opts.signal]);
      return track(runSweep(runDeps, sweepSettings(config, mode), { ...opts, mode, signal }));
    };

    if (deps.schedule !== false) {
      const intervalMs = config.sweep.intervalSec * 1_000;
      const producerRedis = await createStoreClient({ url: deps.redisUrl, onError: (err) => log.debug({ err }, 'sweep queue: Redis connection error') });
      clients.push(producerRedis);
      const q = new Queue(SWEEP_QUEUE, { connection: producerRedis, prefix });
      queue = q;
      q.on('error', (err) => log.debug({ err }, 'sweep queue error'));
      // Every process upserts the same scheduler id: idempotent, and whichever worker is free takes the tick.
      await withRedis('upsert the sweep scheduler', () =>
        q.upsertJobScheduler(SWEEP_SCHEDULER_ID, { every: sweepTickMs(intervalMs) }, { name: SWEEP_JOB, data: {}, opts: SWEEP_JOB_OPTIONS }),
      );
      const workerRedis = createRedisConnection(deps.redisUrl, { maxRetriesPerRequest: null, connectTimeout: 2_000, retryStrategy: jitteredRetryStrategy });
      workerRedis.on('error', (err) => log.debug({ err }, 'sweep worker: Redis connection error'));
      clients.push(workerRedis);
      const w = new Worker(
        SWEEP_QUEUE,
        (job: Job): Promise<SweepTickResult> => {
          if (stop.signal.aborted) return Promise.resolve({ outcome: 'not-due', dueAt: clock.now() });
          const held = deps.holdRuns?.();
          if (held !== undefined) {
            log.info({ reason: held }, 'scheduled sweep not started');
            return Promise.resolve({ outcome: 'not-due', dueAt: clock.now() });
          }
          return sweepTick({ intervalMs, run: (opts) => run(opts) }, { updateProgress: (p) => job.updateProgress(p) });
        },
        {
          connection: workerRedis,
          prefix,
          concurrency: 1,
          lockDuration: JOB_LOCK_DURATION_MS,
          stalledInterval: JOB_STALLED_INTERVAL_MS,
          maxStalledCount: 1,
          name: `mwi-sweep-${process.pid}`,
        },
      );
      worker = w;
      w.on('error', (err) => log.warn({ err }, 'sweep worker error'));
      w.on('failed', (job, err) => log.warn({ err, jobId: job?.id }, 'sweep tick failed; the next tick tries again'));
      await w.waitUntilReady();
      log.info({ intervalSec: config.sweep.intervalSec, tickMs: sweepTickMs(intervalMs), source: source.name }, 'sweep scheduled');
    }

    let closing: Promise<void> | undefined;
    return {
      async runNow(opts = {}) {
        const result = await run(
          {
            trigger: 'manual',
            ...(opts.dryRun === undefined ? {} : { dryRun: opts.dryRun }),
            ...(opts.onProgress === undefined ? {} : { onProgress: opts.onProgress }),
            ...(opts.signal === undefined ? {} : { signal: opts.signal }),
          },
          opts.mode ?? 'sweep',
        );
        if (result.outcome === 'not-due') throw new Error('INVARIANT: a run without a pause check came back not due');
        return result;
      },
      recentRuns: (limit) => runLog.recent(limit),
      close(deadlineMs = config.delivery.shutdownDeadlineMs) {
        closing ??= (async () => {
          stop.abort();
          let timer: ReturnType<Clock['setTimeout']> | undefined;
          const deadline = new Promise<void>((resolve) => {
            timer = clock.setTimeout(resolve, deadlineMs);
          });
          await Promise.race([Promise.allSettled([...running]), deadline]);
          if (timer !== undefined) clock.clearTimeout(timer);
          await worker?.close(true).catch((err: unknown) => log.warn({ err }, 'closing the sweep worker failed'));
          await queue?.close().catch((err: unknown) => log.warn({ err }, 'closing the sweep queue failed'));
          await source?.close().catch((err: unknown) => log.warn({ err }, 'closing the mailbox source failed'));
          await Promise.all(clients.reverse().map((c) => quitOrDisconnect(c, { timeoutMs: QUIT_TIMEOUT_MS, clock })));
        })();
        return closing;
      },
    };
  } catch (err) {
    stop.abort();
    await worker?.close(true).catch(() => undefined);
    await queue?.close().catch(() => undefined);
    await source?.close().catch(() => undefined);
    for (const c of clients) c.disconnect();
    throw err;
  }
}
