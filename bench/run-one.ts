/**
 * Runs one benchmark in this process and writes its outcome (BenchOutcome as JSON) to a file:
 * `node bench/run-one.ts <name> <outcome.json>`. bench/run.ts starts one of these per benchmark,
 * so each measures a fresh V8 heap and JIT (in one process, what the earlier benchmarks left in
 * the heap slowed the later ones: the sender measured 34k tx/s after four others, 42k alone).
 */
import { writeFileSync } from 'node:fs';
import { pathToFileURL } from 'node:url';
import type { BenchResult } from './report.ts';
import { benchmarkFile } from './results-dir.ts';
import type { BenchOutcome } from './results-file.ts';

/** Per benchmark; the whole run is meant to stay within a few minutes. */
export const BENCH_TIMEOUT_MS = 240_000;

function withTimeout<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_resolve, reject) => {
    timer = setTimeout(() => reject(new Error(`${what} did not finish within ${ms} ms`)), ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

export async function runOne(name: string): Promise<BenchOutcome> {
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

// process.exit, not exitCode: a timed-out benchmark may leave sockets open; the harness's exit
// hook then kills any SIPp it started.
if (import.meta.main) {
  const [name, out] = process.argv.slice(2);
  if (name === undefined || out === undefined) {
    console.error('usage: node bench/run-one.ts <benchmark> <outcome.json>');
    process.exit(2);
  }
  writeFileSync(out, JSON.stringify(await runOne(name)));
  process.exit(0);
}
