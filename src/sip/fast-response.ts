/**
 * A fast path for parsing the responses we receive. sip.js's Parser runs its PEG grammar for
 * Via, From, To, Call-ID, CSeq, Content-Type and Content-Length, and each grammar call decodes the
 * grammar's whole bytecode table again (pegjs "optimize: size" output): about 0.3 ms per response,
 * which would cap us at a few thousand responses per second. This reads the same fields with
 * plain string operations into sip.js's own IncomingResponseMessage, strictly. Legal but rare
 * forms (folded header lines, several Via values in one line) return 'unsupported' and go to the
 * guarded sip.js parser; anything else it cannot read is 'malformed' and dropped at once, so a
 * flood of junk costs microseconds per datagram, not a grammar run.
 */
import { IncomingResponseMessage } from 'sip.js/lib/core/index.js';
import { headerize } from 'sip.js/lib/core/messages/utils.js';

const canonicalNames = new Map<string, string>();

/** sip.js's canonical header name (its `headerize`, which allocates on every call), memoised. */
export function canonicalHeaderName(name: string): string {
  let c = canonicalNames.get(name);
  if (c === undefined) {
    c = headerize(name);
    if (canonicalNames.size < 1000) canonicalNames.set(name, c);
  }
  return c;
}

/** Headers that must appear once (RFC 3261 7.3.1: only comma-list headers may repeat). */
const SINGLE = new Set(['cseq', 'call-id', 'from', 'to', 'content-length']);
const COMPACT: Record<string, string> = { v: 'via', f: 'from', t: 'to', i: 'call-id', l: 'content-length', c: 'content-type', m: 'contact' };
const TOKEN = /^[a-z0-9!%*_+`'~.-]+$/;

/** What the parser does with a header (other headers are only stored). */
const Kind = { Other: 0, Via: 1, CSeq: 2, CallId: 3, From: 4, To: 5, ContentLength: 6 } as const;
type Kind = (typeof Kind)[keyof typeof Kind];

/** A header name as written, read once: its long lower-case form, sip.js's canonical form, whether it may repeat. */
interface HeaderName {
  lower: string;
  canonical: string;
  single: boolean;
  kind: Kind;
}

const KINDS: Record<string, Kind> = { via: Kind.Via, cseq: Kind.CSeq, 'call-id': Kind.CallId, from: Kind.From, to: Kind.To, 'content-length': Kind.ContentLength };

function describe(lower: string): HeaderName {
  return { lower, canonical: canonicalHeaderName(lower), single: SINGLE.has(lower), kind: KINDS[lower] ?? Kind.Other };
}

/** Header names as written in responses (a server writes the same few every time), within a bound. */
const headerNames = new Map<string, HeaderName | null>();

/** The name before a colon, or null when it is not a token. */
function headerName(raw: string): HeaderName | null {
  let n = headerNames.get(raw);
  if (n === undefined) {
    const trimmed = raw.trim().toLowerCase();
    const lower = COMPACT[trimmed] ?? trimmed;
    n = TOKEN.test(lower) ? describe(lower) : null;
    if (headerNames.size < 1000) headerNames.set(raw, n);
  }
  return n;
}

/**
 * The names almost every response carries, by length, matched in place (any case, no copy of
 * the name); anything else, or a name with spaces before its colon, goes through headerName.
 */
const KNOWN_BY_LENGTH: Array<Array<{ codes: number[]; name: HeaderName }>> = [];
for (const [written, lower] of [
  ...Object.entries(COMPACT),
  ...['via', 'from', 'to', 'call-id', 'cseq', 'content-length', 'content-type', 'contact', 'sip-etag', 'expires', 'min-expires', 'retry-after', 'server', 'user-agent', 'allow', 'supported', 'www-authenticate', 'proxy-authenticate', 'record-route'].map((n) => [n, n]),
] as Array<[string, string]>) {
  (KNOWN_BY_LENGTH[written.length] ??= []).push({ codes: [...written].map((c) => c.charCodeAt(0)), name: describe(lower) });
}

function knownName(text: string, start: number, end: number): HeaderName | undefined {
  const candidates = KNOWN_BY_LENGTH[end - start];
  if (candidates === undefined) return undefined;
  next: for (const { codes, name } of candidates) {
    for (let k = 0; k < codes.length; k++) {
      let c = text.charCodeAt(start + k);
      if (c >= 65 && c <= 90) c += 32; // A-Z to lower case
      if (c !== codes[k]) continue next;
    }
    return name;
  }
  return undefined;
}

/** sip.js's IncomingResponseMessage whose header lookups use the memoised canonical names. */
export class FastResponseMessage extends IncomingResponseMessage {
  override getHeader(name: string): string | undefined {
    return (this.headers as Record<string, Array<{ raw: string }> | undefined>)[canonicalHeaderName(name)]?.[0]?.raw;
  }

  override getHeaders(name: string): string[] {
    const list = (this.headers as Record<string, Array<{ raw: string }> | undefined>)[canonicalHeaderName(name)];
    return list ? list.map((h) => h.raw) : [];
  }

  override hasHeader(name: string): boolean {
    return (this.headers as Record<string, unknown>)[canonicalHeaderName(name)] !== undefined;
  }
}

/** Adds a header the way IncomingMessage.addHeader does, without re-headerizing the name. */
function add(msg: IncomingResponseMessage, canonical: string, value: string): void {
  const headers = msg.headers as Record<string, Array<{ raw: string }>>;
  const list = headers[canonical];
  if (list) list.push({ raw: value });
  else headers[canonical] = [{ raw: value }];
}

const WHITESPACE = /\s/;

/** RFC 3261 token characters (as in the tag and branch parameters). */
const TOKEN_CHAR = new Uint8Array(128);
for (const c of "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789.!%*_+`'~-") TOKEN_CHAR[c.charCodeAt(0)] = 1;

function isDigit(c: number): boolean {
  return c >= 48 && c <= 57;
}

function isAlpha(c: number): boolean {
  return (c >= 65 && c <= 90) || (c >= 97 && c <= 122);
}

/** [A-Za-z0-9.-]: a host name or IPv4 address. */
function isHostChar(c: number): boolean {
  return isAlpha(c) || isDigit(c) || c === 46 || c === 45;
}

/** [0-9A-Fa-f:.]: inside the brackets of an IPv6 reference. */
function isV6Char(c: number): boolean {
  return isDigit(c) || (c >= 65 && c <= 70) || (c >= 97 && c <= 102) || c === 58 || c === 46;
}

export interface TopVia {
  /** As written: a name, an IPv4 address or a bracketed IPv6 reference. */
  host: string;
  port: number | undefined;
  branch: string;
}

/**
 * One Via value `SIP/2.0/<transport> <host>[:<port>]` followed by nothing or by `;` parameters
 * (no comma: several values in one line are sip.js's to parse), with a branch parameter; what
 * /^SIP\/2\.0\/[A-Za-z]+[ \t]+(\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9.-]+)(?::(\d{1,5}))?((?:[ \t]*;[^;,]*)*)$/
 * and then the branch pattern on its parameters accept, read without a regex (a match array
 * and its substrings per response were a fifth of what parsing one allocated).
 */
export function parseTopVia(value: string): TopVia | undefined {
  if (!value.startsWith('SIP/2.0/') || value.includes(',')) return undefined;
  const n = value.length;
  let i = 8;
  while (i < n && isAlpha(value.charCodeAt(i))) i++;
  if (i === 8) return undefined;
  const afterTransport = i;
  while (value.charCodeAt(i) === 32 || value.charCodeAt(i) === 9) i++;
  if (i === afterTransport) return undefined;
  const hostStart = i;
  if (value.charCodeAt(i) === 91) {
    i++;
    while (i < n && isV6Char(value.charCodeAt(i))) i++;
    if (i === hostStart + 1 || value.charCodeAt(i) !== 93) return undefined;
    i++;
  } else {
    while (i < n && isHostChar(value.charCodeAt(i))) i++;
    if (i === hostStart) return undefined;
  }
  const hostEnd = i;
  let port: number | undefined;
  if (value.charCodeAt(i) === 58) {
    const portStart = ++i;
    while (i < n && isDigit(value.charCodeAt(i))) i++;
    if (i === portStart || i - portStart > 5) return undefined;
    port = Number(value.slice(portStart, i));
  }
  const paramsStart = i;
  while (value.charCodeAt(i) === 32 || value.charCodeAt(i) === 9) i++;
  if (i < n && value.charCodeAt(i) !== 59) return undefined; // parameters start with ';' (and without one there is no branch)
  const branch = tokenParam(value, paramsStart, 'branch');
  return branch === undefined ? undefined : { host: value.slice(hostStart, hostEnd), port, branch };
}

/** `SIP/2.0 <code> <reason>` (code 100-699; the reason without CR or LF): the code, or 0 when it is not one. */
function statusCodeOf(text: string, firstEol: number): number {
  if (firstEol < 12 || !text.startsWith('SIP/2.0 ') || text.charCodeAt(11) !== 32) return 0;
  const a = text.charCodeAt(8);
  const b = text.charCodeAt(9);
  const c = text.charCodeAt(10);
  if (a < 49 || a > 54 || !isDigit(b) || !isDigit(c)) return 0;
  const cr = text.indexOf('\r', 12);
  const lf = text.indexOf('\n', 12);
  if ((cr !== -1 && cr < firstEol) || (lf !== -1 && lf < firstEol)) return 0;
  return (a - 48) * 100 + (b - 48) * 10 + (c - 48);
}

/**
 * The value of the first `;[ \t]*<name>=token` parameter (name in any case; `name` given in lower
 * case) at or after `from`, as /;[ \t]*<name>=(token+)/i finds it, without a regex or a copy.
 */
function tokenParam(value: string, from: number, name: string): string | undefined {
  let semi = value.indexOf(';', from);
  while (semi !== -1) {
    let i = semi + 1;
    while (value.charCodeAt(i) === 32 || value.charCodeAt(i) === 9) i++;
    let k = 0;
    while (k < name.length && (value.charCodeAt(i + k) | 32) === name.charCodeAt(k)) k++;
    if (k === name.length && value.charCodeAt(i + k) === 61) {
      const start = i + k + 1;
      let end = start;
      for (let c = value.charCodeAt(end); c < 128 && TOKEN_CHAR[c] === 1; c = value.charCodeAt(++end));
      if (end > start) return value.slice(start, end);
    }
    semi = value.indexOf(';', semi + 1);
  }
  return undefined;
}

/** The tag parameter of a From/To value: the first one after the closing '>' when there is one. */
function tagOf(value: string): string | undefined {
  const gt = value.lastIndexOf('>');
  return tokenParam(value, gt === -1 ? 0 : gt, 'tag');
}

/** CSeq `1*10DIGIT 1*(SP/HTAB) 1*32(A-Z)` as sequence number and method, or undefined. */
function cseqOf(value: string): { seq: number; method: string } | undefined {
  let i = 0;
  while (i < value.length && isDigit(value.charCodeAt(i))) i++;
  if (i === 0 || i > 10) return undefined;
  const digitsEnd = i;
  while (value.charCodeAt(i) === 32 || value.charCodeAt(i) === 9) i++;
  if (i === digitsEnd) return undefined;
  const methodStart = i;
  for (let c = value.charCodeAt(i); c >= 65 && c <= 90; c = value.charCodeAt(++i));
  if (i !== value.length || i === methodStart || i - methodStart > 32) return undefined;
  return { seq: Number(value.slice(0, digitsEnd)), method: value.slice(methodStart) };
}

/** 1 to 6 digits. */
function isContentLength(value: string): boolean {
  if (value.length === 0 || value.length > 6) return false;
  for (let i = 0; i < value.length; i++) if (!isDigit(value.charCodeAt(i))) return false;
  return true;
}

/** Whether a value still needs String#trim after its leading spaces and tabs were skipped. */
function untrimmed(value: string): boolean {
  if (value.length === 0) return false;
  const first = value.charCodeAt(0);
  const last = value.charCodeAt(value.length - 1);
  return first <= 32 || first >= 127 || last <= 32 || last >= 127;
}

export type FastParse = FastResponseMessage | 'malformed' | 'unsupported';

export function parseResponseFast(text: string): FastParse {
  const headerEnd = text.indexOf('\r\n\r\n');
  if (headerEnd === -1) return 'malformed';
  const folded = text.indexOf('\r\n ');
  const foldedTab = text.indexOf('\r\n\t');
  if ((folded !== -1 && folded < headerEnd) || (foldedTab !== -1 && foldedTab < headerEnd)) return 'unsupported'; // folded continuation lines
  const firstEol = text.indexOf('\r\n');
  const statusCode = statusCodeOf(text, firstEol);
  if (statusCode === 0) return 'malformed';

  const msg = new FastResponseMessage();
  msg.data = text;
  msg.statusCode = statusCode;
  msg.reasonPhrase = text.slice(12, firstEol);
  const headers = msg.headers as Record<string, unknown>;
  let sawVia = false;
  let contentLength: number | undefined;
  let pos = firstEol + 2;
  while (pos < headerEnd) {
    let eol = text.indexOf('\r\n', pos);
    if (eol === -1 || eol > headerEnd) eol = headerEnd;
    const colon = text.indexOf(':', pos);
    if (colon <= pos || colon >= eol) return 'malformed';
    const name = knownName(text, pos, colon) ?? headerName(text.slice(pos, colon));
    if (name === null) return 'malformed';
    let start = colon + 1;
    while (start < eol && (text.charCodeAt(start) === 32 || text.charCodeAt(start) === 9)) start++;
    let value = text.slice(start, eol);
    if (untrimmed(value)) value = value.trim();
    pos = eol + 2;
    if (name.single && headers[name.canonical] !== undefined) return 'malformed';
    switch (name.kind) {
      case Kind.Via: {
        if (sawVia) {
          add(msg, name.canonical, value); // the core drops responses with more than one Via
          break;
        }
        if (value.includes(',')) return 'unsupported';
        const via = parseTopVia(value);
        if (via === undefined) return 'malformed';
        sawVia = true;
        add(msg, name.canonical, value);
        // No port stays undefined, as sip.js's grammar leaves it (its UserAgent checks exactly that).
        msg.via = { host: via.host, port: via.port as number };
        msg.viaBranch = via.branch;
        break;
      }
      case Kind.CSeq: {
        const cseq = cseqOf(value);
        if (!cseq) return 'malformed';
        add(msg, name.canonical, value);
        msg.cseq = cseq.seq;
        msg.method = cseq.method;
        break;
      }
      case Kind.CallId:
        if (!value || WHITESPACE.test(value)) return 'malformed';
        add(msg, name.canonical, value);
        msg.callId = value;
        break;
      case Kind.From:
        if (!value) return 'malformed';
        add(msg, name.canonical, value);
        msg.fromTag = tagOf(value) ?? '';
        break;
      case Kind.To:
        if (!value) return 'malformed';
        add(msg, name.canonical, value);
        msg.toTag = tagOf(value) ?? '';
        break;
      case Kind.ContentLength:
        if (!isContentLength(value)) return 'malformed';
        contentLength = Number(value);
        add(msg, name.canonical, value);
        break;
      default:
        add(msg, name.canonical, value);
    }
  }
  if (!sawVia || msg.method === undefined || msg.callId === undefined || msg.fromTag === undefined || msg.toTag === undefined) return 'malformed';
  if (contentLength === 0 || (contentLength === undefined && headerEnd + 4 === text.length)) {
    msg.body = '';
  } else {
    const body = text.slice(headerEnd + 4);
    if (contentLength !== undefined && Buffer.byteLength(body) < contentLength) return 'malformed';
    msg.body = contentLength === undefined ? body : Buffer.from(body).subarray(0, contentLength).toString();
  }
  return msg;
}
