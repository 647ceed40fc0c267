// Delivery metrics (src/metrics/delivery-metrics.ts) through the DeliveryObserver seam, and the
// runtime collectors (src/metrics/runtime-collectors.ts) read on scrape from fake sources.
import assert from 'node:assert/strict';
import { EventEmitter } from 'node:events';
import { setImmediate as tick } from 'node:timers/promises';
import { describe, it } from 'node:test';

import type { ReadinessReport } from '../../src/api/readiness.ts';
import type { BreakerInfo, BreakerState } from '../../src/breaker/types.ts';
import { FakeClock } from '../../src/clock.ts';
import type { ControlSnapshot } from '../../src/control/types.ts';
import type { Outcome } from '../../src/delivery/outcome.ts';
import { emptyDnsStats } from '../../src/dns/dns-cache.ts';
import { deferralKind, deliveryObserver } from '../../src/metrics/delivery-metrics.ts';
import { createMetrics } from '../../src/metrics/registry.ts';
import { attachRuntimeCollectors, countRedisReconnects, type QueueDepth } from '../../src/metrics/runtime-collectors.ts';
import type { RateSnapshot, SendFeedback } from '../../src/rate/types.ts';
import { parseSamples, sampleValue, type Sample } from '../support/prom-text.ts';

const A = 'udp:10.0.0.5:5060';
const B = 'tcp:10.0.0.6:5060';

function outcome(fields: Partial<Outcome>): Outcome {
  return { kind: 'delivered', cause: 'response', reason: 'x', requests: 1, startedAt: 0, elapsedMs: 4, ...fields };
}
const ok = (latencyMs = 4, retransmissions = 0): SendFeedback => ({ latencyMs, result: 'ok', retransmissions });

async function scrape(metrics: ReturnType<typeof createMetrics>): Promise<Sample[]> {
  return parseSamples(await metrics.registry.metrics());
}

