/**
 * A SIP presence-server SIMULATOR on loopback UDP, for `mwi start --demo` and for tests. It is
 * not a presence server: it keeps the latest message-summary body per Request-URI and answers
 * the way Kamailio's presence module does for the cases the runner cares about (tests against
 * the real thing use Kamailio, see test/harness/kamailio.ts):
 *
 * - OPTIONS: 200.
 * - PUBLISH with `Event: message-summary` (RFC 3903 section 6): a new SIP-ETag for every
 *   success, Expires clipped to `maxExpiresSec`, 412 when SIP-If-Match names no current
 *   publication of that AOR, Expires 0 removes it, 400 for neither body nor SIP-If-Match.
 * - PUBLISH with another or no Event: 489 (with Allow-Events); a body of another type: 415.
 * - Above `capacityPerSec` requests per second: 503 with Retry-After: 1 (the overload answer
 *   the runner must back off from).
 * - A retransmission (same top Via branch and method) gets the first answer again, as a server
 *   transaction would; nothing is applied twice.
 *
 * Parsing is defensive: a datagram it cannot read is counted in `dropped` and ignored; a request
 * it cannot answer sensibly (missing Via, From, To, Call-ID or CSeq) likewise.
 */
import { randomBytes } from 'node:crypto';
import dgram from 'node:dgram';
import { isIP } from 'node:net';

import { systemClock, type Clock } from '../clock.ts';
import type { Logger } from '../log.ts';
import { MESSAGE_SUMMARY_CONTENT_TYPE } from '../mwi/message-summary.ts';

export interface PresenceSimulatorOptions {
  /** Loopback only: 127.0.0.1 (default) or ::1. */
  host?: string;
  /** 0 (default) picks a free port. */
  port?: number;
  /** Requests answered per second before 503; a token bucket with one second of burst. Default 1000. */
  capacityPerSec?: number;
  /** Longest publication granted. Default 3600 s (Kamailio's max_expires). */
  maxExpiresSec?: number;
  /** Most AORs held; a PUBLISH for one more answers 500. Default 100 000. */
  maxAors?: number;
  clock?: Clock;
  log?: Logger;
}

export interface SimulatedPublication {
  aor: string;
  body: string;
  etag: string;
  expiresAt: number;
  updatedAt: number;
}

export interface PresenceSimulatorState {
  /** Current (unexpired) publications, one per AOR. */
  publications: SimulatedPublication[];
  /** Answers sent, by request method then status code, e.g. { PUBLISH: { '200': 12, '412': 1 } }. */
  answers: Record<string, Record<string, number>>;
  /** Datagrams ignored as unreadable or unanswerable. */
  dropped: number;
}

export interface PresenceSimulator {
  /** The URI to send to, e.g. sip:127.0.0.1:40000;transport=udp */
  readonly uri: string;
  readonly port: number;
  state(): PresenceSimulatorState;
  publication(aor: string): SimulatedPublication | undefined;
  /** Number of AORs held (unexpired). */
  holding(): number;
  /** Answers sent so far, by method then status (the `answers` of state(), without copying publications). */
  answers(): Record<string, Record<string, number>>;
  close(): Promise<void>;
}

const MAX_DATAGRAM_BYTES = 65_535;
const MAX_HEADER_LINES = 200;
/** How long a server transaction remembers its answer for retransmissions (RFC 3261 Timer J, 64*T1). */
const TRANSACTION_MEMORY_MS = 32_000;
const MAX_TRANSACTIONS = 20_000;
const ALLOW = 'OPTIONS, PUBLISH';
const EVENT_PACKAGE = 'message-summary';
const DEFAULT_EXPIRES_SEC = 3600;

const REASONS: Record<number, string> = {
  200: 'OK',
  400: 'Bad Request',
  405: 'Method Not Allowed',
  412: 'Conditional Request Failed',
  415: 'Unsupported Media Type',
  489: 'Bad Event',
  500: 'Server Internal Error',
  503: 'Service Unavailable',
};

