/**
 * A scripted DnsClient and a recording DnsGuard for the DNS cache and locator tests. Each
 * (type, name) answers from its script; an unscripted name is NXDOMAIN, like a real zone.
 */
import { ErrorCodes } from '../../src/errors.ts';
import type { ErrorCode } from '../../src/errors.ts';
import type { DnsAnswer, DnsClient, NaptrRecord, SrvRecord } from '../../src/dns/dns-client.ts';
import { dnsFailure } from '../../src/dns/dns-error.ts';
import type { DnsRecordType } from '../../src/dns/dns-error.ts';
import type { DnsGuard } from '../../src/dns/types.ts';

export type Responder = () => Promise<DnsAnswer<unknown>>;

export function answer<T>(records: readonly T[], ttlSec = 60): Responder {
  return () => Promise.resolve({ records, ttlSec });
}

export function fail(code: ErrorCode, type: DnsRecordType = 'A', name = 'x'): Responder {
  return () => Promise.reject(dnsFailure(code, type, name, `scripted ${code}`));
}

export const nxdomain = (): Responder => fail(ErrorCodes.DNS_NXDOMAIN);
export const nodata = (): Responder => fail(ErrorCodes.DNS_NO_DATA);
export const timeout = (): Responder => fail(ErrorCodes.DNS_TIMEOUT);

export function srv(target: string, port: number, priority = 10, weight = 0): SrvRecord {
  return { target, port, priority, weight };
}

export function naptr(order: number, preference: number, service: string, replacement: string, flags = 's'): NaptrRecord {
  return { order, preference, flags, service, regexp: '', replacement };
}

/** A promise the test settles by hand: for in-flight sharing. */
export function deferred<T>(): { promise: Promise<T>; resolve: (v: T) => void; reject: (e: unknown) => void } {
  let resolve!: (v: T) => void;
  let reject!: (e: unknown) => void;
  const promise = new Promise<T>((res, rej) => {
    resolve = res;
    reject = rej;
  });
  return { promise, resolve, reject };
}

export class FakeDnsClient implements DnsClient {
  /** Every query, as "TYPE name". */
  readonly calls: string[] = [];
  readonly #script = new Map<string, Responder>();

  on(type: DnsRecordType, name: string, responder: Responder): this {
    this.#script.set(`${type} ${name}`, responder);
    return this;
  }

  count(type: DnsRecordType, name: string): number {
    return this.calls.filter((c) => c === `${type} ${name}`).length;
  }

  #ask<T>(type: DnsRecordType, name: string): Promise<DnsAnswer<T>> {
    this.calls.push(`${type} ${name}`);
    const responder = this.#script.get(`${type} ${name}`) ?? fail(ErrorCodes.DNS_NXDOMAIN, type, name);
    return responder() as Promise<DnsAnswer<T>>;
  }

  srv(name: string): Promise<DnsAnswer<SrvRecord>> {
    return this.#ask('SRV', name);
  }

  naptr(name: string): Promise<DnsAnswer<NaptrRecord>> {
    return this.#ask('NAPTR', name);
  }

  a(name: string): Promise<DnsAnswer<string>> {
    return this.#ask('A', name);
  }

  aaaa(name: string): Promise<DnsAnswer<string>> {
    return this.#ask('AAAA', name);
  }
}

export class RecordingGuard implements DnsGuard {
  allowed = true;
  successes = 0;
  readonly failures: string[] = [];

  allowsQuery(): boolean {
    return this.allowed;
  }

  recordSuccess(): void {
    this.successes++;
  }

  recordFailure(reason: string): void {
    this.failures.push(reason);
  }
}
