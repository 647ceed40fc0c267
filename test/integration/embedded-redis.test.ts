// The private redis-server of `mwi start`: persistence, the data-dir lock and what happens after
// a runner dies, against real redis-server processes in temp dirs.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import fsp from 'node:fs/promises';
import path from 'node:path';
import { after, describe, it } from 'node:test';

import { Redis } from 'ioredis';
import { pino } from 'pino';

import { isMwiError } from '../../src/errors.ts';
import type { Logger } from '../../src/log.ts';
import { findRedisServer, LOCK_FILE_NAME, startEmbeddedRedis, type EmbeddedRedis } from '../../src/runtime/embedded-redis.ts';
import { pidExists, pidRuns } from '../../src/runtime/process-info.ts';
import { makeWorkDir, REPO_ROOT, spawnManaged } from '../harness/process.ts';

function capturingLog(): { log: Logger; lines: Array<{ msg: string }> } {
  const lines: Array<{ msg: string }> = [];
  const log = pino({ level: 'info' }, { write: (s: string) => void lines.push(JSON.parse(s) as { msg: string }) });
  return { log, lines };
}

async function withClient<T>(url: string, fn: (r: Redis) => Promise<T>): Promise<T> {
  const r = new Redis(url, { lazyConnect: true, maxRetriesPerRequest: 1, retryStrategy: () => null });
  r.on('error', () => {}); // surfaced by the rejected call
  try {
    await r.connect();
    return await fn(r);
  } finally {
    r.disconnect();
  }
}

const open: EmbeddedRedis[] = [];
const strayPids = new Set<number>();
after(async () => {
  for (const r of open) await r.close(2000);
  for (const pid of strayPids) {
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      // gone
    }
  }
});

async function start(dataDir: string, log: Logger = capturingLog().log): Promise<EmbeddedRedis> {
  const r = await startEmbeddedRedis({ dataDir, log, readyTimeoutMs: 10_000, orphanStopMs: 5_000 });
  open.push(r);
  strayPids.add(r.pid);
  return r;
}

