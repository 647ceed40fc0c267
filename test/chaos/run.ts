/**
 * `npm run chaos [-- NAME...]`: runs the fault scenarios of test/chaos/scenarios/*.chaos.ts one
 * after another against real processes, each within a hard time bound, prints what was tried and
 * what was lost, and writes test/chaos/results/latest.{md,json} (only the latest run is kept).
 *
 * Exit 0 when nothing was lost; 1 when something was lost, a scenario threw or timed out, or a
 * process crashed; 2 on an unknown scenario name. CHAOS_SEED=n replays a run's randomness.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { pathToFileURL } from 'node:url';

import { renderMarkdown, renderTable, verdictOf, type RunReport, type ScenarioOutcome } from './report.ts';
import type { ChaosContext, ScenarioModule, ScenarioResult } from './types.ts';

const SCENARIO_DIR = path.join(import.meta.dirname, 'scenarios');
const RESULTS_DIR = path.join(import.meta.dirname, 'results');
const SUFFIX = '.chaos.ts';
/** The order of the README; scenarios not listed here run after these, by name. */
const ORDER = ['kill-workers', 'redis-restart', 'presence-silent', 'dns-faults', 'malformed-sip', 'api-fuzz', 'redis-outage-many-workers'];
/** The whole suite stays under 20 minutes: a scenario gets at most what is left of this. */
const SUITE_BUDGET_MS = 19 * 60_000;
const DEFAULT_LIMIT_MS = 180_000;
/** After its bound, a scenario has this long to return what it saw before it is abandoned. */
const ABORT_GRACE_MS = 20_000;
const CLEANUP_LIMIT_MS = 30_000;
const MIN_USEFUL_MS = 30_000;

function note(name: string, message: string): void {
  process.stderr.write(`[chaos ${new Date().toISOString().slice(11, 19)} ${name}] ${message}\n`);
}

function available(): string[] {
  const names = fs
    .readdirSync(SCENARIO_DIR)
    .filter((f) => f.endsWith(SUFFIX))
    .map((f) => f.slice(0, -SUFFIX.length));
  const rank = (n: string): number => (ORDER.includes(n) ? ORDER.indexOf(n) : ORDER.length);
  return names.sort((a, b) => rank(a) - rank(b) || a.localeCompare(b));
}

/** `p`, or 'timeout' once `ms` passed (the timer is cleared either way). */
async function within<T>(p: Promise<T>, ms: number): Promise<T | 'timeout'> {
  let timer: NodeJS.Timeout | undefined;
  try {
    return await Promise.race([p, new Promise<'timeout'>((resolve) => (timer = setTimeout(() => resolve('timeout'), ms)))]);
  } finally {
    clearTimeout(timer);
  }
}

function stub(name: string, durationMs: number, why: string): ScenarioResult {
  return { name, tried: why, trials: 0, lost: 0, lostMeans: 'the scenario did not finish, so nothing could be checked', figures: {}, durationMs };
}

/** Errors that escape into the runner process while a scenario runs (its in-process parts). */
const escaped: string[] = [];
process.on('uncaughtException', (err) => escaped.push(`uncaught exception in the runner process: ${err.stack ?? String(err)}`));
process.on('unhandledRejection', (err) => escaped.push(`unhandled rejection in the runner process: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}`));

async function runOne(name: string, limitMs: number, seed: number): Promise<ScenarioOutcome> {
  const started = performance.now();
  const controller = new AbortController();
  const cleanups: Array<() => Promise<void> | void> = [];
  const ctx: ChaosContext = {
    seed,
    signal: controller.signal,
    timeLimitMs: limitMs,
    defer: (fn) => void cleanups.push(fn),
    note: (message) => note(name, message),
  };
  const escapedBefore = escaped.length;
  let problem: string | undefined;
  let timedOut = false;
  let result: ScenarioResult | undefined;
  try {
    const mod = (await import(pathToFileURL(path.join(SCENARIO_DIR, `${name}${SUFFIX}`)).href)) as ScenarioModule;
    const running = mod.run(ctx);
    running.catch(() => undefined); // settled below, or abandoned after the grace period
    const first = await within(running, limitMs);
    if (first === 'timeout') {
      timedOut = true;
      controller.abort();
      note(name, `time bound of ${Math.round(limitMs / 1000)} s reached: aborting`);
      const late = await within(running.catch(() => undefined), ABORT_GRACE_MS);
      if (late !== 'timeout' && late !== undefined) result = late;
    } else {
      result = first;
    }
  } catch (err) {
    problem = `the scenario threw: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}`;
  }
  for (const cleanup of cleanups.reverse()) {
    try {
      if ((await within(Promise.resolve(cleanup()), CLEANUP_LIMIT_MS)) === 'timeout') note(name, `a cleanup took over ${CLEANUP_LIMIT_MS / 1000} s; moving on`);
    } catch (err) {
      note(name, `cleanup failed: ${String(err)}`);
    }
  }
  const durationMs = performance.now() - started;
  if (escaped.length > escapedBefore) problem = [problem, ...escaped.slice(escapedBefore)].filter(Boolean).join('\n');
  const final = result ?? stub(name, durationMs, timedOut ? `timed out after ${Math.round(limitMs / 1000)} s` : 'threw before it could report');
  final.durationMs = durationMs;
  return { result: final, verdict: verdictOf(final, problem, timedOut), ...(problem === undefined ? {} : { problem }) };
}

