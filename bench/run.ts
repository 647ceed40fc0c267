/**
 * Runs the benchmarks: every bench/*.bench.ts (each exports `run(): Promise<BenchResult>`), one
 * after another, or only those named on the command line (`node bench/run.ts sender-throughput`).
 * Prints each result, merges them by name into bench/results/latest.json (a partial run keeps the
 * other benchmarks' latest results) and redraws latest.md and its charts from the merged file.
 * Exit code 1 when a benchmark crashed or timed out; a missed goal is reported, not an error.
 */
import os from 'node:os';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { renderMarkdown, type BenchResult } from './report.ts';
import { benchmarkFile, benchmarkNames, readResults, RESULTS_DIR, writeReport } from './results-dir.ts';
import { mergeResults, type BenchOutcome, type RunEnvironment } from './results-file.ts';

/** Per benchmark; the whole run is meant to stay within a few minutes. */
const BENCH_TIMEOUT_MS = 240_000;

function withTimeout<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_resolve, reject) => {
    timer = setTimeout(() => reject(new Error(`${what} did not finish within ${ms} ms`)), ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

async function runOne(name: string): Promise<BenchOutcome> {
  const started = performance.now();
  try {
    const mod = (await import(pathToFileURL(benchmarkFile(name)).href)) as { run?: () => Promise<BenchResult> };
    if (typeof mod.run !== 'function') throw new Error(`${name}.bench.ts does not export run()`);
    const result = await withTimeout(mod.run(), BENCH_TIMEOUT_MS, name);
    return { name, elapsedMs: performance.now() - started, result };
  } catch (err) {
    return { name, elapsedMs: performance.now() - started, error: err instanceof Error ? (err.stack ?? err.message) : String(err) };
  }
}

function environment(): RunEnvironment {
  const cpus = os.cpus();
  return {
    date: new Date().toISOString(),
    node: process.version,
    nodeFlags: [...process.execArgv, process.env.NODE_OPTIONS ?? ''].filter((f) => f !== '').join(' ') || '(none)',
    cpuModel: cpus[0]?.model.trim() ?? 'unknown',
    cpus: cpus.length,
    platform: `${os.type()} ${os.release()} ${os.arch()}`,
    loadAverageAtStart: os.loadavg().map((l) => Number(l.toFixed(2))),
  };
}

/** Runs the named benchmarks (all when none), prints them, merges them into latest.json and redraws the report; the exit code. */
export async function runBenchmarks(asked: readonly string[]): Promise<number> {
  const all = benchmarkNames();
  const unknown = asked.filter((n) => !all.includes(n));
  if (unknown.length > 0) {
    console.error(`unknown benchmark(s): ${unknown.join(', ')}; available: ${all.join(', ')}`);
    return 2;
  }
  const names = asked.length > 0 ? all.filter((n) => asked.includes(n)) : all;
  const env = environment();
  console.log(`node ${env.node}, ${env.cpuModel} x${env.cpus}; running ${names.join(', ')}`);

  const outcomes: BenchOutcome[] = [];
  for (const name of names) {
    console.log(`\n--- ${name} ...`);
    const o = await runOne(name);
    outcomes.push(o);
    console.log(o.result ? renderMarkdown(o.result) : `${name} CRASHED after ${Math.round(o.elapsedMs)} ms:\n${o.error ?? ''}`);
  }

  const merged = mergeResults(readResults(), env, outcomes, all);
  const written = writeReport(merged, all);
  console.log(`\nwrote ${written.join(', ')} in ${path.relative(process.cwd(), RESULTS_DIR) || '.'}` + (names.length < all.length ? ` (merged: ${names.join(', ')} from this run, the rest kept)` : ''));
  return outcomes.some((o) => o.error !== undefined) ? 1 : 0;
}

// process.exit, not exitCode: a timed-out benchmark may leave sockets open; the harness's exit
// hook then kills any SIPp it started. (A benchmark run as a script imports runBenchmarks.)
if (import.meta.main) process.exit(await runBenchmarks(process.argv.slice(2)));
