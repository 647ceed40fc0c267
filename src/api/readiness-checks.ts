/**
 * The readiness checks a process usually has, for createReadiness: Redis (PING), DNS (one real
 * query of a name the process uses) and one per presence target (SIP OPTIONS from this host).
 * Each words its detail from codes and status lines only: GET /readyz is public.
 */
import { isIP } from 'node:net';

import { ErrorCodes } from '../errors.ts';
import { errorCode, type ReadinessCheck } from './readiness.ts';

/**
 * PING on a client of the process. Prefer one with enableOfflineQueue off (or the store client,
 * whose commands fail fast while disconnected): a queued PING would only answer after a reconnect.
 */
export function redisCheck(redis: { ping(): Promise<string> }): ReadinessCheck {
  return {
    name: 'redis',
    kind: 'redis',
    async run() {
      try {
        const pong = await redis.ping();
        return pong === 'PONG' ? { status: 'ok' } : { status: 'fail', detail: 'unexpected PING answer' };
      } catch (err) {
        return { status: 'fail', detail: `PING failed (${errorCode(err)})` };
      }
    },
  };
}

/** Answers from a DNS server that prove it is reachable, though the name has no usable record. */
const ANSWERED: ReadonlySet<string> = new Set([ErrorCodes.DNS_NXDOMAIN, ErrorCodes.DNS_NO_DATA]);

/**
 * One real query (not the cache: e.g. `dns.client.a(name)`) per round, of the first host name
 * among `names` that is not an IP literal; `not-needed` when there is none. NXDOMAIN and no-data
 * are answers (the server is reachable); the target check shows whether the target is usable.
 */
export function dnsCheck(query: (name: string) => Promise<unknown>, names: readonly string[]): ReadinessCheck {
  const name = names.map((n) => n.replace(/^\[|\]$/g, '')).find((n) => n !== '' && isIP(n) === 0 && n !== 'localhost');
  return {
    name: 'dns',
    kind: 'dns',
    async run() {
      if (name === undefined) return { status: 'not-needed', detail: 'every target is an IP address' };
      try {
        await query(name);
        return { status: 'ok' };
      } catch (err) {
        const code = errorCode(err);
        return ANSWERED.has(code) ? { status: 'ok', detail: code } : { status: 'fail', detail: `query failed (${code})` };
      }
    },
  };
}

/** What a prober answers: MwiSender.probe (GuardedSender.probe: no OPTIONS while every hop's breaker is open). */
export type TargetProber = (target: string) => Promise<{ up: boolean; status?: number; reason: string }>;

/** The leading `MWI_...` code of a probe's reason, when it has one. */
function reasonCode(reason: string): string | undefined {
  return /^(MWI_[A-Z0-9_]+)\b/.exec(reason)?.[1];
}

/** SIP OPTIONS to one presence target (URI as configured). */
export function targetCheck(target: string, probe: TargetProber): ReadinessCheck {
  return {
    name: `target:${target}`,
    kind: 'target',
    async run() {
      const p = await probe(target);
      const detail = p.status !== undefined ? `OPTIONS answered ${p.status}` : (reasonCode(p.reason) ?? 'no answer');
      return p.up ? { status: 'ok', detail } : { status: 'fail', detail };
    },
  };
}
