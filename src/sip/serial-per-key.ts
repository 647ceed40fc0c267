/**
 * Runs tasks for the same key one after another (one PUBLISH in flight per mailbox, RFC 3903:
 * concurrent PUBLISHes on one ETag cause 412 storms). Different keys run concurrently; the map
 * holds only keys with work pending.
 */
export class SerialPerKey {
  readonly #tails = new Map<string, Promise<unknown>>();

  run<T>(key: string, task: () => Promise<T>): Promise<T> {
    const prev = this.#tails.get(key);
    const next = prev ? prev.then(task, task) : task();
    // The tail settles after `next` either way and forgets the key if nothing queued behind it.
    const release = (): void => {
      if (this.#tails.get(key) === tail) this.#tails.delete(key);
    };
    const tail: Promise<void> = next.then(release, release);
    this.#tails.set(key, tail);
    return next;
  }

  get size(): number {
    return this.#tails.size;
  }
}
