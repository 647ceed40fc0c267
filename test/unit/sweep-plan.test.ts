// The sweep's per-mailbox decisions (src/sweep/plan.ts) on a fake clock: what differs, what is
// about to lapse, what is left alone, and what a failed presence server changes.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';

import { FakeClock } from '../../src/clock.ts';
import type { DeliveryRoute } from '../../src/delivery/sender.ts';
import type { MessageSummary } from '../../src/mwi/message-summary.ts';
import type { MailboxView } from '../../src/store/mailbox-state.ts';
import { decide, needOf, needOfSourced, sameCounts, type PlanSettings, type TargetStatus } from '../../src/sweep/plan.ts';

const PS: DeliveryRoute = { mode: 'publish', target: 'sip:ps.test' };
const PHONE: DeliveryRoute = { mode: 'notify', contact: 'sip:1000@192.0.2.10' };
const MARGIN_MS = 600_000;

function summary(n: number, o = 0): MessageSummary {
  return { counts: { 'voice-message': { new: n, old: o } } };
}

function view(fields: Partial<Omit<MailboxView, 'desired'>> & { route?: DeliveryRoute; summary?: MessageSummary } = {}): MailboxView {
  const { route = PS, summary: s = summary(1), ...rest } = fields;
  return { mailbox: 'sip:1000@pbx.test', desiredVersion: 2, deliveredVersion: 2, desired: { summary: s, route }, ...rest };
}

function settings(clock: FakeClock, force = false): PlanSettings {
  return { now: clock.now(), refreshMarginMs: MARGIN_MS, force };
}

describe('sweep plan: what the stored state needs', () => {
  it('leaves a clean mailbox whose publication is far from lapsing alone', () => {
    const clock = new FakeClock();
    assert.deepEqual(needOf(view({ expiresAt: clock.now() + 3_600_000 }), settings(clock)), { kind: 'none', why: 'clean' });
  });

  it('queues a mailbox whose desired state differs from the delivered one and is not queued (a lost dirty mark)', () => {
    const clock = new FakeClock();
    assert.deepEqual(needOf(view({ desiredVersion: 3, deliveredVersion: 2 }), settings(clock)), { kind: 'enqueue', why: 'differs', route: PS });
    assert.deepEqual(needOf(view({ desiredVersion: 3, deliveredVersion: undefined }), settings(clock)), { kind: 'enqueue', why: 'differs', route: PS }, 'never delivered');
  });

  it('does not queue what the queue already holds (due, leased or waiting for a retry)', () => {
    const clock = new FakeClock();
    assert.deepEqual(needOf(view({ desiredVersion: 3, dueAt: clock.now() + 5_000 }), settings(clock)), { kind: 'skip', why: 'pending' });
    assert.deepEqual(needOf(view({ dueAt: clock.now(), expiresAt: clock.now() }), settings(clock)), { kind: 'skip', why: 'pending' });
  });

  it('leaves a parked mailbox (its version failed for good) to the next update, unless forced', () => {
    const clock = new FakeClock();
    const parked = view({ desiredVersion: 3, deliveredVersion: 2, lastOutcomeKind: 'permanent' });
    assert.deepEqual(needOf(parked, settings(clock)), { kind: 'skip', why: 'parked' });
    assert.deepEqual(needOf(parked, settings(clock, true)), { kind: 'enqueue', why: 'forced', route: PS });
    assert.deepEqual(needOf(view({ desiredVersion: 3, lastOutcomeKind: 'retryable' }), settings(clock)).kind, 'enqueue', 'a retryable failure whose mark was lost is queued');
  });

  it('re-publishes exactly when the publication lapses within the refresh margin, as the clock moves', () => {
    const clock = new FakeClock();
    const expiresAt = clock.now() + 3_600_000;
    const v = view({ expiresAt });
    assert.equal(needOf(v, settings(clock)).kind, 'none');
    clock.advance(3_600_000 - MARGIN_MS - 1);
    assert.equal(needOf(v, settings(clock)).kind, 'none', '1 ms before the margin');
    clock.advance(1);
    assert.deepEqual(needOf(v, settings(clock)), { kind: 'enqueue', why: 'expiring', route: PS });
    clock.advance(MARGIN_MS + 60_000);
    assert.equal(needOf(v, settings(clock)).kind, 'enqueue', 'already lapsed: published again');
  });

  it('never refreshes a NOTIFY route or a mailbox without a publication expiry', () => {
    const clock = new FakeClock();
    assert.equal(needOf(view({ route: PHONE, expiresAt: clock.now() }), settings(clock)).kind, 'none');
    assert.equal(needOf(view({}), settings(clock)).kind, 'none');
  });

  it('has nothing to do for a mailbox without a desired state', () => {
    const clock = new FakeClock();
    assert.deepEqual(needOf({ mailbox: 'sip:x@pbx.test' }, settings(clock)), { kind: 'none', why: 'no-desired-state' });
  });

  it('resync forces every stored mailbox that is not already queued', () => {
    const clock = new FakeClock();
    assert.deepEqual(needOf(view({ expiresAt: clock.now() + 3_600_000 }), settings(clock, true)), { kind: 'enqueue', why: 'forced', route: PS });
    assert.deepEqual(needOf(view({ dueAt: clock.now() }), settings(clock, true)), { kind: 'skip', why: 'pending' });
  });
});

