/** GET /metrics: the process's registry in the Prometheus text format. */
import type { Registry } from 'prom-client';

import type { Handler } from '../handler.ts';

export type MetricsSource = Pick<Registry, 'metrics' | 'contentType'>;

export function getMetrics(metrics: MetricsSource): Handler {
  return async () => ({ status: 200, headers: { 'content-type': metrics.contentType }, body: await metrics.metrics() });
}
