/**
 * The operators' controls, shared by the fleet through Redis: pause (everything, or one target)
 * with a reason, an actor and an optional automatic end; drain (finish queued work, start no new
 * sweeps); and the audit log of who did what, when and why. Breaker isolate/reset live in
 * src/breaker (FleetBreakers) but are audited here too.
 */

/** `global`, or one target: a target URI as configured (sip:ps.example.net) or a hop key (udp:10.0.0.5:5060). */
export type PauseScope = 'global' | { target: string };

export interface PauseState {
  /** `global` or the target string. */
  scope: string;
  reason: string;
  actor: string;
  /** ms since epoch. */
  since: number;
  /** Automatic end (ms since epoch); absent: until resumed. */
  until?: number;
}

export interface DrainState {
  reason: string;
  actor: string;
  since: number;
}

export interface AuditEntry {
  at: number;
  actor: string;
  /** e.g. pause, resume, pause-expire, drain, undrain, breaker-isolate, breaker-reset, resync. */
  action: string;
  /** `global`, a target, a breaker id or a mailbox. */
  subject: string;
  reason: string;
  /** Where it came from: cli, api, dashboard (`expiry` for a pause that ended by itself). */
  via: string;
  /** A pause's automatic end (ms since epoch), when it has one. */
  until?: number;
}

export interface ControlSnapshot {
  pauses: PauseState[];
  drain: DrainState | undefined;
}

export interface ControlPlane {
  /** Pauses (replacing an earlier pause of the same scope); audited. reason is required (non-empty). */
  pause(scope: PauseScope, actor: string, reason: string, opts?: { forMs?: number; via?: string }): Promise<PauseState>;
  /** Ends the pause of that scope (no-op if none); audited. The caller restarts slow start for the targets. */
  resume(scope: PauseScope, actor: string, reason: string, opts?: { via?: string }): Promise<PauseState | undefined>;
  setDrain(on: boolean, actor: string, reason: string, opts?: { via?: string }): Promise<void>;
  /** Appends to the audit log (actions done elsewhere, e.g. breaker isolate). */
  audit(entry: Omit<AuditEntry, 'at'>): Promise<void>;
  auditLog(limit: number): Promise<AuditEntry[]>;
  /** From Redis (one round trip). */
  snapshot(): Promise<ControlSnapshot>;
  /**
   * Hot path, synchronous: the pause that stops sending to this target now (global first), from
   * this process's view (kept within 250 ms of Redis, pushed at once over pub/sub); expired pauses never count.
   */
  pausedFor(targetUri: string, hopKey?: string): PauseState | undefined;
  /** Synchronous: drain is on (no new sweeps). */
  draining(): boolean;
  /** Called on every change this process learns of (pause, resume, expiry, drain). */
  onChange(listener: (snapshot: ControlSnapshot) => void): () => void;
  close(): Promise<void>;
}
