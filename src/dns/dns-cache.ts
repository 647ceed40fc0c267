/**
 * Answers cached per (type, name), so SIP targets are resolved per TTL, never per message
 * (RFC 3263 section 4), with RFC 8767 stale serving while the resolver fails:
 *
 * - fresh positive or negative entry: answered from memory, no query;
 * - one query in flight per key, shared by every concurrent caller;
 * - TTLs clamped to [minTtlSec, maxTtlSec]; NXDOMAIN / NODATA kept for negativeTtlSec;
 * - a failed refresh (timeout, failure) serves the expired answer if it expired no more than
 *   maxStaleSec ago, and the key is not queried again for max(staleTtlSec, failureRecheckSec)
 *   (RFC 8767 section 4: stale answer TTL, failure recheck timer); without a stale answer the
 *   failure itself is replayed for failureRecheckSec;
 * - while the guard (the DNS breaker) disallows queries: fresh, stale or negative data, else DNS_BREAKER_OPEN;
 * - at most maxEntries keys, least recently used dropped first.
 */
import type { Clock } from '../clock.ts';
import { ErrorCodes, MwiError } from '../errors.ts';
import type { DnsAnswer, DnsClient, NaptrRecord, SrvRecord } from './dns-client.ts';
import { dnsError, dnsFailure, isNegativeAnswer } from './dns-error.ts';
import type { DnsRecordType } from './dns-error.ts';
import type { DnsGuard, DnsStats } from './types.ts';

export interface DnsCacheOptions {
  client: DnsClient;
  clock: Clock;
  guard: DnsGuard;
  minTtlSec: number;
  maxTtlSec: number;
  negativeTtlSec: number;
  staleTtlSec: number;
  failureRecheckSec: number;
  /** 0 = never serve stale. */
  maxStaleSec: number;
  maxEntries: number;
}

interface Entry {
  /** The last positive answer, kept past its expiry for stale serving. */
  answer: { records: readonly unknown[]; expiresAtMs: number } | undefined;
  negative: { error: MwiError; expiresAtMs: number } | undefined;
  /** No query for this key before untilMs; `error` is what callers get when nothing stale is left. */
  hold: { error: MwiError; untilMs: number } | undefined;
}

type Outcome = { ok: true; records: readonly unknown[]; stale: boolean } | { ok: false; error: MwiError };

const SEC_MS = 1000;

export function emptyDnsStats(): DnsStats {
  return { queries: 0, hits: 0, misses: 0, staleServed: 0, negativeHits: 0, failures: 0, sharedInFlight: 0, evictions: 0, locates: 0 };
}

/** Lower-case without the trailing dot: one cache key however the name was written. */
function keyName(name: string): string {
  return name.toLowerCase().replace(/\.$/, '');
}

export class DnsCache {
  /** Live counters; the locator adds `locates`. */
  readonly stats: DnsStats = emptyDnsStats();
  readonly #o: DnsCacheOptions;
  /** Insertion order is recency order: a read moves the key to the end. */
  readonly #entries = new Map<string, Entry>();
  readonly #inFlight = new Map<string, Promise<Outcome>>();

  constructor(options: DnsCacheOptions) {
    this.#o = options;
  }

  get size(): number {
    return this.#entries.size;
  }

  srv(name: string): Promise<readonly SrvRecord[]> {
    return this.#lookup('SRV', name, (n) => this.#o.client.srv(n));
  }

  naptr(name: string): Promise<readonly NaptrRecord[]> {
    return this.#lookup('NAPTR', name, (n) => this.#o.client.naptr(n));
  }

  a(name: string): Promise<readonly string[]> {
    return this.#lookup('A', name, (n) => this.#o.client.a(n));
  }

  aaaa(name: string): Promise<readonly string[]> {
    return this.#lookup('AAAA', name, (n) => this.#o.client.aaaa(n));
  }

