/**
 * The DNS side of a process, built from the `dns` configuration: one c-ares client, one cache
 * (RFC 8767), the RFC 3263 locator on top, and a HostResolver over the same cache for the
 * transports (requests sent without an explicit hop, e.g. `mwi send`). Everything a process
 * resolves shares one cache and one set of counters.
 */
import { isIP } from 'node:net';
import type { Config } from '../../config/schema.ts';
import type { Clock } from '../clock.ts';
import { ErrorCodes, MwiError, isMwiError } from '../errors.ts';
import type { HostResolver } from '../sip/transport/transport.ts';
import { DnsCache } from './dns-cache.ts';
import { createCaresClient, type DnsClient } from './dns-client.ts';
import { BreakerDnsGuard } from './breaker-guard.ts';
import { createSipLocator } from './sip-locator.ts';
import type { DnsGuard, DnsStats, SipLocator } from './types.ts';

export interface Dns {
  client: DnsClient;
  cache: DnsCache;
  locator: SipLocator;
  resolver: HostResolver;
  stats: DnsStats;
  /** The DNS breaker's seat: allows everything until breakers are attached (when Redis is there). */
  guard: BreakerDnsGuard;
}

export function createDns(deps: { config: Config; clock: Clock; guard?: DnsGuard; client?: DnsClient; random?: () => number }): Dns {
  const d = deps.config.dns;
  const client = deps.client ?? createCaresClient({ servers: d.servers, timeoutMs: d.timeoutMs, tries: d.tries, srvTtlSec: d.srvTtlSec });
  const guard = new BreakerDnsGuard();
  const cache = new DnsCache({
    client,
    clock: deps.clock,
    guard: deps.guard ?? guard,
    minTtlSec: d.minTtlSec,
    maxTtlSec: d.maxTtlSec,
    negativeTtlSec: d.negativeTtlSec,
    staleTtlSec: d.staleTtlSec,
    failureRecheckSec: d.failureRecheckSec,
    maxStaleSec: d.maxStaleSec,
    maxEntries: d.maxEntries,
  });
  const locator = createSipLocator({ cache, naptr: d.naptr, ...(deps.random ? { random: deps.random } : {}) });
  return { client, cache, locator, resolver: cachedHostResolver(cache), stats: cache.stats, guard };
}

/** A names to an address through the cache: A first, then AAAA; IP literals and localhost without DNS. */
export function cachedHostResolver(cache: Pick<DnsCache, 'a' | 'aaaa'>): HostResolver {
  return {
    async resolve(host: string): Promise<string> {
      if (isIP(host) !== 0) return host;
      if (host === 'localhost') return '127.0.0.1';
      let v4Error: unknown;
      try {
        const [first] = await cache.a(host);
        if (first !== undefined) return first;
      } catch (err) {
        v4Error = err;
      }
      try {
        const [first] = await cache.aaaa(host);
        if (first !== undefined) return first;
      } catch (err) {
        // The A failure usually says more (a timeout beats "no AAAA").
        throw isMwiError(v4Error) ? v4Error : err;
      }
      throw isMwiError(v4Error) ? v4Error : new MwiError(ErrorCodes.DNS_NO_DATA, `${host}: no A or AAAA record`);
    },
  };
}
