/**
 * Runs the benchmarks: every bench/*.bench.ts (each exports `run(): Promise<BenchResult>`), one
 * after another, or only those named on the command line (`node bench/run.ts sender-throughput`).
 * Prints each result and writes bench/results/latest.md and latest.json (the latest run only).
 * Exit code 1 when a benchmark crashed or timed out; a missed goal is reported, not an error.
 */
import { mkdirSync, readdirSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { renderMarkdown, type BenchResult } from './report.ts';

const BENCH_DIR = import.meta.dirname;
const RESULTS_DIR = path.join(BENCH_DIR, 'results');
const SUFFIX = '.bench.ts';
/** Per benchmark; the whole run is meant to stay within a few minutes. */
const BENCH_TIMEOUT_MS = 240_000;

interface Outcome {
  name: string;
  elapsedMs: number;
  result?: BenchResult;
  error?: string;
}

function withTimeout<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_resolve, reject) => {
    timer = setTimeout(() => reject(new Error(`${what} did not finish within ${ms} ms`)), ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

async function runOne(name: string): Promise<Outcome> {
  const started = performance.now();
  try {
    const mod = (await import(pathToFileURL(path.join(BENCH_DIR, `${name}${SUFFIX}`)).href)) as { run?: () => Promise<BenchResult> };
    if (typeof mod.run !== 'function') throw new Error(`${name}${SUFFIX} does not export run()`);
    const result = await withTimeout(mod.run(), BENCH_TIMEOUT_MS, name);
    return { name, elapsedMs: performance.now() - started, result };
  } catch (err) {
    return { name, elapsedMs: performance.now() - started, error: err instanceof Error ? (err.stack ?? err.message) : String(err) };
  }
}

function environment() {
  const cpus = os.cpus();
  return {
    date: new Date().toISOString(),
    node: process.version,
    nodeFlags: [...process.execArgv, process.env.NODE_OPTIONS ?? ''].filter((f) => f !== '').join(' ') || '(none)',
    cpuModel: cpus[0]?.model.trim() ?? 'unknown',
    cpus: cpus.length,
    platform: `${os.type()} ${os.release()} ${os.arch()}`,
    /** 1/5/15-minute load averages when the run started: other work on the machine skews the figures. */
    loadAverageAtStart: os.loadavg().map((l) => Number(l.toFixed(2))),
  };
}

function renderReport(env: ReturnType<typeof environment>, outcomes: Outcome[], all: string[]): string {
  const out = [
    '# Benchmark results',
    '',
    `- Date: ${env.date}`,
    `- Node: ${env.node}, flags: ${env.nodeFlags}`,
    `- CPU: ${env.cpuModel} (${env.cpus} CPUs)`,
    `- Platform: ${env.platform}`,
    `- Load average at start (1/5/15 min): ${env.loadAverageAtStart.join(' / ')}`,
    `- Benchmarks: ${outcomes.map((o) => `${o.name} (${(o.elapsedMs / 1000).toFixed(0)} s)`).join(', ')}` +
      (outcomes.length < all.length ? ` — a partial run (${outcomes.length} of ${all.length})` : ''),
    '',
  ];
  for (const o of outcomes) {
    if (o.result) out.push(renderMarkdown(o.result));
    else out.push(`## ${o.name}`, '', 'CRASHED:', '', '```', o.error ?? '', '```', '');
  }
  return out.join('\n');
}

/** Runs the named benchmarks (all when none), prints them and writes latest.md / latest.json; the exit code. */
export async function runBenchmarks(asked: readonly string[]): Promise<number> {
  const all = readdirSync(BENCH_DIR)
    .filter((f) => f.endsWith(SUFFIX))
    .map((f) => f.slice(0, -SUFFIX.length))
    .sort();
  const unknown = asked.filter((n) => !all.includes(n));
  if (unknown.length > 0) {
    console.error(`unknown benchmark(s): ${unknown.join(', ')}; available: ${all.join(', ')}`);
    return 2;
  }
  const names = asked.length > 0 ? all.filter((n) => asked.includes(n)) : all;
  const env = environment();
  console.log(`node ${env.node}, ${env.cpuModel} x${env.cpus}; running ${names.join(', ')}`);

  const outcomes: Outcome[] = [];
  for (const name of names) {
    console.log(`\n--- ${name} ...`);
    const o = await runOne(name);
    outcomes.push(o);
    console.log(o.result ? renderMarkdown(o.result) : `${name} CRASHED after ${Math.round(o.elapsedMs)} ms:\n${o.error ?? ''}`);
  }

  mkdirSync(RESULTS_DIR, { recursive: true });
  writeFileSync(path.join(RESULTS_DIR, 'latest.md'), renderReport(env, outcomes, all));
  writeFileSync(path.join(RESULTS_DIR, 'latest.json'), `${JSON.stringify({ ...env, benchmarks: outcomes }, null, 2)}\n`);
  console.log(`\nwrote ${path.relative(process.cwd(), path.join(RESULTS_DIR, 'latest.md'))} and latest.json`);
  return outcomes.some((o) => o.error !== undefined) ? 1 : 0;
}

// process.exit, not exitCode: a timed-out benchmark may leave sockets open; the harness's exit
// hook then kills any SIPp it started. (A benchmark run as a script imports runBenchmarks.)
if (import.meta.main) process.exit(await runBenchmarks(process.argv.slice(2)));
