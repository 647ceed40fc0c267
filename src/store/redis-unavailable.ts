/**
 * Maps a failed Redis call to the error catalogue: anything that says "Redis cannot serve us right
 * now" (connection lost, offline queue disabled, command timeout, retries exhausted, or a server
 * that is loading, failing over, blocked by a script, out of memory or unable to persist) becomes
 * MwiError(REDIS_UNAVAILABLE, retryable). Other error replies are bugs in our commands or scripts
 * and pass through unchanged, as do TypeError and RangeError (our own bugs).
 */
import { ReplyError } from 'ioredis';

import { ErrorCodes, MwiError } from '../errors.ts';

const ReplyErrorClass = ReplyError as new (message: string) => Error;

/** Error-reply prefixes a Redis server sends while it cannot (yet) do the work. */
const TRANSIENT_REPLY_PREFIXES = ['LOADING', 'BUSY', 'READONLY', 'MASTERDOWN', 'CLUSTERDOWN', 'TRYAGAIN', 'NOREPLICAS', 'MISCONF', 'OOM'];

export function isRedisUnavailable(err: unknown): boolean {
  if (!(err instanceof Error) || err instanceof TypeError || err instanceof RangeError) return false;
  if (err instanceof ReplyErrorClass) {
    const prefix = err.message.split(' ', 1)[0] ?? '';
    return TRANSIENT_REPLY_PREFIXES.includes(prefix);
  }
  return true;
}

/** Runs one Redis call; an unavailability error is rethrown as MwiError(REDIS_UNAVAILABLE). */
export async function withRedis<T>(operation: string, call: () => Promise<T>): Promise<T> {
  try {
    return await call();
  } catch (err) {
    if (!isRedisUnavailable(err)) throw err;
    const message = err instanceof Error ? err.message : String(err);
    throw new MwiError(ErrorCodes.REDIS_UNAVAILABLE, `Redis unavailable during ${operation}: ${message}`, {
      retryable: true,
      cause: err,
      details: { operation },
    });
  }
}
