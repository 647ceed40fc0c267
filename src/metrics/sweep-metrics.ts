/**
 * Sweep metrics, updated in one place (recordSweepRunEnd, the sweep's onRunEnd) from how each run
 * ended. Every label takes values from a closed set (outcome, mode, kind, abort reason): the free
 * text of a run (abort message, target URIs, holder) stays in the run record and the logs.
 */
import { Counter, Gauge, Histogram, type Registry } from 'prom-client';

import type { SweepAbortReason, SweepMode, SweepRunEnd } from '../sweep/run-records.ts';

type Outcome = SweepRunEnd['outcome'];
type MailboxKind = 'scanned' | 'changed' | 'enqueued' | 'skipped';

// Records rather than arrays: the compiler checks every value of the union is listed.
const OUTCOMES: Record<Outcome, null> = { completed: null, aborted: null, skipped: null, failed: null };
const MODES: Record<SweepMode, null> = { sweep: null, 'resync-all': null };
const KINDS: Record<MailboxKind, null> = { scanned: null, changed: null, enqueued: null, skipped: null };
const ABORT_REASONS: Record<SweepAbortReason, null> = { 'lock-lost': null, deadline: null, shutdown: null, 'source-unavailable': null, 'redis-unavailable': null, error: null };

const keys = <K extends string>(r: Record<K, null>): K[] => Object.keys(r) as K[];

export interface SweepMetrics {
  runs: Counter<'outcome' | 'mode'>;
  durationSec: Histogram<'mode'>;
  mailboxes: Counter<'kind'>;
  aborted: Counter<'aborted_why'>;
  lastRunEndSec: Gauge;
}

export function sweepMetrics(registry: Registry): SweepMetrics {
  const registers = [registry];
  const m: SweepMetrics = {
    runs: new Counter({ name: 'mwi_sweep_runs_total', help: 'Sweep runs by how they ended (skipped: another run held the lock; failed: threw before leaving a record)', labelNames: ['outcome', 'mode'], registers }),
    durationSec: new Histogram({
      name: 'mwi_sweep_duration_seconds',
      help: 'Duration of sweep runs that held the lock (completed or aborted)',
      labelNames: ['mode'],
      // sweep.deadlineSec defaults to 240; resync-all has no deadline.
      buckets: [1, 5, 15, 30, 60, 120, 240, 600, 1800, 3600],
      registers,
    }),
    mailboxes: new Counter({ name: 'mwi_sweep_mailboxes_total', help: 'Mailboxes handled by sweep runs: scanned, changed (desired state differs), enqueued, skipped (needing a delivery but not queued)', labelNames: ['kind'], registers }),
    aborted: new Counter({ name: 'mwi_sweep_aborted_total', help: 'Aborted sweep runs by reason', labelNames: ['aborted_why'], registers }),
    lastRunEndSec: new Gauge({ name: 'mwi_sweep_last_run_end_timestamp_seconds', help: 'End of the latest sweep run of this process that held the lock, seconds since the epoch', registers }),
  };
  // Every series exists from the start at 0, so rate() and absence alerts work before the first run.
  for (const outcome of keys(OUTCOMES)) for (const mode of keys(MODES)) m.runs.inc({ outcome, mode }, 0);
  for (const kind of keys(KINDS)) m.mailboxes.inc({ kind }, 0);
  for (const why of keys(ABORT_REASONS)) m.aborted.inc({ aborted_why: why }, 0);
  return m;
}

/** Counts a run that ended. Dry runs are left out: they queue nothing, and their counts would read as deliveries. */
export function recordSweepRunEnd(m: SweepMetrics, end: SweepRunEnd): void {
  if (end.dryRun) return;
  m.runs.inc({ outcome: end.outcome, mode: end.mode });
  if (end.outcome === 'failed' || end.outcome === 'skipped') return;
  m.durationSec.observe({ mode: end.mode }, Math.max(0, end.endedAt - end.startedAt) / 1_000);
  m.lastRunEndSec.set(end.endedAt / 1_000);
  for (const kind of keys(KINDS)) m.mailboxes.inc({ kind }, end.counts[kind]);
  if (end.aborted !== undefined) m.aborted.inc({ aborted_why: end.aborted.reason });
}
