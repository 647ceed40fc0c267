// Smoke tests of the test harness itself: each real process starts, answers, and behaves as the
// integration tests assume (Kamailio stores PUBLISH bodies, pause/restart work, SIPp scenarios
// answer and count, Redis keeps AOF data). No code under test (src/) is involved.
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import dgram from 'node:dgram';
import net from 'node:net';
import { after, describe, it } from 'node:test';

import { startKamailio } from '../harness/kamailio.ts';
import type { KamailioHandle, KamailioStorage } from '../harness/kamailio.ts';
import { canBindTcp, canBindUdp, freePort } from '../harness/ports.ts';
import { MissingBinaryError, requireBinary } from '../harness/process.ts';
import { startRedis } from '../harness/redis.ts';
import { buildRequest, openUdpClient, optionsPing, publishUdp, sendTcpRequest, sendUdpRequest } from '../harness/sip-probe.ts';
import type { SipResponse, UdpSipClient } from '../harness/sip-probe.ts';
import { runSippUac, SIPP_AUTH, startSippUas } from '../harness/sipp.ts';
import type { SippUasHandle, UasScenario } from '../harness/sipp.ts';

const BODY = 'Messages-Waiting: yes\r\nMessage-Account: sip:alice@vm.mwi.test\r\nVoice-Message: 2/8 (0/2)\r\n';
const TEST_TIMEOUT_MS = 30_000;

const cleanups: Array<() => Promise<void> | void> = [];
after(async () => {
  for (const cleanup of cleanups.reverse()) await cleanup();
});

function track<T extends { stop(): Promise<void> }>(handle: T): T {
  cleanups.push(() => handle.stop());
  return handle;
}

describe('ports and binaries', () => {
  it('freePort returns a number free on UDP and TCP, never the same twice', async () => {
    const a = await freePort();
    const b = await freePort();
    assert.notEqual(a, b);
    assert.ok(a >= 20000 && a < 32000);
    assert.equal(await canBindUdp('127.0.0.1', a), true);
    assert.equal(await canBindTcp('127.0.0.1', a), true);
  });

  it('a missing binary fails with an error naming the Debian package', () => {
    assert.throws(
      () => requireBinary('no-such-binary-mwi', 'some-deb-package'),
      (err: unknown) => err instanceof MissingBinaryError && err.code === 'HARNESS_MISSING_BINARY' && /some-deb-package/.test(err.message),
    );
  });
});

for (const storage of ['sqlite', 'memory'] as const satisfies readonly KamailioStorage[]) {
  describe(`Kamailio presence server (${storage} storage)`, { timeout: 60_000 }, () => {
    let kam: KamailioHandle;

    it('starts and answers OPTIONS with 200 on UDP and TCP', { timeout: TEST_TIMEOUT_MS }, async () => {
      kam = track(await startKamailio({ storage, label: `smoke-${storage}` }));
      assert.equal(kam.udpUri, `sip:127.0.0.1:${kam.port};transport=udp`);
      assert.equal(kam.tcpUri, `sip:127.0.0.1:${kam.port};transport=tcp`);
      assert.equal(await optionsPing(kam.host, kam.port), 200);
      const tcp = await sendTcpRequest({
        host: kam.host,
        port: kam.port,
        build: (local) => buildRequest({ method: 'OPTIONS', uri: `sip:ping@127.0.0.1:${kam.port}`, via: { ...local, transport: 'TCP' } }),
      });
      assert.equal(tcp?.status, 200);
    });

    it('an initial PUBLISH gets 200 + SIP-ETag and presentities() shows the exact body', { timeout: TEST_TIMEOUT_MS }, async () => {
      const res = await publishUdp({ host: kam.host, port: kam.port, user: 'alice', domain: 'mwi.test', body: BODY });
      assert.equal(res?.status, 200);
      const etag = res.header('SIP-ETag');
      assert.ok(etag);
      assert.equal(res.header('Expires'), '3600');
      const rows = await kam.presentities();
      assert.equal(rows.length, 1);
      assert.deepEqual(
        { ...rows[0], expires: undefined },
        { username: 'alice', domain: 'mwi.test', event: 'message-summary', etag, expires: undefined, body: BODY },
      );
      assert.ok(Math.abs((rows[0]?.expires ?? 0) - (Date.now() / 1000 + 3600)) < 10);
    });

    it('pause() stops all answers, resume() brings them back', { timeout: TEST_TIMEOUT_MS }, async () => {
      kam.pause();
      try {
        assert.equal(await optionsPing(kam.host, kam.port, 700), undefined);
      } finally {
        kam.resume();
      }
      assert.equal(await optionsPing(kam.host, kam.port, 2000), 200);
    });

    it('restart() keeps the port and drops all state: the old ETag is unknown (412)', { timeout: TEST_TIMEOUT_MS }, async () => {
      const [row] = await kam.presentities();
      assert.ok(row);
      const pidBefore = kam.pid();
      await kam.restart();
      assert.notEqual(kam.pid(), pidBefore);
      assert.deepEqual(await kam.presentities(), []);
      const res = await publishUdp({ host: kam.host, port: kam.port, user: 'alice', domain: 'mwi.test', body: BODY, etag: row.etag });
      assert.equal(res?.status, 412);
    });
  });
}

