/**
 * Config errors (489 Bad Event, 415, authentication failed) affect every mailbox of a target, so
 * logging each one would flood the log exactly when an operator needs to read it. This logs the
 * first one per target at error level, then at most one per target per interval, each line saying
 * how many were suppressed since the previous one.
 */
import type { Clock } from '../clock.ts';
import type { Logger } from '../log.ts';

export interface ConfigErrorLogOptions {
  log: Pick<Logger, 'error'>;
  clock: Clock;
  /** Default 60 000. */
  intervalMs?: number;
  /** Targets remembered at most; the oldest are forgotten first. Default 10 000. */
  maxTargets?: number;
}

export interface ConfigErrorReport {
  /** The target URI (PUBLISH) or contact (NOTIFY). */
  target: string;
  mailbox: string;
  status?: number;
  reason: string;
  /** When this mailbox is tried again. */
  retryAt: number;
}

interface TargetEntry {
  loggedAt: number;
  suppressed: number;
}

export class ConfigErrorLog {
  readonly #log: Pick<Logger, 'error'>;
  readonly #clock: Clock;
  readonly #intervalMs: number;
  readonly #maxTargets: number;
  // Insertion order = order of the last log line per target, so the first key is the oldest.
  readonly #targets = new Map<string, TargetEntry>();

  constructor(opts: ConfigErrorLogOptions) {
    this.#log = opts.log;
    this.#clock = opts.clock;
    this.#intervalMs = opts.intervalMs ?? 60_000;
    this.#maxTargets = opts.maxTargets ?? 10_000;
  }

  /** Returns whether a line was written. */
  report(r: ConfigErrorReport): boolean {
    const now = this.#clock.now();
    const entry = this.#targets.get(r.target);
    if (entry !== undefined && now - entry.loggedAt < this.#intervalMs) {
      entry.suppressed++;
      return false;
    }
    this.#log.error(
      { target: r.target, reason: r.reason, ...(r.status === undefined ? {} : { status: r.status }), mailbox: r.mailbox, retryAt: r.retryAt, suppressed: entry?.suppressed ?? 0 },
      'target is misconfigured for MWI: its deliveries are retried slowly until it is fixed',
    );
    this.#targets.delete(r.target);
    this.#targets.set(r.target, { loggedAt: now, suppressed: 0 });
    if (this.#targets.size > this.#maxTargets) {
      const oldest = this.#targets.keys().next();
      if (oldest.done !== true) this.#targets.delete(oldest.value);
    }
    return true;
  }
}
