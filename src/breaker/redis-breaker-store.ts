/**
 * The fleet's breakers in Redis. Every operation is one Lua script (lua/*.ts), so each is
 * atomic across workers; every transition bumps the hash's `seq`, is pushed onto the capped
 * fleet log and announced (the id) on the breaker channel. Keys: src/store/keys.ts.
 */
import { hostname } from 'node:os';

import type { RedisClient } from '../store/redis-connection.ts';

import type { Config } from '../../config/schema.ts';
import { systemClock, type Clock } from '../clock.ts';
import { ErrorCodes, MwiError } from '../errors.ts';
import { assertNoKeyPrefix, type StoreKeys } from '../store/keys.ts';
import { withRedis } from '../store/redis-unavailable.ts';
import { parseBreakerHash, parseSeq, parseTransition, probeDelayMs } from './breaker-state.ts';
import { LIST_LUA } from './lua/list.ts';
import { ISOLATE_LUA, RESET_LUA } from './lua/operator.ts';
import { PROBE_RESULT_LUA, TRY_PROBE_LUA } from './lua/probe.ts';
import { READ_LUA } from './lua/read.ts';
import { REPORT_LUA } from './lua/report.ts';
import type { BreakerInfo, BreakerState, BreakerTransition } from './types.ts';

export type BreakerSettings = Config['breaker'];

/** A breaker as stored: its state, its transition counter and its latest transition. */
export interface StoredBreaker {
  id: string;
  state: BreakerState;
  /** Bumped on every transition: a reply with a lower seq than one already seen is older. */
  seq: number;
  last?: BreakerTransition;
}

export interface ReportReply extends StoredBreaker {
  okInWindow: number;
  failuresInWindow: number;
  /** Failures in a row, fleet-wide, after this report (0 once it tripped or while open). */
  failuresInARow: number;
  /** Set when this report tripped the breaker. */
  transition?: BreakerTransition;
}

export type ProbeLease = 'acquired' | 'busy' | 'not-due' | 'not-open';

export interface ProbeResultReply extends StoredBreaker {
  outcome: 'closed' | 'still-open' | 'not-open';
  transition?: BreakerTransition;
}

export interface OperatorReply extends StoredBreaker {
  transition: BreakerTransition;
}

export interface RedisBreakerStoreOptions {
  /** Shared, caller-owned client (createStoreClient); must not have a keyPrefix. */
  redis: RedisClient;
  keys: StoreKeys;
  settings: BreakerSettings;
  clock?: Clock;
  /** Jitter of the first probe wait; Math.random when unset. */
  random?: () => number;
  /** Named in isolate/reset transitions; host:pid when unset. */
  worker?: string;
  /** Transitions kept in the fleet log. Default 1000. */
  logCap?: number;
}

const SCRIPTS = {
  report: { name: 'mwiBreakerReport', lua: REPORT_LUA, numberOfKeys: 4 },
  read: { name: 'mwiBreakerRead', lua: READ_LUA },
  tryProbe: { name: 'mwiBreakerTryProbe', lua: TRY_PROBE_LUA, numberOfKeys: 2 },
  probeResult: { name: 'mwiBreakerProbeResult', lua: PROBE_RESULT_LUA, numberOfKeys: 4 },
  isolate: { name: 'mwiBreakerIsolate', lua: ISOLATE_LUA, numberOfKeys: 4 },
  reset: { name: 'mwiBreakerReset', lua: RESET_LUA, numberOfKeys: 5 },
  list: { name: 'mwiBreakerList', lua: LIST_LUA, numberOfKeys: 1 },
} as const;

type ScriptCall = (...args: string[]) => Promise<unknown>;

const DEFAULT_LOG_CAP = 1000;

/** HGETALL as a flat [field, value, ...] array (what scripts return) -> record. */
function hashOf(flat: unknown): Record<string, string> {
  const hash: Record<string, string> = {};
  if (!Array.isArray(flat)) return hash;
  for (let i = 0; i + 1 < flat.length; i += 2) hash[String(flat[i])] = String(flat[i + 1]);
  return hash;
}

