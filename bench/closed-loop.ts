/**
 * A closed-loop load driver: `count` operations with at most `window` in flight; each finished
 * operation releases the next. Over UDP the window is what keeps the offered load below what the
 * peer answers within T1 (beyond it, Timer E retransmissions multiply the load).
 */
import { performance } from 'node:perf_hooks';
import { latencyPercentiles } from './latency-percentiles.ts';
import type { LatencyPercentiles } from './report.ts';

export interface ClosedLoopOptions {
  count: number;
  window: number;
  /** Runs operation `index`; resolves true when it succeeded. Must not reject. */
  op: (index: number) => Promise<boolean>;
}

export interface ClosedLoopResult {
  count: number;
  window: number;
  elapsedMs: number;
  perSec: number;
  /** Per operation, from its start to its settling. */
  latency: LatencyPercentiles;
  failed: number;
  /** This process's CPU time (user + system, all threads) per operation. */
  cpuUsPerOp: number;
  /** The system (kernel) part of cpuUsPerOp: socket calls, wake-ups. */
  systemUsPerOp: number;
}

export async function runClosedLoop(opts: ClosedLoopOptions): Promise<ClosedLoopResult> {
  const { count, window, op } = opts;
  const latencies = new Float64Array(count);
  let next = 0;
  let failed = 0;
  const worker = async (): Promise<void> => {
    for (;;) {
      const i = next++;
      if (i >= count) return;
      const t0 = performance.now();
      const ok = await op(i);
      latencies[i] = performance.now() - t0;
      if (!ok) failed++;
    }
  };
  const cpu0 = process.cpuUsage();
  const t0 = performance.now();
  await Promise.all(Array.from({ length: Math.min(window, count) }, worker));
  const elapsedMs = performance.now() - t0;
  const cpu = process.cpuUsage(cpu0);
  const cpuUs = cpu.user + cpu.system;
  return {
    count,
    window,
    elapsedMs,
    perSec: (count * 1000) / elapsedMs,
    latency: latencyPercentiles(latencies),
    failed,
    cpuUsPerOp: cpuUs / count,
    systemUsPerOp: cpu.system / count,
  };
}
