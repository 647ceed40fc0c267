// The incident, replayed with real processes: a presence server (Kamailio) hangs (SIGSTOP) for
// two minutes while PBX updates keep flowing into two delivery worker processes, then comes back
// (SIGCONT). A UDP relay in front of Kamailio records exactly what reached it.
//
// What must hold: the breaker opens within twice the transaction timeout; the other worker stops
// within a second of the trip; during the outage only probes (one OPTIONS at a time, fleet-wide)
// reach the server; after recovery the rate ramps up from slow start and never exceeds
// rate.maxPerSec in any one-second window; every mailbox ends in its latest state.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { after, before, describe, it } from 'node:test';

import { pino } from 'pino';

import { loadConfig } from '../../config/load.ts';
import { systemClock } from '../../src/clock.ts';
import { encodeMessageSummary, type MessageSummary } from '../../src/mwi/message-summary.ts';
import { startDelivery } from '../../src/queue/delivery-runtime.ts';
import type { MailboxUpdate } from '../../src/store/mailbox-state.ts';
import { startKamailio, type KamailioHandle, type Presentity } from '../harness/kamailio.ts';
import type { ManagedProcess } from '../harness/process.ts';
import { startRedis, type RedisHandle } from '../harness/redis.ts';
import { startUdpRelay, type UdpRelay } from '../harness/udp-relay.ts';
import { spawnDeliveryWorker } from '../support/delivery-worker-process.ts';
import { prng } from '../support/prng.ts';
import { sleep, waitFor } from '../support/wait-for.ts';

const readFile = (p: string) => readFileSync(p, 'utf8');

const PREFIX = '{mwi-outage}';
const MAILBOXES = 1_000;
const OUTAGE_MS = 120_000;
const TRANSACTION_TIMEOUT_MS = 2_000;
const MAX_PER_SEC = 200;
const PROBE_MAX_MS = 3_000;

function summaryOf(version: number): MessageSummary {
  return { counts: { 'voice-message': { new: version, old: 0 } } };
}

interface LogLine {
  time: number;
  msg: string;
  breaker?: string;
  local?: boolean;
  to?: string;
}

async function logLines(p: ManagedProcess): Promise<LogLine[]> {
  return (await p.logText())
    .split('\n')
    .filter((l) => l.startsWith('{'))
    .map((l) => JSON.parse(l) as LogLine);
}

/** Most first transmissions of `method` within any window of `windowMs` in [fromMs, toMs). */
function maxInWindow(relay: UdpRelay, method: string, fromMs: number, toMs: number, windowMs: number): number {
  const times = relay.requests.filter((r) => r.first && r.method === method && r.atMs >= fromMs && r.atMs < toMs).map((r) => r.atMs);
  let best = 0;
  let lo = 0;
  for (let hi = 0; hi < times.length; hi++) {
    while ((times[hi] ?? 0) - (times[lo] ?? 0) >= windowMs) lo++;
    best = Math.max(best, hi - lo + 1);
  }
  return best;
}

