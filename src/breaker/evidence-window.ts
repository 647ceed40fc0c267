/**
 * This process's own evidence of one breaker over a sliding window of whole seconds (the same
 * buckets the fleet window in Redis uses), so it can trip its local view before Redis answers.
 * add() is amortised O(1): each second is cleared once, when time passes it.
 */
export class EvidenceWindow {
  readonly #windowSec: number;
  readonly #okBySlot: Float64Array;
  readonly #failBySlot: Float64Array;
  /** The latest second added; -1 when empty. */
  #headSec = -1;
  #ok = 0;
  #failures = 0;

  constructor(windowMs: number) {
    this.#windowSec = Math.max(1, Math.ceil(windowMs / 1000));
    this.#okBySlot = new Float64Array(this.#windowSec);
    this.#failBySlot = new Float64Array(this.#windowSec);
  }

  get ok(): number {
    return this.#ok;
  }

  get failures(): number {
    return this.#failures;
  }

  /** Adds outcomes seen at `nowMs`. A clock that stepped back counts them in the latest second. */
  add(nowMs: number, ok: number, failures: number): void {
    const slot = this.#advance(Math.floor(nowMs / 1000)) % this.#windowSec;
    this.#okBySlot[slot] = (this.#okBySlot[slot] ?? 0) + ok;
    this.#failBySlot[slot] = (this.#failBySlot[slot] ?? 0) + failures;
    this.#ok += ok;
    this.#failures += failures;
  }

  /** Drops seconds that left the window by `nowMs` (call before reading the totals). */
  expire(nowMs: number): void {
    if (this.#headSec >= 0) this.#advance(Math.floor(nowMs / 1000));
  }

  clear(): void {
    this.#okBySlot.fill(0);
    this.#failBySlot.fill(0);
    this.#headSec = -1;
    this.#ok = 0;
    this.#failures = 0;
  }

  #advance(sec: number): number {
    if (this.#headSec < 0) {
      this.#headSec = sec;
      return sec;
    }
    if (sec <= this.#headSec) return this.#headSec;
    if (sec - this.#headSec >= this.#windowSec) {
      this.clear();
      this.#headSec = sec;
      return sec;
    }
    for (let s = this.#headSec + 1; s <= sec; s++) {
      const slot = s % this.#windowSec;
      this.#ok -= this.#okBySlot[slot] ?? 0;
      this.#failures -= this.#failBySlot[slot] ?? 0;
      this.#okBySlot[slot] = 0;
      this.#failBySlot[slot] = 0;
    }
    this.#headSec = sec;
    return sec;
  }
}
