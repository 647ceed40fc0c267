// The ops files (ops/prometheus/alerts.yml, ops/grafana/mwi-runner.json) only use metrics the
// process exports: every metric name (and selector label) in every expression is a sample name
// of the registry after createMetrics() and attachRuntimeCollectors() with fakes, so a renamed
// metric breaks this test, not a silent alert. Histogram series need their _bucket/_sum/_count
// suffix and counters their _total, because the check is against sample names, not metric names.
import assert from 'node:assert/strict';
import { EventEmitter } from 'node:events';
import { readFileSync } from 'node:fs';
import { describe, it } from 'node:test';

import { FakeClock } from '../../src/clock.ts';
import { emptyDnsStats } from '../../src/dns/dns-cache.ts';
import { deliveryObserver } from '../../src/metrics/delivery-metrics.ts';
import { createMetrics } from '../../src/metrics/registry.ts';
import { attachRuntimeCollectors, countRedisReconnects } from '../../src/metrics/runtime-collectors.ts';
import { parseSamples } from '../support/prom-text.ts';

const ALERTS = readFileSync(new URL('../../ops/prometheus/alerts.yml', import.meta.url), 'utf8');
const DASHBOARD = JSON.parse(readFileSync(new URL('../../ops/grafana/mwi-runner.json', import.meta.url), 'utf8')) as unknown;

/** Labels Prometheus adds at scrape time, and the histogram bucket label. */
const SCRAPE_LABELS = new Set(['instance', 'job', 'le']);
const KEYWORDS = new Set(['and', 'or', 'unless', 'bool', 'offset', 'inf', 'nan']);

interface Use {
  metric: string;
  /** Label names of the selector right after the metric name. */
  labels: string[];
}

/** Metric names and selector labels of one PromQL expression, and the labels it groups by. */
function metricUses(expr: string): { uses: Use[]; grouping: string[] } {
  const noStrings = expr.replace(/"(?:[^"\\]|\\.)*"/g, '""');
  const uses: Use[] = [];
  const grouping: string[] = [];
  for (const m of noStrings.matchAll(/\b(?:by|without|on|ignoring|group_left|group_right)\s*\(([^)]*)\)/g)) {
    grouping.push(...(m[1] ?? '').split(',').map((s) => s.trim()).filter((s) => s !== ''));
  }
  const stripped = noStrings.replace(/\b(?:by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)/g, ' ').replace(/\[[^\]]*\]/g, ' ');
  for (const m of stripped.matchAll(/(?<![\w.$])([a-zA-Z_:][a-zA-Z0-9_:]*)(\s*\()?(\{[^}]*\})?/g)) {
    const [, name = '', call, selector] = m;
    if (call !== undefined || KEYWORDS.has(name.toLowerCase())) continue;
    const labels = [...(selector ?? '').matchAll(/([a-zA-Z_][a-zA-Z0-9_]*)\s*(?:=~|!~|!=|=)/g)].map((l) => l[1] ?? '');
    uses.push({ metric: name, labels });
  }
  return { uses, grouping };
}

/** The one-line `expr:` of each `- alert:` block, and its annotation keys. A minimal reader for the file's own layout. */
function alertRules(yaml: string): Array<{ alert: string; expr: string; keys: string[] }> {
  return yaml
    .split(/^\s*- alert:\s*/m)
    .slice(1)
    .map((block) => ({
      alert: block.split('\n')[0]?.trim() ?? '',
      expr: /^\s*expr:\s*(.+)$/m.exec(block)?.[1]?.trim() ?? '',
      keys: [...block.matchAll(/^\s+([a-z_]+):/gm)].map((k) => k[1] ?? ''),
    }));
}

/** Every `expr` string anywhere in the dashboard (panel targets). */
function dashboardExprs(node: unknown, out: string[] = []): string[] {
  if (Array.isArray(node)) for (const n of node) dashboardExprs(n, out);
  else if (node !== null && typeof node === 'object') {
    for (const [k, v] of Object.entries(node)) {
      if (k === 'expr' && typeof v === 'string') out.push(v);
      else dashboardExprs(v, out);
    }
  }
  return out;
}

/** Sample names -> label names seen, from a registry like the runner's with every source attached. */
async function exportedSamples(): Promise<Map<string, Set<string>>> {
  const clock = new FakeClock();
  const metrics = createMetrics({ collectDefaults: true });
  const obs = deliveryObserver(metrics.delivery);
  obs.delivered('udp:10.0.0.5:5060', { kind: 'delivered', status: 200, cause: 'response', reason: '200 OK', requests: 1, startedAt: 0, elapsedMs: 3 }, { latencyMs: 3, result: 'ok', retransmissions: 0 });
  obs.delivered('udp:10.0.0.5:5060', { kind: 'permanent', status: 404, cause: 'response', reason: '404', requests: 1, startedAt: 0, elapsedMs: 3 }, { latencyMs: 3, result: 'ok', retransmissions: 1 });
  obs.delivered('udp:10.0.0.5:5060', { kind: 'retryable', cause: 'timeout', reason: 'timeout', requests: 1, startedAt: 0, elapsedMs: 32_000 }, { latencyMs: 32_000, result: 'timeout', retransmissions: 6 });
  obs.delivered('udp:10.0.0.5:5060', { kind: 'retryable', cause: 'transport', reason: 'reset', requests: 1, startedAt: 0, elapsedMs: 1 }, { latencyMs: 1, result: 'transport-error', retransmissions: 0 });
  countRedisReconnects(new EventEmitter(), metrics, 'store');
  attachRuntimeCollectors(metrics, {
    clock,
    gate: { snapshots: () => [{ id: 'udp:10.0.0.5:5060', allowedPerSec: 50, actualPerSec: 20, inFlight: 1, maxInFlight: 10, phase: 'avoidance', latencyMs: 3, holdUntil: 0 }] },
    breakers: { list: () => Promise.resolve([{ id: 'udp:10.0.0.5:5060', state: { kind: 'closed' }, okInWindow: 1, failuresInWindow: 0 }]) },
    dnsBreakers: { state: () => ({ kind: 'closed' }) },
    dns: { stats: emptyDnsStats() },
    control: { snapshot: () => Promise.resolve({ pauses: [{ scope: 'global', reason: 'r', actor: 'a', since: 1 }, { scope: 'sip:ps.test', reason: 'r', actor: 'a', since: 1 }], drain: undefined }) },
    queueDepth: () => Promise.resolve({ dueMailboxes: 0, dirtyMailboxes: 0, jobs: { waiting: 0, active: 0, delayed: 0, failed: 0 } }),
    readiness: () => Promise.resolve({ ready: true, checkedAt: clock.now(), checks: [] }),
  });
  const samples = new Map<string, Set<string>>();
  for (const s of parseSamples(await metrics.registry.metrics())) {
    const labels = samples.get(s.name) ?? new Set<string>();
    for (const l of Object.keys(s.labels)) labels.add(l);
    samples.set(s.name, labels);
  }
  return samples;
}

