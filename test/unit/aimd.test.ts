import assert from 'node:assert/strict';
import { describe, it } from 'node:test';

import fc from 'fast-check';

import { defaultConfig } from '../../config/schema.ts';
import {
  applyOverloadControl,
  capPerSec,
  congestionOf,
  initialRateState,
  MIN_LATENCY_SAMPLES,
  nextRate,
  PROBE_STEP_FRACTION,
  restartState,
  type RateSettings,
  type RateState,
  type WindowStats,
} from '../../src/rate/aimd.ts';

const T0 = 1_700_000_000_000;
const adaptive: RateSettings = { ...defaultConfig().rate, ceilingPerSec: 10_000 };

/** A window of `ms` in which the fleet used the whole rate and every answer came back fast and 200. */
function clean(state: RateState, endedAt: number, ms = adaptive.controlIntervalMs, over: Partial<WindowStats> = {}): WindowStats {
  const admitted = Math.ceil((state.ratePerSec * ms) / 1000);
  return {
    startedAt: endedAt - ms, endedAt, admitted, ok: admitted, overload: 0, timeouts: 0, transportErrors: 0,
    retransmissions: 0, latencySumMs: admitted * 5, latencyCount: admitted, latencyMaxMs: 10, ...over,
  };
}

describe('aimd nextRate', () => {
  it('slow start doubles the rate per clean saturated interval from rate.initialPerSec', () => {
    let s = initialRateState(adaptive);
    assert.equal(s.phase, 'slow-start');
    assert.equal(s.ratePerSec, 50);
    const rates: number[] = [];
    for (let i = 1; i <= 4; i++) {
      s = nextRate(s, clean(s, T0 + i * 500), adaptive);
      rates.push(s.ratePerSec);
    }
    assert.deepEqual(rates, [100, 200, 400, 800]);
  });

  it('does not grow while the target is idle or the rate was not used', () => {
    const s: RateState = { ...initialRateState(adaptive), phase: 'avoidance', ratePerSec: 1000, ssthreshPerSec: 1000 };
    const idleHour = clean(s, T0 + 3_600_000, 3_600_000, { admitted: 3, ok: 3, latencyCount: 3, latencySumMs: 6 });
    assert.equal(nextRate(s, idleHour, adaptive).ratePerSec, 1000);
    const halfUsed = clean(s, T0 + 500, 500, { admitted: 250 });
    assert.equal(nextRate(s, halfUsed, adaptive).ratePerSec, 1000);
  });

  it('a congested window multiplies the rate by rate.decreaseFactor, ends slow start and ignores its own echo', () => {
    let s: RateState = { ...initialRateState(adaptive), ratePerSec: 1600 };
    s = nextRate(s, clean(s, T0 + 500, 500, { timeouts: 3, latencyMaxMs: 4000 }), adaptive);
    assert.equal(s.ratePerSec, 1120);
    assert.equal(s.phase, 'avoidance');
    assert.equal(s.ssthreshPerSec, 1120);
    const echo = nextRate(s, clean(s, T0 + 1000, 500, { timeouts: 1, latencyMaxMs: 4000 }), adaptive);
    assert.equal(echo.ratePerSec, 1120, 'timeouts of requests sent before the decrease do not decrease again');
    const later = nextRate(echo, clean(echo, T0 + 2100, 500, { overload: 1 }), adaptive);
    assert.equal(later.ratePerSec, 1120 * 0.7);
  });

  it('avoidance adds a constant step per clean interval (5% of ssthresh)', () => {
    let s: RateState = { ...initialRateState(adaptive), phase: 'avoidance', ratePerSec: 1000, ssthreshPerSec: 1000 };
    s = nextRate(s, clean(s, T0 + 500), adaptive);
    s = nextRate(s, clean(s, T0 + 1000), adaptive);
    assert.equal(s.ratePerSec, 1100);
  });

  it('climbs back toward the capacity last measured by halves, then probes past it by 2% of it per interval', () => {
    let s: RateState = { ...initialRateState(adaptive), phase: 'avoidance', ratePerSec: 700, ssthreshPerSec: 700, capacityPerSec: 1000 };
    const rates: number[] = [];
    for (let i = 1; i <= 5; i++) {
      s = nextRate(s, clean(s, T0 + 500 * i), adaptive);
      rates.push(Math.round(s.ratePerSec));
    }
    assert.deepEqual(rates, [850, 925, 963, 998, 1020]);
    s = nextRate(s, clean(s, T0 + 3000), adaptive);
    assert.equal(Math.round(s.ratePerSec), 1000 + 2 * 1000 * PROBE_STEP_FRACTION);
  });

  it('latency above baseline + rate.latencyTargetMs is congestion, unless it is already falling (the queue drains)', () => {
    const base: RateState = { ...initialRateState(adaptive), phase: 'avoidance', ratePerSec: 1000, ssthreshPerSec: 1000, baselineLatencyMs: 2, lastLatencyMs: 100 };
    const slow = (meanMs: number): WindowStats => clean(base, T0 + 500, 500, { latencySumMs: meanMs * 500, latencyCount: 500 });
    assert.equal(congestionOf(slow(151), 2, adaptive), undefined);
    assert.equal(congestionOf(slow(153), 2, adaptive), 'latency');
    assert.equal(nextRate(base, slow(200), adaptive).ratePerSec, 700);
    const draining = nextRate({ ...base, lastLatencyMs: 300 }, slow(200), adaptive);
    assert.equal(draining.ratePerSec, 1000);
    assert.equal(draining.lastLatencyMs, 200);
  });

  it('a mean latency of fewer than MIN_LATENCY_SAMPLES answers is not congestion (one slow answer at a low rate)', () => {
    const s: RateState = { ...initialRateState(adaptive), phase: 'avoidance', ratePerSec: 20, ssthreshPerSec: 20, baselineLatencyMs: 2 };
    const few = (n: number): WindowStats => clean(s, T0 + 500, 500, { admitted: n, ok: n, latencySumMs: 400 * n, latencyCount: n, latencyMaxMs: 400 });
    assert.equal(congestionOf(few(MIN_LATENCY_SAMPLES - 1), 2, adaptive), undefined);
    assert.equal(congestionOf(few(MIN_LATENCY_SAMPLES), 2, adaptive), 'latency');
    // Timeouts count at any rate.
    assert.equal(congestionOf(clean(s, T0 + 500, 500, { admitted: 2, ok: 1, timeouts: 1, latencyCount: 1, latencySumMs: 2 }), 2, adaptive), 'timeout');
  });

  it('congestion in a window that did not use the rate decreases from the rate, not from the goodput (which measured our demand)', () => {
    // Found in the incident replay: 263/s allowed, a handful of deliveries in a window with one
    // slow answer, and the goodput-based decrease cut the rate to 26/s.
    const s: RateState = { ...initialRateState(adaptive), phase: 'avoidance', ratePerSec: 1000, ssthreshPerSec: 1000, baselineLatencyMs: 2 };
    const idleButSlow = clean(s, T0 + 500, 500, { admitted: 40, ok: 40, timeouts: 1 });
    const after = nextRate(s, idleButSlow, adaptive);
    assert.equal(after.ratePerSec, 700);
    assert.equal(after.capacityPerSec, 1000, 'the capacity estimate is not the demand');
    // A saturated window still decreases below what the server delivered (slow-start overshoot).
    const saturated = clean(s, T0 + 500, 500, { ok: 200, timeouts: 1 });
    assert.equal(nextRate(s, saturated, adaptive).ratePerSec, 400 * 0.7);
  });

  it('retransmissions above 0.5% of the answered requests are congestion', () => {
    const s = initialRateState(adaptive);
    assert.equal(congestionOf(clean(s, T0, 500, { ok: 1000, retransmissions: 5 }), 0, adaptive), undefined);
    assert.equal(congestionOf(clean(s, T0, 500, { ok: 1000, retransmissions: 6 }), 0, adaptive), 'retransmissions');
  });

  it('adaptive=false: the phase stays fixed at rate.maxPerSec', () => {
    const fixed: RateSettings = { ...adaptive, adaptive: false, maxPerSec: 300 };
    const s = initialRateState(fixed);
    assert.deepEqual([s.phase, s.ratePerSec], ['fixed', 300]);
    const after = nextRate(s, clean(s, T0 + 500, 500, { timeouts: 10 }), fixed);
    assert.deepEqual([after.phase, after.ratePerSec], ['fixed', 300]);
    assert.equal(restartState(after, T0, fixed).ratePerSec, 300);
  });

  it('a restart slow-starts from rate.initialPerSec toward a share of the old rate', () => {
    const s: RateState = { ...initialRateState(adaptive), phase: 'avoidance', ratePerSec: 2000, ssthreshPerSec: 2000, baselineLatencyMs: 3 };
    const r = restartState(s, T0, adaptive);
    assert.deepEqual([r.phase, r.ratePerSec, r.ssthreshPerSec, r.baselineLatencyMs], ['slow-start', 50, 1400, 3]);
  });

  it('RFC 7339 overload control caps the rate at (1 - percent) of the rate when it began, without compounding, until it expires', () => {
    let s: RateState = { ...initialRateState(adaptive), phase: 'avoidance', ratePerSec: 1000, ssthreshPerSec: 1000 };
    s = applyOverloadControl(s, 20, 2000, T0, adaptive);
    assert.equal(s.ratePerSec, 800);
    s = applyOverloadControl(s, 20, 2000, T0 + 100, adaptive);
    assert.equal(s.ratePerSec, 800, 'a repeated oc=20 is the same limit');
    for (let i = 1; i <= 3; i++) s = nextRate(s, clean(s, T0 + i * 500), adaptive);
    assert.equal(s.ratePerSec, 800, 'no increase above the overload limit while it is valid');
    s = nextRate(s, clean(s, T0 + 2500), adaptive);
    assert.equal(s.overloadUntil, undefined);
    assert.ok(s.ratePerSec > 800, 'grows again once it expired');
    const fixed: RateSettings = { ...adaptive, adaptive: false, maxPerSec: 500 };
    assert.equal(applyOverloadControl(initialRateState(fixed), 50, 1000, T0, fixed).ratePerSec, 250);
    assert.equal(applyOverloadControl(applyOverloadControl(initialRateState(fixed), 50, 1000, T0, fixed), 0, 0, T0, fixed).ratePerSec, 500);
  });
});

