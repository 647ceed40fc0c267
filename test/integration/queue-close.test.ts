// Closing the delivery runtime while Redis is away: every connection it opened must end, including
// those waiting out the outage (their QUIT is refused at once), or their reconnect timers keep
// reconnecting and keep the process alive after shutdown.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { describe, it } from 'node:test';

import { Redis } from 'ioredis';
import pino from 'pino';

import { loadConfig } from '../../config/load.ts';
import { systemClock } from '../../src/clock.ts';
import { startDelivery } from '../../src/queue/delivery-runtime.ts';
import { startRedis } from '../harness/redis.ts';

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

describe('delivery runtime: close during a Redis outage', { timeout: 60_000 }, () => {
  it('ends every connection, also those waiting to reconnect: none comes back when Redis does', async () => {
    const redis = await startRedis({ label: 'queue-close' });
    try {
      const config = loadConfig({ env: {}, flags: { 'redis.url': redis.url }, readFile: (p) => readFileSync(p, 'utf8') });
      const noSender = { send: () => Promise.reject(new Error('nothing to send')), probe: () => Promise.reject(new Error('no probes')), close: () => Promise.resolve() };
      const runtime = await startDelivery({ config, log: pino({ level: 'silent' }), clock: systemClock, redisUrl: redis.url, sender: noSender });
      await redis.kill9();
      await sleep(300); // every connection of the runtime is now waiting to reconnect
      await runtime.close(2_000);
      await redis.restart();
      await sleep(3_000); // longer than the longest reconnect delay (RECONNECT_MAX_MS, 2 s)
      const admin = new Redis(redis.url);
      try {
        const others = String(await admin.client('LIST'))
          .trim()
          .split('\n')
          .filter((line) => !line.includes('cmd=client|list'));
        assert.deepEqual(others, [], 'connections of the closed runtime came back');
      } finally {
        admin.disconnect();
      }
    } finally {
      await redis.dispose();
    }
  });
});
