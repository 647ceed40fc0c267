/**
 * The rules every operator action's arguments follow, checked before anything is written: a
 * reason is required (the audit log answers "why"), and no text may carry control characters
 * (they would forge lines in the text status output and in logs).
 */
import { ErrorCodes, MwiError } from '../errors.ts';
import { MAX_DURATION_MS } from './duration.ts';
import type { PauseScope } from './types.ts';

export const MAX_REASON_CHARS = 500;
export const MAX_ACTOR_CHARS = 200;
export const MAX_TARGET_CHARS = 500;
/** What the stored `scope` of a global pause is; no target may be named so. */
export const GLOBAL_SCOPE = 'global';

// eslint-disable-next-line no-control-regex
const CONTROL_CHARS = /[\u0000-\u001f\u007f-\u009f\u2028\u2029]/;

function invalid(field: string, message: string): MwiError {
  return new MwiError(ErrorCodes.CONTROL_INVALID, `${field} ${message}`, { details: { field } });
}

function checkText(field: string, value: unknown, maxChars: number): string {
  if (typeof value !== 'string' || value.trim() === '') throw invalid(field, 'must be non-empty text');
  if (CONTROL_CHARS.test(value)) throw invalid(field, 'must not contain control characters or line breaks');
  if (value.length > maxChars) throw invalid(field, `must be at most ${maxChars} characters`);
  return value.trim();
}

/** The reason, trimmed; missing or blank: CONTROL_REASON_REQUIRED; otherwise bad: CONTROL_INVALID. */
export function checkReason(reason: unknown): string {
  if (typeof reason !== 'string' || reason.trim() === '') {
    throw new MwiError(ErrorCodes.CONTROL_REASON_REQUIRED, 'a reason is required: say why (it goes to the audit log)', { details: { field: 'reason' } });
  }
  return checkText('reason', reason, MAX_REASON_CHARS);
}

export function checkActor(actor: unknown): string {
  return checkText('actor', actor, MAX_ACTOR_CHARS);
}

export function checkVia(via: unknown): string {
  return checkText('via', via, 50);
}

/** A breaker id, mailbox or other subject named in an audit entry. */
export function checkSubject(subject: unknown): string {
  return checkText('subject', subject, MAX_TARGET_CHARS);
}

/** `global`, or the target string (URI as configured, or hop key) with no whitespace. */
export function scopeKey(scope: PauseScope): string {
  if (scope === GLOBAL_SCOPE) return GLOBAL_SCOPE;
  if (typeof scope !== 'object' || scope === null) throw invalid('target', 'must be "global" or { target }');
  const target = checkText('target', scope.target, MAX_TARGET_CHARS);
  if (/\s/.test(target)) throw invalid('target', 'must not contain whitespace');
  if (target === GLOBAL_SCOPE) throw invalid('target', `must not be "${GLOBAL_SCOPE}" (pause without a target for that)`);
  return target;
}

/** A pause's length: a positive whole number of ms, at most 30 days. */
export function checkForMs(forMs: unknown): number {
  if (typeof forMs !== 'number' || !Number.isSafeInteger(forMs) || forMs <= 0 || forMs > MAX_DURATION_MS) {
    throw invalid('forMs', 'must be a whole number of ms from 1 to 30 days');
  }
  return forMs;
}
