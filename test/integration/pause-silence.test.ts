// Pause to silence, measured: two delivery worker processes keep a presence server busy; an
// operator pauses with `mwi pause` (a real CLI process); a UDP relay in front of the server
// records the last new PUBLISH. Every worker must stop emitting within a second of the pause
// being stored; updates are still accepted and coalesced meanwhile, and `mwi resume` delivers
// each mailbox's latest state.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { after, before, describe, it } from 'node:test';

import { pino } from 'pino';

import { loadConfig } from '../../config/load.ts';
import { systemClock } from '../../src/clock.ts';
import { startDelivery } from '../../src/queue/delivery-runtime.ts';
import type { MailboxUpdate } from '../../src/store/mailbox-state.ts';
import type { ManagedProcess } from '../harness/process.ts';
import { startRedis, type RedisHandle } from '../harness/redis.ts';
import { startSippUas, type SippUasHandle } from '../harness/sipp.ts';
import { startUdpRelay, type UdpRelay } from '../harness/udp-relay.ts';
import { spawnDeliveryWorker } from '../support/delivery-worker-process.ts';
import { runMwi } from '../support/run-mwi.ts';

const readFile = (p: string) => readFileSync(p, 'utf8');
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
const PREFIX = '{mwi-pause}';

async function waitFor(what: string, timeoutMs: number, check: () => Promise<boolean> | boolean): Promise<void> {
  const start = performance.now();
  while (!(await check())) {
    if (performance.now() - start > timeoutMs) throw new Error(`${what}: not within ${timeoutMs} ms`);
    await sleep(20);
  }
}

describe('pause to silence with two worker processes', { timeout: 120_000 }, () => {
  let redis: RedisHandle;
  let uas: SippUasHandle;
  let relay: UdpRelay;

  before(async () => {
    [redis, uas] = await Promise.all([startRedis({ label: 'pause' }), startSippUas({ scenario: 'uas-200', transport: 'udp', countRequests: false, label: 'pause' })]);
    relay = await startUdpRelay({ host: '127.0.0.1', port: uas.port });
  });
  after(async () => {
    await relay?.close();
    await uas?.stop();
    await redis?.dispose();
  });

  const env = (): Record<string, string> => ({
    MWI_REDIS__URL: redis.url,
    MWI_REDIS__KEY_PREFIX: PREFIX,
    MWI_LOG__LEVEL: 'info',
    MWI_RATE__MAX_PER_SEC: '400',
    MWI_RATE__INITIAL_PER_SEC: '400',
  });

  const spawnWorker = (label: string): Promise<ManagedProcess> => spawnDeliveryWorker(label, env());

  it('mwi pause silences every worker within a second; updates coalesce meanwhile; mwi resume delivers the latest state', async (t) => {
    const config = loadConfig({ env: {}, flags: { 'redis.keyPrefix': PREFIX, 'redis.url': redis.url }, readFile });
    const noSender = { send: () => Promise.reject(new Error('a producer sends nothing')), probe: () => Promise.reject(new Error('no probes')), close: () => Promise.resolve() };
    const producer = await startDelivery({ config, log: pino({ level: 'silent' }), clock: systemClock, redisUrl: redis.url, sender: noSender, workers: false });
    const workers: ManagedProcess[] = [];
    const route = { mode: 'publish' as const, target: relay.uri };
    const mailboxes = Array.from({ length: 2_000 }, (_, i) => `sip:${80_000 + i}@mwi.test`);
    const latest = new Map<string, number>();
    let version = 0;
    let flowing = true;
    const round = async (): Promise<void> => {
      version++;
      const batch: MailboxUpdate[] = mailboxes.slice((version % 4) * 500, (version % 4) * 500 + 500).map((mailbox) => ({ mailbox, route, summary: { counts: { 'voice-message': { new: version, old: 0 } } }, version }));
      await producer.store.applyUpdates(batch);
      for (const u of batch) latest.set(u.mailbox, u.version);
      await producer.scheduler.schedule(batch.map((u) => u.mailbox));
    };
    try {
      workers.push(await spawnWorker('pause-a'), await spawnWorker('pause-b'));
      // Keep both workers busy: 500 updates every 250 ms (2,000/s offered, 400/s allowed: a standing backlog).
      const flow = (async () => {
        while (flowing) {
          await round();
          await sleep(250);
        }
      })();
      await waitFor('both workers deliver', 20_000, () => relay.requests.filter((r) => r.first && r.method === 'PUBLISH').length > 1_000);

      const cli = await runMwi(['pause', '--reason', 'maintenance window', '--actor', 'oncall'], env());
      assert.equal(cli.code, 0, cli.stderr);
      const pausedAt = Date.now();
      await sleep(3_000); // updates keep coming while paused
      const afterPause = relay.requests.filter((r) => r.first && r.method === 'PUBLISH' && r.atMs > pausedAt);
      const lastMs = afterPause.length === 0 ? 0 : (afterPause.at(-1)?.atMs ?? pausedAt) - pausedAt;
      t.diagnostic(`after mwi pause returned: ${afterPause.length} new PUBLISH, the last ${lastMs} ms later (two workers, a standing backlog)`);
      assert.ok(lastMs < 1_000, `a PUBLISH started ${lastMs} ms after the pause`);
      assert.ok((await producer.store.dirtyCount()) > 0, 'updates accepted while paused wait, coalesced');

      flowing = false;
      await flow;
      const status = await runMwi(['status', '--json'], env());
      assert.equal(status.code, 0, status.stderr);
      assert.match(status.stdout, /maintenance window/);

      const resumed = await runMwi(['resume', '--reason', 'done', '--actor', 'oncall'], env());
      assert.equal(resumed.code, 0, resumed.stderr);
      await waitFor('everything delivered after resume', 60_000, async () => (await producer.store.dirtyCount()) === 0);
      for (const mailbox of mailboxes) assert.equal((await producer.store.get(mailbox))?.delivered?.version, latest.get(mailbox), mailbox);
    } finally {
      flowing = false;
      for (const w of workers) await w.kill9();
      await producer.close(2_000);
    }
  });
});
