/**
 * What `mwi sweep run` and `mwi resync` open to work on the shared Redis as the runner does: the
 * delivery store and scheduler (producer only: the drains run in the workers), a SIP sender for
 * the OPTIONS health probes, and the sweep without a schedule. close() shuts them in reverse order.
 */
import { readFileSync } from 'node:fs';

import type { Config } from '../../config/schema.ts';
import { systemClock } from '../clock.ts';
import { createSipSender } from '../delivery/create-sip-sender.ts';
import { ErrorCodes, MwiError } from '../errors.ts';
import type { Logger } from '../log.ts';
import { startDelivery } from '../queue/delivery-runtime.ts';
import type { DeliveryScheduler } from '../queue/delivery-scheduler.ts';
import type { RedisMailboxStore } from '../store/redis-mailbox-store.ts';
import { startSweep, type SweepRuntime } from '../sweep/sweep-runtime.ts';

export interface SweepSession {
  store: RedisMailboxStore;
  scheduler: DeliveryScheduler;
  sweep: SweepRuntime;
  close(): Promise<void>;
}

const CLOSE_DEADLINE_MS = 3_000;

export async function openSweepSession(config: Config, log: Logger, opts: { probes: boolean }): Promise<SweepSession> {
  const redisUrl = config.redis.url;
  if (redisUrl === undefined) {
    throw new MwiError(ErrorCodes.CLI_USAGE, 'redis.url is not set (MWI_REDIS__URL or MWI_REDIS__URL_FILE): this command works on the shared Redis of the running workers');
  }
  const clock = systemClock;
  const closers: Array<() => Promise<void>> = [];
  const close = async (): Promise<void> => {
    for (const c of closers.reverse()) await c().catch(() => undefined);
  };
  try {
    const sender = opts.probes
      ? (await createSipSender({ config, clock, log, readFile: (p) => readFileSync(p) })).sender
      : { probe: () => Promise.reject(new Error('no probes in this command')), send: () => Promise.reject(new Error('no sends')), close: () => Promise.resolve() };
    closers.push(() => sender.close());
    const delivery = await startDelivery({ config, log, clock, redisUrl, sender, workers: false });
    closers.push(() => delivery.close(CLOSE_DEADLINE_MS));
    const sweep = await startSweep({ config, log, clock, redisUrl, store: delivery.store, scheduler: delivery.scheduler, prober: sender, schedule: false });
    closers.push(() => sweep.close(CLOSE_DEADLINE_MS));
    return { store: delivery.store, scheduler: delivery.scheduler, sweep, close };
  } catch (err) {
    await close();
    throw err;
  }
}

/** Aborts on the first SIGINT or SIGTERM (a run then stops and records itself); call the returned function to stop listening. */
export function abortOnSignal(controller: AbortController): () => void {
  const on = (): void => controller.abort();
  process.once('SIGINT', on);
  process.once('SIGTERM', on);
  return () => {
    process.removeListener('SIGINT', on);
    process.removeListener('SIGTERM', on);
  };
}
