/**
 * RFC 3842 application/simple-message-summary: the body of MWI PUBLISH and NOTIFY.
 * The encoder is strict (Kamailio's presence_mwi answers 500 to LF-only line ends, lowercase
 * header names or a last line without CRLF); the parser is liberal and never throws.
 */
import { ErrorCodes, MwiError } from '../errors.ts';

/** In the order the encoder emits them. */
export const MESSAGE_CLASSES = [
  'voice-message',
  'fax-message',
  'pager-message',
  'multimedia-message',
  'text-message',
  'none',
] as const;

export type MessageClass = (typeof MESSAGE_CLASSES)[number];

export interface MessageCounts {
  new: number;
  old: number;
  urgentNew?: number;
  urgentOld?: number;
}

export interface MessageSummary {
  /** Message-Account URI (sip:, sips: or tel:). */
  account?: string;
  counts: Partial<Record<MessageClass, MessageCounts>>;
}

/** RFC 3842 msgcount: 1*DIGIT, at most 2^32-1. */
export const MAX_MESSAGE_COUNT = 0xffff_ffff;

export const MESSAGE_SUMMARY_CONTENT_TYPE = 'application/simple-message-summary';

/** Stable reasons a body is rejected, for callers and tests (the `reason` text is for humans). */
export type SummaryProblem =
  | 'status-line'
  | 'account'
  | 'counts-syntax'
  | 'count-range'
  | 'urgent-exceeds-total'
  | 'duplicate-line'
  | 'malformed-line';

export type ParseSummaryResult =
  | { ok: true; value: MessageSummary; messagesWaiting: boolean }
  | { ok: false; code: typeof ErrorCodes.BODY_INVALID; problem: SummaryProblem; reason: string };

const HEADER_NAMES: Record<MessageClass, string> = {
  'voice-message': 'Voice-Message',
  'fax-message': 'Fax-Message',
  'pager-message': 'Pager-Message',
  'multimedia-message': 'Multimedia-Message',
  'text-message': 'Text-Message',
  none: 'None',
};

const CLASS_BY_LOWER_NAME = new Map<string, MessageClass>(MESSAGE_CLASSES.map((c) => [c, c]));

function isValidCount(n: unknown): n is number {
  return typeof n === 'number' && Number.isInteger(n) && n >= 0 && n <= MAX_MESSAGE_COUNT;
}

const ACCOUNT_SCHEME = /^(?:sips?|tel):/i;

/** A sip:, sips: or tel: URI made of visible ASCII only (no CR/LF, controls, spaces or <>"). */
export function isValidAccountUri(uri: string): boolean {
  const scheme = ACCOUNT_SCHEME.exec(uri);
  if (!scheme) return false;
  const start = scheme[0].length;
  if (start === uri.length) return false;
  for (let i = start; i < uri.length; i++) {
    const c = uri.charCodeAt(i);
    if (c < 0x21 || c > 0x7e || c === 0x3c || c === 0x3e || c === 0x22) return false; // also < > "
  }
  return true;
}

function invalid(problem: SummaryProblem, message: string, details: Record<string, unknown> = {}): MwiError {
  return new MwiError(ErrorCodes.BODY_INVALID, message, { details: { problem, ...details } });
}

function checkCount(cls: MessageClass, field: keyof MessageCounts, n: unknown): void {
  if (!isValidCount(n)) throw invalid('count-range', `${cls} ${field} must be an integer between 0 and ${MAX_MESSAGE_COUNT}`, { messageClass: cls, field });
}

function countsLine(cls: MessageClass, c: MessageCounts): string {
  const urgent = c.urgentNew !== undefined || c.urgentOld !== undefined;
  const urgentNew = c.urgentNew ?? 0;
  const urgentOld = c.urgentOld ?? 0;
  checkCount(cls, 'new', c.new);
  checkCount(cls, 'old', c.old);
  checkCount(cls, 'urgentNew', urgentNew);
  checkCount(cls, 'urgentOld', urgentOld);
  if (urgentNew > c.new) throw invalid('urgent-exceeds-total', `${cls} urgentNew exceeds new`, { messageClass: cls, field: 'urgentNew' });
  if (urgentOld > c.old) throw invalid('urgent-exceeds-total', `${cls} urgentOld exceeds old`, { messageClass: cls, field: 'urgentOld' });
  const tail = urgent ? ` (${urgentNew}/${urgentOld})` : '';
  return `${HEADER_NAMES[cls]}: ${c.new}/${c.old}${tail}`;
}

/**
 * The body bytes, CRLF after every line; throws MwiError(BODY_INVALID) on bad counts or account.
 * `defaultAccount` is the Message-Account when the summary names none (the sender passes the mailbox).
 */
