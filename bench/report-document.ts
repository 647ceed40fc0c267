/**
 * latest.md and its charts, from the merged results alone (latest.json): the summary table, where
 * and when each benchmark ran (which of them the last run made), then each benchmark's section
 * with its charts linked beside it.
 */
import { benchmarkCharts } from './charts/benchmark-charts.ts';
import type { RenderedChart } from './charts/rendered-chart.ts';
import { cell, formatRatio, formatValue, goalText, renderMarkdown, type BenchResult } from './report.ts';
import type { BenchEntry, ResultsFile, RunEnvironment } from './results-file.ts';

export interface ReportDocument {
  markdown: string;
  charts: RenderedChart[];
}

function fromLastRun(file: ResultsFile, name: string, run: RunEnvironment): boolean {
  return run.date === file.lastRun.date && file.lastRun.benchmarks.includes(name);
}

function rowFigure(result: BenchResult, label: string | undefined): string {
  if (label === undefined) return '';
  const row = result.rows.find((r) => r.label === label);
  if (row === undefined) return '';
  // A count or a ratio reads as a plain number; other units follow the figure.
  return row.unit === 'count' || row.unit === 'ratio' ? formatValue(row.value, row.unit) : `${formatValue(row.value, row.unit)} ${row.unit}`;
}

/** One line per ratio that has a goal or names the figures it compares. */
function ratioRows(name: string, result: BenchResult): string[] {
  return result.ratios
    .filter((r) => r.goal !== undefined || r.oursRow !== undefined || r.referenceRow !== undefined)
    .map((r) => {
      const verdict = r.goal === undefined ? '' : r.pass ? 'PASS' : 'FAIL';
      return `| ${cell(name)} | ${cell(rowFigure(result, r.oursRow))} | ${cell(rowFigure(result, r.referenceRow))} | ${cell(r.label)}: ${formatRatio(r.value)} | ${goalText(r)} | ${verdict} |`;
    });
}

/** A crashed benchmark: the crash, then the result it replaced (marked with its date). */
function summaryRows(e: BenchEntry): string[] {
  if (e.result !== undefined) return ratioRows(e.name, e.result);
  const crash = `| ${e.name} | CRASHED on ${e.run.date} | | | | FAIL |`;
  return e.lastResult === undefined ? [crash] : [crash, ...ratioRows(`${e.name} (before the crash: ${e.lastResult.run.date})`, e.lastResult.result)];
}

function seconds(ms: number): string {
  return `${Math.round(ms / 1000)} s`;
}

function runRow(file: ResultsFile, name: string, run: RunEnvironment, elapsedMs: number, note: string): string {
  const load = Array.isArray(run.loadAverageAtStart) ? run.loadAverageAtStart.join(' / ') : '?';
  return `| ${name} | ${run.date}${fromLastRun(file, name, run) ? ' (last run)' : ''}${note} | ${seconds(elapsedMs)} | ${load} | ${cell(`${run.node}, ${run.nodeFlags}`)} | ${cell(`${run.cpuModel} x${run.cpus}, ${run.platform}`)} |`;
}

function section(e: BenchEntry, charts: RenderedChart[]): string {
  if (e.result !== undefined) return renderMarkdown(e.result, 2, charts);
  const out = [`## ${e.name}`, '', `CRASHED on ${e.run.date} after ${seconds(e.elapsedMs)}:`, '', '```', e.error ?? '', '```', ''];
  if (e.lastResult !== undefined) {
    out.push(`The result before the crash, from ${e.lastResult.run.date}:`, '', renderMarkdown(e.lastResult.result, 3, charts));
  }
  return out.join('\n');
}

export function renderReportDocument(file: ResultsFile, allBenchmarks: readonly string[]): ReportDocument {
  const last = file.lastRun;
  const partial = last.benchmarks.length < allBenchmarks.length;
  const missing = allBenchmarks.filter((n) => !file.benchmarks.some((e) => e.name === n));
  const out = [
    '# Benchmark results',
    '',
    'Written by `npm run bench` (bench/run.ts) from `latest.json`, which keeps the latest result of every benchmark; ' +
      '`npm run bench:report` redraws this page and its charts from it without running anything.',
    '',
    `Last run: ${last.date}, ${last.benchmarks.join(', ') || 'nothing'}` +
      (partial ? ` — a partial run (${last.benchmarks.length} of ${allBenchmarks.length}); the other results are from earlier runs, dated below.` : ' — every benchmark.'),
    ...(missing.length > 0 ? ['', `No result yet: ${missing.join(', ')}.`] : []),
    '',
    '## Summary',
    '',
    '| benchmark | ours | reference | ratio | goal | verdict |',
    '|---|---:|---:|---|---|---|',
    ...file.benchmarks.flatMap(summaryRows),
    '',
    '## Runs',
    '',
    '| benchmark | measured | took | load average at start (1/5/15 min) | Node, flags | machine |',
    '|---|---|---:|---|---|---|',
  ];
  for (const e of file.benchmarks) {
    out.push(runRow(file, e.name, e.run, e.elapsedMs, e.result === undefined ? ' CRASHED' : ''));
    if (e.lastResult !== undefined) out.push(runRow(file, `${e.name} (before the crash)`, e.lastResult.run, e.lastResult.elapsedMs, ''));
  }
  out.push('');
  const charts: RenderedChart[] = [];
  for (const e of file.benchmarks) {
    const shown = e.result ?? e.lastResult?.result;
    const own = shown === undefined ? [] : benchmarkCharts(shown);
    charts.push(...own);
    out.push(section(e, own));
  }
  return { markdown: out.join('\n'), charts };
}
