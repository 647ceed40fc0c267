// Fleet-wide pacing against a real private redis-server: four gates with their own connections
// (four workers) share each target's rate, in-flight cap and hold; the adaptive controller finds
// a simulated server's capacity. Rates are measured from the grants Redis made (the `now` each
// acquire carried), not from how fast this busy test process happens to run.
import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';
import { after, before, describe, it } from 'node:test';

import type { Redis } from 'ioredis';

import { defaultConfig } from '../../config/schema.ts';
import type { RateSettings } from '../../src/rate/aimd.ts';
import type { AcquireResult, RateStore, WorkerReport } from '../../src/rate/rate-store.ts';
import { RedisRateStore } from '../../src/rate/redis-rate-store.ts';
import { FleetTargetGate } from '../../src/rate/target-gate.ts';
import type { SendFeedback } from '../../src/rate/types.ts';
import { storeKeys } from '../../src/store/keys.ts';
import { createStoreClient } from '../../src/store/store-client.ts';
import { startRedis, type RedisHandle } from '../harness/redis.ts';

const TARGET = 'udp:127.0.0.1:5060';

interface Grant {
  atMs: number;
  n: number;
}

/** Records every grant Redis makes, at the time the acquire ran. */
class RecordingStore implements RateStore {
  readonly inner: RedisRateStore;
  readonly grants: Grant[];

  constructor(inner: RedisRateStore, grants: Grant[]) {
    this.inner = inner;
    this.grants = grants;
  }

  async acquire(id: string, want: number, nowMs: number, worker: string, workerInFlight: number): Promise<AcquireResult> {
    const r = await this.inner.acquire(id, want, nowMs, worker, workerInFlight);
    if (r.granted > 0) this.grants.push({ atMs: nowMs, n: r.granted });
    return r;
  }
  report(id: string, worker: string, report: WorkerReport, nowMs: number) {
    return this.inner.report(id, worker, report, nowMs);
  }
  hold(id: string, untilMs: number, reason: string) {
    return this.inner.hold(id, untilMs, reason);
  }
  slowStart(id: string) {
    return this.inner.slowStart(id);
  }
  overloadControl(id: string, percent: number, validityMs: number) {
    return this.inner.overloadControl(id, percent, validityMs);
  }
  snapshot(id: string) {
    return this.inner.snapshot(id);
  }
}

/** Most grants in any `spanMs` window. */
function maxInAnyWindow(grants: readonly Grant[], spanMs: number): number {
  const sorted = [...grants].sort((a, b) => a.atMs - b.atMs);
  let best = 0;
  let sum = 0;
  let lo = 0;
  for (const g of sorted) {
    sum += g.n;
    while ((sorted[lo]?.atMs ?? Infinity) <= g.atMs - spanMs) sum -= sorted[lo++]?.n ?? 0;
    best = Math.max(best, sum);
  }
  return best;
}

function grantedBetween(grants: readonly Grant[], fromMs: number, toMs: number): number {
  return grants.filter((g) => g.atMs >= fromMs && g.atMs < toMs).reduce((n, g) => n + g.n, 0);
}

const ok = (latencyMs = 1): SendFeedback => ({ latencyMs, result: 'ok', retransmissions: 0 });

