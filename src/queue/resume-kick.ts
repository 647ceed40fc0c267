/**
 * A global operator pause ending (a resume, or its expiry) kicks the drains at once; startDelivery
 * wires this in every process with workers. While paused, drains take nothing and the periodic
 * kick wakes none; without this, the backlog the pause held back waited for the next periodic
 * kick (up to a second) after on-call pressed resume.
 */
import { GLOBAL_SCOPE } from '../control/control-input.ts';
import type { ControlSnapshot } from '../control/types.ts';

export interface ResumeKickDeps {
  control: { onChange(listener: (snapshot: ControlSnapshot) => void): () => void };
  /** Whether a global pause is in force when this starts listening. */
  pausedNow: boolean;
  /** The kick (jobs/kick.ts) as the delivery runtime runs it. */
  kick: () => Promise<unknown>;
  log: { warn(obj: object, msg: string): void };
}

/** Listens until the returned function is called. */
export function kickOnResume(deps: ResumeKickDeps): () => void {
  let paused = deps.pausedNow;
  return deps.control.onChange((snapshot) => {
    const now = snapshot.pauses.some((p) => p.scope === GLOBAL_SCOPE);
    const ended = paused && !now;
    paused = now;
    if (!ended) return;
    deps.kick().catch((err: unknown) => deps.log.warn({ err }, 'could not kick the drains after the global pause ended; the periodic kick will'));
  });
}
