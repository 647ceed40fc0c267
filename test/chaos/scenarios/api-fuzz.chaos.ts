/**
 * 20,000 fuzzed requests, one at a time, against the real API process (`mwi start --no-workers`)
 * on a real Redis: POST /v1/mwi with broken bodies, content types and tokens; every route with
 * random methods, paths, headers and roles; and malformed HTTP written straight to a socket.
 *
 * Redis keyspace notifications show every key a request wrote: after each answer a PING on the
 * subscriber connection flushes what the request caused, so a write can be pinned to the request
 * that made it. The delivery queue's own keys (`<prefix>:deliver:*`, written by the queue on its
 * schedule) are left out.
 */
import http from 'node:http';
import net from 'node:net';

import fc from 'fast-check';
import { Redis } from 'ioredis';

import { prng } from '../../support/prng.ts';
import { fuzzAuthorization, fuzzBody, fuzzContentType, fuzzMwiRequest } from '../../support/api-fuzz-arbitraries.ts';
import { OPERATOR_TOKEN, PRODUCER_TOKEN, VIEWER_TOKEN, startStage } from '../stage.ts';
import type { ChaosContext, ScenarioResult } from '../types.ts';

export const timeLimitMs = 200_000;

const REQUESTS = 20_000;
const CODE = /^MWI_[A-Z_]+$/;
const RAW_TIMEOUT_MS = 3_000;

interface HttpCase {
  kind: 'http';
  method: string;
  path: string;
  headers: Record<string, string>;
  body?: string;
}

interface RawCase {
  kind: 'raw';
  bytes: string;
}

type Case = HttpCase | RawCase;

interface Answer {
  status: number;
  body: string;
}

const PATHS = ['/healthz', '/readyz', '/login', '/logout', '/v1/mwi', '/v1/mailboxes/sip%3A1000%40pbx.test', '/v1/mailboxes/', '/metrics', '/v1/csrf', '/v1/status', '/v1/audit', '/v1/pause', '/v1/resume', '/v1/drain', '/v1/breakers/udp%3A127.0.0.1%3A5060/isolate', '/v1/breakers/x/reset', '/v1/resync', '/dashboard', '/dashboard/queues', '/'];
const METHODS = ['GET', 'POST', 'PUT', 'DELETE', 'PATCH', 'OPTIONS', 'HEAD', 'FOO', 'PROPFIND'];

const anyToken = fc.constantFrom(`Bearer ${PRODUCER_TOKEN}`, `Bearer ${VIEWER_TOKEN}`, `Bearer ${OPERATOR_TOKEN}`, 'Bearer nope', '', 'Basic eDp5');
const headerValue = fc.string({ unit: fc.integer({ min: 0x20, max: 0x7e }).map((c) => String.fromCharCode(c)), maxLength: 60 });
const headerName = fc.stringMatching(/^[a-z][a-z0-9-]{0,20}$/);

const mwiCase: fc.Arbitrary<Case> = fuzzMwiRequest(PRODUCER_TOKEN).map((r) => ({
  kind: 'http',
  method: r.method,
  path: r.url.replace(/[^\x21-\x7e]/g, (c) => encodeURIComponent(c)),
  headers: { ...(r.contentType === undefined ? {} : { 'content-type': r.contentType.replace(/[^\x20-\x7e]/g, '') }), ...(r.authorization === undefined ? {} : { authorization: r.authorization.replace(/[^\x20-\x7e]/g, '') }) },
  ...(r.method === 'GET' ? {} : { body: r.payload }),
}));

const routeCase: fc.Arbitrary<Case> = fc
  .record({
    method: fc.constantFrom(...METHODS),
    path: fc.oneof(fc.constantFrom(...PATHS), fc.tuple(fc.constantFrom(...PATHS), fc.string({ maxLength: 30 })).map(([p, s]) => `${p}${encodeURIComponent(s)}`), fc.webPath()),
    authorization: fc.oneof(anyToken, fuzzAuthorization(PRODUCER_TOKEN).map((a) => a ?? '')),
    contentType: fuzzContentType,
    extra: fc.dictionary(headerName, headerValue, { maxKeys: 4 }),
    body: fc.option(fc.oneof(fuzzBody, fc.json({ maxDepth: 2 }), fc.constantFrom('{"reason":"chaos","ttl":"1m"}', 'token=x&csrf=y', '{"mailbox":"sip:1000@pbx.test"}')), { nil: undefined }),
  })
  .map((r) => {
    const headers: Record<string, string> = { ...r.extra };
    delete headers['content-length'];
    delete headers['transfer-encoding'];
    delete headers.host;
    delete headers.connection;
    if (r.authorization !== '') headers.authorization = r.authorization.replace(/[^\x20-\x7e]/g, '');
    if (r.contentType !== undefined) headers['content-type'] = r.contentType.replace(/[^\x20-\x7e]/g, '');
    const path = r.path.startsWith('/') ? r.path : `/${r.path}`;
    return { kind: 'http', method: r.method, path: path.replace(/[^\x21-\x7e]/g, (c) => encodeURIComponent(c)), headers, ...(r.body === undefined || r.method === 'GET' || r.method === 'HEAD' ? {} : { body: r.body }) };
  });

