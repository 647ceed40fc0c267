/**
 * Ingestion of producer updates: validate every item, map it to a MailboxUpdate (route from
 * target, contact or the configured default), write the valid ones durably with ONE
 * store.applyUpdates call, then tell the scheduler which mailboxes changed.
 *
 * All or nothing by default: one bad item refuses the whole request and nothing is written.
 * With `partial`, bad items get their own result and the valid ones are applied.
 *
 * A failed or slow scheduler.schedule() does not fail the request: the update is already in the
 * dirty set in Redis, which is the source of truth, and the periodic drain catches up.
 */
import { systemClock, type Clock, type TimerHandle } from '../clock.ts';
import type { DeliveryRoute } from '../delivery/sender.ts';
import { ErrorCodes, MwiError, isMwiError } from '../errors.ts';
import type { Logger } from '../log.ts';
import type { DeliveryScheduler } from '../queue/delivery-scheduler.ts';
import type { ApplyResult, MailboxUpdate } from '../store/mailbox-state.ts';
import type { RedisMailboxStore } from '../store/redis-mailbox-store.ts';
import { assertValidUpdate } from '../store/validate-update.ts';
import { isDeliverableUri, parseWireUpdate, type WireIssue, type WireUpdate } from './update-schema.ts';
import { summaryFromWire } from './wire-summary.ts';

/** The one store call ingestion makes. */
export type MailboxUpdateSink = Pick<RedisMailboxStore, 'applyUpdates'>;

export interface IngestServiceOptions {
  store: MailboxUpdateSink;
  scheduler: DeliveryScheduler;
  log: Logger;
  /** api.maxBatchUpdates; the store must accept batches this large. */
  maxBatchUpdates: number;
  /** targets.defaultPublishTarget: where an update naming neither target nor contact is published. */
  defaultPublishTarget?: string | undefined;
  clock?: Clock;
  /** How long a request waits for scheduler.schedule() before answering anyway. Default 1000. */
  scheduleTimeoutMs?: number;
}

export interface AcceptOptions {
  /** Apply the valid items and report the bad ones per item, instead of refusing the whole request. */
  partial: boolean;
}

export type ItemResult =
  | { index: number; ok: true; mailbox: string; result: ApplyResult }
  /** `issue.path` is relative to the item. */
  | { index: number; ok: false; issue: WireIssue };

export type AcceptResult =
  /** Every item, in input order (all `ok` unless `partial`). */
  | { refused: false; items: ItemResult[] }
  /** Nothing written. `index` names the offending item (its `issue.path` is relative to it); absent: the batch as a whole. */
  | { refused: true; index?: number; issue: WireIssue };

const DEFAULT_SCHEDULE_TIMEOUT_MS = 1000;

type Mapped = { ok: true; update: MailboxUpdate } | { ok: false; issue: WireIssue };

export class IngestService {
  readonly #store: MailboxUpdateSink;
  readonly #scheduler: DeliveryScheduler;
  readonly #log: Logger;
  readonly #maxBatchUpdates: number;
  readonly #defaultTarget: string | undefined;
  readonly #clock: Clock;
  readonly #scheduleTimeoutMs: number;

  constructor(opts: IngestServiceOptions) {
    if (!Number.isSafeInteger(opts.maxBatchUpdates) || opts.maxBatchUpdates < 1) throw new RangeError(`maxBatchUpdates must be a positive integer, got ${opts.maxBatchUpdates}`);
    // A default the sender cannot use would turn every update without a target into a 400: fail at start instead.
    if (opts.defaultPublishTarget !== undefined && !isDeliverableUri(opts.defaultPublishTarget)) {
      throw new MwiError(ErrorCodes.CONFIG_INVALID, 'targets.defaultPublishTarget is not a sip: or sips: URI the sender can use');
    }
    this.#store = opts.store;
    this.#scheduler = opts.scheduler;
    this.#log = opts.log;
    this.#maxBatchUpdates = opts.maxBatchUpdates;
    this.#defaultTarget = opts.defaultPublishTarget;
    this.#clock = opts.clock ?? systemClock;
    this.#scheduleTimeoutMs = opts.scheduleTimeoutMs ?? DEFAULT_SCHEDULE_TIMEOUT_MS;
  }