describe('fleet-wide rate limits in Redis (four workers)', { timeout: 120_000 }, () => {
  let redis: RedisHandle;
  const clients: Redis[] = [];
  const gates: FleetTargetGate[] = [];
  let fleetNo = 0;

  before(async () => {
    redis = await startRedis({ label: 'rate-redis' });
  });
  after(async () => {
    await Promise.all(gates.map((g) => g.close()));
    for (const c of clients) c.disconnect();
    await redis?.dispose();
  });

  /** `workers` gates, each with its own connection, sharing a fresh key prefix; all grants recorded. */
  async function fleet(settings: RateSettings, workers = 4, opts: { inFlightLiveMs?: number; heartbeatMs?: number } = {}) {
    const keys = storeKeys(`{rate-it-${++fleetNo}}`);
    const grants: Grant[] = [];
    const stores: RedisRateStore[] = [];
    const fleetGates: FleetTargetGate[] = [];
    for (let i = 0; i < workers; i++) {
      const client = await createStoreClient({ url: redis.url });
      clients.push(client);
      const store = new RedisRateStore({ redis: client, settings, keys, ...(opts.inFlightLiveMs === undefined ? {} : { inFlightLiveMs: opts.inFlightLiveMs }) });
      stores.push(store);
      const gate = new FleetTargetGate({ store: new RecordingStore(store, grants), settings, worker: `worker-${i}`, ...(opts.heartbeatMs === undefined ? {} : { heartbeatMs: opts.heartbeatMs }) });
      gates.push(gate);
      fleetGates.push(gate);
    }
    return { gates: fleetGates, stores, grants };
  }

  /** `loops` callers per gate admit until `untilMs`; `use` runs with each permit and returns its feedback. */
  async function hammer(fleetGates: readonly FleetTargetGate[], loops: number, untilMs: number, use: () => SendFeedback | undefined | Promise<SendFeedback | undefined>): Promise<{ admitted: number; refused: number }> {
    let admitted = 0;
    let refused = 0;
    const caller = async (gate: FleetTargetGate): Promise<void> => {
      while (Date.now() < untilMs) {
        const a = await gate.admit(TARGET);
        if (!a.ok) {
          refused++;
          await sleep(Math.max(1, Math.min(a.retryAt, untilMs) - Date.now()));
          continue;
        }
        admitted++;
        a.permit.release(await use());
      }
    };
    await Promise.all(fleetGates.flatMap((g) => Array.from({ length: loops }, () => caller(g))));
    return { admitted, refused };
  }

  it('with rate.maxPerSec=500 (fixed), four workers together never get more than 5% over it in any 1 s window, and get close to it', async () => {
    const settings: RateSettings = { ...defaultConfig().rate, adaptive: false, maxPerSec: 500 };
    const { gates: fleetGates, grants } = await fleet(settings);
    const runMs = 3_000;
    const start = Date.now();
    const { admitted } = await hammer(fleetGates, 25, start + runMs, () => ok());
    const total = grants.reduce((n, g) => n + g.n, 0);
    const busiest = maxInAnyWindow(grants, 1_000);
    assert.ok(busiest <= 500 * 1.05, `busiest 1 s window had ${busiest} grants`);
    assert.ok(total >= 500 * (runMs / 1000) * 0.85, `only ${total} grants in ${runMs} ms`);
    assert.ok(admitted <= total, `${admitted} admissions from ${total} grants`);
  });

  it('with rate.maxInFlight=50, four workers never have more than 50 permits out at once', async () => {
    const settings: RateSettings = { ...defaultConfig().rate, adaptive: false, maxPerSec: 100_000, maxInFlight: 50 };
    const { gates: fleetGates } = await fleet(settings);
    let current = 0;
    let highest = 0;
    const { admitted } = await hammer(fleetGates, 30, Date.now() + 2_000, async () => {
      highest = Math.max(highest, ++current);
      await sleep(5 + Math.random() * 15);
      current--;
      return ok(10);
    });
    assert.ok(highest <= 50, `${highest} permits out at once`);
    assert.ok(highest >= 40, `the cap was never approached (highest ${highest}): the test proves nothing`);
    assert.ok(admitted > 500, `only ${admitted} admissions`);
  });

  it('hold(): no worker is admitted before the hold ends, then the target slow-starts at rate.initialPerSec', async () => {
    const settings: RateSettings = { ...defaultConfig().rate, adaptive: true, initialPerSec: 50 };
    const { gates: fleetGates, stores, grants } = await fleet(settings);
    const [holder, ...others] = fleetGates;
    assert.ok(holder);
    // Warm up past slow start so the restart is visible.
    await hammer(fleetGates, 5, Date.now() + 1_500, () => ok());
    const before = await stores[0]?.snapshot(TARGET);
    assert.ok(before !== undefined && before.ratePerSec > 50, `warm-up rate ${before?.ratePerSec}`);

    const holdUntil = Date.now() + 800;
    await holder.hold(TARGET, holdUntil, '503 Retry-After: 1');
    const heldAt = Date.now();
    const refusal = await others[0]?.admit(TARGET);
    assert.ok(refusal !== undefined && !refusal.ok && refusal.retryAt >= holdUntil, `admitted during the hold: ${JSON.stringify(refusal)}`);
    await hammer(others, 5, holdUntil + 1_200, () => ok());

    assert.equal(grantedBetween(grants, heldAt, holdUntil), 0, 'nothing granted during the hold');
    const firstAfter = grantedBetween(grants, holdUntil, holdUntil + 400);
    assert.ok(firstAfter >= 1 && firstAfter <= 50 * 0.4 + 3, `${firstAfter} grants in the first 400 ms after the hold (slow start at 50/s)`);
    assert.ok(grantedBetween(grants, holdUntil, holdUntil + 1_200) >= 20, 'admissions resumed after the hold');
  });

  it('adaptive: finds a simulated server\'s capacity (1000/s) without configuration and keeps goodput near it', async (t) => {
    const capacityPerSec = 1_000;
    // A window this large would queue 600 ms at the server (past T1): the rate controller must protect it.
    const settings: RateSettings = { ...defaultConfig().rate, adaptive: true, maxInFlight: 600 };
    const { gates: fleetGates, stores, grants } = await fleet(settings);
    const start = Date.now();
    const server = new SimulatedServer(capacityPerSec);
    const endMs = start + 11_000;
    const samples: Array<{ atMs: number; rate: number }> = [];
    // Slow start overshoots and queues at the server; the first decrease answers it. From then on,
    // once that queue has drained (at most maxInFlight requests, at capacity minus the decreased
    // rate), no request may wait past T1. When the decrease comes depends on the machine's load,
    // so the window of that check starts from it, not from a fixed time.
    let firstDecreaseAtMs: number | undefined;
    let previous: number | undefined;
    const sampler = (async () => {
      while (Date.now() < endMs) {
        await sleep(250);
        const now = Date.now();
        const rate = (await stores[0]?.snapshot(TARGET))?.ratePerSec ?? 0;
        if (firstDecreaseAtMs === undefined && previous !== undefined && rate < previous) {
          firstDecreaseAtMs = now;
          server.countLateFrom(now + Math.min(3_000, (1000 * settings.maxInFlight) / Math.max(1, capacityPerSec - rate)));
        }
        previous = rate;
        samples.push({ atMs: now, rate });
      }
    })();
    await hammer(fleetGates, 200, endMs, async () => {
      const f = server.send(Date.now());
      await sleep(f.latencyMs);
      return f;
    });
    await sampler;

    // Steady state: from 4 s, or 2 s after the first decrease if that came later (a loaded
    // machine delays it; CI once measured 838/s admitted because the window began before it).
    const steadyFromMs = Math.max(start + 4_000, (firstDecreaseAtMs ?? start) + 2_000);
    const allowed = samples.filter((x) => x.atMs >= steadyFromMs).map((x) => x.rate);
    const meanAllowed = allowed.reduce((a, b) => a + b, 0) / allowed.length;
    const steadyPerSec = grantedBetween(grants, steadyFromMs, endMs) / ((endMs - steadyFromMs) / 1000);
    const decreasedAfter = firstDecreaseAtMs === undefined ? 'never' : `${firstDecreaseAtMs - start} ms`;
    const detail = `from ${steadyFromMs - start} ms: allowed mean ${Math.round(meanAllowed)}/s [${allowed.map(Math.round).join(' ')}], admitted ${Math.round(steadyPerSec)}/s, first decrease after ${decreasedAfter}, server: ${JSON.stringify(server.stats)}`;
    t.diagnostic(detail);
    // The controller can only react once the fleet sends more than the server takes; a loaded
    // machine delays that overshoot (CI: the callers reached it after 6 s), so the reaction is
    // timed from it: the first 250 ms in which grants ran 10% above the capacity.
    const overshootAtMs = grants
      .map((g) => g.atMs)
      .sort((a, b) => a - b)
      .find((at) => grantedBetween(grants, at - 250, at) * 4 > 1.1 * capacityPerSec);
    assert.ok(overshootAtMs !== undefined, `the fleet never sent above the capacity: ${detail}`);
    assert.ok(firstDecreaseAtMs !== undefined && firstDecreaseAtMs - overshootAtMs <= 3_000, `the controller reacted within 3 s of the overshoot (at ${overshootAtMs - start} ms): ${detail}`);
    assert.ok(firstDecreaseAtMs - start <= 8_000, `the controller found the capacity within 8 s: ${detail}`);
    assert.ok(meanAllowed >= 0.6 * capacityPerSec && meanAllowed <= 1.2 * capacityPerSec, detail);
    assert.ok(steadyPerSec >= 0.85 * capacityPerSec, detail);
    assert.equal(server.stats.timeouts, 0, detail);
    assert.ok(server.stats.lateRequests > 0, detail);
    // Once the overshoot's queue has drained, nothing is late.
    assert.ok(server.stats.lateRetransmissions <= server.stats.lateRequests * 0.01, detail);
  });

  it("a crashed worker's in-flight count ages out; a live worker's is kept by its heartbeat", async () => {
    const settings: RateSettings = { ...defaultConfig().rate, adaptive: false, maxPerSec: 10_000, maxInFlight: 30, maxWaitMs: 200 };
    const { gates: [live, other], stores } = await fleet(settings, 2, { inFlightLiveMs: 1_000, heartbeatMs: 200 });
    assert.ok(live && other && stores[0]);

    // A live worker holding every slot for longer than the liveness keeps them.
    const permits = [];
    for (let i = 0; i < 30; i++) {
      const a = await live.admit(TARGET);
      assert.ok(a.ok);
      permits.push(a.permit);
    }
    await sleep(1_500);
    assert.equal((await other.admit(TARGET)).ok, false, "a live worker's slots did not age out");
    for (const p of permits) p.release(ok());
    await sleep(300); // its next report (every 100 ms) gives the slots back

    // A worker that takes every slot and dies never reports again.
    const crashedAt = Date.now();
    const taken = await stores[0].acquire(TARGET, 30, crashedAt, 'crashed-worker', 0);
    assert.equal(taken.granted, 30);
    assert.equal((await other.admit(TARGET)).ok, false, 'the crashed worker still counts at first');
    let admittedAt: number | undefined;
    while (admittedAt === undefined && Date.now() < crashedAt + 5_000) {
      const a = await other.admit(TARGET);
      if (a.ok) {
        admittedAt = Date.now();
        a.permit.release(ok());
      }
    }
    assert.ok(admittedAt !== undefined, 'never admitted after the crash');
    assert.ok(admittedAt - crashedAt >= 900, `admitted ${admittedAt - crashedAt} ms after the crash, before its count aged out`);
  });
});

