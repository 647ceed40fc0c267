/**
 * Where an outgoing request goes (RFC 3261 8.1.2): the first Route URI, else the Request-URI.
 * IP literals are used as they are; host names go through the injected resolver (which owns
 * caching and RFC 3263). Responses are not routed here: the stack never sends any.
 */
import { isIP } from 'node:net';
import { ErrorCodes, MwiError, isMwiError } from '../../errors.ts';
import { hopOfUri, peekNextHop, type HopUri } from '../wire.ts';
import type { ExplicitHop, HostResolver } from './transport.ts';

/** The URI's host is kept as hostName when it was a name, not an IP literal (TLS SNI and certificate check). */
export type ResolvedHop = ExplicitHop;

/** Next hops of IP-literal URIs, by host and port (a few targets carry almost every request). */
const literalHops = new Map<string, ResolvedHop>();

function noNextHop(): MwiError {
  return new MwiError(ErrorCodes.SIP_TRANSPORT, 'no next hop: the message has no usable Route or Request-URI', { retryable: false });
}

/** The next hop when the message names an IP literal (no resolver needed), else undefined. Throws when it names none. */
export function literalNextHop(message: string, defaultPort: number): ResolvedHop | undefined {
  return literalHop(peekNextHop(message), defaultPort);
}

/** The same for a next-hop URI the sender already knows (RequestFacts.nextHopUri): nothing is read back from the text. */
export function literalHopOfUri(uri: string, defaultPort: number): ResolvedHop | undefined {
  return literalHop(hopOfUri(uri), defaultPort);
}

function literalHop(hop: HopUri | undefined, defaultPort: number): ResolvedHop | undefined {
  if (!hop) throw noNextHop();
  if (isIP(hop.host) === 0) return undefined;
  const port = hop.port ?? defaultPort;
  const key = `${hop.host} ${port}`;
  let resolved = literalHops.get(key);
  if (resolved === undefined) {
    resolved = { destination: { host: hop.host, port }, hostName: undefined };
    if (literalHops.size >= 10_000) literalHops.clear();
    literalHops.set(key, resolved);
  }
  return resolved;
}

export async function resolveNextHop(message: string, resolver: HostResolver, defaultPort: number): Promise<ResolvedHop> {
  const literal = literalNextHop(message, defaultPort);
  if (literal) return literal;
  const hop = peekNextHop(message);
  if (!hop) throw noNextHop();
  const port = hop.port ?? defaultPort;
  let address: string;
  try {
    address = await resolver.resolve(hop.host);
  } catch (err) {
    if (isMwiError(err)) throw err;
    throw new MwiError(ErrorCodes.RESOLVE_FAILED, `cannot resolve ${hop.host}`, { retryable: true, cause: err, details: { host: hop.host } });
  }
  return { destination: { host: address, port }, hostName: hop.host };
}
