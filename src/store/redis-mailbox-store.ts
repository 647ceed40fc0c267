/**
 * Desired and delivered MWI state per mailbox in Redis. Every write is one Lua script call
 * (EVALSHA through ioredis `defineCommand`), so each call is atomic and a retried call is
 * harmless: re-applying an update reports 'stale', re-recording a delivery changes nothing.
 * recordDelivered() calls of one event-loop turn share one script call (micro-batch.ts); each
 * mailbox in it is still recorded, and answered, on its own.
 *
 * Delivery loop this supports: takeDue() leases due mailboxes with their desired state and the
 * ETag to continue, the deliverer sends desired.summary, then recordDelivered(desired.version,
 * with the new ETag and its target), recordAttempt() (retry later) or
 * park() (permanent failure). A crash in between loses nothing: the mailbox stays dirty and is
 * due again when its lease ends.
 */
import { slotOwner, type RedisClient } from './redis-connection.ts';

import { systemClock, type Clock } from '../clock.ts';
import type { Outcome } from '../delivery/outcome.ts';
import type { MessageSummary } from '../mwi/message-summary.ts';
import { assertNoKeyPrefix, storeKeys, type StoreKeys } from './keys.ts';
import { APPLY_UPDATES_LUA } from './lua/apply-updates.ts';
import { PARK_LUA } from './lua/park.ts';
import { RECORD_ATTEMPT_LUA } from './lua/record-attempt.ts';
import { RECORD_DELIVERED_LUA } from './lua/record-delivered.ts';
import { TAKE_DIRTY_LUA } from './lua/take-dirty.ts';
import { MARK_DIRTY_LUA } from './lua/mark-dirty.ts';
import { SWEEP_PAGE_LUA, SWEEP_VIEWS_LUA } from './lua/sweep-page.ts';
import { RawMailboxView, decodeDueMailbox, decodeMailboxHash, encodeDesiredState, encodeLastOutcome, screenOf } from './mailbox-hash.ts';
import type { ApplyResult, AttemptResult, DeliveredResult, DueMailbox, MailboxRecord, MailboxScreen, MailboxUpdate, MailboxView, MarkResult, ParkResult, ScreenCriteria, ScreenedPage } from './mailbox-state.ts';
import { ErrorCodes, isMwiError } from '../errors.ts';
import { MicroBatch } from './micro-batch.ts';
import { withRedis } from './redis-unavailable.ts';
import { assertMailbox, assertSummary, assertValidUpdate, assertVersion } from './validate-update.ts';

export interface RedisMailboxStoreOptions {
  /** Shared, caller-owned client; must not have a keyPrefix (the prefix lives in `keys`). */
  redis: RedisClient;
  clock?: Clock;
  keys?: StoreKeys;
  /** Largest batch one applyUpdates call takes: the script blocks Redis while it runs. Default 1000. */
  maxBatchUpdates?: number;
}

const SCRIPTS = {
  applyUpdates: { name: 'mwiApplyUpdates', lua: APPLY_UPDATES_LUA },
  takeDirty: { name: 'mwiTakeDirty', lua: TAKE_DIRTY_LUA, numberOfKeys: 1 },
  recordDelivered: { name: 'mwiRecordDelivered', lua: RECORD_DELIVERED_LUA },
  recordAttempt: { name: 'mwiRecordAttempt', lua: RECORD_ATTEMPT_LUA, numberOfKeys: 2 },
  park: { name: 'mwiPark', lua: PARK_LUA, numberOfKeys: 2 },
  sweepPage: { name: 'mwiSweepPage', lua: SWEEP_PAGE_LUA, numberOfKeys: 2 },
  sweepViews: { name: 'mwiSweepViews', lua: SWEEP_VIEWS_LUA },
  markDirty: { name: 'mwiMarkDirty', lua: MARK_DIRTY_LUA },
} as const;

/** SCAN COUNT hint of the index backfill. */
const BACKFILL_SCAN_COUNT = 1_000;

/** A glob pattern matching `text` literally (SCAN MATCH treats * ? [ ] \\ as special). */
function globLiteral(text: string): string {
  return text.replace(/[*?[\]\\]/g, (c) => `\\${c}`);
}

type ScriptCall = (...args: string[]) => Promise<unknown>;

const DEFAULT_MAX_BATCH_UPDATES = 1000;
/**
 * Most recordDelivered() calls of one event-loop turn that go into one script call
 * (micro-batch.ts). A recordDelivered of 256 mailboxes runs about 1 ms in Redis.
 */
const MAX_CALLS_PER_SCRIPT = 256;
/** The 10 arguments of one mailbox in the record-delivered script (lua/record-delivered.ts). */
type DeliveredArgs = readonly [string, string, string, string, string, string, string, string, string, string];

