// The runner on a Sentinel-managed primary (a primary, one replica, three sentinels on loopback,
// with a password): the API process and a delivery worker process on redis+sentinel://, a steady
// flow of updates over HTTP delivered to a SIPp UAS; the primary is killed with SIGKILL, the
// sentinels promote the replica, and the runner reconnects to it on its own.
//
// What is promised: every update accepted (202) AFTER the failover completed is delivered, and
// the API answers 503 only for a bounded time. Updates accepted shortly BEFORE the kill may be
// lost: Redis replicates asynchronously, so a write acknowledged by the old primary but not yet
// copied to the replica is gone after the promotion (the flow below keeps writing newer versions
// after the failover, so every mailbox's final state is one accepted afterwards).
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';

import { storeKeys } from '../../src/store/keys.ts';
import type { RedisClient } from '../../src/store/redis-connection.ts';
import { RedisMailboxStore } from '../../src/store/redis-mailbox-store.ts';
import { createStoreClient } from '../../src/store/store-client.ts';
import type { ManagedProcess } from '../harness/process.ts';
import { pollUntil } from '../harness/redis-cli.ts';
import { startRedisSentinel, type RedisSentinelHandle } from '../harness/redis-sentinel.ts';
import { startSippUas, type SippUasHandle } from '../harness/sipp.ts';
import { spawnApiProcess, type ApiProcess } from '../support/api-process.ts';
import { spawnDeliveryWorker } from '../support/delivery-worker-process.ts';

const PREFIX = '{mwi-sentinel}';
const PRODUCER = 'sentinel-producer-token';
const MAILBOXES = Array.from({ length: 20 }, (_, i) => `sip:${6000 + i}@mwi.test`);
const PAUSE_BETWEEN_POSTS_MS = 25;
/** How long the API may answer errors around a failover (down-after 1 s + election + reconnect backoff). */
const MAX_ERROR_WINDOW_MS = 15_000;

interface Attempt {
  mailbox: string;
  version: number;
  /** HTTP status, or 0 for no answer (timeout, connection error). */
  status: number;
  sentAt: number;
  doneAt: number;
}

async function post(api: ApiProcess, mailbox: string, version: number): Promise<number> {
  try {
    const res = await fetch(`${api.url}/v1/mwi`, {
      method: 'POST',
      headers: { authorization: `Bearer ${PRODUCER}`, 'content-type': 'application/json' },
      body: JSON.stringify({ mailbox, counts: { new: version % 100, old: 0 }, version }),
      signal: AbortSignal.timeout(3_000),
    });
    await res.arrayBuffer();
    return res.status;
  } catch {
    return 0;
  }
}

