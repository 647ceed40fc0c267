/**
 * kill -9 of delivery worker processes at random moments while updates flow through the HTTP API:
 * three workers, each trial kills a ready one 50-1500 ms after the previous kill and starts a
 * replacement. Redis, Kamailio and the API stay up throughout.
 */
import type { ManagedProcess } from '../../harness/process.ts';
import { prng } from '../../support/prng.ts';
import { sleep } from '../../support/wait-for.ts';
import { UpdateLedger, seedMailboxes, startUpdateFlow } from '../load.ts';
import { startStage } from '../stage.ts';
import type { ChaosContext, ScenarioResult } from '../types.ts';

export const timeLimitMs = 270_000;

const TRIALS = 100;
/** Kept back from the time bound for the drain (up to 60 s) and the check. */
const SETTLE_RESERVE_MS = 90_000;
const WORKERS = 3;
const MAILBOXES = 2_000;

export async function run(ctx: ChaosContext): Promise<ScenarioResult> {
  const started = performance.now();
  const random = prng(ctx.seed);
  const stage = await startStage(ctx, { label: 'kill-workers', workers: WORKERS });
  const mailboxes = Array.from({ length: MAILBOXES }, (_, i) => `sip:${100_000 + i}@chaos.test`);
  const ledger = new UpdateLedger();

  const ready = new Set<ManagedProcess>(stage.workers);
  const starting = new Set<Promise<unknown>>();
  const startMs: number[] = [];
  const failedStarts: string[] = [];
  const replace = (trial: number): void => {
    const at = performance.now();
    const p = stage.spawnWorker(`r${trial}`).then(
      (w) => {
        startMs.push(performance.now() - at);
        ready.add(w);
      },
      (err: unknown) => void failedStarts.push(`replacement ${trial} did not start: ${String(err)}`),
    );
    starting.add(p);
    void p.finally(() => starting.delete(p));
  };

  await seedMailboxes(stage.client, ledger, stage.target, mailboxes);
  const flow = startUpdateFlow({ client: stage.client, mailboxes, target: stage.target, ledger, batchSize: 50, intervalMs: 100, lanes: 2, seed: ctx.seed + 1 });
  let trials = 0;
  let waitedForReadyMs = 0;
  try {
    const injectUntil = started + ctx.timeLimitMs - SETTLE_RESERVE_MS;
    while (trials < TRIALS && !ctx.signal.aborted && performance.now() < injectUntil) {
      if (ready.size === 0) {
        const waitFrom = performance.now();
        while (ready.size === 0 && starting.size > 0 && !ctx.signal.aborted) await Promise.race([...starting, sleep(100)]);
        waitedForReadyMs += performance.now() - waitFrom;
        if (ready.size === 0) break;
      }
      await sleep(50 + random() * 1_450);
      const live = [...ready];
      const victim = live[Math.floor(random() * live.length)];
      if (victim === undefined) continue;
      ready.delete(victim);
      await stage.watch.kill9(victim);
      trials++;
      replace(trials);
      if (trials % 20 === 0) ctx.note(`${trials} kills; ${flow.stats().accepted} updates accepted`);
    }
  } finally {
    await flow.stop();
  }
  await Promise.race([Promise.all([...starting]), sleep(Math.max(0, started + ctx.timeLimitMs - 75_000 - performance.now()))]);
  const { drainMs, report, problem } = await stage.settle(ledger, started + ctx.timeLimitMs - 15_000);
  const stats = flow.stats();
  const bounds = [...(problem === undefined ? [] : [problem]), ...(trials < TRIALS ? [`only ${trials} of ${TRIALS} kills fitted in the time bound (replacements took ${((startMs.at(-1) ?? 0) / 1000).toFixed(0)} s at most to start)`] : [])];
  const failures = [...stage.watch.crashes, ...failedStarts, ...bounds, ...report.failures];
  startMs.sort((a, b) => a - b);
  return {
    name: 'kill-workers',
    tried: `kill -9 of one of ${WORKERS} delivery worker processes every 50-1500 ms (a replacement started each time) under ${MAILBOXES} mailboxes of HTTP load`,
    trials,
    lost: report.lost + stage.watch.crashes.length + failedStarts.length + bounds.length,
    lostMeans:
      'a mailbox whose latest 202-answered version is not (or older than) what Kamailio holds under the runner\'s ETag once the queue drained; a process exit nobody caused (API, worker, replacement that failed to start); or a bound broken: all 100 kills within the time bound, the queue drained within 60 s of the last kill',
    failures,
    figures: {
      'updates 202': stats.accepted,
      'updates refused': stats.refused,
      'drain after load': drainMs === undefined ? 'not drained' : `${(drainMs / 1000).toFixed(1)} s`,
      'replacement ready (median)': `${((startMs[Math.floor(startMs.length / 2)] ?? 0) / 1000).toFixed(1)} s`,
      'duplicate presentities': report.duplicates,
      'waited for a ready worker': `${(waitedForReadyMs / 1000).toFixed(1)} s`,
      ...(stage.startRetries.length > 0 ? { 'worker start retries': stage.startRetries.length } : {}),
    },
    durationMs: performance.now() - started,
  };
}
