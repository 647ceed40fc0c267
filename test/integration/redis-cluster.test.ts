// The runner on a real Redis Cluster (3 primaries on loopback, with a password): the API process
// and a delivery worker process on redis+cluster://, updates posted over HTTP, delivered to a
// SIPp UAS; an operator pause and resume (control-plane Lua and pub/sub), a status read, one
// sweep run under the redlock lock; and every key of the deployment in one slot on one node.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';

import { storeKeys } from '../../src/store/keys.ts';
import type { RedisClient } from '../../src/store/redis-connection.ts';
import { RedisMailboxStore } from '../../src/store/redis-mailbox-store.ts';
import { createStoreClient } from '../../src/store/store-client.ts';
import type { ManagedProcess } from '../harness/process.ts';
import { pollUntil } from '../harness/redis-cli.ts';
import { startRedisCluster, type RedisClusterHandle } from '../harness/redis-cluster.ts';
import { startSippUas, type SippUasHandle } from '../harness/sipp.ts';
import { spawnApiProcess, type ApiProcess } from '../support/api-process.ts';
import { spawnDeliveryWorker } from '../support/delivery-worker-process.ts';
import { runMwi } from '../support/run-mwi.ts';

const PREFIX = '{mwi-cluster}';
const PRODUCER = 'cluster-producer-token';
const MAILBOXES = Array.from({ length: 40 }, (_, i) => `sip:${5000 + i}@mwi.test`);

async function post(api: ApiProcess, updates: Array<{ mailbox: string; version: number }>): Promise<number> {
  const res = await fetch(`${api.url}/v1/mwi`, {
    method: 'POST',
    headers: { authorization: `Bearer ${PRODUCER}`, 'content-type': 'application/json' },
    body: JSON.stringify({ updates: updates.map((u) => ({ mailbox: u.mailbox, counts: { new: u.version % 100, old: 0 }, version: u.version })) }),
    signal: AbortSignal.timeout(5_000),
  });
  await res.arrayBuffer();
  return res.status;
}

describe('the runner on a Redis Cluster', { timeout: 60_000 }, () => {
  let cluster: RedisClusterHandle;
  let uas: SippUasHandle;
  let api: ApiProcess | undefined;
  let worker: ManagedProcess | undefined;
  let redis: RedisClient | undefined;

  before(async () => {
    [cluster, uas] = await Promise.all([
      startRedisCluster({ password: 'cluster-secret', label: 'runner-cluster' }),
      startSippUas({ scenario: 'uas-200', transport: 'udp', countRequests: false, label: 'runner-cluster' }),
    ]);
  });
  after(async () => {
    redis?.disconnect();
    await worker?.stop(3_000);
    await api?.proc.stop(3_000);
    await uas?.stop();
    await cluster?.stop();
  });

  it('delivers every mailbox at its latest version; pause, resume, status and a locked sweep run work; every key sits in one slot on one node', async (t) => {
    const env = {
      MWI_REDIS__URL: cluster.url,
      MWI_REDIS__KEY_PREFIX: PREFIX,
      MWI_LOG__LEVEL: 'info',
      MWI_TARGETS__DEFAULT_PUBLISH_TARGET: uas.uri,
      MWI_RATE__INITIAL_PER_SEC: '400',
    };
    [api, worker] = await Promise.all([spawnApiProcess('cluster', { ...env, MWI_API__PRODUCER_TOKEN: PRODUCER }), spawnDeliveryWorker('cluster', env)]);
    assert.match(String(api.started.redis), /^redis\+cluster:\/\/:\*\*\*@127\.0\.0\.1:\d+,/, 'the URL is logged with its password masked');
    redis = await createStoreClient({ url: cluster.url });
    const store = new RedisMailboxStore({ redis, keys: storeKeys(PREFIX) });
    const delivered = async (mailbox: string): Promise<number | undefined> => (await store.get(mailbox))?.delivered?.version;
    const allAt = (version: number) => async () => ((await Promise.all(MAILBOXES.map(delivered))).every((v) => v === version) ? true : undefined);

    // Three versions per mailbox, in separate requests: the newest wins.
    for (const version of [1, 2, 3]) assert.equal(await post(api, MAILBOXES.map((mailbox) => ({ mailbox, version }))), 202);
    await pollUntil('every mailbox delivered at version 3', 20_000, allAt(3));

    // Pause through the control plane (Lua on the cluster, announced by pub/sub): new versions wait.
    const paused = await runMwi(['pause', '--reason', 'cluster maintenance', '--actor', 'test'], env);
    assert.equal(paused.code, 0, paused.stderr);
    assert.equal(await post(api, MAILBOXES.map((mailbox) => ({ mailbox, version: 4 }))), 202, 'updates are accepted while paused');
    await new Promise((resolve) => setTimeout(resolve, 1_500));
    assert.ok((await Promise.all(MAILBOXES.map(delivered))).every((v) => v === 3), 'nothing is delivered while paused');
    const status = await runMwi(['status', '--json'], env);
    assert.equal(status.code, 0, status.stderr);
    assert.match(status.stdout, /cluster maintenance/);
    assert.ok((await store.dirtyCount()) >= MAILBOXES.length, 'the paused updates wait in the dirty set');
    const resumed = await runMwi(['resume', '--reason', 'done', '--actor', 'test'], env);
    assert.equal(resumed.code, 0, resumed.stderr);
    await pollUntil('every mailbox delivered at version 4 after resume', 15_000, allAt(4));

    // One sweep run: takes the redlock lock on the cluster, backfills the index (SCAN on the slot's node), releases.
    const sweep = await runMwi(['sweep', 'run', '--json'], env);
    assert.equal(sweep.code, 0, sweep.stderr);
    const record = JSON.parse(sweep.stdout) as { outcome: string; counts: { scanned: number } };
    assert.equal(record.outcome, 'completed');
    assert.equal(record.counts.scanned, MAILBOXES.length);
    assert.equal(await redis.exists(`${PREFIX}:sweep-lock`), 0, 'the sweep lock is released');
    assert.equal(await redis.llen(`${PREFIX}:sweep-runs`), 1);

    // Every key of the deployment (store, BullMQ, breakers, rate, control) in one slot, on the node that owns it.
    const slot = await cluster.keyslot(PREFIX);
    const owner = await cluster.ownerPort(slot);
    const perNode = await Promise.all(cluster.nodes.map(async (n) => ({ port: n.port, keys: await cluster.keysOn(n.port, `*${PREFIX}*`) })));
    const keys = perNode.find((n) => n.port === owner)?.keys ?? [];
    t.diagnostic(`slot ${slot} on 127.0.0.1:${owner}: ${keys.length} keys; on the other nodes: ${perNode.filter((n) => n.port !== owner).map((n) => n.keys.length).join(', ')}`);
    for (const n of perNode) if (n.port !== owner) assert.deepEqual(n.keys, [], `no key of ours on ${n.port}`);
    assert.equal(Number(await cluster.cli(owner, ['CLUSTER', 'COUNTKEYSINSLOT', String(slot)])), keys.length, 'all of them in the one slot');
    for (const part of [':mailbox:', ':mailboxes', ':deliver:', ':breakers', ':rate:', ':rate-targets', ':control-audit', ':sweep-runs']) {
      assert.ok(keys.some((k) => k.includes(part)), `a key with ${part} among ${keys.length}`);
    }
  });
});
