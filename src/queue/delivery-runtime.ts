/**
 * The delivery side of a process: the mailbox store, the BullMQ queue with its periodic kick,
 * the scheduler the ingest path calls, and (unless `workers: false`) a BullMQ Worker that runs
 * drain and kick jobs against the MwiSender.
 *
 * Connections (each its own, see shared/notes/bullmq-redis.md): the store and the queue producer
 * fail fast (createStoreClient: no offline queue), so a Redis outage surfaces at once as
 * MWI_REDIS_UNAVAILABLE; the Worker's connection has maxRetriesPerRequest: null, as BullMQ
 * requires, and waits out an outage.
 *
 * Crash recovery needs no code here: a killed worker's leased mailboxes are due again when their
 * lease (delivery.leaseMs) ends and the kick wakes a drain for them; its active BullMQ jobs are
 * moved back to waiting by another worker's stalled-job check once their lock lapses.
 */
import { Queue, Worker, type Job } from 'bullmq';

import type { Config } from '../../config/schema.ts';
import { drain, type DrainDeps } from '../../jobs/drain.ts';
import { kick } from '../../jobs/kick.ts';
import type { Clock } from '../clock.ts';
import type { MwiSender } from '../delivery/sender.ts';
import type { Logger } from '../log.ts';
import { floodGuard } from '../log-flood.ts';
import { storeKeys } from '../store/keys.ts';
import { RedisMailboxStore } from '../store/redis-mailbox-store.ts';
import { withRedis } from '../store/redis-unavailable.ts';
import { jitteredRetryStrategy, quitOrDisconnect } from '../store/reconnect.ts';
import { createRedisConnection, type RedisClient } from '../store/redis-connection.ts';
import { createStoreClient } from '../store/store-client.ts';
import { BullDeliveryScheduler } from './bull-scheduler.ts';
import { ConfigErrorLog } from './config-error-log.ts';
import { DeliveryPermits } from './delivery-permits.ts';
import { kickOnResume, type ResumeKickDeps } from './resume-kick.ts';
import type { DeliveryScheduler } from './delivery-scheduler.ts';
import {
  DELIVER_QUEUE,
  DRAIN_MAX_RUN_MS,
  KICK_EVERY_MS,
  KICK_JOB,
  KICK_JOB_OPTIONS,
  KICK_SCHEDULER_ID,
  WORKER_JOB_CONCURRENCY,
  type DeliverJobData,
  type DrainJobData,
} from './drain-queue.ts';

// A drain job renews its lock every lockDuration / 2; after a crash its slot is free again
// within about lockDuration + stalledInterval (other slots keep draining meanwhile).
const LOCK_DURATION_MS = 30_000;
const STALLED_INTERVAL_MS = 15_000;
const MAX_STALLED_COUNT = 3;
/** Connection errors repeat on every reconnect attempt during an outage: one line per connection per this. */
const REDIS_ERROR_LOG_INTERVAL_MS = 10_000;
/** Of the shutdown deadline, kept back for closing the worker, queue and connections after the deliveries. */
const CLOSE_RESERVE_MS = 1_000;
/** Each closing step gets at least this long, even past the deadline. */
const MIN_STEP_MS = 100;
const QUIT_TIMEOUT_MS = 1_000;

/** Errors that repeat during an outage (every reconnect attempt, every failed job): one line per `what` per interval. */
function throttledWarn(log: Logger, clock: Clock, what: string, msg: string): (err: Error, fields?: Record<string, unknown>) => void {
  let last = -Infinity;
  let suppressed = 0;
  return (err, fields = {}) => {
    const now = clock.now();
    if (now - last < REDIS_ERROR_LOG_INTERVAL_MS) {
      suppressed++;
      return;
    }
    log.warn({ err, source: what, suppressed, ...fields }, msg);
    last = now;
    suppressed = 0;
  };
}

function settledWithin(promises: Iterable<Promise<unknown>>, ms: number, clock: Clock): Promise<boolean> {
  let timer: ReturnType<Clock['setTimeout']> | undefined;
  const timedOut = new Promise<boolean>((resolve) => {
    timer = clock.setTimeout(() => resolve(false), Math.max(0, ms));
  });
  return Promise.race([Promise.allSettled(promises).then(() => true), timedOut]).finally(() => {
    if (timer !== undefined) clock.clearTimeout(timer);
  });
}


