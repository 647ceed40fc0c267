/**
 * The process's metrics: one prom-client Registry made by createMetrics(), never prom-client's
 * global default registry, so every test (and every runner in a test process) has its own.
 */
import { Registry, collectDefaultMetrics } from 'prom-client';

import { sweepMetrics, type SweepMetrics } from './sweep-metrics.ts';

export interface Metrics {
  registry: Registry;
  sweep: SweepMetrics;
}

export interface MetricsOptions {
  /** Add prom-client's process metrics (CPU, memory, event loop lag, GC): the runner does; tests leave them out. */
  collectDefaults?: boolean;
}

export function createMetrics(opts: MetricsOptions = {}): Metrics {
  const registry = new Registry();
  if (opts.collectDefaults === true) collectDefaultMetrics({ register: registry });
  return { registry, sweep: sweepMetrics(registry) };
}