describe('the runner on a Sentinel-managed primary', { timeout: 60_000 }, () => {
  let sentinel: RedisSentinelHandle;
  let uas: SippUasHandle;
  let api: ApiProcess | undefined;
  let worker: ManagedProcess | undefined;
  let redis: RedisClient | undefined;

  before(async () => {
    [sentinel, uas] = await Promise.all([
      startRedisSentinel({ password: 'sentinel-data-secret', label: 'runner-sentinel' }),
      startSippUas({ scenario: 'uas-200', transport: 'udp', countRequests: false, label: 'runner-sentinel' }),
    ]);
  });
  after(async () => {
    redis?.disconnect();
    await worker?.stop(3_000);
    await api?.proc.stop(3_000);
    await uas?.stop();
    await sentinel?.stop();
  });

  it('keeps accepting and delivering across a kill -9 of the primary; every update accepted after the failover is delivered', async (t) => {
    const env = {
      MWI_REDIS__URL: sentinel.url,
      MWI_REDIS__KEY_PREFIX: PREFIX,
      MWI_LOG__LEVEL: 'info',
      MWI_TARGETS__DEFAULT_PUBLISH_TARGET: uas.uri,
      MWI_RATE__INITIAL_PER_SEC: '400',
    };
    [api, worker] = await Promise.all([spawnApiProcess('sentinel', { ...env, MWI_API__PRODUCER_TOKEN: PRODUCER }), spawnDeliveryWorker('sentinel', env)]);
    assert.match(String(api.started.redis), /^redis\+sentinel:\/\/:\*\*\*@127\.0\.0\.1:\d+,127\.0\.0\.1:\d+,127\.0\.0\.1:\d+\/mymaster$/, 'the URL is logged with its password masked');
    redis = await createStoreClient({ url: sentinel.url });
    const store = new RedisMailboxStore({ redis, keys: storeKeys(PREFIX) });

    const attempts: Attempt[] = [];
    let version = 0;
    let flowing = true;
    const flow = (async () => {
      while (flowing) {
        version++;
        const mailbox = MAILBOXES[version % MAILBOXES.length] ?? '';
        const sentAt = Date.now();
        const status = await post(api, mailbox, version);
        attempts.push({ mailbox, version, status, sentAt, doneAt: Date.now() });
        await new Promise((resolve) => setTimeout(resolve, PAUSE_BETWEEN_POSTS_MS));
      }
    })();
    try {
      // Flowing and delivering before the crash.
      await pollUntil('deliveries before the crash', 15_000, async () => ((await Promise.all(MAILBOXES.map((m) => store.get(m)))).every((r) => r?.delivered !== undefined) ? true : undefined));
      const oldPort = await sentinel.killPrimary();
      const killedAt = Date.now();
      const { port: newPort, waitedMs } = await sentinel.waitForFailover(oldPort);
      const failedOverAt = Date.now();
      // Keep going until the API has answered 202 for 3 s in a row after the failover.
      await pollUntil('3 s of 202s after the failover', 20_000, () => {
        const recent = attempts.filter((a) => a.sentAt >= failedOverAt);
        const lastError = [...recent].reverse().find((a) => a.status !== 202);
        const since = lastError?.doneAt ?? failedOverAt;
        return Promise.resolve(Date.now() - since >= 3_000 && recent.some((a) => a.status === 202) ? true : undefined);
      });
      flowing = false;
      await flow;

      const errors = attempts.filter((a) => a.status !== 202 && a.sentAt >= killedAt);
      const firstError = errors[0];
      const lastError = errors.at(-1);
      const errorWindowMs = firstError === undefined || lastError === undefined ? 0 : lastError.doneAt - firstError.sentAt;
      const statuses = [...new Set(errors.map((e) => e.status))].join(', ');
      t.diagnostic(
        `primary 127.0.0.1:${oldPort} killed; sentinels promoted 127.0.0.1:${newPort} ${waitedMs} ms later; ` +
          `the API answered ${errors.length} of ${attempts.filter((a) => a.sentAt >= killedAt).length} posts with errors (${statuses || 'none'}) ` +
          `over ${errorWindowMs} ms (first ${firstError ? firstError.sentAt - killedAt : 0} ms after the kill, last ended ${lastError ? lastError.doneAt - failedOverAt : 0} ms after the promotion)`,
      );
      assert.ok(errorWindowMs < MAX_ERROR_WINDOW_MS, `errors for ${errorWindowMs} ms`);
      assert.ok(errors.every((e) => e.status === 503 || e.status === 0), `only 503 or no answer during the failover: ${statuses}`);

      // Every update accepted after the failover completed is delivered: each mailbox's newest accepted
      // version (all accepted after the failover, given 3 s of flow) is its delivered version.
      const acceptedAfter = attempts.filter((a) => a.status === 202 && a.sentAt >= failedOverAt);
      const newest = new Map<string, number>();
      for (const a of attempts) if (a.status === 202) newest.set(a.mailbox, Math.max(newest.get(a.mailbox) ?? 0, a.version));
      for (const a of acceptedAfter) assert.ok((newest.get(a.mailbox) ?? 0) >= a.version);
      assert.ok(MAILBOXES.every((m) => acceptedAfter.some((a) => a.mailbox === m)), 'every mailbox had an update accepted after the failover');
      const start = performance.now();
      await pollUntil('every mailbox delivered at its newest accepted version', 20_000, async () => {
        const records = await Promise.all(MAILBOXES.map((m) => store.get(m)));
        return records.every((r, i) => r?.delivered?.version === newest.get(MAILBOXES[i] ?? '')) ? true : undefined;
      });
      t.diagnostic(`${acceptedAfter.length} updates accepted after the failover; all ${MAILBOXES.length} mailboxes delivered at their newest version ${Math.round(performance.now() - start)} ms after the flow stopped`);
    } finally {
      flowing = false;
      await flow;
    }
  });
});
