/**
 * The runner in one process, as `mwi start` runs it: Redis (redis.url, or a private
 * redis-server) -> SIP sender (ETags in Redis, shared with any other worker) -> delivery (store,
 * queue, workers) -> ingestion -> HTTP API, with one metrics registry for the process (the sweep
 * counts into it, GET /metrics serves it). close() stops them in reverse order within a
 * deadline: the API stops taking updates, deliveries in flight finish, Redis goes last.
 * Signals and exit codes belong to the command (src/cli/start.ts).
 */
import { readFileSync } from 'node:fs';

import type { Config } from '../../config/schema.ts';
import { startApi } from '../api/server.ts';
import { RedisControlPlane } from '../control/redis-control-plane.ts';
import { dashboardOnRedis } from '../dashboard/dashboard-mount.ts';
import { operatorSeams, readinessChecks } from './operator-seams.ts';
import { createReadiness } from '../api/readiness.ts';
import type { GuardedSender } from '../delivery/guarded-sender.ts';
import type { DnsClient } from '../dns/dns-client.ts';
import { deliveryObserver } from '../metrics/delivery-metrics.ts';
import { ResponseMix, observeAll } from '../delivery/response-mix.ts';
import type { DnsStats } from '../dns/types.ts';
import { attachRuntimeCollectors, countRedisReconnects, type QueueDepth, type RuntimeSources } from '../metrics/runtime-collectors.ts';
import type { Clock } from '../clock.ts';
import { createSipSender } from '../delivery/create-sip-sender.ts';
import { startProtections } from '../delivery/start-protections.ts';
import type { MwiSender } from '../delivery/sender.ts';
import { IngestService } from '../ingest/ingest-service.ts';
import { maskUrlCredentials, type Logger } from '../log.ts';
import { createMetrics } from '../metrics/registry.ts';
import { recordSweepRunEnd } from '../metrics/sweep-metrics.ts';
import { startDelivery } from '../queue/delivery-runtime.ts';
import { storeKeys } from '../store/keys.ts';
import type { RedisMailboxStore } from '../store/redis-mailbox-store.ts';
import { RedisPublicationStore } from '../store/redis-publication-store.ts';
import { retryWhileRedisStarts } from '../store/startup-retry.ts';
import { createStoreClient } from '../store/store-client.ts';
import { startSweep, type SweepRuntime } from '../sweep/sweep-runtime.ts';
import { startEmbeddedRedis } from './embedded-redis.ts';
import { ShutdownStack } from './shutdown-stack.ts';

export interface RunnerOptions {
  config: Config;
  log: Logger;
  clock: Clock;
  /** Run delivery workers in this process (false: API only, workers run elsewhere). */
  workers: boolean;
}

export interface Runner {
  /** e.g. http://127.0.0.1:8080 */
  readonly apiUrl: string;
  /** The Redis in use, password masked. */
  readonly redis: string;
  /** The private redis-server's data dir; undefined when redis.url is used. */
  readonly redisDataDir: string | undefined;
  readonly store: RedisMailboxStore;
  /** The sweep (sweep.enabled, in a process with workers: it probes presence servers with their SIP sender). */
  readonly sweep: SweepRuntime | undefined;
  /** Resolves with a reason if the private redis-server dies under the runner; never resolves otherwise. */
  readonly failed: Promise<string>;
  /** Resolves true when everything closed in time and without error. */
  close(deadlineMs: number): Promise<boolean>;
}

/** At most this much of the shutdown budget is kept back for stopping the private redis-server. */
const REDIS_STOP_RESERVE_MS = 2_000;

/** The sender of an API-only process: it never delivers, so it opens no SIP sockets. */
const apiOnlySender: MwiSender = {
  send: () => Promise.reject(new Error('this process runs without delivery workers')),
  probe: () => Promise.reject(new Error('this process runs without delivery workers')),
  close: () => Promise.resolve(),
};

