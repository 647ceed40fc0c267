/**
 * Fleet-wide pacing of each target (id = SipHop.key): a rate (requests per second) and an
 * in-flight cap, both held in Redis so ten workers together never exceed them; the rate is
 * adaptive by default (aimd.ts decides it; redis-rate-store.ts keeps it; target-gate.ts admits).
 */

/** How one request to a target went, for the controller. */
export interface SendFeedback {
  /** Request sent to final response (or to giving up). */
  latencyMs: number;
  /**
   * ok: a final response that is not a congestion signal (2xx, 412, 4xx for one mailbox...);
   * overload: 503 or another server-wide 5xx; timeout: no final response in time;
   * transport-error: could not send or the connection broke.
   */
  result: 'ok' | 'overload' | 'timeout' | 'transport-error';
  /** UDP retransmissions of this request (Timer E). */
  retransmissions: number;
}

export interface Permit {
  /** Call exactly once, when the request is over; undefined when nothing was sent after all. */
  release(feedback: SendFeedback | undefined): void;
}

export type Admission =
  | { ok: true; permit: Permit }
  /** Not now: held (503 Retry-After, overload control) or no room within rate.maxWaitMs. Try again at retryAt; no attempt used. */
  | { ok: false; reason: string; retryAt: number };

export type RatePhase = 'slow-start' | 'avoidance' | 'fixed';

/** One target's pacing as this process last saw it (metrics, dashboard, CLI). */
export interface RateSnapshot {
  id: string;
  /** The fleet-wide rate currently allowed, requests per second. */
  allowedPerSec: number;
  /** Requests admitted per second fleet-wide over the last control interval. */
  actualPerSec: number;
  /** Requests awaiting a response, fleet-wide (live workers only). */
  inFlight: number;
  maxInFlight: number;
  phase: RatePhase;
  /** Mean latency of the last control interval, ms. */
  latencyMs: number;
  /** ms since epoch; 0 when not held. */
  holdUntil: number;
  holdReason?: string;
}

export interface TargetGate {
  /** Waits (at most rate.maxWaitMs, or until `signal` aborts) for room under the target's rate and in-flight cap. */
  admit(id: string, signal?: AbortSignal): Promise<Admission>;
  /** Fleet-wide: nothing is admitted for `id` before `untilMs` (503 Retry-After, jittered by the caller); then slow start. */
  hold(id: string, untilMs: number, reason: string): Promise<void>;
  /** RFC 7339: reduce the target's rate by `percent` for `validityMs`. */
  overloadControl(id: string, percent: number, validityMs: number): Promise<void>;
  /** Fleet-wide: restart the target's rate at rate.initialPerSec (a breaker closed, a pause ended). */
  slowStart(id: string, reason: string): Promise<void>;
  snapshot(id: string): RateSnapshot | undefined;
  /** Every target this process has seen. */
  snapshots(): RateSnapshot[];
  close(): Promise<void>;
}