const COMPACT: Record<string, string> = { v: 'via', f: 'from', t: 'to', i: 'call-id', l: 'content-length', c: 'content-type', o: 'event' };
const REQUEST_LINE = /^([A-Z][A-Z0-9._!%*+`'~-]{0,31}) ([^\s]{1,2048}) SIP\/2\.0$/;
const CSEQ = /^(\d{1,10})[ \t]+([A-Za-z]{1,32})$/;

interface SipRequest {
  method: string;
  uri: string;
  /** Lower-case names, values in order (folded lines joined). */
  headers: Map<string, string[]>;
  body: string;
}

function isLoopback(host: string): boolean {
  return host === '::1' || (isIP(host) === 4 && host.startsWith('127.'));
}

/** The request in `buf`, or undefined for junk (a response, a bad request line, no header end, short body). */
export function parseSipRequest(buf: Buffer): SipRequest | undefined {
  if (buf.length === 0 || buf.length > MAX_DATAGRAM_BYTES) return undefined;
  let sep = buf.indexOf('\r\n\r\n');
  let sepLen = 4;
  if (sep === -1) {
    sep = buf.indexOf('\n\n'); // LF-only senders exist; be liberal
    sepLen = 2;
  }
  if (sep === -1) return undefined;
  const lines = buf.subarray(0, sep).toString('latin1').split(/\r?\n/);
  if (lines.length > MAX_HEADER_LINES) return undefined;
  const start = REQUEST_LINE.exec(lines[0] ?? '');
  if (!start) return undefined;
  const headers = new Map<string, string[]>();
  let last: { name: string; index: number } | undefined;
  for (const line of lines.slice(1)) {
    if ((line.startsWith(' ') || line.startsWith('\t')) && last) {
      const values = headers.get(last.name) as string[];
      values[last.index] = `${values[last.index] ?? ''} ${line.trim()}`;
      continue;
    }
    const colon = line.indexOf(':');
    if (colon <= 0) return undefined;
    const raw = line.slice(0, colon).trim().toLowerCase();
    if (!/^[a-z0-9!%*_+`'~.-]+$/.test(raw)) return undefined;
    const name = COMPACT[raw] ?? raw;
    const values = headers.get(name) ?? [];
    values.push(line.slice(colon + 1).trim());
    headers.set(name, values);
    last = { name, index: values.length - 1 };
  }
  let body = buf.subarray(sep + sepLen);
  const length = headers.get('content-length')?.[0];
  if (length !== undefined) {
    if (!/^\d{1,6}$/.test(length) || Number(length) > body.length) return undefined;
    body = body.subarray(0, Number(length));
  }
  return { method: start[1] as string, uri: start[2] as string, headers, body: body.toString('utf8') };
}

function first(req: SipRequest, name: string): string | undefined {
  return req.headers.get(name)?.[0];
}

/** The token before any parameters, lower case: "message-summary;id=1" -> "message-summary". */
function token(value: string | undefined): string {
  return (value ?? '').split(';')[0]?.trim().toLowerCase() ?? '';
}

function topViaBranch(req: SipRequest): string | undefined {
  const top = req.headers.get('via')?.[0]?.split(',')[0] ?? '';
  return /;\s*branch\s*=\s*([^;,\s]+)/i.exec(top)?.[1];
}

