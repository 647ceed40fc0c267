import assert from 'node:assert/strict';
import { describe, it } from 'node:test';

import fc from 'fast-check';

import { FakeClock } from '../../src/clock.ts';
import { DnsCache } from '../../src/dns/dns-cache.ts';
import type { DnsCacheOptions } from '../../src/dns/dns-cache.ts';
import { ErrorCodes, MwiError, isMwiError } from '../../src/errors.ts';
import type { ErrorCode } from '../../src/errors.ts';
import { FakeDnsClient, RecordingGuard, answer, deferred, fail, nodata, nxdomain, timeout } from '../support/fake-dns.ts';

const SEC_MS = 1000;

function setup(overrides: Partial<DnsCacheOptions> = {}) {
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
    ...overrides,
  });
  return { clock, client, guard, cache };
}

async function rejectsWith(promise: Promise<unknown>, code: ErrorCode): Promise<MwiError> {
  let caught: unknown;
  await promise.then(
    () => assert.fail(`expected ${code}, got an answer`),
    (err: unknown) => {
      caught = err;
    },
  );
  assert.ok(isMwiError(caught, code), `expected ${code}, got ${String(caught)}`);
  return caught;
}

describe('DnsCache: positive answers', () => {
  it('answers from memory within the TTL: one query, then hits', async () => {
    const { clock, client, cache } = setup();
    client.on('A', 'pbx.example', answer(['10.0.0.1'], 60));
    assert.deepEqual(await cache.a('pbx.example'), ['10.0.0.1']);
    clock.advance(59 * SEC_MS);
    assert.deepEqual(await cache.a('pbx.example'), ['10.0.0.1']);
    assert.equal(client.count('A', 'pbx.example'), 1);
    assert.deepEqual([cache.stats.queries, cache.stats.misses, cache.stats.hits], [1, 1, 1]);
    clock.advance(1 * SEC_MS);
    await cache.a('pbx.example');
    assert.equal(client.count('A', 'pbx.example'), 2, 're-queried once the TTL ran out');
  });

  it('clamps a TTL below minTtlSec up to it', async () => {
    const { clock, client, cache } = setup({ minTtlSec: 5 });
    client.on('A', 'pbx.example', answer(['10.0.0.1'], 0));
    await cache.a('pbx.example');
    clock.advance(4_999);
    await cache.a('pbx.example');
    assert.equal(client.count('A', 'pbx.example'), 1);
    clock.advance(1);
    await cache.a('pbx.example');
    assert.equal(client.count('A', 'pbx.example'), 2);
  });

  it('clamps a TTL above maxTtlSec down to it', async () => {
    const { clock, client, cache } = setup({ maxTtlSec: 60 });
    client.on('SRV', '_sip._udp.example', answer([], 604_800));
    await cache.srv('_sip._udp.example');
    clock.advance(60 * SEC_MS);
    await cache.srv('_sip._udp.example');
    assert.equal(client.count('SRV', '_sip._udp.example'), 2);
  });

  it('keys names case-insensitively and without the trailing dot', async () => {
    const { client, cache } = setup();
    client.on('A', 'pbx.example', answer(['10.0.0.1']));
    await cache.a('PBX.Example.');
    await cache.a('pbx.example');
    assert.deepEqual(client.calls, ['A pbx.example']);
  });

  it('keeps record types apart: A and AAAA of one name are two entries', async () => {
    const { client, cache } = setup();
    client.on('A', 'pbx.example', answer(['10.0.0.1'])).on('AAAA', 'pbx.example', answer(['2001:db8::1']));
    assert.deepEqual(await cache.a('pbx.example'), ['10.0.0.1']);
    assert.deepEqual(await cache.aaaa('pbx.example'), ['2001:db8::1']);
    assert.equal(cache.size, 2);
  });

  it('shares one in-flight query among concurrent callers', async () => {
    const { client, cache } = setup();
    const reply = deferred<{ records: string[]; ttlSec: number }>();
    client.on('A', 'pbx.example', () => reply.promise);
    const callers = Array.from({ length: 5 }, () => cache.a('pbx.example'));
    reply.resolve({ records: ['10.0.0.1'], ttlSec: 60 });
    for (const result of await Promise.all(callers)) assert.deepEqual(result, ['10.0.0.1']);
    assert.equal(client.count('A', 'pbx.example'), 1);
    assert.deepEqual([cache.stats.queries, cache.stats.misses, cache.stats.sharedInFlight], [1, 1, 4]);
  });

  it('shares a failing in-flight query too: every caller gets its error', async () => {
    const { client, cache } = setup();
    const reply = deferred<never>();
    client.on('A', 'pbx.example', () => reply.promise);
    const callers = Array.from({ length: 3 }, () => rejectsWith(cache.a('pbx.example'), ErrorCodes.DNS_TIMEOUT));
    reply.reject(Object.assign(new Error('timeout'), { code: 'ETIMEOUT' }));
    await Promise.all(callers);
    assert.equal(client.count('A', 'pbx.example'), 1);
  });
});

