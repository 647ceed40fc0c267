/**
 * c-ares error codes to the stable DNS_* codes. Negative answers (NXDOMAIN, NODATA) are answers
 * about the name and are cached; everything else says the resolver path failed.
 */
import { ErrorCodes, MwiError } from '../errors.ts';
import type { ErrorCode } from '../errors.ts';

export type DnsRecordType = 'SRV' | 'NAPTR' | 'A' | 'AAAA';

function codeFor(caresCode: string | undefined): ErrorCode {
  switch (caresCode) {
    case 'ENOTFOUND':
    case 'NXDOMAIN':
      return ErrorCodes.DNS_NXDOMAIN;
    case 'ENODATA':
      return ErrorCodes.DNS_NO_DATA;
    case 'ETIMEOUT':
      return ErrorCodes.DNS_TIMEOUT;
    default:
      // ESERVFAIL, EREFUSED, ECONNREFUSED, EBADRESP, EFORMERR, ENOTIMP, EBADNAME, ECANCELLED, ...
      return ErrorCodes.DNS_FAILED;
  }
}

/** True for NXDOMAIN and NODATA: authoritative answers, cached for dns.negativeTtlSec. */
export function isNegativeAnswer(err: MwiError): boolean {
  return err.code === ErrorCodes.DNS_NXDOMAIN || err.code === ErrorCodes.DNS_NO_DATA;
}

export function dnsFailure(code: ErrorCode, type: DnsRecordType, name: string, message: string, cause?: unknown): MwiError {
  const negative = code === ErrorCodes.DNS_NXDOMAIN || code === ErrorCodes.DNS_NO_DATA;
  return new MwiError(code, `DNS ${type} ${name}: ${message}`, { retryable: !negative, cause, details: { type, name } });
}

/** Any rejection of a c-ares query as an MwiError (an MwiError passes through). */
export function dnsError(err: unknown, type: DnsRecordType, name: string): MwiError {
  if (err instanceof MwiError) return err;
  const caresCode = typeof err === 'object' && err !== null && typeof (err as { code?: unknown }).code === 'string' ? (err as { code: string }).code : undefined;
  return dnsFailure(codeFor(caresCode), type, name, caresCode ?? 'query failed', err);
}
