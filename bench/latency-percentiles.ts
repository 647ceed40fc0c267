/** Nearest-rank latency percentiles of a set of samples (milliseconds). */
import type { LatencyPercentiles } from './report.ts';

function rank(sorted: Float64Array, p: number): number {
  if (sorted.length === 0) return Number.NaN;
  // The epsilon keeps 99.9% of 1,000 at rank 999 (0.999 * 1000 is 999.0000000000001 in floating point).
  const i = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p * sorted.length) / 100 - 1e-9) - 1));
  return sorted[i] ?? Number.NaN;
}

/** p50, p90, p99, p99.9 and max of `samplesMs` (not modified); NaN figures when there is none. */
export function latencyPercentiles(samplesMs: ArrayLike<number>): LatencyPercentiles {
  const sorted = Float64Array.from(samplesMs).sort();
  return {
    count: sorted.length,
    p50Ms: rank(sorted, 50),
    p90Ms: rank(sorted, 90),
    p99Ms: rank(sorted, 99),
    p999Ms: rank(sorted, 99.9),
    maxMs: sorted.length === 0 ? Number.NaN : (sorted[sorted.length - 1] ?? Number.NaN),
  };
}

/** A growable list of latency samples (ms) that costs no allocation per sample. */
export class LatencyRecorder {
  #samples = new Float64Array(1024);
  #count = 0;

  add(ms: number): void {
    if (this.#count === this.#samples.length) {
      const grown = new Float64Array(this.#samples.length * 2);
      grown.set(this.#samples);
      this.#samples = grown;
    }
    this.#samples[this.#count++] = ms;
  }

  get count(): number {
    return this.#count;
  }

  percentiles(): LatencyPercentiles {
    return latencyPercentiles(this.#samples.subarray(0, this.#count));
  }
}
