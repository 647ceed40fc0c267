import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { once } from 'node:events';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createServer as createNetServer, type Server, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { createServer as createTlsServer } from 'node:tls';
import { FakeClock } from '../../src/clock.ts';
import { ErrorCodes, isMwiError } from '../../src/errors.ts';
import { StreamFramer } from '../../src/sip/transport/framer.ts';
import { StreamTransport, type StreamTransportOptions } from '../../src/sip/transport/stream.ts';
import type { HostResolver } from '../../src/sip/transport/transport.ts';

interface SipServer {
  port: number;
  connections: number;
  sockets: Set<Socket>;
  messages: string[];
  raw: string[];
  closes: number;
  close(): Promise<void>;
}

type Handler = (text: string, socket: Socket) => void;

/** A SIP-over-stream peer on 127.0.0.1: frames what it gets and lets the test answer. */
async function sipServer(handler: Handler, tlsCreds?: { key: Buffer; cert: Buffer }, onConnect?: (socket: Socket) => void): Promise<SipServer> {
  const state = { connections: 0, sockets: new Set<Socket>(), messages: [] as string[], raw: [] as string[], closes: 0 };
  const onSocket = (socket: Socket): void => {
    state.connections++;
    state.sockets.add(socket);
    const framer = new StreamFramer(65_536);
    socket.on('error', () => undefined);
    socket.on('close', () => {
      state.closes++;
      state.sockets.delete(socket);
    });
    socket.on('data', (chunk: Buffer) => {
      state.raw.push(chunk.toString('utf8'));
      for (const frame of framer.feed(chunk)) {
        if (frame.kind === 'message') {
          state.messages.push(frame.text);
          handler(frame.text, socket);
        }
      }
    });
    onConnect?.(socket);
  };
  const server: Server = tlsCreds ? createTlsServer(tlsCreds, onSocket) : createNetServer(onSocket);
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const address = server.address();
  assert.ok(address && typeof address === 'object');
  return Object.assign(state, {
    port: address.port,
    close: async (): Promise<void> => {
      for (const s of state.sockets) s.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  });
}

function request(port: number, n: number, host = '127.0.0.1', proto = 'tcp'): string {
  return (
    `PUBLISH sip:alice@${host}:${port};transport=${proto} SIP/2.0\r\n` +
    `Via: SIP/2.0/${proto.toUpperCase()} 127.0.0.1;branch=z9hG4bK${n};rport\r\n` +
    'From: <sip:mwi@127.0.0.1>;tag=1\r\nTo: <sip:alice@127.0.0.1>\r\nCall-ID: c1\r\n' +
    `CSeq: ${n} PUBLISH\r\nContent-Type: application/simple-message-summary\r\nContent-Length: 23\r\n\r\n` +
    'Messages-Waiting: yes\r\n'
  );
}

function ok(req: string): string {
  const via = /\r\nVia: [^\r]+/.exec(req)?.[0] ?? '';
  const cseq = /\r\nCSeq: [^\r]+/.exec(req)?.[0] ?? '';
  return `SIP/2.0 200 OK${via}${cseq}\r\nContent-Length: 0\r\n\r\n`;
}

const answer200: Handler = (text, socket) => socket.write(ok(text));

const ipOnly: HostResolver = { resolve: (host) => Promise.reject(new Error(`unexpected lookup of ${host}`)) };

function options(clock: FakeClock, extra: Partial<StreamTransportOptions> = {}): StreamTransportOptions {
  return {
    protocol: 'TCP',
    clock,
    resolver: ipOnly,
    bindHost: '127.0.0.1',
    bindPort: 0,
    maxMessageBytes: 65_536,
    connectTimeoutMs: 2000,
    idleCloseMs: 60_000,
    reconnectBaseMs: 1000,
    reconnectMaxMs: 8000,
    random: () => 0.5,
    ...extra,
  };
}

async function until(check: () => boolean, timeoutMs = 3000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) throw new Error('condition not met in time');
    await sleep(5);
  }
}

