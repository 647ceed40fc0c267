/**
 * The presence server goes silent: Kamailio SIGSTOPped for two minutes under HTTP load, then
 * SIGCONT. A UDP relay in front of it records every request that reached it. Two delivery worker
 * processes: the breaker must open within twice the transaction timeout, only OPTIONS probes may
 * reach the silent server after that, and once it is back every mailbox must reach its latest state.
 */
import type { ManagedProcess } from '../../harness/process.ts';
import { sleep } from '../../support/wait-for.ts';
import { UpdateLedger, seedMailboxes, startUpdateFlow } from '../load.ts';
import { startStage } from '../stage.ts';
import type { ChaosContext, ScenarioResult } from '../types.ts';

export const timeLimitMs = 270_000;

const MAILBOXES = 1_000;
const SILENT_MS = 120_000;
const TRANSACTION_TIMEOUT_MS = 2_000;
/** Requests already on their way when the breaker opened are not new traffic. */
const OPEN_SETTLE_MS = 200;

async function openedAt(workers: readonly ManagedProcess[]): Promise<number | undefined> {
  let first: number | undefined;
  for (const w of workers) {
    for (const line of (await w.logText()).split('\n')) {
      if (!line.startsWith('{') || !line.includes('"breaker opened"')) continue;
      try {
        const entry = JSON.parse(line) as { time?: number; msg?: string };
        if (entry.msg === 'breaker opened' && typeof entry.time === 'number') first = Math.min(first ?? Infinity, entry.time);
      } catch {
        // a line cut by a concurrent write
      }
    }
  }
  return first;
}

export async function run(ctx: ChaosContext): Promise<ScenarioResult> {
  const started = performance.now();
  const stage = await startStage(ctx, {
    label: 'presence-silent',
    relay: true,
    workers: 2,
    workerEnv: {
      MWI_SIP__TRANSACTION_TIMEOUT_MS: String(TRANSACTION_TIMEOUT_MS),
      MWI_DELIVERY__LEASE_MS: String(4 * TRANSACTION_TIMEOUT_MS),
      MWI_DELIVERY__RETRY_BASE_MS: '500',
      MWI_DELIVERY__RETRY_MAX_MS: '5000',
      MWI_DELIVERY__CONCURRENCY: '100',
      MWI_BREAKER__PROBE_BASE_MS: '500',
      MWI_BREAKER__PROBE_MAX_MS: '3000',
      MWI_RATE__INITIAL_PER_SEC: '100',
    },
  });
  const workers = stage.workers;
  const relay = stage.relay;
  if (relay === undefined) throw new Error('the stage has no relay');
  const mailboxes = Array.from({ length: MAILBOXES }, (_, i) => `sip:${500_000 + i}@chaos.test`);
  const ledger = new UpdateLedger();
  await seedMailboxes(stage.client, ledger, stage.target, mailboxes);
  await stage.drained(30_000);

  const flow = startUpdateFlow({ client: stage.client, mailboxes, target: stage.target, ledger, batchSize: 20, intervalMs: 250, seed: ctx.seed });
  const failures: string[] = [];
  let pausedAt = 0;
  let resumedAt = 0;
  let opened: number | undefined;
  let silentMs = SILENT_MS;
  try {
    await sleep(2_000);
    silentMs = Math.min(SILENT_MS, started + ctx.timeLimitMs - 85_000 - performance.now());
    if (silentMs < SILENT_MS) failures.push(`the silence was cut to ${Math.round(silentMs / 1000)} s to fit the time bound (set-up took ${Math.round((performance.now() - started) / 1000)} s)`);
    pausedAt = Date.now();
    stage.kam.pause();
    try {
      while (Date.now() - pausedAt < silentMs && !ctx.signal.aborted) {
        await sleep(1_000);
        if (opened === undefined) opened = await openedAt(workers);
      }
    } finally {
      resumedAt = Date.now();
      stage.kam.resume();
    }
    ctx.note(`silent for ${Math.round((resumedAt - pausedAt) / 1000)} s; resumed`);
    await sleep(5_000); // updates keep coming during the recovery
  } finally {
    await flow.stop();
  }
  const settleFrom = Date.now();
  const { drainMs, report, problem } = await stage.settle(ledger, started + ctx.timeLimitMs - 15_000);

  const openMs = opened === undefined ? undefined : opened - pausedAt;
  const quietFrom = (opened ?? pausedAt) + OPEN_SETTLE_MS;
  const during = relay.requests.filter((r) => r.first && r.atMs >= quietFrom && r.atMs < resumedAt);
  const publishes = during.filter((r) => r.method === 'PUBLISH').length;
  const probes = during.filter((r) => r.method === 'OPTIONS').length;
  const retransmissions = relay.requests.filter((r) => !r.first && r.atMs >= quietFrom && r.atMs < resumedAt).length;
  if (openMs === undefined) failures.push('no breaker opened during the silence');
  else if (openMs > 2 * TRANSACTION_TIMEOUT_MS) failures.push(`the breaker opened ${openMs} ms after the silence began (limit ${2 * TRANSACTION_TIMEOUT_MS} ms)`);
  if (publishes > 0) failures.push(`${publishes} new PUBLISH transactions reached the silent server after the breaker opened`);
  if (probes === 0) failures.push('no probe checked the silent server');
  if (problem !== undefined) failures.push(problem);
  const stats = flow.stats();
  return {
    name: 'presence-silent',
    tried: `Kamailio SIGSTOPped for ${Math.round((resumedAt - pausedAt) / 1000)} s under HTTP load (${MAILBOXES} mailboxes, 80 updates/s), then SIGCONT; 2 workers`,
    trials: 1,
    lost: report.lost + stage.watch.crashes.length + failures.length,
    lostMeans:
      'a mailbox whose latest 202-answered version is not (or older than) what Kamailio holds under the runner\'s ETag after the drain; a process exit nobody caused; or a bound broken: breaker open within 2x the transaction timeout (4 s), no new PUBLISH reaching the silent server after that, probes going on, drained within 60 s of SIGCONT',
    failures: [...stage.watch.crashes, ...failures, ...report.failures],
    figures: {
      'breaker open after': openMs === undefined ? 'never' : `${openMs} ms`,
      'PUBLISH during silence': publishes,
      'OPTIONS probes': probes,
      'retransmissions during silence': retransmissions,
      'drained after SIGCONT': drainMs === undefined ? 'not drained' : `${((settleFrom + drainMs - resumedAt) / 1000).toFixed(1)} s`,
      'updates 202': stats.accepted,
      'duplicate presentities': report.duplicates,
      ...(stage.startRetries.length > 0 ? { 'worker start retries': stage.startRetries.length } : {}),
    },
    durationMs: performance.now() - started,
  };
}
