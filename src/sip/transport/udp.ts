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
import { parseResponseFast, type FastResponseMessage } from '../fast-response.ts';
import { peekHeader, peekMethod, peekStatusCode, peekTopViaBranch } from '../wire.ts';
import { deliver, isKeepAlive, looksLikeSip } from './inbound.ts';
import { DeadlineList, type DeadlineNode } from '../deadline-list.ts';
import { literalHopOfUri, literalNextHop, resolveNextHop } from './next-hop.ts';
import { TimerE } from './timer-e.ts';
import type { Destination, ExplicitHop, InboundHandler, RequestFacts, SipTransport, TransportOptions, TransportStats } from './transport.ts';

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

/**
 * A request awaiting its final response. Most are answered within T1, so Timer E itself is only
 * created when the first retransmission falls due; until then the entry waits in a list with one
 * timer for all of them.
 */
interface Retransmission extends DeadlineNode {
  branch: string;
  method: string;
  bytes: Buffer;
  destination: Destination;
  sentAtMs: number;
  /** A provisional response arrived before Timer E started. */
  proceeding: boolean;
  timer: TimerE | undefined;
}

/** A datagram waiting for the end of this event-loop turn; a first transmission settles its send(). */
interface Outgoing {
  bytes: Buffer;
  destination: Destination;
  request: { resolve: () => void; reject: (err: Error) => void; entry: Retransmission | undefined } | undefined;
}

const closedError = (): MwiError => new MwiError(ErrorCodes.SIP_STACK_CLOSED, 'UDP transport is closed');

function transportError(message: string, retryable: boolean, cause?: unknown, details?: Record<string, unknown>): MwiError {
  return new MwiError(ErrorCodes.SIP_TRANSPORT, message, { retryable, cause, details });
}

export class UdpTransport implements SipTransport {
  #outbox: Outgoing[] = [];
  readonly protocol = 'UDP';
  readonly stats: TransportStats = { sent: 0, received: 0, retransmissions: 0, malformed: 0, oversized: 0, connects: 0, connectFailures: 0 };
  onMessage: InboundHandler | undefined;
  /** Socket errors after bind (they never kill the process); for logging. */
  onError: ((err: Error) => void) | undefined;

