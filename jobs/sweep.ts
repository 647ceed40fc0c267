/**
 * The sweep tick (a BullMQ job scheduler fires it, see src/sweep/sweep-queue.ts): runs a sweep if
 * the schedule's pause since the previous run has passed, reporting progress on the job as it
 * goes. The lock, the pause check and the run itself are in src/sweep/sweep-run.ts.
 */
import type { SweepOptions, SweepProgress, SweepResult } from '../src/sweep/sweep-run.ts';

export interface SweepTickDeps {
  run(opts: SweepOptions): Promise<SweepResult>;
  /** sweep.intervalSec in ms: the pause between the end of one run and the start of the next. */
  intervalMs: number;
}

/** The part of a BullMQ Job the tick uses. */
export interface ProgressJob {
  updateProgress(progress: SweepProgress): Promise<void>;
}

/** What the finished job keeps (the full record is in the run log). */
export type SweepTickResult =
  | { outcome: 'not-due'; dueAt: number }
  | { outcome: 'completed' | 'aborted' | 'skipped'; runId: string; scanned: number; enqueued: number; skipped: number; aborted?: string };

export async function sweepTick(deps: SweepTickDeps, job: ProgressJob): Promise<SweepTickResult> {
  const result = await deps.run({ trigger: 'schedule', minPauseMs: deps.intervalMs, onProgress: (p) => job.updateProgress(p) });
  if (result.outcome === 'not-due') return result;
  return {
    outcome: result.outcome,
    runId: result.runId,
    scanned: result.counts.scanned,
    enqueued: result.counts.enqueued,
    skipped: result.counts.skipped,
    ...(result.aborted === undefined ? {} : { aborted: result.aborted.reason }),
  };
}
