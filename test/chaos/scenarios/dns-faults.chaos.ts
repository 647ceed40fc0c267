/**
 * DNS faults under HTTP load: the presence server is reached through SRV and A records served by
 * dnsmasq, behind a fault proxy (test/harness/dns-fault-proxy.ts) the worker queries. In turn the
 * DNS server goes silent (delivery must go on from stale answers), answers NXDOMAIN for everything
 * (the DNS breaker opens; queries stay bounded by the recheck interval), then sends seven kinds of
 * broken answers (each for a name not yet cached, so the worker cannot fall back on stale data).
 * Every failed delivery must carry an MWI_* error code, the worker must not exit, and once DNS is
 * back every mailbox must reach its latest accepted state.
 */
import fsp from 'node:fs/promises';
import path from 'node:path';

import { startDnsmasq } from '../../harness/dnsmasq.ts';
import { GARBAGE_FAULTS, startDnsFaultProxy, type DnsFault } from '../../harness/dns-fault-proxy.ts';
import { freePort } from '../../harness/ports.ts';
import { makeWorkDir } from '../../harness/process.ts';
import { parseSamples, sampleValue, type Sample } from '../../support/prom-text.ts';
import { prng } from '../../support/prng.ts';
import { sleep } from '../../support/wait-for.ts';
import { UpdateLedger, postBatch, seedMailboxes, startUpdateFlow } from '../load.ts';
import { VIEWER_TOKEN, startStage } from '../stage.ts';
import type { ChaosContext, ScenarioResult } from '../types.ts';

export const timeLimitMs = 240_000;

const ZONE = 'chaos.test';
const MAIN = 300;
const PER_FRESH_NAME = 20;
const DOWN_MS = 12_000;
const NXDOMAIN_MS = 12_000;
const GARBAGE_MS = 5_000;
const RECHECK_SEC = 2;
const CODE = /MWI_[A-Z_]+/;

interface PhaseFigures {
  fault: DnsFault;
  publishes: number;
  staleServed: number;
  failures: number;
  queries: number;
  breakerOpen: boolean;
  codes: Set<string>;
}

