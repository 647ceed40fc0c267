/**
 * The guard around sip.js's parser. It usually returns undefined on junk but throws on some
 * inputs (e.g. a response with an unparseable CSeq); an uncaught throw inside a socket handler
 * would kill the process. Every inbound message passes through here.
 */
import { IncomingRequestMessage, IncomingResponseMessage, Parser } from 'sip.js/lib/core/index.js';
import type { Logger } from 'sip.js/lib/core/index.js';
import { parseResponseFast } from './fast-response.ts';

export type ParsedMessage =
  | { kind: 'response'; message: IncomingResponseMessage }
  | { kind: 'request'; message: IncomingRequestMessage }
  | { kind: 'malformed'; reason: string };

export function parseInbound(text: string, logger: Logger): ParsedMessage {
  let parsed: IncomingRequestMessage | IncomingResponseMessage | undefined;
  try {
    if (text.startsWith('SIP/2.0 ')) {
      const fast = parseResponseFast(text);
      if (fast === 'malformed') return { kind: 'malformed', reason: 'malformed response' };
      if (fast !== 'unsupported') return { kind: 'response', message: fast };
    }
    parsed = Parser.parseMessage(text, logger);
  } catch (err) {
    return { kind: 'malformed', reason: `parser threw: ${(err as Error)?.message ?? String(err)}` };
  }
  if (parsed instanceof IncomingResponseMessage) {
    // The core needs these to match a transaction; a message lacking them is useless to it.
    const code = parsed.statusCode;
    if (code === undefined || !Number.isInteger(code) || code < 100 || code > 699) return { kind: 'malformed', reason: 'bad status code' };
    if (!parsed.viaBranch || !parsed.method) return { kind: 'malformed', reason: 'missing Via branch or CSeq method' };
    return { kind: 'response', message: parsed };
  }
  if (parsed instanceof IncomingRequestMessage) return { kind: 'request', message: parsed };
  return { kind: 'malformed', reason: 'unparseable' };
}
