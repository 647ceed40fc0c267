import assert from 'node:assert/strict';
import { describe, it } from 'node:test';

import { defaultConfig } from '../../config/schema.ts';
import { FakeClock } from '../../src/clock.ts';
import { ErrorCodes, MwiError } from '../../src/errors.ts';
import type { RateSettings } from '../../src/rate/aimd.ts';
import type { AcquireResult, RateStore, StoredRate, WorkerReport } from '../../src/rate/rate-store.ts';
import { FleetTargetGate } from '../../src/rate/target-gate.ts';
import type { Admission } from '../../src/rate/types.ts';

const ID = 'udp:10.0.0.5:5060';
const settings: RateSettings = { ...defaultConfig().rate, maxWaitMs: 2_000, minPerSec: 5 };

type Answer = Partial<AcquireResult> | (() => Promise<AcquireResult>);

/** Answers acquire() from a script of answers (the last one repeats); records every call. */
class FakeStore implements RateStore {
  readonly acquires: Array<{ want: number; nowMs: number; workerInFlight: number }> = [];
  readonly reports: WorkerReport[] = [];
  readonly holds: Array<{ untilMs: number; reason: string }> = [];
  answers: Answer[] = [{}];
  failing = false;

  acquire(_id: string, want: number, nowMs: number, _worker: string, workerInFlight: number): Promise<AcquireResult> {
    this.acquires.push({ want, nowMs, workerInFlight });
    if (this.failing) return Promise.reject(new MwiError(ErrorCodes.REDIS_UNAVAILABLE, 'down', { retryable: true }));
    const answer = (this.answers.length > 1 ? this.answers.shift() : this.answers[0]) ?? {};
    if (typeof answer === 'function') return answer();
    const granted = answer.granted ?? want;
    return Promise.resolve({
      granted, waitMs: 20, holdUntil: 0, limitedBy: granted < want ? 'rate' : 'none', ratePerSec: 100, fleetInFlight: granted, liveWorkers: 1, ...answer,
    });
  }
  report(_id: string, _worker: string, report: WorkerReport): Promise<undefined> {
    if (this.failing) return Promise.reject(new MwiError(ErrorCodes.REDIS_UNAVAILABLE, 'down', { retryable: true }));
    this.reports.push(report);
    return Promise.resolve(undefined);
  }
  hold(_id: string, untilMs: number, reason: string): Promise<number> {
    this.holds.push({ untilMs, reason });
    return Promise.resolve(untilMs);
  }
  slowStart(): Promise<void> {
    return Promise.resolve();
  }
  overloadControl(): Promise<void> {
    return Promise.resolve();
  }
  snapshot(): Promise<StoredRate | undefined> {
    return Promise.resolve(undefined);
  }
}

async function settle(): Promise<void> {
  for (let i = 0; i < 5; i++) await new Promise<void>((resolve) => setImmediate(resolve));
}

/** Advances the fake clock in steps, letting promise callbacks run between timers. */
async function advance(clock: FakeClock, ms: number, stepMs = 1): Promise<void> {
  await settle();
  let done = 0;
  do {
    const step = Math.min(stepMs, ms - done);
    clock.advance(step);
    done += step;
    await settle();
  } while (done < ms);
}

function setup(over: { settings?: RateSettings; warnings?: unknown[] } = {}) {
  const clock = new FakeClock();
  const store = new FakeStore();
  const warnings = over.warnings ?? [];
  const gate = new FleetTargetGate({
    store, settings: over.settings ?? settings, worker: 'w1', clock, random: () => 0.5,
    log: { warn: (obj: unknown) => warnings.push(obj), info: () => {} },
  });
  return { clock, store, gate, warnings };
}

/** The admission once it resolved (a getter, so each read sees the latest). */
function track(p: Promise<Admission>): () => Admission | undefined {
  let result: Admission | undefined;
  void p.then((a) => (result = a));
  return () => result;
}

