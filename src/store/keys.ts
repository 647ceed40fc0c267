/**
 * Every Redis key the store uses, built in one place. All keys start with one braced hash tag
 * (default `{mwi}`), so on Redis Cluster they share a slot and one Lua script may touch a whole
 * batch of mailboxes plus the dirty set. The price: the whole store lives on one shard.
 * A BullMQ queue under the same prefix must not be named `mailbox`, `mailboxes`, `dirty`,
 * `publication`, `breaker`, `rate` or start with `sweep-`, `breaker-`, `rate-`, `in-flight`, `control-` (BullMQ's own keys are `<prefix>:<queue>:...`).
 */
import { ErrorCodes, MwiError } from '../errors.ts';

export const DEFAULT_KEY_PREFIX = '{mwi}';

export interface StoreKeys {
  readonly prefix: string;
  /** Hash: desired and delivered state of one mailbox (fields in mailbox-hash.ts). */
  mailbox(mailbox: string): string;
  /** Sorted set: mailbox -> when it is next due for delivery (ms since epoch). */
  dirty(): string;
  /** String (JSON etag + expiresAt) with a TTL; `publicationKey` is the PublicationStore key (target + AOR). */
  publication(publicationKey: string): string;
  /** Sorted set, every score 0: every mailbox with a desired state, in lexical order (apply-updates adds to it). The sweep pages through it. */
  mailboxIndex(): string;
  /** String: set once the index holds every mailbox written before it existed (see backfillMailboxIndex). */
  mailboxIndexReady(): string;
  /** The sweep's redlock resource: one sweep at a time across all hosts. */
  sweepLock(): string;
  /** String (JSON SweepHolder) beside the lock, with the lock's TTL: who runs the sweep now. */
  sweepHolder(): string;
  /** List (JSON run records, newest first, trimmed to sweep.runHistory). */
  sweepRuns(): string;
  /** Hash: lastEndedAt of the latest sweep run (what the schedule's pause is measured from). */
  sweepState(): string;
  /** Hash: one fleet-wide circuit breaker's state (`id` = a target key such as udp:10.0.0.5:5060, or `dns`). */
  breaker(id: string): string;
  /** Hash: per-second evidence buckets of one breaker (field = second, value = "ok:fail"). */
  breakerEvidence(id: string): string;
  /** String with a TTL: who runs the one half-open probe of a breaker now. */
  breakerProbe(id: string): string;
  /** Set: every breaker id ever registered (dashboards and the CLI list them). */
  breakers(): string;
  /** List (JSON transitions, newest first, capped): every breaker transition with its reason. */
  breakerLog(): string;
  /** Pub/sub channel: a breaker id is published on every transition, so workers re-read it at once. */
  breakerChannel(): string;
  /** Hash: the fleet-wide rate controller and token bucket of one target. */
  rate(id: string): string;
  /** Hash: worker id -> "inFlight:updatedAtMs" for one target (the fleet-wide in-flight cap). */
  inFlight(id: string): string;
  /** Set: every target with rate state. */
  rateTargets(): string;
  /** Hash: pause scope (`global` or a target string) -> JSON PauseState; expired entries are removed lazily. */
  controlPauses(): string;
  /** String (JSON DrainState): present while drain is on. */
  controlDrain(): string;
  /** List (JSON AuditEntry, newest first, capped): every operator action with actor and reason. */
  controlAudit(): string;
  /** Pub/sub channel: every pause, resume, expiry and drain change is announced, so workers re-read at once. */
  controlChannel(): string;
}

/** The Redis Cluster hash tag of a key: between the first `{` and the next `}`, if non-empty. */
export function hashTagOf(key: string): string | undefined {
  const open = key.indexOf('{');
  if (open === -1) return undefined;
  const close = key.indexOf('}', open + 1);
  return close > open + 1 ? key.slice(open + 1, close) : undefined;
}

export function storeKeys(prefix: string = DEFAULT_KEY_PREFIX): StoreKeys {
  if (typeof prefix !== 'string' || hashTagOf(prefix) === undefined) {
    throw new MwiError(ErrorCodes.CONFIG_INVALID, `Redis key prefix must contain a non-empty hash tag such as {mwi}: ${JSON.stringify(prefix)}`);
  }
  return {
    prefix,
    mailbox: (mailbox) => `${prefix}:mailbox:${mailbox}`,
    dirty: () => `${prefix}:dirty`,
    publication: (publicationKey) => `${prefix}:publication:${publicationKey}`,
    mailboxIndex: () => `${prefix}:mailboxes`,
    mailboxIndexReady: () => `${prefix}:mailboxes-ready`,
    sweepLock: () => `${prefix}:sweep-lock`,
    sweepHolder: () => `${prefix}:sweep-holder`,
    sweepRuns: () => `${prefix}:sweep-runs`,
    sweepState: () => `${prefix}:sweep-state`,
    breaker: (id) => `${prefix}:breaker:${id}`,
    breakerEvidence: (id) => `${prefix}:breaker-evidence:${id}`,
    breakerProbe: (id) => `${prefix}:breaker-probe:${id}`,
    breakers: () => `${prefix}:breakers`,
    breakerLog: () => `${prefix}:breaker-log`,
    breakerChannel: () => `${prefix}:breaker-events`,
    rate: (id) => `${prefix}:rate:${id}`,
    inFlight: (id) => `${prefix}:in-flight:${id}`,
    rateTargets: () => `${prefix}:rate-targets`,
    controlPauses: () => `${prefix}:control-pauses`,
    controlDrain: () => `${prefix}:control-drain`,
    controlAudit: () => `${prefix}:control-audit`,
    controlChannel: () => `${prefix}:control-events`,
  };
}

/** A client with an ioredis keyPrefix would move every key off the {hash tag} slot: refuse it. */
export function assertNoKeyPrefix(redis: { options: { keyPrefix?: string } }): void {
  if (redis.options.keyPrefix) {
    throw new MwiError(ErrorCodes.CONFIG_INVALID, "the store's Redis client must not have a keyPrefix: it would move keys off the {hash tag} slot");
  }
}