function storedOf(id: string, flat: unknown): StoredBreaker {
  const hash = hashOf(flat);
  const last = parseTransition(hash.last);
  return { id, state: parseBreakerHash(hash), seq: parseSeq(hash), ...(last ? { last } : {}) };
}

function transitionOf(json: unknown): BreakerTransition | undefined {
  return typeof json === 'string' ? parseTransition(json) : undefined;
}

export class RedisBreakerStore {
  readonly #redis: RedisClient;
  readonly #keys: StoreKeys;
  readonly #settings: BreakerSettings;
  readonly #clock: Clock;
  readonly #random: () => number;
  readonly #worker: string;
  readonly #logCap: number;

  constructor(opts: RedisBreakerStoreOptions) {
    assertNoKeyPrefix(opts.redis);
    this.#redis = opts.redis;
    this.#keys = opts.keys;
    this.#settings = opts.settings;
    this.#clock = opts.clock ?? systemClock;
    this.#random = opts.random ?? Math.random;
    this.#worker = opts.worker ?? `${hostname()}:${process.pid}`;
    this.#logCap = opts.logCap ?? DEFAULT_LOG_CAP;
    for (const script of Object.values(SCRIPTS)) {
      this.#redis.defineCommand(script.name, { lua: script.lua, ...('numberOfKeys' in script ? { numberOfKeys: script.numberOfKeys } : {}) });
    }
  }