async function freePort(): Promise<number> {
  const s = createNetServer();
  s.listen(0, '127.0.0.1');
  await once(s, 'listening');
  const { port } = s.address() as { port: number };
  await new Promise<void>((resolve) => s.close(() => resolve()));
  return port;
}

const transportFailure = (err: unknown): boolean => isMwiError(err, ErrorCodes.SIP_TRANSPORT) && err.retryable;

void test('one connection carries every message to a destination, including sends queued while connecting', async () => {
  const server = await sipServer(answer200);
  const t = new StreamTransport(options(new FakeClock()));
  const got: string[] = [];
  t.onMessage = (m) => got.push(m);
  try {
    assert.equal(t.localHost, '127.0.0.1');
    assert.equal(t.localPort, 0, 'before any connection: bindHost and port 0');
    await Promise.all(Array.from({ length: 10 }, (_, i) => t.send(request(server.port, i))));
    for (let i = 10; i < 20; i++) await t.send(request(server.port, i));
    await until(() => got.length === 20);
    assert.equal(server.connections, 1);
    assert.equal(t.stats.connects, 1);
    assert.equal(t.stats.sent, 20);
    assert.equal(t.stats.received, 20);
    assert.equal(t.connectionCount, 1);
    assert.ok(t.localPort > 0, 'after connecting: the local port of the connection');
    const cseqs = server.messages.map((m) => Number(/CSeq: (\d+)/.exec(m)?.[1])).sort((x, y) => x - y);
    assert.deepEqual(cseqs, Array.from({ length: 20 }, (_, i) => i), 'all 20 arrived intact');
    assert.ok(server.messages.every((m) => m.endsWith('\r\n\r\nMessages-Waiting: yes\r\n')));
  } finally {
    await t.close();
    await server.close();
  }
});

void test('after the server closes the connection, sends fail fast inside the jittered backoff window, then reconnect', async () => {
  const clock = new FakeClock();
  const server = await sipServer((text, socket) => {
    socket.write(ok(text));
    socket.end();
  });
  const t = new StreamTransport(options(clock, { random: () => 0.5, reconnectBaseMs: 1000 }));
  let responses = 0;
  t.onMessage = () => responses++;
  try {
    await t.send(request(server.port, 1));
    await until(() => responses === 1 && t.connectionCount === 0);
    // Peer close: one failure, full jitter over [0, 1000) with random 0.5 = 500 ms.
    await assert.rejects(t.send(request(server.port, 2)), (err) => transportFailure(err) && isMwiError(err) && err.details?.retryAfterMs === 500);
    clock.advance(499);
    await assert.rejects(t.send(request(server.port, 3)), transportFailure);
    clock.advance(1);
    await t.send(request(server.port, 4));
    await until(() => responses === 2);
    assert.equal(server.connections, 2);
    assert.equal(t.stats.connects, 2);
  } finally {
    await t.close();
    await server.close();
  }
});

void test('connect failures reject every queued send and back off exponentially up to the cap', async () => {
  const clock = new FakeClock();
  const port = await freePort();
  const t = new StreamTransport(options(clock, { random: () => 0.999, reconnectBaseMs: 100, reconnectMaxMs: 400 }));
  try {
    const sends = [t.send(request(port, 1)), t.send(request(port, 2)), t.send(request(port, 3))];
    for (const s of sends) await assert.rejects(s, transportFailure);
    const windows: unknown[] = [];
    for (let attempt = 0; attempt < 4; attempt++) {
      const err = await t.send(request(port, 9)).then(
        () => assert.fail('must fail fast'),
        (e: unknown) => e,
      );
      assert.ok(transportFailure(err));
      const waitMs = isMwiError(err) ? (err.details?.retryAfterMs as number) : 0;
      windows.push(waitMs);
      clock.advance(waitMs);
      await assert.rejects(t.send(request(port, 10)), transportFailure); // refused again
    }
    assert.deepEqual(windows, [99, 199, 399, 399]);
    assert.equal(t.stats.connectFailures, 5);
    assert.equal(t.stats.connects, 0);
  } finally {
    await t.close();
  }
});

