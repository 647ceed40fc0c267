/**
 * The breaker's pure rules (no I/O, no clock): when evidence trips a breaker, how long an open
 * breaker waits before its next probe, and how a state is kept in its Redis hash. Parsing never
 * throws: a hash this code did not write reads as closed, or as the nearest sane state.
 *
 * Hash fields (src/store/keys.ts breaker(id)):
 *   kind          closed | open | isolated (missing or unknown: closed)
 *   since         ms since epoch the breaker opened / was isolated
 *   reason        why it opened / was isolated
 *   nextProbeAt   open only: ms since epoch the next probe may start
 *   failedProbes  open only: probes that failed since it opened
 *   actor         isolated only: the operator
 *   seq           bumped on every transition, so a late read never overwrites a newer state
 *   last          JSON of the latest transition (BreakerTransition without `local`)
 */
import type { BreakerKind, BreakerState, BreakerTransition } from './types.ts';

export interface TripRule {
  minFailures: number;
  /** Share of failures among all outcomes, in (0, 1). */
  failureRatio: number;
  /** Failures in a row (no success between) that trip whatever the window says. */
  consecutiveFailures: number;
}

/** The run rule; the Lua in lua/report.ts computes the same. */
export function runTrips(failuresInARow: number, rule: TripRule): boolean {
  return failuresInARow >= rule.consecutiveFailures;
}

export interface ProbeBackoff {
  probeBaseMs: number;
  probeMaxMs: number;
}

export const CLOSED: BreakerState = Object.freeze({ kind: 'closed' });

/** The trip rule; the Lua in lua/report.ts computes exactly the same expression. */
export function shouldTrip(ok: number, failures: number, rule: Pick<TripRule, 'minFailures' | 'failureRatio'>): boolean {
  if (!(failures >= rule.minFailures) || failures <= 0) return false;
  return failures / (Math.max(0, ok) + failures) >= rule.failureRatio;
}

/**
 * Wait before the probe after `failedProbes` failed ones: probeBaseMs * 2^failedProbes, capped
 * at probeMaxMs, then jittered uniformly into [half, all] of it so a fleet does not probe in step.
 */
export function probeDelayMs(failedProbes: number, backoff: ProbeBackoff, random: () => number): number {
  const exponent = Math.min(Math.max(0, Math.floor(failedProbes) || 0), 52);
  const capped = Math.min(backoff.probeMaxMs, backoff.probeBaseMs * 2 ** exponent);
  const r = random();
  const unit = Number.isFinite(r) ? Math.min(1, Math.max(0, r)) : 1;
  return Math.max(1, Math.round(capped * (0.5 + 0.5 * unit)));
}

function time(value: string | undefined): number {
  const n = Number(value);
  return value !== undefined && value !== '' && Number.isFinite(n) && n >= 0 ? Math.floor(n) : 0;
}

/** The state held in a breaker hash. Garbled open fields make a probe due at once (the probe decides). */
export function parseBreakerHash(hash: Readonly<Record<string, string>>): BreakerState {
  const reason = hash.reason ?? '';
  switch (hash.kind) {
    case 'open':
      return { kind: 'open', since: time(hash.since), reason, nextProbeAt: time(hash.nextProbeAt), failedProbes: time(hash.failedProbes) };
    case 'isolated':
      // An operator's hold is kept even when its details are garbled: traffic stays stopped.
      return { kind: 'isolated', since: time(hash.since), reason, actor: hash.actor || 'unknown' };
    default:
      return CLOSED;
  }
}

/** The transition counter of a breaker hash (0 when missing or garbled). */
export function parseSeq(hash: Readonly<Record<string, string>>): number {
  return time(hash.seq);
}

/** The hash fields of a state (what the Lua scripts write). */
export function breakerHashFields(state: BreakerState): Record<string, string> {
  switch (state.kind) {
    case 'closed':
      return { kind: 'closed' };
    case 'open':
      return { kind: 'open', since: String(state.since), reason: state.reason, nextProbeAt: String(state.nextProbeAt), failedProbes: String(state.failedProbes) };
    case 'isolated':
      return { kind: 'isolated', since: String(state.since), reason: state.reason, actor: state.actor };
  }
}

const KINDS: readonly string[] = ['closed', 'open', 'isolated'] satisfies BreakerKind[];

function isKind(value: unknown): value is BreakerKind {
  return typeof value === 'string' && KINDS.includes(value);
}

/** A stored transition (JSON from the log or the hash's `last`), `local: false`; undefined when unusable. */
export function parseTransition(json: string | undefined | null): BreakerTransition | undefined {
  if (typeof json !== 'string' || json === '') return undefined;
  let raw: unknown;
  try {
    raw = JSON.parse(json);
  } catch {
    return undefined;
  }
  if (typeof raw !== 'object' || raw === null) return undefined;
  const t = raw as Record<string, unknown>;
  const at = Number(t.at);
  if (typeof t.id !== 'string' || !isKind(t.from) || !isKind(t.to) || !Number.isFinite(at)) return undefined;
  return {
    id: t.id,
    from: t.from,
    to: t.to,
    at,
    reason: typeof t.reason === 'string' ? t.reason : '',
    ...(typeof t.actor === 'string' && t.actor !== '' ? { actor: t.actor } : {}),
    worker: typeof t.worker === 'string' ? t.worker : '',
    local: false,
  };
}

/** The JSON a transition is stored as (without `local`, which only means something to one process). */
export function serialiseTransition(t: BreakerTransition): string {
  const { local: _local, ...stored } = t;
  return JSON.stringify(stored);
}
