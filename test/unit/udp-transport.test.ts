import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createSocket, type RemoteInfo, type Socket } from 'node:dgram';
import { once } from 'node:events';
import { setTimeout as sleep } from 'node:timers/promises';
import { FakeClock, systemClock, type Clock } from '../../src/clock.ts';
import { ErrorCodes, isMwiError } from '../../src/errors.ts';
import { UdpTransport, type UdpTransportOptions } from '../../src/sip/transport/udp.ts';
import type { HostResolver } from '../../src/sip/transport/transport.ts';

interface Peer {
  socket: Socket;
  port: number;
  received: Array<{ text: string; atMs: number; from: RemoteInfo }>;
  close(): Promise<void>;
}

async function peer(answer?: (text: string, from: RemoteInfo, socket: Socket) => void): Promise<Peer> {
  const socket = createSocket('udp4');
  const received: Peer['received'] = [];
  socket.on('message', (data, from) => {
    const text = data.toString('utf8');
    received.push({ text, atMs: performance.now(), from });
    answer?.(text, from, socket);
  });
  socket.bind(0, '127.0.0.1');
  await once(socket, 'listening');
  return {
    socket,
    port: socket.address().port,
    received,
    close: () => new Promise((resolve) => socket.close(() => resolve())),
  };
}

const ipOnly: HostResolver = { resolve: (host) => Promise.reject(new Error(`unexpected lookup of ${host}`)) };

function options(clock: Clock, extra: Partial<UdpTransportOptions> = {}): UdpTransportOptions {
  return {
    clock,
    resolver: ipOnly,
    bindHost: '127.0.0.1',
    bindPort: 0,
    maxMessageBytes: 4096,
    t1Ms: 20,
    t2Ms: 200,
    transactionTimeoutMs: 250,
    ...extra,
  };
}

function request(port: number, branch: string, method = 'PUBLISH', host = '127.0.0.1'): string {
  return (
    `${method} sip:alice@${host}:${port} SIP/2.0\r\n` +
    `Via: SIP/2.0/UDP 127.0.0.1;branch=${branch};rport\r\n` +
    'From: <sip:mwi@127.0.0.1>;tag=1\r\nTo: <sip:alice@127.0.0.1>\r\nCall-ID: c1\r\n' +
    `CSeq: 1 ${method}\r\nMax-Forwards: 70\r\nContent-Length: 0\r\n\r\n`
  );
}

function responseTo(req: string, status: number): string {
  const via = /\r\nVia: [^\r]+/.exec(req)?.[0] ?? '';
  const cseq = /\r\nCSeq: [^\r]+/.exec(req)?.[0] ?? '';
  return `SIP/2.0 ${status} Whatever${via}${cseq}\r\nContent-Length: 0\r\n\r\n`;
}

function reply(socket: Socket, to: RemoteInfo, text: string): void {
  socket.send(text, to.port, to.address);
}

async function until(check: () => boolean, timeoutMs = 2000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) throw new Error('condition not met in time');
    await sleep(5);
  }
}

void test('a silent peer gets the request T1-doubling retransmitted until the deadline (real clock, T1 20 ms)', async () => {
  const p = await peer();
  const t = await UdpTransport.open(options(systemClock));
  try {
    await t.send(request(p.port, 'z9hG4bKsilent'));
    await sleep(450);
    // T1 20, T2 200, timeout 250: sends at 0, 20, 60, 140 (the next, 300, is past the deadline).
    assert.equal(p.received.length, 4);
    assert.ok(p.received.every((r) => r.text === p.received[0]?.text), 'identical retransmissions');
    // Exact offsets are pinned on a FakeClock (timer-e.test.ts); here only the overall spread,
    // loosely, since a loaded machine delays the first datagram more than the planned timers.
    const spanMs = (p.received[3]?.atMs ?? 0) - (p.received[0]?.atMs ?? 0);
    assert.ok(spanMs >= 90, `last retransmission ${spanMs} ms after the first send (planned 140)`);
    assert.equal(t.stats.sent, 1);
    assert.equal(t.stats.retransmissions, 3);
    assert.equal(t.pendingRetransmissions, 0, 'entry dropped at the deadline');
  } finally {
    await t.close();
    await p.close();
  }
});

void test('on a FakeClock the retransmission count is exact for RFC T1/T2 and a 4 s timeout', async () => {
  const clock = new FakeClock();
  const p = await peer();
  const t = await UdpTransport.open(options(clock, { t1Ms: 500, t2Ms: 4000, transactionTimeoutMs: 4000 }));
  try {
    await t.send(request(p.port, 'z9hG4bKfake'));
    clock.advance(10_000);
    await until(() => p.received.length >= 4);
    await sleep(50);
    assert.equal(p.received.length, 4, 'sends at 0, 500, 1500, 3500');
    assert.equal(t.pendingRetransmissions, 0);
    assert.equal(clock.pending, 0);
  } finally {
    await t.close();
    await p.close();
  }
});

