/**
 * SIP over UDP (RFC 3261 18) on one node:dgram socket, with the request retransmission that
 * sip.js leaves out: every request except ACK is retransmitted per Timer E until a final
 * response with its top Via branch arrives, the deadline (transactionTimeoutMs) passes, or the
 * stack abandons it. Inbound datagrams are checked, matched against retransmission entries and
 * handed up whole; nothing from the network can throw out of the socket handler.
 */
import { createSocket, type Socket } from 'node:dgram';
import { isIP, isIPv6 } from 'node:net';
import { ErrorCodes, MwiError } from '../../errors.ts';
import { peekHeader, peekMethod, peekStatusCode, peekTopViaBranch } from '../wire.ts';
import { deliver, isKeepAlive, looksLikeSip } from './inbound.ts';
import { resolveNextHop } from './next-hop.ts';
import { TimerE } from './timer-e.ts';
import type { Destination, ExplicitHop, SipTransport, TransportOptions, TransportStats } from './transport.ts';

export interface UdpTransportOptions extends TransportOptions {
  /** RFC 3261 T1 (RTT estimate), 500 by default there. */
  t1Ms: number;
  /** RFC 3261 T2 (retransmission interval cap), 4000 by default there. */
  t2Ms: number;
  /** Retransmissions stop this long after the first send (RFC 3261 Timer F is 64*T1). */
  transactionTimeoutMs: number;
  /** Socket receive/send buffer asked of the kernel. Default 4 MiB. */
  socketBufferBytes?: number;
  /** Most requests being retransmitted at once; send() rejects beyond it. Default 200 000. */
  maxRetransmitEntries?: number;
}

const defaultPort = 5060;
const defaultMaxRetransmitEntries = 200_000;

interface Retransmission {
  method: string;
  timer: TimerE;
}

function transportError(message: string, retryable: boolean, cause?: unknown, details?: Record<string, unknown>): MwiError {
  return new MwiError(ErrorCodes.SIP_TRANSPORT, message, { retryable, cause, details });
}

export class UdpTransport implements SipTransport {
  #outbox: Array<{ bytes: Buffer; destination: Destination; resolve: () => void; reject: (err: Error) => void }> = [];
  readonly protocol = 'UDP';
  readonly stats: TransportStats = { sent: 0, received: 0, retransmissions: 0, malformed: 0, oversized: 0, connects: 0, connectFailures: 0 };
  onMessage: ((message: string) => void) | undefined;
  /** Socket errors after bind (they never kill the process); for logging. */
  onError: ((err: Error) => void) | undefined;

  readonly #opts: UdpTransportOptions;
  readonly #maxEntries: number;
  readonly #socket: Socket;
  readonly #family: 4 | 6;
  readonly #entries = new Map<string, Retransmission>();
  #localHost: string;
  #localPort = 0;
  #closing: Promise<void> | undefined;

  /** Creates the socket and binds it to bindHost:bindPort; rejects if the bind fails. */
  static async open(options: UdpTransportOptions): Promise<UdpTransport> {
    const transport = new UdpTransport(options);
    await transport.#bind();
    return transport;
  }

