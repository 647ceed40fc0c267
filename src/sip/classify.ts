/**
 * The one place a SIP final response (or its absence) becomes an outcome kind.
 * PUBLISH rules from RFC 3903 and our notes on Kamailio; NOTIFY rules from RFC 6665.
 */
import type { OutcomeKind } from '../delivery/outcome.ts';
import type { SipResult } from './stack.ts';

export interface Classified {
  kind: OutcomeKind;
  status?: number;
  reason: string;
  cause: 'response' | 'timeout' | 'transport';
  retryAfterMs?: number;
  /** deferred only: when to come back. */
  retryAt?: number;
}

/** Retry-After in seconds (RFC 3261 20.33: delta-seconds, optional comment and params). */
export function parseRetryAfterMs(value: string | undefined): number | undefined {
  if (value === undefined) return undefined;
  const m = /^\s*(\d{1,9})\b/.exec(value);
  if (!m) return undefined;
  const sec = Number(m[1]);
  return sec > 0 ? sec * 1000 : undefined;
}

export function statusKind(method: 'PUBLISH' | 'NOTIFY' | 'OPTIONS', status: number): OutcomeKind {
  if (status >= 200 && status < 300) return 'delivered';
  if (status === 401 || status === 407) return 'config-error'; // still challenged after our credentials (or none configured)
  if (status === 415) return 'config-error';
  if (status === 489) return method === 'NOTIFY' ? 'permanent' : 'config-error'; // a phone that does not take unsolicited MWI
  if (status === 408 || status === 503 || status === 502 || status === 504) return 'retryable';
  if (status === 500) return 'permanent';
  if (status >= 500 && status < 600) return 'retryable';
  return 'permanent'; // 3xx (we follow no redirects), other 4xx including 403, 404, 481; 6xx
}

export function classify(method: 'PUBLISH' | 'NOTIFY' | 'OPTIONS', result: SipResult, transactionTimeoutMs: number): Classified {
  if (result.kind === 'timeout') return { kind: 'retryable', cause: 'timeout', reason: `no final response within ${transactionTimeoutMs} ms` };
  if (result.kind === 'transport-error') return { kind: 'retryable', cause: 'transport', reason: result.error.message };
  if (result.kind === 'not-admitted') return { kind: 'deferred', cause: 'response', reason: `no send slot for the digest retry: ${result.reason}`, retryAt: result.retryAt };
  const kind = statusKind(method, result.status);
  const out: Classified = { kind, status: result.status, cause: 'response', reason: `${result.status} ${result.reason}`.trim() };
  if (kind === 'retryable') {
    const retryAfterMs = parseRetryAfterMs(result.header('Retry-After'));
    if (retryAfterMs !== undefined) out.retryAfterMs = retryAfterMs;
  }
  return out;
}
