/**
 * What one delivery attempt came to, as the queue sees it. The queue maps `kind` to its own
 * action (done, retry later, fail and record, alert) in one place.
 */
export type OutcomeKind =
  /** The presence server (or phone) accepted the state. */
  | 'delivered'
  /** Try again later (timeout, transport error, 408, 503, other server-wide 5xx); honour retryAfterMs. */
  | 'retryable'
  /** This mailbox/endpoint cannot be delivered as is (403, 404, 500, other 4xx, 481): record it, do not retry. */
  | 'permanent'
  /** The target is misconfigured for us (489 Bad Event, 415, auth failure): loud, affects every mailbox of the target. */
  | 'config-error';

export interface Outcome {
  kind: OutcomeKind;
  /** Final SIP status; absent when no response came (timeout, transport error). */
  status?: number;
  /** One line for people and logs, e.g. "412 Conditional Request Failed, then 200 OK". */
  reason: string;
  /** Evidence for breakers: did the server answer, stay silent, or was the network the problem? */
  cause: 'response' | 'timeout' | 'transport';
  retryAfterMs?: number;
  /** PUBLISH only: the entity tag and expiry the server granted. */
  etag?: string;
  grantedExpiresSec?: number;
  expiresAt?: number;
  /** SIP requests this delivery sent (an initial one plus 412/423/401 follow-ups). */
  requests: number;
  startedAt: number;
  elapsedMs: number;
}