describe('DnsCache: negative answers', () => {
  it('caches NXDOMAIN for negativeTtlSec and rethrows the same MwiError', async () => {
    const { clock, client, cache } = setup({ negativeTtlSec: 30, failureRecheckSec: 1 });
    client.on('SRV', '_sip._udp.gone.example', nxdomain());
    const first = await rejectsWith(cache.srv('_sip._udp.gone.example'), ErrorCodes.DNS_NXDOMAIN);
    clock.advance(29 * SEC_MS);
    const second = await rejectsWith(cache.srv('_sip._udp.gone.example'), ErrorCodes.DNS_NXDOMAIN);
    assert.equal(second, first);
    assert.equal(client.count('SRV', '_sip._udp.gone.example'), 1);
    assert.equal(cache.stats.negativeHits, 1);
    clock.advance(1 * SEC_MS);
    await rejectsWith(cache.srv('_sip._udp.gone.example'), ErrorCodes.DNS_NXDOMAIN);
    assert.equal(client.count('SRV', '_sip._udp.gone.example'), 2);
  });

  it('caches NODATA the same way, as DNS_NO_DATA', async () => {
    const { client, cache } = setup();
    client.on('AAAA', 'v4only.example', nodata());
    await rejectsWith(cache.aaaa('v4only.example'), ErrorCodes.DNS_NO_DATA);
    await rejectsWith(cache.aaaa('v4only.example'), ErrorCodes.DNS_NO_DATA);
    assert.equal(client.count('AAAA', 'v4only.example'), 1);
  });

  it('does not count negative answers as failures in DnsStats', async () => {
    const { client, cache } = setup();
    client.on('A', 'gone.example', nxdomain());
    await rejectsWith(cache.a('gone.example'), ErrorCodes.DNS_NXDOMAIN);
    assert.equal(cache.stats.failures, 0);
  });

  it('tells the guard NXDOMAIN of an address is a failure (the SIP target vanished)', async () => {
    const { client, guard, cache } = setup();
    client.on('A', 'gone.example', nxdomain());
    await rejectsWith(cache.a('gone.example'), ErrorCodes.DNS_NXDOMAIN);
    assert.equal(guard.failures.length, 1);
    assert.match(guard.failures[0] ?? '', /MWI_DNS_NXDOMAIN/);
  });

  it('tells the guard a missing SRV or NAPTR is no failure (RFC 3263 goes on to A/AAAA)', async () => {
    const { client, guard, cache } = setup();
    client.on('SRV', '_sip._udp.a.example', nxdomain()).on('SRV', '_sip._udp.b.example', nodata()).on('NAPTR', 'a.example', nxdomain());
    await rejectsWith(cache.srv('_sip._udp.a.example'), ErrorCodes.DNS_NXDOMAIN);
    await rejectsWith(cache.srv('_sip._udp.b.example'), ErrorCodes.DNS_NO_DATA);
    await rejectsWith(cache.naptr('a.example'), ErrorCodes.DNS_NXDOMAIN);
    assert.deepEqual(guard.failures, []);
    assert.equal(guard.successes, 3);
  });

  it('does not query a vanished address again for failureRecheckSec even when negativeTtlSec is shorter', async () => {
    const { clock, client, cache } = setup({ negativeTtlSec: 5, failureRecheckSec: 20 });
    client.on('A', 'gone.example', nxdomain());
    await rejectsWith(cache.a('gone.example'), ErrorCodes.DNS_NXDOMAIN);
    clock.advance(19 * SEC_MS);
    await rejectsWith(cache.a('gone.example'), ErrorCodes.DNS_NXDOMAIN);
    assert.equal(client.count('A', 'gone.example'), 1);
    clock.advance(1 * SEC_MS);
    await rejectsWith(cache.a('gone.example'), ErrorCodes.DNS_NXDOMAIN);
    assert.equal(client.count('A', 'gone.example'), 2);
  });

  it('serves nothing stale over an NXDOMAIN: it is an answer, not a failure (RFC 8767 section 4)', async () => {
    const { clock, client, cache } = setup();
    client.on('A', 'pbx.example', answer(['10.0.0.1'], 60));
    await cache.a('pbx.example');
    clock.advance(61 * SEC_MS);
    client.on('A', 'pbx.example', nxdomain());
    await rejectsWith(cache.a('pbx.example'), ErrorCodes.DNS_NXDOMAIN);
    assert.equal(cache.stats.staleServed, 0);
  });
});