/** Digest response for uas-401-then-200 (RFC 2617 with qop=auth). */
function authorization(challenge: SipResponse, method: string, uri: string, password: string = SIPP_AUTH.password): string {
  const header = challenge.header('WWW-Authenticate') ?? '';
  const nonce = /nonce="([^"]+)"/.exec(header)?.[1] ?? '';
  const md5 = (s: string): string => createHash('md5').update(s).digest('hex');
  const cnonce = '0a4f113b';
  const nc = '00000001';
  const ha1 = md5(`${SIPP_AUTH.username}:${SIPP_AUTH.realm}:${password}`);
  const response = md5(`${ha1}:${nonce}:${nc}:${cnonce}:auth:${md5(`${method}:${uri}`)}`);
  return `Digest username="${SIPP_AUTH.username}", realm="${SIPP_AUTH.realm}", nonce="${nonce}", uri="${uri}", response="${response}", algorithm=MD5, cnonce="${cnonce}", qop=auth, nc=${nc}`;
}

/** One PUBLISH with optional extra headers and Call-ID/CSeq, over UDP from `client` (or a fresh socket). */
async function publishTo(
  h: SippUasHandle,
  extra: Array<[string, string]> = [],
  callId?: string,
  cseq?: number,
  client?: UdpSipClient,
): Promise<SipResponse | undefined> {
  const build = (local: { host: string; port: number }): string =>
    buildRequest({
      method: 'PUBLISH',
      uri: 'sip:alice@mwi.test',
      via: local,
      callId,
      cseq,
      headers: [['Event', 'message-summary'], ['Expires', '3600'], ...extra, ['Content-Type', 'application/simple-message-summary']],
      body: BODY,
    });
  if (client) return client.request(build(client.local), h);
  return sendUdpRequest({ host: h.host, port: h.port, build });
}

