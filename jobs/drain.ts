/**
 * The drain job: delivers the latest state of due dirty mailboxes until none is due (or its run
 * time is up). It takes permits first, then leases that many due mailboxes with takeDue (which
 * reads their desired state and ETag in the same call), so at most delivery.concurrency mailboxes
 * are being sent per process and no leased mailbox waits. Each mailbox: send its desired state
 * (continuing the publication whose ETag came with the lease), give its permit back, let the
 * outcome policy decide, record that with the new ETag (one store call). The permit does not wait
 * for the record: holding it over the record's round trip left the SIP side idle whenever Redis
 * answered slowly (measured: 6.4-7.9k against 10.2-10.3k mailboxes/s at concurrency 200). The
 * records still waiting stay bounded: they share the store's connection with takeDue, which Redis
 * answers in order, so a drain never takes more than an event-loop turn ahead of its records.
 * A newer update accepted during a delivery leaves the mailbox dirty and due now, so this loop
 * (or the next drain) sends exactly one follow-up with the latest state.
 *
 * Depends on seams only (store, sender, policy, clock, permits). A store outage stops the job
 * (it throws once the deliveries in flight have settled). An outcome that could not be recorded
 * because Redis is unreachable (a failover, a restart) is recorded again, with backoff, while its
 * mailbox is still leased to us: otherwise an update accepted meanwhile would wait for the end of
 * the lease (delivery.leaseMs, a minute by default) behind a delivery that had in fact been made.
 * What could not be recorded at all is due again when its lease ends.
 */
import type { Clock } from '../src/clock.ts';
import type { Outcome } from '../src/delivery/outcome.ts';
import type { DeliveryRoute, MwiDelivery } from '../src/delivery/sender.ts';
import { ErrorCodes, isMwiError } from '../src/errors.ts';
import type { LineLog } from '../src/log-flood.ts';
import type { ConfigErrorLog } from '../src/queue/config-error-log.ts';
import type { DeliveryPermits } from '../src/queue/delivery-permits.ts';
import { decide, recordDecision, type OutcomeStore, type RetrySettings } from '../src/queue/outcome-policy.ts';
import type { DueMailbox } from '../src/store/mailbox-state.ts';
import { reconnectDelayMs } from '../src/store/reconnect.ts';

export interface DrainStore extends OutcomeStore {
  takeDue(limit: number, leaseMs: number): Promise<DueMailbox[]>;
}

export interface DrainSettings extends RetrySettings {
  /** Most mailboxes one takeDue leases. */
  batchSize: number;
  leaseMs: number;
  /** After this long the job takes no more mailboxes (those in flight still finish) and asks for a follow-up. */
  maxRunMs: number;
}

export interface DrainDeps {
  store: DrainStore;
  sender: { send(delivery: MwiDelivery): Promise<Outcome> };
  clock: Clock;
  permits: DeliveryPermits;
  configErrors: Pick<ConfigErrorLog, 'report'>;
  /**
   * A pino Logger fits; give it floodGuard(log, { clock }) (src/log-flood.ts), made once per
   * process, so a failing target's per-mailbox warn/error lines come out once per interval with a count.
   */
  log: Pick<LineLog, 'debug' | 'warn' | 'error'>;
  settings: DrainSettings;
  /** Uniform in [0, 1) for the retry jitter. Default Math.random. */
  random?: () => number;
  /** A global operator pause is in force: take nothing more (what is in flight finishes). */
  paused?: () => boolean;
}

export type DrainStop =
  /** Nothing due and nothing in flight. */
  | 'idle'
  | 'time'
  /** Shutdown. */
  | 'signal'
  /** A global pause: the kick starts draining again once it ends. */
  | 'paused';

export interface DrainReport {
  /** Mailboxes leased. */
  taken: number;
  delivered: number;
  retried: number;
  parked: number;
  configErrors: number;
  /** Nothing sent (breaker open, target held or paced, DNS down): due again later without using an attempt. */
  deferred: number;
  /** Mailboxes whose outcome could not be recorded: due again when their lease ends. */
  failed: number;
  /** SIP requests sent. */
  requests: number;
  stoppedBy: DrainStop;
  /** Due work may be left: the caller enqueues a follow-up drain. */
  more: boolean;
  elapsedMs: number;
}

