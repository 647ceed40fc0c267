// Crash recovery of the delivery queue, with real processes: a worker process (workers/
// delivery-worker.ts) kill -9'd in the middle of deliveries and a second one taking over; and
// Redis itself killed (kill -9) and restarted under load. Redis runs with appendonly yes and
// appendfsync everysec: Redis writes the AOF before it replies, so every acknowledged write is in
// the kernel's page cache and survives a crash of the redis-server process (everysec only risks
// the last second if the whole machine goes down).
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';

import type { Redis } from 'ioredis';
import { pino } from 'pino';

import { loadConfig } from '../../config/load.ts';
import { systemClock } from '../../src/clock.ts';
import { ErrorCodes, isMwiError } from '../../src/errors.ts';
import { encodeMessageSummary, type MessageSummary } from '../../src/mwi/message-summary.ts';
import { startDelivery } from '../../src/queue/delivery-runtime.ts';
import { storeKeys } from '../../src/store/keys.ts';
import type { MailboxUpdate } from '../../src/store/mailbox-state.ts';
import { RedisPublicationStore } from '../../src/store/redis-publication-store.ts';
import { createStoreClient } from '../../src/store/store-client.ts';
import { startKamailio, type KamailioHandle, type Presentity } from '../harness/kamailio.ts';
import { REPO_ROOT, logMatches, spawnManaged, type ManagedProcess } from '../harness/process.ts';
import { startRedis, type RedisHandle } from '../harness/redis.ts';
import { CountingSender } from '../support/counting-sender.ts';
import { prng } from '../support/prng.ts';
import { testSender } from '../support/sender.ts';
import { sleep, waitFor } from '../support/wait-for.ts';

const readFile = (p: string) => readFileSync(p, 'utf8');

function summaryOf(version: number): MessageSummary {
  return { counts: { 'voice-message': { new: version, old: 1 } } };
}

/** Per mailbox, the presentity of our own publication (its ETag is what the store recorded); others are leftovers. */
function rowsByUser(rows: Presentity[]): Map<string, Presentity[]> {
  const by = new Map<string, Presentity[]>();
  for (const r of rows) if (r.event === 'message-summary') by.set(r.username, [...(by.get(r.username) ?? []), r]);
  return by;
}

function userOf(mailbox: string): string {
  return mailbox.slice(4, mailbox.indexOf('@'));
}

function workerEnv(redisUrl: string, prefix: string, extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('MWI_')));
  return {
    ...env,
    MWI_REDIS__URL: redisUrl,
    MWI_REDIS__KEY_PREFIX: prefix,
    MWI_DELIVERY__LEASE_MS: '1000',
    MWI_DELIVERY__CONCURRENCY: '50',
    MWI_DELIVERY__BATCH_SIZE: '100',
    MWI_DELIVERY__SHUTDOWN_DEADLINE_MS: '3000',
    MWI_SIP__TRANSACTION_TIMEOUT_MS: '2000',
    MWI_LOG__LEVEL: 'info',
    ...extra,
  };
}

/** A producer-only delivery runtime (store + scheduler), as the API process runs it. */
function startProducer(redisUrl: string, prefix: string) {
  const config = loadConfig({ env: {}, flags: { 'redis.keyPrefix': prefix, 'redis.url': redisUrl }, readFile });
  const noSender = { send: () => Promise.reject(new Error('a producer sends nothing')), probe: () => Promise.reject(new Error('no probes')), close: () => Promise.resolve() };
  return startDelivery({ config, log: pino({ level: 'silent' }), clock: systemClock, redisUrl, sender: noSender, workers: false });
}

