/**
 * The operators' controls in Redis, without a local view: each change is one Lua script
 * (lua/*.ts) that writes the change, its audit entry and its announcement together. The CLI uses
 * this directly; workers use RedisControlPlane, which keeps a synchronous view on top of it.
 * Keys (src/store/keys.ts): controlPauses hash, controlDrain string, controlAudit list, controlChannel.
 */
import type { RedisClient } from '../store/redis-connection.ts';

import { systemClock, type Clock } from '../clock.ts';
import { assertNoKeyPrefix, type StoreKeys } from '../store/keys.ts';
import { withRedis } from '../store/redis-unavailable.ts';
import { decodeAudit, decodeDrain, decodePause } from './control-codec.ts';
import { GLOBAL_SCOPE, checkActor, checkForMs, checkReason, checkSubject, checkVia, scopeKey } from './control-input.ts';
import { APPEND_AUDIT_LUA } from './lua/append-audit.ts';
import { PAUSE_LUA } from './lua/pause.ts';
import { READ_CONTROL_LUA } from './lua/read-control.ts';
import { RESUME_LUA } from './lua/resume.ts';
import { SET_DRAIN_LUA } from './lua/set-drain.ts';
import type { AuditEntry, ControlSnapshot, DrainState, PauseScope, PauseState } from './types.ts';

export interface RedisControlStoreOptions {
  /** Shared, caller-owned client (createStoreClient); must not have a keyPrefix. */
  redis: RedisClient;
  keys: StoreKeys;
  clock?: Clock;
  /** Audit entries kept, newest first. Default 10000. */
  auditCap?: number;
}

export const DEFAULT_AUDIT_CAP = 10_000;
/** `via` when the caller names none. */
const UNKNOWN_VIA = 'unknown';

const SCRIPTS = {
  pause: { name: 'mwiControlPause', lua: PAUSE_LUA, numberOfKeys: 2 },
  resume: { name: 'mwiControlResume', lua: RESUME_LUA, numberOfKeys: 2 },
  setDrain: { name: 'mwiControlSetDrain', lua: SET_DRAIN_LUA, numberOfKeys: 2 },
  audit: { name: 'mwiControlAudit', lua: APPEND_AUDIT_LUA, numberOfKeys: 1 },
  read: { name: 'mwiControlRead', lua: READ_CONTROL_LUA, numberOfKeys: 3 },
} as const;

type ScriptCall = (...args: string[]) => Promise<unknown>;

/** Global first, then targets in lexical order: the order status output and snapshots use. */
export function comparePauses(a: PauseState, b: PauseState): number {
  if (a.scope === b.scope) return 0;
  if (a.scope === GLOBAL_SCOPE) return -1;
  if (b.scope === GLOBAL_SCOPE) return 1;
  return a.scope < b.scope ? -1 : 1;
}

export class RedisControlStore {
  readonly #redis: RedisClient;
  readonly #keys: StoreKeys;
  readonly #clock: Clock;
  readonly #auditCap: number;

