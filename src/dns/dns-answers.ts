/**
 * Validation of what c-ares hands back: anything malformed is dropped, and an answer with
 * nothing usable left becomes DNS_FAILED. Nothing here throws anything but an MwiError.
 */
import { isIP } from 'node:net';
import { ErrorCodes } from '../errors.ts';
import { dnsFailure } from './dns-error.ts';
import type { DnsRecordType } from './dns-error.ts';

export interface SrvRecord {
  /** Host name, lower-case, without the trailing dot. */
  target: string;
  port: number;
  priority: number;
  weight: number;
}

export interface NaptrRecord {
  order: number;
  preference: number;
  flags: string;
  service: string;
  regexp: string;
  /** Lower-case, without the trailing dot; '' when the record uses a regexp instead. */
  replacement: string;
}

// A bound on the work one answer can cause (hops per target, queries per SRV set); real SIP
// deployments publish a handful of records.
export const MAX_RECORDS_PER_ANSWER = 32;

const LABEL = /^[a-z0-9_](?:[a-z0-9_-]{0,61}[a-z0-9_])?$/;

/** A DNS name normalised (lower-case, no trailing dot), or undefined when it is not one. */
export function normalName(raw: unknown): string | undefined {
  if (typeof raw !== 'string') return undefined;
  const name = raw.toLowerCase().replace(/\.$/, '');
  if (name.length === 0 || name.length > 253) return undefined;
  return name.split('.').every((label) => LABEL.test(label)) ? name : undefined;
}

function u16(raw: unknown): number | undefined {
  return typeof raw === 'number' && Number.isInteger(raw) && raw >= 0 && raw <= 65_535 ? raw : undefined;
}

function field(raw: unknown, key: string): unknown {
  return typeof raw === 'object' && raw !== null ? (raw as Record<string, unknown>)[key] : undefined;
}

function list(raw: unknown, type: DnsRecordType, name: string): unknown[] {
  if (!Array.isArray(raw)) throw dnsFailure(ErrorCodes.DNS_FAILED, type, name, 'answer is not a record list');
  if (raw.length === 0) throw dnsFailure(ErrorCodes.DNS_NO_DATA, type, name, 'empty answer');
  return raw as unknown[];
}

function unusable(type: DnsRecordType, name: string, count: number): never {
  throw dnsFailure(ErrorCodes.DNS_FAILED, type, name, `none of ${count} records is usable`);
}

/**
 * Usable SRV records; [] when the set says the service is decidedly not available
 * (RFC 2782: a single record whose Target is ".", which c-ares reports as '').
 */
export function srvRecords(raw: unknown, name: string): SrvRecord[] {
  const records = list(raw, 'SRV', name);
  const usable: SrvRecord[] = [];
  let rootTarget = false;
  for (const r of records) {
    const target = field(r, 'name');
    if (target === '' || target === '.') {
      rootTarget = true;
      continue;
    }
    const port = u16(field(r, 'port'));
    const priority = u16(field(r, 'priority'));
    const weight = u16(field(r, 'weight'));
    const host = normalName(target);
    if (host === undefined || port === undefined || port === 0 || priority === undefined || weight === undefined) continue;
    if (usable.length < MAX_RECORDS_PER_ANSWER) usable.push({ target: host, port, priority, weight });
  }
  if (usable.length === 0 && !rootTarget) unusable('SRV', name, records.length);
  return usable;
}

export function naptrRecords(raw: unknown, name: string): NaptrRecord[] {
  const records = list(raw, 'NAPTR', name);
  const usable: NaptrRecord[] = [];
  for (const r of records) {
    const order = u16(field(r, 'order'));
    const preference = u16(field(r, 'preference'));
    const flags = field(r, 'flags');
    const service = field(r, 'service');
    const regexp = field(r, 'regexp');
    const rawReplacement = field(r, 'replacement');
    const replacement = rawReplacement === '' || rawReplacement === '.' ? '' : normalName(rawReplacement);
    if (order === undefined || preference === undefined || replacement === undefined) continue;
    if (typeof flags !== 'string' || typeof service !== 'string' || typeof regexp !== 'string') continue;
    if (usable.length < MAX_RECORDS_PER_ANSWER) usable.push({ order, preference, flags, service, regexp, replacement });
  }
  if (usable.length === 0) unusable('NAPTR', name, records.length);
  return usable;
}

export interface AddressAnswer {
  addresses: string[];
  /** The smallest TTL of the set (RFC 2181 5.2 wants one TTL per RRset; be safe if not). */
  ttlSec: number;
}

/** A/AAAA answers of `resolve4/6(name, { ttl: true })`: addresses of the right family, deduplicated. */
export function addressRecords(raw: unknown, family: 4 | 6, name: string): AddressAnswer {
  const type = family === 4 ? 'A' : 'AAAA';
  const records = list(raw, type, name);
  const addresses: string[] = [];
  let ttlSec = Number.POSITIVE_INFINITY;
  for (const r of records) {
    const address = field(r, 'address');
    const ttl = field(r, 'ttl');
    if (typeof address !== 'string' || isIP(address) !== family) continue;
    if (typeof ttl !== 'number' || !Number.isInteger(ttl) || ttl < 0) continue;
    ttlSec = Math.min(ttlSec, ttl);
    if (!addresses.includes(address) && addresses.length < MAX_RECORDS_PER_ANSWER) addresses.push(address);
  }
  if (addresses.length === 0) unusable(type, name, records.length);
  return { addresses, ttlSec };
}
