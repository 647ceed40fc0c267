// runSweep (src/sweep/sweep-run.ts) over in-memory seams on a fake clock: what it queues, what a
// failed presence server, a lost lock, a failing source or the deadline change, dry runs, skips,
// the schedule's pause, versions of external counts, and pacing by the due backlog.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';

import { FakeClock } from '../../src/clock.ts';
import type { DeliveryRoute } from '../../src/delivery/sender.ts';
import type { MessageSummary } from '../../src/mwi/message-summary.ts';
import type { SourceMailbox } from '../../src/sources/mailbox-source.ts';
import type { MailboxView } from '../../src/store/mailbox-state.ts';
import type { SweepRunRecord } from '../../src/sweep/run-records.ts';
import { runSweep, type SweepOptions, type SweepProgress, type SweepResult, type SweepSettings } from '../../src/sweep/sweep-run.ts';
import { sweepTick } from '../../jobs/sweep.ts';
import { FakeLock, FakeProber, FakeSweepStore, MemoryRunLog, PagedSource, ScreenSource, silentLog, sourceUnavailable } from '../support/sweep-fakes.ts';

const A = 'sip:ps-a.test';
const B = 'sip:ps-b.test';
const route = (target: string): DeliveryRoute => ({ mode: 'publish', target });
const summary = (n: number): MessageSummary => ({ counts: { 'voice-message': { new: n, old: 0 } } });

const SETTINGS: SweepSettings = { pageSize: 3, refreshMarginMs: 600_000, deadlineMs: 60_000, maxDueBacklog: 100, probeEveryMs: 1_000, maxBatchUpdates: 1_000, backlogPollMs: 100 };

function storeItem(mailbox: string, fields: Partial<Omit<MailboxView, 'desired'>> & { target?: string } = {}): MailboxView {
  const { target = A, ...rest } = fields;
  return { mailbox, desiredVersion: 2, deliveredVersion: 1, desired: { summary: summary(2), route: route(target) }, ...rest };
}

type Hooks = { clock: FakeClock; lock: FakeLock; prober: FakeProber };

function harness(pages: MailboxView[][] | { external: SourceMailbox[][] }, beforePage?: (i: number, h: Hooks) => void | Promise<void>) {
  const clock = new FakeClock();
  const lock = new FakeLock();
  const prober = new FakeProber();
  const store = new FakeSweepStore();
  const runLog = new MemoryRunLog();
  const scheduled: string[] = [];
  const hook = (i: number) => beforePage?.(i, { clock, lock, prober });
  const source = Array.isArray(pages) ? new ScreenSource(pages, hook) : new PagedSource(pages.external, hook);
  if (Array.isArray(pages)) for (const page of pages) for (const v of page) store.views.set(v.mailbox, v);
  const deps = {
    store,
    scheduler: { schedule: (ms: readonly string[]) => (scheduled.push(...ms), Promise.resolve()) },
    prober,
    lock,
    runLog,
    source,
    clock,
    log: silentLog,
    identity: { host: 'test-host', pid: 4242 },
  };
  const run = (opts: Partial<SweepOptions> = {}, settings: Partial<SweepSettings> = {}): Promise<SweepResult> =>
    runSweep(deps, { ...SETTINGS, ...settings }, { trigger: 'manual', ...opts });
  return { clock, lock, prober, store, runLog, scheduled, source, run };
}

function asRecord(r: SweepResult): SweepRunRecord {
  assert.notEqual(r.outcome, 'not-due');
  return r as SweepRunRecord;
}

