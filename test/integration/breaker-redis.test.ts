// Fleet-wide breakers against a real private redis-server: the store's scripts, and two
// RedisFleetBreakers "workers" (each with its own connections) that see each other's trips,
// share one probe lease, honour operator isolation, and keep going while Redis is away.
import assert from 'node:assert/strict';
import { after, afterEach, before, describe, it } from 'node:test';

import type { Redis } from 'ioredis';

import { RedisFleetBreakers, type BreakerLog } from '../../src/breaker/fleet-breakers.ts';
import { RedisBreakerStore, type BreakerSettings } from '../../src/breaker/redis-breaker-store.ts';
import type { BreakerTransition, ProbeResult } from '../../src/breaker/types.ts';
import { systemClock } from '../../src/clock.ts';
import { ErrorCodes, isMwiError } from '../../src/errors.ts';
import { storeKeys, type StoreKeys } from '../../src/store/keys.ts';
import { createStoreClient } from '../../src/store/store-client.ts';
import { startRedis, type RedisHandle } from '../harness/redis.ts';

const TARGET = 'udp:10.0.0.5:5060';
const SETTINGS: BreakerSettings = { windowMs: 10_000, minFailures: 3, failureRatio: 0.5, consecutiveFailures: 10_000, probeBaseMs: 100, probeMaxMs: 1_000, syncMs: 50 };
/** Probes far in the future: tests about trips and sync are not disturbed by probes. */
const NO_PROBES: Partial<BreakerSettings> = { probeBaseMs: 60_000, probeMaxMs: 60_000 };

const DOWN = (): Promise<ProbeResult> => Promise.resolve({ up: false, reason: 'OPTIONS timed out' });
const UP = (): Promise<ProbeResult> => Promise.resolve({ up: true, reason: '200 OK' });

interface LogLine {
  level: 'debug' | 'info' | 'warn';
  obj: object;
  msg: string;
}

interface Worker {
  name: string;
  breakers: RedisFleetBreakers;
  client: Redis;
  transitions: BreakerTransition[];
  logs: LogLine[];
}