describe('DnsCache: RFC 8767 stale serving', () => {
  async function expiredEntry(overrides: Partial<DnsCacheOptions> = {}) {
    const env = setup(overrides);
    env.client.on('A', 'pbx.example', answer(['10.0.0.1'], 60));
    await env.cache.a('pbx.example');
    env.clock.advance(60 * SEC_MS);
    env.client.on('A', 'pbx.example', timeout());
    return env;
  }

  it('serves the expired answer when the refresh times out, and counts it', async () => {
    const { client, guard, cache } = await expiredEntry();
    assert.deepEqual(await cache.a('pbx.example'), ['10.0.0.1']);
    assert.equal(client.count('A', 'pbx.example'), 2);
    assert.deepEqual([cache.stats.staleServed, cache.stats.failures], [1, 1]);
    assert.equal(guard.failures.length, 1);
  });

  it('serves the expired answer when the server fails (SERVFAIL, REFUSED: DNS_FAILED)', async () => {
    const { client, cache } = await expiredEntry();
    client.on('A', 'pbx.example', fail(ErrorCodes.DNS_FAILED));
    assert.deepEqual(await cache.a('pbx.example'), ['10.0.0.1']);
    assert.equal(cache.stats.staleServed, 1);
  });

  it('keeps serving stale without querying for staleTtlSec, then tries again', async () => {
    const { clock, client, cache } = await expiredEntry({ staleTtlSec: 30, failureRecheckSec: 10 });
    await cache.a('pbx.example');
    clock.advance(29 * SEC_MS);
    assert.deepEqual(await cache.a('pbx.example'), ['10.0.0.1']);
    assert.equal(client.count('A', 'pbx.example'), 2);
    assert.equal(cache.stats.staleServed, 2);
    clock.advance(1 * SEC_MS);
    await cache.a('pbx.example');
    assert.equal(client.count('A', 'pbx.example'), 3);
  });

  it('holds queries for failureRecheckSec when it is longer than staleTtlSec', async () => {
    const { clock, client, cache } = await expiredEntry({ staleTtlSec: 5, failureRecheckSec: 30 });
    await cache.a('pbx.example');
    clock.advance(29 * SEC_MS);
    await cache.a('pbx.example');
    assert.equal(client.count('A', 'pbx.example'), 2);
    clock.advance(1 * SEC_MS);
    await cache.a('pbx.example');
    assert.equal(client.count('A', 'pbx.example'), 3);
  });

  it('goes back to fresh answers once the refresh succeeds', async () => {
    const { clock, client, guard, cache } = await expiredEntry({ staleTtlSec: 30, failureRecheckSec: 30 });
    await cache.a('pbx.example');
    clock.advance(30 * SEC_MS);
    client.on('A', 'pbx.example', answer(['10.0.0.2'], 60));
    assert.deepEqual(await cache.a('pbx.example'), ['10.0.0.2']);
    assert.deepEqual(await cache.a('pbx.example'), ['10.0.0.2']);
    assert.equal(client.count('A', 'pbx.example'), 3);
    assert.equal(guard.successes, 2);
  });

  it('stops serving an answer that expired more than maxStaleSec ago', async () => {
    const { clock, client, cache } = await expiredEntry({ maxStaleSec: 100, staleTtlSec: 30, failureRecheckSec: 30 });
    clock.advance(100 * SEC_MS);
    assert.deepEqual(await cache.a('pbx.example'), ['10.0.0.1'], 'exactly maxStaleSec past expiry is still served');
    clock.advance(30 * SEC_MS);
    await rejectsWith(cache.a('pbx.example'), ErrorCodes.DNS_TIMEOUT);
    assert.equal(client.count('A', 'pbx.example'), 3);
  });

  it('stops serving stale within a stale hold once maxStaleSec is passed', async () => {
    const { clock, client, cache } = await expiredEntry({ maxStaleSec: 10, staleTtlSec: 30, failureRecheckSec: 30 });
    await cache.a('pbx.example');
    clock.advance(11 * SEC_MS);
    await rejectsWith(cache.a('pbx.example'), ErrorCodes.DNS_TIMEOUT);
    assert.equal(client.count('A', 'pbx.example'), 2, 'still within the hold: no query');
  });

  it('never serves stale with maxStaleSec 0', async () => {
    const { cache } = await expiredEntry({ maxStaleSec: 0 });
    await rejectsWith(cache.a('pbx.example'), ErrorCodes.DNS_TIMEOUT);
    assert.equal(cache.stats.staleServed, 0);
  });

  it('replays a failure without stale data for failureRecheckSec instead of querying', async () => {
    const { clock, client, guard, cache } = setup({ failureRecheckSec: 30 });
    client.on('A', 'pbx.example', fail(ErrorCodes.DNS_FAILED));
    const first = await rejectsWith(cache.a('pbx.example'), ErrorCodes.DNS_FAILED);
    clock.advance(29 * SEC_MS);
    assert.equal(await rejectsWith(cache.a('pbx.example'), ErrorCodes.DNS_FAILED), first);
    assert.equal(client.count('A', 'pbx.example'), 1);
    assert.equal(guard.failures.length, 1, 'the replay is not new evidence');
    clock.advance(1 * SEC_MS);
    client.on('A', 'pbx.example', answer(['10.0.0.1']));
    assert.deepEqual(await cache.a('pbx.example'), ['10.0.0.1']);
  });
});

