/**
 * The periodic kick (a BullMQ job scheduler fires it about every second): if any dirty mailbox is
 * due, wake drain jobs for it. This is what picks up, without any new event, retries whose time
 * has come, leases that ran out after a worker crashed, and updates whose schedule() failed.
 */
export interface KickDeps {
  store: { dueCount(): Promise<number> };
  wake(count: number): Promise<void>;
  batchSize: number;
  slots: number;
  /** A global operator pause: wake nothing (updates still accumulate, coalesced). */
  paused?: () => boolean;
}

export async function kick(deps: KickDeps): Promise<{ due: number; woken: number }> {
  const due = await deps.store.dueCount();
  if (due === 0 || deps.paused?.()) return { due, woken: 0 };
  // One slot more than the batches due: a slot whose job is stuck on a crashed worker (until
  // BullMQ's stalled check frees it) then cannot hold the work up.
  const woken = Math.min(deps.slots, Math.ceil(due / deps.batchSize) + 1);
  await deps.wake(woken);
  return { due, woken };
}
