/**
 * A token bucket in this process only: the gate's fail-safe pacing while Redis is unreachable.
 * Starts with one token, holds at most `burst`.
 */
export class LocalBucket {
  readonly ratePerSec: number;
  readonly #burst: number;
  #tokens: number;
  #refillAt: number;

  constructor(ratePerSec: number, nowMs: number, burst = 1) {
    if (!(ratePerSec > 0)) throw new RangeError(`ratePerSec must be positive, got ${ratePerSec}`);
    this.ratePerSec = ratePerSec;
    this.#burst = Math.max(1, burst);
    this.#tokens = 1;
    this.#refillAt = nowMs;
  }

  #refill(nowMs: number): void {
    if (nowMs > this.#refillAt) {
      this.#tokens = Math.min(this.#burst, this.#tokens + ((nowMs - this.#refillAt) * this.ratePerSec) / 1000);
      this.#refillAt = nowMs;
    }
  }

  /** Takes up to `want` whole tokens; returns how many. */
  take(want: number, nowMs: number): number {
    this.#refill(nowMs);
    const n = Math.max(0, Math.min(want, Math.floor(this.#tokens)));
    this.#tokens -= n;
    return n;
  }

  /** ms until the next whole token. */
  waitMs(nowMs: number): number {
    this.#refill(nowMs);
    return this.#tokens >= 1 ? 0 : Math.ceil(((1 - this.#tokens) * 1000) / this.ratePerSec);
  }
}