export async function startDelivery(deps: {
  config: Config;
  log: Logger;
  clock: Clock;
  redisUrl: string;
  sender: MwiSender;
  workers?: boolean;
  /** A global operator pause is in force (ControlPlane): drains take nothing, the kick wakes none. */
  paused?: () => boolean;
  /** The process's control plane: when the global pause ends, the workers kick the drains at once (resume-kick.ts). */
  control?: ResumeKickDeps['control'];
}): Promise<{ scheduler: DeliveryScheduler; store: RedisMailboxStore; close(deadlineMs?: number): Promise<void> }> {
  const { config, clock, sender } = deps;
  const log = deps.log.child({ component: 'delivery' });
  const d = config.delivery;
  const prefix = config.redis.keyPrefix;
  const clients: RedisClient[] = [];
  const stop = new AbortController();
  let flushDrainLog: (() => void) | undefined;
  let queue: Queue<DeliverJobData> | undefined;
  let worker: Worker<DeliverJobData> | undefined;
  let workerConnection: RedisClient | undefined;
  let offResumeKick: (() => void) | undefined;

  try {
    const storeRedis = await createStoreClient({ url: deps.redisUrl, onError: throttledWarn(log, clock, 'store', 'Redis connection error') });
    clients.push(storeRedis);
    const producerRedis = await createStoreClient({ url: deps.redisUrl, onError: throttledWarn(log, clock, 'producer', 'Redis connection error') });
    clients.push(producerRedis);
    const store = new RedisMailboxStore({ redis: storeRedis, clock, keys: storeKeys(prefix), maxBatchUpdates: config.api.maxBatchUpdates });

    const q = new Queue<DeliverJobData>(DELIVER_QUEUE, { connection: producerRedis, prefix });
    queue = q;
    q.on('error', throttledWarn(log, clock, 'queue', 'delivery queue error'));
    const scheduler = new BullDeliveryScheduler({ queue: q, clock, batchSize: d.batchSize });
    // Every process upserts the same scheduler id: idempotent, and whichever worker is alive runs it.
    await withRedis('upsert the kick scheduler', () => q.upsertJobScheduler(KICK_SCHEDULER_ID, { every: KICK_EVERY_MS }, { name: KICK_JOB, data: {}, opts: KICK_JOB_OPTIONS }));

    /** What the periodic kick job runs: wakes drains for what is due, unless globally paused. */
    const kickNow = (): Promise<{ due: number; woken: number }> =>
      kick({ store, wake: (n) => scheduler.wake(n), batchSize: d.batchSize, slots: scheduler.slots, ...(deps.paused ? { paused: deps.paused } : {}) });
    const active = new Set<Promise<unknown>>();
    if (deps.workers !== false) {
      // A delivery may send three requests in a row (412 -> initial, 401 -> credentials, 423), each
      // up to the transaction timeout. A lease shorter than that lets a second worker take the
      // mailbox while the first still publishes: two PUBLISHes on one ETag (412 ping-pong).
      const longestDeliveryMs = 3 * config.sip.transactionTimeoutMs;
      if (d.leaseMs < longestDeliveryMs) {
        log.warn({ leaseMs: d.leaseMs, longestDeliveryMs }, 'delivery.leaseMs is shorter than one delivery can take: slow deliveries may overlap');
      }
      const drainLog = floodGuard(log, { clock });
      flushDrainLog = () => drainLog.flush();
      const drainDeps: DrainDeps = {
        store,
        sender,
        clock,
        permits: new DeliveryPermits(d.concurrency),
        configErrors: new ConfigErrorLog({ log, clock }),
        // One per process: a failing target's per-mailbox lines come out once per interval, with a count.
        log: drainLog,
        ...(deps.paused ? { paused: deps.paused } : {}),
        settings: { batchSize: d.batchSize, leaseMs: d.leaseMs, maxRunMs: DRAIN_MAX_RUN_MS, retryBaseMs: d.retryBaseMs, retryMaxMs: d.retryMaxMs },
      };
      const run = async (job: Job<DeliverJobData>): Promise<unknown> => {
        if (job.name === KICK_JOB) {
          if (stop.signal.aborted) return { due: 0, woken: 0 };
          return kickNow();
        }
        const { slot } = job.data as DrainJobData;
        const report = await drain(drainDeps, stop.signal);
        log.debug({ slot, ...report }, 'drain finished');
        if (report.more) {
          // Queued while this job is active: BullMQ creates it when this one completes (keepLastIfActive).
          await scheduler.wakeSlot(slot).catch((err: unknown) => log.warn({ err, slot }, 'could not queue a follow-up drain; the kick will'));
        }
        return report;
      };
      const workerRedis = createRedisConnection(deps.redisUrl, { maxRetriesPerRequest: null, connectTimeout: 2_000, retryStrategy: jitteredRetryStrategy });
      workerConnection = workerRedis;
      workerRedis.on('error', throttledWarn(log, clock, 'worker connection', 'Redis connection error'));
      clients.push(workerRedis);
      const w = new Worker<DeliverJobData>(
        DELIVER_QUEUE,
        (job) => {
          const p = run(job);
          active.add(p);
          const forget = (): void => {
            active.delete(p);
          };
          p.then(forget, forget);
          return p;
        },
        {
          connection: workerRedis,
          prefix,
          concurrency: WORKER_JOB_CONCURRENCY,
          lockDuration: LOCK_DURATION_MS,
          stalledInterval: STALLED_INTERVAL_MS,
          maxStalledCount: MAX_STALLED_COUNT,
          name: `mwi-${process.pid}`,
        },
      );
      worker = w;
      w.on('error', throttledWarn(log, clock, 'worker', 'delivery worker error'));
      const jobFailed = throttledWarn(log, clock, 'job', 'delivery job failed; the kick starts another');
      w.on('failed', (job, err) => jobFailed(err, { jobId: job?.id, job: job?.name }));
      await w.waitUntilReady();
      if (deps.control !== undefined) offResumeKick = kickOnResume({ control: deps.control, pausedNow: deps.paused?.() ?? false, kick: kickNow, log });
    }

    let closing: Promise<void> | undefined;
    const close = (deadlineMs: number = d.shutdownDeadlineMs): Promise<void> => {
      closing ??= (async () => {
        const endAt = clock.now() + deadlineMs;
        const left = (): number => Math.max(MIN_STEP_MS, endAt - clock.now());
        // Stop fetching, and tell running drains to take nothing more.
        offResumeKick?.();
        stop.abort();
        if (worker !== undefined) {
          await worker.pause(true).catch((err: unknown) => log.warn({ err }, 'pausing the worker failed'));
          const inFlightMs = deadlineMs - Math.min(CLOSE_RESERVE_MS, Math.floor(deadlineMs / 5));
          const finished = await settledWithin([...active], inFlightMs, clock);
          if (!finished) {
            log.warn({ deadlineMs, jobs: active.size }, 'deliveries still in flight at the shutdown deadline; their leases and jobs are recovered by other workers');
          }
          // force: do not wait for the jobs still running; their locks lapse and another worker's
          // stalled check takes them. Also forced while the worker's connection is down: a graceful
          // close first waits for BullMQ to record its jobs, which never happens during an outage,
          // and leaves BullMQ's lock-renewal timer running (it kept the process alive after shutdown).
          const force = !finished || workerConnection?.status !== 'ready';
          if (!(await settledWithin([worker.close(force).catch((err: unknown) => log.warn({ err }, 'closing the worker failed'))], left(), clock))) {
            log.warn('the worker did not close in time; disconnecting');
          }
        }
        await settledWithin([scheduler.close()], left(), clock);
        await settledWithin([q.close().catch((err: unknown) => log.warn({ err }, 'closing the queue failed'))], left(), clock);
        flushDrainLog?.();
        await Promise.all(clients.reverse().map((c) => quitOrDisconnect(c, { timeoutMs: Math.min(QUIT_TIMEOUT_MS, left()), clock })));
      })();
      return closing;
    };
    return { scheduler, store, close };
  } catch (err) {
    stop.abort();
    await worker?.close(true).catch(() => undefined);
    await queue?.close().catch(() => undefined);
    for (const c of clients) c.disconnect();
    throw err;
  }
}