void test('a connection idle for idleCloseMs is closed, without backoff for the next send', async () => {
  const clock = new FakeClock();
  const server = await sipServer(answer200);
  const t = new StreamTransport(options(clock, { idleCloseMs: 1000 }));
  let responses = 0;
  t.onMessage = () => responses++;
  try {
    await t.send(request(server.port, 1));
    await until(() => responses === 1);
    clock.advance(600);
    await t.send(request(server.port, 2)); // traffic pushes the idle deadline out
    await until(() => responses === 2);
    clock.advance(999);
    await sleep(20);
    assert.equal(t.connectionCount, 1);
    clock.advance(1);
    await until(() => t.connectionCount === 0 && server.closes === 1);
    await t.send(request(server.port, 3));
    await until(() => responses === 3);
    assert.equal(server.connections, 2);
    // A send racing an idle close in progress gets a fresh connection, not the dying one.
    clock.advance(1000);
    await t.send(request(server.port, 4));
    await until(() => responses === 4 && server.closes === 2);
    assert.equal(server.connections, 3);
    assert.equal(t.connectionCount, 1);
    assert.equal(t.stats.connectFailures, 0);
  } finally {
    await t.close();
    await server.close();
  }
});

void test('a framing error (no Content-Length) closes the connection and counts as malformed', async () => {
  const server = await sipServer((text, socket) => socket.write(ok(text).replace('Content-Length: 0\r\n', '')));
  const t = new StreamTransport(options(new FakeClock(), { random: () => 0 }));
  let delivered = 0;
  t.onMessage = () => delivered++;
  try {
    await t.send(request(server.port, 1));
    await until(() => server.closes === 1 && t.connectionCount === 0);
    assert.equal(t.stats.malformed, 1);
    assert.equal(delivered, 0);
  } finally {
    await t.close();
    await server.close();
  }
});

void test('RFC 5626 double-CRLF ping is answered with a single CRLF pong', async () => {
  const server = await sipServer(answer200);
  const t = new StreamTransport(options(new FakeClock()));
  try {
    await t.send(request(server.port, 1));
    await until(() => server.messages.length === 1);
    const raw = server.raw.length;
    for (const s of server.sockets) s.write('\r\n\r\n');
    await until(() => server.raw.length > raw);
    assert.equal(server.raw.slice(raw).join(''), '\r\n');
    assert.equal(t.stats.malformed, 0);
  } finally {
    await t.close();
    await server.close();
  }
});

void test('inbound junk that frames correctly is dropped; an upper layer that throws is contained; the connection survives', async () => {
  const server = await sipServer((text, socket) => {
    socket.write('HELLO\r\nContent-Length: 0\r\n\r\n');
    socket.write(ok(text));
  });
  const t = new StreamTransport(options(new FakeClock()));
  let calls = 0;
  t.onMessage = () => {
    calls++;
    throw new Error('upper layer bug');
  };
  try {
    await t.send(request(server.port, 1));
    await t.send(request(server.port, 2));
    await until(() => calls === 2);
    assert.equal(t.stats.malformed, 4, '2 junk frames + 2 throws');
    assert.equal(t.connectionCount, 1);
    assert.equal(server.connections, 1);
  } finally {
    await t.close();
    await server.close();
  }
});

void test('close() ends every connection and later sends reject with SIP_STACK_CLOSED', async () => {
  const clock = new FakeClock();
  const server = await sipServer(answer200);
  const t = new StreamTransport(options(clock));
  await t.send(request(server.port, 1));
  await t.close();
  await until(() => server.closes === 1);
  assert.equal(t.connectionCount, 0);
  assert.equal(clock.pending, 0, 'no timer left');
  await assert.rejects(t.send(request(server.port, 2)), (err) => isMwiError(err, ErrorCodes.SIP_STACK_CLOSED));
  await t.close();
  await server.close();
});