const settingsArb: fc.Arbitrary<RateSettings> = fc
  .record({
    maxPerSec: fc.option(fc.integer({ min: 1, max: 100_000 }), { nil: undefined }),
    ceilingPerSec: fc.integer({ min: 1, max: 100_000 }),
    adaptive: fc.boolean(),
    minPerSec: fc.integer({ min: 1, max: 1_000 }),
    extraInitialPerSec: fc.integer({ min: 0, max: 5_000 }),
    controlIntervalMs: fc.integer({ min: 50, max: 5_000 }),
    decreaseFactor: fc.double({ min: 0.05, max: 0.95, noNaN: true }),
    latencyTargetMs: fc.integer({ min: 1, max: 1_000 }),
  })
  .map(({ extraInitialPerSec, ...r }) => ({
    ...defaultConfig().rate,
    ...r,
    maxPerSec: r.adaptive ? r.maxPerSec : (r.maxPerSec ?? 1_000),
    initialPerSec: r.minPerSec + extraInitialPerSec,
  }));

const windowArb = (rate: number): fc.Arbitrary<WindowStats> =>
  fc
    .record({
      lengthMs: fc.integer({ min: 1, max: 10_000 }),
      usedShare: fc.double({ min: 0, max: 1.2, noNaN: true }),
      ok: fc.nat(5_000),
      overload: fc.oneof(fc.constant(0), fc.nat(50)),
      timeouts: fc.oneof(fc.constant(0), fc.nat(50)),
      transportErrors: fc.oneof(fc.constant(0), fc.nat(50)),
      retransmissions: fc.oneof(fc.constant(0), fc.nat(200)),
      meanMs: fc.double({ min: 0, max: 5_000, noNaN: true }),
      maxMs: fc.nat(10_000),
    })
    .map((w) => {
      const latencyCount = w.ok + w.overload + w.timeouts + w.transportErrors;
      return {
        startedAt: T0 - w.lengthMs, endedAt: T0, admitted: Math.round((rate * w.lengthMs * w.usedShare) / 1000),
        ok: w.ok, overload: w.overload, timeouts: w.timeouts, transportErrors: w.transportErrors, retransmissions: w.retransmissions,
        latencySumMs: w.meanMs * latencyCount, latencyCount, latencyMaxMs: w.maxMs,
      };
    });

