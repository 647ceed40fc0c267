/**
 * The TargetGate of one worker process. admit() queues the caller per target; a pump per target
 * asks the shared store for as many send slots as there are waiters (one call per batch, never
 * one per request), grants them first come first served, and asks again after the store's wait
 * hint. Feedback from released permits is summed and reported every reportIntervalMs; the report
 * that closes a control interval moves the fleet's rate (aimd.ts).
 *
 * Redis unreachable: fail safe, never unlimited. Each worker paces itself locally at
 * min(rate.minPerSec, last fleet rate / workers seen) with its share of the in-flight cap: the
 * fleet cannot coordinate, and the last known rate per worker would multiply by the number of
 * workers, which exceeds the server's capacity exactly when the fleet runs near it. The floor
 * is what the operator declared safe for any server; deliveries are slowed, not stopped.
 */
import { systemClock, type Clock, type TimerHandle } from '../clock.ts';
import type { Logger } from '../log.ts';
import { capPerSec, initialRateState, type RateSettings, type RateState } from './aimd.ts';
import { LocalBucket } from './local-bucket.ts';
import type { AcquireResult, LimitedBy, RateStore, WorkerReport } from './rate-store.ts';
import type { Admission, Permit, RateSnapshot, SendFeedback, TargetGate } from './types.ts';

export interface FleetTargetGateOptions {
  store: RateStore;
  settings: RateSettings;
  /** This process in the fleet, e.g. host:pid. */
  worker: string;
  clock?: Clock;
  log?: Pick<Logger, 'warn' | 'info'>;
  /** [0, 1); Math.random when unset. */
  random?: () => number;
  /** Feedback is reported this often. Default 100. */
  reportIntervalMs?: number;
  /** With requests in flight, the count is refreshed at least this often (well within the store's 5 s liveness). Default 1000. */
  heartbeatMs?: number;
}

/** Bounds of the pause between two store calls of one target's pump. */
export const MIN_PUMP_WAIT_MS = 2;
export const MAX_PUMP_WAIT_MS = 100;
/** In-flight limited, room appears when some worker releases: poll this often (a local release pumps at once). */
const IN_FLIGHT_POLL_MS = 10;
/** After a failed store call, the store is tried again this much later; the local bucket paces meanwhile. */
const STORE_RETRY_MS = 1_000;
const LOG_EVERY_MS = 10_000;
const SNAPSHOT_REFRESH_MS = 1_000;

interface Waiter {
  resolve: (admission: Admission) => void;
  timer: TimerHandle;
  signal: AbortSignal | undefined;
  onAbort: () => void;
}

interface Target {
  id: string;
  waiters: Waiter[];
  inFlight: number;
  pumping: boolean;
  /** Acquires sent to the store and not answered yet. */
  acquiring: number;
  pumpTimer: TimerHandle | undefined;
  pumpAtMs: number;
  limitedBy: LimitedBy;
  holdUntil: number;
  holdReason: string | undefined;
  feedback: Omit<WorkerReport, 'inFlight'>;
  /** Something to tell the store: feedback or a changed in-flight count. */
  dirty: boolean;
  lastReportMs: number;
  lastSnapshotMs: number;
  liveWorkers: number;
  fallback: LocalBucket | undefined;
  view: RateSnapshot;
}

function emptyFeedback(): Omit<WorkerReport, 'inFlight'> {
  return { ok: 0, overload: 0, timeouts: 0, transportErrors: 0, retransmissions: 0, latencySumMs: 0, latencyCount: 0, latencyMaxMs: 0 };
}

function clampWait(ms: number): number {
  return Math.min(MAX_PUMP_WAIT_MS, Math.max(MIN_PUMP_WAIT_MS, Math.ceil(ms)));
}

export class FleetTargetGate implements TargetGate {
  readonly #store: RateStore;
  readonly #settings: RateSettings;
  readonly #worker: string;
  readonly #clock: Clock;
  readonly #log: Pick<Logger, 'warn' | 'info'> | undefined;
  readonly #random: () => number;
  readonly #reportIntervalMs: number;
  readonly #heartbeatMs: number;
  readonly #targets = new Map<string, Target>();
  #reportTimer: TimerHandle | undefined;
  #flushing: Promise<void> | undefined;
  #storeRetryAtMs = 0;
  #lastLogMs = -Infinity;
  #closed = false;

  constructor(opts: FleetTargetGateOptions) {
    this.#store = opts.store;
    this.#settings = opts.settings;
    this.#worker = opts.worker;
    this.#clock = opts.clock ?? systemClock;
    this.#log = opts.log;
    this.#random = opts.random ?? Math.random;
    this.#reportIntervalMs = opts.reportIntervalMs ?? 100;
    this.#heartbeatMs = opts.heartbeatMs ?? 1_000;
  }