export async function startPresenceSimulator(opts: PresenceSimulatorOptions = {}): Promise<PresenceSimulator> {
  const host = opts.host ?? '127.0.0.1';
  if (!isLoopback(host)) throw new RangeError(`the presence simulator listens on loopback only, not ${host}`);
  const clock = opts.clock ?? systemClock;
  const capacityPerSec = opts.capacityPerSec ?? 1000;
  const maxExpiresSec = opts.maxExpiresSec ?? DEFAULT_EXPIRES_SEC;
  const maxAors = opts.maxAors ?? 100_000;
  if (!(capacityPerSec > 0) || !Number.isSafeInteger(maxExpiresSec) || maxExpiresSec < 1 || !Number.isSafeInteger(maxAors) || maxAors < 1) {
    throw new RangeError('capacityPerSec must be > 0, maxExpiresSec and maxAors integers >= 1');
  }

  const bootId = randomBytes(4).toString('hex');
  let etagSeq = 0;
  const publications = new Map<string, SimulatedPublication>();
  const transactions = new Map<string, { response: string; at: number }>();
  const answers: Record<string, Record<string, number>> = {};
  let dropped = 0;
  let tokens = capacityPerSec;
  let refilledAt = clock.now();

  const current = (aor: string): SimulatedPublication | undefined => {
    const p = publications.get(aor);
    if (p !== undefined && p.expiresAt <= clock.now()) {
      publications.delete(aor);
      return undefined;
    }
    return p;
  };

  const takeToken = (): boolean => {
    const now = clock.now();
    tokens = Math.min(capacityPerSec, tokens + ((now - refilledAt) / 1000) * capacityPerSec);
    refilledAt = now;
    if (tokens < 1) return false;
    tokens -= 1;
    return true;
  };

  const respond = (req: SipRequest, status: number, extra: string[] = []): string => {
    const lines = [`SIP/2.0 ${status} ${REASONS[status] ?? 'Unknown'}`];
    for (const via of req.headers.get('via') ?? []) lines.push(`Via: ${via}`);
    const to = first(req, 'to') ?? '';
    lines.push(`From: ${first(req, 'from') ?? ''}`);
    lines.push(/;\s*tag=/i.test(to.slice(Math.max(0, to.lastIndexOf('>')))) ? `To: ${to}` : `To: ${to};tag=sim${bootId}`);
    lines.push(`Call-ID: ${first(req, 'call-id') ?? ''}`, `CSeq: ${first(req, 'cseq') ?? ''}`, ...extra, 'Server: mwi-runner presence SIMULATOR', 'Content-Length: 0', '', '');
    const byMethod = (answers[req.method] ??= {});
    byMethod[status] = (byMethod[status] ?? 0) + 1;
    return lines.join('\r\n');
  };

  const publish = (req: SipRequest): string => {
    if (token(first(req, 'event')) !== EVENT_PACKAGE) return respond(req, 489, [`Allow-Events: ${EVENT_PACKAGE}`]);
    const expiresText = first(req, 'expires');
    if (expiresText !== undefined && !/^\d{1,10}$/.test(expiresText)) return respond(req, 400);
    const expiresSec = Math.min(expiresText === undefined ? DEFAULT_EXPIRES_SEC : Number(expiresText), maxExpiresSec);
    const ifMatch = first(req, 'sip-if-match');
    const existing = current(req.uri);
    if (ifMatch !== undefined && existing?.etag !== ifMatch) return respond(req, 412);
    const hasBody = req.body.length > 0;
    if (hasBody && token(first(req, 'content-type')) !== MESSAGE_SUMMARY_CONTENT_TYPE) return respond(req, 415, [`Accept: ${MESSAGE_SUMMARY_CONTENT_TYPE}`]);
    if (!hasBody && ifMatch === undefined) return respond(req, 400);
    if (expiresSec === 0) {
      if (ifMatch === undefined) return respond(req, 400); // removal names the publication it removes
      publications.delete(req.uri);
      return respond(req, 200, ['Expires: 0']);
    }
    if (existing === undefined && publications.size >= maxAors) return respond(req, 500);
    const now = clock.now();
    const etag = `${bootId}.${(++etagSeq).toString(36)}`;
    publications.delete(req.uri); // re-insert: iteration order is then least recently published first
    publications.set(req.uri, { aor: req.uri, body: hasBody ? req.body : (existing?.body ?? ''), etag, expiresAt: now + expiresSec * 1000, updatedAt: now });
    return respond(req, 200, [`SIP-ETag: ${etag}`, `Expires: ${expiresSec}`]);
  };

  const answer = (req: SipRequest): string | undefined => {
    if (req.method === 'ACK') return undefined; // never answered
    if (!takeToken()) return respond(req, 503, ['Retry-After: 1']);
    if (req.method === 'OPTIONS') return respond(req, 200, [`Allow: ${ALLOW}`, `Accept: ${MESSAGE_SUMMARY_CONTENT_TYPE}`, `Allow-Events: ${EVENT_PACKAGE}`]);
    if (req.method === 'PUBLISH') return publish(req);
    return respond(req, 405, [`Allow: ${ALLOW}`]);
  };

  const remember = (key: string, response: string): void => {
    const now = clock.now();
    for (const [k, t] of transactions) {
      if (transactions.size < MAX_TRANSACTIONS && now - t.at < TRANSACTION_MEMORY_MS) break;
      transactions.delete(k); // oldest first (insertion order)
    }
    transactions.set(key, { response, at: now });
  };

  const handle = (buf: Buffer): string | undefined => {
    const req = parseSipRequest(buf);
    const cseq = req === undefined ? undefined : CSEQ.exec(first(req, 'cseq') ?? '');
    const branch = req === undefined ? undefined : topViaBranch(req);
    if (req === undefined || cseq === null || cseq === undefined || branch === undefined || !first(req, 'from') || !first(req, 'to') || !first(req, 'call-id')) {
      dropped++;
      return undefined;
    }
    const key = `${branch}|${req.method}`;
    const seen = transactions.get(key);
    if (seen !== undefined && clock.now() - seen.at < TRANSACTION_MEMORY_MS) return seen.response;
    const response = cseq[2]?.toUpperCase() !== req.method ? respond(req, 400) : answer(req);
    if (response !== undefined) remember(key, response);
    return response;
  };

  const socket = dgram.createSocket({ type: isIP(host) === 6 ? 'udp6' : 'udp4' });
  socket.on('message', (buf, rinfo) => {
    let response: string | undefined;
    try {
      response = handle(buf);
    } catch (err) {
      dropped++;
      opts.log?.warn({ err }, 'presence simulator: request handling failed');
      return;
    }
    // To the source address and port (as with rport): every sender we serve listens on the port it sends from.
    if (response !== undefined) socket.send(response, rinfo.port, rinfo.address, () => {});
  });
  socket.on('error', (err) => opts.log?.warn({ err }, 'presence simulator: socket error'));
  await new Promise<void>((resolve, reject) => {
    socket.once('error', reject);
    socket.bind({ address: host, port: opts.port ?? 0, exclusive: true }, () => {
      socket.removeListener('error', reject);
      resolve();
    });
  });
  const port = socket.address().port;
  const uri = `sip:${host.includes(':') ? `[${host}]` : host}:${port};transport=udp`;
  opts.log?.info({ uri, capacityPerSec, maxExpiresSec }, 'SIP presence-server SIMULATOR listening (for demos and tests; not a real presence server)');

  const live = (): SimulatedPublication[] => {
    const now = clock.now();
    const out: SimulatedPublication[] = [];
    for (const p of publications.values()) if (p.expiresAt > now) out.push({ ...p });
    return out;
  };

  let closed: Promise<void> | undefined;
  return {
    uri,
    port,
    state: () => ({ publications: live(), answers: structuredClone(answers), dropped }),
    publication: (aor) => {
      const p = current(aor);
      return p === undefined ? undefined : { ...p };
    },
    holding: () => {
      const now = clock.now();
      let n = 0;
      for (const p of publications.values()) if (p.expiresAt > now) n++;
      return n;
    },
    answers: () => structuredClone(answers),
    close() {
      closed ??= new Promise((resolve) => socket.close(() => resolve()));
      return closed;
    },
  };
}
