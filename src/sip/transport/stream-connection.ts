/**
 * One TCP or TLS connection to one destination: writes queued while it connects, a connect
 * timeout, Content-Length framing of what arrives, RFC 5626 pong for a double-CRLF ping, and an
 * idle close. It reports how it ended once; the transport decides about backoff.
 */
import type { Socket } from 'node:net';
import type { Clock, TimerHandle } from '../../clock.ts';
import { ErrorCodes, MwiError } from '../../errors.ts';
import { StreamFramer } from './framer.ts';
import { deliver, looksLikeSip } from './inbound.ts';
import type { InboundHandler, TransportStats } from './transport.ts';

/** How a connection ended: the transport backs off after the last three. */
export type CloseReason = 'idle' | 'local' | 'connect-failed' | 'peer' | 'framing';

export interface StreamConnectionOptions {
  /** Socket already connecting (net.connect / tls.connect). */
  socket: Socket;
  /** 'secureConnect' for TLS, 'connect' for TCP. */
  readyEvent: 'connect' | 'secureConnect';
  /** "host:port" for messages and errors. */
  label: string;
  clock: Clock;
  connectTimeoutMs: number;
  idleCloseMs: number;
  maxMessageBytes: number;
  stats: TransportStats;
  onMessage: () => InboundHandler | undefined;
  /** Called when the connection is established. */
  onOpen: (conn: StreamConnection) => void;
  /** Called for every well-framed inbound message (proof the peer is healthy). */
  onInbound: (conn: StreamConnection) => void;
  /** Called exactly once, after which the connection is dead. */
  onClosed: (conn: StreamConnection, reason: CloseReason, err: Error | undefined) => void;
}

interface PendingWrite {
  bytes: Buffer;
  resolve: () => void;
  reject: (err: Error) => void;
}

const pong = Buffer.from('\r\n');

export class StreamConnection {
  readonly #opts: StreamConnectionOptions;
  readonly #socket: Socket;
  readonly #framer: StreamFramer;
  #state: 'connecting' | 'open' | 'closed' = 'connecting';
  #queued: PendingWrite[] = [];
  /** Writes handed to the socket whose callback has not run yet. */
  readonly #inFlight = new Set<PendingWrite>();
  #connectTimer: TimerHandle | undefined;
  #idleTimer: TimerHandle | undefined;
  #lastActivityMs: number;
  #closeReason: CloseReason | undefined;
  #lastError: Error | undefined;
  #closedPromise: Promise<void>;

