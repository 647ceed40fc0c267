/**
 * What `mwi status` reports, read from the shared Redis: the delivery backlog (dirty and due
 * mailboxes, the BullMQ delivery queue's jobs), pauses, drain, the fleet's breakers and each
 * target's pacing, and the latest operator actions. Read only, except that reading the pauses
 * ends any that expired (as every worker's read does).
 */
import { Queue } from 'bullmq';

import type { Config } from '../../config/schema.ts';
import { RedisBreakerStore } from '../breaker/redis-breaker-store.ts';
import type { BreakerInfo } from '../breaker/types.ts';
import type { AuditEntry, DrainState, PauseState } from '../control/types.ts';
import { DELIVER_QUEUE } from '../queue/drain-queue.ts';
import { RedisRateStore } from '../rate/redis-rate-store.ts';
import type { RatePhase } from '../rate/types.ts';
import { RedisMailboxStore } from '../store/redis-mailbox-store.ts';
import { withRedis } from '../store/redis-unavailable.ts';
import type { ControlSession } from './control-session.ts';

export interface TargetRate {
  id: string;
  /** The fleet-wide rate in force, requests per second. */
  allowedPerSec: number;
  actualPerSec: number;
  latencyMs: number;
  inFlight: number;
  maxInFlight: number;
  phase: RatePhase;
  /** ms since epoch; 0 when not held. */
  holdUntil: number;
  holdReason?: string;
}

export interface StatusReport {
  at: number;
  queue: {
    /** Dirty mailboxes due now (not leased, no retry pending). */
    dueMailboxes: number;
    /** Mailboxes whose desired state is not delivered yet (due, leased or waiting for a retry). */
    dirtyMailboxes: number;
    jobs: { waiting: number; active: number; delayed: number; failed: number };
  };
  drain: DrainState | null;
  pauses: PauseState[];
  breakers: BreakerInfo[];
  rates: TargetRate[];
  /** Newest first. */
  audit: AuditEntry[];
}

export const STATUS_AUDIT_ENTRIES = 10;

async function jobCounts(session: ControlSession, prefix: string): Promise<StatusReport['queue']['jobs']> {
  // A shared connection: closing the Queue leaves the session's client open.
  const queue = new Queue(DELIVER_QUEUE, { connection: session.redis, prefix });
  queue.on('error', () => undefined); // the count below fails with the cause
  try {
    const c = await withRedis('job counts', () => queue.getJobCounts('waiting', 'prioritized', 'active', 'delayed', 'failed'));
    return { waiting: (c.waiting ?? 0) + (c.prioritized ?? 0), active: c.active ?? 0, delayed: c.delayed ?? 0, failed: c.failed ?? 0 };
  } finally {
    await queue.close().catch(() => undefined);
  }
}

async function targetRates(session: ControlSession, config: Config): Promise<TargetRate[]> {
  const store = new RedisRateStore({ redis: session.redis, settings: config.rate, keys: session.keys });
  const ids = (await withRedis('rate targets', () => session.redis.smembers(session.keys.rateTargets()))).sort();
  const rates: TargetRate[] = [];
  for (const id of ids) {
    const r = await store.snapshot(id);
    if (r === undefined) continue;
    rates.push({
      id,
      allowedPerSec: r.ratePerSec,
      actualPerSec: r.actualPerSec,
      latencyMs: r.latencyMs,
      inFlight: r.fleetInFlight,
      maxInFlight: config.rate.maxInFlight,
      phase: r.state.phase,
      holdUntil: r.holdUntil,
      ...(r.holdReason === undefined ? {} : { holdReason: r.holdReason }),
    });
  }
  return rates;
}

export async function readStatus(session: ControlSession, config: Config, now: number): Promise<StatusReport> {
  const mailboxes = new RedisMailboxStore({ redis: session.redis, keys: session.keys });
  const breakers = new RedisBreakerStore({ redis: session.redis, keys: session.keys, settings: config.breaker });
  const [dueMailboxes, dirtyMailboxes, jobs, control, breakerList, rates, audit] = await Promise.all([
    mailboxes.dueCount(),
    mailboxes.dirtyCount(),
    jobCounts(session, config.redis.keyPrefix),
    session.control.snapshot(),
    breakers.list(),
    targetRates(session, config),
    session.control.auditLog(STATUS_AUDIT_ENTRIES),
  ]);
  return { at: now, queue: { dueMailboxes, dirtyMailboxes, jobs }, drain: control.drain ?? null, pauses: control.pauses, breakers: breakerList, rates, audit };
}
