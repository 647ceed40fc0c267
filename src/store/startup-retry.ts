/**
 * Start-up steps that need Redis, retried while Redis cannot serve us yet.
 *
 * A worker or the API starts with a few Redis round trips: connect, upsert the kick scheduler,
 * wait for the BullMQ worker. Each call fails fast on its own (a 1 s command timeout, a 5 s
 * connect budget), which is right once running. At start it is not: Redis may come up after us
 * (compose, a reboot), be in the middle of a failover, or answer slowly on a loaded machine, and
 * one slow reply used to end the process with exit 69. Each step is a whole function that cleans
 * up after itself when it fails (startDelivery, startSweep, createStoreClient), so it is run
 * again, with jittered exponential backoff (p-retry), until redis.startupTimeoutMs has passed.
 * Only MWI_REDIS_UNAVAILABLE is retried; anything else (a bad configuration, a bug) fails at once.
 */
import pRetry from 'p-retry';

import { ErrorCodes, isMwiError } from '../errors.ts';

export interface StartupRetryOptions {
  /** A pino Logger fits. */
  log: { warn(obj: object, msg: string): void };
  /** redis.startupTimeoutMs: no new attempt starts after this long. */
  timeoutMs: number;
  /** First pause between attempts; it doubles up to maxDelayMs, each scaled by a random 1..2. Default 200. */
  minDelayMs?: number;
  /** Default 2000. */
  maxDelayMs?: number;
}

export function retryWhileRedisStarts<T>(what: string, step: () => Promise<T>, opts: StartupRetryOptions): Promise<T> {
  return pRetry(step, {
    retries: Number.POSITIVE_INFINITY,
    maxRetryTime: opts.timeoutMs,
    minTimeout: opts.minDelayMs ?? 200,
    maxTimeout: opts.maxDelayMs ?? 2_000,
    factor: 2,
    randomize: true,
    shouldRetry: ({ error }) => isMwiError(error, ErrorCodes.REDIS_UNAVAILABLE),
    onFailedAttempt: ({ error, attemptNumber, retryDelay }) => {
      if (isMwiError(error, ErrorCodes.REDIS_UNAVAILABLE)) {
        opts.log.warn({ err: error, attempt: attemptNumber, retryInMs: retryDelay, timeoutMs: opts.timeoutMs }, `Redis not ready at start (${what}); trying again`);
      }
    },
  });
}
