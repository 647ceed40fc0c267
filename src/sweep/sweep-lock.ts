/**
 * One sweep at a time across all hosts: a redlock lock on `<prefix>:sweep-lock` in the shared
 * Redis, tried once (retryCount 0: a busy lock means "someone is sweeping", not "wait"), then
 * extended automatically by redlock's `using` while the run goes on. Beside it a holder record
 * (`<prefix>:sweep-holder`: host, pid, run id, start) with the same TTL tells a skipped run,
 * and an operator, who holds it.
 *
 * Redlock has no fencing tokens, so a run that lost its lock may still finish a Redis call it
 * had started: everything done under this lock is idempotent (marking a mailbox already dirty
 * changes nothing; applying an older version is refused by apply-updates).
 *
 * Two corrections to redlock 5.0.0-beta2's `using`, in a subclass (the package is pinned):
 * - An extension refused because the key is gone or holds another value is final, yet `using`
 *   keeps retrying (with no pause under retryCount 0) until its local expiry and only then
 *   aborts. We mark such a lock expired, so `using` aborts at that extension: a lost lock stops
 *   the run within one extension interval (lockTtlMs / 3), not a whole TTL later.
 *   Transient failures (Redis unreachable) still retry, paced by retryDelay, until the lock
 *   would lapse.
 * - Releasing a lock known lost is skipped: it would only be refused (and retried) too.
 */
import os from 'node:os';

import type { RedisClient } from '../store/redis-connection.ts';
import Redlock, { ExecutionError, ResourceLockedError, type ExecutionResult, type Lock, type Settings } from 'redlock';

import type { Clock, TimerHandle } from '../clock.ts';
import { ErrorCodes, MwiError } from '../errors.ts';
import type { Logger } from '../log.ts';
import type { StoreKeys } from '../store/keys.ts';
import { withRedis } from '../store/redis-unavailable.ts';

export interface SweepHolder {
  runId: string;
  host: string;
  pid: number;
  /** What the holder runs: a sweep or a resync of every mailbox. */
  mode: string;
  /** When it acquired the lock (ms since epoch). */
  startedAt: number;
}

export type LockOutcome<T> =
  | { acquired: true; value: T }
  /** Someone else holds the lock: `holder` is its record (undefined in the instant before it writes one, or if it vanished). */
  | { acquired: false; holder: SweepHolder | undefined; ttlLeftMs: number | undefined };

/** The seam the sweep depends on. */
export interface SweepLock {
  /**
   * Runs `work` holding the lock, or returns at once who holds it. `lost` aborts as soon as the
   * lock is known lost (deleted, taken over, or not extended before it lapsed); `work` must stop
   * then. Throws MWI_REDIS_UNAVAILABLE when the lock cannot be tried.
   */
  withLock<T>(holder: Omit<SweepHolder, 'startedAt'>, work: (lost: AbortSignal, acquiredAt: number) => Promise<T>): Promise<LockOutcome<T>>;
}

/** This process as a lock holder. */
export function processIdentity(): { host: string; pid: number } {
  return { host: os.hostname(), pid: process.pid };
}

/** Extensions of a live lock retry this often on transient errors (e.g. a Redis reconnect). */
const EXTEND_RETRY_COUNT = 2;
const EXTEND_RETRY_DELAY_MS = 100;
const EXTEND_RETRY_JITTER_MS = 50;

/** Did every vote refuse because the key holds another value (or none)? Then the lock is lost for good. */
async function refusedByValue(err: unknown): Promise<boolean> {
  if (!(err instanceof ExecutionError) || err.attempts.length === 0) return false;
  const stats = await Promise.all(err.attempts);
  return stats.every((s) => s.votesFor.size === 0 && s.votesAgainst.size > 0 && [...s.votesAgainst.values()].every((e) => e instanceof ResourceLockedError));
}

class PromptRedlock extends Redlock {
  readonly #lost = new WeakSet<Lock>();

  override async extend(existing: Lock, duration: number, settings?: Partial<Settings>): Promise<Lock> {
    try {
      return await super.extend(existing, duration, settings);
    } catch (err) {
      if (await refusedByValue(err)) {
        this.#lost.add(existing);
        // `using` aborts when an extension fails and the lock's expiration has passed.
        existing.expiration = 0;
      }
      throw err;
    }
  }

  override release(lock: Lock, settings?: Partial<Settings>): Promise<ExecutionResult> {
    if (this.#lost.has(lock)) return Promise.resolve({ attempts: [] });
    return super.release(lock, settings);
  }
}

/** Refresh the holder record only while it is still ours; delete it only if it is ours. */
const HOLDER_REFRESH_LUA = `
if redis.call('GET', KEYS[1]) == ARGV[1] then
  if ARGV[2] == '' then return redis.call('DEL', KEYS[1]) end
  return redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2]) and 1
end
return 0
`;

export interface RedlockSweepLockOptions {
  /** A fail-fast client (createStoreClient) without keyPrefix; caller-owned. */
  redis: RedisClient;
  keys: StoreKeys;
  /** sweep.lockTtlMs: a crashed holder frees the lock within this long. */
  lockTtlMs: number;
  clock: Clock;
  log: Logger;
}

export class RedlockSweepLock implements SweepLock {
  readonly #redis: RedisClient;
  readonly #keys: StoreKeys;
  readonly #ttlMs: number;
  readonly #clock: Clock;
  readonly #log: Logger;
  readonly #redlock: PromptRedlock;
  /** How often the lock (and the holder record) is extended: a lost lock is noticed within this long. */
  readonly extendEveryMs: number;

