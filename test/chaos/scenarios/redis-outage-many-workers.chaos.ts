/**
 * Ten delivery worker processes and the API under load; Redis stopped for 30 s, then started
 * again on its AOF. Each worker's reconnect attempts are read from its own /metrics
 * (mwi_redis_reconnects_total{client="publications"}, delivery.metricsPort) every 200 ms: they
 * must be jittered (src/store/reconnect.ts: full jitter, no lockstep across the fleet) and no
 * more frequent than its backoff allows; no worker may exit, and delivery must resume with
 * nothing lost.
 */
import { RECONNECT_MAX_MS, reconnectDelayMs } from '../../../src/store/reconnect.ts';
import { freePort } from '../../harness/ports.ts';
import { sleep } from '../../support/wait-for.ts';
import { UpdateLedger, seedMailboxes, startUpdateFlow } from '../load.ts';
import { VIEWER_TOKEN, startStage } from '../stage.ts';
import type { ChaosContext, ScenarioResult } from '../types.ts';

export const timeLimitMs = 240_000;

const WORKERS = 10;
const MAILBOXES = 2_000;
const OUTAGE_MS = 30_000;
const SCRAPE_EVERY_MS = 200;
/** Intervals measured once the backoff has reached its cap (attempt 7 and later, see reconnect.ts). */
const CAPPED_AFTER_MS = 5_000;

/** The most attempts reconnect.ts allows within `ms`: every delay at its lower bound (ceiling / 2). */
function maxAttemptsWithin(ms: number): number {
  let n = 0;
  for (let spent = 0; ; n++) {
    spent += reconnectDelayMs(n + 1, () => 0);
    if (spent > ms) return n;
  }
}

const RECONNECTS = /^mwi_redis_reconnects_total\{client="publications"\} (\d+)/m;

async function reconnects(port: number): Promise<number | undefined> {
  try {
    const res = await fetch(`http://127.0.0.1:${port}/metrics`, { headers: { authorization: `Bearer ${VIEWER_TOKEN}` }, signal: AbortSignal.timeout(2_000) });
    const m = RECONNECTS.exec(await res.text());
    return m ? Number(m[1]) : undefined;
  } catch {
    return undefined;
  }
}

function quantile(sorted: readonly number[], q: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))] ?? 0;
}