describe('SIPp UAS scenarios', { timeout: 90_000 }, () => {
  const uas = async (scenario: UasScenario, transport: 'udp' | 'tcp' = 'udp'): Promise<SippUasHandle> =>
    track(await startSippUas({ scenario, transport, label: `smoke-${scenario}` }));

  it('uas-200 answers a PUBLISH with 200, SIP-ETag and Expires, and counts it', { timeout: TEST_TIMEOUT_MS }, async () => {
    const h = await uas('uas-200');
    const res = await publishTo(h, [], 'smoke-200@harness');
    assert.equal(res?.status, 200);
    assert.equal(res.header('SIP-ETag'), '1-e');
    assert.equal(res.header('Expires'), '3600');
    assert.equal(res.header('Call-ID'), 'smoke-200@harness');
    const reqs = await h.waitForRequests(1);
    assert.equal(reqs.length, 1);
    assert.equal(reqs[0]?.method, 'PUBLISH');
    assert.equal(reqs[0]?.callId, 'smoke-200@harness');
    assert.equal(reqs[0]?.cseq, '1 PUBLISH');
    // A reused Call-ID is a new call (-deadcall_wait 0), not a discarded "dead call" message.
    assert.equal((await publishTo(h, [], 'smoke-200@harness', 2))?.status, 200);
    assert.equal(await h.requestCount('PUBLISH'), 2);
  });

  it('uas-200 answers over TCP too, and OPTIONS / NOTIFY as well as PUBLISH', { timeout: TEST_TIMEOUT_MS }, async () => {
    const h = await uas('uas-200', 'tcp');
    for (const method of ['PUBLISH', 'NOTIFY', 'OPTIONS']) {
      const res = await sendTcpRequest({
        host: h.host,
        port: h.port,
        build: (local) =>
          buildRequest({ method, uri: 'sip:alice@mwi.test', via: { ...local, transport: 'TCP' }, headers: [['Event', 'message-summary']] }),
      });
      assert.equal(res?.status, 200, method);
    }
    assert.deepEqual((await h.requests()).map((r) => r.method), ['PUBLISH', 'NOTIFY', 'OPTIONS']);
  });

  it('uas-silent never answers and counts every datagram, retransmissions included', { timeout: TEST_TIMEOUT_MS }, async () => {
    const h = await uas('uas-silent');
    const socket = dgram.createSocket('udp4');
    cleanups.push(() => {
      try {
        socket.close();
      } catch {
        // already closed
      }
    });
    let answers = 0;
    socket.on('message', () => answers++);
    await new Promise<void>((resolve) => socket.bind(0, '127.0.0.1', resolve));
    const local = { host: '127.0.0.1', port: socket.address().port };
    const first = buildRequest({ method: 'PUBLISH', uri: 'sip:alice@mwi.test', via: local, callId: 'silent-1', headers: [['Event', 'message-summary']] });
    const second = buildRequest({ method: 'PUBLISH', uri: 'sip:alice@mwi.test', via: local, callId: 'silent-1', cseq: 2, headers: [['Event', 'message-summary']] });
    for (const msg of [first, first, first, second, second]) {
      await new Promise<void>((resolve, reject) => socket.send(msg, h.port, h.host, (err) => (err ? reject(err) : resolve())));
      await new Promise((r) => setTimeout(r, 30));
    }
    const reqs = await h.waitForRequests(5);
    assert.deepEqual(reqs.map((r) => r.cseq), ['1 PUBLISH', '1 PUBLISH', '1 PUBLISH', '2 PUBLISH', '2 PUBLISH']);
    assert.ok((reqs[4]?.atMs ?? 0) - (reqs[0]?.atMs ?? 0) >= 100, 'timestamps are wall clock ms');
    await new Promise((r) => setTimeout(r, 200));
    assert.equal(answers, 0);
    socket.close();
  });

  it('uas-401-then-200 challenges, then verifies the digest (200) or refuses a wrong password (403)', { timeout: TEST_TIMEOUT_MS }, async () => {
    const h = await uas('uas-401-then-200');
    // Same socket for the retry: SIPp answers a call at the address its first message came from.
    const client = await openUdpClient();
    cleanups.push(() => client.close());
    const challenge = await publishTo(h, [], 'auth-1', 1, client);
    assert.equal(challenge?.status, 401);
    assert.match(challenge.header('WWW-Authenticate') ?? '', /^Digest realm="mwi\.test", nonce="[^"]+", algorithm=MD5, qop="auth"$/);
    const ok = await publishTo(h, [['Authorization', authorization(challenge, 'PUBLISH', 'sip:alice@mwi.test')]], 'auth-1', 2, client);
    assert.equal(ok?.status, 200);
    assert.ok(ok.header('SIP-ETag'));
    const bad = await publishTo(h, [['Authorization', authorization(challenge, 'PUBLISH', 'sip:alice@mwi.test', 'wrong-password')]], 'auth-2', 1, client);
    assert.equal(bad?.status, 403);
  });

  it('uas-423 asks for Min-Expires 7200, then grants 7200', { timeout: TEST_TIMEOUT_MS }, async () => {
    const h = await uas('uas-423');
    const client = await openUdpClient();
    cleanups.push(() => client.close());
    const first = await publishTo(h, [], 'brief-1', 1, client);
    assert.equal(first?.status, 423);
    assert.equal(first.header('Min-Expires'), '7200');
    const retry = await client.request(
      buildRequest({ method: 'PUBLISH', uri: 'sip:alice@mwi.test', via: client.local, callId: 'brief-1', cseq: 2, headers: [['Event', 'message-summary'], ['Expires', '7200']] }),
      h,
    );
    assert.equal(retry?.status, 200);
    assert.equal(retry.header('Expires'), '7200');
  });

  it('uas-412 refuses SIP-If-Match with 412 and accepts an initial PUBLISH', { timeout: TEST_TIMEOUT_MS }, async () => {
    const h = await uas('uas-412');
    assert.equal((await publishTo(h, [['SIP-If-Match', '7-e']], 'cond-1'))?.status, 412);
    const initial = await publishTo(h, [], 'cond-1', 2);
    assert.equal(initial?.status, 200);
    assert.ok(initial.header('SIP-ETag'));
  });

  it('uas-489, uas-500 and uas-503-retry-after answer with their codes', { timeout: TEST_TIMEOUT_MS }, async () => {
    assert.equal((await publishTo(await uas('uas-489')))?.status, 489);
    assert.equal((await publishTo(await uas('uas-500')))?.status, 500);
    const busy = await publishTo(await uas('uas-503-retry-after'));
    assert.equal(busy?.status, 503);
    assert.equal(busy.header('Retry-After'), '5');
  });

  it('uas-echo copies X-Req into the 200', { timeout: TEST_TIMEOUT_MS }, async () => {
    const h = await uas('uas-echo');
    assert.equal((await publishTo(h, [['X-Req', '4711']]))?.header('X-Req'), '4711');
  });
});