/** A reachable state: the initial one after a few arbitrary windows, restarts and overload signals. */
const scenarioArb = settingsArb.chain((settings) =>
  fc.record({
    settings: fc.constant(settings),
    steps: fc.array(fc.oneof(windowArb(1_000), fc.constant('restart' as const), fc.record({ percent: fc.integer({ min: 0, max: 100 }), validityMs: fc.nat(3_000) })), { maxLength: 12 }),
    last: windowArb(1_000),
  }),
);

function play(settings: RateSettings, steps: ReadonlyArray<WindowStats | 'restart' | { percent: number; validityMs: number }>): RateState {
  let s = initialRateState(settings);
  let nowMs = T0;
  for (const step of steps) {
    nowMs += 500;
    if (step === 'restart') s = restartState(s, nowMs, settings);
    else if ('percent' in step) s = applyOverloadControl(s, step.percent, step.validityMs, nowMs, settings);
    else s = nextRate(s, { ...step, startedAt: nowMs - (step.endedAt - step.startedAt), endedAt: nowMs, admitted: Math.round((step.admitted * s.ratePerSec) / 1_000) }, settings);
  }
  return s;
}

function at(w: WindowStats, s: RateState, endedAt: number): WindowStats {
  return { ...w, startedAt: endedAt - (w.endedAt - w.startedAt), endedAt, admitted: Math.round((w.admitted * s.ratePerSec) / 1_000) };
}

