#!/usr/bin/env node
/**
 * A runner process as far as the sweep goes, for the multi-process tests: the delivery store
 * and scheduler (no workers), the sweep on its schedule (BullMQ job scheduler + worker), all
 * configured from MWI_* like the real thing. The source is the store, slowed down by
 * SWEEP_TEST_PAGE_DELAY_MS per page so runs outlast the interval. Probes always answer 200.
 * Logs "sweep runner ready" once scheduled; SIGTERM closes it and exits 0.
 */
import { loadConfig, readTextFile } from '../../config/load.ts';
import { systemClock } from '../../src/clock.ts';
import { createLogger } from '../../src/log.ts';
import { startDelivery } from '../../src/queue/delivery-runtime.ts';
import { StoreMailboxSource } from '../../src/sources/store-source.ts';
import { startSweep } from '../../src/sweep/sweep-runtime.ts';
import { SlowSource } from './slow-source.ts';

const config = loadConfig({ env: process.env, readFile: readTextFile });
const log = createLogger({ level: config.log.level });
const redisUrl = config.redis.url;
if (redisUrl === undefined) throw new Error('MWI_REDIS__URL is required');
const sender = {
  send: () => Promise.reject(new Error('this test process delivers nothing')),
  probe: () => Promise.resolve({ up: true, status: 200, reason: '200 OK', elapsedMs: 1 }),
  close: () => Promise.resolve(),
};
const delivery = await startDelivery({ config, log, clock: systemClock, redisUrl, sender, workers: false });
const source = new SlowSource(new StoreMailboxSource(delivery.store), Number(process.env.SWEEP_TEST_PAGE_DELAY_MS ?? '0'));
const sweep = await startSweep({ config, log, clock: systemClock, redisUrl, store: delivery.store, scheduler: delivery.scheduler, prober: sender, source });
log.info('sweep runner ready');

await new Promise<void>((resolve) => {
  process.once('SIGTERM', () => resolve());
  process.once('SIGINT', () => resolve());
});
await sweep.close(5_000);
await delivery.close(2_000);
log.info('sweep runner stopped');
process.exit(0);
