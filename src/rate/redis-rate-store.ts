/**
 * Fleet-wide pacing state of each target in Redis: a token bucket at the controller's rate, the
 * in-flight count of every live worker, the current control interval's outcomes and the
 * controller state. Each operation is one Lua script call (lua/*.ts); the rule that sets the
 * rate stays in aimd.ts: the caller whose report closes an interval runs nextRate() and writes
 * the result with a compare-and-set, so a concurrent hold or slow start wins over it.
 *
 * Keys (keys.ts, all under the {hash tag}): rate(id) hash, inFlight(id) hash, rateTargets() set.
 */
import type { RedisClient } from '../store/redis-connection.ts';

import { systemClock, type Clock } from '../clock.ts';
import { assertNoKeyPrefix, storeKeys, type StoreKeys } from '../store/keys.ts';
import { withRedis } from '../store/redis-unavailable.ts';
import { applyOverloadControl, capPerSec, initialRateState, nextRate, restartState, type RateSettings, type RateState, type WindowStats } from './aimd.ts';
import { ACQUIRE_LUA } from './lua/acquire.ts';
import { HOLD_LUA } from './lua/hold.ts';
import { READ_RATE_LUA } from './lua/read-rate.ts';
import { REPORT_LUA } from './lua/report.ts';
import { SET_STATE_LUA } from './lua/set-state.ts';
import type { AcquireResult, LimitedBy, RateStore, StoredRate, WorkerReport } from './rate-store.ts';

export interface RedisRateStoreOptions {
  /** Shared, caller-owned client; must not have a keyPrefix. */
  redis: RedisClient;
  settings: RateSettings;
  keys?: StoreKeys;
  clock?: Clock;
  /** An in-flight count not refreshed for this long is a crashed worker's and stops counting. Default 5000. */
  inFlightLiveMs?: number;
  /** Token bucket size in seconds of the rate (at least one token). Default 0.02: any 1 s window sees at most 2% over the rate. */
  burstSec?: number;
}

export const DEFAULT_IN_FLIGHT_LIVE_MS = 5_000;
export const DEFAULT_BURST_SEC = 0.02;
/** Compare-and-set attempts of slowStart/overloadControl before giving up (only concurrent writers make one fail). */
const MAX_CAS_ATTEMPTS = 5;

const SCRIPTS = {
  acquire: { name: 'mwiRateAcquire', lua: ACQUIRE_LUA, numberOfKeys: 3 },
  report: { name: 'mwiRateReport', lua: REPORT_LUA, numberOfKeys: 2 },
  setState: { name: 'mwiRateSetState', lua: SET_STATE_LUA, numberOfKeys: 2 },
  hold: { name: 'mwiRateHold', lua: HOLD_LUA, numberOfKeys: 2 },
  read: { name: 'mwiRateRead', lua: READ_RATE_LUA, numberOfKeys: 2 },
} as const;

type ScriptCall = (...args: string[]) => Promise<unknown>;

const LIMITED_BY: readonly LimitedBy[] = ['none', 'rate', 'in-flight', 'hold'];

function str(v: unknown): string {
  return typeof v === 'string' ? v : '';
}

function num(v: unknown, fallback = 0): number {
  const n = Number(v);
  return v === null || v === undefined || v === '' || !Number.isFinite(n) ? fallback : n;
}

function isRateState(v: unknown): v is RateState {
  if (typeof v !== 'object' || v === null) return false;
  const o = v as Record<string, unknown>;
  return (
    (o.phase === 'slow-start' || o.phase === 'avoidance' || o.phase === 'fixed') &&
    ['ratePerSec', 'ssthreshPerSec', 'baselineLatencyMs', 'lastLatencyMs', 'recoverUntilMs', 'capacityPerSec', 'restartedAtMs'].every((k) => typeof o[k] === 'number' && Number.isFinite(o[k]))
  );
}

export class RedisRateStore implements RateStore {
  readonly #redis: RedisClient;
  readonly #settings: RateSettings;
  readonly #keys: StoreKeys;
  readonly #clock: Clock;
  readonly #liveMs: number;
  readonly #burstSec: number;

