import assert from 'node:assert/strict';
import { describe, it } from 'node:test';

import fc from 'fast-check';

import { FakeClock } from '../../src/clock.ts';
import type { Outcome, OutcomeKind } from '../../src/delivery/outcome.ts';
import {
  MAX_RETRY_AFTER_MS,
  backoffCeilingMs,
  decide,
  recordDecision,
  type Decision,
  type OutcomeStore,
  type RetrySettings,
} from '../../src/queue/outcome-policy.ts';

const S: RetrySettings = { retryBaseMs: 1_000, retryMaxMs: 300_000 };

function outcome(kind: OutcomeKind, extra: Partial<Outcome> = {}): Outcome {
  return { kind, reason: kind, cause: 'response', requests: 1, startedAt: 0, elapsedMs: 5, ...extra };
}

function retryDelay(d: Decision): number {
  assert.ok(d.kind === 'retry' || d.kind === 'config-error', `expected a retry, got ${d.kind}`);
  return d.delayMs;
}

describe('outcome policy', () => {
  it('backoff ceiling starts at retryBaseMs, doubles per failed attempt and stops at retryMaxMs', () => {
    assert.deepEqual([1, 2, 3, 4, 5, 8, 9, 10].map((a) => backoffCeilingMs(a, S)), [1_000, 2_000, 4_000, 8_000, 16_000, 128_000, 256_000, 300_000]);
    assert.equal(backoffCeilingMs(10_000, S), 300_000, 'huge attempt counts stay finite and capped');
    assert.equal(backoffCeilingMs(0, S), 1_000);
  });

  it('retry delays use full jitter between retryBaseMs and the ceiling, and retryAt is now + delay on the clock', () => {
    const clock = new FakeClock();
    const at = (previousAttempts: number, r: number) => decide({ outcome: outcome('retryable'), previousAttempts, now: clock.now(), random: () => r }, S);
    assert.deepEqual(at(0, 0), { kind: 'retry', retryAt: clock.now() + 1_000, delayMs: 1_000 });
    assert.equal(retryDelay(at(3, 0)), 1_000, 'the low end is retryBaseMs, never 0: no hot loop');
    assert.equal(retryDelay(at(3, 0.999_999_9)), 8_000);
    assert.equal(retryDelay(at(3, 0.5)), 4_500);
    clock.advance(60_000);
    assert.deepEqual(at(20, 0.5), { kind: 'retry', retryAt: clock.now() + 150_500, delayMs: 150_500 });
  });

  it('every retry delay lies in [retryBaseMs, ceiling] for any attempt count and random draw (property)', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 0, max: 1_000 }),
        fc.double({ min: 0, max: 1, maxExcluded: true, noNaN: true }),
        fc.integer({ min: 100, max: 10_000 }),
        fc.integer({ min: 1_000, max: 86_400_000 }),
        (previousAttempts, r, retryBaseMs, retryMaxMs) => {
          const s = { retryBaseMs, retryMaxMs };
          const delay = retryDelay(decide({ outcome: outcome('retryable'), previousAttempts, now: 0, random: () => r }, s));
          return delay >= retryBaseMs && delay <= Math.max(retryBaseMs, Math.min(retryMaxMs, backoffCeilingMs(previousAttempts + 1, s)));
        },
      ),
    );
  });

  it('spreads retries over the whole jitter range (no synchronized herd)', () => {
    let seed = 1;
    const random = () => ((seed = (seed * 16_807) % 2_147_483_647) - 1) / 2_147_483_646;
    const delays = Array.from({ length: 2_000 }, () => retryDelay(decide({ outcome: outcome('retryable'), previousAttempts: 6, now: 0, random }, S)));
    const ceiling = backoffCeilingMs(7, S);
    const buckets = [0, 0, 0, 0];
    for (const d of delays) {
      const q = Math.min(3, Math.floor(((d - S.retryBaseMs) / (ceiling - S.retryBaseMs)) * 4));
      buckets[q] = (buckets[q] ?? 0) + 1;
    }
    for (const b of buckets) assert.ok(b > 350 && b < 650, `quartiles ${buckets.join(',')}`);
  });

  it('honours Retry-After when it asks for longer than the backoff, and caps an absurd one', () => {
    const d = (retryAfterMs: number, previousAttempts = 0) => retryDelay(decide({ outcome: outcome('retryable', { status: 503, retryAfterMs }), previousAttempts, now: 0, random: () => 0.5 }, S));
    assert.equal(d(30_000), 30_000);
    assert.equal(d(500, 5), 16_500, 'a shorter Retry-After does not shorten the backoff');
    assert.equal(d(999_999_000), MAX_RETRY_AFTER_MS);
    assert.equal(retryDelay(decide({ outcome: outcome('retryable', { retryAfterMs: 2 * 86_400_000 }), previousAttempts: 0, now: 0, random: () => 0 }, { retryBaseMs: 1_000, retryMaxMs: 86_400_000 })), 86_400_000);
  });

  it('parks permanent failures and records deliveries', () => {
    assert.deepEqual(decide({ outcome: outcome('permanent', { status: 404 }), previousAttempts: 3, now: 0, random: Math.random }, S), { kind: 'park' });
    assert.deepEqual(decide({ outcome: outcome('delivered', { status: 200 }), previousAttempts: 3, now: 0, random: Math.random }, S), { kind: 'delivered' });
  });

  it('retries config errors slowly: jittered in [retryMaxMs / 2, retryMaxMs] whatever the attempt count, at least Retry-After', () => {
    for (const [r, attempts] of [[0, 0], [0.999_999, 0], [0.3, 50]] as const) {
      const delay = retryDelay(decide({ outcome: outcome('config-error', { status: 489 }), previousAttempts: attempts, now: 0, random: () => r }, S));
      assert.ok(delay >= 150_000 && delay <= 300_000, String(delay));
    }
    assert.equal(retryDelay(decide({ outcome: outcome('config-error', { retryAfterMs: 600_000 }), previousAttempts: 0, now: 0, random: () => 0 }, S)), 600_000);
  });

  it('records each decision with exactly one store call of the matching kind', async () => {
    const calls: string[] = [];
    const store: OutcomeStore = {
      recordDelivered: (m, v) => (calls.push(`delivered ${m} v${v}`), Promise.resolve('clean')),
      recordAttempt: (m, _o, opts) => (calls.push(`attempt ${m} at ${opts?.retryAt}${opts?.countAttempt === false ? ' (not counted)' : ''}`), Promise.resolve('recorded')),
      park: (m, v) => (calls.push(`park ${m} v${v}`), Promise.resolve('parked')),
    };
    const attempted = { mailbox: 'sip:1@x.test', version: 7, summary: { counts: {} } };
    assert.equal(await recordDecision(store, attempted, outcome('delivered'), { kind: 'delivered' }), 'clean');
    assert.equal(await recordDecision(store, attempted, outcome('retryable'), { kind: 'retry', retryAt: 5, delayMs: 5 }), 'recorded');
    assert.equal(await recordDecision(store, attempted, outcome('config-error'), { kind: 'config-error', retryAt: 9, delayMs: 9 }), 'recorded');
    assert.equal(await recordDecision(store, attempted, outcome('permanent'), { kind: 'park' }), 'parked');
    assert.equal(await recordDecision(store, attempted, outcome('deferred'), { kind: 'defer', retryAt: 11, delayMs: 11 }), 'recorded');
    assert.deepEqual(calls, ['delivered sip:1@x.test v7', 'attempt sip:1@x.test at 5', 'attempt sip:1@x.test at 9', 'park sip:1@x.test v7', 'attempt sip:1@x.test at 11 (not counted)']);
  });

  it('defers at the outcome retryAt, never sooner than retryBaseMs nor later than retryMaxMs', () => {
    const now = 1_000_000;
    const at = (retryAt: number | undefined) => decide({ outcome: outcome('deferred', retryAt === undefined ? { requests: 0 } : { requests: 0, retryAt }), previousAttempts: 9, now, random: () => 0.5 }, S);
    assert.deepEqual(at(now + 20_000), { kind: 'defer', retryAt: now + 20_000, delayMs: 20_000 });
    assert.deepEqual(at(now + 10), { kind: 'defer', retryAt: now + S.retryBaseMs, delayMs: S.retryBaseMs });
    assert.deepEqual(at(now + 10 * S.retryMaxMs), { kind: 'defer', retryAt: now + S.retryMaxMs, delayMs: S.retryMaxMs });
    assert.deepEqual(at(undefined), { kind: 'defer', retryAt: now + S.retryBaseMs, delayMs: S.retryBaseMs });
  });
});