/** What is wrong with the expression against the exported samples; empty when nothing. */
function problems(expr: string, samples: Map<string, Set<string>>): string[] {
  const out: string[] = [];
  const { uses, grouping } = metricUses(expr);
  if (uses.length === 0) out.push(`no metric in: ${expr}`);
  const labelsInExpr = new Set<string>(SCRAPE_LABELS);
  for (const u of uses) {
    const known = samples.get(u.metric);
    if (known === undefined) {
      out.push(`${u.metric} is not exported`);
      continue;
    }
    for (const l of known) labelsInExpr.add(l);
    for (const l of u.labels) if (!known.has(l) && !SCRAPE_LABELS.has(l)) out.push(`${u.metric} has no label ${l}`);
  }
  for (const l of grouping) if (!labelsInExpr.has(l)) out.push(`grouping by ${l}, which no metric of the expression has`);
  return out;
}

describe('ops files use exported metrics only', () => {
  it('the checker finds metric names, not functions, labels, durations or numbers, and flags unknown names and labels', async () => {
    const samples = await exportedSamples();
    assert.deepEqual(metricUses('histogram_quantile(0.95, sum by (le, target) (rate(mwi_sip_request_duration_seconds_bucket{target=~"$target"}[$__rate_interval]))) > 1e3').uses, [
      { metric: 'mwi_sip_request_duration_seconds_bucket', labels: ['target'] },
    ]);
    assert.deepEqual(metricUses('max(a) == 1 and on() (time() - max(b_total)) > 3600').uses.map((u) => u.metric), ['a', 'b_total']);
    assert.deepEqual(problems('rate(mwi_sip_request_duration_seconds[5m])', samples), ['mwi_sip_request_duration_seconds is not exported'], 'a histogram needs its suffix');
    assert.deepEqual(problems('rate(mwi_sip_requests[5m])', samples), ['mwi_sip_requests is not exported'], 'a counter needs _total');
    assert.deepEqual(problems('mwi_breaker_state{hop="x"}', samples), ['mwi_breaker_state has no label hop']);
    assert.deepEqual(problems('sum by (kind) (mwi_breaker_state)', samples), ['grouping by kind, which no metric of the expression has']);
    assert.deepEqual(problems('sum by (target, le) (rate(mwi_sip_request_duration_seconds_bucket[5m]))', samples), []);
  });

  it('alerts.yml: every rule has a one-line expr over exported metrics, and summary, description and runbook', async () => {
    const samples = await exportedSamples();
    const rules = alertRules(ALERTS);
    assert.ok(rules.length >= 12, `only ${rules.length} rules read`);
    assert.equal(rules.length, [...ALERTS.matchAll(/^\s*expr:/gm)].length, 'one expr per rule');
    for (const r of rules) {
      assert.ok(r.expr !== '', `${r.alert} has no expr`);
      assert.deepEqual(problems(r.expr, samples), [], `${r.alert}: ${r.expr}`);
      for (const k of ['summary', 'description', 'runbook', 'severity']) assert.ok(r.keys.includes(k), `${r.alert} has no ${k}`);
    }
    const names = new Set(rules.flatMap((r) => metricUses(r.expr).uses.map((u) => u.metric)));
    for (const m of ['mwi_breaker_state', 'mwi_dns_breaker_state', 'mwi_mailboxes', 'mwi_deliveries_deferred_total', 'mwi_pause_global', 'mwi_sip_retransmissions_total', 'mwi_sip_timeouts_total', 'mwi_sweep_runs_total', 'mwi_sweep_last_run_end_timestamp_seconds', 'mwi_redis_reconnects_total', 'mwi_ready']) {
      assert.ok(names.has(m), `no alert uses ${m}`);
    }
  });

  it('mwi-runner.json: every panel expression and the target variable use exported metrics and labels', async () => {
    const samples = await exportedSamples();
    const exprs = dashboardExprs(DASHBOARD);
    assert.ok(exprs.length >= 20, `only ${exprs.length} expressions found`);
    for (const e of exprs) assert.deepEqual(problems(e, samples), [], e);
    const variable = JSON.stringify(DASHBOARD).match(/label_values\((\w+), (\w+)\)/);
    assert.ok(variable, 'a target variable');
    assert.ok(samples.get(variable[1] ?? '')?.has(variable[2] ?? ''), variable[0]);
  });
});