export function encodeMessageSummary(s: MessageSummary, defaultAccount?: string): string {
  let classLines = '';
  let waiting = false;
  for (const cls of MESSAGE_CLASSES) {
    const c = s.counts[cls];
    if (c === undefined) continue;
    classLines += `${countsLine(cls, c)}\r\n`;
    if (c.new > 0) waiting = true;
  }
  let body = `Messages-Waiting: ${waiting ? 'yes' : 'no'}\r\n`;
  const account = s.account ?? defaultAccount;
  if (account !== undefined) {
    if (typeof account !== 'string' || !isValidAccountUri(account)) {
      throw invalid('account', 'account must be a sip:, sips: or tel: URI of visible ASCII characters', { field: 'account' });
    }
    body += `Message-Account: ${account}\r\n`;
  }
  return body + classLines;
}

type Rejection = Extract<ParseSummaryResult, { ok: false }>;

function reject(problem: SummaryProblem, reason: string): Rejection {
  return { ok: false, code: ErrorCodes.BODY_INVALID, problem, reason };
}

/**
 * The summary section as logical lines: up to the first empty line (what follows is
 * opt-msg-headers, ignored), with folded continuation lines joined.
 */
function summaryLines(text: string): string[] {
  const lines: string[] = [];
  for (const raw of text.split(/\r?\n/)) {
    if (raw === '' || raw === '\r') break;
    const last = lines.length - 1;
    if ((raw.startsWith(' ') || raw.startsWith('\t')) && last >= 0) {
      lines[last] = `${lines[last] ?? ''} ${raw.trim()}`;
    } else {
      lines.push(raw);
    }
  }
  return lines;
}

function splitHeader(line: string): { name: string; value: string } | undefined {
  const colon = line.indexOf(':');
  if (colon <= 0) return undefined;
  const name = line.slice(0, colon).trim().toLowerCase();
  return name === '' ? undefined : { name, value: line.slice(colon + 1).trim() };
}

// SLASH and LPAREN/RPAREN allow surrounding whitespace (SWS) in RFC 3261 grammar.
const COUNTS_RE = /^(\d+)\s*\/\s*(\d+)(?:\s*\(\s*(\d+)\s*\/\s*(\d+)\s*\))?$/;

function parseCounts(cls: MessageClass, value: string): MessageCounts | Rejection {
  const m = COUNTS_RE.exec(value);
  if (!m) return reject('counts-syntax', `${HEADER_NAMES[cls]} value is not "new/old" or "new/old (urgentNew/urgentOld)"`);
  const nums = [m[1], m[2], m[3], m[4]].map((d) => (d === undefined ? undefined : Number(d)));
  const [n, o, un, uo] = nums;
  if (n === undefined || o === undefined) return reject('counts-syntax', `${HEADER_NAMES[cls]} value lacks counts`);
  if (nums.some((x) => x !== undefined && x > MAX_MESSAGE_COUNT)) {
    return reject('count-range', `${HEADER_NAMES[cls]} count exceeds ${MAX_MESSAGE_COUNT}`);
  }
  if (un === undefined || uo === undefined) return { new: n, old: o };
  if (un > n || uo > o) return reject('urgent-exceeds-total', `${HEADER_NAMES[cls]} urgent count exceeds its total`);
  return { new: n, old: o, urgentNew: un, urgentOld: uo };
}

/** Parses a body liberally (LF or CRLF, any header-name case); never throws. */
export function parseMessageSummary(text: string): ParseSummaryResult {
  if (typeof text !== 'string') return reject('status-line', 'body is not a string');
  const lines = summaryLines(text);
  const status = lines[0] === undefined ? undefined : splitHeader(lines[0]);
  if (status === undefined || status.name !== 'messages-waiting') {
    return reject('status-line', 'first line must be "Messages-Waiting: yes|no"');
  }
  const flag = status.value.toLowerCase();
  if (flag !== 'yes' && flag !== 'no') return reject('status-line', 'Messages-Waiting must be "yes" or "no"');

  const value: MessageSummary = { counts: {} };
  for (let i = 1; i < lines.length; i++) {
    const h = splitHeader(lines[i] ?? '');
    if (h === undefined) return reject('malformed-line', `line ${i + 1} is not a header line`);
    if (h.name === 'messages-waiting') return reject('duplicate-line', 'Messages-Waiting appears twice');
    if (h.name === 'message-account') {
      if (value.account !== undefined) return reject('duplicate-line', 'Message-Account appears twice');
      const uri = h.value.startsWith('<') && h.value.endsWith('>') ? h.value.slice(1, -1) : h.value;
      if (!isValidAccountUri(uri)) return reject('account', 'Message-Account is not a sip:, sips: or tel: URI');
      value.account = uri;
      continue;
    }
    const cls = CLASS_BY_LOWER_NAME.get(h.name);
    // Any other header is an extension header, which the RFC 3842 grammar allows: ignored.
    if (cls === undefined) continue;
    if (value.counts[cls] !== undefined) return reject('duplicate-line', `${HEADER_NAMES[cls]} appears twice`);
    const counts = parseCounts(cls, h.value);
    if ('ok' in counts) return counts;
    value.counts[cls] = counts;
  }
  return { ok: true, value, messagesWaiting: flag === 'yes' };
}