  constructor(opts: RedlockSweepLockOptions) {
    if (!Number.isSafeInteger(opts.lockTtlMs) || opts.lockTtlMs < 1_000) throw new RangeError(`lockTtlMs must be an integer >= 1000, got ${opts.lockTtlMs}`);
    this.#redis = opts.redis;
    this.#keys = opts.keys;
    this.#ttlMs = opts.lockTtlMs;
    this.#clock = opts.clock;
    this.#log = opts.log;
    this.extendEveryMs = Math.floor(opts.lockTtlMs / 3);
    this.#redlock = new PromptRedlock([opts.redis], {
      driftFactor: 0.01,
      retryCount: EXTEND_RETRY_COUNT,
      retryDelay: EXTEND_RETRY_DELAY_MS,
      retryJitter: EXTEND_RETRY_JITTER_MS,
      // Extend when two thirds of the TTL are left, i.e. every third of it.
      automaticExtensionThreshold: opts.lockTtlMs - this.extendEveryMs,
    });
    // Per-client failures are also reported as the operation's result; this only keeps them off the default 'error' path.
    this.#redlock.on('error', () => {});
    this.#redis.defineCommand('mwiSweepHolder', { lua: HOLDER_REFRESH_LUA, numberOfKeys: 1 });
  }

  async #holderCall(record: string, ttlMs: string): Promise<void> {
    const call = (this.#redis as unknown as Record<string, (...args: string[]) => Promise<unknown>>).mwiSweepHolder;
    if (call === undefined) throw new Error('mwiSweepHolder is not defined on the Redis client');
    await call.call(this.#redis, this.#keys.sweepHolder(), record, ttlMs);
  }

  /** The holder record and the lock's remaining TTL, as stored now. */
  async holder(): Promise<{ holder: SweepHolder | undefined; ttlLeftMs: number | undefined }> {
    const [raw, ttl] = await withRedis('read the sweep holder', () => Promise.all([this.#redis.get(this.#keys.sweepHolder()), this.#redis.pttl(this.#keys.sweepLock())]));
    let holder: SweepHolder | undefined;
    try {
      holder = raw === null ? undefined : (JSON.parse(raw) as SweepHolder);
    } catch {
      holder = undefined;
    }
    return { holder, ttlLeftMs: ttl >= 0 ? ttl : undefined };
  }

  async withLock<T>(who: Omit<SweepHolder, 'startedAt'>, work: (lost: AbortSignal, acquiredAt: number) => Promise<T>): Promise<LockOutcome<T>> {
    let ran = false;
    let done: { value: T } | undefined;
    try {
      await this.#redlock.using([this.#keys.sweepLock()], this.#ttlMs, { retryCount: 0 }, async (signal) => {
        ran = true;
        const acquiredAt = this.#clock.now();
        const record = JSON.stringify({ ...who, startedAt: acquiredAt } satisfies SweepHolder);
        let refresh: TimerHandle | undefined;
        // Set when the work ends: a refresh still in flight then must not schedule another one
        // (that loop would outlive the run, and keep the process alive, refreshing forever).
        let stopped = false;
        const keepHolder = (): void => {
          if (stopped) return;
          refresh = this.#clock.setTimeout(() => {
            if (signal.aborted || stopped) return;
            this.#holderCall(record, String(this.#ttlMs)).then(keepHolder, (err: unknown) => {
              this.#log.debug({ err }, 'could not refresh the sweep holder record');
              keepHolder();
            });
          }, this.extendEveryMs);
        };
        try {
          await withRedis('write the sweep holder', () => this.#redis.set(this.#keys.sweepHolder(), record, 'PX', this.#ttlMs));
          keepHolder();
          const value = await work(signal, acquiredAt);
          done = { value };
          return value;
        } finally {
          stopped = true;
          if (refresh !== undefined) this.#clock.clearTimeout(refresh);
          await this.#holderCall(record, '').catch(() => undefined);
        }
      });
    } catch (err) {
      if (done !== undefined) {
        // The work finished; only the release failed. The lock lapses within lockTtlMs.
        this.#log.warn({ err }, 'could not release the sweep lock; it lapses within sweep.lockTtlMs');
        return { acquired: true, value: done.value };
      }
      if (ran) throw err;
      if (await refusedByValue(err)) return { acquired: false, ...(await this.holder()) };
      throw new MwiError(ErrorCodes.REDIS_UNAVAILABLE, `cannot try the sweep lock: ${err instanceof Error ? err.message : String(err)}`, { retryable: true, cause: err });
    }
    if (done === undefined) throw new Error('INVARIANT: the locked work neither finished nor threw');
    return { acquired: true, value: done.value };
  }
}
