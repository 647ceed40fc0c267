// Sweep metrics (src/metrics/sweep-metrics.ts) fed by runSweep's onRunEnd over the in-memory seams:
// what a completed, aborted, skipped, failed and dry run add to a registry of the test's own.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';

import type { Registry } from 'prom-client';

import { FakeClock } from '../../src/clock.ts';
import { ErrorCodes, MwiError } from '../../src/errors.ts';
import type { MessageSummary } from '../../src/mwi/message-summary.ts';
import { createMetrics } from '../../src/metrics/registry.ts';
import { recordSweepRunEnd } from '../../src/metrics/sweep-metrics.ts';
import type { MailboxView } from '../../src/store/mailbox-state.ts';
import type { SweepRunEnd } from '../../src/sweep/run-records.ts';
import { runSweep, type SweepOptions, type SweepSettings } from '../../src/sweep/sweep-run.ts';
import { FakeLock, FakeProber, FakeSweepStore, MemoryRunLog, ScreenSource, silentLog, sourceUnavailable } from '../support/sweep-fakes.ts';

const A = 'sip:ps-a.test';
const summary = (n: number): MessageSummary => ({ counts: { 'voice-message': { new: n, old: 0 } } });
const SETTINGS: SweepSettings = { pageSize: 3, refreshMarginMs: 600_000, deadlineMs: 60_000, maxDueBacklog: 100, probeEveryMs: 1_000, maxBatchUpdates: 1_000, backlogPollMs: 100 };

function storeItem(mailbox: string, fields: Partial<Omit<MailboxView, 'desired'>> = {}): MailboxView {
  return { mailbox, desiredVersion: 2, deliveredVersion: 1, desired: { summary: summary(2), route: { mode: 'publish', target: A } }, ...fields };
}

/** scanned 5, changed 1 (differs), enqueued 2 (differs, expiring), skipped 2 (pending, parked). */
const PAGES: MailboxView[][] = [
  [storeItem('sip:differs@t'), storeItem('sip:clean@t', { deliveredVersion: 2, expiresAt: Date.now() + 1e10 }), storeItem('sip:pending@t', { dueAt: 1 })],
  [storeItem('sip:parked@t', { lastOutcomeKind: 'permanent' }), storeItem('sip:expiring@t', { deliveredVersion: 2, expiresAt: 0 })],
];

function harness(beforePage: (i: number, h: { clock: FakeClock; lock: FakeLock }) => void = () => {}, alsoOnRunEnd: () => void = () => {}) {
  const clock = new FakeClock();
  const lock = new FakeLock();
  lock.clock = clock;
  const store = new FakeSweepStore();
  for (const page of PAGES) for (const v of page) store.views.set(v.mailbox, v);
  const metrics = createMetrics();
  const ends: SweepRunEnd[] = [];
  const deps = {
    store,
    scheduler: { schedule: () => Promise.resolve() },
    prober: new FakeProber(),
    lock,
    runLog: new MemoryRunLog(),
    source: new ScreenSource(PAGES, (i) => beforePage(i, { clock, lock })),
    clock,
    log: silentLog,
    identity: { host: 'test-host', pid: 4242 },
    onRunEnd: (end: SweepRunEnd) => {
      ends.push(end);
      recordSweepRunEnd(metrics.sweep, end);
      alsoOnRunEnd();
    },
  };
  const run = (opts: Partial<SweepOptions> = {}) => runSweep(deps, SETTINGS, { trigger: 'manual', ...opts });
  return { clock, lock, registry: metrics.registry, ends, run };
}

/** The value of one series (labels matched exactly; a histogram's `_count`, `_sum` or `_bucket` by suffix); undefined when it does not exist. */
async function value(registry: Registry, name: string, labels: Record<string, string | number> = {}, suffix = ''): Promise<number | undefined> {
  const metric = registry.getSingleMetric(name);
  assert.ok(metric, `${name} is registered`);
  const { values } = await metric.get();
  const want = JSON.stringify(Object.entries(labels).sort());
  return values.find((v) => ((v as { metricName?: string }).metricName ?? name) === name + suffix && JSON.stringify(Object.entries(v.labels).sort()) === want)?.value;
}

async function runsByOutcome(registry: Registry, mode = 'sweep'): Promise<Record<string, number | undefined>> {
  const out: Record<string, number | undefined> = {};
  for (const outcome of ['completed', 'aborted', 'skipped', 'failed']) out[outcome] = await value(registry, 'mwi_sweep_runs_total', { outcome, mode });
  return out;
}

async function mailboxes(registry: Registry): Promise<Record<string, number | undefined>> {
  const out: Record<string, number | undefined> = {};
  for (const kind of ['scanned', 'changed', 'enqueued', 'skipped']) out[kind] = await value(registry, 'mwi_sweep_mailboxes_total', { kind });
  return out;
}

