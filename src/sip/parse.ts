/**
 * The guard around sip.js's parser. It usually returns undefined on junk but throws on some
 * inputs (e.g. a response with an unparseable CSeq); an uncaught throw inside a socket handler
 * would kill the process. Every inbound message passes through here.
 *
 * Requests are never parsed: we are a client only and drop every request we receive, so a
 * request line is all we read. sip.js's grammar costs milliseconds of CPU on some junk, and a
 * flood of junk requests must not cost more than a regular expression each.
 */
import { IncomingResponseMessage, Parser } from 'sip.js/lib/core/index.js';
import type { Logger } from 'sip.js/lib/core/index.js';
import { parseResponseFast } from './fast-response.ts';

export type ParsedMessage =
  | { kind: 'response'; message: IncomingResponseMessage }
  | { kind: 'request'; method: string }
  | { kind: 'malformed'; reason: string };

/** RFC 3261 25.1 Request-Line: a token method, a URI without spaces, SIP/2.0, then the end of the line. */
const REQUEST_LINE = /^([A-Za-z0-9.!%*_+`'~-]+) [^\s]+ SIP\/2\.0\r?\n/;

export function parseInbound(text: string, logger: Logger): ParsedMessage {
  let parsed: IncomingResponseMessage | undefined;
  try {
    if (!text.startsWith('SIP/2.0 ')) {
      const request = REQUEST_LINE.exec(text);
      return request?.[1] === undefined ? { kind: 'malformed', reason: 'neither a status line nor a request line' } : { kind: 'request', method: request[1] };
    }
    const fast = parseResponseFast(text);
    if (fast === 'malformed') return { kind: 'malformed', reason: 'malformed response' };
    if (fast !== 'unsupported') return { kind: 'response', message: fast };
    const message = Parser.parseMessage(text, logger);
    if (message instanceof IncomingResponseMessage) parsed = message;
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
  return { kind: 'malformed', reason: 'unparseable' };
}
