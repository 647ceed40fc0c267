/**
 * An in-memory stand-in for RedisMailboxStore's delivery half, with the same semantics as its Lua
 * scripts (apply-updates, take-dirty, record-delivered, record-attempt, park), for unit tests of
 * the drain job. The integration tests pin the real scripts.
 */
import type { DrainStore } from '../../jobs/drain.ts';
import type { Clock } from '../../src/clock.ts';
import type { Outcome } from '../../src/delivery/outcome.ts';
import type { DeliveryRoute } from '../../src/delivery/sender.ts';
import type { MessageSummary } from '../../src/mwi/message-summary.ts';
import type { AttemptResult, DeliveredResult, DueMailbox, ParkResult } from '../../src/store/mailbox-state.ts';

interface Entry {
  version: number;
  summary: MessageSummary;
  route: DeliveryRoute;
  deliveredVersion?: number;
  attempts: number;
  lastOutcome?: Outcome;
  /** The ETag recorded with the last delivery, its expiry and the target that granted it. */
  etag?: { etag: string; expiresAt: number; target: string };
}

export type StoreCall =
  | { op: 'take'; limit: number; got: number }
  | { op: 'delivered'; mailbox: string; version: number; etagTarget: string; result: DeliveredResult }
  | { op: 'attempt'; mailbox: string; kind: string; retryAt: number | undefined; result: AttemptResult }
  | { op: 'park'; mailbox: string; version: number; result: ParkResult };

export const ROUTE: DeliveryRoute = { mode: 'publish', target: 'sip:127.0.0.1:5060' };

export function summaryOf(version: number): MessageSummary {
  return { counts: { 'voice-message': { new: version, old: 0 } } };
}

export class FakeMailboxStore implements DrainStore {
  readonly dirty = new Map<string, number>();
  readonly entries = new Map<string, Entry>();
  readonly calls: StoreCall[] = [];
  /** Throw this from the next takeDue / takeDirty calls (set to undefined to heal). */
  takeError: Error | undefined;
  /** Throw this from recordDelivered / recordAttempt / park while set (each refusal is counted in `recordRefusals`). */
  recordError: Error | undefined;
  /** Clock times of the record calls refused with recordError. */
  readonly recordRefusals: number[] = [];
  readonly #clock: Clock;

  constructor(clock: Clock) {
    this.#clock = clock;
  }

  apply(mailbox: string, version: number, route: DeliveryRoute = ROUTE): 'applied' | 'stale' {
    const e = this.entries.get(mailbox);
    if (e !== undefined && version <= e.version) return 'stale';
    this.entries.set(mailbox, { attempts: 0, ...e, version, summary: summaryOf(version), route });
    if (!this.dirty.has(mailbox)) this.dirty.set(mailbox, this.#clock.now());
    return 'applied';
  }

  takeDirty(limit: number, leaseMs: number): Promise<string[]> {
    if (this.takeError) return Promise.reject(this.takeError);
    const now = this.#clock.now();
    const due = [...this.dirty].filter(([, at]) => at <= now).sort((a, b) => a[1] - b[1]).slice(0, limit).map(([m]) => m);
    for (const m of due) this.dirty.set(m, now + leaseMs);
    this.calls.push({ op: 'take', limit, got: due.length });
    return Promise.resolve(due);
  }

  /** Mailboxes whose stored desired state reads as corrupt (takeDue marks them unreadable). */
  readonly unreadable = new Set<string>();

  async takeDue(limit: number, leaseMs: number): Promise<DueMailbox[]> {
    return (await this.takeDirty(limit, leaseMs)).map((mailbox) => {
      const e = this.entries.get(mailbox);
      if (e === undefined) return { mailbox };
      if (this.unreadable.has(mailbox)) return { mailbox, unreadable: { version: e.version, reason: 'stored desired state is not valid JSON' } };
      const publication = e.route.mode === 'publish' && e.etag !== undefined && e.etag.target === e.route.target ? { etag: e.etag.etag, expiresAt: e.etag.expiresAt } : null;
      return { mailbox, desired: { summary: e.summary, route: e.route, version: e.version }, ...(e.attempts > 0 ? { attempts: e.attempts } : {}), publication };
    });
  }

  recordDelivered(mailbox: string, version: number, _summary: MessageSummary, outcome: Outcome, etagTarget = ''): Promise<DeliveredResult> {
    if (this.recordError) return this.#refuse();
    const e = this.entries.get(mailbox);
    let result: DeliveredResult;
    if (e === undefined || version > e.version) result = 'unknown-version';
    else if (e.deliveredVersion !== undefined && version < e.deliveredVersion) result = 'superseded';
    else {
      e.deliveredVersion = version;
      e.attempts = 0;
      e.lastOutcome = outcome;
      if (outcome.etag !== undefined && outcome.etag !== '' && outcome.expiresAt !== undefined) e.etag = { etag: outcome.etag, expiresAt: outcome.expiresAt, target: etagTarget };
      else delete e.etag;
      if (version === e.version) {
        this.dirty.delete(mailbox);
        result = 'clean';
      } else {
        this.dirty.set(mailbox, this.#clock.now());
        result = 'still-dirty';
      }
    }
    this.calls.push({ op: 'delivered', mailbox, version, etagTarget, result });
    return Promise.resolve(result);
  }

  recordAttempt(mailbox: string, outcome: Outcome, opts: { retryAt?: number } = {}): Promise<AttemptResult> {
    if (this.recordError) return this.#refuse();
    const e = this.entries.get(mailbox);
    let result: AttemptResult = 'unknown-mailbox';
    if (e !== undefined) {
      e.attempts++;
      e.lastOutcome = outcome;
      if (outcome.refusedEtag !== undefined && e.etag?.etag === outcome.refusedEtag) delete e.etag;
      if (opts.retryAt !== undefined && this.dirty.has(mailbox)) this.dirty.set(mailbox, opts.retryAt);
      result = 'recorded';
    }
    this.calls.push({ op: 'attempt', mailbox, kind: outcome.kind, retryAt: opts.retryAt, result });
    return Promise.resolve(result);
  }

  park(mailbox: string, version: number, outcome: Outcome): Promise<ParkResult> {
    if (this.recordError) return this.#refuse();
    const e = this.entries.get(mailbox);
    let result: ParkResult;
    if (e === undefined) {
      this.dirty.delete(mailbox);
      result = 'unknown-mailbox';
    } else {
      e.attempts++;
      e.lastOutcome = outcome;
      if (outcome.refusedEtag !== undefined && e.etag?.etag === outcome.refusedEtag) delete e.etag;
      if (e.version <= version) {
        this.dirty.delete(mailbox);
        result = 'parked';
      } else {
        if (this.dirty.has(mailbox)) this.dirty.set(mailbox, this.#clock.now());
        result = 'still-dirty';
      }
    }
    this.calls.push({ op: 'park', mailbox, version, result });
    return Promise.resolve(result);
  }

  #refuse(): Promise<never> {
    this.recordRefusals.push(this.#clock.now());
    return Promise.reject(this.recordError ?? new Error('recordError unset'));
  }

  dueCount(): Promise<number> {
    const now = this.#clock.now();
    return Promise.resolve([...this.dirty.values()].filter((at) => at <= now).length);
  }
}
