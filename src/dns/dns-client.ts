/**
 * DNS queries over c-ares (`dns.promises.Resolver`) with an explicit timeout, try count and
 * servers. Never `dns.lookup`: it runs on the libuv threadpool (4 threads) and a slow resolver
 * there stalls file and crypto work too. Answers are validated (dns-answers.ts) and every
 * rejection is an MwiError with a DNS_* code (dns-error.ts).
 */
import { Resolver } from 'node:dns/promises';
import { isIP } from 'node:net';
import { ErrorCodes, MwiError } from '../errors.ts';
import { addressRecords, naptrRecords, srvRecords } from './dns-answers.ts';
import type { NaptrRecord, SrvRecord } from './dns-answers.ts';
import { dnsError } from './dns-error.ts';
import type { DnsRecordType } from './dns-error.ts';

export type { NaptrRecord, SrvRecord } from './dns-answers.ts';

export interface DnsAnswer<T> {
  records: readonly T[];
  /** TTL as published (A/AAAA) or as configured (SRV/NAPTR); the cache clamps it. */
  ttlSec: number;
}

/** The seam the cache queries through (a fake in unit tests). Rejects only with DNS_* MwiErrors. */
export interface DnsClient {
  /** `[]` records: the service is decidedly not available (RFC 2782 Target "."). */
  srv(name: string): Promise<DnsAnswer<SrvRecord>>;
  naptr(name: string): Promise<DnsAnswer<NaptrRecord>>;
  a(name: string): Promise<DnsAnswer<string>>;
  aaaa(name: string): Promise<DnsAnswer<string>>;
}

export interface CaresClientOptions {
  /** "ip", "ip:port", "[v6]:port" or a bare IPv6 address; the system's servers when empty. */
  servers: readonly string[];
  timeoutMs: number;
  tries: number;
  srvTtlSec: number;
}

/** A configured server in the form `Resolver.setServers` takes; CONFIG_INVALID when it is none. */
export function caresServer(server: string): string {
  const bracketed = /^\[([^\]]+)\](?::(\d{1,5}))?$/.exec(server);
  const v4WithPort = /^([^:]+)(?::(\d{1,5}))?$/.exec(server);
  const [host, port] = bracketed ? [bracketed[1], bracketed[2]] : v4WithPort ? [v4WithPort[1], v4WithPort[2]] : [server, undefined];
  const family = isIP(host ?? '');
  const portNumber = port === undefined ? 53 : Number(port);
  if (family === 0 || portNumber < 1 || portNumber > 65_535 || (family === 4 && bracketed)) {
    throw new MwiError(ErrorCodes.CONFIG_INVALID, `dns.servers: not an IP address with optional port: ${JSON.stringify(server)}`);
  }
  if (port === undefined) return host ?? server;
  return family === 6 ? `[${host}]:${portNumber}` : `${host}:${portNumber}`;
}

export function createCaresClient(opts: CaresClientOptions): DnsClient {
  const resolver = new Resolver({ timeout: opts.timeoutMs, tries: opts.tries });
  if (opts.servers.length > 0) resolver.setServers(opts.servers.map(caresServer));

  // Queries go out as absolute names: a SIP host is a FQDN, and c-ares would otherwise retry an
  // NXDOMAIN with /etc/resolv.conf search domains and might answer for some other name.
  const absolute = (name: string): string => (name.endsWith('.') ? name : `${name}.`);

  async function ask<T>(type: DnsRecordType, name: string, query: () => Promise<unknown>, validate: (raw: unknown) => DnsAnswer<T>): Promise<DnsAnswer<T>> {
    let raw: unknown;
    try {
      raw = await query();
    } catch (err) {
      throw dnsError(err, type, name);
    }
    try {
      return validate(raw);
    } catch (err) {
      throw dnsError(err, type, name);
    }
  }

  // Node's c-ares binding reports no TTL for SRV and NAPTR answers, so dns.srvTtlSec stands in.
  return {
    srv: (name) => ask('SRV', name, () => resolver.resolveSrv(absolute(name)), (raw) => ({ records: srvRecords(raw, name), ttlSec: opts.srvTtlSec })),
    naptr: (name) => ask('NAPTR', name, () => resolver.resolveNaptr(absolute(name)), (raw) => ({ records: naptrRecords(raw, name), ttlSec: opts.srvTtlSec })),
    a: (name) =>
      ask('A', name, () => resolver.resolve4(absolute(name), { ttl: true }), (raw) => {
        const answer = addressRecords(raw, 4, name);
        return { records: answer.addresses, ttlSec: answer.ttlSec };
      }),
    aaaa: (name) =>
      ask('AAAA', name, () => resolver.resolve6(absolute(name), { ttl: true }), (raw) => {
        const answer = addressRecords(raw, 6, name);
        return { records: answer.addresses, ttlSec: answer.ttlSec };
      }),
  };
}