export async function startRunner(opts: RunnerOptions): Promise<Runner> {
  const { config, log, clock } = opts;
  const stack = new ShutdownStack(log);
  const metrics = createMetrics({ collectDefaults: true });
  try {
    let redisUrl = config.redis.url;
    let redisDataDir: string | undefined;
    let failed = new Promise<string>(() => {});
    if (redisUrl === undefined) {
      const redis = await startEmbeddedRedis({ dataDir: config.redis.dataDir, log });
      const reserveMs = Math.min(REDIS_STOP_RESERVE_MS, Math.floor(config.delivery.shutdownDeadlineMs / 4));
      stack.push({ name: 'redis-server', close: (ms) => redis.close(ms), reserveMs });
      redisUrl = redis.url;
      redisDataDir = redis.dataDir;
      failed = redis.died;
    }

    // Redis may come up after us, fail over or answer slowly: start-up steps retry (startup-retry.ts).
    const startup = { log, timeoutMs: config.redis.startupTimeoutMs };
    const url = redisUrl;
    // Pauses, drain and audit: one control plane per process, shared by its API and its workers.
    const opsRedis = await retryWhileRedisStarts('connect', () => createStoreClient({ url, onError: (err) => log.debug({ err }, 'operator store: Redis connection error') }), startup);
    stack.push({ name: 'operator store', close: () => opsRedis.quit().then(() => undefined, () => opsRedis.disconnect()) });
    const control = new RedisControlPlane({ redis: opsRedis, keys: storeKeys(config.redis.keyPrefix), clock, log: log.child({ component: 'control' }) });
    stack.push({ name: 'control plane', close: () => control.close() });
    await control.refresh().catch((err: unknown) => log.warn({ err }, 'could not read pauses at start; they apply as soon as Redis answers'));
    const offOpsReconnects = countRedisReconnects(opsRedis, metrics, 'operator');
    stack.push({ name: 'reconnect counter', close: () => Promise.resolve(offOpsReconnects()) });
    const runtimeSources: RuntimeSources = { control, clock };

    let sender = apiOnlySender;
    let guarded: GuardedSender | undefined;
    let dnsClient: DnsClient | undefined;
    let dnsStats: DnsStats | undefined;
    const responses = new ResponseMix();
    let paused: (() => boolean) | undefined;
    let holdSweeps: (() => string | undefined) | undefined;
    if (opts.workers) {
      const publicationsRedis = await retryWhileRedisStarts('connect the publication store', () => createStoreClient({ url: redisUrl, onError: (err) => log.debug({ err }, 'publication store: Redis connection error') }), startup);
      stack.push({ name: 'publication store', close: () => publicationsRedis.quit().then(() => undefined, () => publicationsRedis.disconnect()) });
      const publications = new RedisPublicationStore({ redis: publicationsRedis, keys: storeKeys(config.redis.keyPrefix) });
      const built = await createSipSender({ config, clock, log, readFile: (p) => readFileSync(p), store: publications });
      stack.push({ name: 'sip sender', close: () => built.sender.close() });
      const protections = await startProtections({ config, clock, log, redis: publicationsRedis, sender: built.sender, dns: built.dns, control, observer: observeAll(deliveryObserver(metrics.delivery), responses) });
      stack.push({ name: 'protections', close: () => protections.close() });
      const offReconnects = countRedisReconnects(publicationsRedis, metrics, 'publications');
      stack.push({ name: 'reconnect counter', close: () => Promise.resolve(offReconnects()) });
      Object.assign(runtimeSources, { gate: protections.gate, breakers: protections.breakers, dnsBreakers: protections.dnsBreakers, dns: built.dns });
      guarded = protections.sender;
      dnsClient = built.dns.client;
      dnsStats = built.dns.stats;
      sender = protections.sender;
      paused = protections.paused;
      holdSweeps = protections.holdSweeps;
    }

    const delivery = await retryWhileRedisStarts('start the queue', () => startDelivery({ config, log, clock, redisUrl, sender, workers: opts.workers, ...(paused ? { paused, control } : {}) }), startup);
    stack.push({ name: 'delivery', close: (ms) => delivery.close(ms) });
    const ingest = new IngestService({
      store: delivery.store,
      scheduler: delivery.scheduler,
      log,
      clock,
      maxBatchUpdates: config.api.maxBatchUpdates,
      defaultPublishTarget: config.targets.defaultPublishTarget,
    });
    let sweep: SweepRuntime | undefined;
    if (config.sweep.enabled && opts.workers) {
      const started = await retryWhileRedisStarts('start the sweep', () => startSweep({
        config,
        log,
        clock,
        redisUrl,
        store: delivery.store,
        scheduler: delivery.scheduler,
        prober: sender,
        ...(holdSweeps ? { holdRuns: holdSweeps } : {}),
        onRunEnd: (end) => recordSweepRunEnd(metrics.sweep, end),
      }), startup);
      stack.push({ name: 'sweep', close: (ms) => started.close(ms) });
      sweep = started;
    } else if (config.sweep.enabled) {
      log.info('sweep.enabled: the sweep runs in the delivery worker processes (it probes presence servers with their SIP sender)');
    }
    const fleet = operatorSeams({ config, redisUrl, redis: opsRedis, clock, store: delivery.store, scheduler: delivery.scheduler, control });
    // Beside the fleet's state: what this process's own deliveries and DNS cache saw.
    const seams = { ...fleet, status: async () => ({ ...(await fleet.status()), responses: responses.snapshot(), ...(dnsStats ? { dnsCache: { ...dnsStats } } : {}) }) };
    const readiness = createReadiness({ clock, checks: () => readinessChecks({ config, redis: opsRedis, sender: guarded, dns: dnsClient }) });
    runtimeSources.readiness = readiness;
    runtimeSources.queueDepth = async () => (await fleet.status()).queue as QueueDepth;
    const detachCollectors = attachRuntimeCollectors(metrics, runtimeSources);
    stack.push({ name: 'metrics collectors', close: () => Promise.resolve(detachCollectors()) });
    const api = await startApi({
      config,
      log,
      ingest,
      store: delivery.store,
      metrics: metrics.registry,
      clock,
      readiness,
      ...seams,
      ...dashboardOnRedis({ redis: opsRedis, keyPrefix: config.redis.keyPrefix }),
    });
    stack.push({ name: 'api', close: () => api.close() });
    return {
      apiUrl: api.url,
      redis: maskUrlCredentials(redisUrl),
      redisDataDir,
      store: delivery.store,
      sweep,
      failed,
      close: (deadlineMs) => stack.close(deadlineMs),
    };
  } catch (err) {
    await stack.close(config.delivery.shutdownDeadlineMs);
    throw err;
  }
}
