/**
 * RFC 3263 section 4, client side: which hops (address, port, transport) a SIP target means.
 *
 * - IP literal host: that address; explicit port or 5060 (5061 for TLS). `localhost`: 127.0.0.1 without DNS.
 * - explicit port (4.2): A/AAAA of the host with that port.
 * - otherwise, with dns.naptr and no explicit transport (4.1): NAPTR records with flag "s" for
 *   SIP+D2U / SIP+D2T / SIPS+D2T (only SIPS+D2T for a sips: URI), by order then preference, each
 *   followed by its SRV replacement.
 * - otherwise SRV for the target's transport (`_sip._udp`, `_sip._tcp`, `_sips._tcp`); RFC 2782
 *   priority then weighted order; every SRV target's A then AAAA addresses become hops, in order.
 * - no SRV at all (NXDOMAIN / NODATA): A/AAAA of the host with the default port.
 *
 * Only the target's transport is looked up, never the other two: the operator's configured
 * transport (sip.transport or the URI's) is a choice, not a preference.
 */
import { isIP } from 'node:net';
import { ErrorCodes, MwiError, isMwiError } from '../errors.ts';
import type { SipTarget } from '../sip/target.ts';
import type { TransportProtocol } from '../sip/transport/transport.ts';
import type { DnsCache } from './dns-cache.ts';
import type { NaptrRecord, SrvRecord } from './dns-client.ts';
import { dnsFailure, isNegativeAnswer } from './dns-error.ts';
import { orderSrv } from './srv-order.ts';
import type { SipHop, SipLocator } from './types.ts';

export type DnsRecords = Pick<DnsCache, 'srv' | 'naptr' | 'a' | 'aaaa' | 'stats'>;

export interface SipLocatorOptions {
  cache: DnsRecords;
  /** dns.naptr: look up NAPTR before SRV. */
  naptr: boolean;
  /** Uniform in [0, 1): RFC 2782 weighted order. */
  random?: () => number;
}

const DEFAULT_PORT: Record<TransportProtocol, number> = { UDP: 5060, TCP: 5060, TLS: 5061 };
const SRV_PREFIX: Record<TransportProtocol, string> = { UDP: '_sip._udp.', TCP: '_sip._tcp.', TLS: '_sips._tcp.' };
const NAPTR_SERVICES: Record<string, TransportProtocol> = { 'SIP+D2U': 'UDP', 'SIP+D2T': 'TCP', 'SIPS+D2T': 'TLS' };

const DNS_CODES: ReadonlySet<string> = new Set([
  ErrorCodes.DNS_NXDOMAIN,
  ErrorCodes.DNS_NO_DATA,
  ErrorCodes.DNS_TIMEOUT,
  ErrorCodes.DNS_FAILED,
  ErrorCodes.DNS_BREAKER_OPEN,
]);

/** Negative answers rank lowest: a timeout or an open breaker says more about what to do next. */
function rank(err: MwiError): number {
  if (err.code === ErrorCodes.DNS_NO_DATA) return 0;
  if (err.code === ErrorCodes.DNS_NXDOMAIN) return 1;
  return 2;
}

function asDnsError(err: unknown, what: string): MwiError {
  if (isMwiError(err) && DNS_CODES.has(err.code)) return err;
  return new MwiError(ErrorCodes.DNS_FAILED, `locating ${what}: ${(err as Error)?.message ?? String(err)}`, { retryable: true, cause: err });
}

function mostTelling(errors: readonly unknown[], what: string): MwiError {
  let best: MwiError | undefined;
  for (const e of errors) {
    const err = asDnsError(e, what);
    if (best === undefined || rank(err) > rank(best)) best = err;
  }
  return best ?? new MwiError(ErrorCodes.DNS_NO_DATA, `locating ${what}: no usable record`);
}

function hop(address: string, port: number, protocol: TransportProtocol, hostName: string | undefined): SipHop {
  return { address, port, protocol, hostName, key: `${protocol.toLowerCase()}:${address}:${port}` };
}

function unique(hops: readonly SipHop[]): SipHop[] {
  const seen = new Set<string>();
  return hops.filter((h) => !seen.has(h.key) && seen.add(h.key));
}

