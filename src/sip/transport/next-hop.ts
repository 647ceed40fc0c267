/**
 * Where an outgoing request goes (RFC 3261 8.1.2): the first Route URI, else the Request-URI.
 * IP literals are used as they are; host names go through the injected resolver (which owns
 * caching and RFC 3263). Responses are not routed here: the stack never sends any.
 */
import { isIP } from 'node:net';
import { ErrorCodes, MwiError, isMwiError } from '../../errors.ts';
import { peekNextHop } from '../wire.ts';
import type { ExplicitHop, HostResolver } from './transport.ts';

/** The URI's host is kept as hostName when it was a name, not an IP literal (TLS SNI and certificate check). */
export type ResolvedHop = ExplicitHop;

export async function resolveNextHop(message: string, resolver: HostResolver, defaultPort: number): Promise<ResolvedHop> {
  const hop = peekNextHop(message);
  if (!hop) {
    throw new MwiError(ErrorCodes.SIP_TRANSPORT, 'no next hop: the message has no usable Route or Request-URI', { retryable: false });
  }
  const port = hop.port ?? defaultPort;
  if (isIP(hop.host) !== 0) return { destination: { host: hop.host, port }, hostName: undefined };
  let address: string;
  try {
    address = await resolver.resolve(hop.host);
  } catch (err) {
    if (isMwiError(err)) throw err;
    throw new MwiError(ErrorCodes.RESOLVE_FAILED, `cannot resolve ${hop.host}`, { retryable: true, cause: err, details: { host: hop.host } });
  }
  return { destination: { host: address, port }, hostName: hop.host };
}
