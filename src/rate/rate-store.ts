/**
 * The shared side of pacing, as the gate sees it: one implementation in Redis
 * (redis-rate-store.ts), fakes in tests. Times are ms since the epoch.
 */
import type { RateState } from './aimd.ts';

export type LimitedBy = 'none' | 'rate' | 'in-flight' | 'hold';

export interface AcquireResult {
  /** Send slots granted now (0..want). */
  granted: number;
  /** When granted < want: ms until the bucket should have room again (in-flight limited: 0, unknown). */
  waitMs: number;
  /** 0 when not held. */
  holdUntil: number;
  holdReason?: string;
  limitedBy: LimitedBy;
  /** The fleet-wide rate in force. */
  ratePerSec: number;
  /** Requests in flight fleet-wide after this grant (live workers only). */
  fleetInFlight: number;
  /** Workers with requests in flight, this one included. */
  liveWorkers: number;
}

/** One worker's feedback since its last report, and its in-flight count now. */
export interface WorkerReport {
  /** -1 while an acquire of this worker is under way: its grant is not counted here yet, so the stored count is kept. */
  inFlight: number;
  ok: number;
  overload: number;
  timeouts: number;
  transportErrors: number;
  retransmissions: number;
  latencySumMs: number;
  latencyCount: number;
  latencyMaxMs: number;
}

export interface StoredRate {
  /** Compare-and-set version of `state`. */
  version: number;
  state: RateState;
  /** The rate in force (the state's, capped by the configuration). */
  ratePerSec: number;
  holdUntil: number;
  holdReason?: string;
  /** Admitted per second fleet-wide over the last closed control interval. */
  actualPerSec: number;
  /** Mean latency of the last closed control interval. */
  latencyMs: number;
  fleetInFlight: number;
}

export interface RateStore {
  /** Takes up to `want` send slots under the fleet-wide rate and in-flight cap; records this worker's in-flight count. */
  acquire(id: string, want: number, nowMs: number, worker: string, workerInFlight: number): Promise<AcquireResult>;
  /** Adds one worker's feedback to the current control interval; the call that closes the interval decides the next rate and returns it. */
  report(id: string, worker: string, report: WorkerReport, nowMs: number): Promise<RateState | undefined>;
  /** Nothing admitted before `untilMs` (the later of this and any existing hold); then slow start. */
  hold(id: string, untilMs: number, reason: string): Promise<number>;
  slowStart(id: string): Promise<void>;
  overloadControl(id: string, percent: number, validityMs: number): Promise<void>;
  snapshot(id: string): Promise<StoredRate | undefined>;
}
