/**
 * A private Sentinel set-up on loopback: a primary, one replica (startRedis, each in its temp
 * dir on a free port) and three sentinels (`redis-server <conf> --sentinel`, the conf in a temp
 * dir since a sentinel rewrites it) monitoring the primary with quorum 2, a short
 * down-after-milliseconds and failover-timeout. Ready once the replica is in sync and every
 * sentinel knows the replica and the two other sentinels (so a failover can be agreed on at once).
 */
import fs from 'node:fs';
import fsp from 'node:fs/promises';
import path from 'node:path';

import { freePort, startMovingOnPortClash } from './ports.ts';
import { makeWorkDir, newLogPath, requireBinary, spawnManaged, type ManagedProcess } from './process.ts';
import { infoFields, pollUntil, redisCli } from './redis-cli.ts';
import { REDIS_PACKAGE, redisPing, startRedis, type RedisHandle } from './redis.ts';

export interface RedisSentinelOptions {
  /** Default mymaster. */
  masterName?: string;
  /** requirepass (and masterauth) of the primary and the replica; the sentinels get it as auth-pass. None when unset. */
  password?: string;
  /** sentinel down-after-milliseconds. Default 1000. */
  downAfterMs?: number;
  /** sentinel failover-timeout. Default 5000. */
  failoverTimeoutMs?: number;
  label?: string;
  readyTimeoutMs?: number;
}

export interface SentinelNode {
  readonly port: number;
  readonly proc: ManagedProcess;
}

export interface RedisSentinelHandle {
  readonly masterName: string;
  readonly password: string | undefined;
  /** The data nodes, in start order: [initial primary, initial replica]. */
  readonly dataNodes: readonly RedisHandle[];
  readonly sentinels: readonly SentinelNode[];
  /** redis+sentinel://[:password@]127.0.0.1:s1,127.0.0.1:s2,127.0.0.1:s3/<masterName> */
  readonly url: string;
  /** The primary's port as every sentinel names it, or undefined while they disagree or fail to answer. */
  agreedPrimaryPort(): Promise<number | undefined>;
  /** SIGKILL to the current primary (a crash): returns its port. */
  killPrimary(): Promise<number>;
  /** Until every sentinel names a primary other than `oldPort` and that node reports role:master; its port and how long it took. */
  waitForFailover(oldPort: number, timeoutMs?: number): Promise<{ port: number; waitedMs: number }>;
  /** Stops the sentinels and data nodes and removes their dirs. Idempotent. */
  stop(): Promise<void>;
}

/**
 * A sentinel rewrites and fsyncs its conf on every change, in its timer loop; on a busy disk that
 * stalls the loop past 2 s, which puts the sentinel in TILT mode (no failover for 30 s). So its
 * dir is on tmpfs when there is one.
 */
async function sentinelDir(): Promise<string> {
  if (!fs.existsSync('/dev/shm')) return makeWorkDir('sentinel');
  const dir = await fsp.mkdtemp(path.join('/dev/shm', 'mwi-sentinel-'));
  process.once('exit', () => fs.rmSync(dir, { recursive: true, force: true }));
  return dir;
}

async function startSentinel(conf: string, label: string): Promise<SentinelNode & { dir: string }> {
  const binary = requireBinary('redis-server', REDIS_PACKAGE);
  const dir = await sentinelDir();
  const logPath = newLogPath('sentinel', label);
  let port = await freePort({ host: '127.0.0.1' });
  const confPath = path.join(dir, 'sentinel.conf');
  const proc = await startMovingOnPortClash({
    canMove: true,
    start: async () => {
      await fsp.writeFile(confPath, `port ${port}\nbind 127.0.0.1\ndir ${dir}\nlogfile ""\ndaemonize no\n${conf}`);
      return spawnManaged({
        name: 'sentinel',
        label,
        command: binary,
        debPackages: REDIS_PACKAGE,
        args: [confPath, '--sentinel'],
        cwd: dir,
        logPath,
        readyTimeoutMs: 10_000,
        ready: () => redisPing('127.0.0.1', port),
      });
    },
    logText: () => fsp.readFile(logPath, 'utf8'),
    movePort: async () => {
      port = await freePort({ host: '127.0.0.1' });
    },
    cleanup: () => fsp.rm(dir, { recursive: true, force: true }),
  });
  return { port, proc, dir };
}

