/**
 * Every chart of one benchmark's result: its latency percentiles when it recorded any, and the
 * charts a benchmark has of its own (the incident replay's time series). File names start with
 * the benchmark's name, so the charts of all benchmarks share bench/results without clashing.
 */
import type { BenchResult, LatencyPercentiles } from '../report.ts';
import { incidentReplayCharts } from './incident-replay-charts.ts';
import { PERCENTILE_COLUMNS, percentileChart } from './percentile-chart.ts';
import type { RenderedChart } from './rendered-chart.ts';

function hasZero(p: LatencyPercentiles): boolean {
  return PERCENTILE_COLUMNS.some((c) => p[c.key] === 0);
}

const OWN_CHARTS: Record<string, (result: BenchResult) => RenderedChart[]> = {
  'incident-replay': incidentReplayCharts,
};

export function benchmarkCharts(result: BenchResult): RenderedChart[] {
  const charts: RenderedChart[] = [];
  const cases = Object.entries(result.percentiles ?? {}).filter(([, p]) => p.count > 0);
  if (cases.length > 0) {
    const title = `${result.name}: latency per transaction`;
    charts.push({
      fileName: `${result.name}-latency.svg`,
      title,
      // Log scale unless a figure is 0 (SIPp measures whole milliseconds), which it could not show.
      svg: percentileChart({ title, cases: cases.map(([name, percentiles]) => ({ name, percentiles })), log: !cases.some(([, p]) => hasZero(p)) }),
    });
  }
  charts.push(...(OWN_CHARTS[result.name]?.(result) ?? []));
  return charts;
}
