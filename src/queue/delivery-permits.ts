/**
 * The mailboxes one worker process may be sending at once (delivery.concurrency), shared by every
 * drain job the process runs. A drain job takes permits BEFORE it leases mailboxes, so every
 * leased mailbox is being delivered at once: none waits for a permit while its lease runs out.
 * A permit comes back when the mailbox's SIP work ends, before its outcome is recorded.
 */
export class DeliveryPermits {
  readonly capacity: number;
  #free: number;
  readonly #waiters: Array<{ min: number; max: number; resolve: (n: number) => void; signal: AbortSignal | undefined; onAbort: () => void }> = [];

  constructor(capacity: number) {
    if (!Number.isSafeInteger(capacity) || capacity < 1) throw new RangeError(`capacity must be a positive integer, got ${capacity}`);
    this.capacity = capacity;
    this.#free = capacity;
  }

  get free(): number {
    return this.#free;
  }

  get inUse(): number {
    return this.capacity - this.#free;
  }

  /**
   * Waits until at least `min` permits are free (clamped to 1..capacity; FIFO among waiters),
   * then takes up to `max` of them. Resolves 0 if `signal` aborts first.
   */
  take(max: number, min = 1, signal?: AbortSignal): Promise<number> {
    const lo = Math.min(Math.max(1, Math.floor(min)), this.capacity);
    const hi = Math.max(lo, Math.floor(max));
    if (signal?.aborted) return Promise.resolve(0);
    if (this.#waiters.length === 0 && this.#free >= lo) return Promise.resolve(this.#grant(hi));
    return new Promise((resolve) => {
      const waiter = {
        min: lo,
        max: hi,
        resolve,
        signal,
        onAbort: () => {
          const i = this.#waiters.indexOf(waiter);
          if (i !== -1) this.#waiters.splice(i, 1);
          resolve(0);
          this.#wakeWaiters(); // the head may have been blocking others
        },
      };
      signal?.addEventListener('abort', waiter.onAbort, { once: true });
      this.#waiters.push(waiter);
    });
  }

  release(n: number): void {
    if (n <= 0) return;
    this.#free = Math.min(this.capacity, this.#free + n);
    this.#wakeWaiters();
  }

  #grant(max: number): number {
    const n = Math.min(max, this.#free);
    this.#free -= n;
    return n;
  }

  #wakeWaiters(): void {
    for (;;) {
      const head = this.#waiters[0];
      if (head === undefined || this.#free < head.min) return;
      this.#waiters.shift();
      head.signal?.removeEventListener('abort', head.onAbort);
      head.resolve(this.#grant(head.max));
    }
  }
}