describe('DnsCache: the guard (DNS breaker)', () => {
  it('still answers fresh and negative entries while the guard disallows queries', async () => {
    const { client, guard, cache } = setup();
    client.on('A', 'pbx.example', answer(['10.0.0.1'])).on('A', 'gone.example', nxdomain());
    await cache.a('pbx.example');
    await rejectsWith(cache.a('gone.example'), ErrorCodes.DNS_NXDOMAIN);
    guard.allowed = false;
    assert.deepEqual(await cache.a('pbx.example'), ['10.0.0.1']);
    await rejectsWith(cache.a('gone.example'), ErrorCodes.DNS_NXDOMAIN);
    assert.equal(client.calls.length, 2);
  });

  it('serves stale instead of querying while the guard disallows queries', async () => {
    const { clock, client, guard, cache } = setup();
    client.on('A', 'pbx.example', answer(['10.0.0.1'], 60));
    await cache.a('pbx.example');
    clock.advance(61 * SEC_MS);
    guard.allowed = false;
    assert.deepEqual(await cache.a('pbx.example'), ['10.0.0.1']);
    assert.equal(client.count('A', 'pbx.example'), 1);
    assert.equal(cache.stats.staleServed, 1);
    guard.allowed = true;
    await cache.a('pbx.example');
    assert.equal(client.count('A', 'pbx.example'), 2, 'queries resume as soon as the guard allows');
  });

  it('rejects with DNS_BREAKER_OPEN and sends nothing when there is nothing to serve', async () => {
    const { client, guard, cache } = setup();
    guard.allowed = false;
    await rejectsWith(cache.srv('_sip._udp.pbx.example'), ErrorCodes.DNS_BREAKER_OPEN);
    assert.deepEqual(client.calls, []);
    assert.equal(cache.stats.queries, 0);
  });

  it('reports each real query once: success for answers, failure for timeouts, nothing for cache hits', async () => {
    const { client, guard, cache } = setup();
    client.on('A', 'pbx.example', answer(['10.0.0.1'])).on('A', 'slow.example', timeout());
    await cache.a('pbx.example');
    await cache.a('pbx.example');
    await rejectsWith(cache.a('slow.example'), ErrorCodes.DNS_TIMEOUT);
    await rejectsWith(cache.a('slow.example'), ErrorCodes.DNS_TIMEOUT);
    assert.equal(guard.successes, 1);
    assert.equal(guard.failures.length, 1);
  });
});

