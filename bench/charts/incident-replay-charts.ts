/**
 * The incident replay's charts, from its result alone (so `npm run bench:report` redraws them
 * from latest.json): the rates of each phase over time with the measured capacity as a reference
 * line, on one scale for both phases, and the backlog of both with the ideal drain marked.
 */
import type { BenchResult, BenchSeries } from '../report.ts';
import { lineChart, type LineSeriesSpec } from './line-chart.ts';
import { formatNumber } from './svg.ts';
import type { RenderedChart } from './rendered-chart.ts';

/** Row labels the benchmark writes and the charts read (one source for both). */
export const CAPACITY_ROW = 'capacity: highest clean SIPp step against Kamailio (offered)';
export const IDEAL_DRAIN_ROW = 'ideal drain time (mailboxes / capacity)';

const PHASES = [
  { key: 'ours', title: 'ours (adaptive gate, no rate configured)' },
  { key: 'naive', title: 'naive (1,000 in flight, no gate)' },
] as const;

const RATE_LINES = [
  { column: 'offeredPerSec', name: 'offered on the wire (incl. retransmissions)', color: '#1f77b4' },
  { column: 'deliveredPerSec', name: 'delivered', color: '#2ca02c' },
  { column: 'retransmittedPerSec', name: 'retransmissions', color: '#d62728' },
  { column: 'allowedPerSec', name: "gate's allowed rate", color: '#ff7f0e', dashed: true },
] as const;

function rowValue(result: BenchResult, label: string): number | undefined {
  const v = result.rows.find((r) => r.label === label)?.value;
  return typeof v === 'number' && Number.isFinite(v) ? v : undefined;
}

function seconds(s: BenchSeries): number[] {
  return s.tMs.map((t) => t / 1000);
}

function hasValue(values: readonly (number | null)[] | undefined): values is Array<number | null> {
  return values !== undefined && values.some((v) => typeof v === 'number' && Number.isFinite(v));
}

function maxOf(values: readonly (number | null)[] | undefined): number {
  let max = 0;
  for (const v of values ?? []) if (typeof v === 'number' && Number.isFinite(v) && v > max) max = v;
  return max;
}

export function incidentReplayCharts(result: BenchResult): RenderedChart[] {
  const phases = PHASES.flatMap((p) => {
    const s = result.series?.[p.key];
    return s === undefined ? [] : [{ ...p, series: s }];
  });
  if (phases.length === 0) return [];
  const capacity = rowValue(result, CAPACITY_ROW);
  const idealMs = rowValue(result, IDEAL_DRAIN_ROW);
  const idealSec = idealMs === undefined ? undefined : idealMs / 1000;
  // One x and y range for every chart, so the phases compare at a glance.
  const xMaxSec = Math.max(idealSec ?? 0, ...phases.map((p) => Math.max(0, ...seconds(p.series))));
  const rateMax = Math.max(capacity ?? 0, ...phases.flatMap((p) => RATE_LINES.map((l) => maxOf(p.series.columns[l.column]))));
  const inFlightMax = Math.max(1, ...phases.map((p) => maxOf(p.series.columns.inFlight)));
  const capacityLine = capacity === undefined ? [] : [{ value: capacity, label: `capacity ${formatNumber(capacity)}/s (SIPp, same run)` }];
  const idealLine = idealSec === undefined ? [] : [{ x: idealSec, label: `ideal drain ${formatNumber(idealSec, 1)} s` }];

  const charts: RenderedChart[] = phases.map((p) => {
    const xs = seconds(p.series);
    const lines: LineSeriesSpec[] = RATE_LINES.filter((l) => hasValue(p.series.columns[l.column])).map((l) => ({
      name: l.name,
      xs,
      ys: p.series.columns[l.column] ?? [],
      color: l.color,
      dashed: 'dashed' in l ? l.dashed : false,
    }));
    if (hasValue(p.series.columns.inFlight)) lines.push({ name: 'in flight', xs, ys: p.series.columns.inFlight, axis: 'right', color: '#9467bd', dashed: true });
    const title = `Incident replay, ${p.title}: rates every ${p.series.intervalMs} ms`;
    return {
      fileName: `incident-replay-rates-${p.key}.svg`,
      title,
      svg: lineChart({
        title,
        x: { label: 'time since the outage ended', unit: 's', max: xMaxSec },
        left: { label: 'rate', unit: 'PUBLISH/s', max: rateMax },
        right: { label: 'requests in flight', unit: '', max: inFlightMax },
        lines,
        horizontal: capacityLine,
        vertical: idealLine,
      }),
    };
  });

  const backlogLines: LineSeriesSpec[] = phases.map((p, i) => ({
    name: p.key === 'ours' ? 'ours' : 'naive',
    xs: seconds(p.series),
    ys: p.series.columns.backlog ?? [],
    color: i === 0 ? '#1f77b4' : '#d62728',
  }));
  if (capacity !== undefined && idealSec !== undefined) {
    backlogLines.push({ name: `ideal: drained at the capacity (${formatNumber(capacity)}/s)`, xs: [0, idealSec], ys: [(capacity * idealSec), 0], color: '#7f7f7f', dashed: true });
  }
  const backlogTitle = 'Incident replay: mailboxes not delivered yet';
  charts.push({
    fileName: 'incident-replay-backlog.svg',
    title: backlogTitle,
    svg: lineChart({
      title: backlogTitle,
      x: { label: 'time since the outage ended', unit: 's', max: xMaxSec },
      left: { label: 'backlog', unit: 'mailboxes' },
      lines: backlogLines,
      vertical: idealLine,
    }),
  });
  return charts;
}
