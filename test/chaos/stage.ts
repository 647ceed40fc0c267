/**
 * The shared set-up of the chaos scenarios, all real processes on loopback: a redis-server, a
 * Kamailio presence server (memory storage) optionally behind a recording UDP relay, the HTTP API
 * as its own `mwi start --no-workers` process, and delivery worker processes
 * (workers/delivery-worker.ts). Every process is watched for exits nobody asked for.
 */
import path from 'node:path';

import type { Redis } from 'ioredis';

import { MwiClient } from '../../src/client/mwi-client.ts';
import { storeKeys } from '../../src/store/keys.ts';
import { RedisMailboxStore } from '../../src/store/redis-mailbox-store.ts';
import { createStoreClient } from '../../src/store/store-client.ts';
import { startKamailio, type KamailioHandle } from '../harness/kamailio.ts';
import { REPO_ROOT, type ManagedProcess } from '../harness/process.ts';
import { startRedis, type RedisHandle } from '../harness/redis.ts';
import { startUdpRelay, type UdpRelay } from '../harness/udp-relay.ts';
import { spawnApiProcess } from '../support/api-process.ts';
import { spawnDeliveryWorker } from '../support/delivery-worker-process.ts';
import { pollUntil } from '../support/wait-for.ts';
import { ProcessWatch } from './process-watch.ts';
import type { ChaosContext } from './types.ts';
import type { UpdateLedger } from './load.ts';
import { kamailioHoldings, readPatiently, verifyLatest, type VerifyReport } from './verify.ts';

export const PRODUCER_TOKEN = 'chaos-producer-token';
export const VIEWER_TOKEN = 'chaos-viewer-token';
export const OPERATOR_TOKEN = 'chaos-operator-token';
/** A Node process loading the whole runner can take this long on a busy 2-core machine. */
const START_TIMEOUT_MS = 120_000;
const START_ATTEMPTS = 5;
/** Node's compile cache for the processes started here: a replacement worker then starts on cached code (kill-workers starts 100). */
const NODE_ENV = { NODE_COMPILE_CACHE: path.join(REPO_ROOT, '.tmp', 'node-compile-cache') };

export interface StageOptions {
  label: string;
  /** Redis with AOF (appendfsync everysec), for restarts that must keep the data. */
  aof?: boolean;
  /** A UDP relay in front of Kamailio records every request that reached it; the target is then the relay. */
  relay?: boolean;
  /** MWI_* settings every worker gets on top of the chaos defaults. */
  workerEnv?: Record<string, string>;
  /** Worker processes started with the API (labels w0, w1, ...). Default 0. */
  workers?: number;
  /** Settings of worker i on top of workerEnv. */
  workerEnvOf?: (i: number) => Record<string, string>;
}

export interface Stage {
  readonly prefix: string;
  readonly redis: RedisHandle;
  readonly kam: KamailioHandle;
  readonly relay: UdpRelay | undefined;
  /** The publish target of every update: the relay when there is one, else Kamailio (UDP). */
  readonly target: string;
  readonly apiUrl: string;
  /** Producer client of the API process. */
  readonly client: MwiClient;
  /** The runner's store, read directly (dirty count, ETags) through its own client. */
  readonly store: RedisMailboxStore;
  readonly watch: ProcessWatch;
  /** The workers started with the stage (StageOptions.workers). */
  readonly workers: readonly ManagedProcess[];
  /** Worker starts that failed with exit 69 (Redis not reachable in time) and were tried again. */
  readonly startRetries: readonly string[];
  /** A delivery worker process, watched; `env` on top of the stage's worker settings. */
  spawnWorker(label: string, env?: Record<string, string>): Promise<ManagedProcess>;
  /** Milliseconds until no mailbox is dirty, or undefined if that did not happen within `timeoutMs` (Redis errors count as "not yet"). */
  drained(timeoutMs: number): Promise<number | undefined>;
  /**
   * The end of every scenario: waits for the queue to drain (at most 60 s, and never past
   * `deadline`, a performance.now() time), then compares every accepted version with Kamailio.
   */
  settle(ledger: UpdateLedger, deadline: number): Promise<Settled>;
}

export interface Settled {
  /** Undefined: not drained in time. */
  drainMs: number | undefined;
  report: VerifyReport;
  /** Set when the queue did not drain in time (a broken bound). */
  problem?: string;
}

const DRAIN_LIMIT_MS = 60_000;

/** Chaos defaults: short timeouts and retries so that every fault resolves within the scenario's bound. */
function workerDefaults(redisUrl: string, prefix: string): Record<string, string> {
  return {
    MWI_REDIS__URL: redisUrl,
    MWI_REDIS__KEY_PREFIX: prefix,
    MWI_LOG__LEVEL: 'info',
    MWI_SIP__TRANSACTION_TIMEOUT_MS: '2000',
    MWI_DELIVERY__LEASE_MS: '6000',
    MWI_DELIVERY__RETRY_BASE_MS: '200',
    MWI_DELIVERY__RETRY_MAX_MS: '2000',
    MWI_DELIVERY__CONCURRENCY: '50',
    MWI_DELIVERY__BATCH_SIZE: '100',
    MWI_DELIVERY__SHUTDOWN_DEADLINE_MS: '3000',
    MWI_RATE__INITIAL_PER_SEC: '500',
  };
}

