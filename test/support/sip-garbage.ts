/**
 * Malformed and mutated SIP for robustness runs, from a seeded PRNG (test/support/prng.ts): what a
 * broken or hostile peer could send a runner's UDP socket or TCP connection. Every piece is
 * garbage to the runner: a response it carries names a branch no real transaction has.
 *
 * - `garbageDatagram`: binary noise, truncated and byte-mutated responses, oversized messages,
 *   bad Content-Length, header injection (bare CR/LF, NUL, duplicate single headers, a second
 *   message glued on), requests instead of responses, bad status lines, stray well-formed
 *   responses. Never CR/LF only (that is a keep-alive, ignored without counting).
 * - `garbageFrame`: the same junk, framed so a stream stays in sync: a header section without
 *   CRLFCRLF or Content-Length of its own, then a valid Content-Length and that many bytes.
 * - `framingBreaker`: what no stream parser can resynchronise after (bad, conflicting or missing
 *   Content-Length, a header section past the size limit): the runner must close the connection.
 */

export type Random = () => number;

const CRLF = '\r\n';

function int(random: Random, min: number, max: number): number {
  return min + Math.floor(random() * (max - min + 1));
}

function pick<T>(random: Random, items: readonly T[]): T {
  return items[Math.floor(random() * items.length)] as T;
}

function randomBytes(random: Random, n: number): Buffer {
  const b = Buffer.allocUnsafe(n);
  for (let i = 0; i < n; i++) b[i] = Math.floor(random() * 256);
  return b;
}

/** A well-formed 2xx-6xx response to a PUBLISH that no transaction of the runner sent. */
export function strayResponse(random: Random, opts: { status?: number; contentLength?: string; extraHeaders?: string[] } = {}): string {
  const id = Math.floor(random() * 1e12).toString(36);
  const lines = [
    `SIP/2.0 ${opts.status ?? 200} OK`,
    `Via: SIP/2.0/UDP 127.0.0.1:5060;rport=5060;branch=z9hG4bK-junk-${id}`,
    `From: <sip:${id}@chaos.test>;tag=j${id}`,
    `To: <sip:${id}@chaos.test>;tag=peer`,
    `Call-ID: junk-${id}`,
    'CSeq: 1 PUBLISH',
    `SIP-ETag: junk${id}`,
    'Expires: 3600',
    ...(opts.extraHeaders ?? []),
    `Content-Length: ${opts.contentLength ?? '0'}`,
    '',
    '',
  ];
  return lines.join(CRLF);
}

function mutate(random: Random, text: string): Buffer {
  const b = Buffer.from(text, 'latin1');
  const edits = int(random, 1, 8);
  let out = b;
  for (let e = 0; e < edits; e++) {
    const at = int(random, 0, Math.max(0, out.length - 1));
    const kind = int(random, 0, 2);
    if (kind === 0) out[at] = Math.floor(random() * 256);
    else if (kind === 1) out = Buffer.concat([out.subarray(0, at), randomBytes(random, int(random, 1, 4)), out.subarray(at)]);
    else out = Buffer.concat([out.subarray(0, at), out.subarray(Math.min(out.length, at + int(random, 1, 4)))]);
  }
  return out;
}

const REQUESTS = ['NOTIFY', 'INVITE', 'BYE', 'PUBLISH', 'OPTIONS', 'MESSAGE', 'FOO'];

