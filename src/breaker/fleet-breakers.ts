/**
 * FleetBreakers over Redis (redis-breaker-store.ts). Each process keeps a Map of the breakers it
 * uses, so state() is a lookup and record() a few counter updates:
 * - evidence is summed in memory and reported every flushIntervalMs (one script call per id);
 * - this process's own evidence is also judged at once (evidence-window.ts): a local trip stops
 *   its traffic before Redis answers; the fleet's verdict then replaces it;
 * - every syncMs (and at once when the channel announces a transition) the states are re-read;
 * - open breakers are probed by one worker of the fleet at a time (the probe lease);
 * - while Redis is unreachable the process goes on alone (local trips, local probes), and
 *   re-reads everything once Redis answers again: the fleet's state wins then.
 */
import type { Clock, TimerHandle } from '../clock.ts';
import { quitOrDisconnect } from '../store/reconnect.ts';
import { duplicateConnection, type RedisClient } from '../store/redis-connection.ts';
import { SerialLoop } from '../serial-loop.ts';
import { ErrorCodes, isMwiError } from '../errors.ts';
import type { StoreKeys } from '../store/keys.ts';
import { CLOSED, probeDelayMs, runTrips, shouldTrip } from './breaker-state.ts';
import { EvidenceWindow } from './evidence-window.ts';
import { probeWithTimeout } from './probe-timeout.ts';
import { RedisBreakerStore, type BreakerSettings, type StoredBreaker } from './redis-breaker-store.ts';
import type { BreakerInfo, BreakerState, BreakerTransition, Evidence, FleetBreakers, ProbeResult } from './types.ts';

export interface BreakerLog {
  debug(obj: object, msg: string): void;
  info(obj: object, msg: string): void;
  warn(obj: object, msg: string): void;
}

export interface FleetBreakersOptions {
  /** The store client (createStoreClient): fails fast while Redis is away. */
  redis: RedisClient;
  /** A dedicated connection for the channel; by default a duplicate of `redis`. */
  createSubscriber?: () => RedisClient;
  keys: StoreKeys;
  clock: Clock;
  settings: BreakerSettings;
  /** host:pid, named in the transitions this process causes. */
  worker: string;
  log: BreakerLog;
  random?: () => number;
  /** A probe still running after this long counts as failed. Default 5000 (SIP OPTIONS gives up after sip.transactionTimeoutMs, 4 s by default). */
  probeTimeoutMs?: number;
  /** Evidence is reported at most this long after it was recorded. Default 100. */
  flushIntervalMs?: number;
  /** At most one "Redis unreachable" warning per this interval. Default 30000. */
  outageLogIntervalMs?: number;
}

/** This process's own view of a breaker while the fleet has not confirmed it, or cannot be asked. */
interface LocalOverride {
  state: BreakerState;
  /** A local trip whose evidence Redis has not seen yet. */
  awaitingFlush: boolean;
}

interface Entry {
  readonly id: string;
  shared: BreakerState;
  seq: number;
  local: LocalOverride | undefined;
  /** What state() returns: isolated wins, then the local override, then the fleet's state. */
  effective: BreakerState;
  readonly window: EvidenceWindow;
  pendingOk: number;
  pendingFailures: number;
  /** Failures recorded after the last pending success (all pending failures when none). */
  pendingTail: number;
  pendingReason: string;
  /** This process's own failures in a row (reset by any success). */
  localRun: number;
  /** The fleet's run of failures in a row, from the latest report. */
  fleetRun: number;
  /** Fleet window counts from the latest report, to tell when a failure would trip the fleet. */
  fleetOk: number;
  fleetFailures: number;
  fleetAt: number;
  probe: (() => Promise<ProbeResult>) | undefined;
  probing: boolean;
}

interface Cause {
  at: number;
  reason: string;
  worker: string;
  actor?: string;
  local: boolean;
}

const DEFAULT_PROBE_TIMEOUT_MS = 5_000;
const DEFAULT_FLUSH_INTERVAL_MS = 100;
const DEFAULT_OUTAGE_LOG_INTERVAL_MS = 30_000;
/** The lease outlives the probe's timeout by this much, so a slow report still finds it held. */
const PROBE_LEASE_MARGIN_MS = 2_000;

function transitionMessage(t: BreakerTransition): string {
  if (t.to === 'closed') return t.actor === undefined ? 'breaker closed' : 'breaker reset';
  return t.to === 'open' ? 'breaker opened' : 'breaker isolated';
}

