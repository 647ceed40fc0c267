/**
 * Calls made during one event-loop turn, sent to Redis as one command.
 *
 * A worker keeps hundreds of deliveries in flight. Each makes the same few small store calls (read
 * the mailbox, read and write its ETag, record the outcome), and most of them in the same turn:
 * the responses to a burst of PUBLISHes arrive together. ioredis's auto-pipelining already sends
 * the commands of one turn in one write. But each command still costs a Command object, its
 * encoding, a reply decode and a promise, and Redis still parses and runs each one. That cost came
 * to about half of a worker's CPU. A MicroBatch collects the calls until the turn ends
 * (setImmediate: after the I/O callbacks of this loop iteration) or until `maxItems` are waiting,
 * and runs them through one `flush` (an MGET, one Lua script over N keys).
 *
 * Each call settles with its own result. When the flush fails, every call in it rejects with that
 * error, unless `splitOnError` says the error may belong to one call only (a script that failed on
 * one corrupt key): then each call is flushed again on its own, so one bad item cannot fail every
 * batch it lands in. A caller may retry its own call: the store's calls are all idempotent.
 */

export interface MicroBatchOptions<I, O> {
  /** Runs the collected calls; resolves with one result per item, in order. */
  flush: (items: readonly I[]) => Promise<readonly O[]>;
  /** Flushes at once when this many calls are waiting (bounds the size of one command). */
  maxItems: number;
  /** A failed flush of several calls whose error this accepts is retried one call at a time. Default: never. */
  splitOnError?: (err: unknown) => boolean;
}

interface Pending<I, O> {
  items: I[];
  resolves: Array<(value: O) => void>;
  rejects: Array<(err: unknown) => void>;
}

export class MicroBatch<I, O> {
  readonly #flush: MicroBatchOptions<I, O>['flush'];
  readonly #maxItems: number;
  readonly #splitOnError: (err: unknown) => boolean;
  #pending: Pending<I, O> | undefined;

  constructor(opts: MicroBatchOptions<I, O>) {
    if (!Number.isSafeInteger(opts.maxItems) || opts.maxItems < 1) throw new RangeError(`maxItems must be a positive integer, got ${opts.maxItems}`);
    this.#flush = opts.flush;
    this.#maxItems = opts.maxItems;
    this.#splitOnError = opts.splitOnError ?? (() => false);
  }

  call(item: I): Promise<O> {
    let pending = this.#pending;
    if (pending === undefined) {
      pending = { items: [], resolves: [], rejects: [] };
      this.#pending = pending;
      setImmediate(this.#flushPending, pending);
    }
    const { promise, resolve, reject } = Promise.withResolvers<O>();
    pending.items.push(item);
    pending.resolves.push(resolve);
    pending.rejects.push(reject);
    if (pending.items.length >= this.#maxItems) this.#flushPending(pending);
    return promise;
  }

  readonly #flushPending = (pending: Pending<I, O>): void => {
    // A batch flushed early (full) is not flushed again when its setImmediate runs.
    if (this.#pending !== pending) return;
    this.#pending = undefined;
    this.#run(pending, true);
  };

  #run(batch: Pending<I, O>, maySplit: boolean): void {
    const { items, resolves, rejects } = batch;
    const fail = (err: unknown): void => {
      if (maySplit && items.length > 1 && this.#splitOnError(err)) {
        for (let i = 0; i < items.length; i++) this.#run({ items: [items[i] as I], resolves: [resolves[i] as (value: O) => void], rejects: [rejects[i] as (err: unknown) => void] }, false);
        return;
      }
      for (const reject of rejects) reject(err);
    };
    let flushed: Promise<readonly O[]>;
    try {
      flushed = this.#flush(items);
    } catch (err) {
      fail(err);
      return;
    }
    flushed.then((results) => {
      if (results.length !== items.length) {
        const err = new Error(`a batch of ${items.length} calls returned ${results.length} results`);
        for (const reject of rejects) reject(err);
        return;
      }
      for (let i = 0; i < resolves.length; i++) (resolves[i] as (value: O) => void)(results[i] as O);
    }, fail);
  }
}