describe('resilience: a presence server hung for minutes', { timeout: 300_000 }, () => {
  let redis: RedisHandle;
  let kam: KamailioHandle;
  let relay: UdpRelay;

  before(async () => {
    [redis, kam] = await Promise.all([startRedis({ label: 'outage' }), startKamailio({ storage: 'memory', label: 'outage' })]);
    relay = await startUdpRelay({ host: '127.0.0.1', port: kam.port });
  });
  after(async () => {
    await relay?.close();
    await kam?.stop();
    await redis?.dispose();
  });

  const spawnWorker = (label: string): Promise<ManagedProcess> =>
    spawnDeliveryWorker(label, {
      MWI_REDIS__URL: redis.url,
      MWI_REDIS__KEY_PREFIX: PREFIX,
      MWI_LOG__LEVEL: 'info',
      MWI_SIP__TRANSACTION_TIMEOUT_MS: String(TRANSACTION_TIMEOUT_MS),
      MWI_DELIVERY__LEASE_MS: String(4 * TRANSACTION_TIMEOUT_MS),
      MWI_DELIVERY__RETRY_BASE_MS: '500',
      MWI_DELIVERY__RETRY_MAX_MS: '5000',
      MWI_DELIVERY__CONCURRENCY: '100',
      MWI_DELIVERY__BATCH_SIZE: '100',
      MWI_BREAKER__PROBE_BASE_MS: '500',
      MWI_BREAKER__PROBE_MAX_MS: String(PROBE_MAX_MS),
      MWI_RATE__MAX_PER_SEC: String(MAX_PER_SEC),
      MWI_RATE__INITIAL_PER_SEC: '20',
    });

  it('opens within 2x the transaction timeout, stops the fleet, sends only probes, then ramps up within the limit and converges', async (t) => {
    const config = loadConfig({ env: {}, flags: { 'redis.keyPrefix': PREFIX, 'redis.url': redis.url }, readFile });
    const noSender = { send: () => Promise.reject(new Error('a producer sends nothing')), probe: () => Promise.reject(new Error('no probes')), close: () => Promise.resolve() };
    const producer = await startDelivery({ config, log: pino({ level: 'silent' }), clock: systemClock, redisUrl: redis.url, sender: noSender, workers: false });
    const workers: ManagedProcess[] = [];
    const route = { mode: 'publish' as const, target: relay.uri };
    const mailboxes = Array.from({ length: MAILBOXES }, (_, i) => `sip:${70_000 + i}@mwi.test`);
    const latest = new Map<string, number>();
    const apply = async (updates: MailboxUpdate[]): Promise<void> => {
      await producer.store.applyUpdates(updates);
      for (const u of updates) latest.set(u.mailbox, u.version);
      await producer.scheduler.schedule(updates.map((u) => u.mailbox));
    };
    let flowing = true;
    let accepted = 0;
    const random = prng(11);
    try {
      workers.push(await spawnWorker('outage-a'), await spawnWorker('outage-b'));
      for (let i = 0; i < MAILBOXES; i += 500) await apply(mailboxes.slice(i, i + 500).map((mailbox) => ({ mailbox, route, summary: summaryOf(1), version: 1 })));
      await waitFor('first round delivered', 60_000, async () => (await producer.store.dirtyCount()) === 0);

      // PBX updates keep flowing for the whole outage: 20 mailboxes every 250 ms, a newer version each.
      const flow = (async () => {
        while (flowing) {
          const batch: MailboxUpdate[] = [];
          for (let k = 0; k < 20; k++) {
            const mailbox = mailboxes[Math.floor(random() * MAILBOXES)] ?? '';
            if (batch.some((u) => u.mailbox === mailbox)) continue;
            batch.push({ mailbox, route, summary: summaryOf((latest.get(mailbox) ?? 1) + 1), version: (latest.get(mailbox) ?? 1) + 1 });
          }
          await apply(batch);
          accepted += batch.length;
          await sleep(250);
        }
      })();

      await sleep(1_000);
      const pausedAt = Date.now();
      kam.pause();
      let openedAt = 0;
      let resumedAt = 0;
      try {
        const tripMs = await waitFor('a breaker opens', 4 * TRANSACTION_TIMEOUT_MS, async () => {
          for (const w of workers) {
            const line = (await logLines(w)).find((l) => l.msg === 'breaker opened' && l.local === true);
            if (line) {
              openedAt = line.time;
              return true;
            }
          }
          return false;
        });
        t.diagnostic(`breaker opened ${openedAt - pausedAt} ms after SIGSTOP (seen by the test after ${Math.round(tripMs)} ms)`);
        assert.ok(openedAt - pausedAt <= 2 * TRANSACTION_TIMEOUT_MS, `opened ${openedAt - pausedAt} ms after the hang, limit ${2 * TRANSACTION_TIMEOUT_MS} ms`);
        // The worker that did not trip it learns within a second.
        await waitFor('both workers see the breaker open', 3_000, async () => {
          const opened = await Promise.all(workers.map(async (w) => (await logLines(w)).find((l) => l.msg === 'breaker opened')));
          return opened.every((l) => l !== undefined);
        });
        const times = await Promise.all(workers.map(async (w) => (await logLines(w)).find((l) => l.msg === 'breaker opened')?.time ?? 0));
        const spreadMs = Math.max(...times) - Math.min(...times);
        t.diagnostic(`second worker stopped ${spreadMs} ms after the first`);
        assert.ok(spreadMs < 1_000, `the other worker learned of the trip after ${spreadMs} ms`);

        await sleep(Math.max(0, OUTAGE_MS - (Date.now() - pausedAt)));
      } finally {
        resumedAt = Date.now();
        kam.resume();
      }

      // During the outage, after the trip: no new PUBLISH transaction, and OPTIONS probes one at a time.
      const quietFrom = openedAt + 200;
      const publishes = relay.requests.filter((r) => r.first && r.method === 'PUBLISH' && r.atMs >= quietFrom && r.atMs < resumedAt);
      const probes = relay.requests.filter((r) => r.first && r.method === 'OPTIONS' && r.atMs >= quietFrom && r.atMs < resumedAt);
      t.diagnostic(`during ${Math.round((resumedAt - quietFrom) / 1000)} s of outage: ${publishes.length} new PUBLISH, ${probes.length} OPTIONS probes; ${accepted} updates accepted meanwhile`);
      assert.equal(publishes.length, 0, 'no PUBLISH reached the hung server after the trip');
      assert.ok(probes.length >= 5, `probes kept checking (${probes.length})`);
      for (let i = 1; i < probes.length; i++) {
        const gap = (probes[i]?.atMs ?? 0) - (probes[i - 1]?.atMs ?? 0);
        assert.ok(gap >= TRANSACTION_TIMEOUT_MS - 100, `probe ${i} started ${gap} ms after the previous one: probes overlapped`);
      }

      await sleep(5_000); // updates keep coming during the recovery
      flowing = false;
      await flow;
      const recoveredMs = await waitFor('every mailbox delivered after recovery', 90_000, async () => (await producer.store.dirtyCount()) === 0);
      const doneAt = Date.now();

      // After recovery: slow start, never above the limit in any one-second window.
      const peak = maxInWindow(relay, 'PUBLISH', resumedAt, doneAt, 1_000);
      const perSec = relay.perSecond('PUBLISH', resumedAt, doneAt);
      t.diagnostic(`recovery: PUBLISH per second ${JSON.stringify(perSec)}; peak in any 1 s window ${peak} (limit ${MAX_PER_SEC}); all delivered ${Math.round(recoveredMs)} ms after the flow stopped`);
      assert.ok(peak <= MAX_PER_SEC * 1.05, `peak ${peak}/s above the limit ${MAX_PER_SEC}/s`);
      const firstBusySecond = perSec.findIndex((n) => n > 0);
      assert.ok((perSec[firstBusySecond] ?? 0) < MAX_PER_SEC * 0.75, `the first second after recovery sent ${perSec[firstBusySecond]}: no slow start`);

      // Every mailbox ends in its latest state, at Kamailio.
      const rows = (await kam.presentities()).filter((r: Presentity) => r.event === 'message-summary');
      const byEtag = new Map(rows.map((r) => [r.etag, r]));
      for (const mailbox of mailboxes) {
        const record = await producer.store.get(mailbox);
        const want = latest.get(mailbox) ?? 1;
        assert.equal(record?.delivered?.version, want, `${mailbox} delivered version`);
        assert.equal(byEtag.get(record.etag ?? '')?.body, encodeMessageSummary({ ...summaryOf(want), account: mailbox }), `${mailbox} at Kamailio`);
      }
    } finally {
      flowing = false;
      for (const w of workers) await w.kill9();
      await producer.close(2_000);
    }
  });
});
