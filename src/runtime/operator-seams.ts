/**
 * What the operator API of a process needs besides ingestion: the fleet's control plane (pauses,
 * drain, audit), live status (the same report as `mwi status`), breaker isolate/reset and
 * one-mailbox resync. All read and write the shared Redis, so any API process of the fleet can
 * serve them, with or without workers of its own.
 */
import type { RedisClient } from '../store/redis-connection.ts';

import { isIP } from 'node:net';

import type { Config } from '../../config/schema.ts';
import type { ReadinessCheck } from '../api/readiness.ts';
import { dnsCheck, redisCheck, targetCheck } from '../api/readiness-checks.ts';
import type { GuardedSender } from '../delivery/guarded-sender.ts';
import type { DnsClient } from '../dns/dns-client.ts';
import { parseHopUri } from '../sip/wire.ts';
import type { BreakerControl, ResyncMailbox, StatusSource } from '../api/operator-seams.ts';
import { RedisBreakerStore } from '../breaker/redis-breaker-store.ts';
import { readStatus } from '../cli/status-report.ts';
import type { Clock } from '../clock.ts';
import { RedisControlPlane } from '../control/redis-control-plane.ts';
import { RedisControlStore } from '../control/redis-control-store.ts';
import type { DeliveryScheduler } from '../queue/delivery-scheduler.ts';
import { storeKeys } from '../store/keys.ts';
import type { RedisMailboxStore } from '../store/redis-mailbox-store.ts';

export interface OperatorSeams {
  control: RedisControlPlane;
  status: StatusSource;
  breakers: BreakerControl;
  resync: ResyncMailbox;
}

export function operatorSeams(deps: {
  config: Config;
  redisUrl: string;
  /** A store client the seams may share (createStoreClient). */
  redis: RedisClient;
  clock: Clock;
  store: RedisMailboxStore;
  scheduler: DeliveryScheduler;
  /** The process's control plane (shared with its protections); caller-owned. */
  control: RedisControlPlane;
}): Omit<OperatorSeams, 'close'> {
  const { config, redis, clock, control } = deps;
  const keys = storeKeys(config.redis.keyPrefix);
  const breakerStore = new RedisBreakerStore({ redis, keys, settings: config.breaker, clock });
  const session = { redis, keys, control: new RedisControlStore({ redis, keys }), close: () => Promise.resolve() };
  const statusConfig: Config = { ...config, redis: { ...config.redis, url: deps.redisUrl } };
  return {
    control,
    status: async () => ({ ...(await readStatus(session, statusConfig, clock.now())) }),
    breakers: {
      isolate: async (id, actor, reason) => {
        await breakerStore.isolate(id, actor, reason);
      },
      reset: async (id, actor, reason) => {
        await breakerStore.reset(id, actor, reason);
      },
    },
    resync: async (mailbox) => {
      const [result] = await deps.store.markDirty([mailbox]);
      if (result === 'marked') {
        await deps.scheduler.schedule([mailbox]).catch(() => undefined); // the kick wakes a drain otherwise
        return 'queued';
      }
      return result === 'no-desired-state' ? 'no-desired-state' : 'already-queued';
    },
  };
}

/**
 * What /readyz checks from this host: Redis (PING), DNS (one query of a target name, when a
 * target is a name) and each presence server this process delivers to (OPTIONS through the
 * guarded sender, so a target behind an open breaker is reported down without being probed).
 */
export function readinessChecks(deps: { config: Config; redis: RedisClient; sender: GuardedSender | undefined; dns: DnsClient | undefined }): ReadinessCheck[] {
  const targets = new Set<string>(deps.sender?.knownTargets() ?? []);
  const configured = deps.config.targets.defaultPublishTarget;
  if (configured !== undefined && deps.sender !== undefined) targets.add(configured);
  const names = [...targets].map((t) => parseHopUri(t)?.host).filter((h): h is string => h !== undefined && isIP(h) === 0 && h !== 'localhost');
  const checks: ReadinessCheck[] = [redisCheck(deps.redis)];
  const dns = deps.dns;
  if (dns !== undefined) checks.push(dnsCheck((name) => dns.a(name), names));
  const sender = deps.sender;
  if (sender !== undefined) for (const t of targets) checks.push(targetCheck(t, (uri) => sender.probe(uri)));
  return checks;
}
