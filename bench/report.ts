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
}

export interface BenchResult {
  name: string;
  description: string;
  rows: BenchRow[];
  ratios: BenchRatio[];
  notes: string[];
  /** Time series for charts (latest.json only, not rendered in Markdown), by name. */
  series?: Record<string, BenchSeries>;
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
export function ratio(label: string, value: number, goal?: number): BenchRatio {
  return goal === undefined ? { label, value } : { label, value, goal, pass: value >= goal };
}

/** A ratio whose goal is an upper bound (value <= goal), e.g. a drain time over the ideal. */
export function ratioAtMost(label: string, value: number, goal: number): BenchRatio {
  return { label, value, goal, atMost: true, pass: value <= goal };
}

function formatValue(value: number, unit: string): string {
  if (!Number.isFinite(value)) return String(value);
  if (unit === 'ms' || unit === 'µs') return value.toFixed(value >= 100 ? 0 : 2);
  if (Number.isInteger(value) || Math.abs(value) >= 100) return Math.round(value).toLocaleString('en-US');
  return value.toFixed(2);
}

function cell(text: string): string {
  return text.replace(/\|/g, '\\|').replace(/\r?\n/g, ' ');
}

function verdict(r: BenchRatio): string {
  if (r.goal === undefined) return '';
  return `${r.pass ? 'PASS' : 'FAIL'} (goal ${r.atMost ? '<=' : '>='} ${r.goal})`;
}

/** One benchmark as a Markdown section: description, figures, ratios, notes. */
export function renderMarkdown(result: BenchResult, headingLevel = 2): string {
  const h = '#'.repeat(headingLevel);
  const out: string[] = [`${h} ${result.name}`, '', result.description, ''];
  out.push('| measure | value | unit |', '|---|---:|---|');
  for (const r of result.rows) out.push(`| ${cell(r.label)} | ${formatValue(r.value, r.unit)} | ${cell(r.unit)} |`);
  out.push('');
  if (result.ratios.length > 0) {
    out.push('| ratio | value | verdict |', '|---|---:|---|');
    for (const r of result.ratios) out.push(`| ${cell(r.label)} | ${r.value.toFixed(3)} | ${verdict(r)} |`);
    out.push('');
  }
  if (result.notes.length > 0) {
    out.push('Notes:', '');
    for (const n of result.notes) out.push(`- ${n}`);
    out.push('');
  }
  return out.join('\n');
}
