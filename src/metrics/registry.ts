/**
 * The process's metrics: one prom-client Registry made by createMetrics(), never prom-client's
 * global default registry, so every test (and every runner in a test process) has its own.
 */
import { Registry, collectDefaultMetrics } from 'prom-client';

import { deliveryMetrics, type DeliveryMetrics } from './delivery-metrics.ts';
import { runtimeMetrics, type RuntimeMetrics } from './runtime-collectors.ts';
import { sweepMetrics, type SweepMetrics } from './sweep-metrics.ts';
import { DEFAULT_MAX_TARGETS, TargetLabels } from './target-labels.ts';

export interface Metrics {
  registry: Registry;
  sweep: SweepMetrics;
  /** Fed by deliveryObserver(metrics.delivery), the guarded sender's DeliveryObserver. */
  delivery: DeliveryMetrics;
  /** Read on scrape from the sources given to attachRuntimeCollectors; Redis reconnects from countRedisReconnects. */
  runtime: RuntimeMetrics;
}

export interface MetricsOptions {
  /** Add prom-client's process metrics (CPU, memory, event loop lag, GC): the runner does; tests leave them out. */
  collectDefaults?: boolean;
  /** Distinct `target` label values kept; later targets are folded into `other`. Default 1 000. */
  maxTargets?: number;
}

export function createMetrics(opts: MetricsOptions = {}): Metrics {
  const registry = new Registry();
  if (opts.collectDefaults === true) collectDefaultMetrics({ register: registry });
  const targets = new TargetLabels(opts.maxTargets ?? DEFAULT_MAX_TARGETS);
  return { registry, sweep: sweepMetrics(registry), delivery: deliveryMetrics(registry, targets), runtime: runtimeMetrics(registry, targets) };
}
