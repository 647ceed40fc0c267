#!/usr/bin/env node
/**
 * A delivery worker process: `node workers/delivery-worker.ts`, configured like everything else
 * (MWI_* environment, MWI_CONFIG file). It needs the shared Redis (redis.url): a worker never
 * starts a Redis of its own. SIGTERM or SIGINT: stop taking work, let deliveries in flight finish
 * within delivery.shutdownDeadlineMs, hand back the rest (leases run out, stalled jobs are
 * recovered by other workers), close in reverse order. A second signal exits at once.
 *
 * Exit codes: 0 shut down cleanly; 2 configuration invalid or redis.url unset; 69 Redis not
 * reachable at start (its start-up steps are retried for redis.startupTimeoutMs first); 70 internal
 * error (including a shutdown that overran its deadline).
 */
import { readFileSync } from 'node:fs';

import { loadConfig, readTextFile } from '../config/load.ts';
import type { Config } from '../config/schema.ts';
import { systemClock } from '../src/clock.ts';
import { createSipSender } from '../src/delivery/create-sip-sender.ts';
import { startProtections } from '../src/delivery/start-protections.ts';
import { deliveryObserver } from '../src/metrics/delivery-metrics.ts';
import { startMetricsServer, type MetricsServer } from '../src/metrics/metrics-server.ts';
import { createMetrics } from '../src/metrics/registry.ts';
import { attachRuntimeCollectors, countRedisReconnects } from '../src/metrics/runtime-collectors.ts';
import { ErrorCodes, isMwiError } from '../src/errors.ts';
import { createLogger, maskUrlCredentials } from '../src/log.ts';
import { startDelivery } from '../src/queue/delivery-runtime.ts';
import { storeKeys } from '../src/store/keys.ts';
import { RedisPublicationStore } from '../src/store/redis-publication-store.ts';
import { retryWhileRedisStarts } from '../src/store/startup-retry.ts';
import { createStoreClient } from '../src/store/store-client.ts';
import { startSweep, type SweepRuntime } from '../src/sweep/sweep-runtime.ts';

const EXIT = { OK: 0, CONFIG: 2, UNAVAILABLE: 69, INTERNAL: 70 } as const;
const NAME = 'mwi-delivery-worker';
/** Beyond the delivery deadline, for closing connections and the SIP stack. */
const CLOSE_GRACE_MS = 5_000;

function fail(code: string, message: string): void {
  process.stderr.write(`${NAME}: ${code}: ${message}\n`);
}

function waitForSignal(): Promise<NodeJS.Signals> {
  return new Promise((resolve) => {
    const on = (signal: NodeJS.Signals): void => {
      process.removeListener('SIGTERM', on);
      process.removeListener('SIGINT', on);
      resolve(signal);
    };
    process.on('SIGTERM', on);
    process.on('SIGINT', on);
  });
}

