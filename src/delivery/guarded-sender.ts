/**
 * The protections between the queue and the wire: every PUBLISH passes here.
 *
 *   1. Locate the target (RFC 3263, cached DNS): an ordered list of hops.
 *   2. Per hop, best first: skip it while its fleet-wide breaker is open; wait for room under its
 *      fleet-wide rate and in-flight cap (TargetGate); send; tell the breaker and the rate
 *      controller what happened; honour 503 Retry-After (hold the hop) and RFC 7339 `oc`.
 *   3. A timeout, transport error or 503 moves the request to the next hop (a new transaction,
 *      so a new branch), as RFC 3263 4.3 asks.
 *
 * When no hop can take the request now (every breaker open, the target held, no send slot
 * within rate.maxWaitMs, DNS down without a cached answer) the outcome is `deferred`: nothing
 * was sent, the mailbox is due again later and no attempt is used.
 *
 * Unsolicited NOTIFY goes to phones, not to a presence server: it is located and sent, but has
 * no fleet breaker or rate state per phone.
 */
import type { FleetBreakers } from '../breaker/types.ts';
import type { ControlPlane } from '../control/types.ts';
import type { Clock } from '../clock.ts';
import type { SipHop, SipLocator } from '../dns/types.ts';
import { ErrorCodes, isMwiError } from '../errors.ts';
import type { Logger } from '../log.ts';
import type { Permit, SendFeedback, TargetGate } from '../rate/types.ts';
import { parseTarget, type SipTarget } from '../sip/target.ts';
import type { ExplicitHop, TransportProtocol } from '../sip/transport/transport.ts';
import { breakerEvidence, rateFeedback, type TimerSettings } from './evidence.ts';
import type { Outcome } from './outcome.ts';
import type { AdmitAnother, MwiDelivery, MwiSender, ProbeOutcome } from './sender.ts';

export interface GuardSettings extends TimerSettings {
  defaultProtocol: TransportProtocol;
  /** breaker.probeMaxMs: deliveries to an open target come back spread over [probeMaxMs / 2, probeMaxMs]. */
  probeMaxMs: number;
  /** dns.failureRecheckSec, ms: deliveries that met a DNS failure come back after about this long. */
  dnsRecheckMs: number;
}

/** Told about every delivery that reached the wire (metrics: src/metrics). Must not throw or block. */
export interface DeliveryObserver {
  /** `hopKey`: the hop the delivery went to; `feedback`: what the rate controller was told (latency, result, retransmissions). */
  delivered(hopKey: string, outcome: Outcome, feedback: SendFeedback): void;
  /** A delivery deferred without sending (breaker open, pause, hold, pacing, DNS). */
  deferred(hopKey: string | undefined, reason: string): void;
}

export interface GuardedSenderDeps {
  inner: MwiSender;
  locator: SipLocator;
  breakers: FleetBreakers;
  gate: TargetGate;
  /** Operator pauses (global or per target): checked before every request, synchronously. */
  control?: Pick<ControlPlane, 'pausedFor'>;
  clock: Clock;
  log: Pick<Logger, 'debug' | 'info' | 'warn'>;
  settings: GuardSettings;
  observer?: DeliveryObserver;
  /** Uniform in [0, 1). Default Math.random. */
  random?: () => number;
}

/** A paused mailbox comes back within this long (spread), or at the pause's end if sooner; resume then goes through slow start. */
const PAUSE_RECHECK_MS = 5_000;
/** Retry-After jitter: the fleet's deferred deliveries come back over this share of the hold again, not all at its end. */
const RETRY_AFTER_SPREAD = 0.2;
const MAX_TARGETS_CACHED = 10_000;
const MAX_KNOWN_TARGETS = 100;

function explicitHop(hop: SipHop): ExplicitHop {
  return { destination: { host: hop.address, port: hop.port }, hostName: hop.hostName };
}

function deferred(reason: string, now: number, retryAt: number): Outcome {
  return { kind: 'deferred', cause: 'response', reason, retryAt, requests: 0, startedAt: now, elapsedMs: 0 };
}

