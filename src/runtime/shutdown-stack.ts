/**
 * Closes what a process started, in reverse order, within one deadline. Each step gets the time
 * left minus what the steps after it reserve (the private redis-server must still get its
 * SIGTERM even when draining the workers used up the budget). A step that throws or overruns its
 * share is logged and abandoned; the next one runs regardless.
 */
import type { Logger } from '../log.ts';

/** Steps are expected to honour their budget; past it by this much, one counts as hung. */
const OVERRUN_GRACE_MS = 1000;

export interface ShutdownStep {
  name: string;
  /** Gets the milliseconds it may take; resolving false reports an unclean close (already logged by the step). */
  close: (budgetMs: number) => Promise<void | boolean>;
  /** Kept back for this step from the steps that close before it. Default 0. */
  reserveMs?: number;
}

export class ShutdownStack {
  readonly #steps: ShutdownStep[] = [];
  readonly #log: Logger;
  readonly #now: () => number;
  #closing: Promise<boolean> | undefined;

  constructor(log: Logger, now: () => number = Date.now) {
    this.#log = log;
    this.#now = now;
  }

  push(step: ShutdownStep): void {
    this.#steps.push(step);
  }

  /** Resolves true when every step closed in time and without error. Idempotent. */
  close(deadlineMs: number): Promise<boolean> {
    this.#closing ??= this.#closeAll(deadlineMs);
    return this.#closing;
  }

  async #closeAll(deadlineMs: number): Promise<boolean> {
    const deadline = this.#now() + deadlineMs;
    let clean = true;
    for (let i = this.#steps.length - 1; i >= 0; i--) {
      const step = this.#steps[i] as ShutdownStep;
      const reservedAfter = this.#steps.slice(0, i).reduce((sum, s) => sum + (s.reserveMs ?? 0), 0);
      const budgetMs = Math.max(step.reserveMs ?? 0, deadline - this.#now() - reservedAfter);
      let timer: NodeJS.Timeout | undefined;
      const overran = new Promise<'overran'>((resolve) => {
        timer = setTimeout(() => resolve('overran'), budgetMs + OVERRUN_GRACE_MS);
      });
      try {
        const result = await Promise.race([step.close(budgetMs).then((r) => (r === false ? ('unclean' as const) : ('closed' as const))), overran]);
        if (result === 'unclean') clean = false;
        if (result === 'overran') {
          clean = false;
          this.#log.warn({ step: step.name, budgetMs }, 'shutdown step did not finish in time; going on');
        }
      } catch (err) {
        clean = false;
        this.#log.error({ err, step: step.name }, 'shutdown step failed; going on');
      } finally {
        clearTimeout(timer);
      }
    }
    return clean;
  }
}
