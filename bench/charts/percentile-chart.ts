/**
 * Latency percentiles as an SVG string: one line per case over p50, p90, p99, p99.9 and max
 * (evenly spaced), on a log (default) or linear millisecond axis, with a legend. A case with no
 * samples, or a percentile that is not a finite number (or <= 0 on the log axis), is skipped.
 */
import type { LatencyPercentiles } from '../report.ts';
import { FONT_PX, layoutPlot, renderLegend, renderXAxisFrame, renderYAxis, svgDocument, yPx, type Plot } from './frame.ts';
import { linearScale, logScale, type Scale } from './scale.ts';
import { colorAt, coord, escapeXml, line, text } from './svg.ts';

export const PERCENTILE_COLUMNS = [
  { label: 'p50', key: 'p50Ms' },
  { label: 'p90', key: 'p90Ms' },
  { label: 'p99', key: 'p99Ms' },
  { label: 'p99.9', key: 'p999Ms' },
  { label: 'max', key: 'maxMs' },
] as const;

export interface PercentileCase {
  name: string;
  percentiles: LatencyPercentiles;
  dashed?: boolean;
}

export interface PercentileChartSpec {
  title: string;
  cases: readonly PercentileCase[];
  /** Default true: latencies spread over decades. */
  log?: boolean;
  widthPx?: number;
  heightPx?: number;
}

function usable(v: number, log: boolean): boolean {
  return Number.isFinite(v) && (!log || v > 0);
}

function columnX(plot: Plot, i: number): number {
  const slot = (plot.right - plot.left) / PERCENTILE_COLUMNS.length;
  return plot.left + slot * (i + 0.5);
}

function renderCase(c: PercentileCase, color: string, plot: Plot, y: Scale): string {
  const out = [`<g class="series" data-name="${escapeXml(c.name)}">`];
  const points: Array<[number, number]> = [];
  if (c.percentiles.count > 0) {
    PERCENTILE_COLUMNS.forEach((col, i) => {
      const v = c.percentiles[col.key];
      if (usable(v, y.log)) points.push([columnX(plot, i), yPx(plot, y, v)]);
    });
  }
  if (points.length > 1) {
    out.push(`<polyline fill="none" stroke="${color}" stroke-width="1.8" stroke-linejoin="round"${c.dashed ? ' stroke-dasharray="6 4"' : ''} points="${points.map(([px, py]) => `${coord(px)},${coord(py)}`).join(' ')}"/>`);
  }
  for (const [px, py] of points) out.push(`<circle cx="${coord(px)}" cy="${coord(py)}" r="3" fill="${color}"/>`);
  out.push('</g>');
  return out.join('\n');
}

export function percentileChart(spec: PercentileChartSpec): string {
  const log = spec.log ?? true;
  const values: number[] = [];
  for (const c of spec.cases) {
    if (c.percentiles.count === 0) continue;
    for (const col of PERCENTILE_COLUMNS) if (usable(c.percentiles[col.key], log)) values.push(c.percentiles[col.key]);
  }
  const lo = Math.min(...values);
  const hi = Math.max(...values);
  const y = log ? logScale(lo, hi) : linearScale(values.length === 0 ? 0 : Math.min(0, lo), values.length === 0 ? 1 : hi);
  const legend = spec.cases.map((c, i) => ({ name: c.name, color: colorAt(i), dashed: c.dashed }));
  const plot = layoutPlot({ widthPx: spec.widthPx ?? 860, heightPx: spec.heightPx ?? 400, left: y, legend });
  const ticks = ['<g class="axis x">'];
  PERCENTILE_COLUMNS.forEach((col, i) => {
    const px = columnX(plot, i);
    ticks.push(line(px, plot.top, px, plot.bottom, 'stroke="#f0f0f0" stroke-width="1" class="grid"'));
    ticks.push(line(px, plot.bottom, px, plot.bottom + 5, 'stroke="#333" stroke-width="1"'));
    ticks.push(text(px, plot.bottom + FONT_PX + 8, col.label, { 'text-anchor': 'middle', class: 'tick' }));
  });
  ticks.push('</g>');
  const body = [
    renderYAxis(plot, y, 'left', `latency (ms${log ? ', log scale' : ''})`),
    ticks.join('\n'),
    renderXAxisFrame(plot, 'percentile'),
    ...spec.cases.map((c, i) => renderCase(c, colorAt(i), plot, y)),
    renderLegend(plot),
  ];
  return svgDocument(plot, spec.title, body);
}
