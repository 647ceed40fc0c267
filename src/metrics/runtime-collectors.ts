/**
 * Gauges and counters read on scrape (prom-client `collect()`), from functions the integrator
 * hands to attachRuntimeCollectors: breaker states, each target's pacing, the delivery backlog,
 * the DNS cache's counters, pauses and readiness. The metrics are registered by createMetrics
 * (so every name exists from the start); until a source is attached its series are absent.
 *
 * A source that fails or takes longer than sourceTimeoutMs leaves its series absent for that
 * scrape and counts mwi_metrics_collect_errors_total{source}: /metrics itself still answers.
 * The async sources read Redis (fleet-wide values: every worker exports the same backlog, so
 * aggregate with max(), not sum()); each is read at most once per second however many scrape.
 */
import { Counter, Gauge, type Registry } from 'prom-client';

import type { ReadinessReport } from '../api/readiness.ts';
import type { BreakerKind, BreakerState, FleetBreakers } from '../breaker/types.ts';
import { systemClock, type Clock } from '../clock.ts';
import type { ControlSnapshot } from '../control/types.ts';
import { DNS_BREAKER_ID } from '../dns/breaker-guard.ts';
import type { DnsStats } from '../dns/types.ts';
import type { RateSnapshot } from '../rate/types.ts';
import type { Metrics } from './registry.ts';
import type { TargetLabels } from './target-labels.ts';

/** The delivery backlog; readStatus(...).queue (src/cli/status-report.ts) has this shape. */
export interface QueueDepth {
  dueMailboxes: number;
  dirtyMailboxes: number;
  jobs: { waiting: number; active: number; delayed: number; failed: number };
}

export interface RuntimeSources {
  /** The process's TargetGate (snapshots() only: synchronous, no Redis). */
  gate?: { snapshots(): RateSnapshot[] };
  /** Target breakers, fleet-wide (one Redis read per scrape); the DNS breaker's id is left out. */
  breakers?: Pick<FleetBreakers, 'list'>;
  /** The DNS breaker set (this process's view, synchronous). */
  dnsBreakers?: Pick<FleetBreakers, 'state'>;
  /** The process's DNS counters (createDns(...).stats). */
  dns?: { stats: DnsStats } | (() => DnsStats);
  /** Pauses and drain (ControlPlane.snapshot: one Redis read). */
  control?: { snapshot(): Promise<ControlSnapshot> };
  /** Mailboxes and BullMQ jobs by state (a few Redis reads). */
  queueDepth?: () => Promise<QueueDepth>;
  /** Readiness (createReadiness): cached, so a scrape probes targets at most once per cache period. */
  readiness?: () => Promise<ReadinessReport>;
  /** Timer for the source timeout and the per-scrape sharing; default the system clock. */
  clock?: Clock;
  /** Default 2 000. */
  sourceTimeoutMs?: number;
}

type Source = 'breakers' | 'dns-breaker' | 'gate' | 'dns' | 'control' | 'queue' | 'readiness';
const SOURCES: Record<Source, null> = { breakers: null, 'dns-breaker': null, gate: null, dns: null, control: null, queue: null, readiness: null };

/** What collect() reads: set by attachRuntimeCollectors, empty before. */
interface Readers {
  gate?: () => { snapshots: RateSnapshot[]; now: number };
  breakers?: () => Promise<Array<{ id: string; state: BreakerState }>>;
  dnsBreaker?: () => BreakerKind;
  dns?: () => DnsStats;
  control?: () => Promise<ControlSnapshot>;
  queue?: () => Promise<QueueDepth>;
  readiness?: () => Promise<ReadinessReport>;
}

export interface RuntimeMetrics {
  redisReconnects: Counter<'client'>;
  collectErrors: Counter<'source'>;
  /** @internal the attached sources */
  readers: Readers;
}

export const BREAKER_STATE_VALUE: Record<BreakerKind, number> = { closed: 0, open: 1, isolated: 2 };

