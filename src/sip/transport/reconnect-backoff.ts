/**
 * When a stream transport may try a destination again after its connection failed or was lost:
 * exponential backoff with full jitter (delay uniform in [0, min(max, base * 2^(failures-1))]),
 * so that many runners losing one server do not reconnect in lockstep (RFC 6357 overload advice).
 * Inside the window sends fail fast; the first send after it reconnects. Bounded memory: an entry
 * lives until a success, and expired entries are swept once the table grows past its cap.
 */

export interface ReconnectBackoffOptions {
  baseMs: number;
  maxMs: number;
  /** Uniform in [0, 1); injectable for tests. */
  random: () => number;
  /** Table size that triggers a sweep of expired entries. */
  sweepAtEntries?: number;
}

interface Entry {
  failures: number;
  notBeforeMs: number;
}

export function fullJitterDelayMs(failures: number, baseMs: number, maxMs: number, random: () => number): number {
  if (failures <= 0) return 0;
  // 2^30 already exceeds any sane max: cap the exponent so the product stays finite.
  const ceilingMs = Math.min(maxMs, baseMs * 2 ** Math.min(failures - 1, 30));
  return Math.floor(random() * ceilingMs);
}

export class ReconnectBackoff {
  readonly #opts: ReconnectBackoffOptions;
  readonly #entries = new Map<string, Entry>();

  constructor(opts: ReconnectBackoffOptions) {
    if (!(opts.baseMs > 0) || !(opts.maxMs >= opts.baseMs)) throw new RangeError('backoff needs 0 < baseMs <= maxMs');
    this.#opts = opts;
  }

  get size(): number {
    return this.#entries.size;
  }

  /** Milliseconds until `key` may be tried again; 0 if it may be tried now. */
  remainingMs(key: string, nowMs: number): number {
    const entry = this.#entries.get(key);
    return entry ? Math.max(0, entry.notBeforeMs - nowMs) : 0;
  }

  /** Records a failure; returns the delay before the next attempt. */
  failed(key: string, nowMs: number): number {
    const entry = this.#entries.get(key) ?? { failures: 0, notBeforeMs: 0 };
    entry.failures++;
    const delayMs = fullJitterDelayMs(entry.failures, this.#opts.baseMs, this.#opts.maxMs, this.#opts.random);
    entry.notBeforeMs = nowMs + delayMs;
    this.#entries.delete(key); // re-insert: Map order stays oldest-first for the sweep
    this.#entries.set(key, entry);
    if (this.#entries.size > (this.#opts.sweepAtEntries ?? 10_000)) this.#sweep(nowMs);
    return delayMs;
  }

  /** The destination proved healthy: forget its failures. */
  succeeded(key: string): void {
    this.#entries.delete(key);
  }

  /** Drops entries whose window ended more than maxMs ago (their history no longer matters much). */
  #sweep(nowMs: number): void {
    for (const [key, entry] of this.#entries) {
      if (entry.notBeforeMs + this.#opts.maxMs < nowMs) this.#entries.delete(key);
    }
  }
}
