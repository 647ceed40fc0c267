// Refresh before expiry, for real: a Kamailio that grants only 10 s (max_expires), two groups of
// mailboxes published 3 s apart, and a sweep with a 7 s refresh margin run when only the first
// group's publications lapse within the margin. Exactly that group is published again (a modify
// on its ETag: one presentity each, later expiry); the other is left alone.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { after, before, describe, it } from 'node:test';

import type { Redis } from 'ioredis';
import { pino } from 'pino';

import { loadConfig } from '../../config/load.ts';
import { systemClock } from '../../src/clock.ts';
import { startDelivery } from '../../src/queue/delivery-runtime.ts';
import { storeKeys } from '../../src/store/keys.ts';
import { RedisPublicationStore } from '../../src/store/redis-publication-store.ts';
import { createStoreClient } from '../../src/store/store-client.ts';
import { startSweep } from '../../src/sweep/sweep-runtime.ts';
import { startKamailio, type KamailioHandle } from '../harness/kamailio.ts';
import { startRedis, type RedisHandle } from '../harness/redis.ts';
import { CountingSender } from '../support/counting-sender.ts';
import { testSender } from '../support/sender.ts';

const log = pino({ level: 'silent' });
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
const GRANTED_SEC = 10;
const MARGIN_SEC = 7;
const SAFETY_MS = 300;

describe('sweep: refresh before expiry', { timeout: 60_000 }, () => {
  let redis: RedisHandle;
  let kam: KamailioHandle;
  let publicationsRedis: Redis;

  before(async () => {
    [redis, kam] = await Promise.all([startRedis({ label: 'sweep-refresh' }), startKamailio({ storage: 'memory', maxExpiresSec: GRANTED_SEC, label: 'sweep-refresh' })]);
    publicationsRedis = await createStoreClient({ url: redis.url });
  });
  after(async () => {
    publicationsRedis?.disconnect();
    await kam?.stop();
    await redis?.dispose();
  });

  it('re-publishes exactly the mailboxes whose publication lapses within the margin', async (t) => {
    const prefix = '{sweep-refresh}';
    const config = loadConfig({
      env: {},
      flags: { 'redis.url': redis.url, 'redis.keyPrefix': prefix, 'sweep.refreshMarginSec': MARGIN_SEC, 'delivery.leaseMs': 5_000 },
      readFile: (p) => readFileSync(p, 'utf8'),
    });
    const built = await testSender({}, new RedisPublicationStore({ redis: publicationsRedis, keys: storeKeys(prefix) }));
    const sender = new CountingSender(built.sender);
    const delivery = await startDelivery({ config, log, clock: systemClock, redisUrl: redis.url, sender });
    const sweep = await startSweep({ config, log, clock: systemClock, redisUrl: redis.url, store: delivery.store, scheduler: delivery.scheduler, prober: sender, schedule: false });
    try {
      const route = { mode: 'publish' as const, target: kam.udpUri };
      const summary = { counts: { 'voice-message': { new: 2, old: 1 } } };
      const early = Array.from({ length: 10 }, (_, i) => `sip:${5000 + i}@refresh.test`);
      const late = Array.from({ length: 10 }, (_, i) => `sip:${6000 + i}@refresh.test`);
      const publish = async (mailboxes: string[]) => {
        await delivery.store.applyUpdates(mailboxes.map((mailbox) => ({ mailbox, route, summary, version: 1 })));
        await delivery.scheduler.schedule(mailboxes);
        while ((await delivery.store.dirtyCount()) > 0) await sleep(20);
      };
      const expiries = async (mailboxes: string[]) => Promise.all(mailboxes.map(async (m) => (await delivery.store.get(m))?.expiresAt ?? Number.NaN));

      await publish(early);
      await sleep(3_000);
      await publish(late);
      const earlyBefore = await expiries(early);
      const lateBefore = await expiries(late);
      assert.ok(earlyBefore.every((e) => Number.isFinite(e)) && lateBefore.every((e) => Number.isFinite(e)), 'every mailbox published with an expiry');
      // Run when every early publication lapses within the margin and no late one does.
      const from = Math.max(...earlyBefore) - MARGIN_SEC * 1_000 + SAFETY_MS;
      if (Date.now() < from) await sleep(from - Date.now());
      assert.ok(Date.now() < Math.min(...lateBefore) - MARGIN_SEC * 1_000 - SAFETY_MS, 'still before the late group enters the margin');
      const sendsBefore = sender.sends.length;

      const record = await sweep.runNow();
      assert.equal(record.outcome, 'completed');
      assert.equal(record.counts.expiring, 10);
      assert.equal(record.counts.enqueued, 10);
      assert.equal(record.counts.changed, 0);
      while ((await delivery.store.dirtyCount()) > 0) await sleep(20);

      const resent = sender.sends.slice(sendsBefore).map((s) => s.mailbox).sort();
      assert.deepEqual(resent, early, 'exactly the early group was published again');
      const earlyAfter = await expiries(early);
      earlyAfter.forEach((e, i) => assert.ok(e > (earlyBefore[i] ?? Infinity), `${early[i]}: expiry moved on`));
      assert.deepEqual(await expiries(late), lateBefore, 'the late group untouched');
      const rows = (await kam.presentities()).filter((r) => r.event === 'message-summary');
      for (const m of early) assert.equal(rows.filter((r) => `sip:${r.username}@${r.domain}` === m).length, 1, `${m}: refreshed by a modify, not a second initial PUBLISH`);
      t.diagnostic(`Kamailio granted ${GRANTED_SEC} s; the sweep (margin ${MARGIN_SEC} s) re-published ${resent.length} of 20 mailboxes: those published 3 s earlier`);
    } finally {
      await sweep.close(2_000);
      await delivery.close(2_000);
      await built.sender.close();
    }
  });
});
