// The delivery path against a real DNS server (dnsmasq) and scripted SIP servers (SIPp), with the
// fleet protections on a private Redis:
//   - SRV with two targets, the first dead: traffic moves to the second, and the first's breaker
//     then keeps it out of the way;
//   - steady state: at most one DNS query per 1,000 messages; dnsmasq stopped: delivery goes on
//     from stale answers;
//   - a target that vanished (NXDOMAIN): the DNS breaker opens and the name is queried about
//     once per recheck interval;
//   - a server answering 503 with Retry-After: nothing is sent to it before Retry-After passed.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';

import { startDnsmasq, type DnsmasqHandle } from '../harness/dnsmasq.ts';
import { startRedis, type RedisHandle } from '../harness/redis.ts';
import { startSippUas, type SippUasHandle } from '../harness/sipp.ts';
import { freePort } from '../harness/ports.ts';
import { startInProcessWorker, type InProcessWorker } from '../support/in-process-worker.ts';
import { sleep, waitFor } from '../support/wait-for.ts';

const ZONE = 'mwi.test';

function summary(n: number) {
  return { counts: { 'voice-message': { new: n, old: 0 } } };
}

async function deliverAll(w: InProcessWorker, target: string, mailboxes: readonly string[], version: number, timeoutMs: number): Promise<number> {
  const route = { mode: 'publish' as const, target };
  for (let i = 0; i < mailboxes.length; i += 500) {
    const batch = mailboxes.slice(i, i + 500);
    await w.runtime.store.applyUpdates(batch.map((mailbox) => ({ mailbox, route, summary: summary(version), version })));
    await w.runtime.scheduler.schedule(batch);
  }
  return waitFor(`${mailboxes.length} mailboxes delivered (v${version})`, timeoutMs, async () => (await w.runtime.store.dirtyCount()) === 0);
}

