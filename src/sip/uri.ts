/**
 * sip.js URI objects without the PEG grammar on the common path. Grammar.URIParse decodes the
 * grammar's whole bytecode table on every call (about 0.1 ms); a runner publishing for a million
 * mailboxes parses three URIs per request. Plain sip:/sips: URIs (user, host, port, parameters)
 * are built directly; anything else (escapes, URI headers, IPv6 zones, tel:) goes to the grammar.
 */
import { Grammar, URI } from 'sip.js/lib/core/index.js';

const SIMPLE = /^(sips?):(?:([A-Za-z0-9_.!~*'()&=+$,;?/-]+)@)?(\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9](?:[A-Za-z0-9.-]{0,251}[A-Za-z0-9])?)(?::(\d{1,5}))?((?:;[A-Za-z0-9_.!~*'()+-]+(?:=[A-Za-z0-9_.!~*'()+:[\]-]+)?)*)$/;

/** An IPv4 literal, a bracketed IPv6 literal, or a host name whose top label starts with a letter (RFC 3261 toplabel). */
function plainHost(host: string): boolean {
  if (host.startsWith('[')) return true;
  if (/^\d{1,3}\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(host)) return host.split('.').every((o) => Number(o) <= 255);
  const labels = host.split('.');
  return labels.every((l) => l.length > 0 && !l.startsWith('-') && !l.endsWith('-')) && /^[A-Za-z]/.test(labels[labels.length - 1] ?? '');
}

/** Whether `text` is a SIP URI sip.js would accept, without building the URI object on the common path. */
export function isSipUri(text: string): boolean {
  const m = SIMPLE.exec(text);
  if (!m || (m[2] !== undefined && m[2].includes(';')) || !plainHost(m[3] ?? '')) return Grammar.URIParse(text) !== undefined;
  return m[4] === undefined || (Number(m[4]) >= 1 && Number(m[4]) <= 65535);
}

export function parseSipUri(text: string): URI | undefined {
  const m = SIMPLE.exec(text);
  if (!m || (m[2] !== undefined && m[2].includes(';')) || !plainHost(m[3] ?? '')) return Grammar.URIParse(text);
  const port = m[4] === undefined ? undefined : Number(m[4]);
  if (port !== undefined && (port < 1 || port > 65535)) return undefined;
  const params: Record<string, string | null> = {};
  for (const p of (m[5] ?? '').split(';').slice(1)) {
    const eq = p.indexOf('=');
    const name = (eq === -1 ? p : p.slice(0, eq)).toLowerCase();
    params[name] = eq === -1 ? null : p.slice(eq + 1);
  }
  return new URI(m[1] ?? 'sip', m[2] as string, m[3] ?? '', port, params);
}
