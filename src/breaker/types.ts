/**
 * Circuit breakers shared by the fleet: one for DNS (id `dns`) and one per presence target hop
 * (id = SipHop.key, e.g. `udp:10.0.0.5:5060`). A trip seen by one worker stops every worker.
 * Implementation: fleet-breakers.ts over redis-breaker-store.ts; pure rules in breaker-state.ts.
 */

/** Half-open is `open` while one worker of the fleet holds the probe lease. */
export type BreakerState =
  | { kind: 'closed' }
  | { kind: 'open'; since: number; reason: string; nextProbeAt: number; failedProbes: number }
  /** Held open by an operator until reset; no probes. */
  | { kind: 'isolated'; since: number; reason: string; actor: string };

export type BreakerKind = BreakerState['kind'];

export interface BreakerTransition {
  id: string;
  from: BreakerKind;
  to: BreakerKind;
  at: number;
  reason: string;
  /** Operator name for isolate/reset; absent for automatic transitions. */
  actor?: string;
  /** Worker id (host:pid) that caused it. */
  worker: string;
  /** True when this process caused the transition (e.g. its probe succeeded): it starts the slow start. */
  local: boolean;
}

/** What one request to a target (or one DNS query) tells the breaker. */
export type Evidence = { ok: true } | { ok: false; reason: string };

export interface ProbeResult {
  up: boolean;
  reason: string;
}

export interface BreakerInfo {
  id: string;
  state: BreakerState;
  /** Outcomes in the current evidence window, fleet-wide. */
  okInWindow: number;
  failuresInWindow: number;
  /** The latest transitions of this breaker, newest first. */
  lastTransition?: BreakerTransition;
}

export interface FleetBreakers {
  /** This process's view, synchronous (hot path). Within breaker.syncMs of Redis; transitions are pushed at once. Unknown id: closed. */
  state(id: string): BreakerState;
  /** Makes an id known (to this process's probe loop and to the fleet's list) with how to probe it. Idempotent. */
  register(id: string, probe: () => Promise<ProbeResult>): void;
  /** Evidence from a request; aggregated and written to Redis in small batches; may trip the breaker (fleet-wide). */
  record(id: string, evidence: Evidence): void;
  /** Operator: hold open (no traffic, no probes) until reset. */
  isolate(id: string, actor: string, reason: string): Promise<void>;
  /** Operator: close now (through slow start). */
  reset(id: string, actor: string, reason: string): Promise<void>;
  list(): Promise<BreakerInfo[]>;
  onTransition(listener: (t: BreakerTransition) => void): () => void;
  close(): Promise<void>;
}