const MAKERS: ReadonlyArray<(random: Random, maxMessageBytes: number) => Buffer | string> = [
  (r) => randomBytes(r, int(r, 1, 600)),
  (r) => {
    const t = strayResponse(r);
    return t.slice(0, int(r, 1, t.length - 1));
  },
  (r, max) => strayResponse(r, { extraHeaders: [`X-Pad: ${'p'.repeat(max + int(r, 1, 4_000))}`] }),
  (r) => mutate(r, strayResponse(r)),
  (r) => strayResponse(r, { contentLength: pick(r, ['-1', '99999', 'abc', '', '1e3', '0x10', '18446744073709551617']) }),
  (r) => strayResponse(r, { contentLength: '12' }) + 'short',
  (r) => strayResponse(r, { extraHeaders: ['Content-Length: 7'] }),
  (r) =>
    strayResponse(r, {
      extraHeaders: [pick(r, ['X-Evil: a\rVia: SIP/2.0/UDP evil;branch=z9hG4bKx', 'X-Evil: a\nCSeq: 9 INVITE', 'X-Nul: \0\0\0', 'NoColonHere', 'CSeq: 2 PUBLISH', ': empty name', 'Via : SIP/2.0/UDP x', `X-Long: ${'l'.repeat(900)}`, ' folded continuation'])],
    }),
  (r) => strayResponse(r) + strayResponse(r),
  (r) => strayResponse(r, { extraHeaders: Array.from({ length: int(r, 50, 300) }, (_, i) => `X-H${i}: ${i}`) }),
  (r) => `${pick(r, REQUESTS)} sip:${int(r, 1, 9999)}@chaos.test SIP/2.0${CRLF}Via: SIP/2.0/UDP 127.0.0.1:5060;branch=z9hG4bK-req-${int(r, 1, 1e9)}${CRLF}CSeq: 1 NOTIFY${CRLF}Content-Length: 0${CRLF}${CRLF}`,
  (r) => strayResponse(r).replace('SIP/2.0 200 OK', pick(r, ['SIP/2.0 999 Nope', 'SIP/3.0 200 OK', 'SIP/2.0 20 OK', 'HTTP/1.1 200 OK', 'SIP/2.0 200', 'sip/2.0 200 OK', 'SIP/2.0  200 OK'])),
  (r) => strayResponse(r, { status: int(r, 100, 699) }),
  (r) => Buffer.concat([Buffer.from(strayResponse(r).slice(0, 40), 'latin1'), Buffer.from([0xc3, 0x28, 0xf0, 0x28, 0x8c, 0xbc, 0xff, 0xfe]), Buffer.from(strayResponse(r).slice(40), 'latin1')]),
  (r) => Buffer.from(strayResponse(r), 'utf16le'),
];

function bytes(x: Buffer | string): Buffer {
  return typeof x === 'string' ? Buffer.from(x, 'latin1') : x;
}

/** One datagram of garbage (never a bare keep-alive). Oversized ones exceed `maxMessageBytes`. */
export function garbageDatagram(random: Random, maxMessageBytes: number): Buffer {
  for (;;) {
    const out = bytes(pick(random, MAKERS)(random, maxMessageBytes));
    if (out.length > 0 && !/^[\r\n]*$/.test(out.toString('utf8'))) return out.subarray(0, Math.min(out.length, 65_000));
  }
}

const CONTENT_LENGTH_LINE = /^(content-length|l)[ \t]*:/i;

/** One well-framed piece of junk for a stream: the parser stays in sync and drops it. */
export function garbageFrame(random: Random, maxMessageBytes: number): Buffer {
  let head = bytes(pick(random, MAKERS)(random, maxMessageBytes)).toString('latin1');
  const end = head.indexOf(CRLF + CRLF);
  if (end !== -1) head = head.slice(0, end);
  head = head
    .split(CRLF)
    .filter((line) => !CONTENT_LENGTH_LINE.test(line))
    .join(CRLF);
  // No empty line inside, no CR/LF at the start (a keep-alive there would be answered, not dropped).
  head = head.replace(/\r\n(?=\r\n)/g, '\r\nX').slice(0, maxMessageBytes - 400);
  if (head === '' || head.startsWith('\r') || head.startsWith('\n')) head = `X${head}`;
  if (/[\r\n]$/.test(head)) head += 'X';
  const body = randomBytes(random, int(random, 0, 200));
  return Buffer.concat([Buffer.from(`${head}${CRLF}Content-Length: ${body.length}${CRLF}${CRLF}`, 'latin1'), body]);
}

/** Bytes after which a stream cannot be resynchronised: the runner must close the connection. */
export function framingBreaker(random: Random, maxMessageBytes: number): Buffer {
  const kind = int(random, 0, 3);
  if (kind === 0) return Buffer.from(strayResponse(random, { contentLength: 'abc' }), 'latin1');
  if (kind === 1) return Buffer.from(strayResponse(random, { extraHeaders: ['Content-Length: 5'], contentLength: '7' }), 'latin1');
  if (kind === 2) return Buffer.from(strayResponse(random).replace(/Content-Length: 0\r\n/, ''), 'latin1');
  return Buffer.from(`SIP/2.0 200 OK${CRLF}X-Pad: ${'p'.repeat(maxMessageBytes + 10)}`, 'latin1');
}