function recordingLog(lines: LogLine[]): BreakerLog {
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
const freshKeys = (): StoreKeys => storeKeys(`{brk-${process.pid}-${++prefixSeq}}`);

function makeHarness(redisUrl: () => `redis://${string}`) {
  const workers: Worker[] = [];
  const clients: Redis[] = [];
  return {
    async worker(name: string, keys: StoreKeys, settings: Partial<BreakerSettings> = {}, random: () => number = Math.random): Promise<Worker> {
      const client = await createStoreClient({ url: redisUrl(), commandTimeoutMs: 500 });
      const logs: LogLine[] = [];
      const breakers = new RedisFleetBreakers({
        redis: client,
        keys,
        clock: systemClock,
        settings: { ...SETTINGS, ...settings },
        worker: name,
        log: recordingLog(logs),
        random,
        probeTimeoutMs: 1_000,
      });
      const transitions: BreakerTransition[] = [];
      breakers.onTransition((t) => transitions.push(t));
      const w = { name, breakers, client, transitions, logs };
      workers.push(w);
      return w;
    },
    async store(keys: StoreKeys, settings: Partial<BreakerSettings> = {}): Promise<RedisBreakerStore> {
      const client = await createStoreClient({ url: redisUrl(), commandTimeoutMs: 500 });
      clients.push(client);
      return new RedisBreakerStore({ redis: client, keys, settings: { ...SETTINGS, ...settings }, clock: systemClock, random: () => 1, worker: 'operator-host:1' });
    },
    async closeAll(): Promise<void> {
      for (const w of workers.splice(0)) {
        await w.breakers.close();
        w.client.disconnect();
      }
      for (const c of clients.splice(0)) c.disconnect();
    },
  };
}

describe('fleet breakers on a shared Redis', { timeout: 60_000 }, () => {
  let redis: RedisHandle;
  const h = makeHarness(() => redis.url);

  before(async () => {
    redis = await startRedis({ label: 'breaker' });
  });
  afterEach(() => h.closeAll());
  after(() => redis?.dispose());

  describe('store scripts', () => {
    it('trips after minFailures failures at the failure ratio, logs and announces the transition once', async () => {
      const keys = freshKeys();
      const store = await h.store(keys);
      const now = Date.now();
      const first = await store.report(TARGET, now, 0, 2, 'timeout', 'w1:1');
      assert.deepEqual([first.state.kind, first.failuresInWindow, first.transition], ['closed', 2, undefined]);
      const tripped = await store.report(TARGET, now + 10, 3, 1, 'timeout', 'w2:2');
      assert.equal(tripped.state.kind, 'open');
      assert.deepEqual([tripped.okInWindow, tripped.failuresInWindow], [3, 3]);
      assert.deepEqual(tripped.transition, { id: TARGET, from: 'closed', to: 'open', at: now + 10, reason: 'timeout', worker: 'w2:2', local: false });
      // random = 1: the first probe waits exactly probeBaseMs.
      assert.deepEqual(tripped.state, { kind: 'open', since: now + 10, reason: 'timeout', nextProbeAt: now + 10 + SETTINGS.probeBaseMs, failedProbes: 0 });
      const again = await store.report(TARGET, now + 20, 0, 5, 'timeout', 'w1:1');
      assert.equal(again.transition, undefined, 'an open breaker only gathers evidence');
      assert.equal((await store.transitions(10)).length, 1);
    });

    it('ok evidence keeps the breaker closed below the ratio', async () => {
      const store = await h.store(freshKeys());
      const now = Date.now();
      await store.report(TARGET, now, 10, 0, '', 'w1:1');
      const reply = await store.report(TARGET, now, 0, 9, 'timeout', 'w1:1');
      assert.deepEqual([reply.state.kind, reply.okInWindow, reply.failuresInWindow], ['closed', 10, 9]);
    });

    it('counts only evidence inside windowMs, and the evidence hash expires on its own', async () => {
      const keys = freshKeys();
      const store = await h.store(keys);
      const now = Date.now();
      await store.report(TARGET, now - SETTINGS.windowMs - 1_000, 0, 2, 'timeout', 'w1:1');
      const reply = await store.report(TARGET, now, 0, 1, 'timeout', 'w1:1');
      assert.deepEqual([reply.state.kind, reply.failuresInWindow], ['closed', 1]);
      const admin = await createStoreClient({ url: redis.url });
      try {
        assert.deepEqual(Object.keys(await admin.hgetall(keys.breakerEvidence(TARGET))), [String(Math.floor(now / 1000))]);
        const ttlMs = await admin.pttl(keys.breakerEvidence(TARGET));
        assert.ok(ttlMs > 0 && ttlMs <= SETTINGS.windowMs + 1_000, `ttl ${ttlMs}`);
      } finally {
        admin.disconnect();
      }
    });

    it('gives the probe lease to one caller only, and only once the probe is due', async () => {
      const store = await h.store(freshKeys());
      const now = Date.now();
      await store.report(TARGET, now, 0, 3, 'timeout', 'w1:1');
      assert.equal((await store.tryProbe(TARGET, 'w1:1', now, 5_000)).lease, 'not-due');
      const due = now + SETTINGS.probeBaseMs;
      assert.equal((await store.tryProbe(TARGET, 'w1:1', due, 5_000)).lease, 'acquired');
      assert.equal((await store.tryProbe(TARGET, 'w2:2', due, 5_000)).lease, 'busy');
      const down = await store.probeResult(TARGET, 'w1:1', false, 'OPTIONS timed out', due + 5, 400);
      assert.equal(down.outcome, 'still-open');
      assert.deepEqual(down.state, { kind: 'open', since: now, reason: 'timeout', nextProbeAt: due + 405, failedProbes: 1 });
      assert.equal((await store.tryProbe(TARGET, 'w2:2', due + 405, 5_000)).lease, 'acquired', 'the failed prober released its lease');
      const up = await store.probeResult(TARGET, 'w2:2', true, '200 OK', due + 410, 800);
      assert.equal(up.outcome, 'closed');
      assert.deepEqual(up.state, { kind: 'closed' });
      assert.equal(up.transition?.worker, 'w2:2');
      assert.equal((await store.tryProbe(TARGET, 'w1:1', due + 500, 5_000)).lease, 'not-open');
      const [info] = await store.list();
      assert.deepEqual([info?.failuresInWindow, info?.lastTransition?.to], [0, 'closed'], 'closing clears the evidence window');
    });

    it('reset of an id the fleet never saw gives BREAKER_NOT_FOUND and writes nothing', async () => {
      const store = await h.store(freshKeys());
      await assert.rejects(store.reset('udp:10.9.9.9:5060', 'alice', 'cleanup'), (err: unknown) => isMwiError(err, ErrorCodes.BREAKER_NOT_FOUND));
      assert.deepEqual(await store.list(), []);
      assert.deepEqual(await store.transitions(10), []);
    });

    it('a garbled breaker hash reads as closed and can still trip', async () => {
      const keys = freshKeys();
      const store = await h.store(keys);
      const admin = await createStoreClient({ url: redis.url });
      try {
        await admin.hset(keys.breaker(TARGET), { kind: 'ajar', since: 'yesterday', seq: 'many' });
        assert.deepEqual((await store.read([TARGET]))[0]?.state, { kind: 'closed' });
        assert.equal((await store.report(TARGET, Date.now(), 0, 3, 'timeout', 'w1:1')).state.kind, 'open');
      } finally {
        admin.disconnect();
      }
    });
  });

  describe('two workers', () => {
    it('a local trip stops this worker at once, and the other worker sees it within one second', async (t) => {
      const keys = freshKeys();
      // The slowest periodic re-read: seeing the trip sooner than it takes the pushed announcement.
      const a = await h.worker('host-a:1', keys, { ...NO_PROBES, syncMs: 1_000 });
      const b = await h.worker('host-b:2', keys, { ...NO_PROBES, syncMs: 1_000 });
      a.breakers.register(TARGET, DOWN);
      b.breakers.register(TARGET, DOWN);
      await sleep(SETTINGS.syncMs * 2); // both subscribed and synced
      a.breakers.record(TARGET, { ok: false, reason: 'timeout' });
      a.breakers.record(TARGET, { ok: false, reason: 'timeout' });
      assert.equal(a.breakers.state(TARGET).kind, 'closed');
      const trippedAt = performance.now();
      a.breakers.record(TARGET, { ok: false, reason: 'timeout' });
      assert.equal(a.breakers.state(TARGET).kind, 'open', 'synchronously, before Redis answered');
      await waitFor(() => b.breakers.state(TARGET).kind === 'open', 2_000, 'worker B to see the trip');
      const seenMs = performance.now() - trippedAt;
      assert.ok(seenMs < 1_000, `worker B saw the trip after ${seenMs.toFixed(1)} ms`);
      // B's last re-read was just before the trip, its next one ~900 ms after: only the channel is this fast.
      assert.ok(seenMs < 500, `pushed over the channel, not found by the periodic re-read (${seenMs.toFixed(1)} ms)`);
      t.diagnostic(`worker B saw the trip ${seenMs.toFixed(1)} ms after worker A recorded it`);
      assert.deepEqual(a.transitions.map((t) => [t.to, t.local, t.worker]), [['open', true, 'host-a:1']]);
      assert.deepEqual(b.transitions.map((t) => [t.to, t.local, t.worker, t.reason]), [['open', false, 'host-a:1', 'timeout']]);
      assert.equal(a.logs.filter((l) => l.msg === 'breaker opened' && l.level === 'info').length, 1);
      assert.equal(b.logs.filter((l) => l.msg === 'breaker opened' && l.level === 'info').length, 1);
      const [info] = await a.breakers.list();
      assert.deepEqual([info?.id, info?.state.kind, info?.failuresInWindow, info?.lastTransition?.worker], [TARGET, 'open', 3, 'host-a:1']);
    });

    it('evidence of both workers adds up to a fleet-wide trip neither would make alone', async () => {
      const keys = freshKeys();
      const a = await h.worker('host-a:1', keys, NO_PROBES);
      const b = await h.worker('host-b:2', keys, NO_PROBES);
      a.breakers.register(TARGET, DOWN);
      b.breakers.register(TARGET, DOWN);
      for (let i = 0; i < 2; i++) a.breakers.record(TARGET, { ok: false, reason: 'timeout' });
      await waitFor(async () => (await a.breakers.list())[0]?.failuresInWindow === 2, 2_000, 'A evidence flushed');
      b.breakers.record(TARGET, { ok: false, reason: '503' });
      assert.equal(b.breakers.state(TARGET).kind, 'closed', 'one local failure does not trip B locally');
      await waitFor(() => a.breakers.state(TARGET).kind === 'open' && b.breakers.state(TARGET).kind === 'open', 2_000, 'fleet trip');
      assert.deepEqual(b.transitions.map((t) => [t.to, t.local, t.reason]), [['open', true, '503']]);
      assert.deepEqual(a.transitions.map((t) => [t.to, t.local]), [['open', false]]);
    });

    it('failures in a row trip the fleet even after a busy window of successes; a success in between restarts the run', async () => {
      const keys = freshKeys();
      const a = await h.worker('host-a:1', keys, { ...NO_PROBES, consecutiveFailures: 5 });
      const b = await h.worker('host-b:2', keys, { ...NO_PROBES, consecutiveFailures: 5 });
      a.breakers.register(TARGET, DOWN);
      b.breakers.register(TARGET, DOWN);
      for (let i = 0; i < 200; i++) a.breakers.record(TARGET, { ok: true });
      for (let i = 0; i < 3; i++) a.breakers.record(TARGET, { ok: false, reason: 'timeout' });
      a.breakers.record(TARGET, { ok: true });
      await waitFor(async () => (await a.breakers.list())[0]?.failuresInWindow === 3, 2_000, 'A evidence flushed');
      // Three in a row on B (the fleet run is 3: A's success ended A's run), then two more on A: five in a row.
      for (let i = 0; i < 3; i++) b.breakers.record(TARGET, { ok: false, reason: 'timeout' });
      await waitFor(async () => (await a.breakers.list())[0]?.failuresInWindow === 6, 2_000, 'B evidence flushed');
      assert.equal(a.breakers.state(TARGET).kind, 'closed', 'the window ratio (6 of 207) alone does not trip');
      for (let i = 0; i < 2; i++) a.breakers.record(TARGET, { ok: false, reason: 'timeout' });
      await waitFor(() => a.breakers.state(TARGET).kind === 'open' && b.breakers.state(TARGET).kind === 'open', 2_000, 'fleet trip by the run');
      const [info] = await a.breakers.list();
      assert.equal(info?.okInWindow, 201);
    });

    it('ok evidence keeps the breaker closed on every worker', async () => {
      const keys = freshKeys();
      const a = await h.worker('host-a:1', keys, NO_PROBES);
      a.breakers.register(TARGET, DOWN);
      for (let i = 0; i < 10; i++) a.breakers.record(TARGET, { ok: true });
      for (let i = 0; i < 5; i++) a.breakers.record(TARGET, { ok: false, reason: 'timeout' });
      assert.equal(a.breakers.state(TARGET).kind, 'closed');
      await waitFor(async () => (await a.breakers.list())[0]?.failuresInWindow === 5, 2_000, 'evidence flushed');
      const [info] = await a.breakers.list();
      assert.deepEqual([info?.state.kind, info?.okInWindow], ['closed', 10]);
      assert.equal(a.breakers.state(TARGET).kind, 'closed');
      assert.deepEqual(a.transitions, []);
    });

    it('only one probe runs at a time fleet-wide, even with both workers trying', async () => {
      const keys = freshKeys();
      let running = 0;
      let maxRunning = 0;
      let probes = 0;
      const slowDown = async (): Promise<ProbeResult> => {
        probes++;
        running++;
        maxRunning = Math.max(maxRunning, running);
        await sleep(150);
        running--;
        return { up: false, reason: 'OPTIONS timed out' };
      };
      const a = await h.worker('host-a:1', keys, { probeBaseMs: 100, probeMaxMs: 1_000 }, () => 0);
      const b = await h.worker('host-b:2', keys, { probeBaseMs: 100, probeMaxMs: 1_000 }, () => 0);
      a.breakers.register(TARGET, slowDown);
      b.breakers.register(TARGET, slowDown);
      const store = await h.store(keys);
      await store.report(TARGET, Date.now(), 0, 3, 'timeout', 'elsewhere:9');
      await waitFor(() => probes >= 4, 5_000, 'four probes');
      assert.equal(maxRunning, 1);
    });

    it('a successful probe closes the breaker; only the prober sees local: true', async () => {
      const keys = freshKeys();
      const calls = { a: 0, b: 0 };
      const a = await h.worker('host-a:1', keys);
      const b = await h.worker('host-b:2', keys);
      a.breakers.register(TARGET, () => {
        calls.a++;
        return UP();
      });
      b.breakers.register(TARGET, () => {
        calls.b++;
        return UP();
      });
      await sleep(SETTINGS.syncMs * 2);
      const store = await h.store(keys);
      await store.report(TARGET, Date.now(), 0, 3, 'timeout', 'elsewhere:9');
      await waitFor(() => [a, b].every((w) => w.transitions.some((t) => t.to === 'closed')), 5_000, 'both workers to see the close');
      assert.equal(calls.a + calls.b, 1, `probes: ${JSON.stringify(calls)}`);
      const prober = calls.a === 1 ? a : b;
      const other = prober === a ? b : a;
      const closeOf = (w: Worker) => w.transitions.find((t) => t.to === 'closed');
      assert.deepEqual([closeOf(prober)?.local, closeOf(prober)?.worker, closeOf(prober)?.reason], [true, prober.name, '200 OK']);
      assert.deepEqual([closeOf(other)?.local, closeOf(other)?.worker], [false, prober.name]);
      assert.deepEqual(other.transitions.map((t) => t.to), ['open', 'closed']);
    });

    it('failed probes grow the interval between probes', async () => {
      const keys = freshKeys();
      const startedAt: number[] = [];
      const a = await h.worker('host-a:1', keys, { probeBaseMs: 100, probeMaxMs: 1_000 }, () => 1);
      a.breakers.register(TARGET, () => {
        startedAt.push(performance.now());
        return DOWN();
      });
      a.breakers.record(TARGET, { ok: false, reason: 'timeout' });
      a.breakers.record(TARGET, { ok: false, reason: 'timeout' });
      a.breakers.record(TARGET, { ok: false, reason: 'timeout' });
      await waitFor(() => startedAt.length >= 4, 5_000, 'four probes');
      const gapsMs = startedAt.slice(1).map((t, i) => t - (startedAt[i] ?? 0));
      // Waits of 200, 400 and 800 ms, each observed within one syncMs tick.
      gapsMs.forEach((gap, i) => {
        const expected = 100 * 2 ** (i + 1);
        assert.ok(gap >= expected - 5 && gap < expected + SETTINGS.syncMs + 100, `gaps ${gapsMs.map(Math.round).join(', ')} ms`);
      });
      const [info] = await a.breakers.list();
      assert.ok(info?.state.kind === 'open' && info.state.failedProbes >= 3, JSON.stringify(info?.state));
    });

    it('isolate holds the breaker open on every worker with no probes until reset', async () => {
      const keys = freshKeys();
      let probes = 0;
      const countingUp = () => {
        probes++;
        return UP();
      };
      const a = await h.worker('host-a:1', keys);
      const b = await h.worker('host-b:2', keys);
      a.breakers.register(TARGET, countingUp);
      b.breakers.register(TARGET, countingUp);
      await sleep(SETTINGS.syncMs * 2);
      await a.breakers.isolate(TARGET, 'alice', 'maintenance window');
      assert.equal(a.breakers.state(TARGET).kind, 'isolated', 'at once on the isolating worker');
      await waitFor(() => b.breakers.state(TARGET).kind === 'isolated', 1_000, 'B to see the isolation');
      // Evidence that would trip (or close) a normal breaker changes nothing.
      for (let i = 0; i < 5; i++) b.breakers.record(TARGET, { ok: false, reason: 'timeout' });
      for (let i = 0; i < 5; i++) b.breakers.record(TARGET, { ok: true });
      await sleep(10 * SETTINGS.syncMs); // several probe periods (probeBaseMs 100)
      assert.equal(probes, 0);
      assert.deepEqual([a.breakers.state(TARGET).kind, b.breakers.state(TARGET).kind], ['isolated', 'isolated']);

      await b.breakers.reset(TARGET, 'bob', 'maintenance over');
      assert.equal(b.breakers.state(TARGET).kind, 'closed');
      await waitFor(() => a.breakers.state(TARGET).kind === 'closed', 1_000, 'A to see the reset');
      assert.deepEqual(b.transitions.map((t) => [t.to, t.actor, t.local]), [['isolated', 'alice', false], ['closed', 'bob', true]]);
      assert.deepEqual(a.transitions.map((t) => [t.to, t.actor, t.local, t.reason]), [['isolated', 'alice', true, 'maintenance window'], ['closed', 'bob', false, 'maintenance over']]);
      assert.equal(a.logs.filter((l) => l.msg === 'breaker reset').length, 1);
      assert.equal(probes, 0);
    });

    it('reset of an unknown id rejects with BREAKER_NOT_FOUND', async () => {
      const a = await h.worker('host-a:1', freshKeys());
      await assert.rejects(a.breakers.reset('udp:10.9.9.9:5060', 'alice', 'typo'), (err: unknown) => isMwiError(err, ErrorCodes.BREAKER_NOT_FOUND));
    });
  });
});

describe('fleet breakers while Redis is away', { timeout: 60_000 }, () => {
  let redis: RedisHandle;
  const h = makeHarness(() => redis.url);
  const unhandled: unknown[] = [];
  const onUnhandled = (err: unknown) => unhandled.push(err);

  before(async () => {
    redis = await startRedis({ label: 'breaker-outage' });
    process.on('unhandledRejection', onUnhandled);
  });
  after(async () => {
    process.off('unhandledRejection', onUnhandled);
    await h.closeAll();
    await redis?.dispose();
  });

  it('local evidence opens the local breaker without Redis, nothing throws, and a restart resyncs the fleet', async () => {
    const keys = freshKeys();
    let probesWhileDown = 0;
    const a = await h.worker('host-a:1', keys, { probeBaseMs: 100, probeMaxMs: 1_000 });
    const b = await h.worker('host-b:2', keys, NO_PROBES);
    a.breakers.register(TARGET, () => {
      probesWhileDown++;
      return DOWN();
    });
    b.breakers.register(TARGET, DOWN);
    await sleep(SETTINGS.syncMs * 2);

    await redis.kill9();
    await waitFor(() => a.logs.some((l) => l.level === 'warn' && l.msg.startsWith('Redis unreachable')), 2_000, 'A to notice the outage');
    for (let i = 0; i < 3; i++) a.breakers.record(TARGET, { ok: false, reason: 'timeout' });
    assert.equal(a.breakers.state(TARGET).kind, 'open');
    assert.equal(b.breakers.state(TARGET).kind, 'closed');
    await waitFor(() => probesWhileDown >= 2, 3_000, 'local probes while Redis is away');
    assert.equal(a.breakers.state(TARGET).kind, 'open', 'failed local probes keep it open');
    await assert.rejects(a.breakers.list(), (err: unknown) => isMwiError(err, ErrorCodes.REDIS_UNAVAILABLE));

    await redis.restart();
    // The restarted Redis is empty: A's unflushed trip evidence reaches it and trips the fleet.
    await waitFor(() => b.breakers.state(TARGET).kind === 'open', 10_000, 'B to see the trip after the restart');
    const [info] = await a.breakers.list();
    assert.deepEqual([info?.state.kind, info?.failuresInWindow, info?.lastTransition?.worker], ['open', 3, 'host-a:1']);
    assert.equal(a.logs.filter((l) => l.level === 'warn' && l.msg.startsWith('Redis unreachable')).length, 1, 'the outage is logged once');
    assert.ok(a.logs.some((l) => l.msg.startsWith('Redis reachable again')));
    assert.deepEqual(a.transitions.map((t) => [t.to, t.local]), [['open', true]]);
    assert.deepEqual(unhandled, []);
  });

  it('after an outage, a state changed behind a worker\'s back is taken from Redis', async () => {
    const keys = freshKeys();
    const a = await h.worker('host-a:1', keys, NO_PROBES);
    a.breakers.register(TARGET, DOWN);
    await sleep(SETTINGS.syncMs * 2);
    await redis.kill9();
    await waitFor(() => a.logs.some((l) => l.msg.startsWith('Redis unreachable')), 2_000, 'A to notice the outage');
    await redis.restart();
    // Another process isolates the target before A reconnects (ioredis backs off up to 2 s).
    const store = await h.store(keys);
    await store.isolate(TARGET, 'alice', 'while A was away');
    await waitFor(() => a.breakers.state(TARGET).kind === 'isolated', 10_000, 'A to resync');
    assert.deepEqual(a.transitions.map((t) => [t.to, t.actor, t.local]), [['isolated', 'alice', false]]);
    assert.deepEqual(unhandled, []);
  });
});