  #run(script: keyof typeof SCRIPTS, args: string[]): Promise<unknown> {
    const call = (this.#redis as unknown as Record<string, ScriptCall>)[SCRIPTS[script].name];
    if (call === undefined) throw new Error(`script ${script} is not defined on the Redis client`);
    return withRedis(`breaker ${script}`, () => call.apply(this.#redis, args));
  }

  /** Adds outcomes to the fleet window of `id`; trips a closed breaker when the rule says so. */
  /** `run`: whether this batch holds a success, and the failures after its last success. */
  async report(id: string, now: number, ok: number, failures: number, reason: string, worker: string, run: { sawOk: boolean; tailFailures: number } = { sawOk: ok > 0, tailFailures: ok > 0 ? 0 : failures }): Promise<ReportReply> {
    const k = this.#keys;
    const s = this.#settings;
    const reply = (await this.#run('report', [
      k.breaker(id), k.breakerEvidence(id), k.breakers(), k.breakerLog(),
      id, String(now), String(ok), String(failures), reason, worker,
      String(s.windowMs), String(s.minFailures), String(s.failureRatio),
      String(probeDelayMs(0, s, this.#random)), String(this.#logCap), k.breakerChannel(),
      run.sawOk ? '1' : '0', String(run.tailFailures), String(s.consecutiveFailures),
    ])) as [unknown, number, number, string, number];
    const transition = transitionOf(reply[3]);
    return { ...storedOf(id, reply[0]), okInWindow: Number(reply[1]), failuresInWindow: Number(reply[2]), failuresInARow: Number(reply[4] ?? 0), ...(transition ? { transition } : {}) };
  }

  /** The stored state of each id, in input order, read at one instant (one round trip). */
  async read(ids: readonly string[]): Promise<StoredBreaker[]> {
    if (ids.length === 0) return [];
    const keys = ids.map((id) => this.#keys.breaker(id));
    const reply = (await this.#run('read', [String(keys.length), ...keys])) as unknown[];
    return ids.map((id, i) => storedOf(id, reply[i]));
  }

  /** Makes ids known to the fleet's list (idempotent). */
  async register(ids: readonly string[]): Promise<void> {
    if (ids.length === 0) return;
    await withRedis('breaker register', () => this.#redis.sadd(this.#keys.breakers(), ...ids));
  }

  /** Takes the probe lease of an open breaker whose probe is due; one holder fleet-wide. */
  async tryProbe(id: string, worker: string, now: number, leaseMs: number): Promise<{ lease: ProbeLease } & StoredBreaker> {
    const reply = (await this.#run('tryProbe', [this.#keys.breaker(id), this.#keys.breakerProbe(id), String(now), worker, String(leaseMs)])) as [ProbeLease, unknown];
    return { lease: reply[0], ...storedOf(id, reply[1]) };
  }

  /** Up closes an open breaker; down counts the failed probe and waits nextDelayMs for the next. */
  async probeResult(id: string, worker: string, up: boolean, reason: string, now: number, nextDelayMs: number): Promise<ProbeResultReply> {
    const k = this.#keys;
    const reply = (await this.#run('probeResult', [
      k.breaker(id), k.breakerEvidence(id), k.breakerProbe(id), k.breakerLog(),
      id, worker, up ? '1' : '0', reason, String(now), String(Math.max(0, Math.round(nextDelayMs))), String(this.#logCap), k.breakerChannel(),
    ])) as [ProbeResultReply['outcome'], unknown, string];
    const transition = transitionOf(reply[2]);
    return { outcome: reply[0], ...storedOf(id, reply[1]), ...(transition ? { transition } : {}) };
  }

  /** Operator: hold open, no probes, until reset. */
  async isolate(id: string, actor: string, reason: string): Promise<OperatorReply> {
    const k = this.#keys;
    const reply = (await this.#run('isolate', [
      k.breaker(id), k.breakerProbe(id), k.breakers(), k.breakerLog(),
      id, actor, reason, String(this.#clock.now()), this.#worker, String(this.#logCap), k.breakerChannel(),
    ])) as [unknown, string];
    return this.#operatorReply(id, reply[0], reply[1]);
  }

  /** Operator: close now. An id the fleet never saw: MwiError BREAKER_NOT_FOUND. */
  async reset(id: string, actor: string, reason: string): Promise<OperatorReply> {
    const k = this.#keys;
    const reply = (await this.#run('reset', [
      k.breaker(id), k.breakerEvidence(id), k.breakerProbe(id), k.breakers(), k.breakerLog(),
      id, actor, reason, String(this.#clock.now()), this.#worker, String(this.#logCap), k.breakerChannel(),
    ])) as [string, unknown?, string?];
    if (reply[0] === 'not-found') throw new MwiError(ErrorCodes.BREAKER_NOT_FOUND, `no breaker ${JSON.stringify(id)} is known to the fleet`, { details: { id } });
    return this.#operatorReply(id, reply[1], reply[2]);
  }

  #operatorReply(id: string, flat: unknown, json: unknown): OperatorReply {
    const stored = storedOf(id, flat);
    const transition = transitionOf(json) ?? stored.last;
    if (transition === undefined) throw new Error(`breaker ${id}: operator script returned no transition`);
    return { ...stored, transition };
  }

  /** Every breaker the fleet knows, by id, with its window counts now and its latest transition. */
  async list(): Promise<BreakerInfo[]> {
    const reply = (await this.#run('list', [
      this.#keys.breakers(), this.#keys.breaker(''), this.#keys.breakerEvidence(''), String(this.#clock.now()), String(this.#settings.windowMs),
    ])) as Array<[string, unknown, number, number]>;
    return reply
      .map(([id, flat, ok, failures]) => {
        const stored = storedOf(String(id), flat);
        return {
          id: stored.id,
          state: stored.state,
          okInWindow: Number(ok),
          failuresInWindow: Number(failures),
          ...(stored.last ? { lastTransition: stored.last } : {}),
        };
      })
      .sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
  }

  /** The latest `limit` transitions of the fleet, newest first (unreadable entries skipped). */
  async transitions(limit: number): Promise<BreakerTransition[]> {
    if (!Number.isSafeInteger(limit) || limit <= 0) throw new RangeError(`limit must be a positive integer, got ${String(limit)}`);
    const entries = await withRedis('breaker transitions', () => this.#redis.lrange(this.#keys.breakerLog(), 0, limit - 1));
    return entries.map((json) => parseTransition(json)).filter((t): t is BreakerTransition => t !== undefined);
  }
}
