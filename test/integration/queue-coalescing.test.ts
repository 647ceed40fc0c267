// The delivery queue against a real Redis and a real Kamailio (presence_mwi, sqlite storage):
// 100,000 updates for 100 mailboxes, in random order of arrival, become a few hundred PUBLISHes
// and Kamailio ends with exactly the newest state of every mailbox.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { after, before, describe, it } from 'node:test';

import type { Redis } from 'ioredis';
import { pino } from 'pino';

import { loadConfig } from '../../config/load.ts';
import { systemClock } from '../../src/clock.ts';
import { encodeMessageSummary, type MessageSummary } from '../../src/mwi/message-summary.ts';
import { startDelivery } from '../../src/queue/delivery-runtime.ts';
import { storeKeys } from '../../src/store/keys.ts';
import type { MailboxUpdate } from '../../src/store/mailbox-state.ts';
import { RedisPublicationStore } from '../../src/store/redis-publication-store.ts';
import { createStoreClient } from '../../src/store/store-client.ts';
import { startKamailio, type KamailioHandle } from '../harness/kamailio.ts';
import { startRedis, type RedisHandle } from '../harness/redis.ts';
import { CountingSender } from '../support/counting-sender.ts';
import { prng } from '../support/prng.ts';
import { testSender } from '../support/sender.ts';

const MAILBOXES = 100;
const VERSIONS = 1_000;
const BATCH = 500;

/** Version v as a body of its own, so what reached Kamailio says which version it was. */
function summaryOf(version: number): MessageSummary {
  return { counts: { 'voice-message': { new: version % 100, old: Math.floor(version / 100) } } };
}

function versionOf(summary: MessageSummary): number {
  const c = summary.counts['voice-message'];
  return c === undefined ? -1 : c.old * 100 + c.new;
}

function shuffle<T>(items: T[], random: () => number): T[] {
  for (let i = items.length - 1; i > 0; i--) {
    const j = Math.floor(random() * (i + 1));
    [items[i], items[j]] = [items[j] as T, items[i] as T];
  }
  return items;
}

async function waitFor(what: string, timeoutMs: number, check: () => Promise<boolean>): Promise<number> {
  const start = performance.now();
  for (;;) {
    if (await check()) return performance.now() - start;
    if (performance.now() - start > timeoutMs) throw new Error(`${what}: not within ${timeoutMs} ms`);
    await new Promise((resolve) => setTimeout(resolve, 25));
  }
}

