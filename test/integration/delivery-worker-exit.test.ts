// workers/delivery-worker.ts refuses to start without what it needs, with a stable code and exit code.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import path from 'node:path';
import { describe, it } from 'node:test';

import { freePort } from '../harness/ports.ts';
import { REPO_ROOT, spawnManaged } from '../harness/process.ts';
import { startRedis } from '../harness/redis.ts';

const WORKER = path.join(REPO_ROOT, 'workers', 'delivery-worker.ts');

function runWorker(env: Record<string, string>): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const base = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('MWI_')));
  return new Promise((resolve) => {
    execFile(process.execPath, [WORKER], { env: { ...base, ...env }, timeout: 15_000, encoding: 'utf8' }, (err, stdout, stderr) => {
      resolve({ code: err ? (typeof err.code === 'number' ? err.code : null) : 0, stdout, stderr });
    });
  });
}

describe('delivery worker process: start-up refusals', { timeout: 60_000 }, () => {
  it('exits 2 with MWI_REDIS_URL_REQUIRED when redis.url is unset', async () => {
    const r = await runWorker({});
    assert.equal(r.code, 2);
    assert.match(r.stderr, /MWI_REDIS_URL_REQUIRED/);
  });

  it('exits 2 with MWI_CONFIG_INVALID on a bad setting', async () => {
    const r = await runWorker({ MWI_REDIS__URL: 'redis://127.0.0.1:1', MWI_DELIVERY__CONCURRENCY: '0' });
    assert.equal(r.code, 2);
    assert.match(r.stderr, /MWI_CONFIG_INVALID: delivery\.concurrency must be an integer/);
  });

  it('exits 69 when Redis cannot be reached within redis.startupTimeoutMs, without printing the password', async () => {
    const port = await freePort();
    const r = await runWorker({ MWI_REDIS__URL: `redis://user:s3cret@127.0.0.1:${port}`, MWI_REDIS__STARTUP_TIMEOUT_MS: '2000' });
    assert.equal(r.code, 69);
    assert.match(r.stdout, /Redis not ready at start \(connect\); trying again/, 'it retried first');
    assert.match(r.stdout, /cannot reach Redis/);
    assert.doesNotMatch(r.stdout + r.stderr, /s3cret/);
  });

  it('waits for a Redis that comes up after it (within redis.startupTimeoutMs) and starts', async () => {
    const port = await freePort();
    const base = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('MWI_')));
    const worker = await spawnManaged({
      name: 'mwi-worker',
      label: 'late-redis',
      command: process.execPath,
      args: [WORKER],
      cwd: REPO_ROOT,
      env: { ...base, MWI_REDIS__URL: `redis://127.0.0.1:${port}`, MWI_REDIS__STARTUP_TIMEOUT_MS: '30000' },
      debPackages: 'nodejs',
      readyTimeoutMs: 5_000,
      ready: async (p) => (await p.logText()).includes('Redis not ready at start'),
    });
    let redis;
    try {
      // The worker has seen Redis unreachable and is retrying; now Redis comes up.
      redis = await startRedis({ port, label: 'late-redis' });
      const deadline = Date.now() + 20_000;
      while (!(await worker.logText()).includes('"msg":"delivery worker started"')) {
        assert.ok(Date.now() < deadline, `the worker did not start once Redis was up: ${await worker.logText()}`);
        await new Promise((r) => setTimeout(r, 100));
      }
    } finally {
      const exit = await worker.stop();
      await redis?.dispose();
      assert.deepEqual(exit, { code: 0, signal: null }, 'SIGTERM after a late start: a clean shutdown');
    }
  });
});