describe('delivery observer', () => {
  it('counts requests, final responses by class, accepted and rejected deliveries, timeouts, transport errors and retransmissions per target', async () => {
    const metrics = createMetrics();
    const obs = deliveryObserver(metrics.delivery);
    obs.delivered(A, outcome({ status: 200, requests: 2 }), ok(4));
    obs.delivered(A, outcome({ kind: 'permanent', status: 404 }), ok(3));
    obs.delivered(A, outcome({ kind: 'retryable', status: 503 }), { latencyMs: 2, result: 'overload', retransmissions: 0 });
    obs.delivered(A, outcome({ kind: 'config-error', status: 489 }), ok(2));
    obs.delivered(A, outcome({ kind: 'retryable', cause: 'timeout', elapsedMs: 32_000 }), { latencyMs: 32_000, result: 'timeout', retransmissions: 6 });
    obs.delivered(B, outcome({ kind: 'retryable', cause: 'transport', elapsedMs: 1 }), { latencyMs: 1, result: 'transport-error', retransmissions: 0 });
    const s = await scrape(metrics);
    assert.equal(sampleValue(s, 'mwi_sip_requests_total', { target: A }), 6);
    assert.equal(sampleValue(s, 'mwi_sip_requests_total', { target: B }), 1);
    assert.equal(sampleValue(s, 'mwi_sip_responses_total', { target: A, class: '2xx' }), 1);
    assert.equal(sampleValue(s, 'mwi_sip_responses_total', { target: A, class: '4xx' }), 2);
    assert.equal(sampleValue(s, 'mwi_sip_responses_total', { target: A, class: '5xx' }), 1);
    assert.equal(sampleValue(s, 'mwi_sip_responses_total', { target: B, class: '5xx' }), undefined, 'no response, no class');
    assert.equal(sampleValue(s, 'mwi_deliveries_accepted_total', { target: A }), 1);
    assert.equal(sampleValue(s, 'mwi_deliveries_rejected_total', { target: A, class: '4xx' }), 2);
    assert.equal(sampleValue(s, 'mwi_deliveries_rejected_total', { target: A, class: '5xx' }), 1);
    assert.equal(sampleValue(s, 'mwi_sip_timeouts_total', { target: A }), 1);
    assert.equal(sampleValue(s, 'mwi_sip_transport_errors_total', { target: B }), 1);
    assert.equal(sampleValue(s, 'mwi_sip_transport_errors_total', { target: A }), undefined);
    assert.equal(sampleValue(s, 'mwi_sip_retransmissions_total', { target: A }), 6);
  });

  it('observes each request in the latency histogram in seconds, in LAN buckets from 1 ms to 8 s', async () => {
    const metrics = createMetrics();
    const obs = deliveryObserver(metrics.delivery);
    obs.delivered(A, outcome({ status: 200, requests: 2 }), ok(4));
    obs.delivered(A, outcome({ kind: 'retryable', cause: 'timeout' }), { latencyMs: 32_000, result: 'timeout', retransmissions: 6 });
    const s = await scrape(metrics);
    const buckets = s.filter((x) => x.name === 'mwi_sip_request_duration_seconds_bucket' && x.labels.target === A).map((x) => x.labels.le);
    assert.deepEqual(buckets, ['0.001', '0.0025', '0.005', '0.01', '0.025', '0.05', '0.1', '0.25', '0.5', '1', '2', '4', '8', '+Inf']);
    assert.equal(sampleValue(s, 'mwi_sip_request_duration_seconds_bucket', { target: A, le: '0.0025' }), 0);
    assert.equal(sampleValue(s, 'mwi_sip_request_duration_seconds_bucket', { target: A, le: '0.005' }), 2);
    assert.equal(sampleValue(s, 'mwi_sip_request_duration_seconds_bucket', { target: A, le: '8' }), 2);
    assert.equal(sampleValue(s, 'mwi_sip_request_duration_seconds_bucket', { target: A, le: '+Inf' }), 3);
    assert.equal(sampleValue(s, 'mwi_sip_request_duration_seconds_count', { target: A }), 3);
    assert.equal(sampleValue(s, 'mwi_sip_request_duration_seconds_sum', { target: A }), 32.008);
  });

  it('deferrals count by a fixed kind from the reason\'s code or prefix (as the guarded sender writes them), every kind at 0 from the start', async () => {
    const metrics = createMetrics();
    assert.deepEqual(
      (await scrape(metrics)).filter((x) => x.name === 'mwi_deliveries_deferred_total').map((x) => [x.labels.kind, x.value]),
      [['breaker', 0], ['pause', 0], ['hold', 0], ['pacing', 0], ['dns', 0], ['other', 0]],
    );
    const reasons: Array<[string, string]> = [
      [`MWI_BREAKER_OPEN: ${A} is open (3 timeouts)`, 'breaker'],
      ['MWI_BREAKER_OPEN: no usable hop for sip:ps.test', 'breaker'],
      ['paused (global) by operator: MWI_BREAKER_OPEN test: held: x', 'pause'],
      ['paused (sip:ps.test) by operator:olga: maintenance', 'pause'],
      [`MWI_TARGET_HELD: ${A}: held: 503 Retry-After 30 s`, 'hold'],
      [`MWI_TARGET_HELD: ${A}: no send slot within 2000 ms (rate limited)`, 'pacing'],
      ['MWI_DNS_TIMEOUT: ps.test: no answer', 'dns'],
      ['MWI_DNS_BREAKER_OPEN: DNS is down', 'dns'],
      ['MWI_DNS_FAILED: SERVFAIL', 'dns'],
      ['no hop for sip:1@phone.test', 'other'],
      ['MWI_SIP_STACK_CLOSED: closing', 'other'],
    ];
    for (const [reason, kind] of reasons) assert.equal(deferralKind(reason), kind, reason);
    const obs = deliveryObserver(metrics.delivery);
    for (const [reason] of reasons) obs.deferred(undefined, reason);
    const s = await scrape(metrics);
    assert.deepEqual(
      s.filter((x) => x.name === 'mwi_deliveries_deferred_total').map((x) => [x.labels.kind, x.value]),
      [['breaker', 2], ['pause', 2], ['hold', 1], ['pacing', 1], ['dns', 3], ['other', 2]],
    );
  });

  it('caps distinct targets: past maxTargets every new target is folded into `other`, known ones keep their label', async () => {
    const metrics = createMetrics({ maxTargets: 2 });
    const obs = deliveryObserver(metrics.delivery);
    for (const t of [A, B, 'udp:10.0.0.7:5060', 'udp:10.0.0.8:5060', A]) obs.delivered(t, outcome({ status: 200 }), ok());
    const s = await scrape(metrics);
    const targets = [...new Set(s.filter((x) => x.name === 'mwi_sip_requests_total').map((x) => x.labels.target))].sort();
    assert.deepEqual(targets, [B, 'other', A].sort());
    assert.equal(sampleValue(s, 'mwi_sip_requests_total', { target: A }), 2);
    assert.equal(sampleValue(s, 'mwi_sip_requests_total', { target: 'other' }), 2);
  });
});

