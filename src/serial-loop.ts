/**
 * A task re-run every `intervalMs` after its previous run ended, never two runs at once, and
 * run again promptly on `soon()` (a pub/sub announcement, a reconnect). What the fleet breakers
 * and the control plane use to keep their view of Redis fresh.
 */
import type { Clock, TimerHandle } from './clock.ts';

export class SerialLoop {
  readonly #clock: Clock;
  readonly #intervalMs: number;
  readonly #task: () => Promise<void>;
  #timer: TimerHandle | undefined;
  #running: Promise<void> | undefined;
  #again = false;
  #stopped = false;

  constructor(clock: Clock, intervalMs: number, task: () => Promise<void>) {
    this.#clock = clock;
    this.#intervalMs = intervalMs;
    this.#task = task;
  }

  /** Runs the task now (or right after the run in progress). */
  soon(): void {
    if (this.#stopped) return;
    if (this.#running !== undefined) this.#again = true;
    else this.#schedule(0);
  }

  /** No more runs; resolves once a run in progress has ended. */
  async stop(): Promise<void> {
    this.#stopped = true;
    if (this.#timer !== undefined) this.#clock.clearTimeout(this.#timer);
    this.#timer = undefined;
    await this.#running;
  }

  #schedule(delayMs: number): void {
    if (this.#stopped) return;
    if (this.#timer !== undefined) this.#clock.clearTimeout(this.#timer);
    this.#timer = this.#clock.setTimeout(() => {
      this.#timer = undefined;
      // The task handles its own errors; a rejection must not end the loop.
      this.#running = this.#task()
        .catch(() => undefined)
        .finally(() => {
          this.#running = undefined;
          const again = this.#again;
          this.#again = false;
          this.#schedule(again ? 0 : this.#intervalMs);
        });
    }, delayMs);
    this.#timer.unref?.();
  }
}