  admit(id: string, signal?: AbortSignal): Promise<Admission> {
    const nowMs = this.#clock.now();
    if (this.#closed) return Promise.resolve({ ok: false, reason: 'gate closed', retryAt: nowMs });
    if (signal?.aborted) return Promise.resolve({ ok: false, reason: 'aborted', retryAt: nowMs });
    const t = this.#target(id);
    if (t.holdUntil > nowMs) return Promise.resolve(this.#heldRefusal(t, nowMs));
    return new Promise((resolve) => {
      const waiter: Waiter = {
        resolve,
        signal,
        timer: this.#clock.setTimeout(() => {
          if (!this.#removeWaiter(t, waiter)) return;
          const now = this.#clock.now();
          resolve({ ok: false, reason: `no send slot within ${this.#settings.maxWaitMs} ms (${t.limitedBy} limited)`, retryAt: now + Math.round(this.#settings.maxWaitMs * (0.5 + this.#random() / 2)) });
        }, this.#settings.maxWaitMs),
        onAbort: () => {
          if (!this.#removeWaiter(t, waiter)) return;
          resolve({ ok: false, reason: 'aborted', retryAt: this.#clock.now() });
        },
      };
      signal?.addEventListener('abort', waiter.onAbort, { once: true });
      t.waiters.push(waiter);
      this.#schedulePump(t, 0);
    });
  }

  async hold(id: string, untilMs: number, reason: string): Promise<void> {
    const t = this.#target(id);
    if (untilMs > t.holdUntil) {
      t.holdUntil = untilMs;
      t.holdReason = reason;
      t.view = { ...t.view, holdUntil: untilMs, holdReason: reason };
    }
    this.#refuseHeld(t);
    await this.#store.hold(id, untilMs, reason);
  }

  async overloadControl(id: string, percent: number, validityMs: number): Promise<void> {
    this.#target(id);
    await this.#store.overloadControl(id, percent, validityMs);
  }

  async slowStart(id: string, reason: string): Promise<void> {
    const t = this.#target(id);
    this.#log?.info({ target: id, reason }, 'rate slow start');
    t.view = { ...t.view, phase: initialRateState(this.#settings).phase, allowedPerSec: initialRateState(this.#settings).ratePerSec };
    await this.#store.slowStart(id);
  }

  snapshot(id: string): RateSnapshot | undefined {
    return this.#targets.get(id)?.view;
  }

  snapshots(): RateSnapshot[] {
    return [...this.#targets.values()].map((t) => t.view);
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    if (this.#reportTimer !== undefined) this.#clock.clearTimeout(this.#reportTimer);
    this.#reportTimer = undefined;
    const nowMs = this.#clock.now();
    for (const t of this.#targets.values()) {
      if (t.pumpTimer !== undefined) this.#clock.clearTimeout(t.pumpTimer);
      t.pumpTimer = undefined;
      for (const w of t.waiters.splice(0)) {
        this.#detach(w);
        w.resolve({ ok: false, reason: 'gate closed', retryAt: nowMs });
      }
    }
    await this.#flushing;
    await this.#flush(true);
  }

  #target(id: string): Target {
    let t = this.#targets.get(id);
    if (t === undefined) {
      const initial = initialRateState(this.#settings);
      t = {
        id,
        waiters: [],
        inFlight: 0,
        pumping: false,
        acquiring: 0,
        pumpTimer: undefined,
        pumpAtMs: Infinity,
        limitedBy: 'none',
        holdUntil: 0,
        holdReason: undefined,
        feedback: emptyFeedback(),
        dirty: false,
        lastReportMs: 0,
        lastSnapshotMs: 0,
        liveWorkers: 1,
        fallback: undefined,
        view: { id, allowedPerSec: initial.ratePerSec, actualPerSec: 0, inFlight: 0, maxInFlight: this.#settings.maxInFlight, phase: initial.phase, latencyMs: 0, holdUntil: 0 },
      };
      this.#targets.set(id, t);
    }
    return t;
  }

  #heldRefusal(t: Target, nowMs: number): Admission {
    // Spread the fleet's retries over up to 10% of the hold (at most 1 s) instead of all at its end.
    const jitterMs = Math.round(this.#random() * Math.min(1_000, Math.max(0, (t.holdUntil - nowMs) * 0.1)));
    return { ok: false, reason: `held: ${t.holdReason ?? 'unknown'}`, retryAt: t.holdUntil + jitterMs };
  }

  #refuseHeld(t: Target): void {
    const nowMs = this.#clock.now();
    if (t.holdUntil <= nowMs) return;
    for (const w of t.waiters.splice(0)) {
      this.#detach(w);
      w.resolve(this.#heldRefusal(t, nowMs));
    }
  }

  #detach(w: Waiter): void {
    this.#clock.clearTimeout(w.timer);
    w.signal?.removeEventListener('abort', w.onAbort);
  }

  #removeWaiter(t: Target, w: Waiter): boolean {
    const i = t.waiters.indexOf(w);
    if (i === -1) return false;
    t.waiters.splice(i, 1);
    this.#detach(w);
    return true;
  }

  #schedulePump(t: Target, delayMs: number): void {
    if (this.#closed) return;
    const atMs = this.#clock.now() + delayMs;
    if (t.pumpTimer !== undefined) {
      if (t.pumpAtMs <= atMs) return;
      this.#clock.clearTimeout(t.pumpTimer);
    }
    t.pumpAtMs = atMs;
    t.pumpTimer = this.#clock.setTimeout(() => {
      t.pumpTimer = undefined;
      t.pumpAtMs = Infinity;
      void this.#pump(t);
    }, delayMs);
    t.pumpTimer.unref?.();
  }

  async #pump(t: Target): Promise<void> {
    if (t.pumping) return;
    t.pumping = true;
    let nextMs: number | undefined;
    try {
      while (t.waiters.length > 0 && !this.#closed) {
        const result = await this.#acquire(t, t.waiters.length);
        this.#grant(t, result.granted);
        if (result.limitedBy === 'hold') {
          this.#refuseHeld(t);
          break;
        }
        if (t.waiters.length === 0) break;
        if (result.limitedBy === 'rate') nextMs = clampWait(result.waitMs);
        else if (result.limitedBy === 'in-flight') nextMs = IN_FLIGHT_POLL_MS;
        if (nextMs !== undefined) break;
        // Not limited: callers arrived while the store answered; ask again at once.
      }
    } finally {
      t.pumping = false;
    }
    if (nextMs !== undefined && t.waiters.length > 0) this.#schedulePump(t, nextMs);
  }

  /** Asks the store; while it is unreachable, the local fail-safe bucket answers. */
  async #acquire(t: Target, want: number): Promise<AcquireResult> {
    const nowMs = this.#clock.now();
    if (nowMs >= this.#storeRetryAtMs) {
      t.acquiring++;
      try {
        const result = await this.#store.acquire(t.id, want, nowMs, this.#worker, t.inFlight);
        t.fallback = undefined;
        this.#noteAcquire(t, result);
        return result;
      } catch (err) {
        this.#storeRetryAtMs = this.#clock.now() + STORE_RETRY_MS;
        this.#warn({ err, target: t.id }, 'rate store unreachable: pacing locally at the fail-safe rate');
      } finally {
        t.acquiring--;
      }
    }
    return this.#acquireLocally(t, want);
  }

  #acquireLocally(t: Target, want: number): AcquireResult {
    const result = this.#localAnswer(t, want);
    t.limitedBy = result.limitedBy;
    return result;
  }

  #localAnswer(t: Target, want: number): AcquireResult {
    const nowMs = this.#clock.now();
    const workers = Math.max(1, t.liveWorkers);
    const fallbackPerSec = Math.min(this.#settings.minPerSec, capPerSec(this.#settings), t.view.allowedPerSec / workers);
    t.fallback ??= new LocalBucket(Math.max(0.1, fallbackPerSec), nowMs);
    const maxInFlight = Math.max(1, Math.floor(this.#settings.maxInFlight / workers));
    const base = { holdUntil: t.holdUntil, ratePerSec: t.fallback.ratePerSec, fleetInFlight: t.inFlight, liveWorkers: workers };
    if (t.holdUntil > nowMs) return { ...base, granted: 0, waitMs: t.holdUntil - nowMs, limitedBy: 'hold' };
    const room = Math.max(0, maxInFlight - t.inFlight);
    const granted = t.fallback.take(Math.min(want, room), nowMs);
    if (granted === want) return { ...base, granted, waitMs: 0, limitedBy: 'none' };
    if (granted >= room) return { ...base, granted, waitMs: 0, limitedBy: 'in-flight' };
    return { ...base, granted, waitMs: t.fallback.waitMs(nowMs), limitedBy: 'rate' };
  }

  #noteAcquire(t: Target, r: AcquireResult): void {
    t.limitedBy = r.limitedBy;
    t.liveWorkers = r.liveWorkers;
    if (r.holdUntil > t.holdUntil) {
      t.holdUntil = r.holdUntil;
      t.holdReason = r.holdReason;
    }
    t.view = {
      ...t.view,
      allowedPerSec: r.ratePerSec,
      inFlight: r.fleetInFlight,
      holdUntil: r.holdUntil,
      ...(r.holdReason === undefined ? {} : { holdReason: r.holdReason }),
    };
  }

  #grant(t: Target, granted: number): void {
    t.inFlight += granted;
    if (granted > 0) t.dirty = true;
    for (let i = 0; i < granted; i++) {
      const w = t.waiters.shift();
      if (w === undefined) {
        // Their callers timed out or aborted while the store answered: give the slots back.
        t.inFlight -= granted - i;
        break;
      }
      this.#detach(w);
      w.resolve({ ok: true, permit: this.#permit(t) });
    }
    if (granted > 0) this.#scheduleReport();
  }

  #permit(t: Target): Permit {
    let released = false;
    return {
      release: (feedback: SendFeedback | undefined) => {
        if (released) return;
        released = true;
        t.inFlight = Math.max(0, t.inFlight - 1);
        t.dirty = true;
        if (feedback !== undefined) this.#addFeedback(t, feedback);
        this.#scheduleReport();
        if (t.waiters.length > 0 && t.limitedBy === 'in-flight') this.#schedulePump(t, 0);
      },
    };
  }

  #addFeedback(t: Target, f: SendFeedback): void {
    const fb = t.feedback;
    if (f.result === 'ok') fb.ok++;
    else if (f.result === 'overload') fb.overload++;
    else if (f.result === 'timeout') fb.timeouts++;
    else fb.transportErrors++;
    fb.retransmissions += Math.max(0, f.retransmissions);
    const latencyMs = Math.max(0, f.latencyMs);
    fb.latencySumMs += latencyMs;
    fb.latencyCount++;
    fb.latencyMaxMs = Math.max(fb.latencyMaxMs, latencyMs);
  }

  #scheduleReport(): void {
    if (this.#closed || this.#reportTimer !== undefined) return;
    this.#reportTimer = this.#clock.setTimeout(() => {
      this.#reportTimer = undefined;
      this.#flushing ??= this.#flush(false).finally(() => {
        this.#flushing = undefined;
        if ([...this.#targets.values()].some((t) => t.dirty || t.inFlight > 0)) this.#scheduleReport();
      });
    }, this.#reportIntervalMs);
    this.#reportTimer.unref?.();
  }

  /** Reports every target with news (or a heartbeat due); `all` also reports the unchanged ones (close). */
  async #flush(all: boolean): Promise<void> {
    const nowMs = this.#clock.now();
    const due = [...this.#targets.values()].filter((t) => t.dirty || (t.inFlight > 0 && nowMs - t.lastReportMs >= this.#heartbeatMs) || (all && t.lastReportMs > 0));
    await Promise.all(due.map((t) => this.#report(t, nowMs)));
  }

  async #report(t: Target, nowMs: number): Promise<void> {
    // A count sent now could land after a concurrent acquire's grant and erase it: send none then.
    const report: WorkerReport = { ...t.feedback, inFlight: t.acquiring > 0 ? -1 : t.inFlight };
    t.feedback = emptyFeedback();
    t.dirty = t.acquiring > 0;
    t.lastReportMs = nowMs;
    try {
      const state = await this.#store.report(t.id, this.#worker, report, nowMs);
      if (state !== undefined) this.#noteState(t, state);
      if (nowMs - t.lastSnapshotMs >= SNAPSHOT_REFRESH_MS) {
        t.lastSnapshotMs = nowMs;
        const stored = await this.#store.snapshot(t.id);
        if (stored !== undefined) {
          this.#noteState(t, stored.state);
          t.view = { ...t.view, allowedPerSec: stored.ratePerSec, actualPerSec: stored.actualPerSec, latencyMs: stored.latencyMs, inFlight: stored.fleetInFlight, holdUntil: stored.holdUntil, ...(stored.holdReason === undefined ? {} : { holdReason: stored.holdReason }) };
        }
      }
    } catch (err) {
      // The feedback of this report is lost: the controller sees a quieter interval, which never raises the rate by itself.
      this.#warn({ err, target: t.id }, 'rate report failed');
    }
  }

  #noteState(t: Target, state: RateState): void {
    t.view = { ...t.view, phase: state.phase, allowedPerSec: Math.min(state.ratePerSec, capPerSec(this.#settings)), latencyMs: state.lastLatencyMs };
  }

  #warn(data: Record<string, unknown>, message: string): void {
    const nowMs = this.#clock.now();
    if (nowMs - this.#lastLogMs < LOG_EVERY_MS) return;
    this.#lastLogMs = nowMs;
    this.#log?.warn(data, message);
  }
}
