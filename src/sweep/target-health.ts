/**
 * Health of the presence servers one sweep run sends to, by SIP OPTIONS (MwiSender.probe).
 * A target is probed when the run first meets it, and again every `recheckMs` while the run
 * goes on. Once a probe fails the target stays down for the rest of the run: nothing more is
 * queued for it (no half-open flapping inside a run). The next run probes again and
 * reconciles whatever the outage left: no backlog is kept or replayed.
 */
import type { Clock } from '../clock.ts';
import type { ProbeOutcome } from '../delivery/sender.ts';
import type { TargetStatus } from './plan.ts';

export interface Prober {
  probe(target: string): Promise<ProbeOutcome>;
}

export interface TargetReport {
  target: string;
  up: boolean;
  /** Why it was taken down (probe answer or error), when down. */
  reason?: string;
  /** When the failing probe ended (ms since epoch). */
  downAt?: number;
  probes: number;
  /** Mailboxes this run did not queue because the target was down. */
  skipped: number;
}

interface Entry {
  status: TargetStatus;
  checkedAt: number;
  probes: number;
  skipped: number;
  downAt?: number;
}

function errorMessage(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

/** Resolves when `promise` settles or `signal` aborts, whichever is first (the probe itself is not cancelled). */
function untilAborted<T>(promise: Promise<T>, signal: AbortSignal | undefined): Promise<T | undefined> {
  if (signal === undefined) return promise;
  if (signal.aborted) return Promise.resolve(undefined);
  return new Promise<T | undefined>((resolve, reject) => {
    const onAbort = (): void => resolve(undefined);
    signal.addEventListener('abort', onAbort, { once: true });
    promise.then(
      (v) => {
        signal.removeEventListener('abort', onAbort);
        resolve(v);
      },
      (err: unknown) => {
        signal.removeEventListener('abort', onAbort);
        reject(err instanceof Error ? err : new Error(String(err)));
      },
    );
  });
}

export class TargetHealth {
  readonly #prober: Prober;
  readonly #clock: Clock;
  readonly #recheckMs: number;
  readonly #entries = new Map<string, Entry>();
  readonly #onDown: (target: string, reason: string) => void;

  constructor(opts: { prober: Prober; clock: Clock; recheckMs: number; onDown?: (target: string, reason: string) => void }) {
    this.#prober = opts.prober;
    this.#clock = opts.clock;
    this.#recheckMs = opts.recheckMs;
    this.#onDown = opts.onDown ?? (() => {});
  }

  status(target: string): TargetStatus | undefined {
    return this.#entries.get(target)?.status;
  }

  /** Counts a mailbox not queued because its target is down (for the run record). */
  countSkipped(target: string): void {
    const e = this.#entries.get(target);
    if (e !== undefined) e.skipped++;
  }

  /**
   * Probes, in parallel, the targets never probed in this run and those up whose last probe is
   * older than recheckMs. Returns early (leaving them unprobed) if `signal` aborts.
   */
  async check(targets: Iterable<string>, signal?: AbortSignal): Promise<void> {
    const now = this.#clock.now();
    const due = new Set<string>();
    for (const t of targets) {
      const e = this.#entries.get(t);
      if (e === undefined || (e.status.up && now - e.checkedAt >= this.#recheckMs)) due.add(t);
    }
    await Promise.all([...due].map((t) => this.#probe(t, signal)));
  }

  /** Re-probes every known target that is up and due (the "during the run" check between pages). */
  recheck(signal?: AbortSignal): Promise<void> {
    return this.check([...this.#entries.keys()], signal);
  }

  async #probe(target: string, signal: AbortSignal | undefined): Promise<void> {
    let status: TargetStatus;
    try {
      const outcome = await untilAborted(this.#prober.probe(target), signal);
      if (outcome === undefined) return;
      status = outcome.up ? { up: true } : { up: false, reason: `OPTIONS probe failed: ${outcome.reason}` };
    } catch (err) {
      status = { up: false, reason: `OPTIONS probe failed: ${errorMessage(err)}` };
    }
    const now = this.#clock.now();
    const e = this.#entries.get(target) ?? { status, checkedAt: now, probes: 0, skipped: 0 };
    e.probes++;
    e.checkedAt = now;
    // Down stays down for the run.
    if (e.status.up) e.status = status;
    if (!e.status.up && e.downAt === undefined) {
      e.downAt = now;
      this.#onDown(target, e.status.reason);
    }
    this.#entries.set(target, e);
  }

  report(): TargetReport[] {
    return [...this.#entries].map(([target, e]) => ({
      target,
      up: e.status.up,
      ...(e.status.up ? {} : { reason: e.status.reason, ...(e.downAt === undefined ? {} : { downAt: e.downAt }) }),
      probes: e.probes,
      skipped: e.skipped,
    }));
  }
}
