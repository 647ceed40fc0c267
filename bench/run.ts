/**
 * Runs the benchmarks: every bench/*.bench.ts (each exports `run(): Promise<BenchResult>`), one
 * after another, each in a process of its own (bench/run-one.ts), or only those named on the
 * command line (`node bench/run.ts sender-throughput`).
 * Prints each result, merges them by name into bench/results/latest.json (a partial run keeps the
 * other benchmarks' latest results) and redraws latest.md and its charts from the merged file.
 * Exit code 1 when a benchmark crashed or timed out; a missed goal is reported, not an error.
 */
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { renderMarkdown } from './report.ts';
import { benchmarkNames, readResults, RESULTS_DIR, writeReport } from './results-dir.ts';
import { BENCH_TIMEOUT_MS } from './run-one.ts';
import { mergeResults, type BenchOutcome, type RunEnvironment } from './results-file.ts';

/** A benchmark that has not ended this long after its own deadline is killed (it may be wedged in native code). */
const KILL_GRACE_MS = 30_000;

/**
 * Runs one benchmark in a child process of its own (bench/run-one.ts) with this process's Node
 * flags, so that no benchmark measures a heap or JIT state the previous ones left behind.
 */
async function runIsolated(name: string): Promise<BenchOutcome> {
  const started = performance.now();
  const dir = mkdtempSync(path.join(os.tmpdir(), 'mwi-bench-'));
  const out = path.join(dir, 'outcome.json');
  try {
    const child = spawn(process.execPath, [...process.execArgv, path.join(import.meta.dirname, 'run-one.ts'), name, out], { stdio: 'inherit' });
    const killer = setTimeout(() => child.kill('SIGKILL'), BENCH_TIMEOUT_MS + KILL_GRACE_MS);
    const [code, signal] = (await once(child, 'exit')) as [number | null, NodeJS.Signals | null];
    clearTimeout(killer);
    if (!existsSync(out)) return { name, elapsedMs: performance.now() - started, error: `the benchmark process ended (${signal ?? `exit code ${code}`}) without an outcome` };
    return JSON.parse(readFileSync(out, 'utf8')) as BenchOutcome;
  } catch (err) {
    return { name, elapsedMs: performance.now() - started, error: err instanceof Error ? (err.stack ?? err.message) : String(err) };
  } finally {
    rmSync(dir, { recursive: true, force: true });
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
    const o = await runIsolated(name);
    outcomes.push(o);
    console.log(o.result ? renderMarkdown(o.result) : `${name} CRASHED after ${Math.round(o.elapsedMs)} ms:\n${o.error ?? ''}`);
  }

  const merged = mergeResults(readResults(), env, outcomes, all);
  const written = writeReport(merged, all);
  console.log(`\nwrote ${written.join(', ')} in ${path.relative(process.cwd(), RESULTS_DIR) || '.'}` + (names.length < all.length ? ` (merged: ${names.join(', ')} from this run, the rest kept)` : ''));
  return outcomes.some((o) => o.error !== undefined) ? 1 : 0;
}

// (A benchmark run as a script imports runBenchmarks.)
if (import.meta.main) process.exit(await runBenchmarks(process.argv.slice(2)));
