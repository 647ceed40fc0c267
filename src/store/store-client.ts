/**
 * An ioredis client set up for the store: fail fast instead of queueing while Redis is away
 * (callers get MWI_REDIS_UNAVAILABLE and retry with their own backoff; every store call is safe
 * to retry), a command timeout so a hung Redis is noticed, and ready before it is returned.
 * BullMQ workers need a different client (maxRetriesPerRequest: null); do not share this one.
 */
import type { Redis } from 'ioredis';

import { ErrorCodes, MwiError } from '../errors.ts';
import { connectWithin, createRedisConnection, type RedisClient, type SingleRedisUrl } from './redis-connection.ts';
import { jitteredRetryStrategy } from './reconnect.ts';

export interface StoreClientOptions {
  /** redis://[user:password@]host:port[/db], or a redis+sentinel:// / redis+cluster:// URL (redis-connection.ts). */
  url: string;
  /** Default 2000. */
  connectTimeoutMs?: number;
  /** Default 1000: one applyUpdates batch of 1000 takes a few ms on loopback. */
  commandTimeoutMs?: number;
  /** Connection errors while reconnecting (calls fail with MWI_REDIS_UNAVAILABLE regardless). */
  onError?: (err: Error) => void;
}

export function storeClientOptions(opts: Omit<StoreClientOptions, 'url'> = {}) {
  return {
    enableOfflineQueue: false,
    // An in-flight command survives one reconnect (all store calls are idempotent); more would hold callers too long.
    maxRetriesPerRequest: 1,
    connectTimeout: opts.connectTimeoutMs ?? 2000,
    commandTimeout: opts.commandTimeoutMs ?? 1000,
    lazyConnect: true,
    // Hundreds of deliveries in flight each make a few small calls: commands issued in the same
    // event-loop turn go out as one pipeline (one write, one read) instead of one round trip each.
    enableAutoPipelining: true,
    retryStrategy: jitteredRetryStrategy,
  } as const;
}

/** A redis:// or rediss:// URL gives a plain Redis client; any URL (also redis+sentinel:// or redis+cluster://) a RedisClient. */
export function createStoreClient(opts: StoreClientOptions & { url: SingleRedisUrl }): Promise<Redis>;
export function createStoreClient(opts: StoreClientOptions): Promise<RedisClient>;
export async function createStoreClient(opts: StoreClientOptions): Promise<RedisClient> {
  const redis = createRedisConnection(opts.url, storeClientOptions(opts));
  redis.on('error', opts.onError ?? (() => {}));
  try {
    // Room for a Sentinel or cluster start-up: a discovery, a node connection and a ready check.
    await connectWithin(redis, 2 * (opts.connectTimeoutMs ?? 2000) + (opts.commandTimeoutMs ?? 1000));
  } catch (err) {
    redis.disconnect();
    throw new MwiError(ErrorCodes.REDIS_UNAVAILABLE, `cannot connect to Redis: ${err instanceof Error ? err.message : String(err)}`, {
      retryable: true,
      cause: err,
    });
  }
  return redis;
}
