/**
 * The rate controller of one target, pure: the ONE place the fleet-wide rate is decided.
 * Redis (redis-rate-store.ts) aggregates the fleet's outcomes per control interval and hands the
 * closed window to exactly one worker, which calls nextRate() and writes the result back.
 *
 * Slow start doubles the rate per clean interval (until latency starts to rise); a congestion
 * signal (timeout, 503/5xx, retransmissions, latency above target) sets it to rate.decreaseFactor
 * times the lower of the rate and the goodput the server just delivered; between decreases it
 * grows by a constant step (RFC 6357: pace, back off multiplicatively). The fleet-wide
 * in-flight cap does the rest: with W in flight, throughput is min(rate, W/RTT), so a rate above
 * capacity only adds a bounded queueing delay (W/capacity) instead of loss.
 */
import type { Config } from '../../config/schema.ts';
import type { RatePhase } from './types.ts';

export type RateSettings = Config['rate'];

export interface RateState {
  phase: RatePhase;
  ratePerSec: number;
  /** Slow start ends here; set to the rate after each decrease. */
  ssthreshPerSec: number;
  /** Lowest mean latency seen (0: not measured yet): latency above it plus rate.latencyTargetMs is congestion. */
  baselineLatencyMs: number;
  /** Mean latency of the previous interval (0: none), to tell a draining queue from a growing one. */
  lastLatencyMs: number;
  /** Congestion reported before this is the echo of the last decrease (requests sent before it): no second decrease. */
  recoverUntilMs: number;
  /** Goodput the server delivered when congestion was last seen (0: never): the rate climbs back to it quickly, past it slowly. */
  capacityPerSec: number;
  /** Last restart (hold, slow start): a window that began before it measured the old rate and grows nothing. */
  restartedAtMs: number;
  /** RFC 7339: until then the rate is at most (1 - overloadPercent/100) of overloadBasePerSec. */
  overloadUntil?: number;
  overloadPercent?: number;
  overloadBasePerSec?: number;
}

/** The fleet's outcomes in one control interval. */
export interface WindowStats {
  startedAt: number;
  endedAt: number;
  /** Send slots granted fleet-wide (what the rate allowed and the fleet took). */
  admitted: number;
  ok: number;
  overload: number;
  timeouts: number;
  transportErrors: number;
  retransmissions: number;
  latencySumMs: number;
  latencyCount: number;
  latencyMaxMs: number;
}

export type CongestionSignal = 'overload' | 'timeout' | 'retransmissions' | 'latency';

export const SLOW_START_FACTOR = 2;
/** Additive increase per clean interval, as a fraction of ssthresh: about 6 intervals from 0.7x back to 1x. */
export const ADDITIVE_STEP_FRACTION = 0.05;
/**
 * Past the capacity last measured, the rate probes by this share of it per clean interval: the
 * queue then grows slowly enough for the latency signal to catch it well before T1 (5% of
 * ssthresh per interval overshot a simulated 1000/s server by 18% into retransmissions).
 */
export const PROBE_STEP_FRACTION = 0.02;
/** Above 0.5% the server is already dropping or late past T1; retransmissions feed congestion collapse. */
export const MAX_RETRANSMISSION_RATIO = 0.005;
/**
 * The rate grows only when the fleet used at least this share of it: an idle or window-limited
 * target keeps its rate (otherwise after an idle hour the rate would be huge). Below 1 so CPU
 * noise in the pumps does not stall growth; it bounds the overshoot of a window-limited target
 * to 1/0.85 of what it delivers.
 */
export const UTILIZATION_TO_GROW = 0.85;
/** Latency this much below the previous interval's, or admissions this much below the answers, mean the queue is draining. */
export const DRAINING_LATENCY_RATIO = 0.95;
/** Slow start ends (without a decrease) once latency rises this share of rate.latencyTargetMs above the baseline: a queue is forming. */
export const SLOW_START_EXIT_LATENCY_SHARE = 0.25;
/** Longest echo of a decrease that is ignored, whatever the measured latency (timeouts report late). */
export const MAX_RECOVERY_MS = 1_000;
/**
 * Fewest responses in a window for its mean latency to count as congestion. With fewer, one slow
 * answer (or one stall of our own event loop) decides the mean: at a few requests per interval
 * that cut the rate again and again (incident-replay: 263/s down to 5/s against a server doing
 * 3,000/s). Timeouts, retransmissions and overload still count at any rate.
 */
export const MIN_LATENCY_SAMPLES = 10;

export function capPerSec(s: RateSettings): number {
  return s.maxPerSec ?? s.ceilingPerSec;
}

function floorPerSec(s: RateSettings): number {
  return Math.min(s.minPerSec, capPerSec(s));
}

function clamp(ratePerSec: number, s: RateSettings): number {
  return Math.min(capPerSec(s), Math.max(floorPerSec(s), ratePerSec));
}