const DNS_COUNTERS: Record<keyof DnsStats, [name: string, help: string]> = {
  queries: ['mwi_dns_queries_total', 'Queries sent to a DNS server'],
  hits: ['mwi_dns_cache_hits_total', 'Lookups answered from a fresh cache entry'],
  misses: ['mwi_dns_cache_misses_total', 'Lookups answered by a query (no usable entry)'],
  staleServed: ['mwi_dns_stale_served_total', 'Lookups answered from an expired entry because the resolver failed (RFC 8767)'],
  negativeHits: ['mwi_dns_negative_hits_total', 'Lookups answered from a cached NXDOMAIN / no-data'],
  failures: ['mwi_dns_failures_total', 'Queries that failed (timeout, SERVFAIL, REFUSED, unusable answer); NXDOMAIN is not a failure'],
  sharedInFlight: ['mwi_dns_shared_in_flight_total', 'Lookups that joined a query already in flight'],
  evictions: ['mwi_dns_evictions_total', 'Cache entries dropped to stay within dns.maxEntries'],
  locates: ['mwi_dns_locates_total', 'RFC 3263 locate() calls (one per message needing a hop list); queries / locates = lookups per message'],
};

/** Sums (or maxes) values per label, so targets folded into `other` add up instead of overwriting each other. */
function foldInto(gauge: Gauge<'target'>, targets: TargetLabels, items: Iterable<[string, number]>, combine: (a: number, b: number) => number): void {
  const byLabel = new Map<string, number>();
  for (const [id, value] of items) {
    const label = targets.label(id);
    const prev = byLabel.get(label);
    byLabel.set(label, prev === undefined ? value : combine(prev, value));
  }
  for (const [target, value] of byLabel) gauge.set({ target }, value);
}

const sum = (a: number, b: number): number => a + b;

/**
 * No series at all. prom-client's reset() leaves an unlabelled metric at 0, which would claim
 * "not paused" or "not ready" for a source nobody attached; emptying its value map (prom-client
 * 15's `hashMap`; the unit tests pin this) exports the HELP and TYPE lines only.
 */
function clear(metric: { reset(): void }): void {
  metric.reset();
  (metric as unknown as { hashMap: Record<string, unknown> }).hashMap = {};
}

