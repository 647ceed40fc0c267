// The sweep's health checks against real presence servers: a Kamailio that hangs (SIGSTOP, as
// the incident's presence server did) beside a healthy SIPp UAS. The run probes each server with
// SIP OPTIONS before queueing anything for it and again during the run; a server that fails is
// left out of the run with the reason recorded, the other proceeds. After recovery nothing is
// replayed: the next run queues each mailbox of the recovered server once, like any other.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { after, before, describe, it } from 'node:test';

import type { Redis } from 'ioredis';
import { pino } from 'pino';

import { loadConfig } from '../../config/load.ts';
import { systemClock } from '../../src/clock.ts';
import { startDelivery } from '../../src/queue/delivery-runtime.ts';
import { StoreMailboxSource } from '../../src/sources/store-source.ts';
import { storeKeys } from '../../src/store/keys.ts';
import { createStoreClient } from '../../src/store/store-client.ts';
import { startSweep } from '../../src/sweep/sweep-runtime.ts';
import { startKamailio, type KamailioHandle } from '../harness/kamailio.ts';
import { startRedis, type RedisHandle } from '../harness/redis.ts';
import { startSippUas, type SippUasHandle } from '../harness/sipp.ts';
import { testSender } from '../support/sender.ts';
import { SlowSource } from '../support/slow-source.ts';

const log = pino({ level: 'silent' });
const readFile = (p: string) => readFileSync(p, 'utf8');