  constructor(opts: StreamConnectionOptions) {
    this.#opts = opts;
    this.#socket = opts.socket;
    this.#framer = new StreamFramer(opts.maxMessageBytes);
    this.#lastActivityMs = opts.clock.now();
    this.#connectTimer = opts.clock.setTimeout(() => this.#connectTimedOut(), opts.connectTimeoutMs);
    this.#connectTimer.unref?.();
    this.#closedPromise = new Promise((resolve) => this.#socket.once('close', () => resolve()));
    this.#socket.on('error', (err) => {
      this.#lastError ??= err;
    });
    this.#socket.once(opts.readyEvent, () => this.#opened());
    this.#socket.on('data', (chunk: Buffer) => this.#data(chunk));
    this.#socket.on('close', () => this.#finish());
  }

  /** Why close() was called, while the socket is still shutting down (undefined if it was not). */
  get closingReason(): CloseReason | undefined {
    return this.#state === 'closed' ? undefined : this.#closeReason;
  }

  get localAddress(): string | undefined {
    return this.#socket.localAddress;
  }

  get localPort(): number | undefined {
    return this.#socket.localPort;
  }

  /** Resolves once the bytes are handed to the OS; rejects if the connection fails first. */
  write(bytes: Buffer): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      const pending: PendingWrite = { bytes, resolve, reject };
      if (this.#state === 'closed') reject(this.#failure());
      else if (this.#state === 'connecting') this.#queued.push(pending);
      else this.#writeNow(pending);
    });
  }

  /** Closes now; pending writes reject. Resolves when the socket is closed. */
  close(reason: 'idle' | 'local' | 'framing'): Promise<void> {
    if (this.#state !== 'closed') {
      this.#closeReason ??= reason;
      this.#socket.destroy();
    }
    return this.#closedPromise;
  }

  #opened(): void {
    if (this.#state !== 'connecting') return;
    this.#state = 'open';
    this.#clearTimers();
    this.#socket.setNoDelay(true);
    // Lets the kernel notice a vanished peer on a connection we keep writing to.
    this.#socket.setKeepAlive(true, 30_000);
    this.#touch();
    this.#armIdle();
    this.#opts.onOpen(this);
    const queued = this.#queued;
    this.#queued = [];
    for (const pending of queued) this.#writeNow(pending);
  }

  #writeNow(pending: PendingWrite): void {
    this.#touch();
    this.#inFlight.add(pending);
    this.#socket.write(pending.bytes, (err) => {
      if (!this.#inFlight.delete(pending)) return; // already rejected by #finish
      if (err) pending.reject(this.#failure(err));
      else pending.resolve();
    });
  }

  #data(chunk: Buffer): void {
    this.#touch();
    for (const frame of this.#framer.feed(chunk)) {
      // Stop if the upper layer closed us while handling a message, or after a framing error.
      if (this.#state !== 'open' || this.#closeReason !== undefined) return;
      if (frame.kind === 'ping') {
        this.#socket.write(pong);
      } else if (frame.kind === 'error') {
        this.#opts.stats.malformed++;
        this.#lastError ??= new Error(`framing error: ${frame.reason}`);
        void this.close('framing');
      } else if (!looksLikeSip(frame.text)) {
        this.#opts.stats.malformed++;
      } else {
        this.#opts.onInbound(this);
        deliver(frame.text, this.#opts.stats, this.#opts.onMessage());
      }
    }
  }

  #touch(): void {
    this.#lastActivityMs = this.#opts.clock.now();
  }

  /** One timer per connection, re-armed lazily from the last activity (no reset per message). */
  #armIdle(): void {
    const { clock, idleCloseMs } = this.#opts;
    const dueInMs = this.#lastActivityMs + idleCloseMs - clock.now();
    this.#idleTimer = clock.setTimeout(() => {
      this.#idleTimer = undefined;
      if (this.#state !== 'open') return;
      if (clock.now() - this.#lastActivityMs >= idleCloseMs) void this.close('idle');
      else this.#armIdle();
    }, Math.max(0, dueInMs));
    this.#idleTimer.unref?.();
  }

  #connectTimedOut(): void {
    this.#connectTimer = undefined;
    if (this.#state !== 'connecting') return;
    this.#lastError ??= new Error(`connect timeout after ${this.#opts.connectTimeoutMs} ms`);
    this.#socket.destroy();
  }

  #failure(cause?: Error): MwiError {
    const reason = this.#closeReason;
    if (reason === 'local') return new MwiError(ErrorCodes.SIP_STACK_CLOSED, `connection to ${this.#opts.label} closed by shutdown`);
    const why = (cause ?? this.#lastError)?.message ?? (reason === 'idle' ? 'closed idle' : 'connection closed');
    return new MwiError(ErrorCodes.SIP_TRANSPORT, `connection to ${this.#opts.label} failed: ${why}`, {
      retryable: true,
      cause: cause ?? this.#lastError,
      details: { destination: this.#opts.label },
    });
  }

  #finish(): void {
    if (this.#state === 'closed') return;
    const wasConnecting = this.#state === 'connecting';
    this.#state = 'closed';
    this.#clearTimers();
    const reason: CloseReason = this.#closeReason ?? (wasConnecting ? 'connect-failed' : 'peer');
    this.#closeReason = reason;
    const error = this.#failure();
    for (const pending of [...this.#queued, ...this.#inFlight]) pending.reject(error);
    this.#queued = [];
    this.#inFlight.clear();
    this.#opts.onClosed(this, reason, this.#lastError);
  }

  #clearTimers(): void {
    const { clock } = this.#opts;
    if (this.#connectTimer !== undefined) clock.clearTimeout(this.#connectTimer);
    if (this.#idleTimer !== undefined) clock.clearTimeout(this.#idleTimer);
    this.#connectTimer = this.#idleTimer = undefined;
  }
}