function assertPositiveInteger(n: unknown, name: string): asserts n is number {
  if (typeof n !== 'number' || !Number.isSafeInteger(n) || n <= 0) throw new RangeError(`${name} must be a positive integer, got ${String(n)}`);
}

function assertTime(ms: unknown, name: string): asserts ms is number {
  if (typeof ms !== 'number' || !Number.isFinite(ms) || ms < 0) throw new RangeError(`${name} must be a time in ms since the epoch, got ${String(ms)}`);
}

export class RedisMailboxStore {
  readonly #redis: RedisClient;
  readonly #clock: Clock;
  readonly #keys: StoreKeys;
  readonly #maxBatchUpdates: number;
  readonly #delivered = new MicroBatch<{ key: string; args: DeliveredArgs }, DeliveredResult>({
    maxItems: MAX_CALLS_PER_SCRIPT,
    flush: (items) => this.#recordDeliveredBatch(items),
    // A script error (e.g. WRONGTYPE on one corrupt key) aborts the whole batch: record each
    // mailbox on its own so only the bad one fails. An outage fails them all anyway.
    splitOnError: (err) => !isMwiError(err, ErrorCodes.REDIS_UNAVAILABLE),
  });

  constructor(opts: RedisMailboxStoreOptions) {
    assertNoKeyPrefix(opts.redis);
    const maxBatchUpdates = opts.maxBatchUpdates ?? DEFAULT_MAX_BATCH_UPDATES;
    assertPositiveInteger(maxBatchUpdates, 'maxBatchUpdates');
    this.#redis = opts.redis;
    this.#clock = opts.clock ?? systemClock;
    this.#keys = opts.keys ?? storeKeys();
    this.#maxBatchUpdates = maxBatchUpdates;
    for (const script of Object.values(SCRIPTS)) {
      this.#redis.defineCommand(script.name, { lua: script.lua, ...('numberOfKeys' in script ? { numberOfKeys: script.numberOfKeys } : {}) });
    }
  }

  #run(script: keyof typeof SCRIPTS, args: string[]): Promise<unknown> {
    const call = (this.#redis as unknown as Record<string, ScriptCall>)[SCRIPTS[script].name];
    if (call === undefined) throw new Error(`script ${script} is not defined on the Redis client`);
    return withRedis(script, () => call.apply(this.#redis, args));
  }

  /**
   * Validates the whole batch, then applies it in one atomic script call: an update replaces a
   * mailbox's desired state only if its version is strictly greater. Results follow input order.
   */
  async applyUpdates(updates: readonly MailboxUpdate[]): Promise<ApplyResult[]> {
    if (updates.length > this.#maxBatchUpdates) throw new RangeError(`batch of ${updates.length} updates exceeds maxBatchUpdates ${this.#maxBatchUpdates}`);
    updates.forEach(assertValidUpdate);
    if (updates.length === 0) return [];

    const keys = [this.#keys.dirty(), this.#keys.mailboxIndex()];
    const args = [String(this.#clock.now())];
    for (const u of updates) {
      keys.push(this.#keys.mailbox(u.mailbox));
      args.push(String(u.version), u.mailbox, encodeDesiredState(u.summary, u.route));
    }
    const reply = (await this.#run('applyUpdates', [String(keys.length), ...keys, ...args])) as number[];
    return reply.map((r) => (r === 1 ? 'applied' : 'stale'));
  }

  /**
   * Reads the next page of the mailbox index (lexical order) after `after` ('' for the first
   * page) and screens it in Redis (lua/sweep-page.ts): counts every mailbox, returns only those
   * that may need a delivery. `page.last` is the cursor of the next call; fewer than `limit`
   * entries read: that was the last page. One round trip per page.
   */
  async screenMailboxes(after: string, limit: number, screen: ScreenCriteria): Promise<ScreenedPage> {
    assertPositiveInteger(limit, 'limit');
    assertTime(screen.now, 'now');
    const args = [this.#keys.mailboxIndex(), this.#keys.dirty(), after, String(limit), this.#keys.mailbox(''), String(screen.now), String(Math.max(0, screen.refreshMarginMs)), screen.mode];
    const reply = (await this.#run('sweepPage', args)) as Array<string | number | null>;
    const candidates: MailboxScreen[] = [];
    for (let i = 4; i + 3 < reply.length; i += 4) candidates.push(screenOf(String(reply[i]), reply[i + 1], reply[i + 2], reply[i + 3], null));
    const last = reply[1];
    return {
      read: Number(reply[0]),
      ...(typeof last === 'string' ? { last } : {}),
      scanned: Number(reply[2]),
      dirty: Number(reply[3]),
      candidates,
    };
  }

  /** Views of the named mailboxes, in input order (one round trip; unknown mailboxes have no desiredVersion). */
  async viewMailboxes(mailboxes: readonly string[]): Promise<MailboxView[]> {
    mailboxes.forEach((m) => assertMailbox(m));
    if (mailboxes.length === 0) return [];
    const keys = [this.#keys.dirty(), ...mailboxes.map((m) => this.#keys.mailbox(m))];
    const reply = (await this.#run('sweepViews', [String(keys.length), ...keys, ...mailboxes])) as Array<string | null>;
    return mailboxes.map((m, i) => new RawMailboxView(m, reply[6 * i], reply[6 * i + 1], reply[6 * i + 2], reply[6 * i + 3], reply[6 * i + 4], reply[6 * i + 5]));
  }

  /**
   * Marks mailboxes due (at `dueAt`, default now) so their stored desired state is delivered
   * again; one already dirty keeps its due time, so no mailbox gets two deliveries at once.
   * Results follow input order. Callers wake the delivery scheduler for the marked ones.
   */
  async markDirty(mailboxes: readonly string[], dueAt: number = this.#clock.now()): Promise<MarkResult[]> {
    if (mailboxes.length > this.#maxBatchUpdates) throw new RangeError(`batch of ${mailboxes.length} mailboxes exceeds maxBatchUpdates ${this.#maxBatchUpdates}`);
    mailboxes.forEach((m) => assertMailbox(m));
    assertTime(dueAt, 'dueAt');
    if (mailboxes.length === 0) return [];
    const keys = [this.#keys.dirty(), ...mailboxes.map((m) => this.#keys.mailbox(m))];
    const reply = (await this.#run('markDirty', [String(keys.length), ...keys, String(dueAt), ...mailboxes])) as number[];
    return reply.map((r) => (r === 1 ? 'marked' : r === 0 ? 'already-dirty' : 'no-desired-state'));
  }

  /** Mailboxes in the index (every mailbox that ever had a desired state). */
  indexedCount(): Promise<number> {
    return withRedis('indexedCount', () => this.#redis.zcard(this.#keys.mailboxIndex()));
  }

  /**
   * Adds mailboxes written before the index existed (data of an older version) to the index,
   * once: SCAN over the mailbox hashes in steps of about 1000 keys, then a marker so later calls
   * return at once. Idempotent and safe to interrupt (ZADD NX; the marker is set last).
   * Returns the number of mailboxes added.
   */
  async backfillMailboxIndex(signal?: AbortSignal): Promise<number> {
    const ready = this.#keys.mailboxIndexReady();
    if ((await withRedis('backfill check', () => this.#redis.exists(ready))) === 1) return 0;
    const hashPrefix = this.#keys.mailbox('');
    const match = `${globLiteral(hashPrefix)}*`;
    // On a cluster SCAN sees one node's keys: ask the node that owns our hash tag's slot.
    const node = await withRedis('backfill slot owner', () => slotOwner(this.#redis, ready));
    let cursor = '0';
    let added = 0;
    do {
      if (signal?.aborted) return added;
      const [next, keys] = await withRedis('backfill scan', () => node.scan(cursor, 'MATCH', match, 'COUNT', BACKFILL_SCAN_COUNT));
      cursor = next;
      if (keys.length > 0) {
        const members = keys.flatMap((k) => [0, k.slice(hashPrefix.length)] as const);
        added += await withRedis('backfill index', () => this.#redis.zadd(this.#keys.mailboxIndex(), 'NX', ...members));
      }
    } while (cursor !== '0');
    await withRedis('backfill done', () => this.#redis.set(ready, String(this.#clock.now())));
    return added;
  }

  async get(mailbox: string): Promise<MailboxRecord | undefined> {
    assertMailbox(mailbox);
    const hash = await withRedis('get', () => this.#redis.hgetall(this.#keys.mailbox(mailbox)));
    return decodeMailboxHash(mailbox, hash);
  }

  /**
   * Up to `limit` dirty mailboxes that are due, oldest first, each leased for `leaseMs`: not
   * returned again until the lease ends or a record call reschedules it. Not a lock: a delivery
   * that outlives its lease can overlap the next one (the queue's per-mailbox job is the lock).
   * Each comes with what delivering it needs (its desired state and failed attempts), read in
   * the same script call.
   */
  async takeDue(limit: number, leaseMs: number): Promise<DueMailbox[]> {
    assertPositiveInteger(limit, 'limit');
    assertPositiveInteger(leaseMs, 'leaseMs');
    const now = this.#clock.now();
    const reply = (await this.#run('takeDirty', [this.#keys.dirty(), String(now), String(now + leaseMs), String(limit), this.#keys.mailbox('')])) as Array<string | null>;
    const due: DueMailbox[] = [];
    for (let i = 0; i + 6 < reply.length; i += 7) due.push(decodeDueMailbox(String(reply[i]), reply[i + 1], reply[i + 2], reply[i + 3], reply[i + 4], reply[i + 5], reply[i + 6]));
    return due;
  }

  /** Mailboxes whose desired version has not been delivered yet (due or leased). */
  dirtyCount(): Promise<number> {
    return withRedis('dirtyCount', () => this.#redis.zcard(this.#keys.dirty()));
  }

  /** Dirty mailboxes that are due now (not leased, no retry pending): what a takeDue would find. */
  dueCount(): Promise<number> {
    const now = this.#clock.now();
    return withRedis('dueCount', () => this.#redis.zcount(this.#keys.dirty(), '-inf', now));
  }

  /**
   * Records an attempt that did not deliver and counts it (MailboxRecord.attempts, reset by
   * recordDelivered). `retryAt` reschedules the mailbox (the retry backoff, a Retry-After);
   * without it, it is due when its lease ends. A permanent failure is recorded with park().
   */
  /** `countAttempt: false` records a deferral (nothing was sent): the failed-attempt count, and so the backoff, stays. */
  async recordAttempt(mailbox: string, outcome: Outcome, opts: { retryAt?: number; countAttempt?: boolean } = {}): Promise<AttemptResult> {
    assertMailbox(mailbox);
    if (outcome.kind === 'delivered') throw new RangeError('a delivered outcome is recorded with recordDelivered');
    if (opts.retryAt !== undefined) assertTime(opts.retryAt, 'retryAt');
    const args = [
      this.#keys.mailbox(mailbox),
      this.#keys.dirty(),
      mailbox,
      String(outcome.startedAt),
      encodeLastOutcome(outcome),
      opts.retryAt === undefined ? '' : String(opts.retryAt),
      opts.countAttempt === false ? '0' : '1',
      outcome.refusedEtag ?? '',
    ];
    return (await this.#run('recordAttempt', args)) as AttemptResult;
  }

  /**
   * Records a permanent failure of delivering `version` and parks the mailbox: it leaves the dirty
   * set and is not retried until a newer update arrives. If a newer version was accepted during
   * the attempt, the mailbox instead stays dirty and is due now.
   */
  async park(mailbox: string, version: number, outcome: Outcome): Promise<ParkResult> {
    assertMailbox(mailbox);
    assertVersion(version);
    if (outcome.kind === 'delivered') throw new RangeError('a delivered outcome is recorded with recordDelivered');
    const args = [
      this.#keys.mailbox(mailbox),
      this.#keys.dirty(),
      mailbox,
      String(version),
      String(outcome.startedAt),
      encodeLastOutcome(outcome),
      String(this.#clock.now()),
      outcome.refusedEtag ?? '',
    ];
    return (await this.#run('park', args)) as ParkResult;
  }

  /**
   * Records that `version` (with `summary`) was delivered. Clears the dirty mark only if
   * `version` is still the desired version; a newer accepted state keeps the mailbox dirty.
   * The outcome's ETag and expiry are stored with it, and `etagTarget` (the route's target URI)
   * as the target that granted them: takeDue hands them to the next delivery to that target.
   */
  async recordDelivered(mailbox: string, version: number, summary: MessageSummary, outcome: Outcome, etagTarget = ''): Promise<DeliveredResult> {
    assertMailbox(mailbox);
    assertVersion(version);
    assertSummary(summary);
    if (outcome.kind !== 'delivered') throw new RangeError(`recordDelivered needs a delivered outcome, got ${outcome.kind}`);
    const hasEtag = outcome.etag !== undefined && outcome.etag !== '' && outcome.expiresAt !== undefined;
    const args: DeliveredArgs = [
      mailbox,
      String(version),
      JSON.stringify(summary),
      String(outcome.startedAt + outcome.elapsedMs),
      String(outcome.startedAt),
      encodeLastOutcome(outcome),
      hasEtag ? (outcome.etag ?? '') : '',
      hasEtag ? String(outcome.expiresAt) : '',
      String(this.#clock.now()),
      hasEtag ? etagTarget : '',
    ];
    // The records of one event-loop turn go to Redis as one script call; each is applied on its own.
    return this.#delivered.call({ key: this.#keys.mailbox(mailbox), args });
  }

  async #recordDeliveredBatch(items: ReadonlyArray<{ key: string; args: DeliveredArgs }>): Promise<DeliveredResult[]> {
    const keys = [this.#keys.dirty()];
    const args: string[] = [];
    for (const item of items) {
      keys.push(item.key);
      args.push(...item.args);
    }
    return (await this.#run('recordDelivered', [String(keys.length), ...keys, ...args])) as DeliveredResult[];
  }
}
