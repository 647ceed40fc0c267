/**
 * How every Redis connection of ours reconnects: exponential backoff with full jitter, so that
 * when Redis comes back a fleet of workers (each with a few connections) does not reconnect in
 * lockstep. ioredis's default (times * 50 ms, capped at 2 s) is deterministic: every process
 * that lost Redis at the same moment retries at the same moments.
 */
import type { Clock, TimerHandle } from '../clock.ts';

export const RECONNECT_BASE_MS = 50;
export const RECONNECT_MAX_MS = 2_000;

/** Delay before reconnect attempt `times` (1 = the first): uniform in [ceiling / 2, ceiling]. */
export function reconnectDelayMs(times: number, random: () => number = Math.random): number {
  const ceiling = Math.min(RECONNECT_MAX_MS, RECONNECT_BASE_MS * 2 ** Math.min(Math.max(times, 1) - 1, 10));
  return Math.round(ceiling / 2 + random() * (ceiling / 2));
}

/** For ioredis's `retryStrategy` option: never gives up (a worker waits out an outage). */
export function jitteredRetryStrategy(times: number): number {
  return reconnectDelayMs(times);
}

/**
 * Closes a connection politely when it is up (QUIT), at once when it is not, when QUIT fails, or
 * (with `within`) when QUIT has not finished in time. A connection waiting out an outage must be
 * disconnected: its QUIT is refused at once (no offline queue), and its reconnect timer would
 * otherwise keep reconnecting, and keep the process alive.
 */
export async function quitOrDisconnect(
  client: { status: string; quit(): Promise<unknown>; disconnect(): void },
  within?: { timeoutMs: number; clock: Clock },
): Promise<void> {
  if (client.status !== 'ready') {
    client.disconnect();
    return;
  }
  const quitted = client.quit().then(
    () => true,
    () => false,
  );
  let timer: TimerHandle | undefined;
  const timedOut = new Promise<boolean>((resolve) => {
    if (within !== undefined) timer = within.clock.setTimeout(() => resolve(false), within.timeoutMs);
  });
  const done = await Promise.race([quitted, timedOut]);
  if (timer !== undefined) within?.clock.clearTimeout(timer);
  if (!done) client.disconnect();
}
