/**
 * SIP over TCP or TLS (RFC 3261 18): one connection per destination, reused for every message
 * and for the responses that come back on it. No Timer E: the transport is reliable.
 *
 * Backoff policy (fail fast): after a connect failure, a framing error or the peer closing the
 * connection, the destination gets a full-jitter exponential backoff window
 * (reconnectBaseMs doubling up to reconnectMaxMs). A send inside the window rejects at once with
 * a retryable MwiError(SIP_TRANSPORT) carrying details.retryAfterMs; nothing is queued behind a
 * dead server and the job layer decides when to retry. The first send after the window
 * reconnects. The failure count resets when a message arrives on a connection (not merely on
 * connect: a server that accepts and drops us keeps backing off). An idle close does not back off.
 *
 * localHost/localPort: before any connection exists they are bindHost and 0; afterwards the
 * local address of the most recently opened connection. Connections bind their source address
 * to bindHost (unless it is a wildcard); bindPort is not used (one local port cannot serve
 * several connections), so the stack's Via carries ;rport and no alias.
 */
import { connect as netConnect, isIP, isIPv6 } from 'node:net';
import { connect as tlsConnect, type ConnectionOptions } from 'node:tls';
import { ErrorCodes, MwiError } from '../../errors.ts';
import { resolveNextHop } from './next-hop.ts';
import { ReconnectBackoff } from './reconnect-backoff.ts';
import { StreamConnection, type CloseReason } from './stream-connection.ts';
import type { ExplicitHop, InboundHandler, SipTransport, TransportOptions, TransportStats } from './transport.ts';

export interface StreamTlsOptions {
  /** Trusted CA certificates (PEM); the system store when absent. */
  ca?: Buffer | Buffer[];
  /** Client certificate and key (PEM) for mutual TLS. */
  cert?: Buffer;
  key?: Buffer;
  /** Default true. */
  rejectUnauthorized?: boolean;
  /** SNI and certificate name; default: the host name of the URI (none for an IP literal). */
  servername?: string;
}

export interface StreamTransportOptions extends TransportOptions {
  protocol: 'TCP' | 'TLS';
  connectTimeoutMs: number;
  /** Close a connection after this long without traffic; keep it above the transaction timeout. */
  idleCloseMs: number;
  reconnectBaseMs: number;
  reconnectMaxMs: number;
  tls?: StreamTlsOptions;
  /** Uniform in [0, 1) for the backoff jitter; Math.random by default. */
  random?: () => number;
  /** Most simultaneous connections (one per destination); send() rejects beyond it. Default 10 000. */
  maxConnections?: number;
}

function isWildcard(host: string): boolean {
  return host === '0.0.0.0' || host === '::';
}

export class StreamTransport implements SipTransport {
  readonly protocol: 'TCP' | 'TLS';
  readonly stats: TransportStats = { sent: 0, received: 0, retransmissions: 0, malformed: 0, oversized: 0, connects: 0, connectFailures: 0 };
  onMessage: InboundHandler | undefined;

  readonly #opts: StreamTransportOptions;
  readonly #backoff: ReconnectBackoff;
  readonly #connections = new Map<string, StreamConnection>();
  readonly #maxConnections: number;
  #localHost: string;
  #localPort = 0;
  #closing: Promise<void> | undefined;

  constructor(opts: StreamTransportOptions) {
    if (isIP(opts.bindHost) === 0) throw new MwiError(ErrorCodes.CONFIG_INVALID, `${opts.protocol} bindHost must be an IP address, got ${JSON.stringify(opts.bindHost)}`);
    for (const key of ['maxMessageBytes', 'connectTimeoutMs', 'idleCloseMs', 'reconnectBaseMs'] as const) {
      if (!(opts[key] > 0)) throw new MwiError(ErrorCodes.CONFIG_INVALID, `${key} must be > 0`);
    }
    if (!(opts.reconnectMaxMs >= opts.reconnectBaseMs)) throw new MwiError(ErrorCodes.CONFIG_INVALID, 'reconnectMaxMs must be >= reconnectBaseMs');
    this.#opts = opts;
    this.protocol = opts.protocol;
    this.#localHost = opts.bindHost;
    this.#maxConnections = opts.maxConnections ?? 10_000;
    this.#backoff = new ReconnectBackoff({ baseMs: opts.reconnectBaseMs, maxMs: opts.reconnectMaxMs, random: opts.random ?? Math.random });
  }

  /** Same as the constructor; for symmetry with UdpTransport.open(). */
  static open(opts: StreamTransportOptions): Promise<StreamTransport> {
    return Promise.resolve(new StreamTransport(opts));
  }

  get localHost(): string {
    return this.#localHost;
  }

  get localPort(): number {
    return this.#localPort;
  }

  /** Open or opening connections. */
  get connectionCount(): number {
    return this.#connections.size;
  }

