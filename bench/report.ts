/**
 * What every benchmark returns, and its Markdown rendering. A benchmark measures something of
 * ours beside a reference in the same run (rows), and states how the two compare (ratios, each
 * with an optional goal that the report marks PASS or FAIL).
 */

export interface BenchRow {
  label: string;
  value: number;
  /** e.g. "tx/s", "ms", "count". */
  unit: string;
}

export interface BenchRatio {
  label: string;
  value: number;
  /** The ratio must be at least this (or at most, with `atMost`). */
  goal?: number;
  /** The goal is an upper bound. */
  atMost?: boolean;
  pass?: boolean;
  /** Labels of the rows (of the same result) holding our figure and the reference's, for the summary table. */
  oursRow?: string;
  referenceRow?: string;
}

/** The rows a ratio compares (labels of rows in the same result). */
export interface RatioRows {
  ours?: string;
  reference?: string;
}

function withRows(r: BenchRatio, rows: RatioRows | undefined): BenchRatio {
  if (rows?.ours !== undefined) r.oursRow = rows.ours;
  if (rows?.reference !== undefined) r.referenceRow = rows.reference;
  return r;
}

export interface BenchResult {
  name: string;
  description: string;
  rows: BenchRow[];
  ratios: BenchRatio[];
  notes: string[];
  /** Time series (latest.json; charted for the benchmarks that have a chart for them), by name. */
  series?: Record<string, BenchSeries>;
  /** Per-transaction latency of each measured case (ours and the references where measurable), by case. */
  percentiles?: Record<string, LatencyPercentiles>;
}

/** A latency distribution: how many samples, and the nearest-rank percentiles in milliseconds. */
export interface LatencyPercentiles {
  count: number;
  p50Ms: number;
  p90Ms: number;
  p99Ms: number;
  p999Ms: number;
  maxMs: number;
}

/**
 * Samples at a fixed interval, column by column: `tMs[i]` is the end of sample i (ms since the
 * phase began) and every column has one value per sample (null where nothing applies).
 */
export interface BenchSeries {
  intervalMs: number;
  tMs: number[];
  columns: Record<string, Array<number | null>>;
  /** Column name -> unit, e.g. "PUBLISH/s". */
  units: Record<string, string>;
}

/** A ratio with its verdict filled in from the goal (value >= goal). */
export function ratio(label: string, value: number, goal?: number, rows?: RatioRows): BenchRatio {
  return withRows(goal === undefined ? { label, value } : { label, value, goal, pass: value >= goal }, rows);
}

/** A ratio whose goal is an upper bound (value <= goal), e.g. a drain time over the ideal. */
export function ratioAtMost(label: string, value: number, goal: number, rows?: RatioRows): BenchRatio {
  return withRows({ label, value, goal, atMost: true, pass: value <= goal }, rows);
}

/** A figure as the tables show it ("n/a" for what JSON turned from NaN into null). */
export function formatValue(value: number | null, unit: string): string {
  if (typeof value !== 'number' || Number.isNaN(value)) return 'n/a';
  if (!Number.isFinite(value)) return String(value);
  if (unit === 'ms' || unit === 'µs') return value.toFixed(value >= 100 ? 0 : 2);
  if (Number.isInteger(value) || Math.abs(value) >= 100) return Math.round(value).toLocaleString('en-US');
  return value.toFixed(2);
}

export function formatRatio(value: number | null): string {
  return typeof value === 'number' && Number.isFinite(value) ? value.toFixed(3) : 'n/a';
}

/** A Markdown table cell: no pipe or line break of its own. */
export function cell(text: string): string {
  return text.replace(/\|/g, '\\|').replace(/\r?\n/g, ' ');
}

export function goalText(r: BenchRatio): string {
  return r.goal === undefined ? '' : `${r.atMost ? '<=' : '>='} ${r.goal}`;
}

function verdict(r: BenchRatio): string {
  if (r.goal === undefined) return '';
  return `${r.pass ? 'PASS' : 'FAIL'} (goal ${goalText(r)})`;
}

function latencyCell(ms: number | null): string {
  if (typeof ms !== 'number' || !Number.isFinite(ms)) return 'n/a';
  return ms.toFixed(ms >= 100 ? 0 : ms >= 10 ? 1 : 2);
}

/** A chart of this benchmark, as the report links it (a file beside latest.md). */
export interface ChartLink {
  fileName: string;
  title: string;
}

/** One benchmark as a Markdown section: description, figures, ratios, latency percentiles, charts, notes. */
export function renderMarkdown(result: BenchResult, headingLevel = 2, charts: readonly ChartLink[] = []): string {
  const h = '#'.repeat(headingLevel);
  const out: string[] = [`${h} ${result.name}`, '', result.description, ''];
  out.push('| measure | value | unit |', '|---|---:|---|');
  for (const r of result.rows) out.push(`| ${cell(r.label)} | ${formatValue(r.value, r.unit)} | ${cell(r.unit)} |`);
  out.push('');
  if (result.ratios.length > 0) {
    out.push('| ratio | value | verdict |', '|---|---:|---|');
    for (const r of result.ratios) out.push(`| ${cell(r.label)} | ${formatRatio(r.value)} | ${verdict(r)} |`);
    out.push('');
  }
  const percentiles = Object.entries(result.percentiles ?? {});
  if (percentiles.length > 0) {
    out.push('| latency per transaction (ms) | p50 | p90 | p99 | p99.9 | max | samples |', '|---|---:|---:|---:|---:|---:|---:|');
    for (const [name, p] of percentiles) {
      out.push(`| ${cell(name)} | ${latencyCell(p.p50Ms)} | ${latencyCell(p.p90Ms)} | ${latencyCell(p.p99Ms)} | ${latencyCell(p.p999Ms)} | ${latencyCell(p.maxMs)} | ${p.count.toLocaleString('en-US')} |`);
    }
    out.push('');
  }
  for (const c of charts) out.push(`![${c.title.replace(/[[\]]/g, '')}](${c.fileName})`, '');
  if (result.notes.length > 0) {
    out.push('Notes:', '');
    for (const n of result.notes) out.push(`- ${n}`);
    out.push('');
  }
  return out.join('\n');
}
