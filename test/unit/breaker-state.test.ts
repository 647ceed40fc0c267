// The breaker's pure rules: trip rule, probe backoff, the Redis hash format and the local window.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';

import fc from 'fast-check';

import {
  CLOSED,
  breakerHashFields,
  parseBreakerHash,
  parseSeq,
  parseTransition,
  probeDelayMs,
  serialiseTransition,
  shouldTrip,
} from '../../src/breaker/breaker-state.ts';
import { EvidenceWindow } from '../../src/breaker/evidence-window.ts';
import { probeWithTimeout } from '../../src/breaker/probe-timeout.ts';
import type { BreakerState, BreakerTransition } from '../../src/breaker/types.ts';
import { FakeClock } from '../../src/clock.ts';

const RULE = { minFailures: 3, failureRatio: 0.5 };
const BACKOFF = { probeBaseMs: 1_000, probeMaxMs: 30_000 };

describe('shouldTrip', () => {
  it('trips at minFailures when failures are at least failureRatio of all outcomes', () => {
    assert.equal(shouldTrip(3, 3, RULE), true);
    assert.equal(shouldTrip(0, 3, RULE), true);
  });

  it('does not trip below minFailures, whatever the ratio', () => {
    assert.equal(shouldTrip(0, 2, RULE), false);
  });

  it('does not trip while ok outcomes keep the failure share below failureRatio', () => {
    assert.equal(shouldTrip(4, 3, RULE), false);
    assert.equal(shouldTrip(1_000, 400, RULE), false);
  });

  it('is the rule failures >= minFailures && failures / total >= failureRatio, and monotone in failures', () => {
    const rule = fc.record({ minFailures: fc.integer({ min: 1, max: 100 }), failureRatio: fc.double({ min: 0.01, max: 0.99, noNaN: true }) });
    fc.assert(
      fc.property(fc.nat(10_000), fc.nat(10_000), rule, (ok, failures, r) => {
        const expected = failures > 0 && failures >= r.minFailures && failures / (ok + failures) >= r.failureRatio;
        assert.equal(shouldTrip(ok, failures, r), expected);
        // More failures never un-trip; more ok outcomes never trip.
        if (shouldTrip(ok, failures, r)) assert.equal(shouldTrip(ok, failures + 1, r), true);
        if (!shouldTrip(ok, failures, r)) assert.equal(shouldTrip(ok + 1, failures, r), false);
      }),
    );
  });
});

describe('probeDelayMs', () => {
  it('starts at probeBaseMs and doubles per failed probe (random = 1: no jitter taken off)', () => {
    assert.deepEqual([0, 1, 2, 3].map((n) => probeDelayMs(n, BACKOFF, () => 1)), [1_000, 2_000, 4_000, 8_000]);
  });

  it('is capped at probeMaxMs', () => {
    assert.equal(probeDelayMs(5, BACKOFF, () => 1), 30_000);
    assert.equal(probeDelayMs(10_000, BACKOFF, () => 1), 30_000);
  });

  it('jitter takes off at most half: random = 0 gives half the wait', () => {
    assert.equal(probeDelayMs(0, BACKOFF, () => 0), 500);
    assert.equal(probeDelayMs(9, BACKOFF, () => 0), 15_000);
  });

  it('stays within [half, all] of the capped wait for any random value, even garbage', () => {
    const random = fc.oneof(fc.double({ min: 0, max: 1, noNaN: true }), fc.constantFrom(Number.NaN, -1, 2, Infinity));
    fc.assert(
      fc.property(fc.integer({ min: -5, max: 2_000 }), fc.integer({ min: 100, max: 600_000 }), fc.integer({ min: 1_000, max: 3_600_000 }), random, (n, base, max, r) => {
        const probeMaxMs = Math.max(max, base);
        const ms = probeDelayMs(n, { probeBaseMs: base, probeMaxMs }, () => r);
        const capped = Math.min(probeMaxMs, base * 2 ** Math.max(0, n));
        assert.ok(Number.isSafeInteger(ms) && ms >= Math.floor(capped / 2) && ms <= capped, `${ms} for n=${n} base=${base} max=${max} r=${r}`);
      }),
    );
  });
});

