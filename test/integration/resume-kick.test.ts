// `mwi start` under a global operator pause: an update waits, and the resume itself starts its
// delivery. The periodic kick is removed first, so nothing else could start it: the test fails
// if the resume does not kick the drains (before it, the backlog waited for the next periodic kick).
import assert from 'node:assert/strict';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';

import { Queue } from 'bullmq';
import type { Redis } from 'ioredis';

import { systemClock } from '../../src/clock.ts';
import { RedisControlPlane } from '../../src/control/redis-control-plane.ts';
import { startPresenceSimulator, type PresenceSimulator } from '../../src/demo/presence-simulator.ts';
import { BullDeliveryScheduler } from '../../src/queue/bull-scheduler.ts';
import { DELIVER_QUEUE, KICK_SCHEDULER_ID } from '../../src/queue/drain-queue.ts';
import { DEFAULT_KEY_PREFIX, storeKeys } from '../../src/store/keys.ts';
import { RedisMailboxStore } from '../../src/store/redis-mailbox-store.ts';
import { createStoreClient } from '../../src/store/store-client.ts';
import { startRedis, type RedisHandle } from '../harness/redis.ts';
import { REPO_ROOT, spawnManaged, type ManagedProcess } from '../harness/process.ts';

const BIN = path.join(REPO_ROOT, 'bin', 'mwi.ts');
const MAILBOX = 'sip:resume@pbx.test';
const quiet = { debug: () => {}, info: () => {}, warn: () => {} };

async function until(what: string, timeoutMs: number, check: () => boolean): Promise<number> {
  const started = Date.now();
  while (!check()) {
    if (Date.now() - started > timeoutMs) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
  return Date.now() - started;
}

describe('a global resume kicks the drains', { timeout: 60_000 }, () => {
  let redis: RedisHandle;
  let sim: PresenceSimulator;
  let runner: ManagedProcess | undefined;
  let client: Redis;
  let control: RedisControlPlane;
  let queue: Queue;
  let queueConnection: Redis | undefined;

  before(async () => {
    redis = await startRedis({ label: 'resume-kick' });
    sim = await startPresenceSimulator();
    const env: NodeJS.ProcessEnv = {};
    for (const [k, v] of Object.entries(process.env)) if (!k.startsWith('MWI_')) env[k] = v;
    runner = await spawnManaged({
      name: 'mwi-start',
      label: 'resume-kick',
      command: process.execPath,
      debPackages: 'nodejs',
      args: [BIN, 'start'],
      cwd: REPO_ROOT,
      env: { ...env, MWI_REDIS__URL: redis.url, MWI_TARGETS__DEFAULT_PUBLISH_TARGET: sim.uri, MWI_API__PORT: '0', MWI_API__PRODUCER_TOKEN: 'resume-kick-token', MWI_SWEEP__ENABLED: 'false' },
      ready: async (p) => (await p.logText()).includes('mwi-runner started'),
      readyTimeoutMs: 20_000,
    });
    client = await createStoreClient({ url: redis.url });
    control = new RedisControlPlane({ redis: client, redisUrl: redis.url, keys: storeKeys(DEFAULT_KEY_PREFIX), clock: systemClock, log: quiet });
    queueConnection = client.duplicate({ maxRetriesPerRequest: null });
    queue = new Queue(DELIVER_QUEUE, { connection: queueConnection, prefix: DEFAULT_KEY_PREFIX });
  });

  after(async () => {
    await runner?.stop(5_000);
    await queue?.close();
    await queueConnection?.quit();
    await control?.close();
    await client?.quit();
    await sim?.close();
    await redis?.dispose();
  });

  it('an update accepted while paused is delivered right after the resume, with no periodic kick left to start it', async () => {
    await control.pause('global', 'alice', 'maintenance');
    assert.equal(await queue.removeJobScheduler(KICK_SCHEDULER_ID), true, 'the runner upserted the periodic kick');
    // The runner's own control plane hears the pause over pub/sub; give it a moment.
    await new Promise((resolve) => setTimeout(resolve, 500));
    const store = new RedisMailboxStore({ redis: client });
    await store.applyUpdates([{ mailbox: MAILBOX, route: { mode: 'publish', target: sim.uri }, summary: { counts: { 'voice-message': { new: 3, old: 1 } } }, version: 1 }]);
    await new BullDeliveryScheduler({ queue, clock: systemClock, batchSize: 500 }).schedule([MAILBOX]);
    await new Promise((resolve) => setTimeout(resolve, 1_500));
    assert.equal(sim.publication(MAILBOX), undefined, 'nothing is delivered while paused');
    assert.equal(await store.dirtyCount(), 1);

    await control.resume('global', 'alice', 'maintenance done');
    const ms = await until(`${MAILBOX} delivered after the resume`, 10_000, () => sim.publication(MAILBOX) !== undefined);
    assert.match(sim.publication(MAILBOX)?.body ?? '', /Voice-Message: 3\/1/);
    assert.ok(ms < 5_000, `delivered ${ms} ms after the resume`);
  });
});