  constructor(opts: RedisControlStoreOptions) {
    assertNoKeyPrefix(opts.redis);
    this.#redis = opts.redis;
    this.#keys = opts.keys;
    this.#clock = opts.clock ?? systemClock;
    this.#auditCap = opts.auditCap ?? DEFAULT_AUDIT_CAP;
    if (!Number.isSafeInteger(this.#auditCap) || this.#auditCap <= 0) throw new RangeError(`auditCap must be a positive integer, got ${String(opts.auditCap)}`);
    for (const script of Object.values(SCRIPTS)) this.#redis.defineCommand(script.name, { lua: script.lua, numberOfKeys: script.numberOfKeys });
  }

  #run(script: keyof typeof SCRIPTS, args: string[]): Promise<unknown> {
    const call = (this.#redis as unknown as Record<string, ScriptCall>)[SCRIPTS[script].name];
    if (call === undefined) throw new Error(`script ${script} is not defined on the Redis client`);
    return withRedis(`control ${script}`, () => call.apply(this.#redis, args));
  }

  async pause(scope: PauseScope, actor: string, reason: string, opts: { forMs?: number; via?: string } = {}): Promise<PauseState> {
    const key = scopeKey(scope);
    const who = checkActor(actor);
    const why = checkReason(reason);
    const via = checkVia(opts.via ?? UNKNOWN_VIA);
    const now = this.#clock.now();
    const until = opts.forMs === undefined ? undefined : now + checkForMs(opts.forMs);
    const pause: PauseState = { scope: key, reason: why, actor: who, since: now, ...(until === undefined ? {} : { until }) };
    const entry: AuditEntry = { at: now, actor: who, action: 'pause', subject: key, reason: why, via, ...(until === undefined ? {} : { until }) };
    await this.#run('pause', [this.#keys.controlPauses(), this.#keys.controlAudit(), key, JSON.stringify(pause), JSON.stringify(entry), String(this.#auditCap), this.#keys.controlChannel()]);
    return pause;
  }

  /** The pause that was in force and is now ended, or undefined (none, or it had already expired). */
  async resume(scope: PauseScope, actor: string, reason: string, opts: { via?: string } = {}): Promise<PauseState | undefined> {
    const key = scopeKey(scope);
    const who = checkActor(actor);
    const why = checkReason(reason);
    const via = checkVia(opts.via ?? UNKNOWN_VIA);
    const now = this.#clock.now();
    const entry: AuditEntry = { at: now, actor: who, action: 'resume', subject: key, reason: why, via };
    const ended = await this.#run('resume', [this.#keys.controlPauses(), this.#keys.controlAudit(), key, String(now), JSON.stringify(entry), String(this.#auditCap), this.#keys.controlChannel()]);
    return ended === '' ? undefined : decodePause(ended);
  }

  /** The drain now in force, and whether this call changed anything (off while already off writes nothing, not even an audit entry). */
  async setDrain(on: boolean, actor: string, reason: string, opts: { via?: string } = {}): Promise<{ changed: boolean; drain: DrainState | undefined }> {
    const who = checkActor(actor);
    const why = checkReason(reason);
    const via = checkVia(opts.via ?? UNKNOWN_VIA);
    const now = this.#clock.now();
    const drain: DrainState = { reason: why, actor: who, since: now };
    const entry: AuditEntry = { at: now, actor: who, action: on ? 'drain' : 'undrain', subject: GLOBAL_SCOPE, reason: why, via };
    const changed = await this.#run('setDrain', [
      this.#keys.controlDrain(), this.#keys.controlAudit(),
      on ? '1' : '0', on ? JSON.stringify(drain) : '', JSON.stringify(entry), String(this.#auditCap), this.#keys.controlChannel(),
    ]);
    return { changed: changed === 1, drain: on ? drain : undefined };
  }

  async audit(entry: Omit<AuditEntry, 'at'>): Promise<void> {
    const stored: AuditEntry = {
      at: this.#clock.now(),
      actor: checkActor(entry.actor),
      action: checkSubject(entry.action),
      subject: checkSubject(entry.subject),
      reason: checkReason(entry.reason),
      via: checkVia(entry.via),
      ...(entry.until === undefined ? {} : { until: entry.until }),
    };
    await this.#run('audit', [this.#keys.controlAudit(), JSON.stringify(stored), String(this.#auditCap)]);
  }

  /** The latest `limit` entries, newest first (unreadable entries skipped). */
  async auditLog(limit: number): Promise<AuditEntry[]> {
    if (!Number.isSafeInteger(limit) || limit <= 0) throw new RangeError(`limit must be a positive integer, got ${String(limit)}`);
    const entries = await withRedis('control auditLog', () => this.#redis.lrange(this.#keys.controlAudit(), 0, limit - 1));
    return entries.map(decodeAudit).filter((e): e is AuditEntry => e !== undefined);
  }

  /**
   * Pauses in force and drain, at one instant (one round trip); ends expired pauses on the way.
   * A stored pause this version cannot decode still pauses its scope (fail safe: a newer
   * version's pause must not be ignored by an older worker); `unreadable` counts them.
   */
  async read(): Promise<ControlSnapshot & { unreadable: number }> {
    const reply = (await this.#run('read', [
      this.#keys.controlPauses(), this.#keys.controlDrain(), this.#keys.controlAudit(), String(this.#clock.now()), String(this.#auditCap), this.#keys.controlChannel(),
    ])) as [string[], string];
    const pauses: PauseState[] = [];
    let unreadable = 0;
    const flat = reply[0];
    for (let i = 0; i + 1 < flat.length; i += 2) {
      const scope = String(flat[i]);
      const pause = decodePause(flat[i + 1]);
      if (pause !== undefined && pause.scope === scope) {
        pauses.push(pause);
      } else {
        unreadable++;
        pauses.push({ scope, reason: 'unreadable pause record (written by another version?)', actor: 'unknown', since: 0 });
      }
    }
    return { pauses: pauses.sort(comparePauses), drain: reply[1] === '' ? undefined : decodeDrain(reply[1]), unreadable };
  }

  async snapshot(): Promise<ControlSnapshot> {
    const { pauses, drain } = await this.read();
    return { pauses, drain };
  }
}