describe('resilience: DNS and 503 Retry-After, end to end', { timeout: 120_000 }, () => {
  let redis: RedisHandle;
  let alive: SippUasHandle;
  let deadPort: number;
  let dns: DnsmasqHandle;

  before(async () => {
    redis = await startRedis({ label: 'resilience-dns' });
    alive = await startSippUas({ scenario: 'uas-200', transport: 'udp', label: 'srv-second' });
    deadPort = await freePort(); // nothing listens there: the first SRV target is dead
    dns = await startDnsmasq({
      zone: ZONE,
      ttlSec: 5,
      records: {
        srv: [
          { service: `_sip._udp.ps.${ZONE}`, target: `a.${ZONE}`, port: deadPort, priority: 10, weight: 10 },
          { service: `_sip._udp.ps.${ZONE}`, target: `b.${ZONE}`, port: alive.port, priority: 20, weight: 10 },
        ],
        hosts: [
          { name: `a.${ZONE}`, addresses: ['127.0.0.1'] },
          { name: `b.${ZONE}`, addresses: ['127.0.0.1'] },
        ],
      },
      label: 'resilience',
    });
  });
  after(async () => {
    await dns?.dispose();
    await alive?.stop();
    await redis?.dispose();
  });

  it('first SRV target dead: traffic moves to the second; steady state under 1 query per 1,000 messages; stale answers when DNS stops', async (t) => {
    const w = await startInProcessWorker(redis.url, {
      'redis.keyPrefix': '{mwi-srv}',
      'dns.servers': [dns.server],
      'dns.srvTtlSec': 5,
      'dns.failureRecheckSec': 2,
      'dns.staleTtlSec': 2,
      'sip.transactionTimeoutMs': 1_000,
      'delivery.leaseMs': 5_000,
      'delivery.retryBaseMs': 200,
      'delivery.retryMaxMs': 2_000,
      'rate.initialPerSec': 1_000,
    });
    try {
      const target = `sip:ps.${ZONE}`;
      const first = Array.from({ length: 200 }, (_, i) => `sip:${1000 + i}@${ZONE}`);
      const ms = await deliverAll(w, target, first, 1, 30_000);
      const deadKey = `udp:127.0.0.1:${deadPort}`;
      t.diagnostic(`200 mailboxes delivered in ${Math.round(ms)} ms through the second SRV target; first target breaker ${w.protections.breakers.state(deadKey).kind}`);
      assert.equal(w.protections.breakers.state(deadKey).kind, 'open', 'the dead target is behind an open breaker');
      assert.ok((await alive.requestCount('PUBLISH')) >= 200, 'the second target took the traffic');

      // Steady state: 2,000 updates a second for 12 s while 5 s TTLs run out again and again.
      const queriesBefore = await dns.queries();
      const locatesBefore = w.built.dns.stats.locates;
      const pool = Array.from({ length: 5_000 }, (_, i) => `sip:${5000 + i}@${ZONE}`);
      const route = { mode: 'publish' as const, target };
      const startedAt = performance.now();
      for (let round = 0; performance.now() - startedAt < 12_000; round++) {
        const batch = pool.slice((round % 10) * 500, (round % 10) * 500 + 500);
        await w.runtime.store.applyUpdates(batch.map((mailbox) => ({ mailbox, route, summary: summary(round), version: round + 1 })));
        await w.runtime.scheduler.schedule(batch);
        await sleep(250);
      }
      await waitFor('the stream delivered', 60_000, async () => (await w.runtime.store.dirtyCount()) === 0);
      const queries = (await dns.queries()) - queriesBefore;
      const messages = w.built.dns.stats.locates - locatesBefore;
      const perThousand = (1000 * queries) / messages;
      t.diagnostic(`steady state: ${queries} DNS queries for ${messages} messages over ${Math.round((performance.now() - startedAt) / 1000)} s with 5 s TTLs (${perThousand.toFixed(2)} per 1,000)`);
      assert.ok(messages >= 15_000, `${messages} messages`);
      assert.ok(perThousand <= 1, `${perThousand.toFixed(2)} DNS queries per 1,000 messages`);

      // DNS server gone: delivery goes on from stale answers.
      await dns.stop();
      const staleBefore = w.built.dns.stats.staleServed;
      await sleep(5_500); // every answer is past its TTL now
      await deliverAll(w, target, first, 2, 30_000);
      t.diagnostic(`dnsmasq stopped: 200 mailboxes delivered again; stale answers served ${w.built.dns.stats.staleServed - staleBefore}`);
      assert.ok(w.built.dns.stats.staleServed > staleBefore, 'stale answers were served');
      await dns.restart();
    } finally {
      await w.close();
    }
  });

  it('NXDOMAIN: the DNS breaker opens and the name is queried about once per recheck interval', async (t) => {
    const w = await startInProcessWorker(redis.url, {
      'redis.keyPrefix': '{mwi-nx}',
      'dns.servers': [dns.server],
      'dns.failureRecheckSec': 2,
      'dns.negativeTtlSec': 2,
      'delivery.retryBaseMs': 200,
      'delivery.retryMaxMs': 1_000,
    });
    try {
      const target = `sip:gone.${ZONE}`;
      const mailboxes = Array.from({ length: 50 }, (_, i) => `sip:${9000 + i}@${ZONE}`);
      await w.runtime.store.applyUpdates(mailboxes.map((mailbox) => ({ mailbox, route: { mode: 'publish', target }, summary: summary(1), version: 1 })));
      await w.runtime.scheduler.schedule(mailboxes);
      await waitFor('the DNS breaker opens', 10_000, () => w.protections.dnsBreakers.state('dns').kind === 'open');
      const from = await dns.queries({ name: `gone.${ZONE}` });
      const windowMs = 10_000;
      await sleep(windowMs);
      const queries = (await dns.queries({ name: `gone.${ZONE}` })) - from;
      const record = await w.runtime.store.get(mailboxes[0] ?? '');
      // NXDOMAIN while the negative answer is cached; once it lapses with the breaker open, the
      // cache may not ask again: deferred with DNS_BREAKER_OPEN. Never delivered either way.
      t.diagnostic(`NXDOMAIN target: ${queries} queries (any type) in ${windowMs / 1000} s (recheck 2 s); last outcome ${record?.lastOutcome?.kind}: ${record?.lastOutcome?.reason}`);
      // The DNS breaker's probe asks once per recheck interval (fleet-wide); nothing else queries the name.
      assert.ok(queries >= 2 && queries <= windowMs / 2_000 + 1, `${queries} queries in ${windowMs} ms`);
      assert.ok(record?.lastOutcome?.kind === 'config-error' || record?.lastOutcome?.kind === 'deferred', record?.lastOutcome?.kind);
      assert.match(record?.lastOutcome?.reason ?? '', /MWI_DNS_NXDOMAIN|MWI_DNS_BREAKER_OPEN/);
      assert.equal(record?.delivered, undefined);
    } finally {
      await w.close();
    }
  });

  it('503 with Retry-After: nothing is sent to that server before Retry-After has passed', async (t) => {
    const busy = await startSippUas({ scenario: 'uas-503-retry-after', transport: 'udp', label: 'retry-after' });
    const w = await startInProcessWorker(redis.url, {
      'redis.keyPrefix': '{mwi-503}',
      'rate.initialPerSec': 200,
      'breaker.probeBaseMs': 200,
      'delivery.retryBaseMs': 200,
      'delivery.retryMaxMs': 1_000,
    });
    try {
      const mailboxes = Array.from({ length: 50 }, (_, i) => `sip:${3000 + i}@${ZONE}`);
      await w.runtime.store.applyUpdates(mailboxes.map((mailbox) => ({ mailbox, route: { mode: 'publish', target: busy.uri }, summary: summary(1), version: 1 })));
      await w.runtime.scheduler.schedule(mailboxes);
      await busy.waitForRequests(1, { timeoutMs: 10_000 });
      await sleep(12_000);
      const requests = await busy.requests();
      // Requests come in bursts (those admitted before the first 503 of a burst came back); a
      // burst never starts before the Retry-After (5 s) of the previous one has passed.
      const bursts: number[][] = [];
      const methods: string[][] = [];
      for (const r of requests) {
        const last = bursts.at(-1);
        if (last !== undefined && r.atMs - (last[0] ?? 0) < 100) {
          last.push(r.atMs);
          methods.at(-1)?.push(r.method);
        } else {
          bursts.push([r.atMs]);
          methods.push([r.method]);
        }
      }
      const gaps = bursts.slice(1).map((b, i) => Math.round((b[0] ?? 0) - (bursts[i]?.at(-1) ?? 0)));
      t.diagnostic(`${requests.length} requests in ${bursts.length} bursts of ${methods.map((m) => [...new Set(m)].map((x) => `${m.filter((y) => y === x).length} ${x}`).join('+')).join(' / ')}; gaps ${gaps.join(', ')} ms (Retry-After 5000)`);
      assert.ok(bursts.length >= 2, 'sending resumed after Retry-After');
      for (const gap of gaps) assert.ok(gap >= 5_000 - 50, `a burst started ${gap} ms after the previous one`);
    } finally {
      await w.close();
      await busy.stop();
    }
  });
});
