/**
 * The HTTP API wired as in production (real RedisMailboxStore on the harness redis-server, real
 * IngestService) with a recording scheduler and a captured logger. Each instance has its own
 * key prefix, so several share one redis-server.
 */
import type { FastifyInstance } from 'fastify';
import type { Redis } from 'ioredis';

import { configSchema, type Config } from '../../config/schema.ts';
import { buildApi } from '../../src/api/server.ts';
import { IngestService, type MailboxUpdateSink } from '../../src/ingest/ingest-service.ts';
import { storeKeys } from '../../src/store/keys.ts';
import { RedisMailboxStore } from '../../src/store/redis-mailbox-store.ts';
import { RecordingScheduler, captureLog, type CapturedLog } from './ingest-fakes.ts';

export interface ApiUnderTest {
  app: FastifyInstance;
  config: Config;
  store: RedisMailboxStore;
  scheduler: RecordingScheduler;
  logs: CapturedLog;
  /** Keys under this instance's prefix. */
  keyCount(): Promise<number>;
  /** applyUpdates calls that reached the store. */
  storeCalls(): number;
}

let seq = 0;

export function apiUnderTest(redis: Redis, settings: Record<string, unknown> = {}): ApiUnderTest {
  const prefix = `{api-${process.pid}-${++seq}}`;
  const config = configSchema.parse({ log: { level: 'trace' }, ...settings, api: { port: 0, ...((settings.api as object | undefined) ?? {}) } });
  const keys = storeKeys(prefix);
  const store = new RedisMailboxStore({ redis, keys, maxBatchUpdates: config.api.maxBatchUpdates });
  const scheduler = new RecordingScheduler();
  const logs = captureLog('trace');
  let calls = 0;
  const counted: MailboxUpdateSink = {
    applyUpdates: (updates) => {
      calls++;
      return store.applyUpdates(updates);
    },
  };
  const ingest = new IngestService({
    store: counted,
    scheduler,
    log: logs.log,
    maxBatchUpdates: config.api.maxBatchUpdates,
    defaultPublishTarget: config.targets.defaultPublishTarget,
  });
  const app = buildApi({ config, log: logs.log, ingest, store });
  return {
    app,
    config,
    store,
    scheduler,
    logs,
    storeCalls: () => calls,
    async keyCount() {
      let cursor = '0';
      let n = 0;
      do {
        const [next, found] = await redis.scan(cursor, 'MATCH', `${prefix}*`, 'COUNT', 1000);
        cursor = next;
        n += found.length;
      } while (cursor !== '0');
      return n;
    },
  };
}