void test('oversized messages and unroutable messages are rejected before touching the network', async () => {
  const t = new StreamTransport(options(new FakeClock(), { maxMessageBytes: 200 }));
  try {
    await assert.rejects(t.send(request(5060, 1)), (err) => isMwiError(err, ErrorCodes.SIP_MESSAGE_TOO_LARGE));
    await assert.rejects(t.send('SIP/2.0 200 OK\r\n\r\n'), (err) => isMwiError(err, ErrorCodes.SIP_TRANSPORT) && !err.retryable);
    assert.equal(t.connectionCount, 0);
  } finally {
    await t.close();
  }
});

let certDir = '';
let creds: { key: Buffer; cert: Buffer };

before(() => {
  certDir = mkdtempSync(join(tmpdir(), 'mwi-tls-'));
  execFileSync('openssl', [
    'req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-subj', '/CN=localhost', '-days', '1',
    '-addext', 'subjectAltName=DNS:localhost,IP:127.0.0.1',
    '-keyout', join(certDir, 'key.pem'), '-out', join(certDir, 'cert.pem'),
  ], { stdio: 'ignore' });
  creds = { key: readFileSync(join(certDir, 'key.pem')), cert: readFileSync(join(certDir, 'cert.pem')) };
});

after(() => {
  if (certDir) rmSync(certDir, { recursive: true, force: true });
});

void test('TLS round trip to a host name: resolver for the address, name for SNI and certificate check', async () => {
  const server = await sipServer(answer200, creds);
  const lookups: string[] = [];
  const resolver: HostResolver = {
    resolve: (host) => {
      lookups.push(host);
      return Promise.resolve('127.0.0.1');
    },
  };
  const t = new StreamTransport({ ...options(new FakeClock(), { protocol: 'TLS', tls: { ca: creds.cert } }), resolver });
  const got: string[] = [];
  t.onMessage = (m) => got.push(m);
  try {
    assert.equal(t.protocol, 'TLS');
    await t.send(request(server.port, 1, 'localhost', 'tls'));
    await t.send(request(server.port, 2, 'localhost', 'tls'));
    await until(() => got.length === 2);
    assert.match(got[0] ?? '', /^SIP\/2\.0 200 OK/);
    assert.equal(server.connections, 1);
    assert.deepEqual(lookups, ['localhost', 'localhost']);
  } finally {
    await t.close();
    await server.close();
  }
});

void test('TLS to an untrusted certificate fails the connect with a retryable transport error', async () => {
  const server = await sipServer(answer200, creds);
  const t = new StreamTransport(options(new FakeClock(), { protocol: 'TLS', tls: { servername: 'localhost' } }));
  try {
    await assert.rejects(t.send(request(server.port, 1, '127.0.0.1', 'tls')), transportFailure);
    assert.equal(t.stats.connectFailures, 1);
  } finally {
    await t.close();
    await server.close();
  }
});

void test('a TLS handshake that never completes hits the connect timeout', async () => {
  const clock = new FakeClock();
  const silent = await sipServer(() => undefined); // plain TCP: never answers the ClientHello
  const t = new StreamTransport(options(clock, { protocol: 'TLS', connectTimeoutMs: 500, tls: { ca: creds.cert } }));
  try {
    const pending = t.send(request(silent.port, 1, '127.0.0.1', 'tls'));
    await until(() => silent.connections === 1);
    clock.advance(500);
    await assert.rejects(pending, (err) => transportFailure(err) && /timeout/.test((err as Error).message));
    assert.equal(t.stats.connectFailures, 1);
  } finally {
    await t.close();
    await silent.close();
  }
});