export async function startRedisSentinel(options: RedisSentinelOptions = {}): Promise<RedisSentinelHandle> {
  const masterName = options.masterName ?? 'mymaster';
  const password = options.password;
  const label = options.label ?? 'sentinel';
  // No 5 s wait before a full sync (the default diskless-sync delay): the replica is ready at once.
  const authArgs = ['--repl-diskless-sync-delay', '0', ...(password === undefined ? [] : ['--masterauth', password])];
  const dataNodes: RedisHandle[] = [];
  const sentinels: SentinelNode[] = [];
  const sentinelDirs: string[] = [];
  let stopped = false;
  const stop = async (): Promise<void> => {
    if (stopped) return;
    stopped = true;
    await Promise.all(sentinels.map((s) => s.proc.stop(2_000)));
    await Promise.all(sentinelDirs.map((d) => fsp.rm(d, { recursive: true, force: true })));
    await Promise.all(dataNodes.map((n) => n.dispose()));
  };
  const data = (port: number, args: readonly string[]): Promise<string> => redisCli({ port, ...(password === undefined ? {} : { password }) }, args);
  const sentinel = (port: number, args: readonly string[]): Promise<string> => redisCli({ port }, args, 5_000);

  try {
    const started = await Promise.allSettled([`${label}-primary`, `${label}-replica`].map((l) => startRedis({ label: l, extraArgs: authArgs })));
    dataNodes.push(...started.flatMap((s) => (s.status === 'fulfilled' ? [s.value] : [])));
    const [primary, replica] = dataNodes;
    if (primary === undefined || replica === undefined) throw started.find((s) => s.status === 'rejected')?.reason;
    // After the start (startRedis's readiness check is an unauthenticated PING), and before the
    // replica first authenticates to the primary.
    if (password !== undefined) await Promise.all(dataNodes.map((n) => redisCli({ port: n.port }, ['CONFIG', 'SET', 'requirepass', password])));
    await data(replica.port, ['REPLICAOF', '127.0.0.1', String(primary.port)]);
    await pollUntil('the replica in sync', options.readyTimeoutMs ?? 15_000, async () => {
      const info = infoFields(await data(replica.port, ['INFO', 'replication']));
      return info.get('master_link_status') === 'up' ? true : undefined;
    });

    const conf = [
      `sentinel monitor ${masterName} 127.0.0.1 ${primary.port} 2`,
      ...(password === undefined ? [] : [`sentinel auth-pass ${masterName} ${password}`]),
      `sentinel down-after-milliseconds ${masterName} ${options.downAfterMs ?? 1_000}`,
      `sentinel failover-timeout ${masterName} ${options.failoverTimeoutMs ?? 5_000}`,
      `sentinel parallel-syncs ${masterName} 1`,
      '',
    ].join('\n');
    const watching = await Promise.allSettled([0, 1, 2].map((i) => startSentinel(conf, `${label}-${i}`)));
    for (const w of watching) {
      if (w.status !== 'fulfilled') continue;
      sentinels.push({ port: w.value.port, proc: w.value.proc });
      sentinelDirs.push(w.value.dir);
    }
    const failed = watching.find((s) => s.status === 'rejected');
    if (failed) throw failed.reason;
    // Sentinels find each other and the replica through hello messages (every 2 s).
    await pollUntil('every sentinel knows the replica and the other sentinels', options.readyTimeoutMs ?? 15_000, async () => {
      for (const s of sentinels) {
        const master = infoFields((await sentinel(s.port, ['INFO', 'sentinel'])).replace(/,/g, '\n').replace(/=/g, ':'));
        if (master.get('slaves') !== '1' || master.get('sentinels') !== '3') return undefined;
      }
      return true;
    }, 200);
  } catch (err) {
    await stop();
    throw err;
  }

  const agreedPrimaryPort = async (): Promise<number | undefined> => {
    const answers = await Promise.all(
      sentinels.map((s) => sentinel(s.port, ['SENTINEL', 'get-master-addr-by-name', masterName]).then((out) => Number(out.split('\n')[1]?.trim()), () => undefined)),
    );
    const first = answers[0];
    return first !== undefined && answers.every((a) => a === first) ? first : undefined;
  };
  const auth = password === undefined ? '' : `:${encodeURIComponent(password)}@`;
  return {
    masterName,
    password,
    dataNodes,
    sentinels,
    url: `redis+sentinel://${auth}${sentinels.map((s) => `127.0.0.1:${s.port}`).join(',')}/${masterName}`,
    agreedPrimaryPort,
    async killPrimary() {
      const port = await pollUntil('the sentinels agree on the primary', 10_000, agreedPrimaryPort);
      const node = dataNodes.find((n) => n.port === port);
      if (node === undefined) throw new Error(`the sentinels name 127.0.0.1:${port}, none of ours`);
      await node.kill9();
      return node.port;
    },
    async waitForFailover(oldPort, timeoutMs = 20_000) {
      const start = performance.now();
      const port = await pollUntil(
        `the sentinels promote a new primary instead of ${oldPort}`,
        timeoutMs,
        async () => {
          const agreed = await agreedPrimaryPort();
          if (agreed === undefined || agreed === oldPort) return undefined;
          const role = (await data(agreed, ['ROLE'])).split('\n')[0]?.trim();
          return role === 'master' ? agreed : undefined;
        },
        50,
      );
      return { port, waitedMs: Math.round(performance.now() - start) };
    },
    stop,
  };
}
