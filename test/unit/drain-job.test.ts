// The drain job against an in-memory store (same semantics as the Lua scripts) and a fake sender.
import assert from 'node:assert/strict';
import { setImmediate as tick } from 'node:timers/promises';
import { describe, it } from 'node:test';

import { pino } from 'pino';

import { drain, type DrainDeps, type DrainSettings } from '../../jobs/drain.ts';
import { kick } from '../../jobs/kick.ts';
import { FakeClock } from '../../src/clock.ts';
import type { Outcome, OutcomeKind } from '../../src/delivery/outcome.ts';
import type { MwiDelivery } from '../../src/delivery/sender.ts';
import { ErrorCodes, MwiError, isMwiError } from '../../src/errors.ts';
import type { ConfigErrorReport } from '../../src/queue/config-error-log.ts';
import { DeliveryPermits } from '../../src/queue/delivery-permits.ts';
import { floodGuard } from '../../src/log-flood.ts';
import { FakeMailboxStore } from '../support/fake-mailbox-store.ts';

const SETTINGS: DrainSettings = { batchSize: 10, leaseMs: 60_000, maxRunMs: 5_000, retryBaseMs: 1_000, retryMaxMs: 300_000 };

function mailbox(i: number): string {
  return `sip:${1000 + i}@pbx.test`;
}

/** Records what was sent (mailbox + version from the summary) and the most deliveries in flight at once. */
class FakeSender {
  readonly sent: Array<{ mailbox: string; version: number }> = [];
  /** The publication each send was handed (MwiDelivery.publication), in order. */
  readonly publications: Array<MwiDelivery['publication']> = [];
  #etags = 0;
  inFlight = 0;
  maxInFlight = 0;
  /** Outcome kind per mailbox; delivered when unset. */
  readonly kinds = new Map<string, OutcomeKind | 'throw'>();
  /** Runs while a send is in flight (before it answers). */
  during: ((d: MwiDelivery) => void) | undefined;
  /** Event-loop turns a send takes. */
  turns = 2;
  /** A send that does not deliver reports the ETag it was handed as refused (a 412 came first). */
  refuseEtag = false;
  readonly #clock: FakeClock;
  /** Fake ms each send advances the clock. */
  readonly #sendMs: number;

  constructor(clock: FakeClock, sendMs = 0) {
    this.#clock = clock;
    this.#sendMs = sendMs;
  }