  readonly #opts: UdpTransportOptions;
  readonly #maxEntries: number;
  readonly #socket: Socket;
  readonly #family: 4 | 6;
  readonly #entries = new Map<string, Retransmission>();
  /** Entries until their first retransmission is due (or their deadline, when it comes first). */
  readonly #untilFirstRetransmission: DeadlineList<Retransmission>;
  #localHost: string;
  #localPort = 0;
  /** The last destination found reachable from this socket's family. */
  #lastDestination: Destination | undefined;
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
    this.#untilFirstRetransmission = new DeadlineList<Retransmission>(opts.clock, Math.min(opts.t1Ms, opts.transactionTimeoutMs), (entry) => this.#startTimerE(entry));
    // Destinations are IP literals of the socket's family (checked in send): Node's default lookup
    // still defers every send by a process.nextTick to "resolve" them. Once bound, ours answers at once.
    this.#socket = createSocket({
      type: this.#family === 6 ? 'udp6' : 'udp4',
      lookup: (address, options, callback) => {
        const ipFamily = isIP(address);
        // Node's own lookup for dgram passes the socket's family as a number (its typings say options).
        const family = typeof options === 'number' ? options : this.#family;
        if (ipFamily === 0 || ipFamily !== family) {
          process.nextTick(callback, Object.assign(new Error(`not an IPv${family} address: ${address}`), { code: 'EINVAL' }), '', 0);
        } else if (this.#localPort !== 0) {
          callback(null, address, ipFamily);
        } else {
          process.nextTick(callback, null, address, ipFamily); // while binding, as Node does
        }
      },
    });
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

  send(message: string, hop?: ExplicitHop, facts?: RequestFacts): Promise<void> {
    try {
      if (this.#closing) throw closedError();
      const bytes = Buffer.from(message, 'utf8');
      if (bytes.length > this.#opts.maxMessageBytes) {
        throw new MwiError(ErrorCodes.SIP_MESSAGE_TOO_LARGE, `message of ${bytes.length} bytes exceeds maxMessageBytes ${this.#opts.maxMessageBytes}`, {
          details: { bytes: bytes.length, maxMessageBytes: this.#opts.maxMessageBytes },
        });
      }
      const next = hop ?? (facts === undefined ? literalNextHop(message, defaultPort) : literalHopOfUri(facts.nextHopUri, defaultPort));
      if (next) return this.#sendRequest(message, bytes, next.destination, facts);
      const held = facts === undefined ? undefined : { method: facts.method, branch: facts.branch, nextHopUri: facts.nextHopUri };
      return resolveNextHop(message, this.#opts.resolver, defaultPort).then((resolved) => this.#sendRequest(message, bytes, resolved.destination, held));
    } catch (err) {
      return Promise.reject(err instanceof Error ? err : new Error(String(err)));
    }
  }

  /** Tracks the request for Timer E, then queues its first datagram; settles once that has left. */
  #sendRequest(message: string, bytes: Buffer, destination: Destination, facts: RequestFacts | undefined): Promise<void> {
    if (this.#closing) throw closedError();
    if (destination !== this.#lastDestination) {
      if (isIP(destination.host) !== this.#family) {
        throw transportError(`cannot reach ${destination.host} from a udp${this.#family} socket bound to ${this.#localHost}`, false);
      }
      this.#lastDestination = destination; // next hops are cached objects: most sends skip the check
    }
    const method = facts === undefined ? peekMethod(message) : facts.method;
    const branch = method === undefined || method === 'ACK' ? undefined : facts === undefined ? peekTopViaBranch(message) : facts.branch;
    // The entry exists before the first datagram leaves, so a response can never beat it.
    const entry = branch !== undefined && method !== undefined ? this.#track(branch, method, bytes, destination) : undefined;
    return new Promise((resolve, reject) => this.#queue({ bytes, destination, request: { resolve, reject, entry } }));
  }

  abandon(branch: string): void {
    const entry = this.#entries.get(branch);
    if (entry) this.#untrack(entry);
  }

  close(): Promise<void> {
    this.#closing ??= new Promise<void>((resolve) => {
      for (const entry of this.#entries.values()) entry.timer?.stop();
      this.#entries.clear();
      this.#untilFirstRetransmission.clear();
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
      this.#untrack(previous);
    } else if (this.#entries.size >= this.#maxEntries) {
      throw new MwiError(ErrorCodes.SIP_TRANSPORT_BUSY, `${this.#entries.size} UDP requests already awaiting a final response (maxRetransmitEntries)`, {
        retryable: true,
        details: { maxRetransmitEntries: this.#maxEntries },
      });
    }
    const entry: Retransmission = {
      deadlineAtMs: 0,
      deadlinePrev: undefined,
      deadlineNext: undefined,
      deadlineList: undefined,
      branch,
      method,
      bytes,
      destination,
      sentAtMs: this.#opts.clock.now(),
      proceeding: false,
      timer: undefined,
    };
    this.#entries.set(branch, entry);
    this.#untilFirstRetransmission.add(entry);
    return entry;
  }

  /** T1 has passed without a final response (or the deadline, when it is shorter than T1). */
  #startTimerE(entry: Retransmission): void {
    const { t1Ms, t2Ms, transactionTimeoutMs, clock } = this.#opts;
    if (t1Ms >= transactionTimeoutMs) {
      this.#untrack(entry); // no retransmission fits before the deadline
      return;
    }
    // Timer E on the schedule of the first send: its first retransmission (at T1) is due at once.
    entry.timer = new TimerE({
      clock,
      t1Ms,
      t2Ms,
      timeoutMs: transactionTimeoutMs,
      sentAtMs: entry.sentAtMs,
      retransmit: () => this.#retransmit(entry),
      expire: () => this.#untrack(entry),
    });
    if (entry.proceeding) entry.timer.provisional();
  }

  #untrack(entry: Retransmission): void {
    this.#untilFirstRetransmission.remove(entry);
    entry.timer?.stop();
    if (this.#entries.get(entry.branch) === entry) this.#entries.delete(entry.branch);
  }

  #retransmit(entry: Retransmission): void {
    this.stats.retransmissions++;
    // A failed retransmission is not fatal: the next one or the deadline settles the transaction.
    this.#queue({ bytes: entry.bytes, destination: entry.destination, request: undefined });
  }

  #queue(datagram: Outgoing): void {
    this.#outbox.push(datagram);
    if (this.#outbox.length === 1) setImmediate(this.#flush);
  }

  /**
   * Datagrams queued during one event-loop turn leave back to back: the peer is woken once per
   * burst instead of once per datagram (on loopback that wake-up costs more than the send).
   */
  readonly #flush = (): void => {
    const batch = this.#outbox;
    this.#outbox = [];
    for (const d of batch) {
      const request = d.request;
      try {
        this.#socket.send(d.bytes, d.destination.port, d.destination.host, request === undefined ? undefined : (err) => this.#sent(d, err));
      } catch (err) {
        this.#sent(d, err instanceof Error ? err : new Error(String(err))); // e.g. the socket is already closed
      }
    }
  };

  /** The first transmission of a request has left, or failed. */
  #sent(d: Outgoing, err: Error | null): void {
    const request = d.request;
    if (request === undefined) return;
    if (!err) {
      this.stats.sent++;
      request.resolve();
      return;
    }
    if (request.entry) this.#untrack(request.entry);
    const { host, port } = d.destination;
    request.reject(transportError(`UDP send to ${host}:${port} failed: ${err.message}`, true, err, { host, port }));
  }

  #receive(data: Buffer): void {
    let text: string;
    let response: FastResponseMessage | undefined;
    try {
      if (data.length > this.#opts.maxMessageBytes) {
        this.stats.oversized++;
        return;
      }
      text = data.toString('utf8');
      if (text.startsWith('SIP/2.0 ')) {
        // Read once here for Timer E and handed up, so the stack does not parse it again.
        const fast = parseResponseFast(text);
        if (typeof fast !== 'string') {
          response = fast;
          this.#settle(fast.viaBranch, fast.method, fast.statusCode ?? 0);
        }
      }
      if (response === undefined) {
        if (isKeepAlive(text)) return;
        if (!looksLikeSip(text)) {
          this.stats.malformed++;
          return;
        }
        this.#observe(text);
      }
    } catch {
      this.stats.malformed++;
      return;
    }
    deliver(text, this.stats, this.onMessage, response);
  }

  /** Timer E bookkeeping for a response the fast parser could not read (the stack decides what it is). */
  #observe(text: string): void {
    const status = peekStatusCode(text);
    if (status === undefined) return;
    const branch = peekTopViaBranch(text);
    const cseqMethod = peekHeader(text, 'CSeq')?.split(/\s+/)[1];
    if (branch !== undefined && cseqMethod !== undefined) this.#settle(branch, cseqMethod, status);
  }

  /** A response for `branch`: provisional -> Proceeding, final -> stop. */
  #settle(branch: string, cseqMethod: string, status: number): void {
    const entry = this.#entries.get(branch);
    // RFC 3261 17.1.3: a response matches on branch AND CSeq method.
    if (!entry || cseqMethod !== entry.method) return;
    // INVITE (Timer A) stops on any response; non-INVITE only on a final one.
    if (status >= 200 || entry.method === 'INVITE') this.#untrack(entry);
    else if (entry.timer) entry.timer.provisional();
    else entry.proceeding = true;
  }
}
