/**
 * The BullMQ queue that triggers sweeps: names and job options in one place. A job scheduler
 * (`every` tick) adds one `sweep` job at a time: BullMQ creates the next iteration only when the
 * current one is taken, so ticks never pile up behind a long run or an outage. A tick runs a
 * sweep only when the previous run (on any host) ended at least sweep.intervalSec ago: the pause
 * is measured from the end of a run, never from its start, so runs cannot stack.
 * Queue keys live under config.redis.keyPrefix (`<prefix>:sweep:...`), beside the store's keys.
 */
export const SWEEP_QUEUE = 'sweep';
export const SWEEP_JOB = 'sweep';
export const SWEEP_SCHEDULER_ID = 'sweep-tick';

// Finished ticks carry nothing worth keeping (the run log has the runs); a few failed ones stay.
export const SWEEP_JOB_OPTIONS = { removeOnComplete: true, removeOnFail: { count: 20 } } as const;

/**
 * How often the schedule looks whether a run is due: a tenth of the interval, between 1 s and
 * 60 s (never more than the interval). A run then starts between interval and interval + tick
 * after the previous one ended.
 */
export function sweepTickMs(intervalMs: number): number {
  return Math.min(intervalMs, Math.max(1_000, Math.min(60_000, Math.round(intervalMs / 10))));
}
