// `mwi sweep run [--dry-run]` and `mwi resync --mailbox | --all` as an operator runs them: real
// processes on a real redis-server (redis.url), output and exit codes.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';

import type { Redis } from 'ioredis';

import { storeKeys } from '../../src/store/keys.ts';
import { RedisMailboxStore } from '../../src/store/redis-mailbox-store.ts';
import { createStoreClient } from '../../src/store/store-client.ts';
import type { SweepRunRecord } from '../../src/sweep/run-records.ts';
import { startRedis, type RedisHandle } from '../harness/redis.ts';
import { runMwi } from '../support/run-mwi.ts';

const PREFIX = '{mwi-cli-sweep}';
const MAILBOXES = ['sip:1@cli.test', 'sip:2@cli.test', 'sip:3@cli.test'];

describe('mwi sweep / mwi resync', { timeout: 60_000 }, () => {
  let redis: RedisHandle;
  let raw: Redis;
  let env: Record<string, string>;
  const keys = storeKeys(PREFIX);

  before(async () => {
    redis = await startRedis({ label: 'cli-sweep' });
    raw = await createStoreClient({ url: redis.url });
    env = { MWI_REDIS__URL: redis.url, MWI_REDIS__KEY_PREFIX: PREFIX };
    const store = new RedisMailboxStore({ redis: raw, keys });
    // NOTIFY routes: phones are not probed, so the commands need no SIP peer.
    await store.applyUpdates(MAILBOXES.map((mailbox, i) => ({ mailbox, route: { mode: 'notify', contact: `sip:${i}@127.0.0.1:9` }, summary: { counts: { 'voice-message': { new: 1, old: 0 } } }, version: 1 })));
    await raw.del(keys.dirty());
  });
  after(async () => {
    raw?.disconnect();
    await redis?.dispose();
  });

  it('sweep run --dry-run lists what it would send and queues nothing', async () => {
    const r = await runMwi(['sweep', 'run', '--dry-run'], env);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /^completed \[dry run: nothing queued\]: scanned=3 changed=3 expiring=0 would-enqueue=3 skipped=0/m);
    for (const m of MAILBOXES) assert.match(r.stdout, new RegExp(`would send: ${m} -> sip:\\d@127.0.0.1:9 \\(differs\\)`));
    assert.equal(await raw.zcard(keys.dirty()), 0);
  });

  it('sweep run queues what differs and prints the run record with --json; a second run finds it queued', async () => {
    const r = await runMwi(['sweep', 'run', '--json'], env);
    assert.equal(r.code, 0, r.stderr);
    const record = JSON.parse(r.stdout) as SweepRunRecord;
    assert.equal(record.outcome, 'completed');
    assert.equal(record.counts.enqueued, 3);
    assert.equal(await raw.zcard(keys.dirty()), 3);
    const again = await runMwi(['sweep', 'run'], env);
    assert.match(again.stdout, /enqueued=0 skipped=3 \(pending=3\)/);
    assert.equal((await raw.lrange(keys.sweepRuns(), 0, -1)).length, 3, 'every run is in the log, the dry run too');
    await raw.del(keys.dirty());
  });

  it('sweep run while another run holds the lock: skipped, holder printed, exit 69', async () => {
    await raw.set(keys.sweepLock(), 'held-elsewhere', 'PX', 10_000);
    await raw.set(keys.sweepHolder(), JSON.stringify({ runId: 'r-1', host: 'other-host', pid: 99, mode: 'sweep', startedAt: Date.now() }), 'PX', 10_000);
    try {
      const r = await runMwi(['sweep', 'run'], env);
      assert.equal(r.code, 69, r.stderr);
      assert.match(r.stdout, /skipped: the sweep lock is held by other-host pid 99 \(run r-1, sweep/);
    } finally {
      await raw.del(keys.sweepLock(), keys.sweepHolder());
    }
  });

  it('resync --mailbox queues one mailbox now, keeps the turn of a queued one, and fails for an unknown one', async () => {
    const first = await runMwi(['resync', '--mailbox', 'sip:2@cli.test'], env);
    assert.equal(first.code, 0, first.stderr);
    assert.match(first.stdout, /^queued: sip:2@cli.test -> sip:1@127.0.0.1:9 version 1$/m);
    assert.deepEqual(await raw.zrange(keys.dirty(), '0', '-1'), ['sip:2@cli.test']);
    const again = await runMwi(['resync', '--mailbox', 'sip:2@cli.test'], env);
    assert.match(again.stdout, /already queued/);
    const unknown = await runMwi(['resync', '--mailbox', 'sip:nobody@cli.test'], env);
    assert.equal(unknown.code, 1);
    assert.match(unknown.stderr, /MWI_MAILBOX_NOT_FOUND/);
    await raw.del(keys.dirty());
  });

  it('resync --all queues every mailbox, as a recorded run; a bad command line exits 2', async () => {
    const r = await runMwi(['resync', '--all'], env);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /^completed: scanned=3 changed=0 expiring=0 enqueued=3/m);
    assert.equal(await raw.zcard(keys.dirty()), 3);
    const last = JSON.parse((await raw.lindex(keys.sweepRuns(), 0)) ?? '{}') as SweepRunRecord;
    assert.equal(last.mode, 'resync-all');
    assert.equal((await runMwi(['resync'], env)).code, 2);
    assert.equal((await runMwi(['resync', '--all', '--mailbox', 'sip:1@cli.test'], env)).code, 2);
    assert.equal((await runMwi(['sweep', 'run'], {})).code, 2, 'no redis.url');
  });
});
