// The sweep over an external source, wired from config (sweep.source "spool": an Asterisk
// voicemail spool in a temp dir) against a real redis-server: counts that differ become the
// desired state (stored route kept; unknown mailboxes go to the default target), equal counts
// change nothing, a PBX push stamped during or after the read wins over the sweep's version, and
// an unreadable spool aborts the run without marking anything.
import assert from 'node:assert/strict';
import fsp from 'node:fs/promises';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';

import type { Redis } from 'ioredis';
import { pino } from 'pino';

import { loadConfig } from '../../config/load.ts';
import { systemClock } from '../../src/clock.ts';
import type { MessageSummary } from '../../src/mwi/message-summary.ts';
import { startDelivery } from '../../src/queue/delivery-runtime.ts';
import { storeKeys } from '../../src/store/keys.ts';
import { createStoreClient } from '../../src/store/store-client.ts';
import { startSweep } from '../../src/sweep/sweep-runtime.ts';
import { makeWorkDir } from '../harness/process.ts';
import { startRedis, type RedisHandle } from '../harness/redis.ts';
import { leasedNames } from '../support/leased.ts';

const log = pino({ level: 'silent' });
const DEFAULT_TARGET = 'sip:127.0.0.1:5999';
const prober = {
  send: () => Promise.reject(new Error('no sends')),
  probe: () => Promise.resolve({ up: true, status: 200, reason: '200 OK', elapsedMs: 1 }),
  close: () => Promise.resolve(),
};

async function spoolMailbox(root: string, mailbox: string, inbox: number, old: number): Promise<void> {
  for (const [folder, n] of [['INBOX', inbox], ['Old', old]] as const) {
    const dir = path.join(root, 'default', mailbox, folder);
    await fsp.mkdir(dir, { recursive: true });
    for (let i = 0; i < n; i++) await fsp.writeFile(path.join(dir, `msg${String(i).padStart(4, '0')}.txt`), '[message]\n');
  }
}

const counts = (n: number, o: number): MessageSummary => ({ counts: { 'voice-message': { new: n, old: o } } });

describe('sweep: the Asterisk spool as source', { timeout: 30_000 }, () => {
  let redis: RedisHandle;
  let raw: Redis;
  let root: string;
  let n = 0;

  before(async () => {
    redis = await startRedis({ label: 'sweep-spool' });
    raw = await createStoreClient({ url: redis.url });
    root = await makeWorkDir('spool');
    await spoolMailbox(root, '1000', 2, 1);
    await spoolMailbox(root, '1001', 0, 4);
    await spoolMailbox(root, '1002', 1, 0);
  });
  after(async () => {
    raw?.disconnect();
    await redis?.dispose();
    if (root) await fsp.rm(root, { recursive: true, force: true });
  });

  async function setup(spoolRoot: string) {
    const prefix = `{sweep-spool-${++n}}`;
    const config = loadConfig({
      env: {},
      flags: {
        'redis.url': redis.url,
        'redis.keyPrefix': prefix,
        'sweep.source': 'spool',
        'sweep.spool.root': spoolRoot,
        'sweep.spool.mailboxUriTemplate': 'sip:{mailbox}@{context}.pbx.test',
        'targets.defaultPublishTarget': DEFAULT_TARGET,
      },
      readFile: () => '',
    });
    const delivery = await startDelivery({ config, log, clock: systemClock, redisUrl: redis.url, sender: prober, workers: false });
    const sweep = await startSweep({ config, log, clock: systemClock, redisUrl: redis.url, store: delivery.store, scheduler: delivery.scheduler, prober, schedule: false });
    const phone = { mode: 'notify' as const, contact: 'sip:1000@127.0.0.1:5062' };
    await delivery.store.applyUpdates([
      { mailbox: 'sip:1000@default.pbx.test', route: phone, summary: counts(0, 0), version: 1 },
      { mailbox: 'sip:1001@default.pbx.test', route: phone, summary: counts(0, 4), version: 1 },
    ]);
    // Both delivered: clean, so only the spool's counts can make them need anything.
    await leasedNames(delivery.store, 10, 60_000);
    for (const [m, summary] of [['sip:1000@default.pbx.test', counts(0, 0)], ['sip:1001@default.pbx.test', counts(0, 4)]] as const) {
      const now = Date.now();
      await delivery.store.recordDelivered(m, 1, summary, { kind: 'delivered', reason: '200 OK', cause: 'response', requests: 1, startedAt: now, elapsedMs: 1 });
    }
    const close = async () => {
      await sweep.close(2_000);
      await delivery.close(2_000);
    };
    return { sweep, store: delivery.store, keys: storeKeys(prefix), phone, close };
  }

  it('makes differing spool counts the desired state, stamped with the read time, and leaves a newer push alone', async () => {
    const s = await setup(root);
    try {
      const before = Date.now();
      const record = await s.sweep.runNow();
      assert.equal(record.outcome, 'completed', JSON.stringify(record.aborted));
      assert.match(record.source, /^spool/);
      assert.deepEqual([record.counts.scanned, record.counts.changed, record.counts.enqueued], [3, 2, 2]);
      const m1000 = await s.store.get('sip:1000@default.pbx.test');
      assert.deepEqual(m1000?.desired?.summary.counts['voice-message'], { new: 2, old: 1, urgentNew: 0 });
      assert.deepEqual(m1000?.desired?.route, s.phone, 'the stored route is kept');
      assert.ok((m1000?.desired?.version ?? 0) >= before && (m1000?.desired?.version ?? 0) <= Date.now());
      assert.equal((await s.store.get('sip:1001@default.pbx.test'))?.desired?.version, 1, 'same counts: untouched');
      assert.deepEqual((await s.store.get('sip:1002@default.pbx.test'))?.desired?.route, { mode: 'publish', target: DEFAULT_TARGET });
      assert.deepEqual((await raw.zrange(s.keys.dirty(), '0', '-1')).sort(), ['sip:1000@default.pbx.test', 'sip:1002@default.pbx.test']);

      // The PBX pushes newer news for 1000 (stamped after any sweep read so far); the spool still says 2/1.
      await s.store.applyUpdates([{ mailbox: 'sip:1000@default.pbx.test', route: s.phone, summary: counts(7, 1), version: Date.now() + 60_000 }]);
      const again = await s.sweep.runNow();
      assert.equal(again.counts.stale, 1);
      assert.deepEqual((await s.store.get('sip:1000@default.pbx.test'))?.desired?.summary, counts(7, 1));
    } finally {
      await s.close();
    }
  });

  it('an unreadable spool aborts the run and marks nothing', async () => {
    const s = await setup(path.join(root, 'no-such-dir'));
    try {
      const record = await s.sweep.runNow();
      assert.equal(record.outcome, 'aborted');
      assert.equal(record.aborted?.reason, 'source-unavailable');
      assert.equal(await raw.zcard(s.keys.dirty()), 0);
    } finally {
      await s.close();
    }
  });
});
