/**
 * The DNS circuit breaker (fleet-wide, id `dns`) as the DNS cache sees it. While it is open no
 * process queries DNS: the cache serves fresh, stale (RFC 8767) or negative answers only.
 *
 * Its half-open probe is one real query, at most one per breaker probe interval for the whole
 * fleet (the DNS breaker instance is built with probe intervals of dns.failureRecheckSec). It asks
 * a name that last resolved, when there is one: the question is "is DNS up?", not "does this name
 * exist?". A single target that vanished from DNS (NXDOMAIN) then opens the breaker, the probe
 * closes it, and that name is queried again once per recheck interval (its negative cache entry)
 * instead of holding every other name's refresh hostage.
 */
import type { FleetBreakers } from '../breaker/types.ts';
import type { DnsClient } from './dns-client.ts';
import type { DnsGuard, DnsQuery } from './types.ts';

export const DNS_BREAKER_ID = 'dns';

export class BreakerDnsGuard implements DnsGuard {
  #breakers: FleetBreakers | undefined;
  #lastGood: DnsQuery | undefined;
  #lastBad: DnsQuery | undefined;

  /** Until attached (no Redis yet, or the CLI) every query is allowed. */
  attach(breakers: FleetBreakers, client: DnsClient): void {
    this.#breakers = breakers;
    breakers.register(DNS_BREAKER_ID, () => this.#probe(client));
  }

  allowsQuery(): boolean {
    return this.#breakers === undefined || this.#breakers.state(DNS_BREAKER_ID).kind === 'closed';
  }

  recordSuccess(query?: DnsQuery): void {
    if (query && (query.type === 'A' || query.type === 'AAAA')) this.#lastGood = query;
    this.#breakers?.record(DNS_BREAKER_ID, { ok: true });
  }

  recordFailure(reason: string, query?: DnsQuery): void {
    if (query) this.#lastBad = query;
    this.#breakers?.record(DNS_BREAKER_ID, { ok: false, reason });
  }

  async #probe(client: DnsClient): Promise<{ up: boolean; reason: string }> {
    const q = this.#lastGood ?? this.#lastBad;
    if (q === undefined) return { up: true, reason: 'nothing to ask' };
    try {
      const answer: { records: readonly unknown[] } =
        q.type === 'A' ? await client.a(q.name) : q.type === 'AAAA' ? await client.aaaa(q.name) : q.type === 'SRV' ? await client.srv(q.name) : await client.naptr(q.name);
      return { up: true, reason: `${q.type} ${q.name}: ${answer.records.length} record(s)` };
    } catch (err) {
      return { up: false, reason: `${q.type} ${q.name}: ${err instanceof Error ? err.message : String(err)}` };
    }
  }
}
