/**
 * A delivery target (presence server or phone contact) as configured: a sip:/sips: URI whose
 * transport parameter, or scheme, picks the transport.
 */
import { ErrorCodes, MwiError } from '../errors.ts';
import type { TransportProtocol } from './transport/transport.ts';
import { parseHopUri } from './wire.ts';

export interface SipTarget {
  /** The URI as given, e.g. "sip:127.0.0.1:5060;transport=tcp". */
  uri: string;
  protocol: TransportProtocol;
  /** Stable identity (host, port, transport) for stores, breakers and metrics. */
  key: string;
  /** The URI's host: an IP literal (IPv6 without brackets) or a name to locate with RFC 3263. */
  host: string;
  /** The port written in the URI; undefined when absent (RFC 3263 then looks up SRV). */
  explicitPort: number | undefined;
  /** Whether the URI names its transport (`;transport=`); sips: implies TLS but not a transport choice. */
  explicitTransport: boolean;
  /** sips: URI (TLS required at every hop). */
  secure: boolean;
}

// eslint-disable-next-line no-control-regex -- control characters are exactly what we refuse
const CONTROL = /[\x00-\x1f\x7f\s<>"]/;

export function parseTarget(uri: string, defaultProtocol: TransportProtocol): SipTarget {
  if (CONTROL.test(uri)) throw new MwiError(ErrorCodes.URI_INVALID, `target URI contains whitespace or control characters: ${JSON.stringify(uri)}`);
  const hop = parseHopUri(uri);
  if (!hop) throw new MwiError(ErrorCodes.URI_INVALID, `target is not a sip: or sips: URI: ${JSON.stringify(uri)}`);
  let protocol: TransportProtocol = uri.startsWith('sips:') ? 'TLS' : defaultProtocol;
  if (hop.transport === 'UDP' || hop.transport === 'TCP' || hop.transport === 'TLS') protocol = hop.transport;
  else if (hop.transport !== undefined) throw new MwiError(ErrorCodes.URI_INVALID, `unsupported transport=${hop.transport.toLowerCase()} in ${uri}`);
  if (uri.startsWith('sips:') && protocol !== 'TLS') throw new MwiError(ErrorCodes.URI_INVALID, `sips: URI needs TLS: ${uri}`);
  const port = hop.port ?? (protocol === 'TLS' ? 5061 : 5060);
  return {
    uri,
    protocol,
    key: `${protocol.toLowerCase()}:${hop.host}:${port}`,
    host: hop.host,
    explicitPort: hop.port,
    explicitTransport: hop.transport !== undefined,
    secure: uri.startsWith('sips:'),
  };
}

/** The target as a loose route (RFC 3261 16.12): the presence server acts as our outbound proxy. */
export function routeFor(target: SipTarget): string {
  const withTransport = /;transport=/i.test(target.uri) || target.protocol === 'UDP' ? target.uri : `${target.uri};transport=${target.protocol.toLowerCase()}`;
  return /;lr\b/i.test(withTransport) ? withTransport : `${withTransport};lr`;
}
