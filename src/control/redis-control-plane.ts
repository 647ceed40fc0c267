/**
 * ControlPlane over Redis (redis-control-store.ts) with a local view, so pausedFor() and
 * draining() on the delivery hot path are map lookups:
 * - every change is announced on the control channel; a dedicated subscriber connection re-reads
 *   at once when it hears one (and after every reconnect: announcements made meanwhile are lost);
 * - the view is also re-read every pollMs (250 ms), the fallback when a message is lost;
 * - this process's own changes update its view as soon as Redis confirms them;
 * - an expired pause never counts (checked against the clock on every call) and is removed from
 *   Redis by whichever process reads it first;
 * - while Redis is unreachable the last view is kept: a pause stays in force (fail safe), only
 *   its own `until` ends it. One warning per outageLogIntervalMs.
 * Call refresh() once before starting work: until the first read the view is empty.
 */
import type { Clock } from '../clock.ts';
import { quitOrDisconnect } from '../store/reconnect.ts';
import { SerialLoop } from '../serial-loop.ts';
import { ErrorCodes, isMwiError } from '../errors.ts';
import type { StoreKeys } from '../store/keys.ts';
import { jitteredRetryStrategy } from '../store/reconnect.ts';
import { createRedisConnection, duplicateConnection, type RedisClient } from '../store/redis-connection.ts';
import { inForce } from './control-codec.ts';
import { GLOBAL_SCOPE, scopeKey } from './control-input.ts';
import { RedisControlStore, comparePauses } from './redis-control-store.ts';
import type { AuditEntry, ControlPlane, ControlSnapshot, DrainState, PauseScope, PauseState } from './types.ts';

export interface ControlLog {
  debug(obj: object, msg: string): void;
  info(obj: object, msg: string): void;
  warn(obj: object, msg: string): void;
}

export interface RedisControlPlaneOptions {
  /** The store client (createStoreClient): fails fast while Redis is away. Caller-owned. */
  redis: RedisClient;
  /** Where the subscriber connects; ignored with createSubscriber. Neither: a duplicate of `redis`. */
  redisUrl?: string;
  /** A dedicated connection for the channel (owned and quit by close()). */
  createSubscriber?: () => RedisClient;
  keys: StoreKeys;
  clock: Clock;
  log: ControlLog;
  /** The view is re-read at least this often. Default 250. */
  pollMs?: number;
  /** Audit entries kept. Default 10000. */
  auditCap?: number;
  /** At most one "Redis unreachable" warning per this interval. Default 30000. */
  outageLogIntervalMs?: number;
}

export const DEFAULT_POLL_MS = 250;
const DEFAULT_OUTAGE_LOG_INTERVAL_MS = 30_000;

const SUBSCRIBER_OPTIONS = {
  lazyConnect: false,
  autoResubscribe: false,
  enableOfflineQueue: false,
  maxRetriesPerRequest: null,
  enableAutoPipelining: false,
  connectTimeout: 2_000,
  retryStrategy: jitteredRetryStrategy,
} as const;

export class RedisControlPlane implements ControlPlane {
  readonly #store: RedisControlStore;
  readonly #subscriber: RedisClient;
  readonly #channel: string;
  readonly #clock: Clock;
  readonly #log: ControlLog;
  readonly #pollMs: number;
  readonly #outageLogIntervalMs: number;
  readonly #listeners = new Set<(snapshot: ControlSnapshot) => void>();

  #pauses = new Map<string, PauseState>();
  #drain: DrainState | undefined;
  /** The in-force view last announced to listeners, as JSON. */
  #announced = JSON.stringify({ pauses: [], drain: null });

  #closed = false;
  #redisDown = false;
  #lastWarnAt = -Infinity;
  readonly #loop: SerialLoop;

  constructor(opts: RedisControlPlaneOptions) {
    this.#clock = opts.clock;
    this.#log = opts.log;
    this.#pollMs = opts.pollMs ?? DEFAULT_POLL_MS;
    this.#loop = new SerialLoop(opts.clock, this.#pollMs, () => this.#tick());
    this.#outageLogIntervalMs = opts.outageLogIntervalMs ?? DEFAULT_OUTAGE_LOG_INTERVAL_MS;
    if (!(this.#pollMs > 0)) throw new RangeError(`pollMs must be positive, got ${this.#pollMs}`);
    this.#store = new RedisControlStore({ redis: opts.redis, keys: opts.keys, clock: opts.clock, ...(opts.auditCap === undefined ? {} : { auditCap: opts.auditCap }) });
    this.#channel = opts.keys.controlChannel();
    this.#subscriber = opts.createSubscriber?.() ?? (opts.redisUrl === undefined ? duplicateConnection(opts.redis, SUBSCRIBER_OPTIONS) : createRedisConnection(opts.redisUrl, SUBSCRIBER_OPTIONS));
    this.#subscriber.on('error', (err: Error) => this.#log.debug({ err }, 'control channel connection error'));
    this.#subscriber.on('message', (channel: string) => {
      if (channel === this.#channel) this.#loop.soon();
    });
    this.#subscriber.on('ready', () => {
      void this.#subscribe();
    });
    if (this.#subscriber.status === 'ready') void this.#subscribe();
    this.#loop.soon();
  }