/** Complete header sections (ending in an empty line) that are not valid HTTP/1.1. */
const rawCase: fc.Arbitrary<Case> = fc
  .oneof(
    // Not blank lines alone: a server ignores empty lines before the request-line (RFC 9112 2.2)
    // and rightly goes on waiting for one.
    fc.string({ unit: 'binary-ascii', minLength: 1, maxLength: 200 }).filter((s) => /[^\r\n]/.test(s)).map((s) => `${s}\r\n\r\n`),
    fc.constantFrom(
      'GET\r\n\r\n',
      'POST /v1/mwi HTTP/9.9\r\nHost: x\r\n\r\n',
      'POST /v1/mwi HTTP/1.1\r\nHost: x\r\nBad Header: 1\r\n\r\n',
      'POST /v1/mwi HTTP/1.1\r\nHost: x\r\nX-Nul: a\0b\r\n\r\n',
      'POST /v1/mwi HTTP/1.1\r\nHost: x\r\nContent-Length: -1\r\n\r\n',
      'POST /v1/mwi HTTP/1.1\r\nHost: x\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n',
      'POST /v1/mwi HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n',
      'POST /v1/mwi HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n\r\n',
      'POST /v1/mwi HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: gzip, chunked\r\n\r\n0\r\n\r\n',
      'GET /v1/status HTTP/1.1\r\nHost: x\r\n folded: continuation\r\n\r\n',
      'GET http://evil.test/v1/status HTTP/1.1\r\nHost: x\r\n\r\n',
      'GET /v1/status HTTP/1.1\r\nHost: x\rX: y\r\n\r\n',
      'GET /v1/status HTTP/1.1\nHost: x\n\n',
      `GET /v1/status HTTP/1.1\r\nHost: x\r\nX-Big: ${'b'.repeat(20_000)}\r\n\r\n`,
      `GET /${'a'.repeat(70_000)} HTTP/1.1\r\nHost: x\r\n\r\n`,
      'PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n',
      '\x16\x03\x01\x00\xa5\x01\x00\x00\xa1\x03\x03\r\n\r\n',
    ),
    fc.tuple(fc.constantFrom('GET', 'POST', 'G\x00T', 'POST ', ' GET'), fc.string({ unit: 'binary-ascii', maxLength: 40 }), fc.string({ unit: 'binary-ascii', maxLength: 40 })).map(([m, p, h]) => `${m} /${p} HTTP/1.1\r\nHost: x\r\nX-F: ${h}\r\n\r\n`),
  )
  .map((bytes) => ({ kind: 'raw', bytes }));

const anyCase: fc.Arbitrary<Case> = fc.oneof({ weight: 6, arbitrary: mwiCase }, { weight: 3, arbitrary: routeCase }, { weight: 1, arbitrary: rawCase });

function httpAnswer(base: URL, agent: http.Agent, c: HttpCase): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const req = http.request({ host: base.hostname, port: base.port, method: c.method, path: c.path, headers: c.headers, agent, timeout: 10_000 }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (d: Buffer) => chunks.push(d));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString('utf8') }));
      res.on('error', reject);
    });
    req.on('timeout', () => req.destroy(new Error('no answer within 10 s')));
    req.on('error', reject);
    req.end(c.body);
  });
}

/** Writes the bytes and reads one response (by its Content-Length) or until the server closes: status 0 when nothing came back. */
function rawAnswer(base: URL, c: RawCase): Promise<Answer> {
  return new Promise((resolve) => {
    const socket = net.connect({ host: base.hostname, port: Number(base.port) });
    let text = '';
    let settled = false;
    const done = (): void => {
      if (settled) return;
      settled = true;
      socket.destroy();
      const status = /^HTTP\/1\.[01] (\d{3})/.exec(text);
      const split = text.indexOf('\r\n\r\n');
      resolve({ status: status ? Number(status[1]) : 0, body: split === -1 ? '' : text.slice(split + 4) });
    };
    socket.setTimeout(RAW_TIMEOUT_MS, done);
    socket.on('data', (d: Buffer) => {
      text += d.toString('latin1');
      const split = text.indexOf('\r\n\r\n');
      const length = /\r\ncontent-length: *(\d+)/i.exec(text.slice(0, split + 2));
      if (split !== -1 && length && text.length - split - 4 >= Number(length[1])) done();
    });
    socket.on('close', done);
    socket.on('error', () => undefined);
    socket.on('connect', () => socket.write(Buffer.from(c.bytes, 'latin1')));
  });
}

