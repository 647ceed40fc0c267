/**
 * Axis scales with round ticks: linear (steps of 1, 2, 2.5 or 5 x 10^k, the domain widened to
 * whole steps) and logarithmic (powers of ten, with 2 and 5 between them over a short range).
 */
import { decimalsOf, formatNumber } from './svg.ts';

export interface Scale {
  min: number;
  max: number;
  ticks: number[];
  /** Tick labels, same order as ticks. */
  labels: string[];
  log: boolean;
  /** Position in [0, 1] of a value inside the domain (outside: beyond 0..1; NaN when it cannot be placed). */
  fraction(value: number): number;
}

/** The round step that cuts `range` into at most about `maxTicks` intervals. */
export function niceStep(range: number, maxTicks: number): number {
  const raw = range / Math.max(1, maxTicks);
  const magnitude = 10 ** Math.floor(Math.log10(raw));
  const r = raw / magnitude;
  const nice = r <= 1 ? 1 : r <= 2 ? 2 : r <= 2.5 ? 2.5 : r <= 5 ? 5 : 10;
  return nice * magnitude;
}

/** A linear scale over [min, max] widened to round steps; an empty or flat range becomes [v, v + 1]. */
export function linearScale(dataMin: number, dataMax: number, maxTicks = 6): Scale {
  let lo = Number.isFinite(dataMin) ? dataMin : 0;
  let hi = Number.isFinite(dataMax) ? dataMax : lo + 1;
  if (hi < lo) [lo, hi] = [hi, lo];
  if (hi === lo) hi = lo + (lo === 0 ? 1 : Math.abs(lo));
  const step = niceStep(hi - lo, maxTicks);
  const min = Math.floor(lo / step + 1e-9) * step;
  const max = Math.ceil(hi / step - 1e-9) * step;
  const decimals = decimalsOf(step);
  const ticks: number[] = [];
  for (let i = 0; i <= Math.round((max - min) / step); i++) ticks.push(Number((min + i * step).toFixed(decimals)));
  return {
    min,
    max,
    ticks,
    labels: ticks.map((t) => formatNumber(t, decimals)),
    log: false,
    fraction: (v) => (v - min) / (max - min),
  };
}

/** A log10 scale over the positive values [dataMin, dataMax], widened to whole decades. */
export function logScale(dataMin: number, dataMax: number): Scale {
  const lo = Number.isFinite(dataMin) && dataMin > 0 ? dataMin : 1;
  const hi = Number.isFinite(dataMax) && dataMax > lo ? dataMax : lo * 10;
  const minExp = Math.floor(Math.log10(lo) + 1e-9);
  let maxExp = Math.ceil(Math.log10(hi) - 1e-9);
  if (maxExp === minExp) maxExp++;
  const min = 10 ** minExp;
  const max = 10 ** maxExp;
  const ticks: number[] = [];
  const between = maxExp - minExp <= 2 ? [1, 2, 5] : [1];
  for (let e = minExp; e <= maxExp; e++) {
    for (const m of between) {
      const v = m * 10 ** e;
      if (v <= max * (1 + 1e-9)) ticks.push(Number(v.toPrecision(6)));
    }
  }
  return {
    min,
    max,
    ticks,
    labels: ticks.map((t) => formatNumber(t, Math.max(0, -Math.floor(Math.log10(t) + 1e-9)))),
    log: true,
    fraction: (v) => (v > 0 ? (Math.log10(v) - minExp) / (maxExp - minExp) : Number.NaN),
  };
}