describe('embedded redis-server', () => {
  it('runs on a loopback port other than 6379 with a password, keeps data in its AOF across restarts, and stops on close', async () => {
    const dataDir = path.join(await makeWorkDir('embedded'), 'nested', 'redis');
    const first = await start(dataDir);
    assert.notEqual(first.port, 6379);
    assert.match(first.url, /^redis:\/\/:[0-9a-f]{48}@127\.0\.0\.1:\d+$/);
    await withClient(first.url, (r) => r.set('mwi-test', 'kept'));
    await assert.rejects(withClient(first.url.replace(/:[0-9a-f]{48}@/, ':wrong@'), (r) => r.ping()), 'a wrong password is refused');
    assert.ok(fs.existsSync(path.join(dataDir, LOCK_FILE_NAME)));

    await first.close();
    assert.equal(pidExists(first.pid), false);
    assert.equal(fs.existsSync(path.join(dataDir, LOCK_FILE_NAME)), false);
    assert.ok((await fsp.readdir(path.join(dataDir, 'appendonlydir'))).some((f) => f.endsWith('.manifest')));
    assert.equal(fs.existsSync(path.join(dataDir, 'dump.rdb')), false, 'no RDB snapshot');

    const second = await start(dataDir);
    assert.equal(await withClient(second.url, (r) => r.get('mwi-test')), 'kept');
    await second.close();
  });

  it('refuses a data dir held by a live runner, in this process or another', async () => {
    const dataDir = await makeWorkDir('embedded-locked');
    const held = await start(dataDir);
    await assert.rejects(start(dataDir), (err) => isMwiError(err, 'MWI_REDIS_DATA_DIR_LOCKED'));
    await held.close();

    // A lock naming another live node process.
    const other = spawn(process.execPath, ['-e', 'setTimeout(() => {}, 30000)'], { stdio: 'ignore' });
    try {
      await fsp.writeFile(path.join(dataDir, LOCK_FILE_NAME), JSON.stringify({ runnerPid: other.pid, startedAt: Date.now() }));
      await assert.rejects(start(dataDir), (err) => isMwiError(err, 'MWI_REDIS_DATA_DIR_LOCKED') && err.message.includes(`pid ${other.pid}`));
    } finally {
      other.kill('SIGKILL');
    }
  });

  it('takes over a stale lock: a dead pid, or a pid the system gave to another program', async () => {
    const dataDir = await makeWorkDir('embedded-stale');
    await fsp.writeFile(path.join(dataDir, LOCK_FILE_NAME), JSON.stringify({ runnerPid: 2 ** 22 + 12345, redisPid: 2 ** 22 + 12346, startedAt: 1 }));
    const a = await start(dataDir);
    await a.close();

    const sleeper = spawn('sleep', ['30'], { stdio: 'ignore' });
    try {
      await fsp.writeFile(path.join(dataDir, LOCK_FILE_NAME), JSON.stringify({ runnerPid: sleeper.pid, startedAt: 1 }));
      const b = await start(dataDir);
      await b.close();
    } finally {
      sleeper.kill('SIGKILL');
    }
  });

  it('stops the redis-server a SIGKILLed runner left behind, and keeps its data', async () => {
    const dataDir = await makeWorkDir('embedded-orphan');
    const script = `
      const { startEmbeddedRedis } = await import(${JSON.stringify(path.join(REPO_ROOT, 'src/runtime/embedded-redis.ts'))});
      const { createLogger } = await import(${JSON.stringify(path.join(REPO_ROOT, 'src/log.ts'))});
      const { Redis } = await import('ioredis');
      const r = await startEmbeddedRedis({ dataDir: ${JSON.stringify(dataDir)}, log: createLogger({ level: 'warn' }) });
      const c = new Redis(r.url); await c.set('orphan-key', 'survived'); c.disconnect();
      console.log('READY ' + r.pid);
      setInterval(() => {}, 1000);
    `;
    const runner = await spawnManaged({
      name: 'embedded-redis-runner',
      command: process.execPath,
      debPackages: 'nodejs',
      args: ['--input-type=module', '-e', script],
      cwd: REPO_ROOT,
      ready: async (p) => /READY \d+/.test(await p.logText()),
    });
    const orphanPid = Number(/READY (\d+)/.exec(await runner.logText())?.[1]);
    strayPids.add(orphanPid);
    await runner.kill9();
    assert.ok(await pidRuns(orphanPid, /redis/), 'redis-server outlives a SIGKILLed runner');

    const { log, lines } = capturingLog();
    const next = await start(dataDir, log);
    // An orphan's parent is init, which may take its time to reap it: a zombie counts as stopped.
    assert.equal(await pidRuns(orphanPid, /redis/), false, 'the orphan was stopped');
    assert.ok(lines.some((l) => /killed runner left behind/.test(l.msg)));
    assert.equal(await withClient(next.url, (r) => r.get('orphan-key')), 'survived');
    await next.close();
  });

  it('reports through `died` a redis-server that exits before close(), and not one that close() stops', async () => {
    const dataDir = await makeWorkDir('embedded-died');
    const r = await start(dataDir);
    process.kill(r.pid, 'SIGKILL');
    assert.match(await r.died, /exited unexpectedly \(signal SIGKILL\); see .*redis-server\.log/);
    await r.close();
    assert.equal(fs.existsSync(path.join(dataDir, LOCK_FILE_NAME)), false);

    const calm = await start(dataDir);
    await calm.close();
    const settled = await Promise.race([calm.died.then(() => 'died'), new Promise((resolve) => setTimeout(() => resolve('quiet'), 100))]);
    assert.equal(settled, 'quiet');
  });

  it('reports MWI_REDIS_SERVER_FAILED with the log when redis-server cannot start', async () => {
    const dataDir = await makeWorkDir('embedded-broken');
    await fsp.mkdir(path.join(dataDir, 'appendonlydir'));
    await fsp.writeFile(path.join(dataDir, 'appendonlydir', 'appendonly.aof.manifest'), 'this is not a manifest\n');
    await assert.rejects(start(dataDir), (err) => isMwiError(err, 'MWI_REDIS_SERVER_FAILED') && /exited while starting/.test(err.message) && /redis-server\.log/.test(err.message));
    assert.equal(fs.existsSync(path.join(dataDir, LOCK_FILE_NAME)), false, 'the lock is released');
  });

  it('reports MWI_REDIS_SERVER_MISSING naming the Debian package when redis-server is not on the search path', async () => {
    assert.throws(() => findRedisServer('/nonexistent:/also-not-here'), (err) => isMwiError(err, 'MWI_REDIS_SERVER_MISSING') && /install the Debian package redis-server/.test(err.message));
    await assert.rejects(startEmbeddedRedis({ dataDir: await makeWorkDir('embedded-missing'), log: capturingLog().log, searchPath: '' }), (err) => isMwiError(err, 'MWI_REDIS_SERVER_MISSING'));
  });
});