  async #lookup<T>(type: DnsRecordType, rawName: string, query: (name: string) => Promise<DnsAnswer<T>>): Promise<readonly T[]> {
    const name = keyName(rawName);
    const key = `${type} ${name}`;
    const now = this.#o.clock.now();
    const entry = this.#touch(key);
    if (entry?.answer && now < entry.answer.expiresAtMs) {
      this.stats.hits++;
      return entry.answer.records as readonly T[];
    }
    if (entry?.negative && now < entry.negative.expiresAtMs) {
      this.stats.negativeHits++;
      throw entry.negative.error;
    }
    const flying = this.#inFlight.get(key);
    if (flying) {
      this.stats.sharedInFlight++;
      return this.#deliver<T>(await flying);
    }
    if (entry?.hold && now < entry.hold.untilMs) return this.#staleOr<T>(entry, now, entry.hold.error);
    if (!this.#o.guard.allowsQuery()) {
      return this.#staleOr<T>(entry, now, new MwiError(ErrorCodes.DNS_BREAKER_OPEN, `DNS ${type} ${name}: DNS breaker open and nothing cached`, { retryable: true }));
    }
    this.stats.misses++;
    const pending = this.#query(key, type, name, query);
    this.#inFlight.set(key, pending);
    return this.#deliver<T>(await pending);
  }

  #deliver<T>(outcome: Outcome): readonly T[] {
    if (!outcome.ok) throw outcome.error;
    if (outcome.stale) this.stats.staleServed++;
    return outcome.records as readonly T[];
  }

  #staleOr<T>(entry: Entry | undefined, now: number, error: MwiError): readonly T[] {
    const stale = this.#usableStale(entry, now);
    if (stale === undefined) throw error;
    this.stats.staleServed++;
    return stale as readonly T[];
  }

  #usableStale(entry: Entry | undefined, now: number): readonly unknown[] | undefined {
    const answer = entry?.answer;
    if (answer === undefined || this.#o.maxStaleSec <= 0) return undefined;
    return now - answer.expiresAtMs <= this.#o.maxStaleSec * SEC_MS ? answer.records : undefined;
  }

  /** Never rejects: every caller, initiator or joiner, reads the same outcome. */
  async #query<T>(key: string, type: DnsRecordType, name: string, query: (name: string) => Promise<DnsAnswer<T>>): Promise<Outcome> {
    this.stats.queries++;
    try {
      let answer: DnsAnswer<T>;
      try {
        answer = await query(name);
      } catch (err) {
        return this.#failed(key, type, name, dnsError(err, type, name));
      }
      return this.#answered(key, type, name, answer);
    } catch (err) {
      // A bug (a throwing guard, a malformed fake answer) must still reach callers as a DNS_* error.
      return { ok: false, error: dnsFailure(ErrorCodes.DNS_FAILED, type, name, 'unexpected error', err) };
    } finally {
      this.#inFlight.delete(key);
    }
  }

  #answered(key: string, type: DnsRecordType, name: string, answer: DnsAnswer<unknown>): Outcome {
    if (!Array.isArray(answer.records)) return this.#failed(key, type, name, dnsFailure(ErrorCodes.DNS_FAILED, type, name, 'answer without records'));
    const ttlSec = Number.isFinite(answer.ttlSec) ? answer.ttlSec : 0;
    const clampedSec = Math.min(this.#o.maxTtlSec, Math.max(this.#o.minTtlSec, ttlSec));
    const records: readonly unknown[] = [...(answer.records as readonly unknown[])];
    this.#store(key, { answer: { records, expiresAtMs: this.#o.clock.now() + clampedSec * SEC_MS }, negative: undefined, hold: undefined });
    this.#o.guard.recordSuccess({ type, name });
    return { ok: true, records, stale: false };
  }

  #failed(key: string, type: DnsRecordType, name: string, error: MwiError): Outcome {
    const now = this.#o.clock.now();
    if (isNegativeAnswer(error)) {
      // RFC 8767 section 4: NXDOMAIN and NODATA are answers, not failures: nothing stale survives them.
      // A missing SRV/NAPTR only sends RFC 3263 on to A/AAAA; a missing address means the
      // target itself vanished, which is what the DNS breaker must hear about.
      const vanished = error.code === ErrorCodes.DNS_NXDOMAIN && (type === 'A' || type === 'AAAA');
      const ttlSec = vanished ? Math.max(this.#o.negativeTtlSec, this.#o.failureRecheckSec) : this.#o.negativeTtlSec;
      this.#store(key, { answer: undefined, negative: { error, expiresAtMs: now + ttlSec * SEC_MS }, hold: undefined });
      if (vanished) this.#o.guard.recordFailure(`${error.code} ${type} ${name}`, { type, name });
      else this.#o.guard.recordSuccess({ type, name });
      return { ok: false, error };
    }
    this.stats.failures++;
    this.#o.guard.recordFailure(`${error.code} ${type} ${name}`, { type, name });
    const entry = this.#entries.get(key);
    const stale = this.#usableStale(entry, now);
    const holdSec = stale === undefined ? this.#o.failureRecheckSec : Math.max(this.#o.staleTtlSec, this.#o.failureRecheckSec);
    this.#store(key, { answer: entry?.answer, negative: undefined, hold: { error, untilMs: now + holdSec * SEC_MS } });
    return stale === undefined ? { ok: false, error } : { ok: true, records: stale, stale: true };
  }

  #touch(key: string): Entry | undefined {
    const entry = this.#entries.get(key);
    if (entry !== undefined) {
      this.#entries.delete(key);
      this.#entries.set(key, entry);
    }
    return entry;
  }

  #store(key: string, entry: Entry): void {
    this.#entries.delete(key);
    this.#entries.set(key, entry);
    for (const oldest of this.#entries.keys()) {
      if (this.#entries.size <= this.#o.maxEntries) break;
      this.#entries.delete(oldest);
      this.stats.evictions++;
    }
  }
}
