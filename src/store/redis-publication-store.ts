/**
 * The PublicationStore (SIP-ETag + expiry per target and AOR) in Redis, shared by every runner.
 * Each entry is one string key whose Redis TTL ends `ttlGraceMs` after the grant lapses: the
 * publisher still sees a just-lapsed entry (and starts afresh), and dead entries disappear.
 * The calls of one event-loop turn go out as one command each kind (micro-batch.ts): one MGET,
 * one script of SETs, one DEL.
 */
import type { RedisClient } from './redis-connection.ts';

import type { Publication, PublicationStore } from '../sip/publication-store.ts';
import { assertNoKeyPrefix, storeKeys, type StoreKeys } from './keys.ts';
import { SET_PUBLICATIONS_LUA } from './lua/set-publications.ts';
import { MicroBatch } from './micro-batch.ts';
import { withRedis } from './redis-unavailable.ts';

export interface RedisPublicationStoreOptions {
  /** Shared, caller-owned client; must not have a keyPrefix. */
  redis: RedisClient;
  keys?: StoreKeys;
  /** How long past expiresAt Redis keeps an entry (covers clock skew between runners and Redis). Default 60 s. */
  ttlGraceMs?: number;
}

const DEFAULT_TTL_GRACE_MS = 60_000;
/** Most calls of one kind in one command. */
const MAX_CALLS_PER_COMMAND = 256;
const SET_SCRIPT = 'mwiSetPublications';

interface SetCall {
  key: string;
  value: string;
  expireAtMs: number;
}

function isPublication(value: unknown): value is Publication {
  const p = value as Partial<Publication> | null;
  return typeof p === 'object' && p !== null && typeof p.etag === 'string' && p.etag !== '' && typeof p.expiresAt === 'number' && Number.isFinite(p.expiresAt);
}

export class RedisPublicationStore implements PublicationStore {
  readonly #redis: RedisClient;
  readonly #keys: StoreKeys;
  readonly #ttlGraceMs: number;
  readonly #gets = new MicroBatch<string, string | null>({
    maxItems: MAX_CALLS_PER_COMMAND,
    flush: (keys) => withRedis('publication get', () => this.#redis.mget(...keys)),
  });
  readonly #sets = new MicroBatch<SetCall, unknown>({
    maxItems: MAX_CALLS_PER_COMMAND,
    flush: async (calls) => {
      const args: Array<string | number> = [calls.length];
      for (const c of calls) args.push(c.key);
      for (const c of calls) args.push(c.value, c.expireAtMs);
      await withRedis('publication set', () => (this.#redis as unknown as Record<string, (...a: Array<string | number>) => Promise<unknown>>)[SET_SCRIPT]!(...args));
      return calls;
    },
  });
  readonly #deletes = new MicroBatch<string, unknown>({
    maxItems: MAX_CALLS_PER_COMMAND,
    flush: async (keys) => {
      await withRedis('publication delete', () => this.#redis.del(...keys));
      return keys;
    },
  });

  constructor(opts: RedisPublicationStoreOptions) {
    assertNoKeyPrefix(opts.redis);
    const ttlGraceMs = opts.ttlGraceMs ?? DEFAULT_TTL_GRACE_MS;
    if (!Number.isSafeInteger(ttlGraceMs) || ttlGraceMs < 0) throw new RangeError(`ttlGraceMs must be an integer >= 0, got ${ttlGraceMs}`);
    this.#redis = opts.redis;
    this.#keys = opts.keys ?? storeKeys();
    this.#ttlGraceMs = ttlGraceMs;
    this.#redis.defineCommand(SET_SCRIPT, { lua: SET_PUBLICATIONS_LUA });
  }

  /** An unreadable entry counts as absent: the publisher then starts with an initial PUBLISH. */
  async get(key: string): Promise<Publication | undefined> {
    const text = await this.#gets.call(this.#keys.publication(key));
    if (text === null) return undefined;
    let value: unknown;
    try {
      value = JSON.parse(text);
    } catch {
      return undefined;
    }
    return isPublication(value) ? { etag: value.etag, expiresAt: value.expiresAt } : undefined;
  }

  async set(key: string, publication: Publication): Promise<void> {
    if (!isPublication(publication) || publication.expiresAt <= 0) throw new RangeError('publication needs a non-empty etag and expiresAt > 0');
    const value = JSON.stringify({ etag: publication.etag, expiresAt: publication.expiresAt });
    // An expiry time already in the past deletes the key at once, which is what a lapsed grant deserves.
    const expireAtMs = Math.ceil(publication.expiresAt) + this.#ttlGraceMs;
    await this.#sets.call({ key: this.#keys.publication(key), value, expireAtMs });
  }

  async delete(key: string): Promise<void> {
    await this.#deletes.call(this.#keys.publication(key));
  }
}