describe('runSweep', () => {
  it('queues only what needs a delivery and reports why the rest was not queued', async () => {
    const h = harness([
      [storeItem('sip:differs@t'), storeItem('sip:clean@t', { deliveredVersion: 2, expiresAt: Date.now() + 1e10 }), storeItem('sip:pending@t', { dueAt: 1 })],
      [storeItem('sip:parked@t', { lastOutcomeKind: 'permanent' }), storeItem('sip:expiring@t', { deliveredVersion: 2, expiresAt: 0 })],
    ]);
    const r = asRecord(await h.run());
    assert.equal(r.outcome, 'completed');
    assert.deepEqual(h.store.marked, ['sip:differs@t', 'sip:expiring@t']);
    assert.deepEqual(h.scheduled, ['sip:differs@t', 'sip:expiring@t'], 'the drains are woken for what was queued');
    assert.deepEqual(
      { scanned: r.counts.scanned, changed: r.counts.changed, expiring: r.counts.expiring, enqueued: r.counts.enqueued, skipped: r.counts.skipped, pages: r.counts.pages },
      { scanned: 5, changed: 1, expiring: 1, enqueued: 2, skipped: 2, pages: 2 },
    );
    assert.deepEqual(r.counts.skippedBy, { pending: 1, parked: 1, 'target-down': 0, 'no-target': 0 });
    assert.deepEqual(h.runLog.records[0], r, 'the run is recorded');
    assert.deepEqual(h.prober.probes, [A], 'the target was probed once before anything was queued for it');
  });

  it('a presence server failing its probe: nothing is queued for it, the other target proceeds, the reason is recorded', async () => {
    const h = harness([[storeItem('sip:a1@t'), storeItem('sip:b1@t', { target: B }), storeItem('sip:a2@t')], [storeItem('sip:b2@t', { target: B })]]);
    h.prober.down(A, 'no answer');
    const r = asRecord(await h.run());
    assert.equal(r.outcome, 'completed');
    assert.deepEqual(h.store.marked, ['sip:b1@t', 'sip:b2@t']);
    assert.equal(r.counts.skippedBy['target-down'], 2);
    assert.deepEqual(
      r.targets.map((t) => ({ target: t.target, up: t.up, reason: t.reason, skipped: t.skipped })),
      [
        { target: A, up: false, reason: 'OPTIONS probe failed: no answer', skipped: 2 },
        { target: B, up: true, reason: undefined, skipped: 0 },
      ],
    );
  });

  it('a presence server going down during the run: later pages queue nothing for it, and it stays down for the run', async () => {
    const pages = Array.from({ length: 5 }, (_, i) => [storeItem(`sip:a${i}@t`), storeItem(`sip:b${i}@t`, { target: B })]);
    const h = harness(pages, (i, { clock, prober }) => {
      clock.advance(600); // two pages per re-probe
      if (i === 2) prober.down(A);
      if (i === 4) prober.up(A); // back, but not within this run
    });
    const r = asRecord(await h.run());
    const markedA = h.store.marked.filter((m) => m.startsWith('sip:a'));
    assert.ok(markedA.length >= 2 && markedA.length <= 3, `queued for A before its failed probe: ${markedA.join(', ')}`);
    assert.deepEqual(markedA, pages.slice(0, markedA.length).map((p) => p[0]?.mailbox));
    assert.equal(h.store.marked.filter((m) => m.startsWith('sip:b')).length, 5);
    assert.equal(r.targets.find((t) => t.target === A)?.up, false);
    assert.equal(r.counts.skippedBy['target-down'], 5 - markedA.length);
  });

  it('dry run: plans and probes, queues nothing, lists what it would send', async () => {
    const h = harness([[storeItem('sip:1@t'), storeItem('sip:2@t', { target: B })]]);
    h.prober.down(B);
    const r = asRecord(await h.run({ dryRun: true }));
    assert.deepEqual(h.store.marked, []);
    assert.deepEqual(h.scheduled, []);
    assert.equal(r.dryRun, true);
    assert.equal(r.counts.enqueued, 1);
    assert.deepEqual(r.planned, [{ mailbox: 'sip:1@t', why: 'differs', to: A }]);
    assert.equal(h.runLog.ended, undefined, 'a dry run does not count for the schedule');
  });

  it('a lost lock stops the run at once: nothing more is read or marked', async () => {
    const pages = Array.from({ length: 4 }, (_, i) => [storeItem(`sip:${i}@t`)]);
    const h = harness(pages, (i, { lock }) => {
      if (i === 2) lock.lose();
    });
    const r = asRecord(await h.run());
    assert.equal(r.outcome, 'aborted');
    assert.equal(r.aborted?.reason, 'lock-lost');
    assert.deepEqual(h.store.marked, ['sip:0@t', 'sip:1@t']);
    assert.deepEqual(h.source.pagesServed, [0, 1]);
  });

  it('a failing source aborts the run with its reason and marks nothing from the failed read', async () => {
    const h = harness([[storeItem('sip:0@t')], [storeItem('sip:1@t')]], (i) => {
      if (i === 1) throw sourceUnavailable();
    });
    const r = asRecord(await h.run());
    assert.deepEqual(r.aborted, { reason: 'source-unavailable', message: 'cannot read the spool: EACCES' });
    assert.deepEqual(h.store.marked, ['sip:0@t']);
  });

  it('the deadline stops the run between pages', async () => {
    const h = harness(Array.from({ length: 5 }, (_, i) => [storeItem(`sip:${i}@t`)]), (_i, { clock }) => clock.advance(400));
    const r = asRecord(await h.run({}, { deadlineMs: 1_000, probeEveryMs: 60_000 }));
    assert.equal(r.aborted?.reason, 'deadline');
    assert.equal(h.store.marked.length, 2, 'pages read before the deadline');
  });

  it('the caller\'s signal (shutdown) aborts the run', async () => {
    const stop = new AbortController();
    const h = harness([[storeItem('sip:0@t')], [storeItem('sip:1@t')]], (i) => {
      if (i === 1) stop.abort();
    });
    const r = asRecord(await h.run({ signal: stop.signal }));
    assert.equal(r.aborted?.reason, 'shutdown');
    assert.deepEqual(h.store.marked, ['sip:0@t']);
  });

  it('a held lock: the run is skipped and the skip recorded with the holder', async () => {
    const h = harness([[storeItem('sip:0@t')]]);
    h.lock.heldBy = { runId: 'r-other', host: 'other-host', pid: 7, mode: 'sweep', startedAt: 123 };
    const r = asRecord(await h.run());
    assert.equal(r.outcome, 'skipped');
    assert.deepEqual(r.holder, h.lock.heldBy);
    assert.deepEqual(h.runLog.records[0], r);
    assert.deepEqual(h.store.marked, []);
    assert.equal(h.runLog.ended, undefined, 'a skip does not move the schedule');
  });

  it('the schedule\'s pause: not due until intervalMs after the previous run ended, without touching the lock', async () => {
    const h = harness([[storeItem('sip:0@t')]]);
    h.runLog.ended = h.clock.now() - 500;
    assert.deepEqual(await h.run({ trigger: 'schedule', minPauseMs: 1_000 }), { outcome: 'not-due', dueAt: h.clock.now() + 500 });
    assert.equal(h.lock.acquisitions, 0);
    h.clock.advance(500);
    assert.equal((await h.run({ trigger: 'schedule', minPauseMs: 1_000 })).outcome, 'completed');
  });

  it('external counts become desired state with the page\'s request time as version (monotonic), and lose to newer pushes', async () => {
    const known = storeItem('sip:known@t', { deliveredVersion: 2 });
    const pushed = storeItem('sip:pushed@t', { desiredVersion: Date.now() + 1e9, deliveredVersion: 1 });
    const h = harness(
      {
        external: [
          [{ mailbox: 'sip:known@t', summary: summary(9) }, { mailbox: 'sip:same@t', summary: summary(2) }],
          [{ mailbox: 'sip:new@t', summary: summary(1) }, { mailbox: 'sip:pushed@t', summary: summary(5) }],
        ],
      },
      (_i, { clock }) => clock.advance(10),
    );
    h.store.views.set(known.mailbox, known);
    h.store.views.set('sip:same@t', storeItem('sip:same@t', { deliveredVersion: 2 }));
    h.store.views.set(pushed.mailbox, pushed);
    const start = h.clock.now();
    const r = asRecord(
      await runSweep(
        { store: h.store, scheduler: { schedule: () => Promise.resolve() }, prober: h.prober, lock: h.lock, runLog: h.runLog, source: h.source, clock: h.clock, log: silentLog, identity: { host: 'h', pid: 1 } },
        { ...SETTINGS, defaultRoute: route(B) },
        { trigger: 'manual' },
      ),
    );
    assert.deepEqual(
      h.store.applied.map((u) => [u.mailbox, u.version - start, u.route]),
      [
        ['sip:known@t', 0, route(A)],
        ['sip:new@t', 10, route(B)],
      ],
    );
    assert.equal(r.counts.stale, 1, 'the newer push was kept');
    assert.equal(r.counts.changed, 3);
    assert.equal(r.counts.enqueued, 2);
  });

  it('reports progress as it goes and once at the end; the tick job passes it to BullMQ and keeps a summary', async () => {
    const h = harness(Array.from({ length: 4 }, (_, i) => [storeItem(`sip:${i}@t`)]), (_i, { clock }) => clock.advance(600));
    const progress: SweepProgress[] = [];
    const result = await sweepTick(
      { intervalMs: 1_000, run: (opts) => h.run(opts, { progressEveryMs: 1_000 }) },
      { updateProgress: (p) => (progress.push(p), Promise.resolve()) },
    );
    assert.ok(progress.length >= 2 && progress.length < 5, `${progress.length} progress reports`);
    assert.deepEqual(progress.map((p) => p.scanned), [...progress.map((p) => p.scanned)].sort((a, b) => a - b), 'counts only grow');
    const last = progress.at(-1);
    assert.deepEqual([last?.scanned, last?.enqueued, last?.skipped, last?.aborted], [4, 4, 0, undefined]);
    assert.equal(result.outcome, 'completed');
    assert.ok(result.outcome === 'completed' && result.enqueued === 4 && result.scanned === 4);
  });

  it('paces marking by the due backlog: waits while more than maxDueBacklog mailboxes are due', async () => {
    const h = harness([[storeItem('sip:0@t')], [storeItem('sip:1@t')]]);
    h.store.due = [500, 500, 500, 50];
    const done = h.run({}, { maxDueBacklog: 100, backlogPollMs: 100 });
    let finished = false;
    void done.then(() => (finished = true));
    while (!finished) {
      await new Promise((resolve) => setImmediate(resolve));
      h.clock.advance(100);
    }
    const r = asRecord(await done);
    assert.equal(r.outcome, 'completed');
    assert.ok(h.store.dueCalls >= 4, `looked at the backlog ${h.store.dueCalls} times`);
    assert.deepEqual(h.store.marked, ['sip:0@t', 'sip:1@t']);
  });
});