export class GuardedSender implements MwiSender {
  readonly #d: GuardedSenderDeps;
  readonly #random: () => number;
  readonly #targets = new Map<string, SipTarget>();
  /** Insertion-ordered, most recent last, bounded. */
  readonly #publishTargets = new Set<string>();
  /** Hops whose breaker probe is registered (once per hop, not per message). */
  readonly #registered = new Set<string>();

  constructor(deps: GuardedSenderDeps) {
    this.#d = deps;
    this.#random = deps.random ?? Math.random;
  }

  #target(uri: string): SipTarget {
    let t = this.#targets.get(uri);
    if (!t) {
      t = parseTarget(uri, this.#d.settings.defaultProtocol);
      if (this.#targets.size >= MAX_TARGETS_CACHED) this.#targets.clear();
      this.#targets.set(uri, t);
    }
    return t;
  }

  /** Presence servers (PUBLISH target URIs) this process sent to lately, at most `limit`: what /readyz checks. */
  knownTargets(limit = 20): string[] {
    return [...this.#publishTargets].slice(-limit);
  }

  #spread(fromMs: number, widthMs: number): number {
    return Math.round(fromMs + this.#random() * widthMs);
  }

  async send(delivery: MwiDelivery): Promise<Outcome> {
    const outcome = await this.#send(delivery);
    if (outcome.kind === 'deferred') this.#d.observer?.deferred(outcome.hopKey, outcome.reason);
    return outcome;
  }

  async #send(delivery: MwiDelivery): Promise<Outcome> {
    const { clock } = this.#d;
    const uri = delivery.route.mode === 'publish' ? delivery.route.target : delivery.route.contact;
    let target: SipTarget;
    try {
      target = this.#target(uri);
    } catch {
      return this.#d.inner.send(delivery); // the inner sender turns a bad URI into a permanent outcome
    }
    let hops: SipHop[];
    try {
      hops = await this.#d.locator.locate(target);
    } catch (err) {
      return this.#dnsOutcome(err, target);
    }
    if (delivery.route.mode === 'notify') return this.#sendNotify(delivery, hops);
    if (!this.#publishTargets.has(uri)) {
      if (this.#publishTargets.size >= MAX_KNOWN_TARGETS) this.#publishTargets.delete(this.#publishTargets.values().next().value ?? '');
      this.#publishTargets.add(uri);
    }

    let held: Outcome | undefined;
    let failed: Outcome | undefined;
    for (const hop of hops) {
      const now = clock.now();
      const pause = this.#d.control?.pausedFor(target.uri, hop.key);
      if (pause) {
        const backAt = Math.min(pause.until ?? Infinity, now + this.#spread(PAUSE_RECHECK_MS, PAUSE_RECHECK_MS));
        return deferred(`paused (${pause.scope}) by ${pause.actor}: ${pause.reason}`, now, backAt);
      }
      if (!this.#registered.has(hop.key)) {
        if (this.#registered.size >= MAX_TARGETS_CACHED) this.#registered.clear();
        this.#registered.add(hop.key);
        this.#d.breakers.register(hop.key, () => this.#probeHop(target.uri, hop));
      }
      const state = this.#d.breakers.state(hop.key);
      if (state.kind !== 'closed') {
        const waitMs = state.kind === 'open' ? Math.max(0, state.nextProbeAt - now) : this.#d.settings.probeMaxMs;
        const half = this.#d.settings.probeMaxMs / 2;
        held ??= deferred(`${ErrorCodes.BREAKER_OPEN}: ${hop.key} is ${state.kind} (${state.reason})`, now, now + this.#spread(Math.max(waitMs, half), half));
        continue;
      }
      const admission = await this.#d.gate.admit(hop.key);
      if (!admission.ok) {
        // Paced or held: not a failure of this hop, so no failover to a backup (RFC 3263 order is for failures).
        const at = clock.now();
        return deferred(`${ErrorCodes.TARGET_HELD}: ${hop.key}: ${admission.reason}`, at, Math.max(admission.retryAt, at));
      }
      // The wait for a send slot may have outlasted the hop's health or the operator's patience:
      // a breaker that opened or a pause that began meanwhile stops this request too.
      const stopped = this.#stoppedSince(target.uri, hop);
      if (stopped !== undefined) {
        admission.permit.release(undefined);
        const at = clock.now();
        const half = this.#d.settings.probeMaxMs / 2;
        return deferred(stopped, at, at + this.#spread(Math.min(half, PAUSE_RECHECK_MS), half));
      }
      let outcome: Outcome;
      // A further request of this delivery (after a 412 or 423) takes its own send slot: the
      // server's limit counts requests. Those slots are held until the delivery ends.
      let more: Permit[] | undefined;
      // It waits longer than a first request would (up to one transaction timeout): refused, the
      // delivery ends deferred after a 412 that already dropped the server's ETag.
      const admitAnother: AdmitAnother = async () => {
        const deadline = clock.now() + this.#d.settings.transactionTimeoutMs;
        for (;;) {
          const askedAt = clock.now();
          const next = await this.#d.gate.admit(hop.key);
          if (next.ok) {
            (more ??= []).push(next.permit);
            return { ok: true };
          }
          const at = clock.now();
          // Paced: ask again while the deadline allows. Held, closed or stopped: no point waiting here.
          if (at <= askedAt || at >= deadline || next.retryAt >= deadline || this.#stoppedSince(target.uri, hop) !== undefined) {
            return { ok: false, reason: `${ErrorCodes.TARGET_HELD}: ${hop.key}: ${next.reason}`, retryAt: Math.max(next.retryAt, at) };
          }
        }
      };
      try {
        outcome = await this.#d.inner.send({ ...delivery, hop: explicitHop(hop), admitAnother });
      } catch (err) {
        admission.permit.release(undefined);
        throw err;
      } finally {
        if (more !== undefined) for (const p of more) p.release(undefined);
      }
      const feedback = outcome.requests > 0 ? rateFeedback(outcome, hop.protocol, this.#d.settings) : undefined;
      admission.permit.release(feedback);
      if (feedback) this.#d.observer?.delivered(hop.key, outcome, feedback);
      if (outcome.requests > 0) this.#d.breakers.record(hop.key, breakerEvidence(outcome));
      await this.#afterResponse(hop, outcome);
      const result: Outcome = { ...outcome, hopKey: hop.key };
      const failover = outcome.kind === 'retryable' && (outcome.cause !== 'response' || outcome.status === 503);
      if (!failover) return result;
      failed = result;
      this.#d.log.debug({ hop: hop.key, reason: outcome.reason }, 'request failed at this hop; trying the next one');
    }
    return failed ?? held ?? deferred(`${ErrorCodes.BREAKER_OPEN}: no usable hop for ${target.uri}`, clock.now(), clock.now() + this.#d.settings.probeMaxMs);
  }

  /** Why nothing may go to `hop` now (an open breaker, a pause), or undefined. */
  #stoppedSince(uri: string, hop: SipHop): string | undefined {
    const pause = this.#d.control?.pausedFor(uri, hop.key);
    if (pause) return `paused (${pause.scope}) by ${pause.actor}: ${pause.reason}`;
    const state = this.#d.breakers.state(hop.key);
    return state.kind === 'closed' ? undefined : `${ErrorCodes.BREAKER_OPEN}: ${hop.key} is ${state.kind} (${state.reason})`;
  }

  /** The breaker's half-open probe: an OPTIONS to that hop, but nothing at all while a 503 Retry-After holds it. */
  async #probeHop(uri: string, hop: SipHop): Promise<{ up: boolean; reason: string }> {
    const holdUntil = this.#d.gate.snapshot(hop.key)?.holdUntil ?? 0;
    if (holdUntil > this.#d.clock.now()) return { up: false, reason: `held until ${new Date(holdUntil).toISOString()} (Retry-After)` };
    const p = await this.#d.inner.probe(uri, explicitHop(hop));
    if (p.retryAfterMs !== undefined && p.retryAfterMs > 0) {
      await this.#d.gate.hold(hop.key, this.#d.clock.now() + p.retryAfterMs, `503 Retry-After ${Math.round(p.retryAfterMs / 1000)} s (probe)`).catch(() => undefined);
    }
    return { up: p.up, reason: p.reason };
  }

  async #afterResponse(hop: SipHop, outcome: Outcome): Promise<void> {
    const now = this.#d.clock.now();
    if (outcome.status === 503 && outcome.retryAfterMs !== undefined && outcome.retryAfterMs > 0) {
      const until = now + outcome.retryAfterMs;
      await this.#d.gate.hold(hop.key, until, `503 Retry-After ${Math.round(outcome.retryAfterMs / 1000)} s`).catch((err: unknown) => {
        this.#d.log.warn({ err, hop: hop.key }, 'could not store the Retry-After hold; this worker still honours it through the retry delay');
      });
      // The mailbox itself comes back after the hold, spread so the fleet does not return at once.
      outcome.retryAfterMs = this.#spread(outcome.retryAfterMs, outcome.retryAfterMs * RETRY_AFTER_SPREAD);
    }
    if (outcome.overload) {
      await this.#d.gate.overloadControl(hop.key, outcome.overload.percent, outcome.overload.validityMs).catch((err: unknown) => {
        this.#d.log.warn({ err, hop: hop.key }, 'could not store RFC 7339 overload feedback');
      });
    }
  }

  async #sendNotify(delivery: MwiDelivery, hops: SipHop[]): Promise<Outcome> {
    let last: Outcome | undefined;
    for (const hop of hops) {
      last = { ...(await this.#d.inner.send({ ...delivery, hop: explicitHop(hop) })), hopKey: hop.key };
      if (!(last.kind === 'retryable' && (last.cause !== 'response' || last.status === 503))) return last;
    }
    return last ?? deferred(`no hop for ${delivery.mailbox}`, this.#d.clock.now(), this.#d.clock.now() + this.#d.settings.dnsRecheckMs);
  }

  #dnsOutcome(err: unknown, target: SipTarget): Outcome {
    const now = this.#d.clock.now();
    if (!isMwiError(err)) throw err;
    const reason = `${err.code}: ${err.message}`;
    if (err.code === ErrorCodes.DNS_NXDOMAIN || err.code === ErrorCodes.DNS_NO_DATA) {
      // The name an operator configured does not exist: a target configuration error (loud, slow retries).
      return { kind: 'config-error', cause: 'response', reason, requests: 0, startedAt: now, elapsedMs: 0 };
    }
    const recheck = this.#d.settings.dnsRecheckMs;
    this.#d.log.debug({ target: target.uri, code: err.code }, 'target not located; delivery deferred');
    return deferred(reason, now, now + this.#spread(recheck, recheck / 2));
  }

  /**
   * The sweep's health check of a target: down without sending anything while every hop's
   * breaker is open (so a sweep queues nothing for it), else an OPTIONS to the first closed hop.
   */
  async probe(target: string, hop?: ExplicitHop): Promise<ProbeOutcome> {
    if (hop) return this.#d.inner.probe(target, hop);
    let hops: SipHop[];
    try {
      hops = await this.#d.locator.locate(this.#target(target));
    } catch (err) {
      if (!isMwiError(err)) throw err;
      return { up: false, reason: `${err.code}: ${err.message}`, elapsedMs: 0 };
    }
    for (const h of hops) {
      if (this.#d.breakers.state(h.key).kind === 'closed') return this.#d.inner.probe(target, explicitHop(h));
    }
    return { up: false, reason: `${ErrorCodes.BREAKER_OPEN}: every hop of ${target} is open or isolated`, elapsedMs: 0 };
  }

  close(): Promise<void> {
    return this.#d.inner.close();
  }
}
