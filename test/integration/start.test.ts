// `mwi start` as a newcomer and an operator run it: a real process with its private redis-server,
// the demo's presence simulator and PBX generator, checked through the HTTP API, the log lines,
// the exit code, the process table and the data dir.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import fs from 'node:fs';
import fsp from 'node:fs/promises';
import path from 'node:path';
import { after, describe, it } from 'node:test';

import { MwiClient, MwiClientError } from '../../src/client/mwi-client.ts';
import { pidExists } from '../../src/runtime/process-info.ts';
import { makeWorkDir, REPO_ROOT, spawnManaged, type ManagedProcess } from '../harness/process.ts';

const BIN = path.join(REPO_ROOT, 'bin', 'mwi.ts');
const TOKEN = 'start-test-producer-token';
const VIEWER = 'start-test-viewer-token';
const SHUTDOWN_DEADLINE_MS = 5_000;

interface LogLine {
  msg?: string;
  [key: string]: unknown;
}

function logLines(text: string): LogLine[] {
  const out: LogLine[] = [];
  for (const line of text.split('\n')) {
    if (!line.startsWith('{')) continue;
    try {
      out.push(JSON.parse(line) as LogLine);
    } catch {
      // a line cut by a concurrent read
    }
  }
  return out;
}

function runnerEnv(dataDir: string, extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [k, v] of Object.entries(process.env)) if (!k.startsWith('MWI_')) env[k] = v;
  return {
    ...env,
    MWI_REDIS__DATA_DIR: dataDir,
    MWI_API__PORT: '0',
    MWI_API__PRODUCER_TOKEN: TOKEN,
    MWI_API__VIEWER_TOKEN: VIEWER,
    MWI_DELIVERY__SHUTDOWN_DEADLINE_MS: String(SHUTDOWN_DEADLINE_MS),
    ...extra,
  };
}

/** A short `mwi` run to its end: exit code and output. */
function mwi(args: string[], env: NodeJS.ProcessEnv): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(process.execPath, [BIN, ...args], { env, cwd: REPO_ROOT, timeout: 30_000 }, (err, stdout, stderr) => {
      const code = err && typeof (err as { code?: unknown }).code === 'number' ? (err as { code: number }).code : err ? -1 : 0;
      resolve({ code, stdout, stderr });
    });
  });
}

async function until<T>(what: string, timeoutMs: number, probe: () => Promise<T | undefined>): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (value !== undefined) return value;
    if (Date.now() >= deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
}

const strayRedisPids = new Set<number>();
after(() => {
  // A failed test must not leave a redis-server behind (it runs in its own process group).
  for (const pid of strayRedisPids) {
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      // gone, as it should be
    }
  }
});

