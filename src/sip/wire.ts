/**
 * Cheap peeks at raw SIP text, for the transport layer's hot path (Timer E matching and next-hop
 * choice), without running the full sip.js grammar. They never throw: a message they cannot read
 * yields undefined and is left to the guarded parser to reject.
 */

/** Status code of a response ("SIP/2.0 200 OK"), or undefined for a request or junk. */
export function peekStatusCode(text: string): number | undefined {
  if (!text.startsWith('SIP/2.0 ')) return undefined;
  const code = Number.parseInt(text.slice(8, 11), 10);
  return code >= 100 && code <= 699 ? code : undefined;
}

/** Method of a request ("PUBLISH sip:... SIP/2.0"), or undefined for a response or junk. */
export function peekMethod(text: string): string | undefined {
  const sp = text.indexOf(' ');
  if (sp <= 0 || sp > 32 || text.startsWith('SIP/2.0 ')) return undefined;
  const method = text.slice(0, sp);
  return /^[A-Z]+$/.test(method) ? method : undefined;
}

/** Where the header section ends (the CRLF of the blank line, or the end of the text). */
function headerEnd(text: string): number {
  const end = text.indexOf('\r\n\r\n');
  return end === -1 ? text.length : end + 2;
}

/** `\r\n<Name>:` per name asked for, built once. */
const exactNeedles = new Map<string, string>();

/** Value of the first occurrence of a header (long or compact name, any case), trimmed. */
export function peekHeader(text: string, name: string, compact?: string): string | undefined {
  const end = headerEnd(text);
  const lower = name.toLowerCase();
  const lowerCompact = compact?.toLowerCase();
  let needle = exactNeedles.get(name);
  if (needle === undefined) {
    needle = `\r\n${name}:`;
    if (exactNeedles.size < 100) exactNeedles.set(name, needle);
  }
  // Fast path: the name as written by sip.js and most stacks ("\r\nVia:"), valid when no line
  // before it carries the same header in another spelling (checked on those few lines only).
  const exact = text.indexOf(needle);
  if (exact !== -1 && exact < end && scanHeader(text, lower, lowerCompact, exact) === undefined) return lineValue(text, exact + needle.length);
  return scanHeader(text, lower, lowerCompact, end);
}

/** The value of the first header line before `end` whose name is `lower` or `lowerCompact`. */
function scanHeader(text: string, lower: string, lowerCompact: string | undefined, end: number): string | undefined {
  let pos = text.indexOf('\r\n') + 2;
  while (pos > 1 && pos < end) {
    const eol = text.indexOf('\r\n', pos);
    const lineEnd = eol === -1 ? text.length : eol;
    const colon = text.indexOf(':', pos);
    if (colon !== -1 && colon < lineEnd) {
      const n = text.slice(pos, colon).trim().toLowerCase();
      if (n === lower || n === lowerCompact) return text.slice(colon + 1, lineEnd).trim();
    }
    pos = eol + 2;
  }
  return undefined;
}

function lineValue(text: string, valueStart: number): string {
  const eol = text.indexOf('\r\n', valueStart);
  return text.slice(valueStart, eol === -1 ? undefined : eol).trim();
}

/** The branch parameter of the top Via header, e.g. "z9hG4bK...". */
export function peekTopViaBranch(text: string): string | undefined {
  const via = peekHeader(text, 'Via', 'v');
  if (via === undefined) return undefined;
  const comma = via.indexOf(',');
  const first = comma === -1 ? via : via.slice(0, comma);
  const m = /;\s*branch\s*=\s*([^;,\s]+)/i.exec(first);
  return m?.[1];
}

/** The Request-URI of a request. */
export function peekRequestUri(text: string): string | undefined {
  const eol = text.indexOf('\r\n');
  const line = eol === -1 ? text : text.slice(0, eol);
  const parts = line.split(' ');
  return parts.length === 3 && parts[2] === 'SIP/2.0' ? parts[1] : undefined;
}

/** The first URI of the first Route header, without angle brackets. */
export function peekFirstRoute(text: string): string | undefined {
  const route = peekHeader(text, 'Route');
  if (route === undefined) return undefined;
  const m = /<([^>]+)>/.exec(route);
  return m ? m[1] : route.split(',')[0]?.trim();
}

export interface HopUri {
  host: string;
  port: number | undefined;
  transport: string | undefined;
}

/** Host, port and transport parameter of a sip:/sips: URI; undefined if it is not one. */
export function parseHopUri(uri: string): HopUri | undefined {
  const m = /^sips?:(?:[^@;?]*@)?(\[[0-9a-fA-F:.]+\]|[A-Za-z0-9.-]+)(?::(\d{1,5}))?((?:;[^?]*)?)/.exec(uri);
  if (!m) return undefined;
  let host = m[1] ?? '';
  if (host.startsWith('[')) host = host.slice(1, -1);
  const port = m[2] === undefined ? undefined : Number(m[2]);
  if (port !== undefined && (port < 1 || port > 65535)) return undefined;
  const t = /;transport=([A-Za-z]+)/i.exec(m[3] ?? '');
  return { host, port, transport: t?.[1]?.toUpperCase() };
}

const hopCache = new Map<string, HopUri | undefined>();
const HOP_CACHE_MAX = 10_000;

/** Next hop per RFC 3261 8.1.2: the first Route URI if any, else the Request-URI. */
export function peekNextHop(text: string): HopUri | undefined {
  const uri = peekFirstRoute(text) ?? peekRequestUri(text);
  return uri === undefined ? undefined : hopOfUri(uri);
}

/** parseHopUri, remembered: a few targets carry almost all traffic, so each URI is parsed once (within a bound). */
export function hopOfUri(uri: string): HopUri | undefined {
  if (hopCache.has(uri)) return hopCache.get(uri);
  const hop = parseHopUri(uri);
  if (hopCache.size >= HOP_CACHE_MAX) hopCache.clear();
  hopCache.set(uri, hop);
  return hop;
}