export function runtimeMetrics(registry: Registry, targets: TargetLabels): RuntimeMetrics {
  const registers = [registry];
  const readers: Readers = {};
  // Collects of the scrape under way: the error counter (registered last, so collected last) waits for them.
  const collecting = new Set<Promise<void>>();
  const collectErrors = new Counter({
    name: 'mwi_metrics_collect_errors_total',
    help: 'Scrapes on which a runtime source failed or timed out (its series were left out)',
    labelNames: ['source'],
    registers: [],
    async collect() {
      await Promise.allSettled([...collecting]);
    },
  });
  for (const source of Object.keys(SOURCES)) collectErrors.inc({ source }, 0);

  // A failed shared read rejects every gauge it feeds with the same error: count it once.
  const counted = new WeakSet<object>();

  /** Runs fill() after reset(); on failure the metric stays empty for this scrape and the error is counted. */
  function collectFrom(metric: { reset(): void }, source: Source, fill: () => void | Promise<void>): Promise<void> {
    const p = fillOrClear(metric, source, fill).finally(() => collecting.delete(p));
    collecting.add(p);
    return p;
  }

  async function fillOrClear(metric: { reset(): void }, source: Source, fill: () => void | Promise<void>): Promise<void> {
    metric.reset();
    try {
      await fill();
    } catch (err) {
      clear(metric);
      if (typeof err === 'object' && err !== null) {
        if (counted.has(err)) return;
        counted.add(err);
      }
      collectErrors.inc({ source });
    }
  }

  /**
   * A gauge fed by the reader `key` (source `source` in the error counter): no series while that
   * reader is not attached; on each scrape, fill() after reset() through collectFrom.
   */
  function readerGauge<K extends keyof Readers, L extends string = never>(
    key: K,
    source: Source,
    config: { name: string; help: string; labelNames?: readonly L[] },
    fill: (gauge: Gauge<L>, read: NonNullable<Readers[K]>) => void | Promise<void>,
  ): void {
    new Gauge<L>({
      ...config,
      registers,
      async collect() {
        const read = readers[key];
        if (read === undefined) return clear(this);
        await collectFrom(this, source, () => fill(this, read));
      },
    });
  }

  readerGauge(
    'breakers',
    'breakers',
    { name: 'mwi_breaker_state', help: 'Fleet-wide breaker of each target hop: 0 closed, 1 open (half-open included), 2 isolated by an operator', labelNames: ['target'] },
    async (gauge, read) => {
      const list = (await read()).filter((b) => b.id !== DNS_BREAKER_ID);
      foldInto(gauge, targets, list.map((b) => [b.id, BREAKER_STATE_VALUE[b.state.kind]]), Math.max);
    },
  );
  readerGauge('dnsBreaker', 'dns-breaker', { name: 'mwi_dns_breaker_state', help: 'The DNS breaker as this process sees it: 0 closed, 1 open, 2 isolated' }, (gauge, read) => {
    gauge.set(BREAKER_STATE_VALUE[read()]);
  });

  const rateGauges: Array<[string, string, (r: RateSnapshot, now: number) => number, (a: number, b: number) => number]> = [
    ['mwi_rate_allowed_per_second', 'Fleet-wide request rate currently allowed to the target hop', (r) => r.allowedPerSec, sum],
    ['mwi_rate_actual_per_second', 'Requests admitted per second fleet-wide over the last control interval', (r) => r.actualPerSec, sum],
    ['mwi_rate_in_flight', 'Requests awaiting a response fleet-wide', (r) => r.inFlight, sum],
    ['mwi_rate_max_in_flight', 'Fleet-wide in-flight cap of the target hop', (r) => r.maxInFlight, sum],
    ['mwi_rate_held', '1 while the target hop is held (503 Retry-After)', (r, now) => (r.holdUntil > now ? 1 : 0), Math.max],
  ];
  for (const [name, help, pick, combine] of rateGauges) {
    readerGauge('gate', 'gate', { name, help, labelNames: ['target'] }, (gauge, read) => {
      const { snapshots, now } = read();
      foldInto(gauge, targets, snapshots.map((r) => [r.id, pick(r, now)]), combine);
    });
  }

  readerGauge(
    'queue',
    'queue',
    { name: 'mwi_mailboxes', help: 'Mailboxes not yet delivered, fleet-wide: dirty (due, leased or waiting for a retry) and due (dirty and due now)', labelNames: ['state'] },
    async (gauge, read) => {
      const q = await read();
      gauge.set({ state: 'dirty' }, q.dirtyMailboxes);
      gauge.set({ state: 'due' }, q.dueMailboxes);
    },
  );
  readerGauge('queue', 'queue', { name: 'mwi_delivery_jobs', help: 'Jobs of the BullMQ delivery queue by state, fleet-wide', labelNames: ['state'] }, async (gauge, read) => {
    const { jobs } = await read();
    for (const state of ['waiting', 'active', 'delayed', 'failed'] as const) gauge.set({ state }, jobs[state]);
  });

  for (const [field, [name, help]] of Object.entries(DNS_COUNTERS) as Array<[keyof DnsStats, [string, string]]>) {
    new Counter({
      name,
      help,
      registers,
      async collect() {
        const read = readers.dns;
        if (read === undefined) return clear(this);
        // The cache's counters only grow; reset + inc exports them as they are.
        await collectFrom(this, 'dns', () => this.inc(Math.max(0, read()[field])));
      },
    });
  }

  readerGauge('control', 'control', { name: 'mwi_pause_global', help: '1 while a global operator pause is in force' }, async (gauge, read) => {
    gauge.set((await read()).pauses.some((p) => p.scope === 'global') ? 1 : 0);
  });
  readerGauge('control', 'control', { name: 'mwi_pause_global_since_timestamp_seconds', help: 'Start of the global pause in force, seconds since the epoch; absent when none' }, async (gauge, read) => {
    const global = (await read()).pauses.find((p) => p.scope === 'global');
    if (global !== undefined) gauge.set(global.since / 1_000);
  });
  readerGauge('control', 'control', { name: 'mwi_pause_target', help: '1 for each target (URI or hop key) an operator paused', labelNames: ['target'] }, async (gauge, read) => {
    const paused = (await read()).pauses.filter((p) => p.scope !== 'global');
    foldInto(gauge, targets, paused.map((p) => [p.scope, 1]), Math.max);
  });
  readerGauge('control', 'control', { name: 'mwi_drain_active', help: '1 while drain is on (no new sweeps; queued work finishes)' }, async (gauge, read) => {
    gauge.set((await read()).drain === undefined ? 0 : 1);
  });

  readerGauge('readiness', 'readiness', { name: 'mwi_ready', help: '1 when the latest readiness check (Redis, DNS, every target) passed, as GET /readyz answers' }, async (gauge, read) => {
    gauge.set((await read()).ready ? 1 : 0);
  });
  readerGauge('readiness', 'readiness', { name: 'mwi_readiness_checks_failing', help: 'Readiness checks failing, by kind (redis, dns, target)', labelNames: ['kind'] }, async (gauge, read) => {
    const report = await read();
    for (const kind of ['redis', 'dns', 'target'] as const) gauge.set({ kind }, report.checks.filter((c) => c.kind === kind && c.status === 'fail').length);
  });

  const redisReconnects = new Counter({ name: 'mwi_redis_reconnects_total', help: 'ioredis reconnect attempts per client of this process', labelNames: ['client'], registers });
  registry.registerMetric(collectErrors);
  return { redisReconnects, collectErrors, readers };
}

