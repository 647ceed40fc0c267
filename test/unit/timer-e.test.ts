import { test } from 'node:test';
import assert from 'node:assert/strict';
import { FakeClock } from '../../src/clock.ts';
import { TimerE, nextTimerEIntervalMs, timerESendOffsetsMs } from '../../src/sip/transport/timer-e.ts';

/** Runs a TimerE on a FakeClock and returns the offsets of the first send and every retransmission. */
function run(t1Ms: number, t2Ms: number, timeoutMs: number, opts: { provisionalAtMs?: number; finalAtMs?: number } = {}) {
  const clock = new FakeClock();
  const start = clock.now();
  const sends = [0];
  let expiredAtMs: number | undefined;
  const timer = new TimerE({
    clock,
    t1Ms,
    t2Ms,
    timeoutMs,
    retransmit: () => sends.push(clock.now() - start),
    expire: () => {
      assert.equal(expiredAtMs, undefined, 'expire fires once');
      expiredAtMs = clock.now() - start;
    },
  });
  if (opts.provisionalAtMs !== undefined) {
    const at = opts.provisionalAtMs;
    clock.setTimeout(() => timer.provisional(), at);
  }
  if (opts.finalAtMs !== undefined) clock.setTimeout(() => timer.stop(), opts.finalAtMs);
  clock.advance(timeoutMs * 3);
  return { sends, expiredAtMs, pending: clock.pending, stopped: timer.stopped };
}

void test('schedule: T1 500, T2 4000, timeout 4000 sends at 0, 500, 1500, 3500', () => {
  assert.deepEqual(timerESendOffsetsMs(500, 4000, 4000), [0, 500, 1500, 3500]);
});

void test('schedule: RFC defaults over 64*T1 = 32 s is 11 datagrams, intervals capped at T2', () => {
  const offsets = timerESendOffsetsMs(500, 4000, 32_000);
  assert.deepEqual(offsets, [0, 500, 1500, 3500, 7500, 11500, 15500, 19500, 23500, 27500, 31500]);
});

void test('schedule: several T1/T2/timeout combinations', () => {
  assert.deepEqual(timerESendOffsetsMs(20, 40, 200), [0, 20, 60, 100, 140, 180]);
  assert.deepEqual(timerESendOffsetsMs(100, 100, 350), [0, 100, 200, 300]);
  assert.deepEqual(timerESendOffsetsMs(20, 80, 250), [0, 20, 60, 140, 220]);
  assert.deepEqual(timerESendOffsetsMs(20, 200, 250), [0, 20, 60, 140]);
  assert.deepEqual(timerESendOffsetsMs(500, 4000, 400), [0], 'timeout before T1: the first send only');
});

void test('schedule: nothing is sent at the deadline itself', () => {
  assert.deepEqual(timerESendOffsetsMs(500, 4000, 1500), [0, 500]);
  assert.deepEqual(timerESendOffsetsMs(500, 4000, 1501), [0, 500, 1500]);
});

void test('schedule: after a provisional every later interval is T2; the pending retransmission keeps its time', () => {
  assert.deepEqual(timerESendOffsetsMs(500, 4000, 32_000, 600), [0, 500, 1500, 5500, 9500, 13500, 17500, 21500, 25500, 29500]);
  assert.deepEqual(timerESendOffsetsMs(500, 4000, 10_000, 0), [0, 500, 4500, 8500]);
});

void test('step: doubles in Trying, capped at T2; T2 in Proceeding', () => {
  assert.equal(nextTimerEIntervalMs(500, 4000, false), 1000);
  assert.equal(nextTimerEIntervalMs(2000, 4000, false), 4000);
  assert.equal(nextTimerEIntervalMs(4000, 4000, false), 4000);
  assert.equal(nextTimerEIntervalMs(500, 4000, true), 4000);
});

void test('schedule rejects nonsense timer values', () => {
  assert.throws(() => timerESendOffsetsMs(0, 4000, 1000), RangeError);
  assert.throws(() => timerESendOffsetsMs(500, 400, 1000), RangeError);
  assert.throws(() => timerESendOffsetsMs(500, 4000, 0), RangeError);
});