export class RedisFleetBreakers implements FleetBreakers {
  readonly #store: RedisBreakerStore;
  readonly #subscriber: RedisClient;
  readonly #channel: string;
  readonly #clock: Clock;
  readonly #settings: BreakerSettings;
  readonly #worker: string;
  readonly #log: BreakerLog;
  readonly #random: () => number;
  readonly #probeTimeoutMs: number;
  readonly #flushIntervalMs: number;
  readonly #outageLogIntervalMs: number;

  readonly #entries = new Map<string, Entry>();
  readonly #unannounced = new Set<string>();
  readonly #listeners = new Set<(t: BreakerTransition) => void>();

  #closed = false;
  #redisDown = false;
  #resyncNeeded = true;
  #lastOutageLogAt = -Infinity;
  #lastErrorLogAt = -Infinity;

  readonly #loop: SerialLoop;
  #flushTimer: TimerHandle | undefined;
  #flushDueAt = Infinity;
  #flushRunning: Promise<void> | undefined;
  #flushAgain = false;

  constructor(opts: FleetBreakersOptions) {
    this.#clock = opts.clock;
    this.#settings = opts.settings;
    this.#loop = new SerialLoop(opts.clock, opts.settings.syncMs, () => this.#tick());
    this.#worker = opts.worker;
    this.#log = opts.log;
    this.#random = opts.random ?? Math.random;
    this.#probeTimeoutMs = opts.probeTimeoutMs ?? DEFAULT_PROBE_TIMEOUT_MS;
    this.#flushIntervalMs = opts.flushIntervalMs ?? DEFAULT_FLUSH_INTERVAL_MS;
    this.#outageLogIntervalMs = opts.outageLogIntervalMs ?? DEFAULT_OUTAGE_LOG_INTERVAL_MS;
    this.#store = new RedisBreakerStore({ redis: opts.redis, keys: opts.keys, settings: opts.settings, clock: opts.clock, random: this.#random, worker: opts.worker });
    this.#channel = opts.keys.breakerChannel();
    this.#subscriber = opts.createSubscriber?.() ?? this.#duplicateForChannel(opts.redis);
    this.#subscriber.on('error', (err: Error) => this.#log.debug({ err }, 'breaker channel connection error'));
    this.#subscriber.on('message', (channel: string) => {
      if (channel === this.#channel) this.#loop.soon();
    });
    // Subscribed again on every (re)connect, then everything is re-read as the truth:
    // announcements made meanwhile are lost, and a restarted Redis restarts every seq.
    this.#subscriber.on('ready', () => {
      this.#resyncNeeded = true;
      void this.#subscribe();
    });
    if (this.#subscriber.status === 'ready') void this.#subscribe();
    this.#loop.soon();
  }

  #duplicateForChannel(redis: RedisClient): RedisClient {
    return duplicateConnection(redis, { lazyConnect: false, autoResubscribe: false, enableOfflineQueue: false, maxRetriesPerRequest: null, enableAutoPipelining: false });
  }

  async #subscribe(): Promise<void> {
    if (this.#closed) return;
    try {
      await this.#subscriber.subscribe(this.#channel);
      this.#loop.soon();
    } catch (err) {
      this.#log.debug({ err }, 'breaker channel subscribe failed; retried on reconnect');
    }
  }

  state(id: string): BreakerState {
    return this.#entries.get(id)?.effective ?? CLOSED;
  }

  register(id: string, probe: () => Promise<ProbeResult>): void {
    const e = this.#entry(id);
    e.probe = probe;
  }

  record(id: string, evidence: Evidence): void {
    if (this.#closed) return;
    const e = this.#entry(id);
    const now = this.#clock.now();
    if (evidence.ok) {
      e.window.add(now, 1, 0);
      e.pendingOk++;
      e.pendingTail = 0;
      e.localRun = 0;
      e.fleetRun = 0;
      this.#scheduleFlush(this.#flushIntervalMs);
      return;
    }
    e.window.add(now, 0, 1);
    e.pendingFailures++;
    e.pendingTail++;
    e.localRun++;
    e.pendingReason = evidence.reason;
    if (e.effective.kind === 'closed') {
      if (shouldTrip(e.window.ok, e.window.failures, this.#settings) || runTrips(e.localRun, this.#settings)) {
        this.#tripLocally(e, now, evidence.reason);
        this.#scheduleFlush(0);
        return;
      }
      const fleetKnown = now - e.fleetAt < this.#settings.windowMs;
      const fleetRun = e.pendingOk > 0 ? e.pendingTail : e.fleetRun + e.pendingTail;
      if (fleetKnown && (shouldTrip(e.fleetOk + e.pendingOk, e.fleetFailures + e.pendingFailures, this.#settings) || runTrips(fleetRun, this.#settings))) {
        this.#scheduleFlush(0);
        return;
      }
    }
    this.#scheduleFlush(this.#flushIntervalMs);
  }

  async isolate(id: string, actor: string, reason: string): Promise<void> {
    const reply = await this.#store.isolate(id, actor, reason);
    const e = this.#entries.get(id);
    if (e === undefined) return;
    e.local = undefined;
    this.#applyStored(e, reply, { own: reply.transition });
  }

  async reset(id: string, actor: string, reason: string): Promise<void> {
    const reply = await this.#store.reset(id, actor, reason);
    const e = this.#entries.get(id);
    if (e === undefined) return;
    e.local = undefined;
    this.#clearEvidence(e);
    this.#applyStored(e, reply, { own: reply.transition });
  }

  list(): Promise<BreakerInfo[]> {
    return this.#store.list();
  }

  onTransition(listener: (t: BreakerTransition) => void): () => void {
    this.#listeners.add(listener);
    return () => {
      this.#listeners.delete(listener);
    };
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    if (this.#flushTimer !== undefined) this.#clock.clearTimeout(this.#flushTimer);
    await this.#loop.stop();
    while (this.#flushRunning !== undefined) await this.#flushRunning;
    if (!this.#redisDown) await this.#flush();
    await quitOrDisconnect(this.#subscriber);
  }

  #entry(id: string): Entry {
    let e = this.#entries.get(id);
    if (e === undefined) {
      e = {
        id,
        shared: CLOSED,
        seq: 0,
        local: undefined,
        effective: CLOSED,
        window: new EvidenceWindow(this.#settings.windowMs),
        pendingOk: 0,
        pendingFailures: 0,
        pendingTail: 0,
        localRun: 0,
        fleetRun: 0,
        pendingReason: '',
        fleetOk: 0,
        fleetFailures: 0,
        fleetAt: -Infinity,
        probe: undefined,
        probing: false,
      };
      this.#entries.set(id, e);
      this.#unannounced.add(id);
      this.#loop.soon();
    }
    return e;
  }

  #tripLocally(e: Entry, now: number, reason: string): void {
    const state: BreakerState = { kind: 'open', since: now, reason, nextProbeAt: now + probeDelayMs(0, this.#settings, this.#random), failedProbes: 0 };
    e.local = { state, awaitingFlush: true };
    this.#refresh(e, { at: now, reason, worker: this.#worker, local: true });
  }

  #clearEvidence(e: Entry): void {
    e.window.clear();
    e.pendingOk = 0;
    e.pendingFailures = 0;
    e.pendingTail = 0;
    e.localRun = 0;
    e.fleetRun = 0;
    e.fleetOk = 0;
    e.fleetFailures = 0;
  }

  /**
   * Takes a state read from Redis unless an equal or newer one was already seen (`force`: after
   * an outage, Redis is the truth and local overrides go, except a trip Redis has not heard of).
   */
  #applyStored(e: Entry, stored: StoredBreaker, opts: { own?: BreakerTransition; force?: boolean; note?: string } = {}): void {
    if (!opts.force && stored.seq < e.seq) return;
    const newer = stored.seq > e.seq;
    e.shared = stored.state;
    e.seq = stored.seq;
    if (opts.force && e.local !== undefined && !e.local.awaitingFlush) e.local = undefined;
    let cause: Cause;
    if (opts.own !== undefined) cause = { ...opts.own, local: true };
    else if (newer && stored.last !== undefined && stored.last.to === stored.state.kind) cause = { ...stored.last, local: false };
    else cause = { at: this.#clock.now(), reason: opts.note ?? 'fleet state', worker: this.#worker, local: true };
    this.#refresh(e, cause);
  }

  /** Recomputes what state() returns; a change of kind is a transition: logged once, then delivered. */
  #refresh(e: Entry, cause: Cause): void {
    const next = e.shared.kind === 'isolated' ? e.shared : (e.local?.state ?? e.shared);
    const prev = e.effective;
    e.effective = next;
    if (prev.kind === next.kind || this.#closed) return;
    // The fleet cleared its window on close; old local failures must not trip this process again.
    if (next.kind === 'closed') this.#clearEvidence(e);
    const t: BreakerTransition = {
      id: e.id,
      from: prev.kind,
      to: next.kind,
      at: cause.at,
      reason: cause.reason,
      ...(cause.actor !== undefined ? { actor: cause.actor } : {}),
      worker: cause.worker,
      local: cause.local,
    };
    this.#log.info({ breaker: t.id, from: t.from, to: t.to, reason: t.reason, actor: t.actor, worker: t.worker, local: t.local }, transitionMessage(t));
    for (const listener of this.#listeners) {
      try {
        listener(t);
      } catch (err) {
        this.#log.warn({ err, breaker: t.id }, 'breaker transition listener threw');
      }
    }
  }

  // --- Redis reachability -------------------------------------------------------------------

  #redisFailed(err: unknown, operation: string): void {
    const now = this.#clock.now();
    if (!isMwiError(err, ErrorCodes.REDIS_UNAVAILABLE)) {
      if (now - this.#lastErrorLogAt >= this.#outageLogIntervalMs) {
        this.#lastErrorLogAt = now;
        this.#log.warn({ err, operation }, 'breaker store call failed');
      }
      return;
    }
    if (this.#redisDown) return;
    this.#redisDown = true;
    this.#resyncNeeded = true;
    if (now - this.#lastOutageLogAt >= this.#outageLogIntervalMs) {
      this.#lastOutageLogAt = now;
      this.#log.warn({ err, operation }, 'Redis unreachable: breakers run on this process\'s evidence alone until it answers');
    }
  }

  #redisAnswered(): void {
    if (!this.#redisDown) return;
    this.#redisDown = false;
    this.#log.info({}, 'Redis reachable again: breakers resync with the fleet');
    this.#scheduleFlush(0);
    if (this.#resyncNeeded) this.#loop.soon();
  }

  // --- sync and probe loop -------------------------------------------------------------------

  async #tick(): Promise<void> {
    await this.#sync();
    if (!this.#closed) this.#startDueProbes();
  }

  async #sync(): Promise<void> {
    const ids = [...this.#entries.keys()];
    const force = this.#resyncNeeded;
    this.#resyncNeeded = false;
    try {
      if (this.#unannounced.size > 0) {
        const fresh = [...this.#unannounced];
        await this.#store.register(fresh);
        for (const id of fresh) this.#unannounced.delete(id);
      }
      const stored = await this.#store.read(ids);
      if (this.#closed) return;
      stored.forEach((s) => {
        const e = this.#entries.get(s.id);
        if (e !== undefined) this.#applyStored(e, s, { force, note: 'resynced with the fleet' });
      });
      this.#redisAnswered();
    } catch (err) {
      if (force) this.#resyncNeeded = true;
      this.#redisFailed(err, 'sync');
    }
  }

  #startDueProbes(): void {
    const now = this.#clock.now();
    for (const e of this.#entries.values()) {
      if (e.probe === undefined || e.probing || e.effective.kind !== 'open') continue;
      if (this.#redisDown) {
        if (now >= e.effective.nextProbeAt) void this.#probeLocally(e);
      } else if (e.local === undefined && e.shared.kind === 'open' && now >= e.shared.nextProbeAt) {
        void this.#probeFleet(e);
      }
    }
  }

  /** The half-open probe under the fleet's lease: only the lease holder probes, and reports. */
  async #probeFleet(e: Entry): Promise<void> {
    e.probing = true;
    try {
      const lease = await this.#store.tryProbe(e.id, this.#worker, this.#clock.now(), this.#probeTimeoutMs + PROBE_LEASE_MARGIN_MS);
      this.#applyStored(e, lease);
      if (lease.lease !== 'acquired' || this.#closed) return;
      const result = await this.#runProbe(e);
      // Not reported after close(): the lease runs out by itself and another worker probes.
      if (this.#closed) return;
      const failedProbes = lease.state.kind === 'open' ? lease.state.failedProbes : 0;
      const nextDelayMs = probeDelayMs(failedProbes + 1, this.#settings, this.#random);
      this.#log.debug({ breaker: e.id, up: result.up, reason: result.reason, failedProbes }, 'breaker probe done');
      const reply = await this.#store.probeResult(e.id, this.#worker, result.up, result.reason, this.#clock.now(), nextDelayMs);
      this.#applyStored(e, reply, reply.transition ? { own: reply.transition } : {});
    } catch (err) {
      this.#redisFailed(err, 'probe');
    } finally {
      e.probing = false;
    }
  }

  /** While Redis is unreachable: probe on this process's own schedule, decide for this process only. */
  async #probeLocally(e: Entry): Promise<void> {
    e.probing = true;
    try {
      const result = await this.#runProbe(e);
      // Redis came back meanwhile and its state replaced the local view: the fleet's probe decides.
      if (this.#closed || (!this.#redisDown && e.local === undefined) || e.effective.kind !== 'open') return;
      const now = this.#clock.now();
      this.#log.debug({ breaker: e.id, up: result.up, reason: result.reason, failedProbes: e.effective.failedProbes }, 'breaker probe done (Redis unreachable)');
      if (result.up) {
        e.local = { state: CLOSED, awaitingFlush: false };
      } else {
        const failedProbes = e.effective.failedProbes + 1;
        const state: BreakerState = { ...e.effective, failedProbes, nextProbeAt: now + probeDelayMs(failedProbes, this.#settings, this.#random) };
        e.local = { state, awaitingFlush: e.local?.awaitingFlush ?? false };
      }
      this.#refresh(e, { at: now, reason: result.reason, worker: this.#worker, local: true });
    } finally {
      e.probing = false;
    }
  }

  #runProbe(e: Entry): Promise<ProbeResult> {
    if (e.probe === undefined) return Promise.resolve({ up: false, reason: 'no probe registered' });
    return probeWithTimeout(e.probe, this.#clock, this.#probeTimeoutMs);
  }

  // --- evidence flush -------------------------------------------------------------------------

  #scheduleFlush(delayMs: number): void {
    // While Redis is away evidence accumulates; the first successful sync flushes it.
    if (this.#closed || this.#redisDown) return;
    const dueAt = this.#clock.now() + delayMs;
    if (this.#flushTimer !== undefined) {
      if (this.#flushDueAt <= dueAt) return;
      this.#clock.clearTimeout(this.#flushTimer);
    }
    this.#flushDueAt = dueAt;
    this.#flushTimer = this.#clock.setTimeout(() => {
      this.#flushTimer = undefined;
      this.#flushDueAt = Infinity;
      if (this.#flushRunning !== undefined) {
        this.#flushAgain = true;
        return;
      }
      this.#flushRunning = this.#flush().finally(() => {
        this.#flushRunning = undefined;
        if (this.#flushAgain) {
          this.#flushAgain = false;
          this.#scheduleFlush(0);
        }
      });
    }, delayMs);
    this.#flushTimer.unref?.();
  }

  /** One report per id with pending evidence; all in one event-loop turn, so they share a pipeline. */
  async #flush(): Promise<void> {
    const reports: Array<Promise<void>> = [];
    for (const e of this.#entries.values()) {
      if (e.pendingOk === 0 && e.pendingFailures === 0) continue;
      reports.push(this.#report(e));
    }
    await Promise.all(reports);
  }

  async #report(e: Entry): Promise<void> {
    const ok = e.pendingOk;
    const failures = e.pendingFailures;
    const run = { sawOk: ok > 0, tailFailures: e.pendingTail };
    const carriesTrip = e.local?.awaitingFlush === true;
    e.pendingOk = 0;
    e.pendingFailures = 0;
    e.pendingTail = 0;
    if (carriesTrip && e.local !== undefined) e.local.awaitingFlush = false;
    try {
      const reply = await this.#store.report(e.id, this.#clock.now(), ok, failures, e.pendingReason || 'failure', this.#worker, run);
      e.fleetOk = reply.okInWindow;
      e.fleetFailures = reply.failuresInWindow;
      e.fleetRun = reply.failuresInARow;
      e.fleetAt = this.#clock.now();
      // The fleet has judged the evidence of the local trip: its verdict replaces the local view.
      if (carriesTrip && e.local !== undefined && !e.local.awaitingFlush) e.local = undefined;
      this.#applyStored(e, reply, reply.transition ? { own: reply.transition } : { note: 'the fleet\'s evidence does not confirm the local trip' });
      this.#redisAnswered();
    } catch (err) {
      e.pendingOk += ok;
      e.pendingFailures += failures;
      if (carriesTrip && e.local !== undefined) e.local.awaitingFlush = true;
      this.#redisFailed(err, 'report');
    }
  }
}