async function main(): Promise<number> {
  const all = available();
  const asked = process.argv.slice(2).filter((a) => a !== '--');
  const unknown = asked.filter((n) => !all.includes(n));
  if (unknown.length > 0) {
    process.stderr.write(`unknown scenario(s): ${unknown.join(', ')}; available: ${all.join(', ')}\n`);
    return 2;
  }
  const names = asked.length > 0 ? all.filter((n) => asked.includes(n)) : all;
  const seed = Number(process.env.CHAOS_SEED ?? Date.now() % 1_000_000_000);
  const loadAverageAtStart = os.loadavg();
  const started = performance.now();
  const outcomes: ScenarioOutcome[] = [];
  for (const name of names) {
    const mod = (await import(pathToFileURL(path.join(SCENARIO_DIR, `${name}${SUFFIX}`)).href)) as ScenarioModule;
    const left = SUITE_BUDGET_MS - (performance.now() - started) - CLEANUP_LIMIT_MS;
    if (left < MIN_USEFUL_MS) {
      outcomes.push({ result: stub(name, 0, 'not run: the suite budget was spent'), verdict: 'SKIPPED' });
      continue;
    }
    const limitMs = Math.min(mod.timeLimitMs ?? DEFAULT_LIMIT_MS, left);
    note(name, `start (bound ${Math.round(limitMs / 1000)} s, seed ${seed})`);
    const outcome = await runOne(name, limitMs, seed);
    note(name, `${outcome.verdict}: ${outcome.result.trials} trials, ${outcome.result.lost} lost, ${(outcome.result.durationMs / 1000).toFixed(1)} s`);
    outcomes.push(outcome);
  }
  const exitCode = outcomes.every((o) => o.verdict === 'PASS') ? 0 : 1;
  const report: RunReport = {
    date: new Date().toISOString(),
    node: process.version,
    host: { cpus: os.availableParallelism(), loadAverageAtStart, loadAverageAtEnd: os.loadavg() },
    seed,
    command: `npm run chaos${asked.length > 0 ? ` -- ${asked.join(' ')}` : ''}`,
    totalMs: performance.now() - started,
    exitCode,
    scenarios: outcomes,
  };
  fs.mkdirSync(RESULTS_DIR, { recursive: true });
  fs.writeFileSync(path.join(RESULTS_DIR, 'latest.md'), renderMarkdown(report));
  fs.writeFileSync(path.join(RESULTS_DIR, 'latest.json'), `${JSON.stringify(report, null, 2)}\n`);
  process.stdout.write(`\n${renderTable(outcomes)}\n\n`);
  for (const { result: r, problem } of outcomes) {
    if (r.lost === 0 && problem === undefined) continue;
    process.stdout.write(`${r.name}: lost means ${r.lostMeans}\n`);
    if (problem !== undefined) process.stdout.write(`  ${problem}\n`);
    for (const f of r.failures ?? []) process.stdout.write(`  ${f}\n`);
  }
  process.stdout.write(`total ${((performance.now() - started) / 1000).toFixed(1)} s, seed ${seed}; written to ${path.relative(process.cwd(), RESULTS_DIR)}/latest.md and latest.json\n`);
  return exitCode;
}

process.exitCode = await main();
// Sockets or timers a scenario left behind must not keep the run alive; the harness kills every child at exit.
process.exit();