let stages = 0;

/** Starts everything; the runner tears it down after the scenario (ctx.defer), processes first. */
export async function startStage(ctx: ChaosContext, o: StageOptions): Promise<Stage> {
  const prefix = `{chaos-${o.label}-${process.pid}-${++stages}}`;
  const watch = new ProcessWatch();
  const parts: { redis?: RedisHandle; kam?: KamailioHandle; relay?: UdpRelay; storeRedis?: Redis } = {};
  let tornDown = false;
  ctx.defer(async () => {
    tornDown = true;
    await watch.killAll();
    parts.storeRedis?.disconnect();
    await parts.relay?.close();
    await parts.kam?.stop();
    await parts.redis?.dispose();
  });
  const [redis, kam] = await Promise.all([
    startRedis({ label: `chaos-${o.label}`, ...(o.aof ? { appendonly: true, appendfsync: 'everysec' as const } : {}) }).then((r) => (parts.redis = r)),
    startKamailio({ storage: 'memory', label: `chaos-${o.label}` }).then((k) => (parts.kam = k)),
  ]);
  const relay = o.relay ? (parts.relay = await startUdpRelay({ host: kam.host, port: kam.port })) : undefined;
  const target = relay?.uri ?? kam.udpUri;

  const env = { ...NODE_ENV, ...workerDefaults(redis.url, prefix), ...o.workerEnv };
  const startRetries: string[] = [];
  // A worker that cannot reach Redis at start exits 69 by design (a supervisor restarts it); on a
  // starved host its 2 s connect or 1 s ready check can time out: start it again, and report it.
  const spawnWorker = async (label: string, extra: Record<string, string> = {}): Promise<ManagedProcess> => {
    for (let attempt = 1; ; attempt++) {
      try {
        const proc = watch.watch(await spawnDeliveryWorker(`chaos-${o.label}-${label}`, { ...env, ...extra }, START_TIMEOUT_MS), `worker ${label}`);
        // A start that outlived its scenario (the stage failed or timed out meanwhile) must not linger into the next one.
        if (tornDown) await watch.kill9(proc);
        return proc;
      } catch (err) {
        if (tornDown || attempt >= START_ATTEMPTS || !/exited before it was ready \(code 69,/.test(String(err))) throw err;
        startRetries.push(`worker ${label} exited 69 while starting (Redis not reachable in time); started again`);
      }
    }
  };
  // The API and the first workers start side by side: loading the runner is most of a scenario's set-up.
  const [api, workers] = await Promise.all([
    spawnApiProcess(
      `chaos-${o.label}`,
      {
        ...NODE_ENV,
        MWI_REDIS__URL: redis.url,
        MWI_REDIS__KEY_PREFIX: prefix,
        MWI_LOG__LEVEL: 'info',
        MWI_API__PRODUCER_TOKEN: PRODUCER_TOKEN,
        MWI_API__VIEWER_TOKEN: VIEWER_TOKEN,
        MWI_API__OPERATOR_TOKEN: OPERATOR_TOKEN,
      },
      START_TIMEOUT_MS,
    ).then((a) => {
      watch.watch(a.proc, 'API process');
      return a;
    }),
    Promise.all(Array.from({ length: o.workers ?? 0 }, (_, i) => spawnWorker(`w${i}`, o.workerEnvOf?.(i)))),
  ]);
  const storeRedis = (parts.storeRedis = await createStoreClient({ url: redis.url }));
  const store = new RedisMailboxStore({ redis: storeRedis, keys: storeKeys(prefix) });
  const drained = (timeoutMs: number): Promise<number | undefined> =>
    pollUntil(
      timeoutMs,
      async () => {
        try {
          return (await store.dirtyCount()) === 0;
        } catch {
          return false;
        }
      },
      100,
    );

  return {
    prefix,
    redis,
    kam,
    relay,
    target,
    apiUrl: api.url,
    client: new MwiClient({ baseUrl: api.url, token: PRODUCER_TOKEN, timeoutMs: 5_000 }),
    store,
    watch,
    workers,
    startRetries,
    spawnWorker,
    drained,
    async settle(ledger, deadline) {
      const waitMs = Math.max(1_000, Math.min(DRAIN_LIMIT_MS, deadline - performance.now()));
      const drainMs = await drained(waitMs);
      const dirty = drainMs === undefined ? await store.dirtyCount().catch(() => -1) : 0;
      const report = await verifyLatest({ ledger, store, holdings: await readPatiently(() => kamailioHoldings(kam)) });
      return { drainMs, report, ...(drainMs === undefined ? { problem: `${dirty} mailboxes still dirty ${Math.round(waitMs / 1000)} s after the faults ended` } : {}) };
    },
  };
}
