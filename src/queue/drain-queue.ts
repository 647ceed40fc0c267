/**
 * The BullMQ queue that carries delivery work: names, slots and job options, in one place.
 *
 * Jobs are not per mailbox or per update: the dirty set in Redis is the per-mailbox pending
 * marker. A `drain` job delivers whatever is due (jobs/drain.ts). There are DRAIN_SLOTS of them
 * at most: each slot's jobs share one BullMQ deduplication id with keepLastIfActive, so a slot
 * holds at most one waiting and one active job, and a wake-up that arrives while its job runs
 * becomes exactly one follow-up job when it finishes. A `kick` job, fired about every second by
 * a BullMQ job scheduler, wakes slots when dirty mailboxes are due (jobs/kick.ts).
 * Queue keys live under config.redis.keyPrefix (BullMQ `prefix`), beside the store's keys.
 */
import type { JobsOptions } from 'bullmq';

/** Must not be `mailbox`, `dirty` or `publication` (the store's key names under the same prefix). */
export const DELIVER_QUEUE = 'deliver';
export const DRAIN_JOB = 'drain';
export const KICK_JOB = 'kick';
export const KICK_SCHEDULER_ID = 'drain-kick';
export const KICK_EVERY_MS = 1_000;

/**
 * Drain jobs that can run at once across all worker processes. Each worker process runs up to
 * WORKER_JOB_CONCURRENCY jobs, so this serves 8 processes at full parallelism; more processes
 * still help (they take whichever slot is waiting), they just cannot all drain at the same time.
 */
export const DRAIN_SLOTS = 16;
/** BullMQ jobs one worker process runs at once (drains and kicks); its deliveries share delivery.concurrency. */
export const WORKER_JOB_CONCURRENCY = 2;
/** How long one drain job takes new work before handing over to a follow-up job. */
export const DRAIN_MAX_RUN_MS = 5_000;

export interface DrainJobData {
  slot: number;
}

export type DeliverJobData = DrainJobData | Record<string, never>;

// Finished jobs carry nothing worth keeping; a few failed ones stay for inspection.
const KEEP = { removeOnComplete: true, removeOnFail: { count: 100 } } as const;

export function drainJobOptions(slot: number): JobsOptions {
  return { deduplication: { id: `${DRAIN_JOB}-${slot}`, keepLastIfActive: true }, ...KEEP };
}

export const KICK_JOB_OPTIONS = { ...KEEP };
