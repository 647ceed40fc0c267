/**
 * An ioredis client set up for the store: fail fast instead of queueing while Redis is away
 * (callers get MWI_REDIS_UNAVAILABLE and retry with their own backoff; every store call is safe
 * to retry), a command timeout so a hung Redis is noticed, and ready before it is returned.
 * BullMQ workers need a different client (maxRetriesPerRequest: null); do not share this one.
 */
import { Redis } from 'ioredis';

import { ErrorCodes, MwiError } from '../errors.ts';
import { jitteredRetryStrategy } from './reconnect.ts';

export interface StoreClientOptions {
  /** redis://[user:password@]host:port[/db] */
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

export async function createStoreClient(opts: StoreClientOptions): Promise<Redis> {
  const redis = new Redis(opts.url, storeClientOptions(opts));
  redis.on('error', opts.onError ?? (() => {}));
  try {
    await redis.connect();
  } catch (err) {
    redis.disconnect();
    throw new MwiError(ErrorCodes.REDIS_UNAVAILABLE, `cannot connect to Redis: ${err instanceof Error ? err.message : String(err)}`, {
      retryable: true,
      cause: err,
    });
  }
  return redis;
}