  async send(d: MwiDelivery): Promise<Outcome> {
    this.inFlight++;
    this.maxInFlight = Math.max(this.maxInFlight, this.inFlight);
    const startedAt = this.#clock.now();
    this.sent.push({ mailbox: d.mailbox, version: d.summary.counts['voice-message']?.new ?? -1 });
    this.publications.push(d.publication);
    try {
      this.during?.(d);
      for (let i = 0; i < this.turns; i++) await tick();
      this.#clock.advance(this.#sendMs);
      const kind = this.kinds.get(d.mailbox) ?? 'delivered';
      if (kind === 'throw') throw new TypeError('sender bug');
      const refused = this.refuseEtag && kind !== 'delivered' && d.publication ? { refusedEtag: d.publication.etag } : {};
      return { ...refused, kind, status: kind === 'delivered' ? 200 : kind === 'permanent' ? 404 : kind === 'config-error' ? 489 : 503, reason: kind, cause: 'response', requests: 1, startedAt, elapsedMs: this.#sendMs, ...(kind === 'delivered' ? { etag: `e${++this.#etags}`, expiresAt: startedAt + 3_600_000 } : {}) };
    } finally {
      this.inFlight--;
    }
  }
}

function setup(opts: { concurrency?: number; settings?: Partial<DrainSettings>; sendMs?: number } = {}) {
  const clock = new FakeClock();
  const store = new FakeMailboxStore(clock);
  const sender = new FakeSender(clock, opts.sendMs);
  const permits = new DeliveryPermits(opts.concurrency ?? 100);
  const configErrorReports: ConfigErrorReport[] = [];
  const deps: DrainDeps = {
    store,
    sender,
    clock,
    permits,
    configErrors: { report: (r) => (configErrorReports.push(r), true) },
    log: pino({ level: 'silent' }),
    settings: { ...SETTINGS, ...opts.settings },
    random: () => 0.5,
  };
  return { clock, store, sender, permits, deps, configErrorReports };
}

describe('drain job', () => {
  it('takes due mailboxes in batches of at most batchSize, delivers each once and stops when none is due', async () => {
    const { store, sender, permits, deps } = setup();
    for (let i = 0; i < 25; i++) store.apply(mailbox(i), 1);
    const report = await drain(deps);
    assert.equal(report.stoppedBy, 'idle');
    assert.equal(report.more, false);
    assert.equal(report.taken, 25);
    assert.equal(report.delivered, 25);
    assert.equal(report.requests, 25);
    assert.equal(sender.sent.length, 25);
    assert.equal(new Set(sender.sent.map((s) => s.mailbox)).size, 25);
    const takes = store.calls.filter((c) => c.op === 'take');
    assert.ok(takes.every((t) => t.op === 'take' && t.limit <= 10), JSON.stringify(takes));
    assert.equal(store.dirty.size, 0);
    assert.equal(permits.free, permits.capacity);
  });

  it('hands each delivery the ETag recorded with the last one to the same target, and records the new one with its target', async () => {
    const { clock, store, sender, deps } = setup();
    const other = { mode: 'publish' as const, target: 'sip:127.0.0.2:5060' };
    store.apply(mailbox(0), 1);
    await drain(deps);
    store.apply(mailbox(0), 2);
    await drain(deps);
    store.apply(mailbox(0), 3, other); // the route moved: the first target's ETag means nothing there
    await drain(deps);
    store.apply(mailbox(0), 4, other);
    await drain(deps);
    const expiresAt = clock.now() + 3_600_000;
    assert.deepEqual(sender.publications, [null, { etag: 'e1', expiresAt }, null, { etag: 'e3', expiresAt }]);
    const targets = store.calls.flatMap((c) => (c.op === 'delivered' ? [c.etagTarget] : []));
    assert.deepEqual(targets, ['sip:127.0.0.1:5060', 'sip:127.0.0.1:5060', 'sip:127.0.0.2:5060', 'sip:127.0.0.2:5060']);
  });

  it('forgets an ETag the server refused when the delivery then failed: the next one starts afresh', async () => {
    const { clock, store, sender, deps } = setup();
    store.apply(mailbox(0), 1);
    await drain(deps);
    store.apply(mailbox(0), 2);
    sender.kinds.set(mailbox(0), 'retryable');
    sender.refuseEtag = true;
    await drain(deps);
    sender.kinds.delete(mailbox(0));
    clock.advance(SETTINGS.retryMaxMs);
    await drain(deps);
    assert.deepEqual(sender.publications, [null, { etag: 'e1', expiresAt: clock.now() - SETTINGS.retryMaxMs + 3_600_000 }, null]);
  });

  it('returns at once when nothing is due', async () => {
    const { store, sender, deps } = setup();
    store.apply(mailbox(1), 1);
    store.dirty.set(mailbox(1), deps.clock.now() + 1000); // a retry in the future
    const report = await drain(deps);
    assert.deepEqual({ stoppedBy: report.stoppedBy, taken: report.taken, sent: sender.sent.length }, { stoppedBy: 'idle', taken: 0, sent: 0 });
  });

  it('never has more than concurrency deliveries in flight, even with two drains sharing the permits', async () => {
    const { store, sender, deps } = setup({ concurrency: 7, settings: { batchSize: 5 } });
    for (let i = 0; i < 200; i++) store.apply(mailbox(i), 1);
    sender.turns = 5;
    const [a, b] = await Promise.all([drain(deps), drain(deps)]);
    assert.equal(sender.maxInFlight, 7);
    assert.equal(a.delivered + b.delivered, 200);
    assert.equal(sender.sent.length, 200, 'leases keep the two drains off each other');
    assert.equal(store.dirty.size, 0);
    const overTake = store.calls.find((c) => c.op === 'take' && c.limit > 5);
    assert.equal(overTake, undefined, 'no take above batchSize');
  });

  it('a permit comes back when its send ends, not when its record does: slow records do not hold the next sends', async () => {
    const { store, sender, permits, deps } = setup({ concurrency: 2, settings: { batchSize: 2 } });
    for (let i = 0; i < 6; i++) store.apply(mailbox(i), 1);
    const held: Array<() => void> = [];
    const record = store.recordDelivered.bind(store);
    store.recordDelivered = (...args) => new Promise((resolve) => held.push(() => resolve(record(...args))));
    const run = drain(deps);
    for (let turn = 0; turn < 200 && held.length < 6; turn++) await tick();
    assert.equal(sender.sent.length, 6, 'every mailbox was sent while no record had completed');
    assert.equal(sender.maxInFlight, 2, 'still at most concurrency sends at once');
    assert.equal(held.length, 6);
    assert.equal(permits.free, 2);
    for (const release of held) release();
    const report = await run;
    assert.equal(report.delivered, 6);
    assert.equal(store.dirty.size, 0);
  });

  it('records every outcome with the policy: delivered, retry with backoff, park, slow config-error retry', async () => {
    const { clock, store, sender, deps, configErrorReports } = setup();
    const kinds: OutcomeKind[] = ['delivered', 'retryable', 'permanent', 'config-error'];
    kinds.forEach((k, i) => {
      store.apply(mailbox(i), 3);
      sender.kinds.set(mailbox(i), k);
    });
    const now = clock.now();
    const report = await drain(deps);
    assert.deepEqual([report.delivered, report.retried, report.parked, report.configErrors], [1, 1, 1, 1]);
    const records = store.calls.filter((c) => c.op !== 'take');
    assert.equal(records.length, 4, 'one record call per outcome');
    assert.deepEqual(records.find((c) => c.op === 'delivered'), { op: 'delivered', mailbox: mailbox(0), version: 3, etagTarget: 'sip:127.0.0.1:5060', result: 'clean' });
    assert.deepEqual(records.find((c) => c.op === 'attempt' && c.kind === 'retryable'), { op: 'attempt', mailbox: mailbox(1), kind: 'retryable', retryAt: now + 1_000, result: 'recorded' });
    assert.deepEqual(records.find((c) => c.op === 'park'), { op: 'park', mailbox: mailbox(2), version: 3, result: 'parked' });
    assert.deepEqual(records.find((c) => c.op === 'attempt' && c.kind === 'config-error'), { op: 'attempt', mailbox: mailbox(3), kind: 'config-error', retryAt: now + 225_000, result: 'recorded' });
    assert.deepEqual(configErrorReports, [{ target: 'sip:127.0.0.1:5060', mailbox: mailbox(3), status: 489, reason: 'config-error', retryAt: now + 225_000 }]);
    assert.deepEqual([...store.dirty.keys()].sort(), [mailbox(1), mailbox(3)], 'the parked and delivered mailboxes left the dirty set');
    assert.equal(store.entries.get(mailbox(1))?.attempts, 1);
  });

  it('parked deliveries of one target log their target; through floodGuard 30 of them write one line, then one summary', async () => {
    const { clock, store, sender, deps } = setup();
    const lines: Array<Record<string, unknown>> = [];
    const rec = (level: string) => (fields: object, msg: string) => lines.push({ level, msg, ...fields });
    deps.log = floodGuard({ debug: rec('debug'), info: rec('info'), warn: rec('warn'), error: rec('error') }, { clock, intervalMs: 60_000 });
    for (let i = 0; i < 30; i++) {
      store.apply(mailbox(i), 1);
      sender.kinds.set(mailbox(i), 'permanent');
    }
    const report = await drain(deps);
    assert.equal(report.parked, 30);
    const parked = lines.filter((l) => l.msg === 'delivery failed permanently; parked until a newer update');
    assert.equal(parked.length, 1);
    assert.deepEqual({ target: parked[0]?.target, status: parked[0]?.status }, { target: 'sip:127.0.0.1:5060', status: 404 });
    clock.advance(60_000);
    assert.deepEqual(lines.at(-1), { level: 'warn', msg: 'delivery failed permanently; parked until a newer update', target: 'sip:127.0.0.1:5060', code: '404', repeated: 29, intervalMs: 60_000 });
  });

  it('grows the retry delay with the stored attempt count', async () => {
    const { clock, store, sender, deps } = setup();
    store.apply(mailbox(0), 1);
    sender.kinds.set(mailbox(0), 'retryable');
    const delays: number[] = [];
    for (let i = 0; i < 4; i++) {
      const before = clock.now();
      await drain(deps);
      const due = store.dirty.get(mailbox(0)) ?? 0;
      delays.push(due - before);
      clock.advance(due - before);
    }
    // random 0.5: halfway between retryBaseMs and the doubling ceiling.
    assert.deepEqual(delays, [1_000, 1_500, 2_500, 4_500]);
    sender.kinds.delete(mailbox(0));
    await drain(deps);
    assert.equal(store.dirty.has(mailbox(0)), false);
    assert.equal(store.entries.get(mailbox(0))?.attempts, 0, 'a delivery resets the attempt count');
  });

  it('updates arriving during a delivery give exactly one follow-up delivery, of the latest state', async () => {
    const { store, sender, deps } = setup();
    store.apply(mailbox(0), 1);
    store.apply(mailbox(1), 1);
    let injected = false;
    sender.during = (d) => {
      if (d.mailbox === mailbox(0) && !injected) {
        injected = true;
        store.apply(mailbox(0), 2);
        store.apply(mailbox(0), 5);
        store.apply(mailbox(0), 4); // out of order: stale
      }
    };
    const report = await drain(deps);
    assert.deepEqual(
      sender.sent.filter((s) => s.mailbox === mailbox(0)).map((s) => s.version),
      [1, 5],
    );
    assert.equal(report.delivered, 3);
    assert.equal(report.stoppedBy, 'idle');
    assert.equal(store.dirty.size, 0);
  });

  it('stops taking work after maxRunMs and asks for a follow-up; what it took is all delivered', async () => {
    const { store, sender, deps } = setup({ settings: { maxRunMs: 50, batchSize: 2 }, concurrency: 2, sendMs: 10 });
    for (let i = 0; i < 40; i++) store.apply(mailbox(i), 1);
    const report = await drain(deps);
    assert.equal(report.stoppedBy, 'time');
    assert.equal(report.more, true);
    assert.ok(report.taken > 0 && report.taken < 40, String(report.taken));
    assert.equal(report.delivered, report.taken);
    assert.equal(store.dirty.size, 40 - report.taken);
    assert.equal(sender.sent.length, report.taken);
  });

  it('an abort stops it taking new mailboxes; deliveries in flight still finish and are recorded', async () => {
    const { store, sender, permits, deps } = setup({ concurrency: 3, settings: { batchSize: 3 } });
    for (let i = 0; i < 30; i++) store.apply(mailbox(i), 1);
    const stop = new AbortController();
    sender.during = () => {
      if (sender.sent.length === 3) stop.abort();
    };
    const report = await drain(deps, stop.signal);
    assert.equal(report.stoppedBy, 'signal');
    assert.equal(report.more, true);
    assert.equal(report.taken, 3);
    assert.equal(report.delivered, 3);
    assert.equal(store.dirty.size, 27);
    assert.equal(permits.free, 3);
  });

  it('a Redis outage stops the drain: it rethrows MWI_REDIS_UNAVAILABLE after deliveries in flight settle', async () => {
    const { store, sender, permits, deps } = setup({ concurrency: 4, settings: { batchSize: 4 } });
    for (let i = 0; i < 20; i++) store.apply(mailbox(i), 1);
    sender.during = () => {
      if (sender.sent.length === 4) store.takeError = new MwiError(ErrorCodes.REDIS_UNAVAILABLE, 'down', { retryable: true });
    };
    await assert.rejects(drain(deps), (err: unknown) => isMwiError(err, ErrorCodes.REDIS_UNAVAILABLE));
    assert.equal(sender.inFlight, 0);
    assert.equal(permits.free, 4, 'every permit came back');
    assert.equal(store.calls.filter((c) => c.op === 'delivered').length, 4, 'what was in flight was recorded');

    // Down at the first take: nothing is sent, every permit comes back.
    const sent = sender.sent.length;
    await assert.rejects(drain(deps), (err: unknown) => isMwiError(err, ErrorCodes.REDIS_UNAVAILABLE));
    assert.equal(sender.sent.length, sent);
    assert.equal(permits.free, 4);
  });

  /** Moves the fake clock on by `stepMs` each turn until `done()`; fails after `maxTurns` (never hangs). */
  async function passTimeUntil(clock: FakeClock, done: () => boolean, what: string, stepMs = 50, maxTurns = 10_000): Promise<void> {
    for (let turns = 0; !done(); turns++) {
      if (turns >= maxTurns) assert.fail(`${what}: not after ${maxTurns} turns of ${stepMs} ms`);
      await tick();
      clock.advance(stepMs);
    }
  }

  /** Runs `work` while moving the fake clock on until it settles. */
  async function withTime<T>(clock: FakeClock, work: Promise<T>): Promise<T> {
    let settled = false;
    work.then(() => (settled = true), () => (settled = true));
    await passTimeUntil(clock, () => settled, 'the drain to end');
    return work;
  }

  it('an outcome refused while Redis is unreachable is recorded again with backoff once it is back, not left to its lease', async () => {
    // CI once waited over 20 s for a delivery after a Sentinel failover: its record had failed,
    // and the mailbox stayed leased (60 s) with a newer update behind it.
    const { clock, store, sender, deps } = setup({ concurrency: 4, settings: { batchSize: 4 } });
    for (let i = 0; i < 4; i++) store.apply(mailbox(i), 1);
    const down = new MwiError(ErrorCodes.REDIS_UNAVAILABLE, 'down', { retryable: true });
    sender.during = () => {
      store.recordError = down;
    };
    const startedAt = clock.now();
    const run = drain(deps);
    await passTimeUntil(clock, () => store.recordRefusals.length >= 12, '12 refused records');
    store.recordError = undefined; // Redis is back (a failover took a few seconds)
    await assert.rejects(withTime(clock, run), (err: unknown) => isMwiError(err, ErrorCodes.REDIS_UNAVAILABLE), 'the outage still ends the job');
    assert.equal(sender.sent.length, 4, 'nothing more was taken once Redis was seen down');
    assert.equal(store.dirty.size, 0, 'every delivery made was recorded: no mailbox waits for its lease');
    assert.deepEqual(store.calls.filter((c) => c.op === 'delivered').map((c) => c.result), ['clean', 'clean', 'clean', 'clean']);
    // Backoff between tries of one record: 25-50 ms, then doubling, jittered (reconnectDelayMs).
    const gaps = store.recordRefusals.slice(4).map((t, i) => t - (store.recordRefusals[i] ?? 0));
    assert.ok(gaps.every((g) => g >= 25), `retried without backoff: ${gaps.join(' ')}`);
    assert.ok(clock.now() - startedAt < 10_000);
  });

  it('while Redis stays away, an outcome is tried until shortly before its lease ends, then left to the lease', async () => {
    const { clock, store, sender, deps } = setup({ concurrency: 1, settings: { batchSize: 1, leaseMs: 10_000 } });
    store.apply(mailbox(0), 1);
    sender.during = () => {
      store.recordError = new MwiError(ErrorCodes.REDIS_UNAVAILABLE, 'down', { retryable: true });
    };
    const leasedAt = clock.now();
    await assert.rejects(withTime(clock, drain(deps)), (err: unknown) => isMwiError(err, ErrorCodes.REDIS_UNAVAILABLE));
    const last = store.recordRefusals.at(-1) ?? 0;
    assert.ok(store.recordRefusals.length >= 8, `${store.recordRefusals.length} tries`);
    assert.ok(last <= leasedAt + 10_000 - 1_000, `tried ${last - leasedAt} ms into a 10 s lease`);
    assert.ok(last >= leasedAt + 10_000 - 1_000 - 2_000, `gave up ${last - leasedAt} ms into a 10 s lease, long before its end`);
    assert.equal(store.dirty.get(mailbox(0)), leasedAt + 10_000, 'still leased: due again when the lease ends');
  });

  it('a stop (shutdown) ends the record retries at once', async () => {
    const { clock, store, sender, deps } = setup({ concurrency: 1, settings: { batchSize: 1 } });
    store.apply(mailbox(0), 1);
    const stop = new AbortController();
    sender.during = () => {
      store.recordError = new MwiError(ErrorCodes.REDIS_UNAVAILABLE, 'down', { retryable: true });
    };
    const run = drain(deps, stop.signal);
    await passTimeUntil(clock, () => store.recordRefusals.length >= 3, '3 refused records');
    const tries = store.recordRefusals.length;
    stop.abort();
    await assert.rejects(run, (err: unknown) => isMwiError(err, ErrorCodes.REDIS_UNAVAILABLE));
    assert.equal(store.recordRefusals.length, tries, 'no try after the stop');
    assert.equal(clock.pending, 0, 'no timer left behind');
  });

  it('a sender that throws is recorded as a retryable failure, not left to its lease', async () => {
    const { clock, store, sender, deps } = setup();
    store.apply(mailbox(0), 1);
    sender.kinds.set(mailbox(0), 'throw');
    const report = await drain(deps);
    assert.equal(report.retried, 1);
    assert.equal(store.dirty.get(mailbox(0)), clock.now() + 1_000);
    assert.match(store.entries.get(mailbox(0))?.lastOutcome?.reason ?? '', /internal error: sender bug/);
  });

  it('parks a mailbox whose stored desired state is unreadable, sends nothing for it, and delivers the rest of the batch', async () => {
    const { store, sender, deps } = setup();
    for (let i = 0; i < 5; i++) store.apply(mailbox(i), 1);
    store.apply(mailbox(2), 3);
    store.unreadable.add(mailbox(2));
    const report = await drain(deps);
    assert.equal(report.delivered, 4);
    assert.equal(report.parked, 1);
    assert.ok(!sender.sent.some((d) => d.mailbox === mailbox(2)), 'nothing sent for the unreadable one');
    assert.deepEqual(store.calls.filter((c) => c.op === 'park'), [{ op: 'park', mailbox: mailbox(2), version: 3, result: 'parked' }]);
    assert.match(store.entries.get(mailbox(2))?.lastOutcome?.reason ?? '', /not valid JSON/);
    assert.equal(store.dirty.size, 0);
  });

  it('drops a dirty entry that has no desired state without sending anything', async () => {
    const { store, sender, deps } = setup();
    store.dirty.set('sip:ghost@pbx.test', 0);
    await drain(deps);
    assert.equal(sender.sent.length, 0);
    assert.deepEqual(store.calls.filter((c) => c.op === 'park'), [{ op: 'park', mailbox: 'sip:ghost@pbx.test', version: 0, result: 'unknown-mailbox' }]);
    assert.equal(store.dirty.size, 0);
  });
});

describe('kick job', () => {
  it('wakes nothing when nothing is due, else one slot per batch due plus one, at most all slots', async () => {
    const clock = new FakeClock();
    const store = new FakeMailboxStore(clock);
    const woken: number[] = [];
    const deps = { store, wake: (n: number) => (woken.push(n), Promise.resolve()), batchSize: 10, slots: 4 };
    assert.deepEqual(await kick(deps), { due: 0, woken: 0 });
    for (let i = 0; i < 15; i++) store.apply(mailbox(i), 1);
    assert.deepEqual(await kick(deps), { due: 15, woken: 3 });
    for (let i = 15; i < 100; i++) store.apply(mailbox(i), 1);
    assert.deepEqual(await kick(deps), { due: 100, woken: 4 });
    assert.deepEqual(woken, [3, 4]);
  });
});