  async #subscribe(): Promise<void> {
    if (this.#closed) return;
    try {
      await this.#subscriber.subscribe(this.#channel);
      this.#loop.soon();
    } catch (err) {
      this.#log.debug({ err }, 'control channel subscribe failed; retried on reconnect');
    }
  }

  // --- hot path ------------------------------------------------------------------------------

  pausedFor(targetUri: string, hopKey?: string): PauseState | undefined {
    if (this.#pauses.size === 0) return undefined;
    const now = this.#clock.now();
    return (
      inForce(this.#pauses.get(GLOBAL_SCOPE), now) ??
      inForce(this.#pauses.get(targetUri), now) ??
      (hopKey === undefined ? undefined : inForce(this.#pauses.get(hopKey), now))
    );
  }

  draining(): boolean {
    return this.#drain !== undefined;
  }

  // --- changes -------------------------------------------------------------------------------

  async pause(scope: PauseScope, actor: string, reason: string, opts?: { forMs?: number; via?: string }): Promise<PauseState> {
    const pause = await this.#store.pause(scope, actor, reason, opts);
    this.#pauses.set(pause.scope, pause);
    this.#viewChanged();
    return pause;
  }

  async resume(scope: PauseScope, actor: string, reason: string, opts?: { via?: string }): Promise<PauseState | undefined> {
    const ended = await this.#store.resume(scope, actor, reason, opts);
    this.#pauses.delete(scopeKey(scope));
    this.#viewChanged();
    return ended;
  }

  async setDrain(on: boolean, actor: string, reason: string, opts?: { via?: string }): Promise<void> {
    this.#drain = (await this.#store.setDrain(on, actor, reason, opts)).drain;
    this.#viewChanged();
  }

  audit(entry: Omit<AuditEntry, 'at'>): Promise<void> {
    return this.#store.audit(entry);
  }

  auditLog(limit: number): Promise<AuditEntry[]> {
    return this.#store.auditLog(limit);
  }

  async snapshot(): Promise<ControlSnapshot> {
    return this.refresh();
  }

  /** Reads Redis now and replaces the view (MwiError REDIS_UNAVAILABLE when it cannot). */
  async refresh(): Promise<ControlSnapshot> {
    const read = await this.#store.read();
    this.#redisAnswered();
    if (read.unreadable > 0) this.#warn({ unreadable: read.unreadable }, 'unreadable pause records in Redis: their scopes stay paused');
    this.#pauses = new Map(read.pauses.map((p) => [p.scope, p]));
    this.#drain = read.drain;
    this.#viewChanged();
    return { pauses: read.pauses, drain: read.drain };
  }

  onChange(listener: (snapshot: ControlSnapshot) => void): () => void {
    this.#listeners.add(listener);
    return () => {
      this.#listeners.delete(listener);
    };
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    await this.#loop.stop();
    this.#listeners.clear();
    await quitOrDisconnect(this.#subscriber);
  }

  // --- view ----------------------------------------------------------------------------------

  /** The view as listeners see it: pauses in force now, global first. */
  #inForceSnapshot(): ControlSnapshot {
    const now = this.#clock.now();
    const pauses = [...this.#pauses.values()].filter((p) => inForce(p, now) !== undefined).sort(comparePauses);
    return { pauses, drain: this.#drain };
  }

  /** Tells listeners when what is in force differs from what they last heard (a change, or an expiry). */
  #viewChanged(): void {
    const snapshot = this.#inForceSnapshot();
    const json = JSON.stringify({ pauses: snapshot.pauses, drain: snapshot.drain ?? null });
    if (json === this.#announced) return;
    this.#announced = json;
    for (const listener of this.#listeners) {
      try {
        listener(snapshot);
      } catch (err) {
        this.#log.warn({ err }, 'control change listener threw');
      }
    }
  }

  // --- poll loop -----------------------------------------------------------------------------

  async #tick(): Promise<void> {
    try {
      await this.refresh();
    } catch (err) {
      this.#redisFailed(err);
      // The last view stays; an expiry still ends its pause on time.
      this.#viewChanged();
    }
  }

  // --- Redis reachability --------------------------------------------------------------------

  #warn(obj: object, msg: string): void {
    const now = this.#clock.now();
    if (now - this.#lastWarnAt < this.#outageLogIntervalMs) return;
    this.#lastWarnAt = now;
    this.#log.warn(obj, msg);
  }

  #redisFailed(err: unknown): void {
    if (!isMwiError(err, ErrorCodes.REDIS_UNAVAILABLE)) {
      this.#warn({ err }, 'reading the control state failed; the last view is kept');
      return;
    }
    if (this.#redisDown) return;
    this.#redisDown = true;
    this.#warn({ err, pauses: this.#pauses.size, draining: this.draining() }, 'Redis unreachable: keeping the last known pauses and drain (pauses stay in force)');
  }

  #redisAnswered(): void {
    if (!this.#redisDown) return;
    this.#redisDown = false;
    this.#log.info({}, 'Redis reachable again: control view re-read');
  }
}
