// The control plane against a real private redis-server: two RedisControlPlane "workers" (each
// with its own connections) see each other's pauses and drain at once, per-target pauses match
// only their target, pauses end by themselves, every change is audited in order, and a worker
// keeps its last view (pauses stay in force) while Redis is away.
import assert from 'node:assert/strict';
import { after, afterEach, before, describe, it } from 'node:test';

import type { Redis } from 'ioredis';

import { systemClock } from '../../src/clock.ts';
import { RedisControlPlane, type ControlLog } from '../../src/control/redis-control-plane.ts';
import { RedisControlStore } from '../../src/control/redis-control-store.ts';
import type { ControlSnapshot } from '../../src/control/types.ts';
import { ErrorCodes, isMwiError } from '../../src/errors.ts';
import { storeKeys, type StoreKeys } from '../../src/store/keys.ts';
import { createStoreClient } from '../../src/store/store-client.ts';
import { startRedis, type RedisHandle } from '../harness/redis.ts';

const PS = 'sip:ps.example.net';
const HOP = 'udp:10.0.0.5:5060';

interface LogLine {
  level: 'debug' | 'info' | 'warn';
  obj: object;
  msg: string;
}

interface Worker {
  plane: RedisControlPlane;
  client: Redis;
  logs: LogLine[];
  changes: ControlSnapshot[];
}

function recordingLog(lines: LogLine[]): ControlLog {
  return {
    debug: (obj, msg) => lines.push({ level: 'debug', obj, msg }),
    info: (obj, msg) => lines.push({ level: 'info', obj, msg }),
    warn: (obj, msg) => lines.push({ level: 'warn', obj, msg }),
  };
}

async function waitFor(condition: () => boolean | Promise<boolean>, timeoutMs: number, what: string): Promise<number> {
  const start = performance.now();
  while (!(await condition())) {
    if (performance.now() - start > timeoutMs) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 2));
  }
  return performance.now() - start;
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

let prefixSeq = 0;
const freshKeys = (): StoreKeys => storeKeys(`{ctl-${process.pid}-${++prefixSeq}}`);

