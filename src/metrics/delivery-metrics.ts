/**
 * Delivery metrics, fed by the guarded sender through its DeliveryObserver seam: per target (the
 * RFC 3263 hop key, capped by TargetLabels) what was sent, how it was answered and how long it
 * took, and every deferral by a small fixed kind. Labels take values from closed sets or from
 * hop keys; never from reasons, URIs of mailboxes or other free text.
 */
import { Counter, Histogram, type Registry } from 'prom-client';

import type { DeliveryObserver } from '../delivery/guarded-sender.ts';
import type { Outcome } from '../delivery/outcome.ts';
import { ErrorCodes } from '../errors.ts';
import type { SendFeedback } from '../rate/types.ts';
import { TargetLabels } from './target-labels.ts';

export type StatusClass = '1xx' | '2xx' | '3xx' | '4xx' | '5xx' | '6xx';
export type DeferralKind = 'breaker' | 'pause' | 'hold' | 'pacing' | 'dns' | 'other';

const DEFERRAL_KINDS: Record<DeferralKind, null> = { breaker: null, pause: null, hold: null, pacing: null, dns: null, other: null };
const keys = <K extends string>(r: Record<K, null>): K[] => Object.keys(r) as K[];

/** LAN SIP answers in a few ms; Timer F (64 x T1 = 32 s) is far beyond the last bucket, and 8 s already means trouble. */
export const SIP_LATENCY_BUCKETS_SEC = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2, 4, 8];

export interface DeliveryMetrics {
  requests: Counter<'target'>;
  responses: Counter<'target' | 'class'>;
  accepted: Counter<'target'>;
  rejected: Counter<'target' | 'class'>;
  timeouts: Counter<'target'>;
  transportErrors: Counter<'target'>;
  retransmissions: Counter<'target'>;
  durationSec: Histogram<'target'>;
  deferred: Counter<'kind'>;
  /** Shared with the runtime collectors, so a target has the same label (or `other`) everywhere. */
  targets: TargetLabels;
}

export function deliveryMetrics(registry: Registry, targets: TargetLabels): DeliveryMetrics {
  const registers = [registry];
  const m: DeliveryMetrics = {
    requests: new Counter({ name: 'mwi_sip_requests_total', help: 'SIP requests sent per target hop (a delivery may send several: 412, 401, 423 follow-ups); UDP retransmissions are not counted here', labelNames: ['target'], registers }),
    responses: new Counter({ name: 'mwi_sip_responses_total', help: 'Final SIP responses per target hop by status class (the last response of each delivery)', labelNames: ['target', 'class'], registers }),
    accepted: new Counter({ name: 'mwi_deliveries_accepted_total', help: 'Deliveries the target accepted (2xx)', labelNames: ['target'], registers }),
    rejected: new Counter({ name: 'mwi_deliveries_rejected_total', help: 'Deliveries the target answered with a failure status, by class', labelNames: ['target', 'class'], registers }),
    timeouts: new Counter({ name: 'mwi_sip_timeouts_total', help: 'Deliveries that got no final response in time (Timer F/B)', labelNames: ['target'], registers }),
    transportErrors: new Counter({ name: 'mwi_sip_transport_errors_total', help: 'Deliveries that could not be sent or whose connection broke', labelNames: ['target'], registers }),
    retransmissions: new Counter({ name: 'mwi_sip_retransmissions_total', help: 'UDP retransmissions (Timer E) of requests per target hop', labelNames: ['target'], registers }),
    durationSec: new Histogram({ name: 'mwi_sip_request_duration_seconds', help: 'Request to final response (or giving up), per request, per target hop', labelNames: ['target'], buckets: SIP_LATENCY_BUCKETS_SEC, registers }),
    deferred: new Counter({ name: 'mwi_deliveries_deferred_total', help: 'Deliveries deferred without sending (no attempt used), by why: breaker, pause, hold (503 Retry-After), pacing (no send slot in time), dns, other', labelNames: ['kind'], registers }),
    targets,
  };
  for (const kind of keys(DEFERRAL_KINDS)) m.deferred.inc({ kind }, 0);
  return m;
}

export function statusClass(status: number): StatusClass | undefined {
  const c = Math.floor(status / 100);
  return c >= 1 && c <= 6 ? (`${c}xx` as StatusClass) : undefined;
}

const DNS_CODES: ReadonlySet<string> = new Set([ErrorCodes.DNS_TIMEOUT, ErrorCodes.DNS_FAILED, ErrorCodes.DNS_BREAKER_OPEN, ErrorCodes.DNS_NXDOMAIN, ErrorCodes.DNS_NO_DATA, ErrorCodes.RESOLVE_FAILED]);

/**
 * The kind of a deferral, from the fixed prefixes the guarded sender writes: `<ERROR_CODE>: ...`,
 * or `paused (<scope>) by ...` for an operator pause (which has no error code). TARGET_HELD
 * covers both a 503 Retry-After hold (`<hop>: held: ...`) and pacing (`<hop>: no send slot ...`).
 */
export function deferralKind(reason: string): DeferralKind {
  if (reason.startsWith('paused (')) return 'pause';
  const code = /^(MWI_[A-Z0-9_]+):/.exec(reason)?.[1];
  if (code === undefined) return 'other';
  if (code === ErrorCodes.BREAKER_OPEN) return 'breaker';
  if (DNS_CODES.has(code)) return 'dns';
  if (code === ErrorCodes.TARGET_HELD) return / held: /.test(reason) ? 'hold' : 'pacing';
  return 'other';
}

/** Requests of one delivery observed in the histogram at most (the mean latency stands for each). */
const MAX_OBSERVED_REQUESTS = 8;

/** The DeliveryObserver the guarded sender is given: counts only, never throws. */
export function deliveryObserver(m: DeliveryMetrics): DeliveryObserver {
  return {
    delivered(hopKey: string, outcome: Outcome, feedback: SendFeedback): void {
      const target = m.targets.label(hopKey);
      const requests = Math.max(0, outcome.requests);
      m.requests.inc({ target }, requests);
      m.retransmissions.inc({ target }, Math.max(0, feedback.retransmissions));
      const seconds = Math.max(0, feedback.latencyMs) / 1_000;
      for (let i = 0; i < Math.min(requests, MAX_OBSERVED_REQUESTS); i++) m.durationSec.observe({ target }, seconds);
      if (feedback.result === 'timeout') m.timeouts.inc({ target });
      else if (feedback.result === 'transport-error') m.transportErrors.inc({ target });
      const cls = outcome.cause === 'response' && outcome.status !== undefined ? statusClass(outcome.status) : undefined;
      if (cls !== undefined) m.responses.inc({ target, class: cls });
      if (outcome.kind === 'delivered') m.accepted.inc({ target });
      else if (cls !== undefined && cls !== '1xx' && cls !== '2xx') m.rejected.inc({ target, class: cls });
    },
    deferred(_hopKey: string | undefined, reason: string): void {
      m.deferred.inc({ kind: deferralKind(reason) });
    },
  };
}
