import { test } from 'node:test';
import assert from 'node:assert/strict';
import { StreamFramer, readContentLength, type Frame } from '../../src/sip/transport/framer.ts';

function sip(body: string, extra = ''): string {
  return (
    'SIP/2.0 200 OK\r\n' +
    'Via: SIP/2.0/TCP 127.0.0.1;branch=z9hG4bK1;rport\r\n' +
    'CSeq: 1 PUBLISH\r\n' +
    extra +
    `Content-Length: ${Buffer.byteLength(body)}\r\n\r\n` +
    body
  );
}

function feedAll(framer: StreamFramer, chunks: Uint8Array[]): Frame[] {
  return chunks.flatMap((c) => framer.feed(c));
}

function messages(frames: Frame[]): string[] {
  return frames.flatMap((f) => (f.kind === 'message' ? [f.text] : []));
}

const utf8Body = 'Messages-Waiting: yes\r\nMessage-Account: sip:zoë@example.com\r\nNote: €😀\r\n';

void test('one message split at every byte boundary is framed whole', () => {
  const bytes = Buffer.from(sip(utf8Body));
  for (let i = 0; i <= bytes.length; i++) {
    const framer = new StreamFramer(4096);
    const frames = feedAll(framer, [bytes.subarray(0, i), bytes.subarray(i)]);
    assert.deepEqual(messages(frames), [sip(utf8Body)], `split at ${i}`);
    assert.equal(frames.length, 1);
    assert.equal(framer.bufferedBytes, 0);
  }
});

void test('three messages fed one byte at a time, with keep-alives between them', () => {
  const stream = Buffer.from(sip('a') + '\r\n\r\n' + sip(utf8Body) + '\r\n' + sip(''));
  const framer = new StreamFramer(4096);
  const frames: Frame[] = [];
  for (let i = 0; i < stream.length; i++) frames.push(...framer.feed(stream.subarray(i, i + 1)));
  assert.deepEqual(
    frames.map((f) => f.kind),
    ['message', 'ping', 'message', 'message'],
  );
  assert.deepEqual(messages(frames), [sip('a'), sip(utf8Body), sip('')]);
});

void test('several messages merged into one chunk come out in order', () => {
  const bodies = ['x', utf8Body, '', 'y'.repeat(1000)];
  const framer = new StreamFramer(8192);
  const frames = framer.feed(Buffer.from(bodies.map((b) => sip(b)).join('')));
  assert.deepEqual(messages(frames), bodies.map((b) => sip(b)));
});

void test('Content-Length counts bytes: a multi-byte UTF-8 body is neither cut nor overrun', () => {
  const text = sip(utf8Body);
  assert.notEqual(Buffer.byteLength(utf8Body), utf8Body.length);
  const framer = new StreamFramer(4096);
  const frames = framer.feed(Buffer.from(text + text));
  assert.deepEqual(messages(frames), [text, text]);
  assert.ok(messages(frames)[0]?.endsWith('€😀\r\n'));
});

void test('compact form "l" is accepted, case-insensitively and with spaces', () => {
  const msg = 'SIP/2.0 200 OK\r\nCSeq: 1 NOTIFY\r\nl :  3 \r\n\r\nabc';
  assert.deepEqual(messages(new StreamFramer(4096).feed(Buffer.from(msg))), [msg]);
  assert.equal(readContentLength('X: y\r\nCONTENT-LENGTH:7'), 7);
  assert.equal(readContentLength('Content-Length: 7\r\nContent-Length: 7'), 7);
});

