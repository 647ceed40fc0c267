import assert from 'node:assert/strict';
import { describe, it } from 'node:test';

import fc from 'fast-check';

import { FakeClock } from '../../src/clock.ts';
import { DnsCache } from '../../src/dns/dns-cache.ts';
import { createSipLocator } from '../../src/dns/sip-locator.ts';
import { orderSrv } from '../../src/dns/srv-order.ts';
import type { SipHop } from '../../src/dns/types.ts';
import { ErrorCodes, isMwiError } from '../../src/errors.ts';
import type { ErrorCode } from '../../src/errors.ts';
import { parseTarget } from '../../src/sip/target.ts';
import type { TransportProtocol } from '../../src/sip/transport/transport.ts';
import { FakeDnsClient, RecordingGuard, answer, fail, naptr, nodata, nxdomain, srv, timeout } from '../support/fake-dns.ts';
import { prng } from '../support/prng.ts';

function setup(opts: { naptr?: boolean; random?: () => number } = {}) {
  const clock = new FakeClock();
  const client = new FakeDnsClient();
  const guard = new RecordingGuard();
  const cache = new DnsCache({
    client,
    clock,
    guard,
    minTtlSec: 5,
    maxTtlSec: 3_600,
    negativeTtlSec: 30,
    staleTtlSec: 30,
    failureRecheckSec: 30,
    maxStaleSec: 86_400,
    maxEntries: 1_000,
  });
  const locator = createSipLocator({ cache, naptr: opts.naptr ?? false, random: opts.random ?? (() => 0) });
  const locate = (uri: string, defaultProtocol: TransportProtocol = 'UDP') => locator.locate(parseTarget(uri, defaultProtocol));
  return { clock, client, guard, cache, locate };
}

const brief = (hops: readonly SipHop[]) => hops.map((h) => `${h.key} ${h.hostName ?? '-'}`);

async function rejectsWith(promise: Promise<unknown>, code: ErrorCode): Promise<void> {
  let caught: unknown;
  await promise.then(
    () => assert.fail(`expected ${code}, got hops`),
    (err: unknown) => {
      caught = err;
    },
  );
  assert.ok(isMwiError(caught, code), `expected ${code}, got ${String(caught)}`);
}

describe('SipLocator: short cuts without DNS (RFC 3263 4.1, 4.2)', () => {
  it('an IPv4 literal is one hop on 5060, no DNS query', async () => {
    const { client, locate } = setup();
    const hops = await locate('sip:10.0.0.5');
    assert.deepEqual(hops, [{ address: '10.0.0.5', port: 5060, protocol: 'UDP', hostName: undefined, key: 'udp:10.0.0.5:5060' }]);
    assert.deepEqual(client.calls, []);
  });

  it('an IP literal over TLS defaults to 5061, an explicit port wins', async () => {
    const { client, locate } = setup();
    assert.deepEqual(brief(await locate('sips:10.0.0.5')), ['tls:10.0.0.5:5061 -']);
    assert.deepEqual(brief(await locate('sip:10.0.0.5:5080;transport=tcp')), ['tcp:10.0.0.5:5080 -']);
    assert.deepEqual(brief(await locate('sip:[2001:db8::5]:5070')), ['udp:2001:db8::5:5070 -']);
    assert.deepEqual(client.calls, []);
  });

  it('localhost is 127.0.0.1 without DNS', async () => {
    const { client, locate } = setup();
    assert.deepEqual(brief(await locate('sip:localhost')), ['udp:127.0.0.1:5060 localhost']);
    assert.deepEqual(brief(await locate('sip:localhost:5070;transport=tcp')), ['tcp:127.0.0.1:5070 localhost']);
    assert.deepEqual(client.calls, []);
  });

  it('an explicit port skips SRV: A then AAAA of the host with that port', async () => {
    const { client, locate } = setup();
    client.on('A', 'pbx.example', answer(['10.0.0.1', '10.0.0.2'])).on('AAAA', 'pbx.example', answer(['2001:db8::1']));
    const hops = await locate('sip:pbx.example:5080;transport=tcp');
    assert.deepEqual(brief(hops), ['tcp:10.0.0.1:5080 pbx.example', 'tcp:10.0.0.2:5080 pbx.example', 'tcp:2001:db8::1:5080 pbx.example']);
    assert.ok(!client.calls.some((c) => c.startsWith('SRV') || c.startsWith('NAPTR')));
  });

  it('counts every locate() call, short cuts included', async () => {
    const { cache, locate } = setup();
    await locate('sip:10.0.0.5');
    await locate('sip:localhost');
    assert.equal(cache.stats.locates, 2);
  });
});