describe('DnsCache: bounds and robustness', () => {
  it('evicts the least recently used entry beyond maxEntries', async () => {
    const { client, cache } = setup({ maxEntries: 10 });
    for (let i = 0; i < 10; i++) client.on('A', `h${i}.example`, answer([`10.0.0.${i}`]));
    client.on('A', 'h10.example', answer(['10.0.0.10']));
    for (let i = 0; i < 10; i++) await cache.a(`h${i}.example`);
    await cache.a('h0.example'); // h0 is now the most recently used; h1 the least
    await cache.a('h10.example');
    assert.equal(cache.size, 10);
    assert.equal(cache.stats.evictions, 1);
    await cache.a('h0.example');
    assert.equal(client.count('A', 'h0.example'), 1, 'recently read entry kept');
    await cache.a('h1.example');
    assert.equal(client.count('A', 'h1.example'), 2, 'least recently used entry evicted');
  });

  it('turns a client throwing a non-MwiError into DNS_FAILED', async () => {
    const { client, cache } = setup();
    client.on('A', 'bug.example', () => Promise.reject(new TypeError('boom')));
    client.on('AAAA', 'bug.example', () => {
      throw new RangeError('sync boom');
    });
    await rejectsWith(cache.a('bug.example'), ErrorCodes.DNS_FAILED);
    await rejectsWith(cache.aaaa('bug.example'), ErrorCodes.DNS_FAILED);
  });

  it('whatever the client does and however time moves: records or a DNS_* MwiError, one query per client call', async () => {
    const behaviour = fc.oneof(
      fc.record({ kind: fc.constant('answer' as const), ttlSec: fc.integer({ min: -5, max: 100_000 }) }),
      fc.constantFrom(
        { kind: 'nxdomain' as const },
        { kind: 'nodata' as const },
        { kind: 'timeout' as const },
        { kind: 'failed' as const },
        { kind: 'garbage' as const },
        { kind: 'throws' as const },
      ),
    );
    const step = fc.record({ name: fc.constantFrom('a.example', 'b.example', 'c.example'), behaviour, advanceSec: fc.integer({ min: 0, max: 120 }), guardOpen: fc.boolean() });
    const dnsCodes = new Set<string>(Object.values(ErrorCodes).filter((c) => c.startsWith('MWI_DNS_')));
    await fc.assert(
      fc.asyncProperty(fc.array(step, { maxLength: 40 }), async (steps) => {
        const { clock, client, guard, cache } = setup({ maxEntries: 10, maxStaleSec: 300 });
        for (const s of steps) {
          const b = s.behaviour;
          client.on('A', s.name, () => {
            switch (b.kind) {
              case 'answer':
                return Promise.resolve({ records: ['10.0.0.1'], ttlSec: b.ttlSec });
              case 'nxdomain':
                return nxdomain()();
              case 'nodata':
                return nodata()();
              case 'timeout':
                return timeout()();
              case 'failed':
                return fail(ErrorCodes.DNS_FAILED)();
              case 'garbage':
                return Promise.resolve({ records: null, ttlSec: Number.NaN } as unknown as { records: string[]; ttlSec: number });
              case 'throws':
                throw new Error('bug');
            }
          });
          guard.allowed = !s.guardOpen;
          clock.advance(s.advanceSec * SEC_MS);
          try {
            const records = await cache.a(s.name);
            assert.deepEqual(records, ['10.0.0.1']);
          } catch (err) {
            assert.ok(err instanceof MwiError && dnsCodes.has(err.code), `unexpected ${String(err)}`);
          }
        }
        assert.equal(cache.stats.queries, client.calls.length);
        assert.ok(cache.size <= 10);
      }),
      { numRuns: 200 },
    );
  });
});