export function createSipLocator(options: SipLocatorOptions): SipLocator {
  const { cache } = options;
  const random = options.random ?? Math.random;

  /** A then AAAA; one family failing is fine as long as the other answers. */
  async function addresses(name: string): Promise<string[]> {
    const [v4, v6] = await Promise.allSettled([cache.a(name), cache.aaaa(name)]);
    const found = [...(v4.status === 'fulfilled' ? v4.value : []), ...(v6.status === 'fulfilled' ? v6.value : [])];
    if (found.length > 0) return found;
    throw mostTelling([v4, v6].flatMap((r): unknown[] => (r.status === 'rejected' ? [r.reason] : [])), name);
  }

  async function addressHops(name: string, port: number, protocol: TransportProtocol): Promise<SipHop[]> {
    return (await addresses(name)).map((address) => hop(address, port, protocol, name));
  }

  /** Hops of SRV records in the given order; targets that do not resolve are skipped. */
  async function srvTargetHops(records: readonly SrvRecord[], protocol: TransportProtocol, what: string): Promise<SipHop[]> {
    const resolved = await Promise.allSettled(records.map((r) => addresses(r.target)));
    const hops: SipHop[] = [];
    const errors: unknown[] = [];
    resolved.forEach((result, i) => {
      const record = records[i];
      if (result.status === 'rejected' || record === undefined) errors.push(result.status === 'rejected' ? result.reason : undefined);
      else hops.push(...result.value.map((address) => hop(address, record.port, protocol, record.target)));
    });
    if (hops.length === 0) throw mostTelling(errors, what);
    return hops;
  }

  /** `undefined` when the SRV name does not exist or has no SRV records (RFC 3263 then uses A/AAAA). */
  async function srvHops(srvName: string, protocol: TransportProtocol): Promise<SipHop[] | undefined> {
    let records: readonly SrvRecord[];
    try {
      records = await cache.srv(srvName);
    } catch (err) {
      if (isMwiError(err) && isNegativeAnswer(err)) return undefined;
      throw err;
    }
    if (records.length === 0) throw dnsFailure(ErrorCodes.DNS_NO_DATA, 'SRV', srvName, 'service not available (RFC 2782 target ".")');
    return srvTargetHops(orderSrv(records, random), protocol, srvName);
  }

  /** `undefined` when NAPTR offers nothing we can use (RFC 3263 4.1: go on with SRV). */
  async function naptrHops(target: SipTarget): Promise<SipHop[] | undefined> {
    let records: readonly NaptrRecord[];
    try {
      records = await cache.naptr(target.host);
    } catch (err) {
      if (isMwiError(err) && isNegativeAnswer(err)) return undefined;
      throw err;
    }
    const usable = records
      .map((r) => ({ ...r, protocol: NAPTR_SERVICES[r.service.toUpperCase()] }))
      .filter((r) => r.flags.toLowerCase() === 's' && r.replacement !== '' && r.protocol !== undefined && (!target.secure || r.protocol === 'TLS'))
      .sort((x, y) => x.order - y.order || x.preference - y.preference);
    if (usable.length === 0) return undefined;
    const hops: SipHop[] = [];
    const errors: unknown[] = [];
    for (const r of usable) {
      try {
        const found = await srvHops(r.replacement, r.protocol as TransportProtocol);
        if (found) hops.push(...found);
        else errors.push(dnsFailure(ErrorCodes.DNS_NO_DATA, 'SRV', r.replacement, 'NAPTR replacement has no SRV records'));
      } catch (err) {
        errors.push(err);
      }
    }
    if (hops.length === 0) throw mostTelling(errors, target.host);
    return hops;
  }

  async function hopsFor(target: SipTarget): Promise<SipHop[]> {
    const { host, protocol } = target;
    const port = target.explicitPort ?? DEFAULT_PORT[protocol];
    if (isIP(host) !== 0) return [hop(host, port, protocol, undefined)];
    if (host.toLowerCase() === 'localhost') return [hop('127.0.0.1', port, protocol, 'localhost')];
    if (target.explicitPort !== undefined) return addressHops(host, port, protocol);
    if (options.naptr && !target.explicitTransport) {
      const viaNaptr = await naptrHops(target);
      if (viaNaptr) return viaNaptr;
    }
    return (await srvHops(`${SRV_PREFIX[protocol]}${host}`, protocol)) ?? addressHops(host, port, protocol);
  }

  return {
    async locate(target) {
      cache.stats.locates++;
      try {
        return unique(await hopsFor(target));
      } catch (err) {
        throw asDnsError(err, target.uri);
      }
    },
  };
}