describe('SIPp UAC reference (uac-publish)', { timeout: 60_000 }, () => {
  it('runs a fixed number of PUBLISH calls against uas-200 and reports the rate', { timeout: TEST_TIMEOUT_MS }, async () => {
    const h = track(await startSippUas({ scenario: 'uas-200', transport: 'udp', countRequests: false, label: 'smoke-uac-target' }));
    const result = await runSippUac({ target: { host: h.host, port: h.port }, rate: 1000, calls: 500, transport: 'udp', label: 'smoke-uac' });
    assert.equal(result.successful, 500);
    assert.equal(result.failed, 0);
    assert.equal(result.exitCode, 0);
    assert.ok(result.elapsedMs > 300 && result.elapsedMs < 10_000, `elapsed ${result.elapsedMs} ms`);
    assert.ok(result.callsPerSec > 100, `${result.callsPerSec} calls/s`);
    // stats() is the count to use when tracing is off (rewritten every second and at exit).
    let stats = await h.stats();
    for (let i = 0; i < 30 && (stats?.incomingCalls ?? 0) < 500; i++) {
      await new Promise((r) => setTimeout(r, 100));
      stats = await h.stats();
    }
    assert.equal(stats?.incomingCalls, 500);
  });

  it('its PUBLISH bodies are accepted by Kamailio (strict presence_mwi check)', { timeout: TEST_TIMEOUT_MS }, async () => {
    const kam = track(await startKamailio({ storage: 'memory', label: 'smoke-uac-kamailio' }));
    const result = await runSippUac({ target: kam.udpUri.replace(/^sip:|;.*$/g, ''), rate: 500, calls: 100, transport: 'udp', label: 'smoke-uac-kam' });
    assert.equal(result.successful, 100);
    const rows = await kam.presentities();
    assert.equal(rows.length, 100);
    assert.match(rows[0]?.body ?? '', /^Messages-Waiting: yes\r\nMessage-Account: sip:mwi-\d+@127\.0\.0\.1\r\nVoice-Message: 2\/8 \(0\/2\)\r\n$/);
  });
});

/** Minimal RESP client: one command, one reply line (enough for SET/GET of short strings). */
function redisCommand(port: number, ...args: string[]): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = net.connect({ host: '127.0.0.1', port });
    let data = '';
    socket.setTimeout(2000, () => {
      socket.destroy();
      reject(new Error('redis command timed out'));
    });
    socket.once('error', reject);
    socket.once('connect', () => socket.write(`*${args.length}\r\n${args.map((a) => `$${Buffer.byteLength(a)}\r\n${a}\r\n`).join('')}`));
    socket.on('data', (chunk) => {
      data += chunk.toString('utf8');
      const m = /^(?:[+\-:](.*)\r\n|\$-1\r\n|\$(\d+)\r\n(.*)\r\n)/.exec(data);
      if (!m) return;
      socket.destroy();
      resolve(m[3] ?? m[1] ?? '(nil)');
    });
  });
}

describe('redis-server', { timeout: 60_000 }, () => {
  it('starts on a free port; AOF data survives stop/restart and kill9/restart', { timeout: TEST_TIMEOUT_MS }, async () => {
    const redis = await startRedis({ appendonly: true, label: 'smoke-redis' });
    cleanups.push(() => redis.dispose());
    assert.equal(redis.url, `redis://127.0.0.1:${redis.port}`);
    assert.equal(await redisCommand(redis.port, 'SET', 'mwi:k1', 'v1'), 'OK');
    await redis.stop();
    await assert.rejects(redisCommand(redis.port, 'PING'));
    await redis.restart();
    assert.equal(await redisCommand(redis.port, 'GET', 'mwi:k1'), 'v1');
    assert.equal(await redisCommand(redis.port, 'SET', 'mwi:k2', 'v2'), 'OK');
    await redis.kill9();
    await redis.restart();
    assert.equal(await redisCommand(redis.port, 'GET', 'mwi:k1'), 'v1');
    assert.equal(await redisCommand(redis.port, 'GET', 'mwi:k2'), 'v2');
  });

  it('without appendonly a restart starts empty', { timeout: TEST_TIMEOUT_MS }, async () => {
    const redis = await startRedis({ label: 'smoke-redis-volatile' });
    cleanups.push(() => redis.dispose());
    assert.equal(await redisCommand(redis.port, 'SET', 'mwi:k1', 'v1'), 'OK');
    await redis.restart();
    assert.equal(await redisCommand(redis.port, 'GET', 'mwi:k1'), '(nil)');
  });
});
