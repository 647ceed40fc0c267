/**
 * An outgoing out-of-dialog request that sip.js's transaction layer accepts in place of its own
 * OutgoingRequestMessage. sip.js builds that one with a header-name normaliser (`headerize`) and
 * URI clones on every field, about 15 us per request; this one serialises from strings that were
 * validated once, and keeps exactly the surface sip.js uses for a non-INVITE client transaction:
 * `method`, `ruri`, `cseq`, `branch`, `callId`, `fromTag`, `headers`, `setViaHeader()` (the
 * transaction sets the branch), `setHeader()` (the user agent client sets CSeq and Authorization
 * when it answers a digest challenge) and `toString()`.
 */
import { newLocalId } from './branch.ts';
import type { RequestFacts } from './transport/transport.ts';

export interface WireRequestSpec {
  method: string;
  /** Request-URI, From and To URIs, already validated (no CR, LF, spaces or angle brackets). */
  requestUri: string;
  fromUri: string;
  toUri: string;
  /** Preloaded route URI, validated. */
  route?: string | undefined;
  /** Whole header lines written after the standard ones. */
  headers: readonly string[];
  body?: { contentType: string; content: string } | undefined;
  userAgent: string;
  /** host[:port] for the Via sent-by. */
  viaHost: string;
}

const NO_HEADERS: Record<string, unknown> = Object.freeze({});

function headerLines(headers: readonly string[]): string {
  let lines = '';
  for (const h of headers) lines += `${h}\r\n`;
  return lines;
}

export class WireRequest implements RequestFacts {
  readonly method: string;
  readonly ruri: string;
  readonly nextHopUri: string;
  readonly callId: string;
  readonly fromTag: string;
  readonly toTag = undefined;
  /** sip.js reads `headers.Route` only when cancelling an INVITE; kept for shape (one shared, frozen, empty object). */
  readonly headers: Record<string, unknown> = NO_HEADERS;
  cseq = 1;
  branch = '';
  readonly #viaHost: string;
  #via = '';
  #head: string;
  #tail: string;
  /** Authorization / Proxy-Authorization set by sip.js after a challenge (made on the first). */
  #set: Map<string, string> | undefined;

  constructor(spec: WireRequestSpec) {
    this.method = spec.method;
    this.ruri = spec.requestUri;
    this.nextHopUri = spec.route ?? spec.requestUri;
    this.callId = newLocalId();
    this.fromTag = newLocalId();
    this.#viaHost = spec.viaHost;
    this.#head = `${spec.method} ${spec.requestUri} SIP/2.0\r\n${spec.route ? `Route: <${spec.route}>\r\n` : ''}`;
    const body = spec.body?.content ?? '';
    this.#tail =
      `Max-Forwards: 70\r\nTo: <${spec.toUri}>\r\nFrom: <${spec.fromUri}>;tag=${this.fromTag}\r\nCall-ID: ${this.callId}\r\n` +
      `User-Agent: ${spec.userAgent}\r\n` +
      headerLines(spec.headers) +
      (spec.body ? `Content-Type: ${spec.body.contentType}\r\n` : '') +
      `Content-Length: ${Buffer.byteLength(body)}\r\n\r\n${body}`;
  }

  setViaHeader(branch: string, protocol: string): void {
    this.branch = branch;
    // `oc`: we honour RFC 7339 overload control feedback.
    this.#via = `Via: SIP/2.0/${protocol} ${this.#viaHost};branch=${branch};rport;oc\r\n`;
  }

  setHeader(name: string, value: string): void {
    const lower = name.toLowerCase();
    if (lower === 'cseq') return; // derived from `cseq`, which sip.js increments before calling this
    (this.#set ??= new Map()).set(lower === 'authorization' ? 'Authorization' : lower === 'proxy-authorization' ? 'Proxy-Authorization' : name, value);
  }

  toString(): string {
    let auth = '';
    if (this.#set !== undefined) for (const [name, value] of this.#set) auth += `${name}: ${value}\r\n`;
    return `${this.#head}${this.#via}CSeq: ${this.cseq} ${this.method}\r\n${auth}${this.#tail}`;
  }
}