function errorCode(body: string): string | undefined {
  try {
    const code = (JSON.parse(body) as { error?: { code?: unknown } }).error?.code;
    return typeof code === 'string' ? code : undefined;
  } catch {
    return undefined;
  }
}

function describeCase(c: Case): string {
  return c.kind === 'raw' ? `raw ${JSON.stringify(c.bytes.slice(0, 80))}` : `${c.method} ${c.path.slice(0, 80)} ${JSON.stringify(c.body?.slice(0, 60) ?? '')}`;
}

export async function run(ctx: ChaosContext): Promise<ScenarioResult> {
  const started = performance.now();
  const stage = await startStage(ctx, { label: 'api-fuzz' });
  const base = new URL(stage.apiUrl);
  const admin = new Redis(stage.redis.url);
  const sub = new Redis(stage.redis.url);
  ctx.defer(() => {
    admin.disconnect();
    sub.disconnect();
  });
  await admin.config('SET', 'notify-keyspace-events', 'KEA');
  const queueKeys = `${stage.prefix}:deliver:`;
  const writes: string[] = [];
  sub.on('pmessage', (_pattern: string, channel: string, key: string) => {
    if (!key.startsWith(queueKeys)) writes.push(`${channel.slice(channel.lastIndexOf(':') + 1)} ${key}`);
  });
  await sub.psubscribe('__keyevent@*__:*');
  await new Promise((resolve) => setTimeout(resolve, 2_000));
  await sub.ping();
  const background = writes.length; // writes nobody asked for, during 2 s of quiet
  writes.length = 0;

  const cases = fc.sample(anyCase, { numRuns: REQUESTS, seed: ctx.seed });
  const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
  ctx.defer(() => agent.destroy());
  const statuses = new Map<number, number>();
  const failures: string[] = [];
  let violations = 0;
  let sent = 0;
  let written = 0;
  const violate = (why: string): void => {
    violations++;
    if (failures.length < 10) failures.push(why);
  };
  const random = prng(ctx.seed);
  const fuzzFrom = performance.now();
  for (const c of cases) {
    if (ctx.signal.aborted || stage.watch.crashes.length > 0 || performance.now() > started + ctx.timeLimitMs - 15_000) break;
    writes.length = 0;
    let answer: Answer;
    try {
      answer = c.kind === 'raw' ? await rawAnswer(base, c) : await httpAnswer(base, agent, c);
    } catch (err) {
      violate(`${describeCase(c)}: no answer (${String(err)})`);
      continue;
    }
    sent++;
    await sub.ping();
    statuses.set(answer.status, (statuses.get(answer.status) ?? 0) + 1);
    const head = c.kind === 'http' && c.method === 'HEAD';
    if (answer.status >= 500 || answer.status < 200) violate(`${describeCase(c)}: answered ${answer.status} ${answer.body.slice(0, 120)}`);
    if (answer.status >= 400 && answer.status < 500) {
      const code = errorCode(answer.body);
      if (!head && (code === undefined || !CODE.test(code))) violate(`${describeCase(c)}: ${answer.status} without an MWI_* error code: ${answer.body.slice(0, 120)}`);
      if (writes.length > 0) violate(`${describeCase(c)}: answered ${answer.status} but wrote ${writes.slice(0, 3).join(', ')}`);
    } else if (writes.length > 0) {
      written++;
    }
    if (random() < 0.0005) ctx.note(`${sent} requests`);
  }
  const alive = stage.watch.crashes.length === 0;
  const byClass = (lo: number, hi: number): number => [...statuses].filter(([s]) => s >= lo && s < hi).reduce((n, [, k]) => n + k, 0);
  if (background > 0) failures.push(`${background} writes to the store's keys happened with no request in flight (they may be pinned on a request)`);
  return {
    name: 'api-fuzz',
    tried: `${REQUESTS.toLocaleString('en')} fuzzed requests (POST /v1/mwi bodies, content types, tokens; every route with random methods, paths, headers, roles; malformed HTTP on raw sockets) against the API process on a real Redis`,
    trials: sent,
    lost: violations + stage.watch.crashes.length + (sent < REQUESTS ? 1 : 0),
    lostMeans:
      'a request answered 5xx (or not at all), a 4xx without an MWI_* error code, a 4xx during which any key of the store changed in Redis (keyspace notifications), the API process exiting, or fewer requests sent than planned',
    failures: [...stage.watch.crashes, ...failures],
    figures: {
      '2xx/3xx/4xx/5xx': `${byClass(200, 300)}/${byClass(300, 400)}/${byClass(400, 500)}/${byClass(500, 600)}`,
      'requests that wrote': written,
      'statuses seen': [...statuses.keys()].sort((a, b) => a - b).join(' '),
      'API process': alive ? 'up' : 'exited',
      rate: `${Math.round(sent / ((performance.now() - fuzzFrom) / 1000))}/s`,
    },
    durationMs: performance.now() - started,
  };
}