void test('a final response stops retransmission and is handed up', async () => {
  const p = await peer((text, from, socket) => reply(socket, from, responseTo(text, 200)));
  const t = await UdpTransport.open(options(systemClock));
  const got: string[] = [];
  t.onMessage = (m) => got.push(m);
  try {
    await t.send(request(p.port, 'z9hG4bKfinal'));
    await until(() => got.length === 1);
    assert.equal(t.pendingRetransmissions, 0);
    await sleep(300);
    assert.equal(p.received.length, 1, 'no retransmission after the 200');
    assert.equal(t.stats.retransmissions, 0);
    assert.match(got[0] ?? '', /^SIP\/2\.0 200 /);
  } finally {
    await t.close();
    await p.close();
  }
});

void test('a provisional response moves the retransmission interval to T2; a final one then stops it', async () => {
  const clock = new FakeClock();
  let answered = 0;
  const p = await peer((text, from, socket) => {
    if (answered++ === 0) reply(socket, from, responseTo(text, 100));
  });
  const t = await UdpTransport.open(options(clock, { t1Ms: 500, t2Ms: 4000, transactionTimeoutMs: 32_000 }));
  try {
    const req = request(p.port, 'z9hG4bKprov');
    await t.send(req);
    await until(() => t.stats.received === 1);
    clock.advance(500); // first retransmission at T1, already scheduled
    clock.advance(3999);
    await sleep(50);
    assert.equal(p.received.length, 2, 'Proceeding: the next one waits T2, not 2*T1');
    clock.advance(1);
    await until(() => p.received.length === 3);
    // A final response (sent by "the peer") ends it.
    p.socket.send(responseTo(req, 200), t.localPort, '127.0.0.1');
    await until(() => t.stats.received === 2);
    assert.equal(t.pendingRetransmissions, 0);
    clock.advance(40_000);
    await sleep(50);
    assert.equal(p.received.length, 3);
  } finally {
    await t.close();
    await p.close();
  }
});

void test('a response matches on branch and CSeq method only', async () => {
  const clock = new FakeClock();
  const p = await peer((text, from, socket) => {
    reply(socket, from, responseTo(text, 200).replace('z9hG4bKmatch', 'z9hG4bKother'));
    reply(socket, from, responseTo(text, 200).replace('CSeq: 1 PUBLISH', 'CSeq: 1 NOTIFY'));
  });
  const t = await UdpTransport.open(options(clock));
  try {
    await t.send(request(p.port, 'z9hG4bKmatch'));
    await until(() => t.stats.received === 2);
    assert.equal(t.pendingRetransmissions, 1);
  } finally {
    await t.close();
    await p.close();
  }
});

void test('ACK is never retransmitted; abandon() stops a request early', async () => {
  const clock = new FakeClock();
  const p = await peer();
  const t = await UdpTransport.open(options(clock));
  try {
    await t.send(request(p.port, 'z9hG4bKack', 'ACK'));
    await t.send(request(p.port, 'z9hG4bKgiveup'));
    assert.equal(t.pendingRetransmissions, 1);
    t.abandon('z9hG4bKgiveup');
    t.abandon('z9hG4bKunknown');
    assert.equal(t.pendingRetransmissions, 0);
    assert.equal(clock.pending, 0);
    clock.advance(10_000);
    await until(() => p.received.length >= 2);
    await sleep(30);
    assert.equal(p.received.length, 2);
  } finally {
    await t.close();
    await p.close();
  }
});

void test('malformed, oversized and keep-alive datagrams are dropped and counted; the socket keeps working', async () => {
  const t = await UdpTransport.open(options(systemClock, { maxMessageBytes: 2000 }));
  const got: string[] = [];
  t.onMessage = (m) => got.push(m);
  const p = await peer();
  const toT = (data: string | Buffer): void => p.socket.send(data, t.localPort, '127.0.0.1');
  try {
    toT('hello, not SIP');
    toT(Buffer.from([0xff, 0xfe, 0x00, 0x80, 0x0d, 0x0a]));
    toT('SIP/2.0 999 Nope\r\n\r\n');
    toT('SIP/2.0 200 OK\r\nVia: ' + 'x'.repeat(3000) + '\r\n\r\n');
    toT('\r\n\r\n');
    toT('SIP/2.0 200 OK\r\nCSeq: banana\r\nVia: SIP/2.0/UDP h;branch=\r\n\r\n');
    await until(() => t.stats.malformed === 3 && t.stats.oversized === 1 && got.length === 1);
    assert.equal(t.stats.received, 1, 'only the SIP-looking datagram went up (the parser judges it)');
  } finally {
    await t.close();
    await p.close();
  }
});

