// A delivery worker process serves its own /metrics (delivery.metricsPort): a scaled-out fleet
// delivers in its workers, so their per-target counters must be scrapable, behind the viewer token.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { after, before, describe, it } from 'node:test';

import { pino } from 'pino';

import { loadConfig } from '../../config/load.ts';
import { systemClock } from '../../src/clock.ts';
import { startDelivery } from '../../src/queue/delivery-runtime.ts';
import { freePort } from '../harness/ports.ts';
import type { ManagedProcess } from '../harness/process.ts';
import { startRedis, type RedisHandle } from '../harness/redis.ts';
import { startSippUas, type SippUasHandle } from '../harness/sipp.ts';
import { spawnDeliveryWorker } from '../support/delivery-worker-process.ts';

const PREFIX = '{mwi-wmetrics}';
const VIEWER = 'viewer-token-for-worker-metrics';
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

describe('delivery worker metrics endpoint', { timeout: 60_000 }, () => {
  let redis: RedisHandle;
  let uas: SippUasHandle;
  before(async () => {
    [redis, uas] = await Promise.all([startRedis({ label: 'worker-metrics' }), startSippUas({ scenario: 'uas-200', transport: 'udp', countRequests: false, label: 'worker-metrics' })]);
  });
  after(async () => {
    await uas?.stop();
    await redis?.dispose();
  });

  it('serves per-target delivery counters to a viewer token only', async () => {
    const port = await freePort();
    const worker: ManagedProcess = await spawnDeliveryWorker('worker-metrics', {
      MWI_REDIS__URL: redis.url,
      MWI_REDIS__KEY_PREFIX: PREFIX,
      MWI_DELIVERY__METRICS_PORT: String(port),
      MWI_API__VIEWER_TOKEN: VIEWER,
    });
    const config = loadConfig({ env: {}, flags: { 'redis.keyPrefix': PREFIX, 'redis.url': redis.url }, readFile: (p) => readFileSync(p, 'utf8') });
    const noSender = { send: () => Promise.reject(new Error('a producer sends nothing')), probe: () => Promise.reject(new Error('no probes')), close: () => Promise.resolve() };
    const producer = await startDelivery({ config, log: pino({ level: 'silent' }), clock: systemClock, redisUrl: redis.url, sender: noSender, workers: false });
    try {
      const mailboxes = Array.from({ length: 20 }, (_, i) => `sip:${4000 + i}@mwi.test`);
      await producer.store.applyUpdates(mailboxes.map((mailbox) => ({ mailbox, route: { mode: 'publish', target: uas.uri }, summary: { counts: { 'voice-message': { new: 1, old: 0 } } }, version: 1 })));
      await producer.scheduler.schedule(mailboxes);
      for (let i = 0; (await producer.store.dirtyCount()) > 0; i++) {
        assert.ok(i < 500, 'delivered within 10 s');
        await sleep(20);
      }
      const url = `http://127.0.0.1:${port}/metrics`;
      assert.equal((await fetch(url)).status, 401);
      assert.equal((await fetch(url, { headers: { authorization: 'Bearer wrong' } })).status, 401);
      const res = await fetch(url, { headers: { authorization: `Bearer ${VIEWER}` } });
      assert.equal(res.status, 200);
      const text = await res.text();
      const sent = new RegExp(`^mwi_sip_requests_total\\{target="udp:127\\.0\\.0\\.1:${uas.port}"\\} (\\d+)$`, 'm').exec(text);
      assert.ok(sent, 'per-target request counter present');
      assert.ok(Number(sent[1]) >= 20, `requests counted: ${sent[1]}`);
      assert.match(text, new RegExp(`^mwi_rate_allowed_per_second\\{target="udp:127\\.0\\.0\\.1:${uas.port}"\\} \\d`, 'm'));
      assert.doesNotMatch(text, new RegExp(VIEWER));
      assert.deepEqual(await worker.stop(10_000), { code: 0, signal: null });
    } finally {
      await worker.kill9();
      await producer.close(2_000);
    }
  });
});