  async send(message: string, hop?: ExplicitHop): Promise<void> {
    this.#assertOpen();
    const bytes = Buffer.from(message, 'utf8');
    if (bytes.length > this.#opts.maxMessageBytes) {
      throw new MwiError(ErrorCodes.SIP_MESSAGE_TOO_LARGE, `message of ${bytes.length} bytes exceeds maxMessageBytes ${this.#opts.maxMessageBytes}`, {
        details: { bytes: bytes.length, maxMessageBytes: this.#opts.maxMessageBytes },
      });
    }
    const { destination, hostName } = hop ?? (await resolveNextHop(message, this.#opts.resolver, this.protocol === 'TLS' ? 5061 : 5060));
    this.#assertOpen();
    const servername = this.#opts.tls?.servername ?? hostName;
    const label = `${isIPv6(destination.host) ? `[${destination.host}]` : destination.host}:${destination.port}`;
    const key = this.protocol === 'TLS' && servername !== undefined ? `${label}|${servername}` : label;

    let conn = this.#connections.get(key);
    // An idle close in progress must not take this message down with it: open a fresh one.
    if (conn?.closingReason === 'idle') conn = undefined;
    if (!conn) {
      const waitMs = this.#backoff.remainingMs(key, this.#opts.clock.now());
      if (waitMs > 0) {
        throw new MwiError(ErrorCodes.SIP_TRANSPORT, `${this.protocol} ${label} is in reconnect backoff for ${waitMs} ms`, {
          retryable: true,
          details: { destination: label, retryAfterMs: waitMs },
        });
      }
      if (this.#connections.size >= this.#maxConnections) {
        throw new MwiError(ErrorCodes.SIP_TRANSPORT_BUSY, `${this.#connections.size} ${this.protocol} connections open (maxConnections)`, {
          retryable: true,
          details: { maxConnections: this.#maxConnections },
        });
      }
      conn = this.#connect(key, label, destination.host, destination.port, servername);
    }
    await conn.write(bytes);
    this.stats.sent++;
  }

  close(): Promise<void> {
    this.#closing ??= Promise.all([...this.#connections.values()].map((c) => c.close('local'))).then(() => undefined);
    return this.#closing;
  }

  #assertOpen(): void {
    if (this.#closing) throw new MwiError(ErrorCodes.SIP_STACK_CLOSED, `${this.protocol} transport is closed`);
  }

  #connect(key: string, label: string, host: string, port: number, servername: string | undefined): StreamConnection {
    const bindHost = this.#opts.bindHost;
    if (!isWildcard(bindHost) && isIP(bindHost) !== isIP(host)) {
      throw new MwiError(ErrorCodes.SIP_TRANSPORT, `cannot reach ${label} from ${bindHost} (address family)`, { retryable: false });
    }
    const localAddress = isWildcard(bindHost) ? undefined : bindHost;
    const tls = this.#opts.tls;
    // tls.connect hands these to net.connect, localAddress included (missing from its typings).
    const tlsOptions: ConnectionOptions & { localAddress?: string } = {
      host,
      port,
      localAddress,
      ca: tls?.ca,
      cert: tls?.cert,
      key: tls?.key,
      rejectUnauthorized: tls?.rejectUnauthorized ?? true,
      // SNI must not be an IP literal (RFC 6066 3); identity is then checked against the IP.
      servername: servername !== undefined && isIP(servername) === 0 ? servername : undefined,
    };
    const socket = this.protocol === 'TLS' ? tlsConnect(tlsOptions) : netConnect({ host, port, localAddress });
    const conn = new StreamConnection({
      socket,
      readyEvent: this.protocol === 'TLS' ? 'secureConnect' : 'connect',
      label,
      clock: this.#opts.clock,
      connectTimeoutMs: this.#opts.connectTimeoutMs,
      idleCloseMs: this.#opts.idleCloseMs,
      maxMessageBytes: this.#opts.maxMessageBytes,
      stats: this.stats,
      onMessage: () => this.onMessage,
      onOpen: (c) => {
        this.stats.connects++;
        this.#localHost = c.localAddress ?? this.#localHost;
        this.#localPort = c.localPort ?? this.#localPort;
      },
      onInbound: () => this.#backoff.succeeded(key),
      onClosed: (c, reason) => this.#closed(key, c, reason),
    });
    this.#connections.set(key, conn);
    return conn;
  }

  #closed(key: string, conn: StreamConnection, reason: CloseReason): void {
    if (this.#connections.get(key) === conn) this.#connections.delete(key);
    if (reason === 'connect-failed') this.stats.connectFailures++;
    if (reason === 'connect-failed' || reason === 'peer' || reason === 'framing') {
      this.#backoff.failed(key, this.#opts.clock.now());
    }
  }
}