void test('an upper layer that throws is contained and counted as malformed', async () => {
  const t = await UdpTransport.open(options(systemClock));
  let calls = 0;
  t.onMessage = () => {
    calls++;
    throw new Error('parser blew up');
  };
  const p = await peer();
  try {
    const msg = 'SIP/2.0 200 OK\r\nVia: SIP/2.0/UDP 127.0.0.1;branch=z9hG4bKx\r\nCSeq: 1 PUBLISH\r\nContent-Length: 0\r\n\r\n';
    p.socket.send(msg, t.localPort, '127.0.0.1');
    p.socket.send(msg, t.localPort, '127.0.0.1');
    await until(() => calls === 2);
    assert.equal(t.stats.malformed, 2);
  } finally {
    await t.close();
    await p.close();
  }
});

void test('host names go through the resolver; IP literals do not', async () => {
  const lookups: string[] = [];
  const resolver: HostResolver = {
    resolve: (host) => {
      lookups.push(host);
      return Promise.resolve('127.0.0.1');
    },
  };
  const clock = new FakeClock();
  const p = await peer();
  const t = await UdpTransport.open({ ...options(clock), resolver });
  try {
    await t.send(request(p.port, 'z9hG4bKn1', 'PUBLISH', 'presence.test'));
    await t.send(request(p.port, 'z9hG4bKn2'));
    assert.deepEqual(lookups, ['presence.test']);
    await until(() => p.received.length === 2);
  } finally {
    await t.close();
    await p.close();
  }
});

void test('send errors reject with stable codes', async () => {
  const clock = new FakeClock();
  const failing: HostResolver = { resolve: () => Promise.reject(new Error('SERVFAIL')) };
  const t = await UdpTransport.open({ ...options(clock, { maxMessageBytes: 100_000, maxRetransmitEntries: 2 }), resolver: failing });
  const p = await peer();
  try {
    // EMSGSIZE from the kernel: a real send error, retryable by contract.
    const huge = request(p.port, 'z9hG4bKhuge').replace('Content-Length: 0\r\n\r\n', `Content-Length: 70000\r\n\r\n${'x'.repeat(70_000)}`);
    await assert.rejects(t.send(huge), (err) => isMwiError(err, ErrorCodes.SIP_TRANSPORT) && err.retryable);
    assert.equal(t.pendingRetransmissions, 0, 'a failed send leaves no entry');
    await assert.rejects(t.send('x'.repeat(100_001)), (err) => isMwiError(err, ErrorCodes.SIP_MESSAGE_TOO_LARGE));
    await assert.rejects(t.send('SIP/2.0 200 OK\r\n\r\n'), (err) => isMwiError(err, ErrorCodes.SIP_TRANSPORT) && !err.retryable);
    await assert.rejects(t.send(request(5060, 'z9hG4bKv6', 'PUBLISH', '[::1]')), (err) => isMwiError(err, ErrorCodes.SIP_TRANSPORT) && !err.retryable);
    await assert.rejects(t.send(request(5060, 'z9hG4bKdns', 'PUBLISH', 'nowhere.test')), (err) => isMwiError(err, ErrorCodes.RESOLVE_FAILED) && err.retryable);
    // The entry cap bounds memory.
    await t.send(request(p.port, 'z9hG4bKcap1'));
    await t.send(request(p.port, 'z9hG4bKcap2'));
    await assert.rejects(t.send(request(p.port, 'z9hG4bKcap3')), (err) => isMwiError(err, ErrorCodes.SIP_TRANSPORT_BUSY) && err.retryable);
    await t.send(request(p.port, 'z9hG4bKcap1')); // same branch again replaces, does not count twice
    assert.equal(t.pendingRetransmissions, 2);
  } finally {
    await t.close();
    await p.close();
  }
  assert.equal(t.pendingRetransmissions, 0);
  assert.equal(clock.pending, 0, 'close() clears every timer');
  await assert.rejects(t.send(request(p.port, 'z9hG4bKlate')), (err) => isMwiError(err, ErrorCodes.SIP_STACK_CLOSED));
  await t.close(); // idempotent
});

void test('binds udp6 on ::1 and reports the bound address', async () => {
  const t = await UdpTransport.open(options(systemClock, { bindHost: '::1' }));
  try {
    assert.equal(t.localHost, '::1');
    assert.ok(t.localPort > 0);
    const p6 = createSocket('udp6');
    p6.bind(0, '::1');
    await once(p6, 'listening');
    const got = once(p6, 'message');
    await t.send(request(p6.address().port, 'z9hG4bKv6ok', 'OPTIONS', '[::1]'));
    const [data] = (await got) as [Buffer];
    assert.match(data.toString(), /^OPTIONS sip:alice@\[::1\]/);
    await t.close();
    await new Promise<void>((resolve) => p6.close(() => resolve()));
  } finally {
    await t.close();
  }
});

void test('a bind failure rejects open() instead of emitting an unhandled error', async () => {
  const t = await UdpTransport.open(options(systemClock));
  try {
    await assert.rejects(UdpTransport.open(options(systemClock, { bindPort: t.localPort })), (err) => isMwiError(err, ErrorCodes.SIP_TRANSPORT));
  } finally {
    await t.close();
  }
});