export function initialRateState(s: RateSettings): RateState {
  const cap = capPerSec(s);
  const fresh = { ssthreshPerSec: cap, baselineLatencyMs: 0, lastLatencyMs: 0, recoverUntilMs: 0, capacityPerSec: 0, restartedAtMs: 0 };
  if (!s.adaptive) return { phase: 'fixed', ratePerSec: cap, ...fresh };
  return { phase: 'slow-start', ratePerSec: clamp(s.initialPerSec, s), ...fresh };
}

/** Slow start again from rate.initialPerSec (a hold ended, a breaker closed); slow start stops at a share of the old rate, like TCP after a timeout. */
export function restartState(state: RateState, nowMs: number, s: RateSettings): RateState {
  const fresh = { ...initialRateState(s), restartedAtMs: nowMs, capacityPerSec: state.capacityPerSec };
  const overload = state.overloadUntil !== undefined && state.overloadUntil > nowMs ? overloadOf(state) : {};
  const limitPerSec = overloadLimitPerSec(state, nowMs, s);
  if (!s.adaptive) return { ...fresh, ratePerSec: Math.min(fresh.ratePerSec, limitPerSec), ...overload };
  const ssthreshPerSec = clamp(Math.max(fresh.ratePerSec, state.ratePerSec * s.decreaseFactor), s);
  return { ...fresh, ratePerSec: Math.min(fresh.ratePerSec, limitPerSec), ssthreshPerSec, baselineLatencyMs: state.baselineLatencyMs, ...overload };
}

function overloadOf(state: RateState): Pick<RateState, 'overloadUntil' | 'overloadPercent' | 'overloadBasePerSec'> {
  if (state.overloadUntil === undefined) return {};
  return { overloadUntil: state.overloadUntil, overloadPercent: state.overloadPercent ?? 0, overloadBasePerSec: state.overloadBasePerSec ?? state.ratePerSec };
}

function withoutOverload(state: RateState): RateState {
  const { overloadUntil: _u, overloadPercent: _p, overloadBasePerSec: _b, ...rest } = state;
  return rest;
}

/** The rate RFC 7339 overload control allows at `nowMs` (the cap when none is active). */
function overloadLimitPerSec(state: RateState, nowMs: number, s: RateSettings): number {
  if (state.overloadUntil === undefined || state.overloadUntil <= nowMs) return capPerSec(s);
  const base = state.overloadBasePerSec ?? state.ratePerSec;
  return clamp(base * (1 - (state.overloadPercent ?? 0) / 100), s);
}

/**
 * RFC 7339 `oc=percent;oc-validity=ms`: reduce by `percent` of the rate in force when overload
 * control began (a repeated signal replaces the percentage, it does not compound); 0 ends it.
 */
export function applyOverloadControl(state: RateState, percent: number, validityMs: number, nowMs: number, s: RateSettings): RateState {
  const p = Math.min(100, Math.max(0, percent));
  if (p === 0 || validityMs <= 0) {
    const cleared = withoutOverload(state);
    return state.phase === 'fixed' ? { ...cleared, ratePerSec: capPerSec(s) } : cleared;
  }
  const active = state.overloadUntil !== undefined && state.overloadUntil > nowMs;
  const overloadBasePerSec = active ? (state.overloadBasePerSec ?? state.ratePerSec) : state.ratePerSec;
  const next: RateState = { ...state, overloadUntil: nowMs + validityMs, overloadPercent: p, overloadBasePerSec };
  return { ...next, ratePerSec: Math.min(state.ratePerSec, overloadLimitPerSec(next, nowMs, s)) };
}

export function meanLatencyMs(w: WindowStats): number | undefined {
  return w.latencyCount > 0 ? w.latencySumMs / w.latencyCount : undefined;
}

/** The strongest congestion signal of a window, or undefined when it was clean. */
export function congestionOf(w: WindowStats, baselineLatencyMs: number, s: RateSettings): CongestionSignal | undefined {
  if (w.overload > 0) return 'overload';
  if (w.timeouts > 0) return 'timeout';
  const completed = w.ok + w.overload + w.timeouts + w.transportErrors;
  if (completed > 0 && w.retransmissions / completed > MAX_RETRANSMISSION_RATIO) return 'retransmissions';
  const mean = meanLatencyMs(w);
  // Relative to the baseline, so a far (WAN) server is not mistaken for a slow one.
  if (mean !== undefined && w.latencyCount >= MIN_LATENCY_SAMPLES && mean > baselineLatencyMs + s.latencyTargetMs) return 'latency';
  return undefined;
}