describe('mwi start --demo', () => {
  let runner: ManagedProcess | undefined;
  after(async () => {
    await runner?.stop(2000);
  });

  it('publishes demo mailboxes to the simulator, refuses a second instance on its data dir, and stops cleanly on SIGTERM', async () => {
    const dataDir = path.join(await makeWorkDir('start-demo'), 'redis');
    const started = Date.now();
    runner = await spawnManaged({
      name: 'mwi-start',
      label: 'demo',
      command: process.execPath,
      debPackages: 'nodejs',
      args: [BIN, 'start', '--demo', '--demo-mailboxes', '5', '--demo-rate', '20'],
      cwd: REPO_ROOT,
      env: runnerEnv(dataDir),
      ready: async (p) => logLines(await p.logText()).some((l) => l.msg?.startsWith('mwi-runner started') === true),
      readyTimeoutMs: 15_000,
    });
    const proc = runner;
    const lines = logLines(await proc.logText());
    const startLine = lines.find((l) => l.msg?.startsWith('mwi-runner started'));
    const apiUrl = startLine?.apiUrl as string;
    assert.match(apiUrl, /^http:\/\/127\.0\.0\.1:\d+$/);
    assert.match(String(startLine?.redis), /^redis:\/\/:\*\*\*@127\.0\.0\.1:\d+$/, 'the Redis URL is logged with its password masked');
    assert.doesNotMatch(await proc.logText(), new RegExp(TOKEN), 'the producer token is never logged');
    const redisPid = lines.find((l) => l.msg?.startsWith('private redis-server started'))?.redisPid as number;
    assert.ok(Number.isSafeInteger(redisPid));
    strayRedisPids.add(redisPid);
    assert.ok(pidExists(redisPid));

    // Every demo mailbox delivered to the simulator: the API shows the simulator's 200 and its ETag.
    const client = new MwiClient({ baseUrl: apiUrl, token: VIEWER });
    const mailboxes = ['sip:1000@demo.invalid', 'sip:1001@demo.invalid', 'sip:1002@demo.invalid', 'sip:1003@demo.invalid', 'sip:1004@demo.invalid'];
    for (const mailbox of mailboxes) {
      const state = await until(`${mailbox} delivered`, 15_000 - (Date.now() - started), async () => {
        try {
          const s = await client.mailbox(mailbox);
          return s.delivered !== null && s.etag !== null ? s : undefined;
        } catch (err) {
          if (err instanceof MwiClientError && err.code === 'MWI_MAILBOX_NOT_FOUND') return undefined;
          throw err;
        }
      });
      assert.equal(state.lastOutcome?.kind, 'delivered');
      assert.equal(state.lastOutcome?.status, 200);
    }

    // One registry for the process, with prom-client's process metrics, behind the viewer token.
    const metrics = await fetch(`${apiUrl}/metrics`, { headers: { authorization: `Bearer ${VIEWER}` } });
    assert.equal(metrics.status, 200);
    const metricsText = await metrics.text();
    assert.match(metricsText, /^mwi_sweep_runs_total\{/m);
    assert.match(metricsText, /^process_cpu_user_seconds_total /m);
    assert.equal((await fetch(`${apiUrl}/metrics`)).status, 401);

    // The status line reports what the simulator holds.
    const status = await until('a demo status line', 10_000, async () =>
      logLines(await proc.logText()).find((l) => /^demo: \d+ updates -> \d+ PUBLISH(?: \(\d+ answered 503\))? -> simulator holds [1-9]\d* mailboxes \(\d+ pending\)/.test(l.msg ?? '')),
    );
    assert.ok(((status.demo as { holding: number }).holding) >= 1);

    // A second runner on the same data dir: a clear error, no second redis-server.
    const second = await mwi(['start'], runnerEnv(dataDir));
    assert.equal(second.code, 69, second.stderr);
    assert.match(second.stderr, /MWI_REDIS_DATA_DIR_LOCKED/);
    assert.match(second.stderr, /in use by another mwi runner \(pid \d+\)/);
    assert.ok(pidExists(redisPid), 'the first instance keeps its redis-server');

    const stopAt = Date.now();
    proc.signal('SIGTERM');
    let lateTimer: NodeJS.Timeout | undefined;
    const late = new Promise<'late'>((resolve) => {
      lateTimer = setTimeout(() => resolve('late'), SHUTDOWN_DEADLINE_MS + 3_000);
    });
    const exit = await Promise.race([proc.exited, late]);
    clearTimeout(lateTimer);
    assert.notEqual(exit, 'late', 'the runner did not exit within its shutdown deadline');
    assert.deepEqual(exit, { code: 0, signal: null });
    assert.ok(Date.now() - stopAt < SHUTDOWN_DEADLINE_MS + 3_000);
    assert.equal(pidExists(redisPid), false, 'the private redis-server is gone');
    strayRedisPids.delete(redisPid);

    const aof = await fsp.readdir(path.join(dataDir, 'appendonlydir')).catch(() => [] as string[]);
    assert.ok(aof.some((f) => f.endsWith('.manifest')) || fs.existsSync(path.join(dataDir, 'appendonly.aof')), `no AOF in ${dataDir}: ${aof.join(', ')}`);
    assert.equal(fs.existsSync(path.join(dataDir, 'mwi-runner.lock')), false, 'the lock file is removed');
  });
});

describe('mwi start failures', () => {
  it('shuts down with exit 69 when its private redis-server dies under it', async () => {
    const dataDir = path.join(await makeWorkDir('start-redis-dies'), 'redis');
    const proc = await spawnManaged({
      name: 'mwi-start',
      label: 'redis-dies',
      command: process.execPath,
      debPackages: 'nodejs',
      args: [BIN, 'start'],
      cwd: REPO_ROOT,
      env: runnerEnv(dataDir),
      ready: async (p) => logLines(await p.logText()).some((l) => l.msg?.startsWith('mwi-runner started') === true),
      readyTimeoutMs: 15_000,
    });
    try {
      const redisPid = logLines(await proc.logText()).find((l) => l.msg?.startsWith('private redis-server started'))?.redisPid as number;
      strayRedisPids.add(redisPid);
      process.kill(redisPid, 'SIGKILL');
      let lateTimer: NodeJS.Timeout | undefined;
      const exit = await Promise.race([proc.exited, new Promise<'late'>((resolve) => (lateTimer = setTimeout(() => resolve('late'), SHUTDOWN_DEADLINE_MS + 3_000)))]);
      clearTimeout(lateTimer);
      assert.deepEqual(exit, { code: 69, signal: null });
      assert.ok(logLines(await proc.logText()).some((l) => l.level === 'fatal' && /exited unexpectedly \(signal SIGKILL\)/.test(l.msg ?? '')));
    } finally {
      await proc.stop(2000);
    }
  });

  it('exits 69 naming the Debian package when redis-server is not on PATH', async () => {
    const dataDir = path.join(await makeWorkDir('start-nopath'), 'redis');
    const r = await mwi(['start'], runnerEnv(dataDir, { PATH: path.dirname(process.execPath) }));
    assert.equal(r.code, 69, r.stdout + r.stderr);
    assert.match(r.stderr, /MWI_REDIS_SERVER_MISSING/);
    assert.match(r.stderr, /install the Debian package redis-server/);
  });

  it('exits 2 with the field path for a bad setting', async () => {
    const dataDir = path.join(await makeWorkDir('start-badconfig'), 'redis');
    const r = await mwi(['start'], runnerEnv(dataDir, { MWI_DELIVERY__SHUTDOWN_DEADLINE_MS: '5' }));
    assert.equal(r.code, 2, r.stdout + r.stderr);
    assert.match(r.stderr, /MWI_CONFIG_INVALID: delivery\.shutdownDeadlineMs must be an integer between/);
    assert.equal(fs.existsSync(dataDir), false, 'nothing was started');
  });

  it('exits 2 for a demo size out of range', async () => {
    const dataDir = path.join(await makeWorkDir('start-baddemo'), 'redis');
    const r = await mwi(['start', '--demo', '--demo-rate', '0'], runnerEnv(dataDir));
    assert.equal(r.code, 2, r.stdout + r.stderr);
    assert.match(r.stderr, /--demo-rate must be between/);
  });
});