describe('FleetTargetGate', { timeout: 10_000 }, () => {
  it('asks the store once for the whole batch of waiters and grants them first come first served', async () => {
    const { clock, store, gate } = setup();
    store.answers = [{ granted: 3 }, { granted: 2 }];
    const order: number[] = [];
    const all = [0, 1, 2, 3, 4].map((i) => gate.admit(ID).then((a) => (order.push(i), a)));
    await advance(clock, 0);
    assert.deepEqual(store.acquires.map((c) => c.want), [5], 'one call for the batch');
    assert.deepEqual(order, [0, 1, 2]);
    await advance(clock, 20);
    assert.deepEqual(store.acquires.map((c) => [c.want, c.workerInFlight]), [[5, 0], [2, 3]], 'after the wait hint, the rest; in-flight counted');
    assert.deepEqual(order, [0, 1, 2, 3, 4]);
    assert.ok((await Promise.all(all)).every((a) => a.ok));
    await gate.close();
  });

  it('a waiter not granted within rate.maxWaitMs gets { ok: false } with a jittered retryAt, and the pump polls within 2..100 ms', async () => {
    const { clock, store, gate } = setup();
    store.answers = [{ granted: 0, waitMs: 100_000 }];
    const start = clock.now();
    const result = track(gate.admit(ID));
    await advance(clock, 1_990, 10);
    assert.equal(result(), undefined);
    assert.ok(store.acquires.length >= 19 && store.acquires.length <= 21, `${store.acquires.length} polls in 2 s: the wait hint is capped at 100 ms`);
    await advance(clock, 10);
    const r = result();
    assert.ok(r !== undefined && !r.ok);
    assert.equal(r.retryAt, start + 2_000 + 1_500);
    await gate.close();
  });

  it('a held target refuses every waiter at once with retryAt at the end of the hold, and later callers without asking the store', async () => {
    const { clock, store, gate } = setup();
    const holdUntil = clock.now() + 5_000;
    store.answers = [{ granted: 0, limitedBy: 'hold', holdUntil, holdReason: '503 Retry-After' }];
    const a = gate.admit(ID);
    const b = gate.admit(ID);
    await advance(clock, 0);
    for (const r of await Promise.all([a, b])) {
      assert.ok(!r.ok && r.retryAt >= holdUntil && r.retryAt <= holdUntil + 1_000, JSON.stringify(r));
      assert.match(r.reason, /503 Retry-After/);
    }
    const calls = store.acquires.length;
    const c = await gate.admit(ID);
    assert.ok(!c.ok);
    assert.equal(store.acquires.length, calls);
    assert.equal(gate.snapshot(ID)?.holdUntil, holdUntil);
    await gate.close();
  });

  it('hold() refuses the local waiters at once and tells the store', async () => {
    const { clock, store, gate } = setup();
    store.answers = [{ granted: 0, waitMs: 50 }];
    const waiting = gate.admit(ID);
    await advance(clock, 0);
    await gate.hold(ID, clock.now() + 3_000, '503 Retry-After: 3');
    const r = await waiting;
    assert.ok(!r.ok && r.retryAt >= clock.now() + 3_000);
    assert.deepEqual(store.holds, [{ untilMs: clock.now() + 3_000, reason: '503 Retry-After: 3' }]);
    await gate.close();
  });

  it('release() sums the feedback and reports it within the report interval, with the in-flight count', async () => {
    const { clock, store, gate } = setup();
    const pending = [gate.admit(ID), gate.admit(ID), gate.admit(ID)];
    await advance(clock, 0);
    const permits = (await Promise.all(pending)).map((a) => {
      assert.ok(a.ok);
      return a.permit;
    });
    permits[0]?.release({ latencyMs: 10, result: 'ok', retransmissions: 0 });
    permits[1]?.release({ latencyMs: 100, result: 'timeout', retransmissions: 2 });
    permits[1]?.release({ latencyMs: 100, result: 'timeout', retransmissions: 2 });
    await advance(clock, 100);
    assert.deepEqual(store.reports.at(-1), {
      ok: 1, overload: 0, timeouts: 1, transportErrors: 0, retransmissions: 2, latencySumMs: 110, latencyCount: 2, latencyMaxMs: 100, inFlight: 1,
    });
    await gate.close();
  });

  it('does not send its in-flight count while an acquire is under way (the grant would be erased)', async () => {
    const { clock, store, gate } = setup();
    const first = await (async () => {
      const p = gate.admit(ID);
      await advance(clock, 0);
      return p;
    })();
    assert.ok(first.ok);
    let answer: (r: AcquireResult) => void = () => {};
    store.answers = [() => new Promise<AcquireResult>((resolve) => (answer = resolve))];
    const second = gate.admit(ID);
    await advance(clock, 0);
    first.permit.release({ latencyMs: 5, result: 'ok', retransmissions: 0 });
    await advance(clock, 100);
    assert.equal(store.reports.at(-1)?.inFlight, -1);
    answer({ granted: 1, waitMs: 0, holdUntil: 0, limitedBy: 'none', ratePerSec: 100, fleetInFlight: 1, liveWorkers: 1 });
    assert.ok((await second).ok);
    await advance(clock, 100);
    assert.equal(store.reports.at(-1)?.inFlight, 1);
    await gate.close();
  });

  it('Redis unreachable: admits at most rate.minPerSec locally (never unlimited) and warns once', async () => {
    const warnings: unknown[] = [];
    const { clock, store, gate } = setup({ warnings });
    store.failing = true;
    const results = Array.from({ length: 50 }, () => track(gate.admit(ID)));
    await advance(clock, 1_000, 5);
    const admitted = results.filter((r) => r()?.ok === true).length;
    assert.ok(admitted >= 5 && admitted <= 6, `${admitted} admitted in 1 s at 5/s (one token to start)`);
    assert.equal(warnings.length, 1);
    await gate.close();
  });

  it('an aborted caller leaves the queue with { ok: false }', async () => {
    const { clock, store, gate } = setup();
    store.answers = [{ granted: 0 }];
    const stop = new AbortController();
    const p = gate.admit(ID, stop.signal);
    await advance(clock, 0);
    stop.abort();
    const r = await p;
    assert.ok(!r.ok && r.reason === 'aborted');
    await gate.close();
  });

  it('close() refuses the waiters, reports the in-flight count and leaves no timer behind', async () => {
    const { clock, store, gate } = setup();
    const first = gate.admit(ID);
    await advance(clock, 0);
    assert.ok((await first).ok);
    store.answers = [{ granted: 0 }];
    const waiting = gate.admit(ID);
    await advance(clock, 0);
    await gate.close();
    const r = await waiting;
    assert.ok(!r.ok && r.reason === 'gate closed');
    assert.equal(store.reports.at(-1)?.inFlight, 1);
    assert.equal(clock.pending, 0);
    assert.deepEqual(gate.snapshots().map((s) => s.id), [ID]);
  });
});
