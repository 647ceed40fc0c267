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

/** Adds a header the way IncomingMessage.addHeader does, without re-headerizing the name. */
function add(msg: IncomingResponseMessage, lowerName: string, value: string): void {
  const headers = msg.headers as Record<string, Array<{ raw: string }>>;
  const name = canonicalHeaderName(lowerName);
  const list = headers[name];
  if (list) list.push({ raw: value });
  else headers[name] = [{ raw: value }];
}

const COMPACT: Record<string, string> = { v: 'via', f: 'from', t: 'to', i: 'call-id', l: 'content-length', c: 'content-type', m: 'contact' };
const STATUS_LINE = /^SIP\/2\.0 ([1-6]\d\d) ([^\r\n]*)$/;
const CSEQ = /^(\d{1,10})[ \t]+([A-Z]{1,32})$/;
const VIA = /^SIP\/2\.0\/[A-Za-z]+[ \t]+(\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9.-]+)(?::(\d{1,5}))?((?:[ \t]*;[^;,]*)*)$/;
const BRANCH = /;[ \t]*branch=([A-Za-z0-9.!%*_+`'~-]+)/i;
const TAG = /;[ \t]*tag=([A-Za-z0-9.!%*_+`'~-]+)/i;

function tagOf(value: string): string | undefined {
  // The tag is a parameter of the name-addr, after the closing '>' when there is one.
  const gt = value.lastIndexOf('>');
  return TAG.exec(gt === -1 ? value : value.slice(gt))?.[1];
}

export type FastParse = IncomingResponseMessage | 'malformed' | 'unsupported';

export function parseResponseFast(text: string): FastParse {
  const headerEnd = text.indexOf('\r\n\r\n');
  if (headerEnd === -1) return 'malformed';
  const head = text.slice(0, headerEnd);
  if (head.includes('\r\n ') || head.includes('\r\n\t')) return 'unsupported'; // folded continuation lines
  const firstEol = text.indexOf('\r\n');
  const status = STATUS_LINE.exec(text.slice(0, firstEol));
  if (!status) return 'malformed';

  const msg = new IncomingResponseMessage();
  msg.data = text;
  msg.statusCode = Number(status[1]);
  msg.reasonPhrase = status[2] ?? '';
  let sawVia = false;
  let contentLength: number | undefined;
  let pos = firstEol + 2;
  while (pos < headerEnd) {
    let eol = text.indexOf('\r\n', pos);
    if (eol === -1 || eol > headerEnd) eol = headerEnd;
    const line = text.slice(pos, eol);
    pos = eol + 2;
    const colon = line.indexOf(':');
    if (colon <= 0) return 'malformed';
    let name = line.slice(0, colon).trim().toLowerCase();
    name = COMPACT[name] ?? name;
    if (!/^[a-z0-9!%*_+`'~.-]+$/.test(name)) return 'malformed';
    const value = line.slice(colon + 1).trim();
    if (SINGLE.has(name) && (msg.headers as Record<string, unknown>)[canonicalHeaderName(name)] !== undefined) return 'malformed';
    switch (name) {
      case 'via': {
        if (sawVia) {
          add(msg, 'via', value); // the core drops responses with more than one Via
          break;
        }
        if (value.includes(',')) return 'unsupported';
        const m = VIA.exec(value);
        const branch = m ? BRANCH.exec(m[3] ?? '')?.[1] : undefined;
        if (!m || !branch) return 'malformed';
        sawVia = true;
        add(msg, 'via', value);
        // No port stays undefined, as sip.js's grammar leaves it (its UserAgent checks exactly that).
        msg.via = { host: m[1] ?? '', port: (m[2] === undefined ? undefined : Number(m[2])) as number };
        msg.viaBranch = branch;
        break;
      }
      case 'cseq': {
        const m = CSEQ.exec(value);
        if (!m) return 'malformed';
        add(msg, 'cseq', value);
        msg.cseq = Number(m[1]);
        msg.method = m[2] ?? '';
        break;
      }
      case 'call-id':
        if (!value || /\s/.test(value)) return 'malformed';
        add(msg, 'call-id', value);
        msg.callId = value;
        break;
      case 'from':
      case 'to': {
        if (!value) return 'malformed';
        add(msg, name, value);
        const tag = tagOf(value);
        if (name === 'from') msg.fromTag = tag ?? '';
        else msg.toTag = tag ?? '';
        break;
      }
      case 'content-length':
        if (!/^\d{1,6}$/.test(value)) return 'malformed';
        contentLength = Number(value);
        add(msg, 'content-length', value);
        break;
      default:
        add(msg, name, value);
    }
  }
  if (!sawVia || msg.method === undefined || msg.callId === undefined || msg.fromTag === undefined || msg.toTag === undefined) return 'malformed';
  const body = text.slice(headerEnd + 4);
  if (contentLength === 0 || (contentLength === undefined && body === '')) {
    msg.body = '';
  } else {
    if (contentLength !== undefined && Buffer.byteLength(body) < contentLength) return 'malformed';
    msg.body = contentLength === undefined ? body : Buffer.from(body).subarray(0, contentLength).toString();
  }
  return msg;
}