describe('sweep plan: counts from an external source', () => {
  it('makes other counts the new desired state, along the stored route', () => {
    const clock = new FakeClock();
    assert.deepEqual(needOfSourced(view({ summary: summary(1) }), summary(4), undefined, settings(clock)), { kind: 'enqueue', why: 'source-changed', route: PS });
  });

  it('with the same counts, falls back to what the stored state needs', () => {
    const clock = new FakeClock();
    assert.deepEqual(needOfSourced(view({ summary: summary(1) }), summary(1), undefined, settings(clock)), { kind: 'none', why: 'clean' });
    assert.deepEqual(needOfSourced(view({ summary: summary(1), expiresAt: clock.now() }), summary(1), undefined, settings(clock)).kind, 'enqueue');
  });

  it('sends a mailbox the store does not know to the default target, or skips it without one', () => {
    const clock = new FakeClock();
    const unknown: MailboxView = { mailbox: 'sip:new@pbx.test' };
    assert.deepEqual(needOfSourced(unknown, summary(1), PS, settings(clock)), { kind: 'enqueue', why: 'source-changed', route: PS });
    assert.deepEqual(needOfSourced(unknown, summary(1), undefined, settings(clock)), { kind: 'skip', why: 'no-target' });
  });

  it('treats an absent class or urgent count as zero', () => {
    assert.ok(sameCounts({ counts: {} }, { counts: { 'voice-message': { new: 0, old: 0, urgentNew: 0 } } }));
    assert.ok(sameCounts(summary(2, 3), { counts: { 'voice-message': { new: 2, old: 3, urgentNew: 0, urgentOld: 0 } } }));
    assert.ok(!sameCounts(summary(2, 3), { counts: { 'voice-message': { new: 2, old: 3, urgentNew: 1 } } }));
    assert.ok(!sameCounts(summary(2), { counts: { 'voice-message': { new: 2, old: 0 }, 'fax-message': { new: 1, old: 0 } } }));
  });
});

describe('sweep plan: target health', () => {
  const health = (map: Record<string, TargetStatus>) => (t: string) => map[t];

  it('skips a mailbox whose presence server failed its probe, and only those', () => {
    const clock = new FakeClock();
    const need = needOf(view({ desiredVersion: 3 }), settings(clock));
    assert.deepEqual(decide(need, health({ 'sip:ps.test': { up: false, reason: 'no answer' } })), { kind: 'skip', why: 'target-down', target: 'sip:ps.test' });
    assert.deepEqual(decide(need, health({ 'sip:ps.test': { up: true } })), need);
    assert.deepEqual(decide(need, health({ 'sip:other.test': { up: false, reason: 'no answer' } })), need);
  });

  it('never holds back a NOTIFY to a phone (phones are not probed) or a mailbox that needs nothing', () => {
    const clock = new FakeClock();
    const down = health({ 'sip:ps.test': { up: false, reason: 'x' }, 'sip:1000@192.0.2.10': { up: false, reason: 'x' } });
    const toPhone = needOf(view({ desiredVersion: 3, route: PHONE }), settings(clock));
    assert.equal(decide(toPhone, down).kind, 'enqueue');
    assert.deepEqual(decide({ kind: 'none', why: 'clean' }, down), { kind: 'none', why: 'clean' });
    assert.deepEqual(decide({ kind: 'skip', why: 'parked' }, down), { kind: 'skip', why: 'parked' });
  });
});
