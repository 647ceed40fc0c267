/**
 * The DNS layer's seams: what the delivery path asks of RFC 3263 location, and how the DNS
 * circuit breaker gates real queries. Implementations: sip-locator.ts, dns-cache.ts, dns-client.ts.
 */
import type { SipTarget } from '../sip/target.ts';
import type { TransportProtocol } from '../sip/transport/transport.ts';

/** One place a request can go, as RFC 3263 found it. */
export interface SipHop {
  /** IP literal (IPv6 without brackets). */
  address: string;
  port: number;
  protocol: TransportProtocol;
  /** The host name the address came from (TLS SNI and certificate name, logs); undefined when the target was an IP. */
  hostName: string | undefined;
  /** Identity of this hop for breakers, rate limits and metrics: `${protocol lower-case}:${address}:${port}`. */
  key: string;
}

export interface SipLocator {
  /**
   * The hops to try for a target, best first (RFC 3263: an IP, explicit port or transport short-circuits;
   * otherwise NAPTR (optional), SRV by priority then weight, then A/AAAA). Never resolves empty:
   * rejects with an MwiError whose code is one of DNS_NXDOMAIN, DNS_NO_DATA, DNS_TIMEOUT, DNS_FAILED, DNS_BREAKER_OPEN.
   */
  locate(target: SipTarget): Promise<SipHop[]>;
}

/** Counters of one process's DNS cache (exported as metrics). */
export interface DnsStats {
  /** Queries sent to a DNS server (each try counts once per query, not per c-ares retry). */
  queries: number;
  /** Answered from a fresh cache entry. */
  hits: number;
  /** Answered by a query (no usable entry). */
  misses: number;
  /** Answered from an expired entry because the resolver failed (RFC 8767). */
  staleServed: number;
  /** Answered from a cached NXDOMAIN / no-data. */
  negativeHits: number;
  /** Queries that failed (timeout, SERVFAIL, REFUSED, garbage); NXDOMAIN is not a failure here. */
  failures: number;
  /** Callers that joined a query already in flight for the same name and type. */
  sharedInFlight: number;
  /** Entries dropped to stay within dns.maxEntries. */
  evictions: number;
  /** locate() calls (one per message that needed a hop list); queries / locates = lookups per message. */
  locates: number;
}

/** The DNS circuit breaker as the cache sees it. A no-op guard (always allows) is fine for the CLI. */
export interface DnsGuard {
  /** false while the fleet's DNS breaker is open: serve fresh, stale or negative cache only, do not query. */
  allowsQuery(): boolean;
  /** `query`: what was answered (the breaker's probe re-asks a name known to resolve). */
  recordSuccess(query?: DnsQuery): void;
  /** Evidence that DNS is failing: timeouts, SERVFAIL/REFUSED, unusable answers, and NXDOMAIN for a SIP target. */
  recordFailure(reason: string, query?: DnsQuery): void;
}

export interface DnsQuery {
  type: 'SRV' | 'NAPTR' | 'A' | 'AAAA';
  name: string;
}