export async function run(ctx: ChaosContext): Promise<ScenarioResult> {
  const started = performance.now();
  const ports = await Promise.all(Array.from({ length: WORKERS }, () => freePort()));
  const stage = await startStage(ctx, {
    label: 'redis-outage',
    aof: true,
    workers: WORKERS,
    workerEnv: { MWI_API__VIEWER_TOKEN: VIEWER_TOKEN, MWI_DELIVERY__CONCURRENCY: '20' },
    workerEnvOf: (i) => ({ MWI_DELIVERY__METRICS_PORT: String(ports[i]) }),
  });
  const mailboxes = Array.from({ length: MAILBOXES }, (_, i) => `sip:${600_000 + i}@chaos.test`);
  const ledger = new UpdateLedger();
  await seedMailboxes(stage.client, ledger, stage.target, mailboxes);
  const flow = startUpdateFlow({ client: stage.client, mailboxes, target: stage.target, ledger, batchSize: 50, intervalMs: 100, seed: ctx.seed });

  // Per worker: when its reconnect counter went up, by how much.
  const steps: Array<Array<{ atMs: number; by: number }>> = ports.map(() => []);
  const last: Array<number | undefined> = ports.map(() => undefined);
  let scraping = true;
  const scraper = (async () => {
    while (scraping) {
      const at = performance.now();
      const counts = await Promise.all(ports.map((p) => reconnects(p)));
      counts.forEach((n, i) => {
        const prev = last[i];
        if (n === undefined) return;
        if (prev !== undefined && n > prev) steps[i]?.push({ atMs: performance.now(), by: n - prev });
        last[i] = n;
      });
      await sleep(Math.max(0, SCRAPE_EVERY_MS - (performance.now() - at)));
    }
  })();

  const failures: string[] = [];
  let downAt = 0;
  let upAt = 0;
  try {
    await sleep(5_000);
    const before = [...last];
    downAt = performance.now();
    await stage.redis.stop();
    await sleep(OUTAGE_MS);
    await stage.redis.restart();
    upAt = performance.now();
    ctx.note(`Redis back after ${Math.round((upAt - downAt) / 1000)} s`);
    await sleep(5_000);
    if (before.some((n) => n === undefined)) failures.push('a worker served no reconnect counter before the outage');
  } finally {
    await flow.stop();
    scraping = false;
    await scraper;
  }
  const { drainMs, report, problem } = await stage.settle(ledger, started + ctx.timeLimitMs - 15_000);
  if (problem !== undefined) failures.push(problem);

  // Attempts during the outage (plus the scrape period on either side) and the gaps between them.
  const outageMs = upAt - downAt;
  const limit = maxAttemptsWithin(outageMs + 2 * SCRAPE_EVERY_MS);
  const attempts = steps.map((s) => s.filter((x) => x.atMs >= downAt && x.atMs <= upAt + SCRAPE_EVERY_MS).reduce((n, x) => n + x.by, 0));
  const capped = steps.flatMap((s) => {
    const late = s.filter((x) => x.atMs >= downAt + CAPPED_AFTER_MS && x.atMs <= upAt);
    return late.slice(1).map((x, i) => x.atMs - (late[i]?.atMs ?? 0));
  });
  capped.sort((a, b) => a - b);
  attempts.forEach((n, i) => {
    if (n > limit) failures.push(`worker w${i}: ${n} reconnect attempts in ${Math.round(outageMs / 1000)} s, reconnect.ts allows at most ${limit}`);
    if (n === 0) failures.push(`worker w${i}: no reconnect attempt counted during the outage`);
  });
  // Full jitter: gaps spread over [max/2, max] (plus scrape rounding), never all alike.
  const spreadMs = quantile(capped, 0.9) - quantile(capped, 0.1);
  if (capped.length < WORKERS) failures.push(`only ${capped.length} reconnect intervals measured after the backoff reached its cap`);
  else if (spreadMs < RECONNECT_MAX_MS / 4) failures.push(`reconnect intervals barely vary (p10-p90 spread ${Math.round(spreadMs)} ms): lockstep`);
  const stats = flow.stats();
  const sortedAttempts = [...attempts].sort((a, b) => a - b);
  return {
    name: 'redis-outage-many-workers',
    tried: `Redis stopped for ${OUTAGE_MS / 1000} s under HTTP load with ${WORKERS} worker processes and the API, then restarted on its AOF`,
    trials: WORKERS,
    lost: report.lost + stage.watch.crashes.length + failures.length,
    lostMeans:
      `a mailbox whose latest 202-answered version is not (or older than) what Kamailio holds under the runner's ETag after the drain; a process exit nobody caused; or a bound broken: reconnect attempts per worker (publications client) <= what reconnect.ts allows in the outage, counted for every worker, intervals jittered (p10-p90 spread >= ${RECONNECT_MAX_MS / 4} ms once capped), drained within 60 s`,
    failures: [...stage.watch.crashes, ...failures, ...report.failures],
    figures: {
      'attempts/worker min-max (limit)': `${sortedAttempts[0] ?? 0}-${sortedAttempts.at(-1) ?? 0} (${limit})`,
      'capped intervals min/median/max': `${Math.round(capped[0] ?? 0)}/${Math.round(quantile(capped, 0.5))}/${Math.round(capped.at(-1) ?? 0)} ms`,
      'interval spread p10-p90': `${Math.round(spreadMs)} ms`,
      'drain after restart': drainMs === undefined ? 'not drained' : `${((drainMs + 5_000) / 1000).toFixed(1)} s`,
      'updates 202/refused': `${stats.accepted}/${stats.refused}`,
      ...(stage.startRetries.length > 0 ? { 'worker start retries': stage.startRetries.length } : {}),
    },
    durationMs: performance.now() - started,
  };
}
