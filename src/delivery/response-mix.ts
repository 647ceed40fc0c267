/**
 * What each target answered lately, as this process saw it: counts by response class (2xx, 4xx,
 * 5xx, ...) plus timeouts and transport errors, for the dashboard's per-target response-code mix.
 * Bounded: at most MAX_TARGETS targets, the oldest forgotten first. (The fleet-wide, long-term
 * view is the mwi_sip_responses_total metric.)
 */
import type { Outcome } from './outcome.ts';
import type { DeliveryObserver } from './guarded-sender.ts';
import type { SendFeedback } from '../rate/types.ts';

const MAX_TARGETS = 1_000;

export type ResponseCounts = Record<string, number>;

export function responseKey(outcome: Outcome, feedback: SendFeedback): string {
  if (feedback.result === 'timeout') return 'timeout';
  if (feedback.result === 'transport-error') return 'transport';
  return outcome.status === undefined ? 'other' : `${Math.floor(outcome.status / 100)}xx`;
}

export class ResponseMix implements DeliveryObserver {
  readonly #byTarget = new Map<string, ResponseCounts>();

  delivered(hopKey: string, outcome: Outcome, feedback: SendFeedback): void {
    let counts = this.#byTarget.get(hopKey);
    if (counts === undefined) {
      if (this.#byTarget.size >= MAX_TARGETS) this.#byTarget.delete(this.#byTarget.keys().next().value ?? '');
      counts = {};
      this.#byTarget.set(hopKey, counts);
    }
    const key = responseKey(outcome, feedback);
    counts[key] = (counts[key] ?? 0) + 1;
  }

  deferred(): void {}

  snapshot(): Record<string, ResponseCounts> {
    return Object.fromEntries([...this.#byTarget].map(([k, v]) => [k, { ...v }]));
  }
}

/** One observer that tells several. */
export function observeAll(...observers: DeliveryObserver[]): DeliveryObserver {
  return {
    delivered: (hopKey, outcome, feedback) => {
      for (const o of observers) o.delivered(hopKey, outcome, feedback);
    },
    deferred: (hopKey, reason) => {
      for (const o of observers) o.deferred(hopKey, reason);
    },
  };
}
