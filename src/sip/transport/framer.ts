/**
 * Stream framing for SIP over TCP/TLS (RFC 3261 18.3): the header section ends at the first
 * CRLFCRLF and Content-Length (mandatory on streams) says how many body BYTES follow. CRLFs
 * before a start-line are skipped (RFC 3261 7.5); a double CRLF there is an RFC 5626 keep-alive
 * ping the transport answers with a single CRLF (pong). A missing or bad Content-Length or an
 * oversized message is a framing error: the stream cannot be resynchronised, close it.
 *
 * Bytes are appended into one growable buffer (amortised copies) and the header terminator
 * search resumes where the previous one stopped, so a message arriving one byte at a time
 * costs O(n), not O(n^2).
 */

export type Frame =
  | { kind: 'message'; text: string }
  | { kind: 'ping' }
  | { kind: 'error'; reason: string };

const CR = 0x0d;
const LF = 0x0a;
const headerEnd = Buffer.from('\r\n\r\n');
const initialCapacityBytes = 4096;

export class StreamFramer {
  readonly #maxMessageBytes: number;
  #buf = Buffer.allocUnsafe(initialCapacityBytes);
  #start = 0;
  #end = 0;
  /** Where to resume the CRLFCRLF search, relative to #start. */
  #scanFromBytes = 0;
  /** Header section + body size of the message being received, once its headers are in. */
  #messageBytes: number | undefined;
  #failed: string | undefined;

  constructor(maxMessageBytes: number) {
    if (!(maxMessageBytes > 0)) throw new RangeError('maxMessageBytes must be > 0');
    this.#maxMessageBytes = maxMessageBytes;
  }

  /** Bytes received but not yet part of a complete message. */
  get bufferedBytes(): number {
    return this.#end - this.#start;
  }

  /**
   * Adds a chunk and returns what it completed, in order. An 'error' frame is always last;
   * after it the framer is dead and every later feed returns the same error.
   */
  feed(chunk: Uint8Array): Frame[] {
    if (this.#failed !== undefined) return [{ kind: 'error', reason: this.#failed }];
    this.#append(chunk);
    const frames: Frame[] = [];
    for (;;) {
      const frame = this.#next();
      if (!frame) break;
      frames.push(frame);
      if (frame.kind === 'error') {
        this.#failed = frame.reason;
        this.#buf = Buffer.alloc(0);
        this.#start = this.#end = 0;
        break;
      }
    }
    this.#compact();
    return frames;
  }

  #next(): Frame | undefined {
    if (this.#messageBytes === undefined) {
      if (this.#scanFromBytes === 0) {
        const boundary = this.#boundary();
        if (boundary === 'ping') return { kind: 'ping' };
        if (boundary === 'wait') return undefined;
      }
      const error = this.#readHeaders();
      if (error) return error;
      if (this.#messageBytes === undefined) return undefined;
    }
    const need = this.#messageBytes;
    if (this.bufferedBytes < need) return undefined;
    const text = this.#buf.toString('utf8', this.#start, this.#start + need);
    this.#start += need;
    this.#messageBytes = undefined;
    this.#scanFromBytes = 0;
    return { kind: 'message', text };
  }

  /**
   * Before a start-line: consumes lone CRLFs, consumes and reports a "\r\n\r\n" ping, and
   * waits while the bytes so far could still turn into a ping.
   */
  #boundary(): 'ping' | 'wait' | 'start' {
    const b = this.#buf;
    for (;;) {
      const n = this.bufferedBytes;
      const s = this.#start;
      if (n === 0) return 'wait';
      if (b[s] !== CR) return 'start';
      if (n === 1) return 'wait';
      if (b[s + 1] !== LF) return 'start'; // junk: header parsing rejects it
      if (n === 2) return 'wait';
      if (b[s + 2] === CR) {
        if (n === 3) return 'wait';
        if (b[s + 3] === LF) {
          this.#start += 4;
          return 'ping';
        }
      }
      this.#start += 2;
    }
  }

  /** Finds CRLFCRLF and reads Content-Length; sets #messageBytes, or returns an error frame. */
  #readHeaders(): Frame | undefined {
    const from = this.#start + this.#scanFromBytes;
    const at = this.#buf.subarray(0, this.#end).indexOf(headerEnd, from);
    if (at === -1) {
      if (this.bufferedBytes > this.#maxMessageBytes) return this.#error(`header section over ${this.#maxMessageBytes} bytes`);
      this.#scanFromBytes = Math.max(0, this.bufferedBytes - 3);
      return undefined;
    }
    const headerBytes = at + 4 - this.#start;
    if (headerBytes > this.#maxMessageBytes) return this.#error(`header section over ${this.#maxMessageBytes} bytes`);
    const head = this.#buf.toString('latin1', this.#start, at);
    const contentLength = readContentLength(head);
    if (typeof contentLength === 'string') return this.#error(contentLength);
    if (headerBytes + contentLength > this.#maxMessageBytes) {
      return this.#error(`message of ${headerBytes + contentLength} bytes over ${this.#maxMessageBytes}`);
    }
    this.#messageBytes = headerBytes + contentLength;
    return undefined;
  }

  #error(reason: string): Frame {
    return { kind: 'error', reason };
  }

  #append(chunk: Uint8Array): void {
    const needed = this.#end + chunk.length;
    if (needed > this.#buf.length) {
      const live = this.#end - this.#start;
      let capacity = Math.max(this.#buf.length, initialCapacityBytes);
      while (capacity < live + chunk.length) capacity *= 2;
      const next = capacity === this.#buf.length ? this.#buf : Buffer.allocUnsafe(capacity);
      this.#buf.copy(next, 0, this.#start, this.#end);
      this.#buf = next;
      this.#start = 0;
      this.#end = live;
    }
    this.#buf.set(chunk, this.#end);
    this.#end += chunk.length;
  }

  /** Drops consumed bytes; gives memory back after a large message. */
  #compact(): void {
    if (this.#start === this.#end) {
      this.#start = this.#end = 0;
      if (this.#buf.length > 64 * 1024) this.#buf = Buffer.allocUnsafe(initialCapacityBytes);
    }
  }
}

/**
 * Content-Length (or compact "l") from a header section: the byte count, or a reason string.
 * Several headers must agree (a proxy that duplicates it is tolerated; disagreement is not).
 */
export function readContentLength(head: string): number | string {
  let value: number | undefined;
  for (const line of head.split('\r\n')) {
    const m = /^(content-length|l)[ \t]*:[ \t]*(.*?)[ \t]*$/i.exec(line);
    if (!m) continue;
    const raw = m[2] ?? '';
    if (!/^\d{1,10}$/.test(raw)) return `bad Content-Length ${JSON.stringify(raw.slice(0, 20))}`;
    const n = Number(raw);
    if (value !== undefined && value !== n) return 'conflicting Content-Length headers';
    value = n;
  }
  return value ?? 'missing Content-Length (mandatory on stream transports)';
}
