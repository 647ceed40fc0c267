/**
 * The fleet-wide protections of a worker process, around its SIP sender: the target breakers,
 * the DNS breaker (attached to the process's DNS cache), the rate gate and the guarded sender
 * that consults them for every request. All state lives in Redis, so every worker of the fleet
 * acts on one worker's evidence.
 *
 * The DNS breaker is its own FleetBreakers instance (dnsBreakerSettings): its half-open probe
 * comes at most once per dns.failureRecheckSec (RFC 8767's recheck timer) and it judges a window
 * of two recheck intervals with at least two failures (one real query asks A and AAAA).
 */
import { hostname } from 'node:os';

import type { RedisClient } from '../store/redis-connection.ts';

import type { Config } from '../../config/schema.ts';
import { RedisFleetBreakers } from '../breaker/fleet-breakers.ts';
import { GLOBAL_SCOPE } from '../control/control-input.ts';
import { RedisControlPlane } from '../control/redis-control-plane.ts';
import type { FleetBreakers } from '../breaker/types.ts';
import type { Clock } from '../clock.ts';
import type { Dns } from '../dns/create-dns.ts';
import type { Logger } from '../log.ts';
import { RedisRateStore } from '../rate/redis-rate-store.ts';
import { FleetTargetGate } from '../rate/target-gate.ts';
import type { TargetGate } from '../rate/types.ts';
import { storeKeys } from '../store/keys.ts';
import type { TransportProtocol } from '../sip/transport/transport.ts';
import { GuardedSender, type DeliveryObserver } from './guarded-sender.ts';
import type { MwiSender } from './sender.ts';

export interface Protections {
  sender: GuardedSender;
  control: RedisControlPlane;
  /** A global pause is in force now (synchronous). */
  paused: () => boolean;
  /** Why scheduled sweeps must wait (drain, global pause), or undefined. */
  holdSweeps: () => string | undefined;
  breakers: FleetBreakers;
  dnsBreakers: FleetBreakers;
  gate: TargetGate;
  close(): Promise<void>;
}

export function workerId(): string {
  return `${hostname()}:${process.pid}`;
}

/**
 * The DNS breaker's settings. Probe delays are jittered to [0.5, 1] x the backoff
 * (breaker-state.ts probeDelayMs); a backoff of twice the recheck interval keeps every probe at
 * least dns.failureRecheckSec after the last (at most 2x), so DNS is never asked more often than
 * RFC 8767's recheck timer allows. (A backoff of one recheck interval probed every 0.5-1x of it.)
 */
export function dnsBreakerSettings(config: Pick<Config, 'breaker' | 'dns'>): Config['breaker'] {
  const recheckMs = config.dns.failureRecheckSec * 1_000;
  return { ...config.breaker, windowMs: Math.max(config.breaker.windowMs, 2 * recheckMs), minFailures: 2, probeBaseMs: 2 * recheckMs, probeMaxMs: 2 * recheckMs };
}

export async function startProtections(deps: {
  config: Config;
  clock: Clock;
  log: Logger;
  /** A store client (createStoreClient) the protections may share; each breaker set opens one subscriber besides. */
  redis: RedisClient;
  sender: MwiSender;
  dns: Dns;
  worker?: string;
  random?: () => number;
  /** The process's control plane, caller-owned; built (and closed) here when absent. */
  control?: RedisControlPlane;
  /** Metrics of every delivery (src/metrics/delivery-metrics.ts). */
  observer?: DeliveryObserver;
}): Promise<Protections> {
  const { config, clock } = deps;
  const log = deps.log.child({ component: 'protections' });
  const keys = storeKeys(config.redis.keyPrefix);
  const worker = deps.worker ?? workerId();
  const random = deps.random ?? Math.random;
  // A probe is one OPTIONS transaction; give it that long plus a little.
  const probeTimeoutMs = config.sip.transactionTimeoutMs + 1_000;

  const breakers = new RedisFleetBreakers({ redis: deps.redis, keys, clock, settings: config.breaker, worker, log, random, probeTimeoutMs });
  const dnsBreakers = new RedisFleetBreakers({
    redis: deps.redis,
    keys,
    clock,
    settings: dnsBreakerSettings(config),
    worker,
    log,
    random,
    probeTimeoutMs: config.dns.timeoutMs * config.dns.tries + 1_000,
  });
  deps.dns.guard.attach(dnsBreakers, deps.dns.client);

  const gate = new FleetTargetGate({ store: new RedisRateStore({ redis: deps.redis, settings: config.rate, keys, clock }), settings: config.rate, worker, clock, log, random });
  // A breaker this process closed (its probe got through) restarts the target's rate from slow start.
  const offTransition = breakers.onTransition((t) => {
    // A probe of ours got through, or an operator reset it (every worker hears that one).
    if (t.to === 'closed' && (t.local || t.actor !== undefined)) {
      gate.slowStart(t.id, `breaker closed: ${t.reason}`).catch((err: unknown) => log.warn({ err, target: t.id }, 'could not restart slow start after the breaker closed'));
    }
  });

  const ownControl = deps.control === undefined;
  const control = deps.control ?? new RedisControlPlane({ redis: deps.redis, keys, clock, log });
  // A pause ending (resume or expiry) restarts every target this process paces from slow start.
  let pausedScopes = new Set<string>();
  const offControl = control.onChange((snapshot) => {
    const now = new Set(snapshot.pauses.map((p) => p.scope));
    const ended = [...pausedScopes].filter((s) => !now.has(s));
    pausedScopes = now;
    if (ended.length === 0) return;
    for (const rate of gate.snapshots()) {
      gate.slowStart(rate.id, `pause ended (${ended.join(', ')})`).catch((err: unknown) => log.warn({ err, target: rate.id }, 'could not restart slow start after a pause'));
    }
  });
  try {
    pausedScopes = new Set((await control.refresh()).pauses.map((p) => p.scope));
  } catch (err) {
    log.warn({ err }, 'could not read pauses at start; they apply as soon as Redis answers');
  }

  const sender = new GuardedSender({
    control,
    ...(deps.observer ? { observer: deps.observer } : {}),
    inner: deps.sender,
    locator: deps.dns.locator,
    breakers,
    gate,
    clock,
    log,
    random,
    settings: {
      defaultProtocol: config.sip.transport.toUpperCase() as TransportProtocol,
      t1Ms: config.sip.t1Ms,
      t2Ms: config.sip.t2Ms,
      transactionTimeoutMs: config.sip.transactionTimeoutMs,
      probeMaxMs: config.breaker.probeMaxMs,
      dnsRecheckMs: config.dns.failureRecheckSec * 1_000,
    },
  });

  let closing: Promise<void> | undefined;
  return {
    sender,
    control,
    paused: () => control.pausedFor(GLOBAL_SCOPE) !== undefined,
    holdSweeps: () => {
      const pause = control.pausedFor(GLOBAL_SCOPE);
      if (pause) return `paused by ${pause.actor}: ${pause.reason}`;
      return control.draining() ? 'draining' : undefined;
    },
    breakers,
    dnsBreakers,
    gate,
    close: () =>
      (closing ??= (async () => {
        offTransition();
        offControl();
        await Promise.allSettled([gate.close(), breakers.close(), dnsBreakers.close(), ...(ownControl ? [control.close()] : [])]);
      })()),
  };
}
