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

/** A header name as written, read once: its long lower-case form, sip.js's canonical form, whether it may repeat. */
interface HeaderName {
  lower: string;
  canonical: string;
  single: boolean;
}

/** Header names as written in responses (a server writes the same few every time), within a bound. */
const headerNames = new Map<string, HeaderName | null>();

/** The name before a colon, or null when it is not a token. */
function headerName(raw: string): HeaderName | null {
  let n = headerNames.get(raw);
  if (n === undefined) {
    const trimmed = raw.trim().toLowerCase();
    const lower = COMPACT[trimmed] ?? trimmed;
    n = TOKEN.test(lower) ? { lower, canonical: canonicalHeaderName(lower), single: SINGLE.has(lower) } : null;
    if (headerNames.size < 1000) headerNames.set(raw, n);
  }
  return n;
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

const STATUS_LINE = /^SIP\/2\.0 ([1-6]\d\d) ([^\r\n]*)$/;
const CSEQ = /^(\d{1,10})[ \t]+([A-Z]{1,32})$/;
const VIA = /^SIP\/2\.0\/[A-Za-z]+[ \t]+(\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9.-]+)(?::(\d{1,5}))?((?:[ \t]*;[^;,]*)*)$/;
const BRANCH = /;[ \t]*branch=([A-Za-z0-9.!%*_+`'~-]+)/i;
const TAG = /;[ \t]*tag=([A-Za-z0-9.!%*_+`'~-]+)/i;
const WHITESPACE = /\s/;
const DIGITS = /^\d{1,6}$/;

function tagOf(value: string): string | undefined {
  // The tag is a parameter of the name-addr, after the closing '>' when there is one.
  const gt = value.lastIndexOf('>');
  return TAG.exec(gt === -1 ? value : value.slice(gt))?.[1];
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
  const status = STATUS_LINE.exec(text.slice(0, firstEol));
  if (!status) return 'malformed';

  const msg = new FastResponseMessage();
  msg.data = text;
  msg.statusCode = Number(status[1]);
  msg.reasonPhrase = status[2] ?? '';
  const headers = msg.headers as Record<string, unknown>;
  let sawVia = false;
  let contentLength: number | undefined;
  let pos = firstEol + 2;
  while (pos < headerEnd) {
    let eol = text.indexOf('\r\n', pos);
    if (eol === -1 || eol > headerEnd) eol = headerEnd;
    const colon = text.indexOf(':', pos);
    if (colon <= pos || colon >= eol) return 'malformed';
    const name = headerName(text.slice(pos, colon));
    if (name === null) return 'malformed';
    let start = colon + 1;
    while (start < eol && (text.charCodeAt(start) === 32 || text.charCodeAt(start) === 9)) start++;
    let value = text.slice(start, eol);
    if (untrimmed(value)) value = value.trim();
    pos = eol + 2;
    if (name.single && headers[name.canonical] !== undefined) return 'malformed';
    switch (name.lower) {
      case 'via': {
        if (sawVia) {
          add(msg, name.canonical, value); // the core drops responses with more than one Via
          break;
        }
        if (value.includes(',')) return 'unsupported';
        const m = VIA.exec(value);
        const branch = m ? BRANCH.exec(m[3] ?? '')?.[1] : undefined;
        if (!m || !branch) return 'malformed';
        sawVia = true;
        add(msg, name.canonical, value);
        // No port stays undefined, as sip.js's grammar leaves it (its UserAgent checks exactly that).
        msg.via = { host: m[1] ?? '', port: (m[2] === undefined ? undefined : Number(m[2])) as number };
        msg.viaBranch = branch;
        break;
      }
      case 'cseq': {
        const m = CSEQ.exec(value);
        if (!m) return 'malformed';
        add(msg, name.canonical, value);
        msg.cseq = Number(m[1]);
        msg.method = m[2] ?? '';
        break;
      }
      case 'call-id':
        if (!value || WHITESPACE.test(value)) return 'malformed';
        add(msg, name.canonical, value);
        msg.callId = value;
        break;
      case 'from':
        if (!value) return 'malformed';
        add(msg, name.canonical, value);
        msg.fromTag = tagOf(value) ?? '';
        break;
      case 'to':
        if (!value) return 'malformed';
        add(msg, name.canonical, value);
        msg.toTag = tagOf(value) ?? '';
        break;
      case 'content-length':
        if (!DIGITS.test(value)) return 'malformed';
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