export async function run(ctx: ChaosContext): Promise<ScenarioResult> {
  const started = performance.now();
  const stage = await startStage(ctx, { label: 'dns-faults' });
  const freshNames = GARBAGE_FAULTS.map((_, i) => `f${i}.${ZONE}`);
  const dns = await startDnsmasq({
    zone: ZONE,
    ttlSec: 1,
    records: {
      srv: [`ps.${ZONE}`, ...freshNames].map((name) => ({ service: `_sip._udp.${name}`, target: `kam.${ZONE}`, port: stage.kam.port })),
      hosts: [{ name: `kam.${ZONE}`, addresses: ['127.0.0.1'] }],
    },
    label: 'chaos-dns-faults',
  });
  ctx.defer(() => dns.dispose());
  const proxy = await startDnsFaultProxy({ host: dns.host, port: dns.port }, prng(ctx.seed));
  ctx.defer(() => proxy.close());
  const workDir = await makeWorkDir('chaos-dns');
  const configPath = path.join(workDir, 'worker.json');
  await fsp.writeFile(
    configPath,
    JSON.stringify({ dns: { servers: [proxy.server], timeoutMs: 500, tries: 1, minTtlSec: 1, srvTtlSec: 2, negativeTtlSec: 2, staleTtlSec: 2, failureRecheckSec: RECHECK_SEC, maxStaleSec: 3_600 } }),
  );
  const metricsPort = await freePort();
  const worker = await stage.spawnWorker('w', { MWI_CONFIG: configPath, MWI_DELIVERY__METRICS_PORT: String(metricsPort), MWI_API__VIEWER_TOKEN: VIEWER_TOKEN });
  const scrape = async (): Promise<Sample[]> => {
    const res = await fetch(`http://127.0.0.1:${metricsPort}/metrics`, { headers: { authorization: `Bearer ${VIEWER_TOKEN}` }, signal: AbortSignal.timeout(3_000) });
    return parseSamples(await res.text());
  };
  const kamTarget = `udp:127.0.0.1:${stage.kam.port}`;
  const counters = async () => {
    const s = await scrape();
    return {
      publishes: sampleValue(s, 'mwi_sip_requests_total', { target: kamTarget }) ?? 0,
      staleServed: sampleValue(s, 'mwi_dns_stale_served_total') ?? 0,
      failures: sampleValue(s, 'mwi_dns_failures_total') ?? 0,
      breakerOpen: (sampleValue(s, 'mwi_dns_breaker_state') ?? 0) !== 0,
    };
  };

  const target = `sip:ps.${ZONE}`;
  const main = Array.from({ length: MAIN }, (_, i) => `sip:${700_000 + i}@${ZONE}`);
  const fresh = freshNames.map((_, k) => Array.from({ length: PER_FRESH_NAME }, (_, i) => `sip:${710_000 + 100 * k + i}@${ZONE}`));
  const ledger = new UpdateLedger();
  await seedMailboxes(stage.client, ledger, target, main);
  await stage.drained(30_000);

  const flow = startUpdateFlow({ client: stage.client, mailboxes: main, target, ledger, batchSize: 20, intervalMs: 200, seed: ctx.seed });
  const phases: PhaseFigures[] = [];
  const violations: string[] = [];
  /** Runs one fault for `ms`; `touched` are mailboxes whose outcome must then carry a code unless delivered. */
  const phase = async (fault: DnsFault, ms: number, touched: readonly string[], before?: () => Promise<void>): Promise<void> => {
    const from = await counters();
    const fromMs = Date.now();
    proxy.setFault(fault);
    await before?.();
    await sleep(ms);
    const to = await counters();
    const codes = new Set<string>();
    for (const m of touched) {
      const record = await stage.store.get(m);
      const outcome = record?.lastOutcome;
      if (outcome === undefined || outcome.kind === 'delivered') continue;
      const code = CODE.exec(outcome.reason)?.[0];
      if (code === undefined) violations.push(`${fault}: ${m} failed without an error code: ${outcome.kind} ${outcome.reason}`);
      else codes.add(code);
    }
    phases.push({
      fault,
      publishes: to.publishes - from.publishes,
      staleServed: to.staleServed - from.staleServed,
      failures: to.failures - from.failures,
      queries: proxy.queries.filter((q) => q.atMs >= fromMs).length,
      breakerOpen: to.breakerOpen,
      codes,
    });
    ctx.note(`${fault}: ${phases.at(-1)?.publishes} PUBLISH, ${phases.at(-1)?.queries} queries, codes ${[...codes].join(' ') || '-'}`);
  };

  let nxQueriesLate = 0;
  const skipped: DnsFault[] = [];
  try {
    await sleep(3_000);
    await phase('drop', DOWN_MS, main);
    const nxFrom = Date.now();
    await phase('nxdomain', NXDOMAIN_MS, main);
    nxQueriesLate = proxy.queries.filter((q) => q.atMs >= nxFrom + 4_000 && q.atMs < nxFrom + NXDOMAIN_MS).length;
    for (const [k, fault] of GARBAGE_FAULTS.entries()) {
      if (ctx.signal.aborted || performance.now() > started + ctx.timeLimitMs - 90_000) {
        skipped.push(fault);
        continue;
      }
      const boxes = fresh[k] ?? [];
      await phase(fault, GARBAGE_MS, boxes, async () => {
        await postBatch(stage.client, ledger, `sip:${freshNames[k]}`, boxes);
      });
    }
    proxy.setFault('pass');
    await sleep(5_000);
  } finally {
    proxy.setFault('pass');
    await flow.stop();
  }
  const { drainMs, report, problem } = await stage.settle(ledger, started + ctx.timeLimitMs - 15_000);

  const failures: string[] = [];
  const down = phases.find((p) => p.fault === 'drop');
  const nx = phases.find((p) => p.fault === 'nxdomain');
  if (down !== undefined && (down.publishes === 0 || down.staleServed === 0)) failures.push(`DNS down: ${down.publishes} PUBLISH sent, ${down.staleServed} stale answers served (delivery did not go on from the cache)`);
  if (nx !== undefined && !nx.breakerOpen) failures.push('NXDOMAIN for every name: the DNS breaker did not open');
  // Late in the NXDOMAIN phase (breaker open): one probe per recheck interval, for at most a few names and types.
  const nxLimit = ((NXDOMAIN_MS - 4_000) / 1_000 / RECHECK_SEC + 1) * 3;
  if (nxQueriesLate > nxLimit) failures.push(`NXDOMAIN: ${nxQueriesLate} queries in the last ${(NXDOMAIN_MS - 4_000) / 1000} s, limit ${nxLimit}`);
  if (problem !== undefined) failures.push(problem);
  if (skipped.length > 0) failures.push(`not tried, the time bound was near: ${skipped.join(', ')}`);
  const stats = flow.stats();
  return {
    name: 'dns-faults',
    tried: `DNS (dnsmasq behind a fault proxy) silent ${DOWN_MS / 1000} s, NXDOMAIN ${NXDOMAIN_MS / 1000} s, then ${GARBAGE_FAULTS.length} kinds of broken answers ${GARBAGE_MS / 1000} s each, under HTTP load; 1 worker`,
    trials: phases.length,
    lost: report.lost + stage.watch.crashes.length + failures.length + violations.length,
    lostMeans:
      'a mailbox whose latest 202-answered version is not (or older than) what Kamailio holds under the runner\'s ETag once DNS is back and the queue drained; the worker exiting; a failed delivery without an MWI_* code; or a bound broken: PUBLISH and stale answers go on while DNS is silent, the DNS breaker opens on NXDOMAIN, at most one query per recheck interval per name/type (3) once open, drained within 60 s',
    failures: [...stage.watch.crashes, ...failures, ...violations.slice(0, 5), ...report.failures],
    figures: {
      'silent: PUBLISH/stale': `${down?.publishes ?? 0}/${down?.staleServed ?? 0}`,
      'NXDOMAIN: breaker/late queries': `${nx?.breakerOpen ? 'open' : 'closed'}/${nxQueriesLate}`,
      'garbage codes': phases
        .filter((p) => p.fault.startsWith('garbage'))
        .map((p) => `${p.fault.slice(8)}=${[...p.codes].map((c) => c.replace('MWI_DNS_', '')).join('+') || 'none'}`)
        .join(' '),
      'DNS failures counted': phases.reduce((n, p) => n + p.failures, 0),
      'drain after DNS back': drainMs === undefined ? 'not drained' : `${((drainMs + 5_000) / 1000).toFixed(1)} s`,
      'updates 202': stats.accepted,
      worker: worker.hasExited() ? 'exited' : 'up',
      ...(stage.startRetries.length > 0 ? { 'worker start retries': stage.startRetries.length } : {}),
    },
    durationMs: performance.now() - started,
  };
}
