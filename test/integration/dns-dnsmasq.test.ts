/**
 * The DNS layer against a real dnsmasq on loopback: c-ares queries, the cache's TTLs and
 * stale serving, and the locator's RFC 3263 order. Cache time is a FakeClock (TTL expiry
 * without sleeping); the queries themselves are real and counted in dnsmasq's query log.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { TestContext } from 'node:test';

import { FakeClock } from '../../src/clock.ts';
import { DnsCache } from '../../src/dns/dns-cache.ts';
import { createCaresClient } from '../../src/dns/dns-client.ts';
import { createSipLocator } from '../../src/dns/sip-locator.ts';
import type { SipHop } from '../../src/dns/types.ts';
import { ErrorCodes, isMwiError } from '../../src/errors.ts';
import { parseTarget } from '../../src/sip/target.ts';
import { startDnsmasq } from '../harness/dnsmasq.ts';
import type { DnsmasqRecords } from '../harness/dnsmasq.ts';
import { RecordingGuard } from '../support/fake-dns.ts';

const SEC_MS = 1000;
const TTL_SEC = 2;

const ZONE: DnsmasqRecords = {
  srv: [
    { service: '_sip._udp.example.test', target: 'b.example.test', port: 5080, priority: 20, weight: 100 },
    { service: '_sip._udp.example.test', target: 'a.example.test', port: 5070, priority: 10, weight: 100 },
  ],
  hosts: [
    { name: 'a.example.test', addresses: ['127.0.0.11'] },
    { name: 'b.example.test', addresses: ['127.0.0.12'] },
    { name: 'direct.example.test', addresses: ['127.0.0.13'] },
  ],
};

async function setup(t: TestContext, cacheOverrides: { failureRecheckSec?: number; negativeTtlSec?: number } = {}) {
  const dns = await startDnsmasq({ records: ZONE, ttlSec: TTL_SEC, label: t.name });
  t.after(() => dns.dispose());
  const clock = new FakeClock();
  const guard = new RecordingGuard();
  const client = createCaresClient({ servers: [dns.server], timeoutMs: 300, tries: 1, srvTtlSec: TTL_SEC });
  const cache = new DnsCache({
    client,
    clock,
    guard,
    minTtlSec: 1,
    maxTtlSec: 60,
    negativeTtlSec: cacheOverrides.negativeTtlSec ?? 1,
    staleTtlSec: 1,
    failureRecheckSec: cacheOverrides.failureRecheckSec ?? 1,
    maxStaleSec: 60,
    maxEntries: 100,
  });
  const locator = createSipLocator({ cache, naptr: false, random: () => 0 });
  const locate = (uri: string) => locator.locate(parseTarget(uri, 'UDP'));
  return { dns, clock, guard, cache, locate };
}

const brief = (hops: readonly SipHop[]) => hops.map((h) => `${h.key} ${h.hostName ?? '-'}`);

describe('DNS layer against dnsmasq', { timeout: 30_000 }, () => {
  it('resolves SRV then A to hops: the first SRV target listed first, the second next', { timeout: 10_000 }, async (t) => {
    const { dns, locate } = await setup(t);
    assert.deepEqual(brief(await locate('sip:example.test')), ['udp:127.0.0.11:5070 a.example.test', 'udp:127.0.0.12:5080 b.example.test']);
    assert.deepEqual(brief(await locate('sip:direct.example.test')), ['udp:127.0.0.13:5060 direct.example.test'], 'no SRV: A with the default port');
    assert.equal(await dns.queries({ type: 'SRV', name: '_sip._udp.example.test' }), 1);
  });

  it('steady state: at most one query per 1,000 locate() calls, re-querying only as TTLs run out', { timeout: 10_000 }, async (t) => {
    const { dns, clock, cache, locate } = await setup(t, { negativeTtlSec: TTL_SEC });
    await locate('sip:example.test');
    const warmQueries = await dns.queries(); // SRV, then A and AAAA of both targets
    assert.equal(warmQueries, cache.stats.queries, 'every counted query reached dnsmasq, once');
    // 5,000 locate() calls per (fake) second for two TTL periods.
    const ttlPeriods = 2;
    for (let i = 0; i < 5_000 * TTL_SEC * ttlPeriods; i++) {
      if (i % 5 === 0) clock.advance(1);
      const hops = await locate('sip:example.test');
      assert.equal(hops[0]?.address, '127.0.0.11');
    }
    const queries = await dns.queries();
    assert.equal(queries, cache.stats.queries);
    assert.ok(queries > warmQueries, 'entries were refreshed when their TTL ran out');
    assert.ok(queries - warmQueries <= ttlPeriods * warmQueries, `one refresh per name and TTL period, got ${queries - warmQueries} after ${warmQueries}`);
    assert.ok(queries * 1_000 <= cache.stats.locates, `${queries} queries for ${cache.stats.locates} locates`);
  });

  it('keeps answering from stale data while dnsmasq is down, then goes back to fresh answers', { timeout: 10_000 }, async (t) => {
    const { dns, clock, guard, cache, locate } = await setup(t);
    const fresh = brief(await locate('sip:example.test'));
    await dns.stop();
    clock.advance((TTL_SEC + 1) * SEC_MS);
    assert.deepEqual(brief(await locate('sip:example.test')), fresh);
    const staleServed = cache.stats.staleServed;
    assert.ok(staleServed > 0);
    assert.ok(cache.stats.failures > 0 && guard.failures.length > 0, 'the failed refreshes reached the guard');
    const queriesWhileDown = cache.stats.queries;
    for (let i = 0; i < 100; i++) assert.deepEqual(brief(await locate('sip:example.test')), fresh);
    assert.equal(cache.stats.queries, queriesWhileDown, 'no query within staleTtlSec');
    assert.ok(cache.stats.staleServed >= staleServed + 100);

    await dns.restart();
    const logged = await dns.queries();
    clock.advance(2 * SEC_MS);
    assert.deepEqual(brief(await locate('sip:example.test')), fresh);
    assert.ok((await dns.queries()) > logged, 'refreshed from the restarted server');
  });

  it('serves stale data when dnsmasq stops answering (c-ares timeout)', { timeout: 10_000 }, async (t) => {
    const { dns, clock, cache, locate } = await setup(t);
    const fresh = brief(await locate('sip:example.test'));
    dns.pause();
    try {
      clock.advance((TTL_SEC + 1) * SEC_MS);
      const started = Date.now();
      assert.deepEqual(brief(await locate('sip:example.test')), fresh);
      assert.ok(Date.now() - started < 2_000, 'bounded by timeoutMs x tries');
      assert.ok(cache.stats.staleServed > 0);
      assert.ok(cache.stats.failures > 0);
    } finally {
      dns.resume();
    }
  });

  it('NXDOMAIN: cached, reported to the guard, queried at most once per failureRecheckSec', { timeout: 10_000 }, async (t) => {
    const { dns, clock, guard, cache, locate } = await setup(t, { negativeTtlSec: 1, failureRecheckSec: 2 });
    const elapsedSec = 10;
    for (let tick = 0; tick < elapsedSec * 10; tick++) {
      await assert.rejects(locate('sip:gone.example.test'), (err) => isMwiError(err, ErrorCodes.DNS_NXDOMAIN));
      clock.advance(100);
    }
    const aQueries = await dns.queries({ type: 'A', name: 'gone.example.test' });
    assert.ok(aQueries >= 2 && aQueries <= 1 + elapsedSec / 2, `${aQueries} A queries in ${elapsedSec} s`);
    assert.ok(cache.stats.negativeHits > 0);
    assert.ok(guard.failures.some((f) => f.includes(ErrorCodes.DNS_NXDOMAIN) && f.includes('gone.example.test')));
    assert.ok(!guard.failures.some((f) => f.includes('SRV')), 'the missing SRV is no failure');
    assert.equal(cache.stats.failures, 0, 'NXDOMAIN is an answer, not a resolver failure');
  });

  it('picks up rewritten records once the TTL runs out (dnsmasq SIGHUP re-reads the hosts file)', { timeout: 10_000 }, async (t) => {
    const { dns, clock, locate } = await setup(t);
    assert.deepEqual(brief(await locate('sip:direct.example.test')), ['udp:127.0.0.13:5060 direct.example.test']);
    await dns.setHosts([{ name: 'direct.example.test', addresses: ['127.0.0.14'] }]);
    assert.deepEqual(brief(await locate('sip:direct.example.test')), ['udp:127.0.0.13:5060 direct.example.test'], 'cached until the TTL');
    clock.advance(TTL_SEC * SEC_MS);
    assert.deepEqual(brief(await locate('sip:direct.example.test')), ['udp:127.0.0.14:5060 direct.example.test']);
  });

  it('reports SRV "not available" (target ".") as DNS_NO_DATA after a restart with new records', { timeout: 10_000 }, async (t) => {
    const { dns, clock, locate } = await setup(t);
    await dns.setRecords({ srv: [{ service: '_sip._udp.example.test' }], hosts: ZONE.hosts ?? [] });
    clock.advance(TTL_SEC * SEC_MS);
    await assert.rejects(locate('sip:example.test'), (err) => isMwiError(err, ErrorCodes.DNS_NO_DATA));
  });
});
