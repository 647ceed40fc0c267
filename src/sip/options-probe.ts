/**
 * SIP OPTIONS as a health probe of a presence server. Any final response except 503 shows the
 * server is up and processing (a 404 or 405 still means its transaction layer answers);
 * silence, a transport error or 503 means down.
 */
import type { Clock } from '../clock.ts';
import { parseRetryAfterMs } from './classify.ts';
import type { SipRequester } from './stack.ts';
import type { SipTarget } from './target.ts';
import type { ExplicitHop } from './transport/transport.ts';

export interface ProbeResult {
  up: boolean;
  status?: number;
  reason: string;
  elapsedMs: number;
  /** 503 with Retry-After: how long the server asked us to stay away. */
  retryAfterMs?: number;
}

export async function probeTarget(stack: SipRequester, clock: Clock, target: SipTarget, fromUri: string, hop?: ExplicitHop): Promise<ProbeResult> {
  const startedAt = clock.now();
  const result = await stack.request({
    method: 'OPTIONS',
    requestUri: target.uri,
    fromUri,
    toUri: target.uri,
    protocol: target.protocol,
    headers: ['Accept: application/sdp'],
    withContact: true,
    ...(hop ? { hop } : {}),
  });
  const elapsedMs = clock.now() - startedAt;
  if (result.kind === 'timeout') return { up: false, reason: 'no answer', elapsedMs };
  if (result.kind === 'transport-error') return { up: false, reason: result.error.message, elapsedMs };
  if (result.kind === 'not-admitted') return { up: false, reason: result.reason, elapsedMs }; // a probe asks no admission: never
  const retryAfterMs = result.status === 503 ? parseRetryAfterMs(result.header('Retry-After')) : undefined;
  return { up: result.status !== 503, status: result.status, reason: `${result.status} ${result.reason}`.trim(), elapsedMs, ...(retryAfterMs === undefined ? {} : { retryAfterMs }) };
}
