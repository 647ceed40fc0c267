import type { OverloadControl } from '../sip/overload-control.ts';

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
  | 'config-error'
  /** Nothing was sent: the target's breaker is open, it is held (503 Retry-After) or paced, or DNS is down. Due again at retryAt; no attempt used. */
  | 'deferred';

export interface Outcome {
  kind: OutcomeKind;
  /** Final SIP status; absent when no response came (timeout, transport error). */
  status?: number;
  /** One line for people and logs, e.g. "412 Conditional Request Failed, then 200 OK". */
  reason: string;
  /** Evidence for breakers: did the server answer, stay silent, or was the network the problem? */
  cause: 'response' | 'timeout' | 'transport';
  retryAfterMs?: number;
  /** deferred only: when the mailbox is due again (ms since epoch). */
  retryAt?: number;
  /** RFC 7339 feedback from the server's last response (oc / oc-validity in its Via). */
  overload?: OverloadControl;
  /** The hop (RFC 3263) the last request went to, `${protocol}:${address}:${port}`. */
  hopKey?: string;
  /** PUBLISH only: the entity tag and expiry the server granted. */
  etag?: string;
  /**
   * PUBLISH only, not delivered: the entity tag the server refused with a 412 during this delivery.
   * A record still holding it is stale: the store forgets it (only that one, not a newer ETag
   * another delivery recorded meanwhile), so the next delivery starts with an initial PUBLISH.
   */
  refusedEtag?: string;
  grantedExpiresSec?: number;
  expiresAt?: number;
  /** SIP requests this delivery sent (an initial one plus 412/423/401 follow-ups). */
  requests: number;
  startedAt: number;
  elapsedMs: number;
}