  /**
   * Resolves once the valid updates are durably in Redis (or refused). Rejects with
   * MwiError(REDIS_UNAVAILABLE) when Redis cannot take them: then nothing was written.
   */
  async accept(wireUpdates: readonly unknown[], opts: AcceptOptions): Promise<AcceptResult> {
    if (wireUpdates.length === 0) return { refused: true, issue: { code: ErrorCodes.HTTP_VALIDATION, message: 'must hold at least one update', path: [] } };
    if (wireUpdates.length > this.#maxBatchUpdates) {
      return { refused: true, issue: { code: ErrorCodes.HTTP_BATCH_TOO_LARGE, message: `must hold at most ${this.#maxBatchUpdates} updates (api.maxBatchUpdates): split the batch`, path: [] } };
    }

    const mapped = wireUpdates.map((w, i) => this.#map(w, i));
    if (!opts.partial) {
      const bad = mapped.findIndex((m) => !m.ok);
      const first = mapped[bad];
      if (first !== undefined && !first.ok) return { refused: true, index: bad, issue: first.issue };
    }

    const valid: Array<{ index: number; update: MailboxUpdate }> = [];
    mapped.forEach((m, index) => {
      if (m.ok) valid.push({ index, update: m.update });
    });
    const results = valid.length === 0 ? [] : await this.#store.applyUpdates(valid.map((v) => v.update));

    const items: ItemResult[] = mapped.map((m, index) => (m.ok ? { index, ok: true, mailbox: m.update.mailbox, result: 'stale' } : { index, ok: false, issue: m.issue }));
    const applied = new Set<string>();
    valid.forEach((v, i) => {
      const result = results[i] ?? 'stale';
      items[v.index] = { index: v.index, ok: true, mailbox: v.update.mailbox, result };
      if (result === 'applied') applied.add(v.update.mailbox);
    });
    this.#log.debug({ items: items.length, valid: valid.length, applied: applied.size }, 'updates accepted');
    await this.#schedule([...applied]);
    return { refused: false, items };
  }

  #map(input: unknown, index: number): Mapped {
    const parsed = parseWireUpdate(input);
    if (!parsed.ok) return parsed;
    const w = parsed.value;
    const route = this.#route(w);
    if (route === undefined) {
      return { ok: false, issue: { code: ErrorCodes.NO_TARGET, message: 'is required: give target or contact (no targets.defaultPublishTarget is configured)', path: ['target'] } };
    }
    const update: MailboxUpdate = { mailbox: w.mailbox, route, summary: summaryFromWire(w), version: w.version };
    // The store checks again before its script runs; a mismatch must cost one item, never the batch.
    try {
      assertValidUpdate(update, index);
    } catch (err) {
      if (!isMwiError(err) && !(err instanceof RangeError)) throw err;
      return { ok: false, issue: { code: isMwiError(err) ? err.code : ErrorCodes.HTTP_VALIDATION, message: 'is not accepted by the store', path: [] } };
    }
    return { ok: true, update };
  }

  #route(w: WireUpdate): DeliveryRoute | undefined {
    if (w.target !== undefined) return { mode: 'publish', target: w.target };
    if (w.contact !== undefined) return { mode: 'notify', contact: w.contact };
    if (this.#defaultTarget !== undefined) return { mode: 'publish', target: this.#defaultTarget };
    return undefined;
  }

  async #schedule(mailboxes: string[]): Promise<void> {
    if (mailboxes.length === 0) return;
    const scheduled = (async () => this.#scheduler.schedule(mailboxes))().then(
      () => 'scheduled' as const,
      (err: unknown) => {
        this.#log.warn({ err, mailboxes: mailboxes.length }, 'scheduling deliveries failed; the dirty set keeps the updates for the next drain');
        return 'failed' as const;
      },
    );
    let timer: TimerHandle | undefined;
    const timedOut = new Promise<'timeout'>((resolve) => {
      timer = this.#clock.setTimeout(() => resolve('timeout'), this.#scheduleTimeoutMs);
    });
    const outcome = await Promise.race([scheduled, timedOut]);
    if (timer !== undefined) this.#clock.clearTimeout(timer);
    if (outcome === 'timeout') {
      this.#log.warn({ mailboxes: mailboxes.length, timeoutMs: this.#scheduleTimeoutMs }, 'scheduling deliveries is slow; answering without waiting (the dirty set keeps the updates)');
    }
  }
}