const stateArb: fc.Arbitrary<BreakerState> = fc.oneof(
  fc.constant<BreakerState>({ kind: 'closed' }),
  fc.record({
    kind: fc.constant('open' as const),
    since: fc.nat(),
    reason: fc.string(),
    nextProbeAt: fc.nat(),
    failedProbes: fc.nat(1_000),
  }, { noNullPrototype: true }),
  fc.record({ kind: fc.constant('isolated' as const), since: fc.nat(), reason: fc.string(), actor: fc.string({ minLength: 1 }) }, { noNullPrototype: true }),
);

describe('breaker hash format', () => {
  it('round-trips every state through its hash fields', () => {
    fc.assert(fc.property(stateArb, (state) => assert.deepEqual(parseBreakerHash(breakerHashFields(state)), state)));
  });

  it('reads a missing, empty or unknown kind as closed', () => {
    assert.deepEqual(parseBreakerHash({}), CLOSED);
    assert.deepEqual(parseBreakerHash({ kind: '' }), CLOSED);
    assert.deepEqual(parseBreakerHash({ kind: 'half-open', since: '5' }), CLOSED);
  });

  it('reads an open breaker with garbled numbers as open with its probe due at once', () => {
    assert.deepEqual(parseBreakerHash({ kind: 'open', since: 'x', nextProbeAt: '-3', failedProbes: 'NaN' }), {
      kind: 'open',
      since: 0,
      reason: '',
      nextProbeAt: 0,
      failedProbes: 0,
    });
  });

  it('keeps an isolated breaker isolated even when its details are garbled (the operator hold wins)', () => {
    assert.deepEqual(parseBreakerHash({ kind: 'isolated', since: 'soon' }), { kind: 'isolated', since: 0, reason: '', actor: 'unknown' });
  });

  it('never throws, and always yields one of the three kinds, for any hash', () => {
    const field = fc.oneof(fc.constantFrom('kind', 'since', 'reason', 'nextProbeAt', 'failedProbes', 'actor', 'seq', 'last', '__proto__'), fc.string());
    const value = fc.oneof(fc.constantFrom('open', 'closed', 'isolated', '', 'NaN', '1e400', '-1'), fc.string());
    fc.assert(
      fc.property(fc.dictionary(field, value), (hash) => {
        const state = parseBreakerHash(hash);
        assert.ok(['closed', 'open', 'isolated'].includes(state.kind));
        assert.ok(Number.isFinite(parseSeq(hash)) && parseSeq(hash) >= 0);
        assert.doesNotThrow(() => parseTransition(hash.last));
      }),
    );
  });

  it('reads the transition counter, 0 when missing or garbled', () => {
    assert.equal(parseSeq({ seq: '7' }), 7);
    assert.equal(parseSeq({}), 0);
    assert.equal(parseSeq({ seq: 'x' }), 0);
  });
});

describe('stored transitions', () => {
  const transitionArb: fc.Arbitrary<BreakerTransition> = fc.record(
    {
      id: fc.string(),
      from: fc.constantFrom('closed' as const, 'open' as const, 'isolated' as const),
      to: fc.constantFrom('closed' as const, 'open' as const, 'isolated' as const),
      at: fc.nat(),
      reason: fc.string(),
      actor: fc.string({ minLength: 1 }),
      worker: fc.string(),
      local: fc.boolean(),
    },
    { requiredKeys: ['id', 'from', 'to', 'at', 'reason', 'worker', 'local'], noNullPrototype: true },
  );

  it('round-trip without `local`, which reads back false', () => {
    fc.assert(fc.property(transitionArb, (t) => assert.deepEqual(parseTransition(serialiseTransition(t)), { ...t, local: false })));
  });

  it('reads what the Lua cjson writes (numbers, escaped slashes)', () => {
    const json = '{"id":"udp:10.0.0.5:5060","from":"closed","to":"open","at":1700000000000,"reason":"timeout\\/transport","worker":"h:1"}';
    assert.deepEqual(parseTransition(json), { id: 'udp:10.0.0.5:5060', from: 'closed', to: 'open', at: 1_700_000_000_000, reason: 'timeout/transport', worker: 'h:1', local: false });
  });

  it('gives undefined, never a throw, for anything unusable', () => {
    for (const bad of [undefined, null, '', 'not json', '[]', '1', '{"id":"a","from":"closed","to":"ajar","at":1}', '{"id":"a","from":"closed","to":"open"}']) {
      assert.equal(parseTransition(bad), undefined, String(bad));
    }
    fc.assert(fc.property(fc.oneof(fc.string(), fc.json()), (s) => void parseTransition(s)));
  });
});

