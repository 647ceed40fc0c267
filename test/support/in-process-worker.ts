/**
 * A delivery worker inside the test process, wired as workers/delivery-worker.ts wires one (SIP
 * sender, protections on the shared Redis, delivery runtime), plus a producer handle (store +
 * scheduler) to feed it. For tests that need to look inside (DNS stats, the gate) or run
 * several variations quickly; the real worker process is tested elsewhere.
 */
import { readFileSync } from 'node:fs';

import { pino } from 'pino';

import { loadConfig } from '../../config/load.ts';
import type { Config } from '../../config/schema.ts';
import { systemClock } from '../../src/clock.ts';
import { createSipSender, type BuiltSender } from '../../src/delivery/create-sip-sender.ts';
import { startProtections, type Protections } from '../../src/delivery/start-protections.ts';
import { startDelivery } from '../../src/queue/delivery-runtime.ts';
import { storeKeys } from '../../src/store/keys.ts';
import { RedisPublicationStore } from '../../src/store/redis-publication-store.ts';
import { createStoreClient } from '../../src/store/store-client.ts';

export interface InProcessWorker {
  config: Config;
  built: BuiltSender;
  protections: Protections;
  runtime: Awaited<ReturnType<typeof startDelivery>>;
  close(): Promise<void>;
}

export async function startInProcessWorker(redisUrl: string, flags: Record<string, unknown>, opts: { logLevel?: string } = {}): Promise<InProcessWorker> {
  const config = loadConfig({ env: {}, flags: { 'redis.url': redisUrl, ...flags }, readFile: (p) => readFileSync(p, 'utf8') });
  const log = pino({ level: opts.logLevel ?? 'silent' });
  const redis = await createStoreClient({ url: redisUrl });
  const built = await createSipSender({ config, clock: systemClock, log, readFile: (p) => readFileSync(p), store: new RedisPublicationStore({ redis, keys: storeKeys(config.redis.keyPrefix) }) });
  const protections = await startProtections({ config, clock: systemClock, log, redis, sender: built.sender, dns: built.dns });
  const runtime = await startDelivery({ config, log, clock: systemClock, redisUrl, sender: protections.sender, paused: protections.paused });
  return {
    config,
    built,
    protections,
    runtime,
    close: async () => {
      await runtime.close(2_000);
      await protections.close();
      await built.sender.close();
      redis.disconnect();
    },
  };
}
