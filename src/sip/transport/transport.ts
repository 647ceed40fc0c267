/**
 * The network seam under sip.js. sip.js hands a transport a whole serialized message and no
 * destination; our transports pick the next hop from the message itself (first Route URI,
 * else the Request-URI, RFC 3261 8.1.2) and deliver each inbound message whole.
 */
import type { Clock } from '../../clock.ts';
import type { FastResponseMessage } from '../fast-response.ts';

export type InboundHandler = (message: string, response?: FastResponseMessage) => void;

export type TransportProtocol = 'UDP' | 'TCP' | 'TLS';

/** Where a message goes: an IP literal (v4 or v6, no brackets) and port. */
export interface Destination {
  readonly host: string;
  readonly port: number;
}

/** A next hop chosen by the caller (RFC 3263 location happens above the transport). */
export interface ExplicitHop {
  readonly destination: Destination;
  /** The name the address came from: TLS SNI and certificate check; undefined for an IP target. */
  readonly hostName: string | undefined;
}

/**
 * What the stack already knows of a request it hands over (it wrote the text), so that a
 * transport need not read it back: the method and top-Via branch (Timer E) and the next-hop URI.
 */
export interface RequestFacts {
  readonly method: string;
  readonly branch: string;
  /** The first Route URI, else the Request-URI (RFC 3261 8.1.2), without angle brackets. */
  readonly nextHopUri: string;
}

/** Resolves a host name from a URI to an IP address. DNS proper (RFC 3263) plugs in here later. */
export interface HostResolver {
  resolve(host: string): Promise<string>;
}

/** Counters every transport keeps; exported as metrics later. */
export interface TransportStats {
  sent: number;
  received: number;
  retransmissions: number;
  malformed: number;
  oversized: number;
  connects: number;
  connectFailures: number;
}

export interface SipTransport {
  /** Via transport token: "UDP", "TCP" or "TLS". */
  readonly protocol: TransportProtocol;
  /** The local address this transport's sockets are bound to (for Via/Contact). */
  readonly localHost: string;
  readonly localPort: number;
  readonly stats: TransportStats;
  /**
   * Sends one serialized message to `hop`, or else to the next hop the message names (Route /
   * Request-URI). `facts`, when given, describe `message`; a transport may use them instead of
   * reading the text, but only during this call (they are the request object, which a digest
   * retry later changes).
   */
  send(message: string, hop?: ExplicitHop, facts?: RequestFacts): Promise<void>;
  /**
   * Called with every well-framed inbound message text, and with the response already parsed when
   * the transport had to read it anyway (UDP does, for Timer E), so it is parsed once.
   */
  onMessage: InboundHandler | undefined;
  /**
   * Stop retransmitting the request with this top-Via branch (the stack gave up on it early).
   * Only unreliable transports retransmit; reliable ones may leave this out.
   */
  abandon?(branch: string): void;
  close(): Promise<void>;
}

export interface TransportOptions {
  clock: Clock;
  resolver: HostResolver;
  /** Local bind address, e.g. 127.0.0.1. */
  bindHost: string;
  /** 0 = ephemeral. */
  bindPort: number;
  /** Largest message accepted or sent, in bytes. */
  maxMessageBytes: number;
}