void test('keep-alives: double CRLF is a ping, a lone CRLF is skipped, a pending CRLF waits for more bytes', () => {
  const framer = new StreamFramer(4096);
  assert.deepEqual(framer.feed(Buffer.from('\r\n\r\n\r\n\r\n')), [{ kind: 'ping' }, { kind: 'ping' }]);
  assert.deepEqual(framer.feed(Buffer.from('\r\n')), []);
  assert.deepEqual(framer.feed(Buffer.from('\r\n')), [{ kind: 'ping' }], 'a ping split across two chunks');
  assert.deepEqual(framer.feed(Buffer.from('\r\n')), []);
  assert.deepEqual(messages(framer.feed(Buffer.from(sip('z')))), [sip('z')], 'lone CRLF before a message is ignored');
  assert.equal(framer.bufferedBytes, 0);
});

void test('missing Content-Length is a framing error, and the framer stays failed', () => {
  const framer = new StreamFramer(4096);
  const frames = framer.feed(Buffer.from(sip('ok') + 'SIP/2.0 200 OK\r\nCSeq: 1 PUBLISH\r\n\r\n' + sip('never')));
  assert.deepEqual(
    frames.map((f) => f.kind),
    ['message', 'error'],
    'the good message before the bad one is still delivered',
  );
  const last = frames.at(-1);
  assert.ok(last?.kind === 'error' && /missing Content-Length/.test(last.reason));
  assert.equal(framer.feed(Buffer.from(sip('x')))[0]?.kind, 'error');
});

void test('bad or conflicting Content-Length values are framing errors', () => {
  for (const value of ['abc', '-1', '1.5', '', '12345678901', '0x10']) {
    const frames = new StreamFramer(4096).feed(Buffer.from(`SIP/2.0 200 OK\r\nContent-Length: ${value}\r\n\r\n`));
    assert.equal(frames[0]?.kind, 'error', JSON.stringify(value));
  }
  const conflicting = new StreamFramer(4096).feed(Buffer.from('SIP/2.0 200 OK\r\nContent-Length: 1\r\nl: 2\r\n\r\nab'));
  assert.equal(conflicting[0]?.kind, 'error');
});

void test('a Content-Length that would exceed maxMessageBytes fails at once, before the body arrives', () => {
  const framer = new StreamFramer(1000);
  const frames = framer.feed(Buffer.from('SIP/2.0 200 OK\r\nContent-Length: 5000\r\n\r\n'));
  assert.equal(frames[0]?.kind, 'error');
  const exact = 'SIP/2.0 200 OK\r\nContent-Length: 10\r\n\r\n0123456789';
  assert.deepEqual(messages(new StreamFramer(Buffer.byteLength(exact)).feed(Buffer.from(exact))), [exact], 'exactly max is fine');
  assert.equal(new StreamFramer(Buffer.byteLength(exact) - 1).feed(Buffer.from(exact))[0]?.kind, 'error');
});

void test('an unterminated header section over maxMessageBytes is a framing error', () => {
  const framer = new StreamFramer(1000);
  assert.deepEqual(framer.feed(Buffer.from('SIP/2.0 200 OK\r\n' + 'X: y\r\n'.repeat(100))), []);
  const frames = framer.feed(Buffer.from('X: y\r\n'.repeat(100)));
  assert.equal(frames[0]?.kind, 'error');
});

void test('large messages fed in tiny chunks stay linear (no O(n^2) re-scan or copy)', () => {
  const body = 'b'.repeat(512 * 1024);
  const header = 'SIP/2.0 200 OK\r\n' + 'X-Pad: ' + 'h'.repeat(200 * 1024) + '\r\n';
  const msg = header + `Content-Length: ${body.length}\r\n\r\n` + body;
  const bytes = Buffer.from(msg);
  const framer = new StreamFramer(1024 * 1024);
  const started = performance.now();
  let out: string[] = [];
  for (let i = 0; i < bytes.length; i += 7) out = out.concat(messages(framer.feed(bytes.subarray(i, i + 7))));
  const elapsedMs = performance.now() - started;
  assert.equal(out.length, 1);
  assert.equal(out[0]?.length, msg.length);
  assert.ok(elapsedMs < 3000, `took ${elapsedMs} ms`);
});