function routeTarget(route: DeliveryRoute): string {
  return route.mode === 'publish' ? route.target : route.contact;
}

/** Recording retries stop this long before the lease ends: after it, another worker may take the mailbox. */
export const RECORD_RETRY_LEASE_MARGIN_MS = 1_000;

function errorMessage(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

export async function drain(deps: DrainDeps, signal?: AbortSignal): Promise<DrainReport> {
  const { store, sender, clock, permits, settings, log } = deps;
  const random = deps.random ?? Math.random;
  const startedAt = clock.now();
  const report: DrainReport = { taken: 0, delivered: 0, retried: 0, parked: 0, configErrors: 0, deferred: 0, failed: 0, requests: 0, stoppedBy: 'idle', more: false, elapsedMs: 0 };
  const inFlight = new Set<Promise<void>>();
  let onSettled: (() => void) | undefined;
  let storeDown: Error | undefined;
  // Under a backlog, wait for a quarter of the permits before taking again: fewer, larger takes.
  const lowWater = Math.max(1, Math.min(settings.batchSize, Math.ceil(permits.capacity / 4)));
  let backlog = false;

  /** Waits `ms` on the clock, or less if the job is stopped. */
  function pause(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const done = (): void => {
        clock.clearTimeout(timer);
        signal?.removeEventListener('abort', done);
        resolve();
      };
      const timer = clock.setTimeout(done, ms);
      signal?.addEventListener('abort', done, { once: true });
    });
  }

  /** Runs a store write, again while Redis is unreachable and the mailbox is still leased to us (until `leaseEndsAt`). */
  async function whileLeased<T>(write: () => Promise<T>, leaseEndsAt: number): Promise<T> {
    for (let attempt = 1; ; attempt++) {
      try {
        return await write();
      } catch (err) {
        if (!isMwiError(err, ErrorCodes.REDIS_UNAVAILABLE)) throw err;
        if (storeDown === undefined) log.warn({ err }, 'Redis unavailable during a delivery; taking no more, recording what is in flight while it is leased to us');
        storeDown ??= err;
        const delayMs = reconnectDelayMs(attempt, random);
        if (signal?.aborted || clock.now() + delayMs > leaseEndsAt - RECORD_RETRY_LEASE_MARGIN_MS) throw err;
        await pause(delayMs);
        if (signal?.aborted) throw err;
      }
    }
  }

  /** `sent` gives the mailbox's permit back (once) when nothing more will be sent for it; `start` gives it back at the latest when deliverOne settles. */
  async function deliverOne(record: DueMailbox, leaseEndsAt: number, sent: () => void): Promise<void> {
    const { mailbox, desired } = record;
    if (record.unreadable !== undefined) {
      const now = clock.now();
      const { version, reason } = record.unreadable;
      const result = await store.park(mailbox, version, { kind: 'permanent', reason, cause: 'response', requests: 0, startedAt: now, elapsedMs: 0 });
      report.parked++;
      log.error({ mailbox, version, reason, result }, 'stored desired state unreadable; parked until a newer update');
      return;
    }
    if (desired === undefined) {
      const now = clock.now();
      const result = await store.park(mailbox, 0, { kind: 'permanent', reason: 'no desired state stored', cause: 'response', requests: 0, startedAt: now, elapsedMs: 0 });
      log.warn({ mailbox, result }, 'dirty mailbox without a desired state');
      return;
    }
    let outcome: Outcome;
    const sendStartedAt = clock.now();
    try {
      const delivery: MwiDelivery = { mailbox, summary: desired.summary, route: desired.route };
      // The ETag comes with the lease and goes back with the outcome (recordDelivered): the sender's own store is not used.
      if (record.publication !== undefined) delivery.publication = record.publication;
      outcome = await sender.send(delivery);
    } catch (err) {
      // A sender bug must not wedge the mailbox in a lease loop: record it as a retryable failure.
      log.error({ err, mailbox, target: routeTarget(desired.route) }, 'sender threw instead of returning an outcome');
      outcome = { kind: 'retryable', cause: 'transport', reason: `internal error: ${errorMessage(err)}`, requests: 0, startedAt: sendStartedAt, elapsedMs: clock.now() - sendStartedAt };
    }
    report.requests += outcome.requests;
    // The SIP work is over: the permit goes back now, so the next send need not wait for this record's round trip.
    sent();
    const decision = decide({ outcome, previousAttempts: record.attempts ?? 0, now: clock.now(), random }, settings);
    const result = await whileLeased(() => recordDecision(store, { mailbox, version: desired.version, summary: desired.summary, route: desired.route }, outcome, decision), leaseEndsAt);
    switch (decision.kind) {
      case 'delivered':
        report.delivered++;
        break;
      case 'retry':
        report.retried++;
        log.debug({ mailbox, reason: outcome.reason, retryInMs: decision.delayMs, attempts: (record.attempts ?? 0) + 1 }, 'delivery failed; retrying later');
        break;
      case 'park':
        report.parked++;
        log.warn({ mailbox, target: routeTarget(desired.route), status: outcome.status, reason: outcome.reason, result }, 'delivery failed permanently; parked until a newer update');
        break;
      case 'defer':
        report.deferred++;
        break;
      case 'config-error':
        report.configErrors++;
        deps.configErrors.report({ target: routeTarget(desired.route), mailbox, ...(outcome.status === undefined ? {} : { status: outcome.status }), reason: outcome.reason, retryAt: decision.retryAt });
        break;
    }
  }

  const start = (due: DueMailbox, leaseEndsAt: number): void => {
    const mailbox = due.mailbox;
    let held = true;
    const release = (): void => {
      if (!held) return;
      held = false;
      permits.release(1);
    };
    const p: Promise<void> = deliverOne(due, leaseEndsAt, release)
      .catch((err: unknown) => {
        report.failed++;
        if (isMwiError(err, ErrorCodes.REDIS_UNAVAILABLE)) {
          if (storeDown === undefined) log.warn({ err, mailbox }, 'Redis unavailable during a delivery; stopping this drain (leases run out, nothing is lost)');
          storeDown ??= err;
        } else {
          log.error({ err, mailbox }, 'delivery outcome could not be recorded; due again when its lease ends');
        }
      })
      .finally(() => {
        release();
        inFlight.delete(p);
        const settled = onSettled;
        onSettled = undefined;
        settled?.();
      });
    inFlight.add(p);
  };

  for (;;) {
    if (storeDown !== undefined) break;
    if (signal?.aborted) {
      report.stoppedBy = 'signal';
      break;
    }
    if (deps.paused?.()) {
      report.stoppedBy = 'paused';
      break;
    }
    if (clock.now() - startedAt >= settings.maxRunMs) {
      report.stoppedBy = 'time';
      break;
    }
    const granted = await permits.take(settings.batchSize, backlog ? lowWater : 1, signal);
    if (granted === 0) continue; // aborted: handled at the top
    let batch: DueMailbox[];
    const leaseEndsAt = clock.now() + settings.leaseMs;
    try {
      batch = await store.takeDue(granted, settings.leaseMs);
    } catch (err) {
      permits.release(granted);
      storeDown = err instanceof Error ? err : new Error(String(err));
      break;
    }
    permits.release(granted - batch.length);
    report.taken += batch.length;
    backlog = batch.length === granted;
    if (batch.length === 0) {
      if (inFlight.size === 0) {
        report.stoppedBy = 'idle';
        break;
      }
      // Something in flight may come back still dirty (a newer update arrived): look again after it settles.
      await new Promise<void>((resolve) => {
        onSettled = resolve;
      });
      continue;
    }
    for (const due of batch) start(due, leaseEndsAt);
  }

  await Promise.all(inFlight);
  report.elapsedMs = clock.now() - startedAt;
  if (storeDown !== undefined) throw storeDown;
  report.more = report.stoppedBy !== 'idle' && report.stoppedBy !== 'paused';
  return report;
}
