/**
 * Timer E, RFC 3261 17.1.2.2: how a non-INVITE client transaction over UDP retransmits its
 * request. First retransmission T1 after the send, then the interval doubles up to T2; once a
 * provisional response has arrived (Proceeding state) every following interval is T2. It stops
 * on a final response or when the transaction deadline passes (Timer F, or our shorter timeout).
 * sip.js 0.21.2 does not implement it (FIXME in non-invite-client-transaction), so we do.
 */
import type { Clock, TimerHandle } from '../../clock.ts';

export interface TimerESchedule {
  t1Ms: number;
  t2Ms: number;
  /** Transaction deadline, measured from the first send; nothing is sent at or after it. */
  timeoutMs: number;
}

function validate(s: TimerESchedule): void {
  if (!(s.t1Ms > 0) || !(s.t2Ms >= s.t1Ms) || !(s.timeoutMs > 0)) {
    throw new RangeError(`Timer E needs 0 < t1Ms <= t2Ms and timeoutMs > 0 (got ${s.t1Ms}, ${s.t2Ms}, ${s.timeoutMs})`);
  }
}

/**
 * The step: the interval until the next retransmission, given the interval that just elapsed.
 * Trying state: MIN(2 * previous, T2). Proceeding state (a provisional arrived): T2.
 */
export function nextTimerEIntervalMs(previousIntervalMs: number, t2Ms: number, proceeding: boolean): number {
  return proceeding ? t2Ms : Math.min(previousIntervalMs * 2, t2Ms);
}

/**
 * Offsets (ms from the first send) of every transmission of a request that never gets a final
 * response, the first send (0) included. With a provisional at `provisionalAtMs`, retransmissions
 * after it are T2 apart (the one already scheduled when it arrived still fires on time).
 * Example: t1 500, t2 4000, timeout 4000 gives [0, 500, 1500, 3500]; timeout 32000 gives 11 sends.
 */
export function timerESendOffsetsMs(t1Ms: number, t2Ms: number, timeoutMs: number, provisionalAtMs?: number): number[] {
  validate({ t1Ms, t2Ms, timeoutMs });
  const offsets = [0];
  let atMs = 0;
  let intervalMs = t1Ms;
  for (;;) {
    atMs += intervalMs;
    if (atMs >= timeoutMs) return offsets;
    offsets.push(atMs);
    const proceeding = provisionalAtMs !== undefined && provisionalAtMs <= atMs;
    intervalMs = nextTimerEIntervalMs(intervalMs, t2Ms, proceeding);
  }
}

export interface TimerEOptions extends TimerESchedule {
  clock: Clock;
  /** Called at every retransmission time (not for the first send, which the caller did). */
  retransmit: () => void;
  /** Called once when the deadline passes without a final response. */
  expire: () => void;
  /**
   * When the first send happened (clock ms), if not now: the schedule (retransmissions and
   * deadline) is measured from it, and retransmissions already due fire at once, one by one.
   */
  sentAtMs?: number;
}

/**
 * One running Timer E on an injected Clock. Holds one clock timer at a time (the next
 * retransmission, or the deadline once no retransmission fits before it).
 */
export class TimerE {
  readonly #opts: TimerEOptions;
  readonly #deadlineAtMs: number;
  #intervalMs: number;
  #proceeding = false;
  #handle: TimerHandle | undefined;
  #stopped = false;

  /** Starts the timer; call it right after the first send (or give that send's time as sentAtMs). */
  constructor(opts: TimerEOptions) {
    validate(opts);
    this.#opts = opts;
    const sentAtMs = opts.sentAtMs ?? opts.clock.now();
    this.#deadlineAtMs = sentAtMs + opts.timeoutMs;
    this.#intervalMs = opts.t1Ms;
    this.#arm(sentAtMs);
  }

  get stopped(): boolean {
    return this.#stopped;
  }

  /** A provisional response arrived: the transaction is Proceeding, later intervals are T2. */
  provisional(): void {
    this.#proceeding = true;
  }

  /** A final response arrived, or the caller gave up: no more retransmissions, no expire(). */
  stop(): void {
    if (this.#stopped) return;
    this.#stopped = true;
    if (this.#handle !== undefined) this.#opts.clock.clearTimeout(this.#handle);
    this.#handle = undefined;
  }

  #arm(fromMs: number): void {
    const { clock } = this.#opts;
    const nextAtMs = fromMs + this.#intervalMs;
    const atMs = Math.min(nextAtMs, this.#deadlineAtMs);
    const delayMs = Math.max(0, atMs - clock.now());
    this.#handle = clock.setTimeout(() => (nextAtMs < this.#deadlineAtMs ? this.#fire(nextAtMs) : this.#expire()), delayMs);
    this.#handle.unref?.();
  }

  #fire(plannedAtMs: number): void {
    if (this.#stopped) return;
    // A timer running so late that the deadline has passed ends the transaction instead.
    if (this.#opts.clock.now() >= this.#deadlineAtMs) {
      this.#expire();
      return;
    }
    this.#intervalMs = nextTimerEIntervalMs(this.#intervalMs, this.#opts.t2Ms, this.#proceeding);
    // The next time is measured on the planned schedule, not from when this timer really ran:
    // a request then costs at most the datagrams of timerESendOffsetsMs even when the event loop
    // is slow. Armed before calling out so a throwing or stopping callback leaves a consistent state.
    this.#arm(plannedAtMs);
    this.#opts.retransmit();
  }

  #expire(): void {
    if (this.#stopped) return;
    this.#stopped = true;
    this.#handle = undefined;
    this.#opts.expire();
  }
}
