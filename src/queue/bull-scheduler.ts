/**
 * DeliveryScheduler over BullMQ: makes sure drain jobs exist when mailboxes become dirty, without
 * a job per event. schedule() calls within `coalesceMs` are folded into one addBulk that wakes
 * ceil(mailboxes / batchSize) drain slots (1..slots), round robin; each slot's deduplication id
 * absorbs a wake-up while its job waits and turns one that arrives while it runs into a single
 * follow-up (see drain-queue.ts). A failed schedule() loses nothing: the dirty set keeps the
 * mailboxes and the periodic kick wakes a drain within about a second.
 */
import type { JobsOptions } from 'bullmq';

import type { Clock, TimerHandle } from '../clock.ts';
import { ErrorCodes, MwiError } from '../errors.ts';
import { withRedis } from '../store/redis-unavailable.ts';
import type { DeliveryScheduler } from './delivery-scheduler.ts';
import { DRAIN_JOB, DRAIN_SLOTS, drainJobOptions, type DrainJobData } from './drain-queue.ts';

/** The part of a BullMQ Queue the scheduler uses. */
export interface DrainJobQueue {
  addBulk(jobs: Array<{ name: string; data: DrainJobData; opts?: JobsOptions }>): Promise<unknown>;
}

export interface BullDeliverySchedulerOptions {
  queue: DrainJobQueue;
  clock: Clock;
  /** delivery.batchSize: mailboxes one drain takes at a time. */
  batchSize: number;
  /** Default DRAIN_SLOTS. */
  slots?: number;
  /** schedule() calls within this window share one addBulk. Default 5. */
  coalesceMs?: number;
  /** Picks the first slot (so processes do not all start at slot 0). Default Math.random. */
  random?: () => number;
}

interface Pending {
  mailboxes: number;
  promise: Promise<void>;
  resolve: () => void;
  reject: (err: unknown) => void;
  timer: TimerHandle;
}

export class BullDeliveryScheduler implements DeliveryScheduler {
  readonly slots: number;
  readonly #queue: DrainJobQueue;
  readonly #clock: Clock;
  readonly #batchSize: number;
  readonly #coalesceMs: number;
  #cursor: number;
  #pending: Pending | undefined;
  #closed = false;

  constructor(opts: BullDeliverySchedulerOptions) {
    this.slots = opts.slots ?? DRAIN_SLOTS;
    if (!Number.isSafeInteger(this.slots) || this.slots < 1) throw new RangeError(`slots must be a positive integer, got ${this.slots}`);
    if (!Number.isSafeInteger(opts.batchSize) || opts.batchSize < 1) throw new RangeError(`batchSize must be a positive integer, got ${opts.batchSize}`);
    this.#queue = opts.queue;
    this.#clock = opts.clock;
    this.#batchSize = opts.batchSize;
    this.#coalesceMs = opts.coalesceMs ?? 5;
    this.#cursor = Math.floor((opts.random ?? Math.random)() * this.slots);
  }

  /**
   * Resolves once drain jobs are queued for these mailboxes (together with every other call of
   * the same few-ms window); rejects with MWI_REDIS_UNAVAILABLE if the queue could not be
   * reached (the mailboxes are still delivered, by the periodic kick) or MWI_QUEUE_CLOSED.
   */
  schedule(mailboxes: readonly string[]): Promise<void> {
    if (this.#closed) return Promise.reject(new MwiError(ErrorCodes.QUEUE_CLOSED, 'the delivery scheduler is closed'));
    if (mailboxes.length === 0) return Promise.resolve();
    if (this.#pending === undefined) {
      let resolve!: () => void;
      let reject!: (err: unknown) => void;
      const promise = new Promise<void>((res, rej) => {
        resolve = res;
        reject = rej;
      });
      const timer = this.#clock.setTimeout(() => void this.#flush(), this.#coalesceMs);
      this.#pending = { mailboxes: 0, promise, resolve, reject, timer };
    }
    this.#pending.mailboxes += mailboxes.length;
    return this.#pending.promise;
  }

  /** Queues drain jobs on the next `count` slots (round robin; a slot that already has one waiting absorbs it). */
  async wake(count: number): Promise<void> {
    const n = Math.min(this.slots, Math.max(1, Math.floor(count)));
    const jobs: Parameters<DrainJobQueue['addBulk']>[0] = [];
    for (let i = 0; i < n; i++) {
      const slot = this.#cursor;
      this.#cursor = (this.#cursor + 1) % this.slots;
      jobs.push({ name: DRAIN_JOB, data: { slot }, opts: drainJobOptions(slot) });
    }
    await withRedis('schedule drains', () => this.#queue.addBulk(jobs));
  }

  /** Queues a drain on one slot: from a drain job of that slot, the follow-up that runs after it. */
  async wakeSlot(slot: number): Promise<void> {
    await withRedis('schedule a follow-up drain', () => this.#queue.addBulk([{ name: DRAIN_JOB, data: { slot }, opts: drainJobOptions(slot) }]));
  }

  /** Sends what is pending now; later schedule() calls reject with MWI_QUEUE_CLOSED. */
  async close(): Promise<void> {
    this.#closed = true;
    const pending = this.#pending;
    if (pending === undefined) return;
    this.#clock.clearTimeout(pending.timer);
    await this.#flush();
  }

  async #flush(): Promise<void> {
    const pending = this.#pending;
    if (pending === undefined) return;
    this.#pending = undefined;
    try {
      await this.wake(Math.ceil(pending.mailboxes / this.#batchSize));
      pending.resolve();
    } catch (err) {
      pending.reject(err);
    }
  }
}
