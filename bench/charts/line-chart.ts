/**
 * A time-series line chart as an SVG string: several named lines over x in seconds, a left and
 * an optional right y axis with units, round ticks, a legend, and optional reference lines
 * (a horizontal one such as a capacity, a vertical one such as the ideal drain time).
 * Samples that are null, undefined, NaN or infinite (or <= 0 on a log axis) are skipped: the line
 * breaks there. A run of one valid sample is drawn as a dot.
 */
import { FONT_PX, layoutPlot, renderLegend, renderXAxisFrame, renderYAxis, svgDocument, yPx, type LegendEntry, type Plot } from './frame.ts';
import { linearScale, logScale, type Scale } from './scale.ts';
import { colorAt, coord, escapeXml, line, text, textWidthPx } from './svg.ts';

export interface LineSeriesSpec {
  name: string;
  /** Seconds. */
  xs: readonly number[];
  ys: readonly (number | null | undefined)[];
  axis?: 'left' | 'right';
  /** Default: the palette, in line order. */
  color?: string;
  dashed?: boolean;
}

export interface YAxisSpec {
  label: string;
  unit: string;
  /** Fixed bounds (e.g. the same for two charts side by side); otherwise from the data, 0 included. */
  min?: number;
  max?: number;
  log?: boolean;
}

export interface HorizontalReference {
  value: number;
  label: string;
  axis?: 'left' | 'right';
}

export interface VerticalReference {
  /** Seconds. */
  x: number;
  label: string;
}

export interface LineChartSpec {
  title: string;
  x: { label: string; unit: string; max?: number };
  left: YAxisSpec;
  right?: YAxisSpec;
  lines: readonly LineSeriesSpec[];
  horizontal?: readonly HorizontalReference[];
  vertical?: readonly VerticalReference[];
  widthPx?: number;
  heightPx?: number;
}

const Y_MAX_TICKS = 8;
/** Reference labels cross the lines: a white outline keeps them legible. */
const HALO = { stroke: '#ffffff', 'stroke-width': 4, 'paint-order': 'stroke' };

function usable(y: number | null | undefined, log: boolean): y is number {
  return typeof y === 'number' && Number.isFinite(y) && (!log || y > 0);
}

function yScale(axis: YAxisSpec, values: number[]): Scale {
  const lo = Math.min(...values);
  const hi = Math.max(...values);
  if (axis.log) return logScale(axis.min ?? lo, axis.max ?? hi);
  if (values.length === 0) return linearScale(axis.min ?? 0, axis.max ?? 1, Y_MAX_TICKS);
  return linearScale(axis.min ?? Math.min(0, lo), axis.max ?? hi, Y_MAX_TICKS);
}

function axisValues(spec: LineChartSpec, side: 'left' | 'right', log: boolean, hasRight: boolean): number[] {
  const values: number[] = [];
  for (const l of spec.lines) {
    if ((hasRight ? (l.axis ?? 'left') : 'left') !== side) continue;
    for (const y of l.ys) if (usable(y, log)) values.push(y);
  }
  for (const h of spec.horizontal ?? []) if ((h.axis ?? 'left') === side && usable(h.value, log)) values.push(h.value);
  return values;
}

/** Runs of consecutive usable samples, as pixel points. */
function segments(l: LineSeriesSpec, toX: (x: number) => number, toY: (y: number) => number, log: boolean): Array<Array<[number, number]>> {
  const runs: Array<Array<[number, number]>> = [];
  let run: Array<[number, number]> = [];
  for (let i = 0; i < l.xs.length; i++) {
    const x = l.xs[i];
    const y = l.ys[i];
    if (typeof x === 'number' && Number.isFinite(x) && usable(y, log)) {
      run.push([toX(x), toY(y)]);
    } else if (run.length > 0) {
      runs.push(run);
      run = [];
    }
  }
  if (run.length > 0) runs.push(run);
  return runs;
}

function renderSeries(l: LineSeriesSpec, color: string, plot: Plot, x: Scale, y: Scale): string {
  const toX = (v: number) => plot.left + x.fraction(v) * (plot.right - plot.left);
  const toY = (v: number) => yPx(plot, y, v);
  const dash = l.dashed ? ' stroke-dasharray="6 4"' : '';
  const out = [`<g class="series" data-name="${escapeXml(l.name)}" clip-path="url(#plot-area)">`];
  for (const run of segments(l, toX, toY, y.log)) {
    if (run.length === 1) {
      const [[px, py]] = run as [[number, number]];
      out.push(`<circle cx="${coord(px)}" cy="${coord(py)}" r="2.5" fill="${color}"/>`);
    } else {
      out.push(`<polyline fill="none" stroke="${color}" stroke-width="1.8" stroke-linejoin="round"${dash} points="${run.map(([px, py]) => `${coord(px)},${coord(py)}`).join(' ')}"/>`);
    }
  }
  out.push('</g>');
  return out.join('\n');
}