describe('sweep metrics', () => {
  it('a completed run: counted once by outcome and mode, its mailboxes by kind, its duration and end time', async () => {
    const h = harness((_i, { clock }) => clock.advance(1_250));
    const r = await h.run();
    assert.equal(r.outcome, 'completed');
    assert.deepEqual(await runsByOutcome(h.registry), { completed: 1, aborted: 0, skipped: 0, failed: 0 });
    assert.deepEqual(await mailboxes(h.registry), { scanned: 5, changed: 1, enqueued: 2, skipped: 2 });
    assert.equal(await value(h.registry, 'mwi_sweep_duration_seconds', { mode: 'sweep' }, '_count'), 1);
    assert.equal(await value(h.registry, 'mwi_sweep_duration_seconds', { mode: 'sweep' }, '_sum'), 2.5);
    assert.equal(await value(h.registry, 'mwi_sweep_duration_seconds', { mode: 'sweep', le: 1 }, '_bucket'), 0);
    assert.equal(await value(h.registry, 'mwi_sweep_duration_seconds', { mode: 'sweep', le: 5 }, '_bucket'), 1);
    assert.equal(await value(h.registry, 'mwi_sweep_last_run_end_timestamp_seconds'), h.clock.now() / 1_000);
    assert.equal(await value(h.registry, 'mwi_sweep_aborted_total', { aborted_why: 'error' }), 0);
    assert.equal(h.ends.length, 1, 'onRunEnd is told once');

    await h.run({ mode: 'resync-all' });
    assert.deepEqual(await runsByOutcome(h.registry, 'resync-all'), { completed: 1, aborted: 0, skipped: 0, failed: 0 });
    assert.equal((await mailboxes(h.registry)).scanned, 10, 'counters add up over runs');
  });

  it('a skipped run (lock held) counts as skipped, with no duration, mailboxes or end time', async () => {
    const h = harness();
    h.lock.heldBy = { runId: 'r-other', host: 'other-host', pid: 7, mode: 'sweep', startedAt: 123 };
    assert.equal((await h.run()).outcome, 'skipped');
    assert.deepEqual(await runsByOutcome(h.registry), { completed: 0, aborted: 0, skipped: 1, failed: 0 });
    assert.deepEqual(await mailboxes(h.registry), { scanned: 0, changed: 0, enqueued: 0, skipped: 0 });
    assert.equal(await value(h.registry, 'mwi_sweep_duration_seconds', { mode: 'sweep' }, '_count'), undefined);
    assert.equal(await value(h.registry, 'mwi_sweep_last_run_end_timestamp_seconds'), 0);
  });

  it('an aborted run counts as aborted with its reason as aborted_why, never the message', async () => {
    const h = harness((i) => {
      if (i === 1) throw sourceUnavailable();
    });
    const r = await h.run();
    assert.ok(r.outcome === 'aborted' && r.aborted?.reason === 'source-unavailable');
    assert.deepEqual(await runsByOutcome(h.registry), { completed: 0, aborted: 1, skipped: 0, failed: 0 });
    assert.equal(await value(h.registry, 'mwi_sweep_aborted_total', { aborted_why: 'source-unavailable' }), 1);
    assert.equal((await mailboxes(h.registry)).scanned, 3, 'what it did before the abort is counted');
    const text = await h.registry.metrics();
    assert.ok(!text.includes('EACCES'), 'the abort message is not a label');
  });

  it('a run that throws (Redis down at the lock) counts as failed, and the error still reaches the caller', async () => {
    const h = harness();
    h.lock.failWith = new MwiError(ErrorCodes.REDIS_UNAVAILABLE, 'Redis is down');
    await assert.rejects(h.run(), /Redis is down/);
    assert.deepEqual(await runsByOutcome(h.registry), { completed: 0, aborted: 0, skipped: 0, failed: 1 });
  });

  it('dry runs and runs not yet due are not counted', async () => {
    const h = harness();
    assert.equal((await h.run({ dryRun: true })).outcome, 'completed');
    await h.run();
    h.clock.advance(100);
    assert.equal((await h.run({ trigger: 'schedule', minPauseMs: 1_000 })).outcome, 'not-due');
    assert.deepEqual(await runsByOutcome(h.registry), { completed: 1, aborted: 0, skipped: 0, failed: 0 });
    assert.equal((await mailboxes(h.registry)).enqueued, 2);
    assert.deepEqual(h.ends.map((e) => [e.outcome, e.dryRun]), [['completed', true], ['completed', false]], 'onRunEnd hears the dry run; the metrics leave it out');
  });

  it('a throwing onRunEnd does not break the run', async () => {
    const h = harness(undefined, () => {
      throw new Error('boom');
    });
    assert.equal((await h.run()).outcome, 'completed');
  });

  it('createMetrics: a registry of its own; prom-client process metrics only when asked', async () => {
    const plain = createMetrics();
    const withDefaults = createMetrics({ collectDefaults: true });
    assert.notEqual(plain.registry, withDefaults.registry);
    assert.ok(!(await plain.registry.metrics()).includes('process_cpu_user_seconds_total'));
    assert.match(await withDefaults.registry.metrics(), /^process_cpu_user_seconds_total /m);
    assert.match(await plain.registry.getSingleMetricAsString('mwi_sweep_runs_total'), /^mwi_sweep_runs_total\{outcome="completed",mode="sweep"\} 0$/m);
  });
});