function rate(id: string, fields: Partial<RateSnapshot> = {}): RateSnapshot {
  return { id, allowedPerSec: 50, actualPerSec: 20, inFlight: 3, maxInFlight: 10, phase: 'avoidance', latencyMs: 4, holdUntil: 0, ...fields };
}
const info = (id: string, state: BreakerState): BreakerInfo => ({ id, state, okInWindow: 0, failuresInWindow: 0 });

function fakes(clock: FakeClock) {
  const calls = { queue: 0, control: 0, breakers: 0 };
  const stats = emptyDnsStats();
  let queue: () => Promise<QueueDepth> = () => Promise.resolve({ dueMailboxes: 7, dirtyMailboxes: 12, jobs: { waiting: 1, active: 2, delayed: 3, failed: 4 } });
  const control: ControlSnapshot = {
    pauses: [
      { scope: 'global', reason: 'r', actor: 'operator', since: 1_700_000_000_000 },
      { scope: 'sip:ps-b.test', reason: 'r', actor: 'operator', since: 1 },
    ],
    drain: { reason: 'upgrade', actor: 'operator', since: 1 },
  };
  const readiness: ReadinessReport = {
    ready: false,
    checkedAt: clock.now(),
    checks: [
      { name: 'redis', kind: 'redis', status: 'ok', elapsedMs: 1 },
      { name: 'target:sip:ps-b.test', kind: 'target', status: 'fail', detail: 'no answer', elapsedMs: 2_000 },
    ],
  };
  const sources = {
    clock,
    gate: { snapshots: () => [rate(A, { holdUntil: clock.now() + 5_000 }), rate(B, { allowedPerSec: 7 })] },
    breakers: {
      list: () => {
        calls.breakers++;
        return Promise.resolve([info(A, { kind: 'open', since: 1, reason: 'r', nextProbeAt: 2, failedProbes: 0 }), info(B, { kind: 'isolated', since: 1, reason: 'r', actor: 'o' }), info('dns', { kind: 'closed' })]);
      },
    },
    dnsBreakers: { state: (): BreakerState => ({ kind: 'open', since: 1, reason: 'timeouts', nextProbeAt: 2, failedProbes: 1 }) },
    dns: { stats },
    control: {
      snapshot: () => {
        calls.control++;
        return Promise.resolve(control);
      },
    },
    queueDepth: () => {
      calls.queue++;
      return queue();
    },
    readiness: () => Promise.resolve(readiness),
  };
  return { sources, calls, stats, setQueue: (q: () => Promise<QueueDepth>) => (queue = q) };
}

