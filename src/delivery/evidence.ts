/**
 * What one request's outcome tells the protections of its target: the breaker (is the server
 * there at all?) and the rate controller (is it congested?). The one place that decides which
 * answers count as a server-wide failure: timeouts, transport errors, 503 and the other
 * server-wide 5xx (502, 504). A 500, 404 or 412 is about one mailbox: the server is alive.
 */
import type { Evidence } from '../breaker/types.ts';
import type { SendFeedback } from '../rate/types.ts';
import { timerESendOffsetsMs } from '../sip/transport/timer-e.ts';
import type { TransportProtocol } from '../sip/transport/transport.ts';
import type { Outcome } from './outcome.ts';

const SERVER_WIDE_5XX = new Set([502, 503, 504]);

export function isServerWideFailure(outcome: Outcome): boolean {
  if (outcome.kind === 'deferred') return false;
  if (outcome.cause === 'timeout' || outcome.cause === 'transport') return true;
  return outcome.status !== undefined && SERVER_WIDE_5XX.has(outcome.status);
}

export function breakerEvidence(outcome: Outcome): Evidence {
  return isServerWideFailure(outcome) ? { ok: false, reason: outcome.reason } : { ok: true };
}

export interface TimerSettings {
  t1Ms: number;
  t2Ms: number;
  transactionTimeoutMs: number;
}

/**
 * UDP retransmissions a request needed, from how long its answer took: Timer E fires at fixed
 * offsets (T1, 3 T1, 7 T1, ...), so a response after 700 ms followed one retransmission. Exact
 * unless a provisional response stretched the intervals (we never get one for PUBLISH in practice).
 */
export function retransmissionsFor(protocol: TransportProtocol, elapsedMs: number, timers: TimerSettings): number {
  if (protocol !== 'UDP') return 0;
  const offsets = timerESendOffsetsMs(timers.t1Ms, timers.t2Ms, timers.transactionTimeoutMs);
  let sent = 0;
  for (const at of offsets) if (at < elapsedMs) sent++;
  return Math.max(0, sent - 1);
}

export function rateFeedback(outcome: Outcome, protocol: TransportProtocol, timers: TimerSettings): SendFeedback {
  const result: SendFeedback['result'] =
    outcome.cause === 'timeout' ? 'timeout' : outcome.cause === 'transport' ? 'transport-error' : isServerWideFailure(outcome) ? 'overload' : 'ok';
  // A delivery may take several requests (412 then an initial PUBLISH): the mean stands for each.
  const latencyMs = outcome.elapsedMs / Math.max(1, outcome.requests);
  return { latencyMs, result, retransmissions: retransmissionsFor(protocol, latencyMs, timers) };
}