describe('control plane on Redis (two workers)', { timeout: 60_000 }, () => {
  let redis: RedisHandle;
  let raw: Redis;
  const workers: Worker[] = [];

  async function worker(keys: StoreKeys, opts: { pollMs?: number } = {}): Promise<Worker> {
    const client = await createStoreClient({ url: redis.url, commandTimeoutMs: 500 });
    const logs: LogLine[] = [];
    const plane = new RedisControlPlane({ redis: client, redisUrl: redis.url, keys, clock: systemClock, log: recordingLog(logs), ...opts });
    const changes: ControlSnapshot[] = [];
    plane.onChange((s) => changes.push(s));
    await plane.refresh();
    const w = { plane, client, logs, changes };
    workers.push(w);
    return w;
  }

  /** Both planes' subscribers are on the channel (a change announced now reaches them). */
  async function subscribed(keys: StoreKeys, n: number): Promise<void> {
    await waitFor(async () => {
      // After a Redis restart the test's own client may still be reconnecting: ask again.
      const reply = (await raw.pubsub('NUMSUB', keys.controlChannel()).catch(() => ['', 0])) as [string, number];
      return Number(reply[1]) >= n;
    }, 10_000, `${n} subscribers on the control channel`);
  }

  before(async () => {
    // AOF: a killed Redis comes back with its pauses, as a production Redis would.
    redis = await startRedis({ label: 'control-plane', appendonly: true, appendfsync: 'always' });
    raw = await createStoreClient({ url: redis.url });
  });
  afterEach(async () => {
    for (const w of workers.splice(0)) {
      await w.plane.close();
      w.client.disconnect();
    }
  });
  after(async () => {
    raw?.disconnect();
    await redis?.dispose();
  });

  it('a pause made through one worker is seen by the other within 1 s (pushed over pub/sub, not waiting for a poll)', async () => {
    const keys = freshKeys();
    const a = await worker(keys);
    // A poll far away: only the announcement can bring the change in time.
    const b = await worker(keys, { pollMs: 60_000 });
    await subscribed(keys, 2);
    assert.equal(b.plane.pausedFor(PS), undefined);

    const start = performance.now();
    const pause = await a.plane.pause('global', 'alice@ops', 'PS upgrade', { via: 'cli' });
    await waitFor(() => b.plane.pausedFor(PS) !== undefined, 2_000, 'B to see the pause');
    const seenAfterMs = performance.now() - start;
    assert.ok(seenAfterMs < 1_000, `B saw the pause after ${seenAfterMs.toFixed(0)} ms`);
    assert.deepEqual(b.plane.pausedFor(PS), pause);
    assert.deepEqual(a.plane.pausedFor(PS), pause, 'the pausing worker sees its own pause at once');

    await a.plane.setDrain(true, 'alice@ops', 'node replacement');
    await waitFor(() => b.plane.draining(), 1_000, 'B to see the drain');
    await a.plane.resume('global', 'alice@ops', 'upgrade done');
    await waitFor(() => b.plane.pausedFor(PS) === undefined, 1_000, 'B to see the resume');
    assert.deepEqual(
      b.changes.map((s) => [s.pauses.map((p) => p.scope), s.drain !== undefined]),
      [[['global'], false], [['global'], true], [[], true]],
      'B heard each change once, in order',
    );
  });

  it('falls back to polling: a change that was never announced is seen within a few polls', async () => {
    const keys = freshKeys();
    const b = await worker(keys, { pollMs: 250 });
    await subscribed(keys, 1);
    await sleep(200); // past the re-read that follows the subscription: from here only polls read
    const pause = { scope: PS, reason: 'written without an announcement', actor: 'test', since: Date.now() };
    await raw.hset(keys.controlPauses(), PS, JSON.stringify(pause));
    const ms = await waitFor(() => b.plane.pausedFor(PS) !== undefined, 3_000, 'B to poll the pause');
    assert.ok(ms < 1_500, `seen after ${ms.toFixed(0)} ms with a 250 ms poll`);
    assert.deepEqual(b.plane.pausedFor(PS), pause);
  });

  it('a target pause matches that target URI or hop key only; a global pause matches everything and wins', async () => {
    const keys = freshKeys();
    const a = await worker(keys);
    const b = await worker(keys);
    await subscribed(keys, 2);
    await a.plane.pause({ target: PS }, 'alice', 'PS maintenance');
    await a.plane.pause({ target: HOP }, 'alice', 'bad node');
    await waitFor(() => b.plane.pausedFor(PS) !== undefined && b.plane.pausedFor('sip:x', HOP) !== undefined, 1_000, 'B to see both pauses');

    assert.equal(b.plane.pausedFor(PS)?.reason, 'PS maintenance');
    assert.equal(b.plane.pausedFor(PS, 'udp:10.0.0.9:5060')?.scope, PS, 'by URI, whatever the hop');
    assert.equal(b.plane.pausedFor('sip:other.example.net', HOP)?.scope, HOP, 'by hop key, whatever the URI');
    assert.equal(b.plane.pausedFor('sip:other.example.net', 'udp:10.0.0.9:5060'), undefined);
    assert.equal(b.plane.pausedFor('sip:other.example.net'), undefined);
    assert.equal(b.plane.pausedFor('sip:ps.example.net;transport=tcp'), undefined, 'exact strings only');
    assert.equal(b.plane.pausedFor('sip:other.example.net', 'udp:10.0.0.50:5060'), undefined, 'no prefix match');

    await a.plane.pause('global', 'bob', 'freeze');
    await waitFor(() => b.plane.pausedFor('sip:anything.example.net') !== undefined, 1_000, 'B to see the global pause');
    assert.equal(b.plane.pausedFor(PS, HOP)?.scope, 'global', 'global first');
    const snapshot = await b.plane.snapshot();
    assert.deepEqual(snapshot.pauses.map((p) => p.scope), ['global', PS, HOP], 'global first, then targets in lexical order');
  });

  it('a pause with forMs ends by itself on every worker, is removed from Redis and audited once as an expiry', async () => {
    const keys = freshKeys();
    const a = await worker(keys);
    const b = await worker(keys);
    await subscribed(keys, 2);
    const pause = await a.plane.pause({ target: PS }, 'alice', 'short window', { forMs: 400 });
    assert.equal(pause.until, pause.since + 400);
    await waitFor(() => b.plane.pausedFor(PS) !== undefined, 1_000, 'B to see the pause');

    await waitFor(() => a.plane.pausedFor(PS) === undefined && b.plane.pausedFor(PS) === undefined, 2_000, 'both to see the end');
    assert.ok(Date.now() >= pause.since + 400, 'not before its end');
    await waitFor(async () => (await raw.hlen(keys.controlPauses())) === 0, 2_000, 'the expired pause to leave Redis');
    await waitFor(() => b.changes.at(-1)?.pauses.length === 0, 1_000, 'B to announce the end to its listeners');
    await sleep(600); // more polls of both workers: still one expiry entry
    const log = await a.plane.auditLog(10);
    assert.deepEqual(log.map((e) => e.action), ['pause-expire', 'pause']);
    assert.equal(log[0]?.subject, PS);
    assert.equal(log[0]?.via, 'expiry');
    assert.match(log[0]?.reason ?? '', /paused by alice: short window/);
    assert.equal(log[1]?.until, pause.until);
    assert.equal(await a.plane.resume({ target: PS }, 'alice', 'too late'), undefined, 'nothing left to resume');
  });

  it('audits pause, resume, drain and undrain in order, newest first, with actor, reason and via; refuses a missing reason without writing', async () => {
    const keys = freshKeys();
    const a = await worker(keys);
    await a.plane.pause('global', 'alice@host1', 'incident 42', { via: 'cli' });
    await a.plane.resume('global', 'bob@host2', 'incident over', { via: 'api' });
    await a.plane.setDrain(true, 'carol', 'rolling restart', { via: 'dashboard' });
    await a.plane.setDrain(false, 'carol', 'restart done', { via: 'dashboard' });
    await a.plane.setDrain(false, 'carol', 'again');
    await a.plane.audit({ actor: 'dave', action: 'breaker-isolate', subject: HOP, reason: 'flapping', via: 'cli' });

    const log = await a.plane.auditLog(100);
    assert.deepEqual(
      log.map((e) => [e.action, e.subject, e.actor, e.reason, e.via]),
      [
        ['breaker-isolate', HOP, 'dave', 'flapping', 'cli'],
        ['undrain', 'global', 'carol', 'restart done', 'dashboard'],
        ['drain', 'global', 'carol', 'rolling restart', 'dashboard'],
        ['resume', 'global', 'bob@host2', 'incident over', 'api'],
        ['pause', 'global', 'alice@host1', 'incident 42', 'cli'],
      ],
      'undrain while not draining writes nothing',
    );
    for (let i = 1; i < log.length; i++) assert.ok((log[i - 1]?.at ?? 0) >= (log[i]?.at ?? 0), 'newest first');
    assert.deepEqual((await a.plane.auditLog(2)).map((e) => e.action), ['breaker-isolate', 'undrain']);

    const isCode = (code: string) => (err: unknown) => isMwiError(err) && err.code === code;
    await assert.rejects(a.plane.pause('global', 'alice', ''), isCode(ErrorCodes.CONTROL_REASON_REQUIRED));
    await assert.rejects(a.plane.pause('global', 'alice', '   '), isCode(ErrorCodes.CONTROL_REASON_REQUIRED));
    await assert.rejects(a.plane.pause('global', 'alice', 'line\nforged'), isCode(ErrorCodes.CONTROL_INVALID));
    await assert.rejects(a.plane.pause({ target: 'sip:a b' }, 'alice', 'x'), isCode(ErrorCodes.CONTROL_INVALID));
    await assert.rejects(a.plane.pause('global', '', 'x'), isCode(ErrorCodes.CONTROL_INVALID));
    await assert.rejects(a.plane.pause('global', 'alice', 'x', { forMs: 0 }), isCode(ErrorCodes.CONTROL_INVALID));
    await assert.rejects(a.plane.setDrain(true, 'alice', ''), isCode(ErrorCodes.CONTROL_REASON_REQUIRED));
    assert.equal(await raw.llen(keys.controlAudit()), 5, 'refused actions write nothing');
    assert.equal(await raw.hlen(keys.controlPauses()), 0);
    assert.equal(a.plane.draining(), false);
  });

  it('keeps the audit log capped, newest first', async () => {
    const keys = freshKeys();
    const client = await createStoreClient({ url: redis.url });
    try {
      const store = new RedisControlStore({ redis: client, keys, auditCap: 3 });
      for (let i = 1; i <= 5; i++) await store.pause('global', 'alice', `pause ${i}`);
      assert.deepEqual((await store.auditLog(10)).map((e) => e.reason), ['pause 5', 'pause 4', 'pause 3']);
    } finally {
      client.disconnect();
    }
  });

  it('Redis killed: the last view is kept (the pause stays in force), nothing throws, one warning; the view resyncs when Redis is back', async () => {
    const keys = freshKeys();
    const a = await worker(keys);
    const b = await worker(keys);
    await subscribed(keys, 2);
    await a.plane.pause({ target: PS }, 'alice', 'hold during outage');
    await a.plane.setDrain(true, 'alice', 'drain during outage');
    await waitFor(() => b.plane.pausedFor(PS) !== undefined && b.plane.draining(), 1_000, 'B to see pause and drain');

    await redis.kill9();
    await waitFor(() => b.logs.some((l) => l.level === 'warn' && l.msg.startsWith('Redis unreachable')), 3_000, 'B to notice the outage');
    await sleep(1_000); // several failed polls
    assert.equal(b.plane.pausedFor(PS)?.reason, 'hold during outage', 'fail safe: still paused');
    assert.equal(b.plane.draining(), true);
    assert.equal(b.logs.filter((l) => l.level === 'warn').length, 1, 'the outage is logged once');
    await assert.rejects(b.plane.pause('global', 'bob', 'while down'), (err: unknown) => isMwiError(err, ErrorCodes.REDIS_UNAVAILABLE));
    await assert.rejects(b.plane.snapshot(), (err: unknown) => isMwiError(err, ErrorCodes.REDIS_UNAVAILABLE));
    assert.equal(b.plane.pausedFor('sip:other.example.net'), undefined, 'a failed pause changes nothing');

    await redis.restart();
    await waitFor(() => b.logs.some((l) => l.level === 'info' && l.msg.startsWith('Redis reachable again')), 10_000, 'B to reconnect');
    assert.equal(b.plane.pausedFor(PS)?.reason, 'hold during outage', 'the pause survived in Redis (AOF)');
    // The subscriber is back too: a change is pushed again.
    await subscribed(keys, 2);
    // A's own client reconnects on its own (jittered) schedule: resume once it answers.
    await waitFor(() => a.plane.snapshot().then(() => true, () => false), 10_000, 'A to reconnect');
    await a.plane.resume({ target: PS }, 'alice', 'outage over');
    await waitFor(() => b.plane.pausedFor(PS) === undefined, 1_000, 'B to see the resume after the outage');
  });
});