  private constructor(opts: UdpTransportOptions) {
    if (isIP(opts.bindHost) === 0) throw new MwiError(ErrorCodes.CONFIG_INVALID, `UDP bindHost must be an IP address, got ${JSON.stringify(opts.bindHost)}`);
    if (!(opts.maxMessageBytes > 0)) throw new MwiError(ErrorCodes.CONFIG_INVALID, 'maxMessageBytes must be > 0');
    if (!(opts.t1Ms > 0 && opts.t2Ms >= opts.t1Ms && opts.transactionTimeoutMs > 0)) {
      throw new MwiError(ErrorCodes.CONFIG_INVALID, 'Timer E needs 0 < t1Ms <= t2Ms and transactionTimeoutMs > 0');
    }
    this.#opts = opts;
    this.#maxEntries = opts.maxRetransmitEntries ?? defaultMaxRetransmitEntries;
    this.#family = isIPv6(opts.bindHost) ? 6 : 4;
    this.#localHost = opts.bindHost;
    this.#socket = createSocket({ type: this.#family === 6 ? 'udp6' : 'udp4' });
    // Always listening: an 'error' event without a listener would throw and kill the process.
    this.#socket.on('error', (err) => {
      try {
        this.onError?.(err);
      } catch {
        // a throwing logger must not escape either
      }
    });
    this.#socket.on('message', (data) => this.#receive(data));
  }

  get localHost(): string {
    return this.#localHost;
  }

  get localPort(): number {
    return this.#localPort;
  }

  /** Requests currently being retransmitted (bounded by maxRetransmitEntries). */
  get pendingRetransmissions(): number {
    return this.#entries.size;
  }

  #bind(): Promise<void> {
    return new Promise((resolve, reject) => {
      const onError = (err: Error): void => {
        reject(transportError(`cannot bind UDP ${this.#opts.bindHost}:${this.#opts.bindPort}: ${err.message}`, false, err));
      };
      this.#socket.once('error', onError);
      this.#socket.bind(this.#opts.bindPort, this.#opts.bindHost, () => {
        this.#socket.off('error', onError);
        // Bursts of responses (a sweep, a recovery) overflow the default ~200 KB receive buffer
        // and every dropped response costs a Timer E retransmission; ask for more (the kernel
        // caps it at net.core.rmem_max).
        try {
          this.#socket.setRecvBufferSize(this.#opts.socketBufferBytes ?? 4 * 1024 * 1024);
          this.#socket.setSendBufferSize(this.#opts.socketBufferBytes ?? 4 * 1024 * 1024);
        } catch {
          // not fatal: the kernel keeps its default
        }
        const address = this.#socket.address();
        this.#localHost = address.address;
        this.#localPort = address.port;
        resolve();
      });
    });
  }

  async send(message: string, hop?: ExplicitHop): Promise<void> {
    if (this.#closing) throw new MwiError(ErrorCodes.SIP_STACK_CLOSED, 'UDP transport is closed');
    const bytes = Buffer.from(message, 'utf8');
    if (bytes.length > this.#opts.maxMessageBytes) {
      throw new MwiError(ErrorCodes.SIP_MESSAGE_TOO_LARGE, `message of ${bytes.length} bytes exceeds maxMessageBytes ${this.#opts.maxMessageBytes}`, {
        details: { bytes: bytes.length, maxMessageBytes: this.#opts.maxMessageBytes },
      });
    }
    const { destination } = hop ?? (await resolveNextHop(message, this.#opts.resolver, defaultPort));
    if (this.#closing) throw new MwiError(ErrorCodes.SIP_STACK_CLOSED, 'UDP transport is closed');
    if (isIP(destination.host) !== this.#family) {
      throw transportError(`cannot reach ${destination.host} from a udp${this.#family} socket bound to ${this.#localHost}`, false);
    }

    const method = peekMethod(message);
    const branch = method !== undefined && method !== 'ACK' ? peekTopViaBranch(message) : undefined;
    // The entry exists before the first datagram leaves, so a response can never beat it.
    const entry = branch !== undefined && method !== undefined ? this.#track(branch, method, bytes, destination) : undefined;
    try {
      await this.#sendDatagram(bytes, destination);
    } catch (err) {
      if (entry && branch !== undefined) this.#untrack(branch, entry);
      throw transportError(`UDP send to ${destination.host}:${destination.port} failed: ${(err as Error).message}`, true, err, {
        host: destination.host,
        port: destination.port,
      });
    }
    this.stats.sent++;
  }

  abandon(branch: string): void {
    const entry = this.#entries.get(branch);
    if (entry) this.#untrack(branch, entry);
  }

  close(): Promise<void> {
    this.#closing ??= new Promise<void>((resolve) => {
      for (const entry of this.#entries.values()) entry.timer.stop();
      this.#entries.clear();
      try {
        this.#socket.close(() => resolve());
      } catch {
        resolve(); // already closed
      }
    });
    return this.#closing;
  }

  #track(branch: string, method: string, bytes: Buffer, destination: Destination): Retransmission {
    const previous = this.#entries.get(branch);
    if (previous) {
      // The upper layer sent the same transaction again: restart its schedule.
      this.#untrack(branch, previous);
    } else if (this.#entries.size >= this.#maxEntries) {
      throw new MwiError(ErrorCodes.SIP_TRANSPORT_BUSY, `${this.#entries.size} UDP requests already awaiting a final response (maxRetransmitEntries)`, {
        retryable: true,
        details: { maxRetransmitEntries: this.#maxEntries },
      });
    }
    const entry: Retransmission = {
      method,
      timer: new TimerE({
        clock: this.#opts.clock,
        t1Ms: this.#opts.t1Ms,
        t2Ms: this.#opts.t2Ms,
        timeoutMs: this.#opts.transactionTimeoutMs,
        retransmit: () => this.#retransmit(bytes, destination),
        expire: () => this.#untrack(branch, entry),
      }),
    };
    this.#entries.set(branch, entry);
    return entry;
  }

  #untrack(branch: string, entry: Retransmission): void {
    entry.timer.stop();
    if (this.#entries.get(branch) === entry) this.#entries.delete(branch);
  }

  #retransmit(bytes: Buffer, destination: Destination): void {
    this.stats.retransmissions++;
    // A failed retransmission is not fatal: the next one or the deadline settles the transaction.
    this.#sendDatagram(bytes, destination).catch(() => undefined);
  }

  #sendDatagram(bytes: Buffer, destination: Destination): Promise<void> {
    return new Promise((resolve, reject) => {
      this.#outbox.push({ bytes, destination, resolve, reject });
      if (this.#outbox.length === 1) setImmediate(this.#flush);
    });
  }

  /**
   * Datagrams queued during one event-loop turn leave back to back: the peer is woken once per
   * burst instead of once per datagram (on loopback that wake-up costs more than the send).
   */
  readonly #flush = (): void => {
    const batch = this.#outbox;
    this.#outbox = [];
    for (const d of batch) {
      try {
        this.#socket.send(d.bytes, d.destination.port, d.destination.host, (err) => (err ? d.reject(err) : d.resolve()));
      } catch (err) {
        d.reject(err instanceof Error ? err : new Error(String(err))); // e.g. the socket is already closed
      }
    }
  };

  #receive(data: Buffer): void {
    let text: string;
    try {
      if (data.length > this.#opts.maxMessageBytes) {
        this.stats.oversized++;
        return;
      }
      text = data.toString('utf8');
      if (isKeepAlive(text)) return;
      if (!looksLikeSip(text)) {
        this.stats.malformed++;
        return;
      }
      this.#observe(text);
    } catch {
      this.stats.malformed++;
      return;
    }
    deliver(text, this.stats, this.onMessage);
  }

  /** Timer E bookkeeping for a response: provisional -> Proceeding, final -> stop. */
  #observe(text: string): void {
    const status = peekStatusCode(text);
    if (status === undefined) return;
    const branch = peekTopViaBranch(text);
    if (branch === undefined) return;
    const entry = this.#entries.get(branch);
    if (!entry) return;
    // RFC 3261 17.1.3: a response matches on branch AND CSeq method.
    const cseqMethod = peekHeader(text, 'CSeq')?.split(/\s+/)[1];
    if (cseqMethod !== entry.method) return;
    // INVITE (Timer A) stops on any response; non-INVITE only on a final one.
    if (status >= 200 || entry.method === 'INVITE') this.#untrack(branch, entry);
    else entry.timer.provisional();
  }
}
