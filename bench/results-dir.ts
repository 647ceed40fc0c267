/**
 * bench/results on disk: the benchmarks there are, reading latest.json, and writing the report
 * (latest.md, latest.json and the charts). Only the latest charts are kept: every SVG there is
 * removed before the new ones are written.
 */
import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { renderReportDocument } from './report-document.ts';
import { normaliseResults, type ResultsFile } from './results-file.ts';

export const BENCH_DIR = import.meta.dirname;
export const RESULTS_DIR = path.join(BENCH_DIR, 'results');
const SUFFIX = '.bench.ts';

/** Every bench/*.bench.ts, by name ("sender-throughput"), sorted. */
export function benchmarkNames(): string[] {
  return readdirSync(BENCH_DIR)
    .filter((f) => f.endsWith(SUFFIX))
    .map((f) => f.slice(0, -SUFFIX.length))
    .sort();
}

export function benchmarkFile(name: string): string {
  return path.join(BENCH_DIR, `${name}${SUFFIX}`);
}

/** latest.json of `dir`, undefined when there is none yet. */
export function readResults(dir = RESULTS_DIR): ResultsFile | undefined {
  const file = path.join(dir, 'latest.json');
  if (!existsSync(file)) return undefined;
  return normaliseResults(JSON.parse(readFileSync(file, 'utf8')));
}

/** Writes latest.json, latest.md and the charts into `dir`; returns the files written (names). */
export function writeReport(results: ResultsFile, allBenchmarks: readonly string[], dir = RESULTS_DIR): string[] {
  const doc = renderReportDocument(results, allBenchmarks);
  mkdirSync(dir, { recursive: true });
  for (const f of readdirSync(dir)) if (f.endsWith('.svg')) rmSync(path.join(dir, f));
  for (const c of doc.charts) writeFileSync(path.join(dir, c.fileName), c.svg);
  writeFileSync(path.join(dir, 'latest.md'), doc.markdown);
  writeFileSync(path.join(dir, 'latest.json'), `${JSON.stringify(results, null, 2)}\n`);
  return ['latest.md', 'latest.json', ...doc.charts.map((c) => c.fileName)];
}