function renderXTicks(plot: Plot, x: Scale): string {
  const out = ['<g class="axis x">'];
  x.ticks.forEach((t, i) => {
    const px = plot.left + x.fraction(t) * (plot.right - plot.left);
    if (t !== x.min) out.push(line(px, plot.top, px, plot.bottom, 'stroke="#f0f0f0" stroke-width="1" class="grid"'));
    out.push(line(px, plot.bottom, px, plot.bottom + 5, 'stroke="#333" stroke-width="1"'));
    out.push(text(px, plot.bottom + FONT_PX + 8, x.labels[i] ?? '', { 'text-anchor': 'middle', class: 'tick' }));
  });
  out.push('</g>');
  return out.join('\n');
}

/** Reference lines first, then their labels, so a label's white outline covers any line it crosses. */
function renderReferences(spec: LineChartSpec, plot: Plot, x: Scale, left: Scale, right: Scale | undefined): string {
  const lines: string[] = [];
  const labels: string[] = [];
  for (const h of spec.horizontal ?? []) {
    const scale = (h.axis ?? 'left') === 'right' && right !== undefined ? right : left;
    const py = yPx(plot, scale, h.value);
    if (!Number.isFinite(py)) continue;
    lines.push(line(plot.left, py, plot.right, py, 'stroke="#444" stroke-width="1.2" stroke-dasharray="3 3" class="reference"'));
    labels.push(text(plot.right - 4, py - 5, h.label, { 'text-anchor': 'end', class: 'reference-label', fill: '#333', ...HALO }));
  }
  for (const v of spec.vertical ?? []) {
    const px = plot.left + x.fraction(v.x) * (plot.right - plot.left);
    if (!Number.isFinite(px)) continue;
    lines.push(line(px, plot.top, px, plot.bottom, 'stroke="#444" stroke-width="1.2" stroke-dasharray="3 3" class="reference"'));
    // The label beside the line, on the side with room for it.
    const roomRight = plot.right - px > textWidthPx(v.label, FONT_PX) + 8;
    labels.push(text(roomRight ? px + 5 : px - 5, plot.top + FONT_PX + 2, v.label, { 'text-anchor': roomRight ? 'start' : 'end', class: 'reference-label', fill: '#333', ...HALO }));
  }
  return ['<g class="references">', ...lines, ...labels, '</g>'].join('\n');
}

function axisTitle(a: YAxisSpec): string {
  return a.unit === '' ? a.label : `${a.label} (${a.unit})`;
}

export function lineChart(spec: LineChartSpec): string {
  const widthPx = spec.widthPx ?? 860;
  const heightPx = spec.heightPx ?? 420;
  const xs: number[] = [];
  for (const l of spec.lines) for (const v of l.xs) if (Number.isFinite(v)) xs.push(v);
  for (const v of spec.vertical ?? []) if (Number.isFinite(v.x)) xs.push(v.x);
  const xMax = spec.x.max ?? (xs.length > 0 ? Math.max(...xs) : 1);
  const x = linearScale(Math.min(0, ...xs), xMax, Math.max(4, Math.floor((widthPx - 160) / 70)));
  // A right axis only when a line uses it; without one, such a line goes on the left.
  const rightSpec = spec.lines.some((l) => l.axis === 'right') ? spec.right : undefined;
  const left = yScale(spec.left, axisValues(spec, 'left', spec.left.log === true, rightSpec !== undefined));
  const right = rightSpec === undefined ? undefined : yScale(rightSpec, axisValues(spec, 'right', rightSpec.log === true, true));
  const legend: LegendEntry[] = spec.lines.map((l, i) => ({ name: l.name + (l.axis === 'right' && right ? ' (right axis)' : ''), color: l.color ?? colorAt(i), dashed: l.dashed }));
  const plot = layoutPlot({ widthPx, heightPx, left, right, legend });
  const body = [
    renderYAxis(plot, left, 'left', axisTitle(spec.left)),
    ...(right === undefined || rightSpec === undefined ? [] : [renderYAxis(plot, right, 'right', axisTitle(rightSpec))]),
    renderXTicks(plot, x),
    renderXAxisFrame(plot, spec.x.unit === '' ? spec.x.label : `${spec.x.label} (${spec.x.unit})`),
    ...spec.lines.map((l, i) => renderSeries(l, l.color ?? colorAt(i), plot, x, l.axis === 'right' && right !== undefined ? right : left)),
    renderReferences(spec, plot, x, left, right),
    renderLegend(plot),
  ];
  return svgDocument(plot, spec.title, body);
}