async function main(): Promise<number> {
  let config: Config;
  try {
    config = loadConfig({ env: process.env, readFile: readTextFile });
  } catch (err) {
    if (!isMwiError(err)) throw err;
    fail(err.code, err.message);
    return EXIT.CONFIG;
  }
  const redisUrl = config.redis.url;
  if (redisUrl === undefined) {
    fail(ErrorCodes.REDIS_URL_REQUIRED, 'redis.url is not set (MWI_REDIS__URL or MWI_REDIS__URL_FILE): a delivery worker needs the shared Redis and never starts its own');
    return EXIT.CONFIG;
  }
  const log = createLogger({ level: config.log.level }).child({ process: NAME });
  const clock = systemClock;
  const startup = { log, timeoutMs: config.redis.startupTimeoutMs };

  let publicationsRedis;
  try {
    publicationsRedis = await retryWhileRedisStarts('connect', () => createStoreClient({ url: redisUrl }), startup);
  } catch (err) {
    log.fatal({ err, redis: maskUrlCredentials(redisUrl) }, 'cannot reach Redis');
    return EXIT.UNAVAILABLE;
  }
  const publications = new RedisPublicationStore({ redis: publicationsRedis, keys: storeKeys(config.redis.keyPrefix) });
  const built = await createSipSender({ config, clock, log, readFile: (p) => readFileSync(p), store: publications });
  const metrics = createMetrics({ collectDefaults: true });
  const protections = await startProtections({ config, clock, log, redis: publicationsRedis, sender: built.sender, dns: built.dns, observer: deliveryObserver(metrics.delivery) });
  const detachCollectors = attachRuntimeCollectors(metrics, { gate: protections.gate, breakers: protections.breakers, dnsBreakers: protections.dnsBreakers, dns: built.dns, control: protections.control, clock });
  const offReconnects = countRedisReconnects(publicationsRedis, metrics, 'publications');
  /** A start-up failure: Redis out of reach is exit 69 with one fatal line; anything else propagates. */
  const unreachableRedisOr = (err: unknown): number => {
    if (!isMwiError(err, ErrorCodes.REDIS_UNAVAILABLE)) throw err;
    log.fatal({ err, redis: maskUrlCredentials(redisUrl) }, 'cannot reach Redis');
    return EXIT.UNAVAILABLE;
  };
  let runtime;
  try {
    runtime = await retryWhileRedisStarts('start the queue', () => startDelivery({ config, log, clock, redisUrl, sender: protections.sender, paused: protections.paused, control: protections.control }), startup);
  } catch (err) {
    await protections.close();
    await built.sender.close();
    publicationsRedis.disconnect();
    return unreachableRedisOr(err);
  }
  let sweep: SweepRuntime | undefined;
  if (config.sweep.enabled) {
    try {
      const rt = runtime;
      sweep = await retryWhileRedisStarts('start the sweep', () => startSweep({ config, log, clock, redisUrl, store: rt.store, scheduler: rt.scheduler, prober: protections.sender, holdRuns: protections.holdSweeps }), startup);
    } catch (err) {
      await runtime.close(config.delivery.shutdownDeadlineMs);
      await protections.close();
      await built.sender.close();
      publicationsRedis.disconnect();
      return unreachableRedisOr(err);
    }
  }
  const d = config.delivery;
  let metricsServer: MetricsServer | undefined;
  if (d.metricsPort !== undefined) {
    try {
      metricsServer = await startMetricsServer({ host: config.api.host, port: d.metricsPort, registry: metrics.registry, tokens: { viewer: config.api.viewerToken, operator: config.api.operatorToken } });
    } catch (err) {
      log.fatal({ err, port: d.metricsPort }, 'cannot serve metrics on delivery.metricsPort');
      await sweep?.close(d.shutdownDeadlineMs);
      await runtime.close(d.shutdownDeadlineMs);
      await protections.close();
      await built.sender.close();
      publicationsRedis.disconnect();
      return EXIT.UNAVAILABLE;
    }
  }
  log.info({ redis: maskUrlCredentials(redisUrl), concurrency: d.concurrency, batchSize: d.batchSize, leaseMs: d.leaseMs, sweep: sweep !== undefined, metrics: metricsServer?.url }, 'delivery worker started');

  const signal = await waitForSignal();
  const deadlineMs = d.shutdownDeadlineMs;
  log.info({ signal, deadlineMs }, 'shutting down: finishing deliveries in flight');
  const again = (sig: NodeJS.Signals): void => {
    log.warn({ signal: sig }, 'second signal: exiting now');
    process.exit(EXIT.INTERNAL);
  };
  process.once('SIGTERM', again);
  process.once('SIGINT', again);
  const overrun = setTimeout(() => {
    log.error({ deadlineMs, graceMs: CLOSE_GRACE_MS }, 'shutdown overran its deadline: exiting');
    process.exit(EXIT.INTERNAL);
  }, deadlineMs + CLOSE_GRACE_MS);
  overrun.unref();

  await sweep?.close(deadlineMs);
  await runtime.close(deadlineMs);
  await metricsServer?.close();
  detachCollectors();
  offReconnects();
  await protections.close();
  await built.sender.close();
  await publicationsRedis.quit().catch(() => publicationsRedis.disconnect());
  clearTimeout(overrun);
  log.info('delivery worker stopped');
  return EXIT.OK;
}

process.on('uncaughtException', (err) => {
  fail('internal', err.stack ?? String(err));
  process.exit(EXIT.INTERNAL);
});

let code: number;
try {
  code = await main();
} catch (err) {
  fail('internal', err instanceof Error ? (err.stack ?? err.message) : String(err));
  code = EXIT.INTERNAL;
}
// Lingering sockets (a TCP SIP connection in its idle timeout) must not keep a stopped worker alive.
process.exit(code);
