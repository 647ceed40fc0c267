/**
 * The last step of every inbound path: a cheap "is this SIP at all" check, then the upper layer
 * under try/catch. Nothing that arrives from the network, and nothing the upper layer throws
 * while handling it, may escape into a socket event handler (an uncaught throw there kills the
 * process).
 */
import type { FastResponseMessage } from '../fast-response.ts';
import type { InboundHandler, TransportStats } from './transport.ts';

/** A status line ("SIP/2.0 200 OK") or a request line ("NOTIFY sip:x SIP/2.0"). */
export function looksLikeSip(text: string): boolean {
  const eol = text.indexOf('\r\n');
  if (eol === -1) return false;
  const line = text.slice(0, eol);
  if (line.startsWith('SIP/2.0 ')) return /^SIP\/2\.0 [1-6]\d\d( |$)/.test(line);
  return /^[A-Z]+ \S+ SIP\/2\.0$/.test(line);
}

/** Only CR/LF (keep-alives): ignored silently, not counted as malformed. */
export function isKeepAlive(text: string): boolean {
  return /^[\r\n]*$/.test(text);
}

/** Hands one message up; counts it as received, or as malformed if the upper layer throws. */
export function deliver(text: string, stats: TransportStats, onMessage: InboundHandler | undefined, response?: FastResponseMessage): void {
  stats.received++;
  try {
    onMessage?.(text, response);
  } catch {
    stats.malformed++;
  }
}
