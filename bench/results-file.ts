/**
 * bench/results/latest.json: the latest result of every benchmark, each with the run that made it.
 * A run merges into it by benchmark name: the benchmarks it ran replace their entries, the others
 * keep theirs (with their own dates), so a partial run never erases another benchmark's figures.
 * A crash replaces an entry too, but keeps the result it replaced as `lastResult`.
 */
import type { BenchResult } from './report.ts';

/** Where and when a benchmark ran: other work on the machine skews the figures. */
export interface RunEnvironment {
  date: string;
  node: string;
  nodeFlags: string;
  cpuModel: string;
  cpus: number;
  platform: string;
  /** 1/5/15-minute load averages when the run started. */
  loadAverageAtStart: number[];
}

export interface BenchOutcome {
  name: string;
  elapsedMs: number;
  result?: BenchResult;
  error?: string;
}

export interface BenchEntry extends BenchOutcome {
  run: RunEnvironment;
  /** On a crash: the result it replaced, with its own run. */
  lastResult?: { run: RunEnvironment; elapsedMs: number; result: BenchResult };
}

export interface ResultsFile {
  /** The run that wrote this file last, and which benchmarks it ran (all of them or a part). */
  lastRun: RunEnvironment & { benchmarks: string[] };
  /** By name. */
  benchmarks: BenchEntry[];
}

const ENV_KEYS = ['date', 'node', 'nodeFlags', 'cpuModel', 'cpus', 'platform', 'loadAverageAtStart'] as const;

function environmentOf(o: Record<string, unknown>): RunEnvironment {
  const env = {} as Record<string, unknown>;
  for (const k of ENV_KEYS) env[k] = o[k];
  return env as unknown as RunEnvironment;
}

function isStringArray(v: unknown): v is string[] {
  return Array.isArray(v) && v.every((n) => typeof n === 'string');
}

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/**
 * A parsed latest.json in the current shape. Also reads the earlier shape (one run per file: the
 * environment at the top, entries without `run`), giving every entry the file's environment.
 */
export function normaliseResults(parsed: unknown): ResultsFile {
  if (!isRecord(parsed) || !Array.isArray(parsed.benchmarks)) throw new Error('not a benchmark results file (no "benchmarks" array)');
  const topLevel = isRecord(parsed.lastRun) ? parsed.lastRun : parsed;
  const fileEnv = environmentOf(topLevel);
  const benchmarks = (parsed.benchmarks as unknown[]).filter(isRecord).map((b) => {
    const entry = b as unknown as BenchEntry;
    return isRecord(b.run) ? entry : { ...entry, run: fileEnv };
  });
  const listed = topLevel.benchmarks;
  const names = isStringArray(listed) ? listed : benchmarks.map((b) => b.name);
  return { lastRun: { ...fileEnv, benchmarks: names }, benchmarks: benchmarks.sort((a, b) => a.name.localeCompare(b.name)) };
}

/**
 * `previous` (when there is one) with this run's outcomes merged in by name. Entries of benchmarks
 * that no longer exist (not in `known`) are dropped.
 */
export function mergeResults(previous: ResultsFile | undefined, run: RunEnvironment, outcomes: readonly BenchOutcome[], known: readonly string[]): ResultsFile {
  const byName = new Map<string, BenchEntry>();
  for (const e of previous?.benchmarks ?? []) if (known.includes(e.name)) byName.set(e.name, e);
  for (const o of outcomes) {
    const before = byName.get(o.name);
    const entry: BenchEntry = { ...o, run };
    if (o.result === undefined && before !== undefined) {
      const kept = before.result !== undefined ? { run: before.run, elapsedMs: before.elapsedMs, result: before.result } : before.lastResult;
      if (kept !== undefined) entry.lastResult = kept;
    }
    byName.set(o.name, entry);
  }
  return {
    lastRun: { ...run, benchmarks: outcomes.map((o) => o.name) },
    benchmarks: [...byName.values()].sort((a, b) => a.name.localeCompare(b.name)),
  };
}