describe('sweep: presence server health', { timeout: 60_000 }, () => {
  let redis: RedisHandle;
  let kam: KamailioHandle;
  let uas: SippUasHandle;
  let raw: Redis;
  let n = 0;

  before(async () => {
    [redis, kam, uas] = await Promise.all([
      startRedis({ label: 'sweep-targets' }),
      startKamailio({ storage: 'memory', label: 'sweep-targets' }),
      startSippUas({ scenario: 'uas-200', transport: 'udp', label: 'sweep-targets' }),
    ]);
    raw = await createStoreClient({ url: redis.url });
  });
  after(async () => {
    kam?.resume();
    raw?.disconnect();
    await kam?.stop();
    await uas?.stop();
    await redis?.dispose();
  });

  /** A producer-side runtime (no delivery workers: "enqueued" is "marked dirty"), a real SIP sender for the probes, the sweep without schedule. */
  async function setup(opts: { pageDelayMs?: number; probeEveryMs?: number } = {}) {
    const prefix = `{sweep-targets-${++n}}`;
    const config = loadConfig({
      env: {},
      flags: { 'redis.url': redis.url, 'redis.keyPrefix': prefix, 'sweep.pageSize': 10, 'sweep.probeEveryMs': opts.probeEveryMs ?? 10_000, 'sip.transactionTimeoutMs': 1_000 },
      readFile,
    });
    const built = await testSender({ 'sip.transactionTimeoutMs': 1_000 });
    const delivery = await startDelivery({ config, log, clock: systemClock, redisUrl: redis.url, sender: built.sender, workers: false });
    const source = new SlowSource(new StoreMailboxSource(delivery.store), opts.pageDelayMs ?? 0);
    const sweep = await startSweep({ config, log, clock: systemClock, redisUrl: redis.url, store: delivery.store, scheduler: delivery.scheduler, prober: built.sender, source, schedule: false });
    const keys = storeKeys(prefix);
    // 30 mailboxes on each server, interleaved in the index order, every one with an undelivered state and no dirty mark.
    const onKam = Array.from({ length: 30 }, (_, i) => `sip:${1000 + 2 * i}@targets.test`);
    const onUas = Array.from({ length: 30 }, (_, i) => `sip:${1001 + 2 * i}@targets.test`);
    const summary = { counts: { 'voice-message': { new: 1, old: 0 } } };
    await delivery.store.applyUpdates([
      ...onKam.map((mailbox) => ({ mailbox, route: { mode: 'publish' as const, target: kam.udpUri }, summary, version: 1 })),
      ...onUas.map((mailbox) => ({ mailbox, route: { mode: 'publish' as const, target: uas.uri }, summary, version: 1 })),
    ]);
    await raw.del(keys.dirty());
    const dirty = async (): Promise<Set<string>> => new Set(await raw.zrange(keys.dirty(), '0', '-1'));
    const close = async (): Promise<void> => {
      await sweep.close(2_000);
      await delivery.close(2_000);
      await built.sender.close();
    };
    return { sweep, source, onKam, onUas, dirty, keys, close };
  }

  it('a hung presence server: the run queues nothing for it and records why, the healthy one proceeds; after recovery each of its mailboxes is queued once', async (t) => {
    const s = await setup();
    try {
      kam.pause();
      let first;
      try {
        first = await s.sweep.runNow();
      } finally {
        kam.resume();
      }
      assert.equal(first.outcome, 'completed');
      const afterFirst = await s.dirty();
      assert.deepEqual(s.onKam.filter((m) => afterFirst.has(m)), [], 'nothing queued for the hung server');
      assert.deepEqual(s.onUas.filter((m) => !afterFirst.has(m)), [], 'every mailbox of the healthy server queued');
      assert.equal(first.counts.enqueued, 30);
      assert.equal(first.counts.skippedBy['target-down'], 30);
      const down = first.targets.find((x) => x.target === kam.udpUri);
      assert.deepEqual([down?.up, down?.skipped], [false, 30]);
      assert.match(down?.reason ?? '', /OPTIONS probe failed: no answer/);
      assert.equal(first.targets.find((x) => x.target === uas.uri)?.up, true);

      const second = await s.sweep.runNow();
      const afterSecond = await s.dirty();
      assert.equal(second.counts.enqueued, 30, 'the recovered server gets each of its mailboxes once: no backlog was kept to replay');
      assert.equal(second.counts.skippedBy.pending, 30, 'the healthy server\'s mailboxes are already queued');
      assert.equal(afterSecond.size, 60);
      assert.ok(second.targets.every((x) => x.up));
      t.diagnostic(`hung Kamailio: run 1 queued ${first.counts.enqueued} (SIPp only) and left ${down?.skipped} out ("${down?.reason}") in ${first.endedAt - first.startedAt} ms; after SIGCONT run 2 queued ${second.counts.enqueued}`);
    } finally {
      kam.resume();
      await s.close();
    }
  });

  it('a presence server that hangs during the run: the re-probe takes it out, later pages queue nothing for it', async (t) => {
    // 6 pages of 10, 150 ms apart; probes every 300 ms; Kamailio stopped after about 2 pages.
    const s = await setup({ pageDelayMs: 150, probeEveryMs: 300 });
    try {
      const running = s.sweep.runNow();
      await new Promise((resolve) => setTimeout(resolve, 330));
      kam.pause();
      let record;
      try {
        record = await running;
      } finally {
        kam.resume();
      }
      const dirty = await s.dirty();
      const kamQueued = s.onKam.filter((m) => dirty.has(m));
      assert.ok(kamQueued.length > 0 && kamQueued.length < 30, `${kamQueued.length} of Kamailio's mailboxes queued before it failed its probe`);
      assert.deepEqual(kamQueued, s.onKam.slice(0, kamQueued.length), 'only those before the failed probe (index order)');
      assert.deepEqual(s.onUas.filter((m) => !dirty.has(m)), [], 'the healthy server got every mailbox');
      const down = record.targets.find((x) => x.target === kam.udpUri);
      assert.equal(down?.up, false);
      assert.equal(down?.skipped, 30 - kamQueued.length);
      assert.ok((down?.downAt ?? 0) > 0);
      t.diagnostic(`Kamailio stopped about 2 pages into the run: ${kamQueued.length} of its mailboxes were queued before the re-probe failed, ${down?.skipped} left out`);
    } finally {
      kam.resume();
      await s.close();
    }
  });
});
