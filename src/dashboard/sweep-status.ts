/**
 * The sweep as the dashboard shows it, read from the records the sweep leaves in the shared
 * Redis (src/sweep/sweep-lock.ts, run-records.ts): who holds the sweep lock now and since when,
 * when the latest run ended, and the latest runs with their outcome and counts. Read only.
 * `mwi status` has no sweep section yet: this is the function its StatusSource can add as `sweep`.
 *
 * Progress counts of a run in flight are not stored in Redis (SweepDeps.onProgress is
 * in-process only), so a running sweep shows as its holder record: mode, host, run id, start.
 */
import type { RedisClient } from '../store/redis-connection.ts';

import type { StoreKeys } from '../store/keys.ts';
import { withRedis } from '../store/redis-unavailable.ts';
import type { SweepCounts, SweepRunRecord } from '../sweep/run-records.ts';
import type { SweepHolder } from '../sweep/sweep-lock.ts';

export interface SweepRunSummary {
  runId: string;
  mode: SweepRunRecord['mode'];
  trigger: SweepRunRecord['trigger'];
  source: string;
  dryRun: boolean;
  host: string;
  outcome: SweepRunRecord['outcome'];
  startedAt: number;
  endedAt: number;
  counts: Omit<SweepCounts, 'skippedBy'>;
  /** Presence servers the run stopped sending to. */
  targetsDown: Array<{ target: string; reason: string }>;
  aborted: { reason: string; message: string } | null;
  /** Skipped runs: who held the lock then. */
  heldBy: string | null;
}

export interface SweepStatus {
  /** Who runs a sweep (or a resync of every mailbox) now; null when nobody holds the lock. */
  running: (SweepHolder & { lockTtlLeftMs: number | null }) | null;
  /** End of the latest run that ran (ms since epoch); null before the first. */
  lastEndedAt: number | null;
  /** Newest first. */
  runs: SweepRunSummary[];
}

export const SWEEP_STATUS_RUNS = 10;

function parseJson<T>(raw: string | null): T | undefined {
  if (raw === null) return undefined;
  try {
    return JSON.parse(raw) as T;
  } catch {
    return undefined;
  }
}

function holderName(h: SweepHolder): string {
  return `${h.host}:${h.pid} (${h.mode} ${h.runId})`;
}

function summary(r: SweepRunRecord): SweepRunSummary {
  const { skippedBy: _skippedBy, ...counts } = r.counts;
  return {
    runId: r.runId,
    mode: r.mode,
    trigger: r.trigger,
    source: r.source,
    dryRun: r.dryRun,
    host: r.host,
    outcome: r.outcome,
    startedAt: r.startedAt,
    endedAt: r.endedAt,
    counts,
    targetsDown: (r.targets ?? []).filter((t) => !t.up).map((t) => ({ target: t.target, reason: t.reason ?? '' })),
    aborted: r.aborted ?? null,
    heldBy: r.holder ? holderName(r.holder) : null,
  };
}

/** The holder record, the lock's TTL, the last end and the latest `limit` runs. */
export async function readSweepStatus(redis: RedisClient, keys: StoreKeys, limit: number = SWEEP_STATUS_RUNS): Promise<SweepStatus> {
  const [holderRaw, ttlMs, lastEndedRaw, runsRaw] = await withRedis('read the sweep status', () =>
    Promise.all([redis.get(keys.sweepHolder()), redis.pttl(keys.sweepLock()), redis.hget(keys.sweepState(), 'lastEndedAt'), redis.lrange(keys.sweepRuns(), 0, limit - 1)]),
  );
  const holder = parseJson<SweepHolder>(holderRaw);
  const lastEndedAt = lastEndedRaw === null ? Number.NaN : Number(lastEndedRaw);
  return {
    running: holder === undefined ? null : { ...holder, lockTtlLeftMs: ttlMs >= 0 ? ttlMs : null },
    lastEndedAt: Number.isFinite(lastEndedAt) ? lastEndedAt : null,
    runs: runsRaw.flatMap((raw) => {
      const r = parseJson<SweepRunRecord>(raw);
      return r === undefined ? [] : [summary(r)];
    }),
  };
}