/** The controller's state after one closed window (fleet aggregate of one control interval). */
export function nextRate(state: RateState, w: WindowStats, s: RateSettings): RateState {
  const nowMs = w.endedAt;
  let st = state.overloadUntil !== undefined && state.overloadUntil <= nowMs ? withoutOverload(state) : state;
  if (!s.adaptive) return { ...st, phase: 'fixed', ratePerSec: Math.min(capPerSec(s), overloadLimitPerSec(st, nowMs, s)) };
  if (st.phase === 'fixed') st = { ...initialRateState(s), baselineLatencyMs: st.baselineLatencyMs };

  const mean = meanLatencyMs(w);
  const signal = congestionOf(w, st.baselineLatencyMs, s);
  const measured: RateState = {
    ...st,
    baselineLatencyMs: mean === undefined ? st.baselineLatencyMs : st.baselineLatencyMs === 0 ? mean : Math.min(st.baselineLatencyMs, mean),
    lastLatencyMs: mean ?? st.lastLatencyMs,
  };
  const limit = (ratePerSec: number): number => Math.min(clamp(ratePerSec, s), overloadLimitPerSec(st, nowMs, s));

  const elapsedSec = Math.max(0, w.endedAt - w.startedAt) / 1000;
  if (signal !== undefined) {
    const echo = nowMs < st.recoverUntilMs;
    // Delay symptoms of a queue that already shrinks (the fleet sent less than the server
    // answered, or latency fell): the last decrease is working, another would overshoot.
    const completed = w.ok + w.overload + w.timeouts + w.transportErrors;
    const shrinking = w.admitted < completed * DRAINING_LATENCY_RATIO || (mean !== undefined && st.lastLatencyMs > 0 && mean < st.lastLatencyMs * DRAINING_LATENCY_RATIO);
    const draining = (signal === 'latency' || signal === 'retransmissions') && shrinking;
    if (echo || draining) return { ...measured, ratePerSec: limit(st.ratePerSec) };
    // Below what the server just delivered, not only below our own rate: after a slow-start
    // overshoot of several times the capacity, one decrease is enough to drain the queue. Only
    // when the fleet used the rate: otherwise the goodput measured our demand, not the server
    // (a window of few deliveries cut the rate to a fraction of what the server could take).
    const goodputPerSec = elapsedSec > 0 ? w.ok / elapsedSec : Infinity;
    const demandLimited = w.admitted < UTILIZATION_TO_GROW * st.ratePerSec * elapsedSec;
    const ratePerSec = limit((demandLimited ? st.ratePerSec : Math.min(st.ratePerSec, goodputPerSec)) * s.decreaseFactor);
    const echoMs = Math.min(MAX_RECOVERY_MS, w.latencyMaxMs);
    const capacityPerSec = demandLimited ? st.ratePerSec : Number.isFinite(goodputPerSec) ? Math.min(st.ratePerSec, goodputPerSec) : st.capacityPerSec;
    return { ...measured, phase: 'avoidance', ratePerSec, ssthreshPerSec: ratePerSec, capacityPerSec, recoverUntilMs: nowMs + s.controlIntervalMs + echoMs };
  }

  const used = w.startedAt >= st.restartedAtMs && w.admitted >= UTILIZATION_TO_GROW * st.ratePerSec * elapsedSec;
  if (!used || w.transportErrors > 0) return { ...measured, ratePerSec: limit(st.ratePerSec) };

  const queueForming = mean !== undefined && st.baselineLatencyMs > 0 && mean > st.baselineLatencyMs + s.latencyTargetMs * SLOW_START_EXIT_LATENCY_SHARE;
  if (st.phase === 'slow-start' && queueForming) return { ...measured, phase: 'avoidance', ratePerSec: limit(st.ratePerSec), ssthreshPerSec: limit(st.ratePerSec) };
  if (st.phase === 'slow-start') {
    const ratePerSec = limit(Math.max(st.ratePerSec, Math.min(st.ratePerSec * SLOW_START_FACTOR, st.ssthreshPerSec)));
    return { ...measured, ratePerSec, phase: ratePerSec >= st.ssthreshPerSec ? 'avoidance' : 'slow-start' };
  }
  // At least half the slow-start rate per interval: after an early slow-start exit at a low rate
  // (a latency blip as a server recovers) 5% of a small ssthresh would take minutes to climb.
  const stepPerSec = Math.max(1, st.ssthreshPerSec * ADDITIVE_STEP_FRACTION, s.initialPerSec / 2);
  // Binary search back toward the capacity last measured (BIC), then probe past it gently.
  // (Doubling the excess past it, BIC's max probing, overshot a simulated 1000/s server into
  // retransmissions with a 600 window: test/integration/rate-redis.test.ts.)
  if (st.capacityPerSec <= 0) return { ...measured, ratePerSec: limit(st.ratePerSec + stepPerSec) };
  const probePerSec = Math.max(1, st.capacityPerSec * PROBE_STEP_FRACTION);
  if (st.ratePerSec >= st.capacityPerSec) return { ...measured, ratePerSec: limit(st.ratePerSec + probePerSec) };
  const towardCapacityPerSec = (st.capacityPerSec - st.ratePerSec) / 2;
  const nextPerSec = Math.min(st.ratePerSec + Math.max(stepPerSec, towardCapacityPerSec), st.capacityPerSec + probePerSec);
  return { ...measured, ratePerSec: limit(nextPerSec) };
}
