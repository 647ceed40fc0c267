/**
 * Redis restarted under load, five times: SIGKILL (a crash) or SIGTERM (a clean shutdown), then
 * started again on the same port and AOF data dir (appendfsync everysec: Redis writes the AOF
 * before it replies, so an acknowledged write survives a crash of the process). The API process
 * and two delivery workers must ride through every restart, and every update answered 202 must
 * end up at Kamailio.
 */
import type { RedisHandle } from '../../harness/redis.ts';
import { pollUntil, sleep } from '../../support/wait-for.ts';
import { UpdateLedger, seedMailboxes, startUpdateFlow } from '../load.ts';
import { startStage } from '../stage.ts';
import type { ChaosContext, ScenarioResult } from '../types.ts';

export const timeLimitMs = 240_000;

const MAILBOXES = 2_000;
const RESTARTS: ReadonlyArray<'SIGKILL' | 'SIGTERM'> = ['SIGKILL', 'SIGTERM', 'SIGKILL', 'SIGTERM', 'SIGKILL'];
const DOWN_MS = 1_000;
const LOAD_BETWEEN_MS = 4_000;
/** After a restart the API must answer 202 again within this. */
const API_BACK_WITHIN_MS = 10_000;

async function restart(redis: RedisHandle, signal: 'SIGKILL' | 'SIGTERM'): Promise<void> {
  if (signal === 'SIGKILL') await redis.kill9();
  else await redis.stop();
  await sleep(DOWN_MS);
  await redis.restart();
}

export async function run(ctx: ChaosContext): Promise<ScenarioResult> {
  const started = performance.now();
  const stage = await startStage(ctx, { label: 'redis-restart', aof: true, workers: 2 });
  const mailboxes = Array.from({ length: MAILBOXES }, (_, i) => `sip:${200_000 + i}@chaos.test`);
  const ledger = new UpdateLedger();
  await seedMailboxes(stage.client, ledger, stage.target, mailboxes);

  const flow = startUpdateFlow({ client: stage.client, mailboxes, target: stage.target, ledger, batchSize: 50, intervalMs: 100, lanes: 2, seed: ctx.seed });
  const failures: string[] = [];
  const apiBackMs: number[] = [];
  let trials = 0;
  try {
    for (const signal of RESTARTS) {
      if (ctx.signal.aborted || performance.now() > started + ctx.timeLimitMs - 100_000) {
        failures.push(`only ${trials} of ${RESTARTS.length} restarts fitted in the time bound`);
        break;
      }
      await sleep(LOAD_BETWEEN_MS);
      await restart(stage.redis, signal);
      trials++;
      const acceptedBefore = flow.stats().accepted;
      const backMs = await pollUntil(API_BACK_WITHIN_MS, () => flow.stats().accepted > acceptedBefore, 20);
      if (backMs === undefined) failures.push(`restart ${trials} (${signal}): the API answered no 202 within ${API_BACK_WITHIN_MS / 1000} s`);
      else apiBackMs.push(backMs);
      ctx.note(`restart ${trials} (${signal}) done; API accepting again after ${backMs === undefined ? '-' : Math.round(backMs)} ms`);
    }
    await sleep(LOAD_BETWEEN_MS);
  } finally {
    await flow.stop();
  }
  const { drainMs, report, problem } = await stage.settle(ledger, started + ctx.timeLimitMs - 15_000);
  if (problem !== undefined) failures.push(problem);
  const stats = flow.stats();
  return {
    name: 'redis-restart',
    tried: `Redis stopped ${RESTARTS.length} times under HTTP load (${RESTARTS.filter((s) => s === 'SIGKILL').length} SIGKILL, ${RESTARTS.filter((s) => s === 'SIGTERM').length} SIGTERM), down ${DOWN_MS / 1000} s each, restarted on its AOF; API + 2 workers`,
    trials,
    lost: report.lost + stage.watch.crashes.length + failures.length,
    lostMeans:
      'a mailbox whose latest 202-answered version is not (or older than) what Kamailio holds under the runner\'s ETag after the drain (the ETag read back from the restarted Redis); a process exit nobody caused; the API not answering 202 within 10 s of a restart; the queue not drained within 60 s',
    failures: [...stage.watch.crashes, ...failures, ...report.failures],
    figures: {
      'updates 202': stats.accepted,
      'refused meanwhile':
        Object.entries(stats.refusedBy)
          .map(([code, n]) => `${n} ${code}`)
          .join(', ') || 'none',
      'API back after restart (max)': `${Math.round(Math.max(0, ...apiBackMs))} ms`,
      'drain after load': drainMs === undefined ? 'not drained' : `${(drainMs / 1000).toFixed(1)} s`,
      'duplicate presentities': report.duplicates,
      ...(stage.startRetries.length > 0 ? { 'worker start retries': stage.startRetries.length } : {}),
    },
    durationMs: performance.now() - started,
  };
}
