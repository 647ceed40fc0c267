// workers/delivery-worker.ts refuses to start without what it needs, with a stable code and exit code.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import path from 'node:path';
import { describe, it } from 'node:test';

import { freePort } from '../harness/ports.ts';
import { REPO_ROOT } from '../harness/process.ts';

const WORKER = path.join(REPO_ROOT, 'workers', 'delivery-worker.ts');

function runWorker(env: Record<string, string>): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const base = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('MWI_')));
  return new Promise((resolve) => {
    execFile(process.execPath, [WORKER], { env: { ...base, ...env }, timeout: 15_000, encoding: 'utf8' }, (err, stdout, stderr) => {
      resolve({ code: err ? (typeof err.code === 'number' ? err.code : null) : 0, stdout, stderr });
    });
  });
}

describe('delivery worker process: start-up refusals', { timeout: 30_000 }, () => {
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

  it('exits 69 when Redis cannot be reached, without printing the password', async () => {
    const port = await freePort();
    const r = await runWorker({ MWI_REDIS__URL: `redis://user:s3cret@127.0.0.1:${port}` });
    assert.equal(r.code, 69);
    assert.match(r.stdout, /cannot reach Redis/);
    assert.doesNotMatch(r.stdout + r.stderr, /s3cret/);
  });
});
