/**
 * What the operator commands (pause, resume, drain, status, mailbox, breaker) open: one store
 * client on the shared Redis (redis.url, as the running workers use) and the control store.
 * Without redis.url: MWI_REDIS_URL_REQUIRED (exit 2); Redis unreachable: MWI_REDIS_UNAVAILABLE (exit 69).
 */
import type { RedisClient } from '../store/redis-connection.ts';

import type { Config } from '../../config/schema.ts';
import { RedisControlStore } from '../control/redis-control-store.ts';
import { ErrorCodes, MwiError } from '../errors.ts';
import { maskUrlCredentials } from '../log.ts';
import { storeKeys, type StoreKeys } from '../store/keys.ts';
import { createStoreClient } from '../store/store-client.ts';

export interface ControlSession {
  redis: RedisClient;
  keys: StoreKeys;
  control: RedisControlStore;
  close(): Promise<void>;
}

const QUIT_TIMEOUT_MS = 1_000;

export async function openControlSession(config: Config): Promise<ControlSession> {
  const url = config.redis.url;
  if (url === undefined) {
    throw new MwiError(ErrorCodes.REDIS_URL_REQUIRED, 'redis.url is not set (MWI_REDIS__URL or MWI_REDIS__URL_FILE): this command works on the shared Redis of the running workers');
  }
  let redis: RedisClient;
  try {
    redis = await createStoreClient({ url });
  } catch (err) {
    // Name where we tried to connect, without the password.
    if (err instanceof MwiError) throw new MwiError(err.code, `cannot reach Redis at ${maskUrlCredentials(url)}: ${err.message}`, { retryable: err.retryable, cause: err });
    throw err;
  }
  const keys = storeKeys(config.redis.keyPrefix);
  const control = new RedisControlStore({ redis, keys });
  const close = async (): Promise<void> => {
    const timer = setTimeout(() => redis.disconnect(), QUIT_TIMEOUT_MS);
    try {
      await redis.quit();
    } catch {
      redis.disconnect();
    } finally {
      clearTimeout(timer);
    }
  };
  return { redis, keys, control, close };
}

/** Runs `work` on a session and always closes it. */
export async function withControlSession<T>(config: Config, work: (s: ControlSession) => Promise<T>): Promise<T> {
  const session = await openControlSession(config);
  try {
    return await work(session);
  } finally {
    await session.close();
  }
}