describe('SipLocator: SRV (RFC 3263 4.2, RFC 2782)', () => {
  it('orders SRV targets by priority, each target A then AAAA, with the SRV port', async () => {
    const { client, locate } = setup();
    client
      .on('SRV', '_sip._udp.example.com', answer([srv('b.example.com', 5070, 20), srv('a.example.com', 5080, 10)]))
      .on('A', 'a.example.com', answer(['10.0.0.1']))
      .on('AAAA', 'a.example.com', answer(['2001:db8::1']))
      .on('A', 'b.example.com', answer(['10.0.0.2']))
      .on('AAAA', 'b.example.com', nodata());
    const hops = await locate('sip:example.com');
    assert.deepEqual(brief(hops), ['udp:10.0.0.1:5080 a.example.com', 'udp:2001:db8::1:5080 a.example.com', 'udp:10.0.0.2:5070 b.example.com']);
  });

  it('looks up only the SRV of the target transport: tcp, and _sips._tcp for sips:', async () => {
    const { client, locate } = setup();
    client
      .on('SRV', '_sip._tcp.example.com', answer([srv('t.example.com', 5060)]))
      .on('SRV', '_sips._tcp.example.com', answer([srv('s.example.com', 5061)]))
      .on('A', 't.example.com', answer(['10.0.0.3']))
      .on('A', 's.example.com', answer(['10.0.0.4']));
    assert.deepEqual(brief(await locate('sip:example.com;transport=tcp')), ['tcp:10.0.0.3:5060 t.example.com']);
    assert.deepEqual(brief(await locate('sips:example.com')), ['tls:10.0.0.4:5061 s.example.com']);
    assert.deepEqual(brief(await locate('sip:example.com', 'TCP')), ['tcp:10.0.0.3:5060 t.example.com'], 'the default protocol picks the SRV');
    assert.ok(!client.calls.includes('SRV _sip._udp.example.com'));
  });

  it('falls back to A/AAAA with the default port when the SRV name does not exist', async () => {
    const { client, guard, locate } = setup();
    client.on('A', 'pbx.example', answer(['10.0.0.1']));
    assert.deepEqual(brief(await locate('sip:pbx.example')), ['udp:10.0.0.1:5060 pbx.example']);
    assert.deepEqual(brief(await locate('sips:pbx.example')), ['tls:10.0.0.1:5061 pbx.example']);
    assert.ok(!guard.failures.some((f) => f.includes('SRV')), 'a missing SRV is no DNS failure');
  });

  it('falls back to A/AAAA when the name has no SRV records (NODATA)', async () => {
    const { client, locate } = setup();
    client.on('SRV', '_sip._udp.pbx.example', nodata()).on('A', 'pbx.example', answer(['10.0.0.1']));
    assert.deepEqual(brief(await locate('sip:pbx.example')), ['udp:10.0.0.1:5060 pbx.example']);
  });

  it('an SRV target "." means the service is not available: DNS_NO_DATA, no A fallback', async () => {
    const { client, locate } = setup();
    client.on('SRV', '_sip._udp.pbx.example', answer([])).on('A', 'pbx.example', answer(['10.0.0.1']));
    await rejectsWith(locate('sip:pbx.example'), ErrorCodes.DNS_NO_DATA);
    assert.equal(client.count('A', 'pbx.example'), 0);
  });

  it('skips an SRV target that does not resolve and keeps the others in order', async () => {
    const { client, locate } = setup();
    client
      .on('SRV', '_sip._udp.example.com', answer([srv('gone.example.com', 5060, 10), srv('b.example.com', 5060, 20)]))
      .on('A', 'b.example.com', answer(['10.0.0.2']));
    assert.deepEqual(brief(await locate('sip:example.com')), ['udp:10.0.0.2:5060 b.example.com']);
  });

  it('lists an address shared by two SRV records once, at its first place', async () => {
    const { client, locate } = setup();
    client
      .on('SRV', '_sip._udp.example.com', answer([srv('a.example.com', 5060, 10), srv('alias.example.com', 5060, 20), srv('b.example.com', 5060, 30)]))
      .on('A', 'a.example.com', answer(['10.0.0.1']))
      .on('A', 'alias.example.com', answer(['10.0.0.1']))
      .on('A', 'b.example.com', answer(['10.0.0.2']));
    assert.deepEqual(brief(await locate('sip:example.com')), ['udp:10.0.0.1:5060 a.example.com', 'udp:10.0.0.2:5060 b.example.com']);
  });

  it('rejects with the most telling error when no SRV target resolves: a timeout beats NXDOMAIN', async () => {
    const { client, locate } = setup();
    client
      .on('SRV', '_sip._udp.example.com', answer([srv('gone.example.com', 5060, 10), srv('slow.example.com', 5060, 20)]))
      .on('A', 'slow.example.com', timeout())
      .on('AAAA', 'slow.example.com', timeout());
    await rejectsWith(locate('sip:example.com'), ErrorCodes.DNS_TIMEOUT);
  });

  it('a vanished host is DNS_NXDOMAIN and the guard hears of it', async () => {
    const { guard, locate } = setup();
    await rejectsWith(locate('sip:gone.example'), ErrorCodes.DNS_NXDOMAIN);
    assert.ok(guard.failures.some((f) => f.includes('MWI_DNS_NXDOMAIN') && f.includes('gone.example')));
  });

  it('a host with neither A nor AAAA is DNS_NO_DATA', async () => {
    const { client, locate } = setup();
    client.on('A', 'bare.example', nodata()).on('AAAA', 'bare.example', nodata());
    await rejectsWith(locate('sip:bare.example:5060'), ErrorCodes.DNS_NO_DATA);
  });

  it('an SRV timeout is DNS_TIMEOUT, not a silent A fallback', async () => {
    const { client, locate } = setup();
    client.on('SRV', '_sip._udp.example.com', timeout()).on('A', 'example.com', answer(['10.0.0.1']));
    await rejectsWith(locate('sip:example.com'), ErrorCodes.DNS_TIMEOUT);
  });

  it('the steady state sends no query: 1,000 locate() calls within the TTL use the cache', async () => {
    const { client, cache, locate } = setup();
    client
      .on('SRV', '_sip._udp.example.com', answer([srv('a.example.com', 5060, 10), srv('b.example.com', 5060, 20)], 300))
      .on('A', 'a.example.com', answer(['10.0.0.1'], 300))
      .on('A', 'b.example.com', answer(['10.0.0.2'], 300));
    await locate('sip:example.com');
    const warm = client.calls.length;
    for (let i = 0; i < 1_000; i++) await locate('sip:example.com');
    assert.equal(client.calls.length, warm);
    assert.equal(cache.stats.locates, 1_001);
  });
});