describe('runtime collectors', () => {
  it('before attaching, the names are registered but have no series (no fake zeros for unknown state)', async () => {
    const metrics = createMetrics();
    const s = await scrape(metrics);
    assert.equal(s.filter((x) => x.name === 'mwi_breaker_state' || x.name === 'mwi_mailboxes' || x.name === 'mwi_dns_queries_total').length, 0);
    assert.ok(metrics.registry.getSingleMetric('mwi_breaker_state'));
    assert.ok(metrics.registry.getSingleMetric('mwi_dns_queries_total'));
  });

  it('on scrape: breaker states, pacing, backlog, DNS counters, pauses, drain and readiness from the sources', async () => {
    const clock = new FakeClock();
    const metrics = createMetrics();
    const f = fakes(clock);
    f.stats.queries = 40;
    f.stats.hits = 900;
    f.stats.staleServed = 2;
    f.stats.locates = 20;
    attachRuntimeCollectors(metrics, f.sources);
    let s = await scrape(metrics);
    assert.equal(sampleValue(s, 'mwi_breaker_state', { target: A }), 1);
    assert.equal(sampleValue(s, 'mwi_breaker_state', { target: B }), 2);
    assert.equal(sampleValue(s, 'mwi_breaker_state', { target: 'dns' }), undefined, 'the DNS breaker is not a target');
    assert.equal(sampleValue(s, 'mwi_dns_breaker_state'), 1);
    assert.equal(sampleValue(s, 'mwi_rate_allowed_per_second', { target: B }), 7);
    assert.equal(sampleValue(s, 'mwi_rate_actual_per_second', { target: A }), 20);
    assert.equal(sampleValue(s, 'mwi_rate_in_flight', { target: A }), 3);
    assert.equal(sampleValue(s, 'mwi_rate_max_in_flight', { target: A }), 10);
    assert.equal(sampleValue(s, 'mwi_rate_held', { target: A }), 1);
    assert.equal(sampleValue(s, 'mwi_rate_held', { target: B }), 0);
    assert.equal(sampleValue(s, 'mwi_mailboxes', { state: 'due' }), 7);
    assert.equal(sampleValue(s, 'mwi_mailboxes', { state: 'dirty' }), 12);
    assert.deepEqual(['waiting', 'active', 'delayed', 'failed'].map((state) => sampleValue(s, 'mwi_delivery_jobs', { state })), [1, 2, 3, 4]);
    assert.equal(sampleValue(s, 'mwi_dns_queries_total'), 40);
    assert.equal(sampleValue(s, 'mwi_dns_cache_hits_total'), 900);
    assert.equal(sampleValue(s, 'mwi_dns_stale_served_total'), 2);
    assert.equal(sampleValue(s, 'mwi_dns_locates_total'), 20);
    assert.equal(sampleValue(s, 'mwi_pause_global'), 1);
    assert.equal(sampleValue(s, 'mwi_pause_global_since_timestamp_seconds'), 1_700_000_000);
    assert.equal(sampleValue(s, 'mwi_pause_target', { target: 'sip:ps-b.test' }), 1);
    assert.equal(sampleValue(s, 'mwi_drain_active'), 1);
    assert.equal(sampleValue(s, 'mwi_ready'), 0);
    assert.equal(sampleValue(s, 'mwi_readiness_checks_failing', { kind: 'target' }), 1);
    assert.equal(sampleValue(s, 'mwi_readiness_checks_failing', { kind: 'redis' }), 0);
    assert.deepEqual(f.calls, { queue: 1, control: 1, breakers: 1 }, 'one read per source per scrape, shared by its gauges');

    f.stats.queries = 41;
    s = await scrape(metrics);
    assert.equal(sampleValue(s, 'mwi_dns_queries_total'), 41, 'DNS counters follow the cache');
    assert.deepEqual(f.calls, { queue: 1, control: 1, breakers: 1 }, 'a scrape within a second reuses the reads');
    clock.advance(1_000);
    await scrape(metrics);
    assert.deepEqual(f.calls, { queue: 2, control: 2, breakers: 2 });
  });

  it('targets past the cap are folded into `other`: rates add up, breaker state takes the worst', async () => {
    const clock = new FakeClock();
    const metrics = createMetrics({ maxTargets: 1 });
    attachRuntimeCollectors(metrics, {
      clock,
      gate: { snapshots: () => [rate(A), rate(B, { allowedPerSec: 5 }), rate('udp:10.0.0.9:5060', { allowedPerSec: 6 })] },
      breakers: { list: () => Promise.resolve([info(A, { kind: 'closed' }), info(B, { kind: 'closed' }), info('udp:10.0.0.9:5060', { kind: 'open', since: 1, reason: 'r', nextProbeAt: 2, failedProbes: 0 })]) },
    });
    const s = await scrape(metrics);
    assert.equal(sampleValue(s, 'mwi_rate_allowed_per_second', { target: A }), 50);
    assert.equal(sampleValue(s, 'mwi_rate_allowed_per_second', { target: 'other' }), 11);
    assert.equal(sampleValue(s, 'mwi_breaker_state', { target: 'other' }), 1);
    assert.equal(s.filter((x) => x.name === 'mwi_rate_allowed_per_second').length, 2);
  });

  it('a failing or hanging source leaves its series out, counts one collect error per scrape, and /metrics still answers', async () => {
    const clock = new FakeClock();
    const metrics = createMetrics();
    const f = fakes(clock);
    f.setQueue(() => Promise.reject(new Error('redis down')));
    attachRuntimeCollectors(metrics, f.sources);
    let s = await scrape(metrics);
    assert.equal(sampleValue(s, 'mwi_mailboxes', { state: 'due' }), undefined);
    assert.equal(sampleValue(s, 'mwi_delivery_jobs', { state: 'waiting' }), undefined);
    assert.equal(sampleValue(s, 'mwi_metrics_collect_errors_total', { source: 'queue' }), 1, 'one failed read, two gauges: counted once');
    assert.equal(sampleValue(s, 'mwi_pause_global'), 1, 'other sources still export');

    clock.advance(1_000);
    f.setQueue(() => new Promise(() => {}));
    const pending = metrics.registry.metrics();
    for (let i = 0; i < 5; i++) await tick();
    clock.advance(2_000);
    s = parseSamples(await pending);
    assert.equal(sampleValue(s, 'mwi_mailboxes', { state: 'due' }), undefined);
    assert.equal(sampleValue(s, 'mwi_metrics_collect_errors_total', { source: 'queue' }), 2);
  });

  it('detaching removes the series; the names stay registered', async () => {
    const clock = new FakeClock();
    const metrics = createMetrics();
    const detach = attachRuntimeCollectors(metrics, fakes(clock).sources);
    assert.equal(sampleValue(await scrape(metrics), 'mwi_pause_global'), 1);
    detach();
    assert.equal(sampleValue(await scrape(metrics), 'mwi_pause_global'), undefined);
  });

  it('countRedisReconnects counts each `reconnecting` event under the client\'s name, from 0, until unsubscribed', async () => {
    const metrics = createMetrics();
    const client = new EventEmitter();
    const off = countRedisReconnects(client, metrics, 'store');
    assert.equal(sampleValue(await scrape(metrics), 'mwi_redis_reconnects_total', { client: 'store' }), 0);
    client.emit('reconnecting', 50);
    client.emit('reconnecting', 100);
    assert.equal(sampleValue(await scrape(metrics), 'mwi_redis_reconnects_total', { client: 'store' }), 2);
    off();
    client.emit('reconnecting', 200);
    assert.equal(sampleValue(await scrape(metrics), 'mwi_redis_reconnects_total', { client: 'store' }), 2);
    assert.equal(client.listenerCount('reconnecting'), 0);
  });
});
