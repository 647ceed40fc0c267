/**
 * What a sweep run leaves behind for dashboards and operators: one JSON record per run (and per
 * run skipped because another host held the lock) in a Redis list, newest first, trimmed to
 * sweep.runHistory; and the end time of the latest run, which the schedule's pause is measured
 * from. Records carry start (right after the lock was acquired) and end (right before it was
 * released): the runs of all hosts never overlap in time, and this is the trail that shows it.
 */
import type { RedisClient } from '../store/redis-connection.ts';

import type { StoreKeys } from '../store/keys.ts';
import { withRedis } from '../store/redis-unavailable.ts';
import type { EnqueueReason, SkipReason } from './plan.ts';
import type { SweepHolder } from './sweep-lock.ts';
import type { TargetReport } from './target-health.ts';

export type SweepMode =
  /** Reconcile: queue what differs or is about to lapse. */
  | 'sweep'
  /** Resend every mailbox (paced through the queue). */
  | 'resync-all';

export type SweepTrigger = 'schedule' | 'manual' | 'cli';

export type SweepAbortReason =
  /** The sweep lock was deleted, taken over or could not be extended. */
  | 'lock-lost'
  /** sweep.deadlineSec passed. */
  | 'deadline'
  /** The process is shutting down. */
  | 'shutdown'
  /** The mailbox source failed (MWI_SOURCE_UNAVAILABLE). */
  | 'source-unavailable'
  | 'redis-unavailable'
  /** Anything else (a bug): see the message. */
  | 'error';

export interface SweepCounts {
  pages: number;
  /** Mailboxes read from the source. */
  scanned: number;
  /** Needing a delivery because the desired state differs (from the delivered one, or the source reports other counts). */
  changed: number;
  /** Clean, but their PUBLISH lapses within sweep.refreshMarginSec. */
  expiring: number;
  /** Marked dirty (or given a new desired state) by this run; in a dry run: what would be. */
  enqueued: number;
  /** Needing a delivery but not queued by this run (already queued, parked, target down, no route). */
  skipped: number;
  skippedBy: Record<SkipReason, number>;
  /** External sources: counts refused as stale because the store already holds a newer version (a PBX push during the run). */
  stale: number;
}

/** One mailbox a dry run would queue (the first DRY_RUN_SAMPLE of them). */
export interface PlannedDelivery {
  mailbox: string;
  why: EnqueueReason;
  to: string;
}

export interface SweepRunRecord {
  runId: string;
  mode: SweepMode;
  trigger: SweepTrigger;
  source: string;
  dryRun: boolean;
  host: string;
  pid: number;
  outcome:
    | 'completed'
    | 'aborted'
    /** Not run: another run held the lock (see holder). */
    | 'skipped';
  /** Run: right after acquiring the lock; skipped: when it tried. */
  startedAt: number;
  /** Run: right before releasing the lock. */
  endedAt: number;
  counts: SweepCounts;
  targets: TargetReport[];
  aborted?: { reason: SweepAbortReason; message: string };
  holder?: SweepHolder | null;
  /** Dry run: some of what it would send. */
  planned?: PlannedDelivery[];
}

/** A run that threw before it could leave a record (Redis down while checking the pause or taking the lock). */
export interface SweepRunFailure {
  outcome: 'failed';
  mode: SweepMode;
  dryRun: boolean;
  startedAt: number;
  endedAt: number;
}

/** How a run ended, as told to SweepDeps.onRunEnd (metrics). */
export type SweepRunEnd = SweepRunRecord | SweepRunFailure;

export function emptyCounts(): SweepCounts {
  return { pages: 0, scanned: 0, changed: 0, expiring: 0, enqueued: 0, skipped: 0, skippedBy: { pending: 0, parked: 0, 'target-down': 0, 'no-target': 0 }, stale: 0 };
}

/** The seam: where run records go. */
export interface SweepRunLog {
  add(record: SweepRunRecord): Promise<void>;
  /** End of the latest run that ran (completed or aborted), ms since epoch; undefined before the first. */
  lastEndedAt(): Promise<number | undefined>;
  recent(limit: number): Promise<SweepRunRecord[]>;
}

export class RedisSweepRunLog implements SweepRunLog {
  readonly #redis: RedisClient;
  readonly #keys: StoreKeys;
  readonly #keep: number;

  constructor(opts: { redis: RedisClient; keys: StoreKeys; keep: number }) {
    this.#redis = opts.redis;
    this.#keys = opts.keys;
    this.#keep = opts.keep;
  }

  async add(record: SweepRunRecord): Promise<void> {
    const multi = this.#redis.multi().lpush(this.#keys.sweepRuns(), JSON.stringify(record)).ltrim(this.#keys.sweepRuns(), 0, this.#keep - 1);
    if (record.outcome !== 'skipped' && !record.dryRun) multi.hset(this.#keys.sweepState(), 'lastEndedAt', String(record.endedAt), 'lastRunId', record.runId);
    await withRedis('record a sweep run', () => multi.exec());
  }

  async lastEndedAt(): Promise<number | undefined> {
    const v = await withRedis('read the last sweep', () => this.#redis.hget(this.#keys.sweepState(), 'lastEndedAt'));
    const n = v === null ? Number.NaN : Number(v);
    return Number.isFinite(n) ? n : undefined;
  }

  async recent(limit: number): Promise<SweepRunRecord[]> {
    const raw = await withRedis('read sweep runs', () => this.#redis.lrange(this.#keys.sweepRuns(), 0, limit - 1));
    return raw.map((r) => JSON.parse(r) as SweepRunRecord);
  }
}
