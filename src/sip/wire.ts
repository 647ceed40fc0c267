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

/** Header section only (up to the blank line), to keep body bytes out of header searches. */
function headerSection(text: string): string {
  const end = text.indexOf('\r\n\r\n');
  return end === -1 ? text : text.slice(0, end + 2);
}

/** Value of the first occurrence of a header (long or compact name), trimmed. */
export function peekHeader(text: string, name: string, compact?: string): string | undefined {
  const head = headerSection(text);
  const lower = head.toLowerCase();
  for (const n of compact ? [name, compact] : [name]) {
    const needle = `\r\n${n.toLowerCase()}`;
    let from = 0;
    for (;;) {
      const at = lower.indexOf(needle, from);
      if (at === -1) break;
      let i = at + needle.length;
      while (head[i] === ' ' || head[i] === '\t') i++;
      if (head[i] === ':') {
        const eol = head.indexOf('\r\n', i);
        return head.slice(i + 1, eol === -1 ? undefined : eol).trim();
      }
      from = at + needle.length;
    }
  }
  return undefined;
}

/** The branch parameter of the top Via header, e.g. "z9hG4bK...". */
export function peekTopViaBranch(text: string): string | undefined {
  const via = peekHeader(text, 'Via', 'v');
  if (via === undefined) return undefined;
  const first = via.split(',')[0] ?? '';
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

/** Next hop per RFC 3261 8.1.2: the first Route URI if any, else the Request-URI. */
export function peekNextHop(text: string): HopUri | undefined {
  const uri = peekFirstRoute(text) ?? peekRequestUri(text);
  return uri === undefined ? undefined : parseHopUri(uri);
}