/** The same promise for calls within ttlMs, and a rejection after timeoutMs: one Redis read serves every gauge of a scrape. */
function sharedWithin<T>(fn: () => Promise<T>, clock: Clock, ttlMs: number, timeoutMs: number): () => Promise<T> {
  let last: { at: number; p: Promise<T> } | undefined;
  return () => {
    const now = clock.now();
    if (last !== undefined && now - last.at < ttlMs) return last.p;
    let timer: ReturnType<Clock['setTimeout']> | undefined;
    const timeout = new Promise<never>((_resolve, reject) => {
      timer = clock.setTimeout(() => reject(new Error(`no answer within ${timeoutMs} ms`)), timeoutMs);
      timer.unref?.();
    });
    const p = Promise.race([fn(), timeout]).finally(() => {
      if (timer !== undefined) clock.clearTimeout(timer);
    });
    p.catch(() => undefined); // the gauges' collect handles it; nobody else may be listening
    last = { at: now, p };
    return p;
  };
}

const SHARE_MS = 1_000;

/**
 * Connects the runtime's live state to the metrics registered by createMetrics. Call once per
 * process after the protections are built; every source is optional (a CLI or API-only process
 * passes what it has). Returns a function that detaches them again (series become absent).
 *
 *   attachRuntimeCollectors(metrics, { gate, breakers, dnsBreakers, dns: dns.stats, control,
 *     queueDepth: () => readStatus(...).then((s) => s.queue), readiness });
 */
export function attachRuntimeCollectors(metrics: Pick<Metrics, 'runtime'>, sources: RuntimeSources): () => void {
  const clock = sources.clock ?? systemClock;
  const timeoutMs = sources.sourceTimeoutMs ?? 2_000;
  const r = metrics.runtime.readers;
  const share = <T>(fn: () => Promise<T>) => sharedWithin(fn, clock, SHARE_MS, timeoutMs);
  const { gate, breakers, dnsBreakers, dns, control, queueDepth, readiness } = sources;
  if (gate) r.gate = () => ({ snapshots: gate.snapshots(), now: clock.now() });
  if (breakers) r.breakers = share(() => breakers.list());
  if (dnsBreakers) r.dnsBreaker = () => dnsBreakers.state(DNS_BREAKER_ID).kind;
  if (dns) r.dns = typeof dns === 'function' ? dns : () => dns.stats;
  if (control) r.control = share(() => control.snapshot());
  if (queueDepth) r.queue = share(queueDepth);
  if (readiness) r.readiness = share(readiness);
  return () => {
    for (const key of Object.keys(r) as Array<keyof Readers>) delete r[key];
  };
}

/** The part of an ioredis client this needs. */
export interface ReconnectingClient {
  on(event: 'reconnecting', listener: (delayMs: number) => void): unknown;
  off(event: 'reconnecting', listener: (delayMs: number) => void): unknown;
}

/**
 * Counts `client`'s reconnect attempts as mwi_redis_reconnects_total{client=name}. `name` is a
 * fixed role (store, producer, worker, breakers, control, subscriber), never a URL. Returns the unsubscribe.
 */
export function countRedisReconnects(client: ReconnectingClient, metrics: Pick<Metrics, 'runtime'>, name: string): () => void {
  const counter = metrics.runtime.redisReconnects;
  counter.inc({ client: name }, 0);
  const listener = (): void => counter.inc({ client: name });
  client.on('reconnecting', listener);
  return () => {
    client.off('reconnecting', listener);
  };
}
