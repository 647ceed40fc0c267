/**
 * Where a mailbox's current publication (the server's SIP-ETag and when it lapses) is kept between
 * PUBLISHes. Memory for a single process; a Redis implementation lands with the queue.
 */
export interface Publication {
  etag: string;
  /** When the server's grant lapses (ms since epoch). */
  expiresAt: number;
}

export interface PublicationStore {
  get(key: string): Promise<Publication | undefined>;
  set(key: string, publication: Publication): Promise<void>;
  delete(key: string): Promise<void>;
}

export class MemoryPublicationStore implements PublicationStore {
  readonly #map = new Map<string, Publication>();

  get(key: string): Promise<Publication | undefined> {
    return Promise.resolve(this.#map.get(key));
  }

  set(key: string, publication: Publication): Promise<void> {
    this.#map.set(key, publication);
    return Promise.resolve();
  }

  delete(key: string): Promise<void> {
    this.#map.delete(key);
    return Promise.resolve();
  }

  get size(): number {
    return this.#map.size;
  }
}