describe('SipLocator: NAPTR (RFC 3263 4.1)', () => {
  function naptrZone(client: FakeDnsClient): void {
    client
      .on('NAPTR', 'example.com', answer([
        naptr(20, 10, 'SIP+D2U', '_sip._udp.example.com'),
        naptr(10, 20, 'SIP+D2T', '_sip._tcp.example.com'),
        naptr(10, 10, 'SIPS+D2T', '_sips._tcp.example.com'),
        naptr(5, 10, 'SIP+D2S', '_sip._sctp.example.com'),
        naptr(1, 10, 'SIP+D2U', 'udp-by-regexp.example.com', 'u'),
      ]))
      .on('SRV', '_sip._udp.example.com', answer([srv('u.example.com', 5060)]))
      .on('SRV', '_sip._tcp.example.com', answer([srv('t.example.com', 5060)]))
      .on('SRV', '_sips._tcp.example.com', answer([srv('s.example.com', 5061)]))
      .on('A', 'u.example.com', answer(['10.0.0.1']))
      .on('A', 't.example.com', answer(['10.0.0.2']))
      .on('A', 's.example.com', answer(['10.0.0.3']));
  }

  it('follows usable NAPTR records by order then preference, skipping unsupported services and flags', async () => {
    const { client, locate } = setup({ naptr: true });
    naptrZone(client);
    assert.deepEqual(brief(await locate('sip:example.com')), ['tls:10.0.0.3:5061 s.example.com', 'tcp:10.0.0.2:5060 t.example.com', 'udp:10.0.0.1:5060 u.example.com']);
    assert.equal(client.count('SRV', '_sip._sctp.example.com'), 0);
  });

  it('a sips: target takes only SIPS+D2T', async () => {
    const { client, locate } = setup({ naptr: true });
    naptrZone(client);
    assert.deepEqual(brief(await locate('sips:example.com')), ['tls:10.0.0.3:5061 s.example.com']);
  });

  it('an explicit transport skips NAPTR', async () => {
    const { client, locate } = setup({ naptr: true });
    naptrZone(client);
    assert.deepEqual(brief(await locate('sip:example.com;transport=tcp')), ['tcp:10.0.0.2:5060 t.example.com']);
    assert.equal(client.count('NAPTR', 'example.com'), 0);
  });

  it('no NAPTR records: SRV of the target transport', async () => {
    const { client, locate } = setup({ naptr: true });
    client.on('SRV', '_sip._udp.example.com', answer([srv('u.example.com', 5060)])).on('A', 'u.example.com', answer(['10.0.0.1']));
    assert.deepEqual(brief(await locate('sip:example.com')), ['udp:10.0.0.1:5060 u.example.com']);
    assert.equal(client.count('NAPTR', 'example.com'), 1);
  });

  it('with dns.naptr off no NAPTR query is sent', async () => {
    const { client, locate } = setup({ naptr: false });
    naptrZone(client);
    assert.deepEqual(brief(await locate('sip:example.com')), ['udp:10.0.0.1:5060 u.example.com']);
    assert.equal(client.count('NAPTR', 'example.com'), 0);
  });
});