describe('local evidence window', () => {
  const T0 = 1_700_000_000_000;

  it('sums the outcomes of the last windowMs, in whole seconds', () => {
    const w = new EvidenceWindow(3_000);
    w.add(T0, 1, 0);
    w.add(T0 + 1_000, 0, 2);
    w.add(T0 + 2_999, 1, 1);
    assert.deepEqual([w.ok, w.failures], [2, 3]);
  });

  it('drops a second once it leaves the window', () => {
    const w = new EvidenceWindow(3_000);
    w.add(T0, 1, 1);
    w.add(T0 + 1_000, 0, 1);
    w.expire(T0 + 3_000);
    assert.deepEqual([w.ok, w.failures], [0, 1]);
    w.expire(T0 + 60_000);
    assert.deepEqual([w.ok, w.failures], [0, 0]);
  });

  it('counts outcomes from a clock that stepped back in the latest second', () => {
    const w = new EvidenceWindow(2_000);
    w.add(T0 + 5_000, 0, 1);
    w.add(T0, 0, 1);
    w.expire(T0 + 6_000);
    assert.deepEqual([w.ok, w.failures], [0, 2]);
    w.expire(T0 + 7_000);
    assert.deepEqual([w.ok, w.failures], [0, 0]);
  });

  it('agrees with a naive model over any sequence of forward steps', () => {
    const step = fc.record({ advanceMs: fc.integer({ min: 0, max: 4_000 }), ok: fc.nat(3), failures: fc.nat(3) });
    fc.assert(
      fc.property(fc.integer({ min: 1_000, max: 10_000 }), fc.array(step, { maxLength: 60 }), (windowMs, steps) => {
        const w = new EvidenceWindow(windowMs);
        const windowSec = Math.ceil(windowMs / 1000);
        const seen: Array<{ sec: number; ok: number; failures: number }> = [];
        let now = T0;
        for (const s of steps) {
          now += s.advanceMs;
          w.add(now, s.ok, s.failures);
          seen.push({ sec: Math.floor(now / 1000), ok: s.ok, failures: s.failures });
          const inWindow = seen.filter((x) => x.sec > Math.floor(now / 1000) - windowSec);
          assert.equal(w.ok, inWindow.reduce((n, x) => n + x.ok, 0));
          assert.equal(w.failures, inWindow.reduce((n, x) => n + x.failures, 0));
        }
      }),
    );
  });
});

describe('probeWithTimeout', () => {
  it('a probe still running after the timeout counts as down, and leaves no timer behind', async () => {
    const clock = new FakeClock();
    const result = probeWithTimeout(() => new Promise(() => {}), clock, 5_000);
    clock.advance(4_999);
    let settled = false;
    void result.then(() => (settled = true));
    await Promise.resolve();
    assert.equal(settled, false);
    clock.advance(1);
    assert.deepEqual(await result, { up: false, reason: 'probe timed out after 5000 ms' });
    assert.equal(clock.pending, 0);
  });

  it('a probe that throws (even synchronously) counts as down with its message', async () => {
    const clock = new FakeClock();
    const sync = (): Promise<{ up: boolean; reason: string }> => {
      throw new Error('socket closed');
    };
    assert.deepEqual(await probeWithTimeout(sync, clock, 5_000), { up: false, reason: 'probe failed: socket closed' });
    assert.deepEqual(await probeWithTimeout(() => Promise.reject(new Error('EHOSTUNREACH')), clock, 5_000), { up: false, reason: 'probe failed: EHOSTUNREACH' });
    assert.equal(clock.pending, 0);
  });

  it('passes a probe\'s own answer through', async () => {
    const clock = new FakeClock();
    assert.deepEqual(await probeWithTimeout(() => Promise.resolve({ up: true, reason: '200 OK' }), clock, 5_000), { up: true, reason: '200 OK' });
  });
});
