/**
 * The dashboard as the API serves it: our operations page at /dashboard and bull-board at
 * /dashboard/queues, both behind the API's guard (viewer to read, operator plus the session's
 * CSRF token to write), and /dashboard as where a form login lands.
 */
import { Queue } from 'bullmq';
import type { RedisClient } from '../store/redis-connection.ts';

import type { ApiDeps, GuardedMount } from '../api/server.ts';
import { DELIVER_QUEUE } from '../queue/drain-queue.ts';
import { storeKeys } from '../store/keys.ts';
import { SWEEP_QUEUE } from '../sweep/sweep-queue.ts';
import { bullBoardPlugin } from './bull-board-plugin.ts';
import { operationsPage } from './operations-page.ts';
import { readSweepStatus, type SweepStatus } from './sweep-status.ts';

export const DASHBOARD_PATH = '/dashboard';
export const QUEUES_PATH = `${DASHBOARD_PATH}/queues`;

export interface DashboardMountOptions {
  /** The queues bull-board shows (the delivery and sweep queues); caller-owned unless `onClose` closes them. */
  queues: readonly Queue[];
  /** The sweep's holder and latest runs for the page; without it the page says it has none. */
  sweepStatus?: () => Promise<SweepStatus>;
  /** Runs when the API closes. */
  onClose?: () => Promise<void>;
}

export type DashboardApiDeps = Required<Pick<ApiDeps, 'mounts' | 'dashboardPath'>>;

export function createDashboardMount(opts: DashboardMountOptions): DashboardApiDeps {
  const page: GuardedMount = {
    prefix: DASHBOARD_PATH,
    plugin: operationsPage({
      basePath: DASHBOARD_PATH,
      queuesPath: QUEUES_PATH,
      ...(opts.sweepStatus === undefined ? {} : { sweepStatus: opts.sweepStatus }),
      ...(opts.onClose === undefined ? {} : { onClose: opts.onClose }),
    }),
    readRole: 'viewer',
    writeRole: 'operator',
  };
  const board: GuardedMount = {
    prefix: QUEUES_PATH,
    plugin: bullBoardPlugin({ basePath: QUEUES_PATH, queues: opts.queues, dashboardPath: DASHBOARD_PATH }),
    readRole: 'viewer',
    writeRole: 'operator',
  };
  return { mounts: [page, board], dashboardPath: DASHBOARD_PATH };
}

/**
 * The dashboard of an API process on the shared Redis: the delivery and sweep queues opened on
 * `redis` (a shared client, left open when they close with the API) and the sweep status read
 * from it. Spread into startApi's deps.
 */
export function dashboardOnRedis(opts: { redis: RedisClient; keyPrefix: string }): DashboardApiDeps {
  const queues = [DELIVER_QUEUE, SWEEP_QUEUE].map((name) => {
    const queue = new Queue(name, { connection: opts.redis, prefix: opts.keyPrefix });
    queue.on('error', () => undefined); // each board request that fails answers with its cause
    return queue;
  });
  const keys = storeKeys(opts.keyPrefix);
  return createDashboardMount({
    queues,
    sweepStatus: () => readSweepStatus(opts.redis, keys),
    onClose: async () => {
      await Promise.all(queues.map((q) => q.close().catch(() => undefined)));
    },
  });
}