void test('TimerE on a FakeClock retransmits exactly at the pure schedule offsets, then expires at the deadline', () => {
  for (const [t1, t2, timeout] of [
    [500, 4000, 4000],
    [500, 4000, 32_000],
    [20, 40, 200],
    [100, 100, 350],
    [500, 4000, 1500],
  ] as const) {
    const r = run(t1, t2, timeout);
    assert.deepEqual(r.sends, timerESendOffsetsMs(t1, t2, timeout), `T1 ${t1} T2 ${t2} timeout ${timeout}`);
    assert.equal(r.expiredAtMs, timeout);
    assert.equal(r.pending, 0, 'no timer left behind');
    assert.equal(r.stopped, true);
  }
});

void test('TimerE switches to T2 intervals after a provisional response', () => {
  const r = run(500, 4000, 32_000, { provisionalAtMs: 600 });
  assert.deepEqual(r.sends, [0, 500, 1500, 5500, 9500, 13500, 17500, 21500, 25500, 29500]);
  assert.deepEqual(r.sends, timerESendOffsetsMs(500, 4000, 32_000, 600));
  assert.equal(r.expiredAtMs, 32_000);
});

void test('TimerE stops on a final response: no more retransmissions, no expire, no timer left', () => {
  const r = run(500, 4000, 32_000, { finalAtMs: 2000 });
  assert.deepEqual(r.sends, [0, 500, 1500]);
  assert.equal(r.expiredAtMs, undefined);
  assert.equal(r.pending, 0);
});

void test('TimerE holds one clock timer at a time and stop() is idempotent', () => {
  const clock = new FakeClock();
  const timer = new TimerE({ clock, t1Ms: 500, t2Ms: 4000, timeoutMs: 32_000, retransmit: () => undefined, expire: () => undefined });
  assert.equal(clock.pending, 1);
  clock.advance(1600);
  assert.equal(clock.pending, 1);
  timer.stop();
  timer.stop();
  assert.equal(clock.pending, 0);
});

void test('TimerE stopped from inside its retransmit callback does not fire again', () => {
  const clock = new FakeClock();
  let count = 0;
  const timer: TimerE = new TimerE({
    clock,
    t1Ms: 100,
    t2Ms: 400,
    timeoutMs: 10_000,
    retransmit: () => {
      count++;
      timer.stop();
    },
    expire: () => assert.fail('must not expire'),
  });
  clock.advance(20_000);
  assert.equal(count, 1);
  assert.equal(clock.pending, 0);
});

void test('TimerE keeps to the planned schedule when timers run late (no drift, no extra datagrams)', () => {
  const fake = new FakeClock();
  const lateMs = 300;
  const lateClock = {
    now: () => fake.now(),
    setTimeout: (fn: () => void, ms: number) => fake.setTimeout(fn, ms + lateMs),
    clearTimeout: (h: Parameters<FakeClock['clearTimeout']>[0]) => fake.clearTimeout(h),
  };
  const start = fake.now();
  const sends = [0];
  let expiredAtMs: number | undefined;
  new TimerE({
    clock: lateClock,
    t1Ms: 500,
    t2Ms: 4000,
    timeoutMs: 32_000,
    retransmit: () => sends.push(fake.now() - start),
    expire: () => (expiredAtMs = fake.now() - start),
  });
  fake.advance(100_000);
  const planned = timerESendOffsetsMs(500, 4000, 32_000);
  assert.deepEqual(sends, planned.map((ms, i) => (i === 0 ? 0 : ms + lateMs)));
  assert.equal(expiredAtMs, 32_000 + lateMs);
});

void test('sentAtMs: a timer started T1 after the send keeps the schedule of the send (first retransmission at once)', () => {
  const clock = new FakeClock();
  const start = clock.now();
  const sends: number[] = [];
  let expiredAtMs: number | undefined;
  clock.advance(500);
  new TimerE({
    clock,
    t1Ms: 500,
    t2Ms: 4000,
    timeoutMs: 4000,
    sentAtMs: start,
    retransmit: () => sends.push(clock.now() - start),
    expire: () => (expiredAtMs = clock.now() - start),
  });
  clock.advance(12_000);
  assert.deepEqual(sends, [500, 1500, 3500]);
  assert.equal(expiredAtMs, 4000);
});
