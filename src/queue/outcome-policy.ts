/**
 * The one place a delivery outcome becomes a store write. `decide()` is pure (time and
 * randomness are inputs); `recordDecision()` only maps a decision to its one store call.
 *
 * - delivered    -> recordDelivered: stores the ETag, expiry and outcome; the dirty mark goes only
 *                   if no newer version arrived meanwhile (then exactly one follow-up is due now).
 * - retryable    -> recordAttempt, due again after max(Retry-After, backoff). Retries never stop
 *                   (the lamp must end right) and never hot-loop: the backoff is full jitter
 *                   between retryBaseMs and a ceiling that doubles per failed attempt up to retryMaxMs.
 * - permanent    -> park: recorded on the mailbox (lastOutcome) and out of the dirty set until a
 *                   newer update arrives; a newer version already accepted is still delivered.
 * - deferred     -> recordAttempt without counting an attempt, due again at the outcome's retryAt
 *                   (the target's breaker is open, it is held or paced, or DNS is down: nothing
 *                   was sent, so the backoff must not grow and the mailbox never parks).
 * - config-error -> recordAttempt, due again after a slow, jittered delay in
 *                   [retryMaxMs / 2, retryMaxMs] (not parked: once the operator fixes the target
 *                   the lamps recover without waiting for new voicemail). The caller logs it,
 *                   throttled per target (config-error-log.ts).
 */
import type { Outcome } from '../delivery/outcome.ts';
import type { DeliveryRoute } from '../delivery/sender.ts';
import type { MessageSummary } from '../mwi/message-summary.ts';
import type { AttemptResult, DeliveredResult, ParkResult } from '../store/mailbox-state.ts';

export interface RetrySettings {
  /** Floor of every retry delay and the first backoff ceiling. */
  retryBaseMs: number;
  /** Cap of the backoff ceiling; also the slow cadence of config errors. */
  retryMaxMs: number;
}

export type Decision =
  | { kind: 'delivered' }
  | { kind: 'retry'; retryAt: number; delayMs: number }
  | { kind: 'park' }
  | { kind: 'config-error'; retryAt: number; delayMs: number }
  | { kind: 'defer'; retryAt: number; delayMs: number };

export interface DecideInput {
  outcome: Outcome;
  /** Failed attempts recorded before this one (MailboxRecord.attempts, 0 when absent). */
  previousAttempts: number;
  /** When the outcome is being recorded (ms since epoch). */
  now: number;
  /** Uniform in [0, 1). */
  random: () => number;
}

/** A Retry-After beyond this is taken as this (a server asking for years would stop delivery for good). */
export const MAX_RETRY_AFTER_MS = 3_600_000;

// 2^40 * retryBaseMs is far beyond any retryMaxMs; bounding the exponent keeps the product finite.
const MAX_DOUBLINGS = 40;

/** The backoff ceiling of failed attempt number `attempt` (1 = the first failure). */
export function backoffCeilingMs(attempt: number, s: RetrySettings): number {
  const doublings = Math.min(Math.max(attempt, 1) - 1, MAX_DOUBLINGS);
  return Math.max(s.retryBaseMs, Math.min(s.retryMaxMs, s.retryBaseMs * 2 ** doublings));
}

function honouredRetryAfterMs(outcome: Outcome, s: RetrySettings): number {
  const ms = outcome.retryAfterMs;
  if (ms === undefined || !Number.isFinite(ms) || ms <= 0) return 0;
  return Math.min(ms, Math.max(MAX_RETRY_AFTER_MS, s.retryMaxMs));
}

function uniform(random: () => number, low: number, high: number): number {
  return Math.round(low + random() * (high - low));
}

/** Delay before retrying after failed attempt number `attempt`: full jitter in [base, ceiling], at least Retry-After. */
export function retryDelayMs(attempt: number, outcome: Outcome, random: () => number, s: RetrySettings): number {
  return Math.max(honouredRetryAfterMs(outcome, s), uniform(random, s.retryBaseMs, backoffCeilingMs(attempt, s)));
}

/** Delay before retrying a target that is misconfigured for us: slow and jittered, at least Retry-After. */
export function configErrorDelayMs(outcome: Outcome, random: () => number, s: RetrySettings): number {
  const slow = Math.max(s.retryBaseMs, s.retryMaxMs);
  return Math.max(honouredRetryAfterMs(outcome, s), uniform(random, slow / 2, slow));
}

export function decide(input: DecideInput, s: RetrySettings): Decision {
  const { outcome, now, random } = input;
  const attempt = Math.max(0, input.previousAttempts) + 1;
  switch (outcome.kind) {
    case 'delivered':
      return { kind: 'delivered' };
    case 'retryable': {
      const delayMs = retryDelayMs(attempt, outcome, random, s);
      return { kind: 'retry', retryAt: now + delayMs, delayMs };
    }
    case 'permanent':
      return { kind: 'park' };
    case 'config-error': {
      const delayMs = configErrorDelayMs(outcome, random, s);
      return { kind: 'config-error', retryAt: now + delayMs, delayMs };
    }
    case 'deferred': {
      // Never sooner than the base delay (no hot loop), never later than the backoff cap.
      const wanted = (outcome.retryAt ?? now) - now;
      const delayMs = Math.round(Math.min(Math.max(wanted, s.retryBaseMs), Math.max(s.retryMaxMs, s.retryBaseMs)));
      return { kind: 'defer', retryAt: now + delayMs, delayMs };
    }
  }
}

/** The store writes a decision needs (RedisMailboxStore has them). */
export interface OutcomeStore {
  /** `etagTarget`: the target URI that granted outcome.etag (stored with it for the next delivery). */
  recordDelivered(mailbox: string, version: number, summary: MessageSummary, outcome: Outcome, etagTarget?: string): Promise<DeliveredResult>;
  recordAttempt(mailbox: string, outcome: Outcome, opts?: { retryAt?: number; countAttempt?: boolean }): Promise<AttemptResult>;
  park(mailbox: string, version: number, outcome: Outcome): Promise<ParkResult>;
}

/** What was attempted: the mailbox and the desired state (version, summary, route) that was sent. */
export interface Attempted {
  mailbox: string;
  version: number;
  summary: MessageSummary;
  route?: DeliveryRoute;
}

export type RecordResult = DeliveredResult | AttemptResult | ParkResult;

/** Writes a decision to the store: exactly one store call per outcome. */
export function recordDecision(store: OutcomeStore, attempted: Attempted, outcome: Outcome, decision: Decision): Promise<RecordResult> {
  switch (decision.kind) {
    case 'delivered':
      return store.recordDelivered(attempted.mailbox, attempted.version, attempted.summary, outcome, attempted.route?.mode === 'publish' ? attempted.route.target : undefined);
    case 'retry':
    case 'config-error':
      return store.recordAttempt(attempted.mailbox, outcome, { retryAt: decision.retryAt });
    case 'defer':
      return store.recordAttempt(attempted.mailbox, outcome, { retryAt: decision.retryAt, countAttempt: false });
    case 'park':
      return store.park(attempted.mailbox, attempted.version, outcome);
  }
}