describe('delivery queue: coalescing against Kamailio', { timeout: 90_000 }, () => {
  let redis: RedisHandle;
  let kam: KamailioHandle;
  let publicationsRedis: Redis;
  let built: Awaited<ReturnType<typeof testSender>>;
  let sender: CountingSender;
  let runtime: Awaited<ReturnType<typeof startDelivery>>;
  const prefix = '{mwi-qc}';

  before(async () => {
    [redis, kam] = await Promise.all([startRedis({ label: 'queue-coalescing' }), startKamailio({ storage: 'sqlite', label: 'queue-coalescing' })]);
    publicationsRedis = await createStoreClient({ url: redis.url });
    built = await testSender({ 'sip.transactionTimeoutMs': 2000 }, new RedisPublicationStore({ redis: publicationsRedis, keys: storeKeys(prefix) }));
    sender = new CountingSender(built.sender);
    const config = loadConfig({ env: {}, flags: { 'redis.keyPrefix': prefix, 'redis.url': redis.url }, readFile: (p) => readFileSync(p, 'utf8') });
    runtime = await startDelivery({ config, log: pino({ level: 'silent' }), clock: systemClock, redisUrl: redis.url, sender });
  });
  after(async () => {
    await runtime?.close(5_000);
    await built?.sender.close();
    publicationsRedis?.disconnect();
    await kam?.stop();
    await redis?.dispose();
  });

  it('100,000 updates for 100 mailboxes in random order: a few hundred PUBLISHes, and Kamailio ends at each mailbox\'s newest state', async (t) => {
    const random = prng(2024);
    const route = { mode: 'publish' as const, target: kam.udpUri };
    const mailboxes = Array.from({ length: MAILBOXES }, (_, i) => `sip:${3000 + i}@mwi.test`);
    const updates: MailboxUpdate[] = [];
    for (const mailbox of mailboxes) for (let v = 1; v <= VERSIONS; v++) updates.push({ mailbox, route, summary: summaryOf(v), version: v });
    shuffle(updates, random);

    const start = performance.now();
    let applied = 0;
    for (let i = 0; i < updates.length; i += BATCH) {
      const batch = updates.slice(i, i + BATCH);
      const results = await runtime.store.applyUpdates(batch);
      // As the ingest path does: name the mailboxes whose state changed.
      const changed = [...new Set(batch.filter((_, j) => results[j] === 'applied').map((u) => u.mailbox))];
      applied += results.filter((r) => r === 'applied').length;
      await runtime.scheduler.schedule(changed);
    }
    const ingestMs = performance.now() - start;
    const drainMs = await waitFor('every mailbox delivered', 30_000, async () => (await runtime.store.dirtyCount()) === 0);
    const totalMs = performance.now() - start;

    const sends = sender.sends;
    t.diagnostic(
      `${updates.length} updates (${applied} applied, the rest stale) in ${Math.round(ingestMs)} ms; ` +
        `dirty set empty ${Math.round(drainMs)} ms later (${Math.round(totalMs)} ms in all); ` +
        `${sends.length} deliveries, ${sender.requests} PUBLISHes, at most ${sender.maxInFlight} in flight`,
    );
    assert.ok(sender.requests <= 700, `${sender.requests} PUBLISHes for ${MAILBOXES} mailboxes`);
    assert.ok(sends.every((s) => s.outcome.kind === 'delivered'), 'every delivery was accepted');

    // Per mailbox, the versions sent only ever go up, and the last one is the newest.
    for (const mailbox of mailboxes) {
      const sent = sends.filter((s) => s.mailbox === mailbox).map((s) => versionOf(s.delivery.summary));
      assert.ok(sent.length >= 1, mailbox);
      for (let i = 1; i < sent.length; i++) assert.ok((sent[i] ?? 0) > (sent[i - 1] ?? 0), `${mailbox} regressed: ${sent.join(',')}`);
      assert.equal(sent.at(-1), VERSIONS, mailbox);
      const record = await runtime.store.get(mailbox);
      assert.equal(record?.delivered?.version, VERSIONS);
    }

    const rows = (await kam.presentities()).filter((p) => p.event === 'message-summary');
    assert.equal(rows.length, MAILBOXES, 'one presentity per mailbox');
    for (const mailbox of mailboxes) {
      const user = mailbox.slice(4, mailbox.indexOf('@'));
      const row = rows.find((r) => r.username === user);
      assert.equal(row?.body, encodeMessageSummary({ ...summaryOf(VERSIONS), account: mailbox }), mailbox);
    }

    // Work was batched: BullMQ job ids count every job ever created.
    const jobsCreated = Number(await publicationsRedis.get(`${prefix}:deliver:id`));
    t.diagnostic(`BullMQ jobs created: ${jobsCreated} (drain slots and kicks; not one per update)`);
    assert.ok(jobsCreated < 1_000, String(jobsCreated));
  });

  it('an update whose schedule() never happened is still delivered, by the periodic kick', async () => {
    const mailbox = 'sip:3999@mwi.test';
    const before = sender.sends.length;
    assert.deepEqual(await runtime.store.applyUpdates([{ mailbox, route: { mode: 'publish', target: kam.udpUri }, summary: summaryOf(7), version: 7 }]), ['applied']);
    const ms = await waitFor('the kick delivers it', 5_000, async () => (await runtime.store.dirtyCount()) === 0);
    assert.equal(sender.sends.length, before + 1);
    assert.ok(ms < 3_000, `${Math.round(ms)} ms`);
    const row = (await kam.presentities()).find((r) => r.username === '3999');
    assert.equal(row?.body, encodeMessageSummary({ ...summaryOf(7), account: mailbox }));
  });
});