describe('aimd nextRate properties', () => {
  it('never leaves [rate.minPerSec, rate.maxPerSec ?? rate.ceilingPerSec]', () => {
    fc.assert(
      fc.property(scenarioArb, ({ settings, steps, last }) => {
        const s = play(settings, steps);
        const next = nextRate(s, at(last, s, T0 + 100_000), settings);
        const cap = capPerSec(settings);
        assert.ok(next.ratePerSec <= cap, `${next.ratePerSec} > cap ${cap}`);
        assert.ok(next.ratePerSec >= Math.min(settings.minPerSec, cap), `${next.ratePerSec} < floor`);
        if (!settings.adaptive) assert.equal(next.phase, 'fixed');
      }),
      { numRuns: 500 },
    );
  });

  it('a congested window never increases the rate', () => {
    fc.assert(
      fc.property(scenarioArb, ({ settings, steps, last }) => {
        const s = play(settings, steps);
        const w = at(last, s, T0 + 100_000);
        // Fixed mode does not react to congestion (its rate returns to rate.maxPerSec when overload control expires).
        fc.pre(settings.adaptive && congestionOf(w, s.baselineLatencyMs, settings) !== undefined);
        assert.ok(nextRate(s, w, settings).ratePerSec <= s.ratePerSec);
      }),
      { numRuns: 500 },
    );
  });

  it('a clean window in which the fleet used the rate never decreases it', () => {
    fc.assert(
      fc.property(scenarioArb, fc.integer({ min: 50, max: 5_000 }), ({ settings, steps }, lengthMs) => {
        const s = play(settings, steps);
        const endedAt = T0 + 100_000;
        const w = clean(s, endedAt, lengthMs, { latencySumMs: 0 });
        assert.ok(nextRate(s, w, settings).ratePerSec >= s.ratePerSec);
      }),
      { numRuns: 500 },
    );
  });
});
