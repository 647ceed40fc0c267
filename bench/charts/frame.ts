/**
 * What the line chart and the percentile chart share: the document around the plot (background,
 * title), the plot area left by the axes and the legend, y axes with grid lines, and the legend.
 */
import type { Scale } from './scale.ts';
import { coord, escapeXml, line, text, textWidthPx } from './svg.ts';

export const FONT_PX = 12;
const TITLE_PX = 15;
const LEGEND_ROW_PX = 18;
const LEGEND_SWATCH_PX = 22;
const LEGEND_GAP_PX = 18;
const EDGE_PX = 12;

export interface LegendEntry {
  name: string;
  color: string;
  dashed?: boolean;
}

export interface Plot {
  widthPx: number;
  heightPx: number;
  /** The plot area. */
  left: number;
  right: number;
  top: number;
  bottom: number;
  legendTop: number;
  legendRows: LegendEntry[][];
}

function legendEntryWidth(e: LegendEntry): number {
  return LEGEND_SWATCH_PX + 6 + textWidthPx(e.name, FONT_PX) + LEGEND_GAP_PX;
}

/** Legend entries in rows that fit `widthPx`, in order. */
export function legendRows(entries: readonly LegendEntry[], widthPx: number): LegendEntry[][] {
  const rows: LegendEntry[][] = [];
  let row: LegendEntry[] = [];
  let used = 0;
  for (const e of entries) {
    const w = legendEntryWidth(e);
    if (row.length > 0 && used + w > widthPx) {
      rows.push(row);
      row = [];
      used = 0;
    }
    row.push(e);
    used += w;
  }
  if (row.length > 0) rows.push(row);
  return rows;
}

function tickLabelWidth(scale: Scale | undefined): number {
  return scale === undefined ? 0 : Math.max(0, ...scale.labels.map((l) => textWidthPx(l, FONT_PX)));
}

/** Margins from the tick labels on each side, the title on top, x labels and legend below. */
export function layoutPlot(opts: { widthPx: number; heightPx: number; left: Scale; right?: Scale; legend: readonly LegendEntry[] }): Plot {
  const { widthPx, heightPx } = opts;
  const rows = legendRows(opts.legend, widthPx - 2 * EDGE_PX);
  const axisLabelPx = FONT_PX + 8;
  const left = EDGE_PX + axisLabelPx + tickLabelWidth(opts.left) + 8;
  const right = widthPx - (opts.right === undefined ? EDGE_PX + 16 : EDGE_PX + axisLabelPx + tickLabelWidth(opts.right) + 8);
  const top = EDGE_PX + TITLE_PX + 14;
  const legendPx = rows.length * LEGEND_ROW_PX;
  const bottom = heightPx - (EDGE_PX + legendPx + 10 + axisLabelPx + FONT_PX + 8);
  return { widthPx, heightPx, left, right, top, bottom, legendTop: bottom + FONT_PX + 8 + axisLabelPx + 10, legendRows: rows };
}

/** Pixel y of a value on `scale` within the plot (NaN when it cannot be placed, e.g. <= 0 on a log scale). */
export function yPx(plot: Plot, scale: Scale, value: number): number {
  return plot.bottom - scale.fraction(value) * (plot.bottom - plot.top);
}

/** A y axis: tick marks and labels on its side, the rotated axis label, grid lines for the left one. */
export function renderYAxis(plot: Plot, scale: Scale, side: 'left' | 'right', label: string): string {
  const out: string[] = [`<g class="axis y-${side}">`];
  const x = side === 'left' ? plot.left : plot.right;
  const dir = side === 'left' ? -1 : 1;
  out.push(line(x, plot.top, x, plot.bottom, 'stroke="#333" stroke-width="1"'));
  scale.ticks.forEach((t, i) => {
    const y = yPx(plot, scale, t);
    if (side === 'left' && t !== scale.min) out.push(line(plot.left, y, plot.right, y, 'stroke="#e6e6e6" stroke-width="1" class="grid"'));
    out.push(line(x, y, x + dir * 5, y, 'stroke="#333" stroke-width="1"'));
    out.push(text(x + dir * 8, y + 4, scale.labels[i] ?? '', { 'text-anchor': side === 'left' ? 'end' : 'start', class: 'tick' }));
  });
  const labelX = side === 'left' ? EDGE_PX + FONT_PX : plot.widthPx - EDGE_PX - 4;
  const midY = (plot.top + plot.bottom) / 2;
  out.push(text(labelX, midY, label, { 'text-anchor': 'middle', transform: `rotate(-90 ${coord(labelX)} ${coord(midY)})`, class: 'axis-label' }));
  out.push('</g>');
  return out.join('\n');
}

/** The x axis line and its label (the ticks are the chart's own). */
export function renderXAxisFrame(plot: Plot, label: string): string {
  return [
    line(plot.left, plot.bottom, plot.right, plot.bottom, 'stroke="#333" stroke-width="1"'),
    text((plot.left + plot.right) / 2, plot.bottom + FONT_PX + 8 + FONT_PX + 10, label, { 'text-anchor': 'middle', class: 'axis-label' }),
  ].join('\n');
}

export function renderLegend(plot: Plot): string {
  const out: string[] = ['<g class="legend">'];
  plot.legendRows.forEach((row, r) => {
    const rowWidth = row.reduce((sum, e) => sum + legendEntryWidth(e), 0) - LEGEND_GAP_PX;
    let x = (plot.widthPx - rowWidth) / 2;
    const y = plot.legendTop + r * LEGEND_ROW_PX + FONT_PX / 2;
    for (const e of row) {
      out.push(line(x, y, x + LEGEND_SWATCH_PX, y, `stroke="${e.color}" stroke-width="2.5"${e.dashed ? ' stroke-dasharray="6 4"' : ''}`));
      out.push(text(x + LEGEND_SWATCH_PX + 6, y + 4, e.name, { class: 'legend-label' }));
      x += legendEntryWidth(e);
    }
  });
  out.push('</g>');
  return out.join('\n');
}

/** The whole SVG document around `body`: size, white background, title (also as <title>). */
export function svgDocument(plot: Plot, title: string, body: string[]): string {
  return [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${plot.widthPx}" height="${plot.heightPx}" viewBox="0 0 ${plot.widthPx} ${plot.heightPx}" font-family="DejaVu Sans, Arial, Helvetica, sans-serif" font-size="${FONT_PX}" fill="#222">`,
    `<title>${escapeXml(title)}</title>`,
    `<rect x="0" y="0" width="${plot.widthPx}" height="${plot.heightPx}" fill="#ffffff"/>`,
    text(plot.widthPx / 2, EDGE_PX + TITLE_PX, title, { 'text-anchor': 'middle', 'font-size': TITLE_PX, 'font-weight': 'bold', class: 'chart-title' }),
    `<defs><clipPath id="plot-area"><rect x="${coord(plot.left)}" y="${coord(plot.top - 2)}" width="${coord(plot.right - plot.left)}" height="${coord(plot.bottom - plot.top + 4)}"/></clipPath></defs>`,
    ...body,
    '</svg>',
    '',
  ].join('\n');
}