/**
 * A presence server of fixed capacity serving one FIFO queue: latency grows with the queue;
 * past T1 (500 ms) the client retransmits, past 2 s it gives up (the request is still served).
 * Requests sent from the time given to countLateFrom() on are also counted apart.
 */
class SimulatedServer {
  readonly #serviceMs: number;
  #lateFromMs = Number.POSITIVE_INFINITY;
  #freeAtMs = 0;
  readonly stats = { requests: 0, timeouts: 0, retransmissions: 0, maxLatencyMs: 0, lateRequests: 0, lateRetransmissions: 0 };

  constructor(capacityPerSec: number) {
    this.#serviceMs = 1000 / capacityPerSec;
  }

  /** Requests sent from `atMs` on are also counted apart (lateRequests, lateRetransmissions). */
  countLateFrom(atMs: number): void {
    this.#lateFromMs = atMs;
  }

  send(nowMs: number): SendFeedback {
    this.#freeAtMs = Math.max(nowMs, this.#freeAtMs) + this.#serviceMs;
    const latencyMs = this.#freeAtMs - nowMs;
    const retransmissions = [500, 1_500].filter((t) => t < latencyMs).length;
    this.stats.requests++;
    this.stats.retransmissions += retransmissions;
    this.stats.maxLatencyMs = Math.max(this.stats.maxLatencyMs, Math.round(latencyMs));
    if (nowMs >= this.#lateFromMs) {
      this.stats.lateRequests++;
      this.stats.lateRetransmissions += retransmissions;
    }
    if (latencyMs > 2_000) {
      this.stats.timeouts++;
      return { latencyMs: 2_000, result: 'timeout', retransmissions };
    }
    return { latencyMs, result: 'ok', retransmissions };
  }
}