describe('SipLocator: errors', () => {
  it('rejects only with DNS_* MwiErrors, whatever the client does', async () => {
    const dnsCodes = new Set<string>(Object.values(ErrorCodes).filter((c) => c.startsWith('MWI_DNS_')));
    const behaviours = [nxdomain(), nodata(), timeout(), fail(ErrorCodes.DNS_FAILED), () => Promise.reject(new Error('bug')), answer(['not-an-ip', 42])];
    await fc.assert(
      fc.asyncProperty(fc.array(fc.integer({ min: 0, max: behaviours.length - 1 }), { minLength: 4, maxLength: 4 }), async ([s, a, aaaa, n]) => {
        const { client, locate } = setup({ naptr: true });
        client
          .on('NAPTR', 'example.com', behaviours[n ?? 0] ?? nxdomain())
          .on('SRV', '_sip._udp.example.com', behaviours[s ?? 0] ?? nxdomain())
          .on('A', 'example.com', behaviours[a ?? 0] ?? nxdomain())
          .on('AAAA', 'example.com', behaviours[aaaa ?? 0] ?? nxdomain());
        try {
          const hops = await locate('sip:example.com');
          assert.ok(hops.length > 0, 'never resolves empty');
        } catch (err) {
          assert.ok(isMwiError(err) && dnsCodes.has(err.code), `unexpected ${String(err)}`);
        }
      }),
      { numRuns: 300 },
    );
  });

  it('rejects with DNS_BREAKER_OPEN when the guard closes DNS and nothing is cached', async () => {
    const { guard, locate } = setup();
    guard.allowed = false;
    await rejectsWith(locate('sip:pbx.example'), ErrorCodes.DNS_BREAKER_OPEN);
  });
});

describe('RFC 2782 weighted order', () => {
  const record = fc.record({ priority: fc.integer({ min: 0, max: 5 }), weight: fc.integer({ min: 0, max: 100 }), id: fc.nat() });

  it('is a permutation with non-decreasing priority, whatever the draws', () => {
    fc.assert(
      fc.property(fc.array(record, { maxLength: 12 }), fc.integer(), (records, seed) => {
        const ordered = orderSrv(records, prng(seed));
        assert.equal(ordered.length, records.length);
        assert.deepEqual(new Set(ordered), new Set(records));
        for (let i = 1; i < ordered.length; i++) assert.ok((ordered[i - 1]?.priority ?? 0) <= (ordered[i]?.priority ?? 0));
      }),
      { numRuns: 500 },
    );
  });

  it('is a permutation even with a random() that returns its extremes', () => {
    fc.assert(
      fc.property(fc.array(record, { maxLength: 8 }), fc.constantFrom(0, 0.999_999_999_9), (records, r) => {
        assert.equal(orderSrv(records, () => r).length, records.length);
      }),
    );
  });

  it('picks the first target in proportion to its weight (90/10 over 10,000 draws)', () => {
    const random = prng(42);
    const records = [{ priority: 1, weight: 10, id: 'light' }, { priority: 1, weight: 90, id: 'heavy' }];
    let heavyFirst = 0;
    for (let i = 0; i < 10_000; i++) if (orderSrv(records, random)[0]?.id === 'heavy') heavyFirst++;
    assert.ok(heavyFirst > 8_800 && heavyFirst < 9_200, `heavy first ${heavyFirst} times`);
  });

  it('keeps weight-0 records in their order, and puts them first only on a zero draw', () => {
    const records = [{ priority: 1, weight: 0, id: 'z1' }, { priority: 1, weight: 0, id: 'z2' }, { priority: 1, weight: 5, id: 'w' }];
    assert.deepEqual(orderSrv(records, () => 0).map((r) => r.id), ['z1', 'z2', 'w']);
    assert.deepEqual(orderSrv(records, () => 0.99).map((r) => r.id), ['w', 'z1', 'z2']);
  });
});