describe('delivery queue: crashes', { timeout: 90_000 }, () => {
  let redis: RedisHandle;
  let kam: KamailioHandle;

  const spawnDeliveryWorker = (label: string, prefix: string, extraEnv: Record<string, string> = {}): Promise<ManagedProcess> =>
    spawnManaged({
      name: 'delivery-worker',
      label,
      command: process.execPath,
      args: [path.join(REPO_ROOT, 'workers', 'delivery-worker.ts')],
      cwd: REPO_ROOT,
      env: workerEnv(redis.url, prefix, extraEnv),
      debPackages: 'nodejs',
      readyTimeoutMs: 15_000,
      ready: logMatches(/"msg":"delivery worker started"/),
    });

  before(async () => {
    [redis, kam] = await Promise.all([
      startRedis({ appendonly: true, appendfsync: 'everysec', label: 'queue-crash' }),
      startKamailio({ storage: 'sqlite', label: 'queue-crash' }),
    ]);
  });
  after(async () => {
    await kam?.stop();
    await redis?.dispose();
  });

  it('a worker process kill -9\'d mid-delivery: a second worker brings every mailbox to its latest state', async (t) => {
    const prefix = '{mwi-crash}';
    const spawnWorker = (label: string) => spawnDeliveryWorker(label, prefix);

    const producer = await startProducer(redis.url, prefix);
    let workerA: ManagedProcess | undefined;
    let workerB: ManagedProcess | undefined;
    try {
      const route = { mode: 'publish' as const, target: kam.udpUri };
      const mailboxes = Array.from({ length: 2_000 }, (_, i) => `sip:${20_000 + i}@mwi.test`);
      const latest = new Map<string, number>();
      const apply = async (updates: MailboxUpdate[]) => {
        for (let i = 0; i < updates.length; i += 500) {
          const batch = updates.slice(i, i + 500);
          await producer.store.applyUpdates(batch);
          for (const u of batch) latest.set(u.mailbox, Math.max(latest.get(u.mailbox) ?? 0, u.version));
          await producer.scheduler.schedule(batch.map((u) => u.mailbox));
        }
      };

      workerA = await spawnWorker('crash-a');
      await apply(mailboxes.map((mailbox) => ({ mailbox, route, summary: summaryOf(1), version: 1 })));
      await waitFor('30% delivered', 20_000, async () => (await producer.store.dirtyCount()) <= 1_400);
      await workerA.kill9();
      const dirtyAtKill = await producer.store.dirtyCount();
      const leasedAtKill = dirtyAtKill - (await producer.store.dueCount());
      assert.ok(leasedAtKill > 0 && dirtyAtKill > 0, 'A died with deliveries in flight');

      // More news while no worker runs: half the mailboxes move on to version 2.
      const random = prng(7);
      await apply(mailboxes.filter(() => random() < 0.5).map((mailbox) => ({ mailbox, route, summary: summaryOf(2), version: 2 })));

      const start = performance.now();
      workerB = await spawnWorker('crash-b');
      await waitFor('all delivered by the second worker', 30_000, async () => (await producer.store.dirtyCount()) === 0);
      const recoveryMs = performance.now() - start;

      const by = rowsByUser(await kam.presentities());
      let leftovers = 0;
      for (const mailbox of mailboxes) {
        const record = await producer.store.get(mailbox);
        const want = latest.get(mailbox) ?? 0;
        assert.equal(record?.delivered?.version, want, mailbox);
        const rows = by.get(userOf(mailbox)) ?? [];
        const ours = rows.find((r) => r.etag === record.etag);
        assert.equal(ours?.body, encodeMessageSummary({ ...summaryOf(want), account: mailbox }), `${mailbox}: ${rows.length} rows`);
        leftovers += rows.length - 1;
      }
      t.diagnostic(
        `killed worker A with ${dirtyAtKill} of 2000 mailboxes not yet delivered (${leasedAtKill} of them leased by A); worker B (started ${Math.round(recoveryMs)} ms before the dirty set emptied) finished the rest; ` +
          `${leftovers} leftover presentities (PUBLISHes A had in flight reached Kamailio, so B's next PUBLISH for them was an initial one; they lapse with their Expires)`,
      );
      assert.ok(leftovers <= leasedAtKill, `${leftovers} leftover presentities, but A had only ${leasedAtKill} mailboxes leased`);

      // SIGTERM: a clean shutdown within the deadline, exit code 0.
      const exit = await workerB.stop(10_000);
      assert.deepEqual(exit, { code: 0, signal: null });
    } finally {
      await workerA?.kill9();
      await workerB?.kill9();
      await producer.close(2_000);
    }
  });

  it('SIGTERM with deliveries stuck past the deadline: the worker exits on time and the next one delivers what it handed back', async (t) => {
    const prefix = '{mwi-term}';
    const producer = await startProducer(redis.url, prefix);
    let workerC: ManagedProcess | undefined;
    let workerD: ManagedProcess | undefined;
    try {
      workerC = await spawnDeliveryWorker('term-c', prefix, { MWI_DELIVERY__SHUTDOWN_DEADLINE_MS: '500', MWI_SIP__TRANSACTION_TIMEOUT_MS: '4000' });
      const route = { mode: 'publish' as const, target: kam.udpUri };
      const mailboxes = Array.from({ length: 100 }, (_, i) => `sip:${60_000 + i}@mwi.test`);
      kam.pause();
      try {
        await producer.store.applyUpdates(mailboxes.map((mailbox) => ({ mailbox, route, summary: summaryOf(3), version: 3 })));
        await producer.scheduler.schedule(mailboxes);
        await waitFor('C has deliveries in flight', 5_000, async () => (await producer.store.dirtyCount()) - (await producer.store.dueCount()) > 0);
        const start = performance.now();
        const exit = await workerC.stop(5_000);
        const stopMs = performance.now() - start;
        assert.deepEqual(exit, { code: 0, signal: null });
        assert.ok(stopMs < 1_500, `stopped after ${Math.round(stopMs)} ms with a 500 ms deadline`);
        assert.match(await workerC.logText(), /deliveries still in flight at the shutdown deadline/);
        t.diagnostic(`worker with PUBLISHes hanging on a paused Kamailio stopped ${Math.round(stopMs)} ms after SIGTERM (deadline 500 ms)`);
        assert.equal(await producer.store.dirtyCount(), 100, 'nothing was lost or marked delivered');
      } finally {
        kam.resume();
      }
      workerD = await spawnDeliveryWorker('term-d', prefix);
      await waitFor('D delivers everything C handed back', 20_000, async () => (await producer.store.dirtyCount()) === 0);
      const by = rowsByUser(await kam.presentities());
      for (const mailbox of mailboxes) {
        const record = await producer.store.get(mailbox);
        assert.equal(record?.delivered?.version, 3);
        assert.equal((by.get(userOf(mailbox)) ?? []).find((r) => r.etag === record.etag)?.body, encodeMessageSummary({ ...summaryOf(3), account: mailbox }), mailbox);
      }
    } finally {
      await workerC?.kill9();
      await workerD?.kill9();
      await producer.close(2_000);
    }
  });

  it('Redis kill -9\'d and restarted under load: every accepted update is still there and delivered', async (t) => {
    const prefix = '{mwi-redis-crash}';
    const publicationsRedis: Redis = await createStoreClient({ url: redis.url });
    const built = await testSender({ 'sip.transactionTimeoutMs': 2000 }, new RedisPublicationStore({ redis: publicationsRedis, keys: storeKeys(prefix) }));
    const sender = new CountingSender(built.sender);
    const config = loadConfig({ env: {}, flags: { 'redis.keyPrefix': prefix, 'redis.url': redis.url, 'delivery.leaseMs': 1_000 }, readFile });
    const runtime = await startDelivery({ config, log: pino({ level: 'silent' }), clock: systemClock, redisUrl: redis.url, sender });
    try {
      const route = { mode: 'publish' as const, target: kam.udpUri };
      const groups = 20;
      const mailboxes = Array.from({ length: 2_000 }, (_, i) => `sip:${40_000 + i}@mwi.test`);
      const accepted = new Map<string, number>();
      let failedCalls = 0;
      let restart: Promise<void> | undefined;
      let outageMs = 0;
      // 40 rounds: round r gives the mailboxes of group r % 20 version floor(r / 20) + 1, so each
      // (mailbox, version) is written once and a lost acknowledged write would show at the end.
      for (let r = 0; r < 2 * groups; r++) {
        const version = Math.floor(r / groups) + 1;
        const batch = mailboxes.filter((_, i) => i % groups === r % groups).map((mailbox) => ({ mailbox, route, summary: summaryOf(version), version }));
        if (r === 25) {
          restart = (async () => {
            const down = performance.now();
            await redis.kill9();
            await sleep(300);
            await redis.restart();
            outageMs = performance.now() - down;
          })();
        }
        for (;;) {
          try {
            await runtime.store.applyUpdates(batch);
            break;
          } catch (err) {
            assert.ok(isMwiError(err, ErrorCodes.REDIS_UNAVAILABLE), String(err));
            failedCalls++;
            await sleep(50);
          }
        }
        for (const u of batch) accepted.set(u.mailbox, u.version);
        await runtime.scheduler.schedule(batch.map((u) => u.mailbox)).catch(() => undefined); // the kick covers a failed one
        await sleep(20);
      }
      await restart;
      const drainMs = await waitFor('all delivered after the restart', 40_000, async () => {
        try {
          return (await runtime.store.dirtyCount()) === 0;
        } catch {
          return false;
        }
      });

      const by = rowsByUser(await kam.presentities());
      for (const mailbox of mailboxes) {
        const record = await runtime.store.get(mailbox);
        const want = accepted.get(mailbox);
        assert.ok(record !== undefined && want !== undefined, mailbox);
        assert.equal(record?.desired?.version, want, `${mailbox}: accepted version lost`);
        assert.equal(record.delivered?.version, want, mailbox);
        const ours = (by.get(userOf(mailbox)) ?? []).find((row) => row.etag === record.etag);
        assert.equal(ours?.body, encodeMessageSummary({ ...summaryOf(want), account: mailbox }), mailbox);
      }
      t.diagnostic(
        `Redis down for ${Math.round(outageMs)} ms during 40 batches of 100; ${failedCalls} applyUpdates calls failed fast and were retried; ` +
          `all 2000 mailboxes at their accepted version in Kamailio ${Math.round(drainMs)} ms after the last batch; ${sender.requests} PUBLISHes`,
      );
    } finally {
      await runtime.close(3_000);
      await built.sender.close();
      publicationsRedis.disconnect();
    }
  });
});