  constructor(opts: RedisRateStoreOptions) {
    assertNoKeyPrefix(opts.redis);
    this.#redis = opts.redis;
    this.#settings = opts.settings;
    this.#keys = opts.keys ?? storeKeys();
    this.#clock = opts.clock ?? systemClock;
    this.#liveMs = opts.inFlightLiveMs ?? DEFAULT_IN_FLIGHT_LIVE_MS;
    this.#burstSec = opts.burstSec ?? DEFAULT_BURST_SEC;
    if (!(this.#liveMs > 0)) throw new RangeError(`inFlightLiveMs must be positive, got ${this.#liveMs}`);
    if (!(this.#burstSec > 0)) throw new RangeError(`burstSec must be positive, got ${this.#burstSec}`);
    for (const script of Object.values(SCRIPTS)) this.#redis.defineCommand(script.name, { lua: script.lua, numberOfKeys: script.numberOfKeys });
  }

  #run(script: keyof typeof SCRIPTS, args: string[]): Promise<unknown> {
    const call = (this.#redis as unknown as Record<string, ScriptCall>)[SCRIPTS[script].name];
    if (call === undefined) throw new Error(`script ${script} is not defined on the Redis client`);
    return withRedis(`rate ${script}`, () => call.apply(this.#redis, args));
  }

  async acquire(id: string, want: number, nowMs: number, worker: string, workerInFlight: number): Promise<AcquireResult> {
    const s = this.#settings;
    const initialPerSec = initialRateState(s).ratePerSec;
    const reply = (await this.#run('acquire', [
      this.#keys.rate(id), this.#keys.inFlight(id), this.#keys.rateTargets(),
      id, String(nowMs), String(Math.max(0, Math.floor(want))), worker, String(Math.max(0, workerInFlight)),
      String(s.maxInFlight), String(capPerSec(s)), String(initialPerSec), String(this.#burstSec), String(this.#liveMs),
    ])) as unknown[];
    const holdReason = str(reply[7]);
    return {
      granted: num(reply[0]),
      waitMs: num(reply[1]),
      holdUntil: num(reply[2]),
      ...(holdReason === '' ? {} : { holdReason }),
      limitedBy: LIMITED_BY[num(reply[3])] ?? 'none',
      ratePerSec: num(reply[4]),
      fleetInFlight: num(reply[5]),
      liveWorkers: num(reply[6]),
    };
  }

  async report(id: string, worker: string, r: WorkerReport, nowMs: number): Promise<RateState | undefined> {
    const reply = (await this.#run('report', [
      this.#keys.rate(id), this.#keys.inFlight(id),
      String(nowMs), worker, String(r.inFlight < 0 ? -1 : r.inFlight), String(this.#liveMs), String(this.#settings.controlIntervalMs),
      String(r.ok), String(r.overload), String(r.timeouts), String(r.transportErrors), String(r.retransmissions),
      String(r.latencySumMs), String(r.latencyCount), String(r.latencyMaxMs),
    ])) as unknown[];
    if (reply.length === 0) return undefined;
    const window: WindowStats = {
      startedAt: num(reply[0]),
      endedAt: num(reply[1]),
      admitted: num(reply[2]),
      ok: num(reply[3]),
      overload: num(reply[4]),
      timeouts: num(reply[5]),
      transportErrors: num(reply[6]),
      retransmissions: num(reply[7]),
      latencySumMs: num(reply[8]),
      latencyCount: num(reply[9]),
      latencyMaxMs: num(reply[10]),
    };
    const next = nextRate(this.#parseState(reply[12]), window, this.#settings);
    return (await this.setState(id, num(reply[11]), next)) ? next : undefined;
  }

  /** Compare-and-set: writes `state` if the stored version is still `version`. */
  async setState(id: string, version: number, state: RateState): Promise<boolean> {
    const reply = await this.#run('setState', [this.#keys.rate(id), this.#keys.rateTargets(), String(version), JSON.stringify(state), String(state.ratePerSec), id]);
    return reply === 1;
  }

  /** Holds the target, then restarts it in slow start (the hold's end is a restart). Returns the hold in force. */
  async hold(id: string, untilMs: number, reason: string): Promise<number> {
    const holdUntil = num(await this.#run('hold', [this.#keys.rate(id), this.#keys.rateTargets(), id, String(Math.floor(untilMs)), reason]));
    await this.slowStart(id);
    return holdUntil;
  }

  slowStart(id: string): Promise<void> {
    return this.#update(id, (state) => restartState(state, this.#clock.now(), this.#settings));
  }

  overloadControl(id: string, percent: number, validityMs: number): Promise<void> {
    return this.#update(id, (state) => applyOverloadControl(state, percent, validityMs, this.#clock.now(), this.#settings));
  }

  async snapshot(id: string): Promise<StoredRate | undefined> {
    const reply = (await this.#run('read', [this.#keys.rate(id), this.#keys.inFlight(id), String(this.#clock.now()), String(this.#liveMs)])) as unknown[];
    if (reply.length === 0) return undefined;
    const holdReason = str(reply[4]);
    return {
      version: num(reply[1]),
      state: this.#parseState(reply[2]),
      ratePerSec: Math.min(num(reply[0]), capPerSec(this.#settings)),
      holdUntil: num(reply[3]),
      ...(holdReason === '' ? {} : { holdReason }),
      actualPerSec: num(reply[5]),
      latencyMs: num(reply[6]),
      fleetInFlight: num(reply[7]),
    };
  }

  async #update(id: string, change: (state: RateState) => RateState): Promise<void> {
    for (let attempt = 0; attempt < MAX_CAS_ATTEMPTS; attempt++) {
      const current = await this.snapshot(id);
      const next = change(current?.state ?? initialRateState(this.#settings));
      if (await this.setState(id, current?.version ?? 0, next)) return;
    }
    throw new Error(`rate state of ${id} kept changing during ${MAX_CAS_ATTEMPTS} compare-and-set attempts`);
  }

  /** A target without a stored state (new, or written by an incompatible version) starts fresh. */
  #parseState(json: unknown): RateState {
    if (typeof json === 'string' && json !== '') {
      try {
        const parsed: unknown = JSON.parse(json);
        if (isRateState(parsed)) return parsed;
      } catch {
        // fall through to a fresh state
      }
    }
    return initialRateState(this.#settings);
  }
}
