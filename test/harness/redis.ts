/**
 * A private redis-server on a free 127.0.0.1 port with its data dir in a temp folder.
 * The client is the caller's business (build one from `url`).
 */
import fsp from 'node:fs/promises';
import net from 'node:net';
import path from 'node:path';

import { freePort, startMovingOnPortClash } from './ports.ts';
import { makeWorkDir, newLogPath, requireBinary, spawnManaged } from './process.ts';
import type { ManagedProcess } from './process.ts';

export const REDIS_PACKAGE = 'redis-server';

export interface RedisOptions {
  /** AOF persistence (appendonly yes). Default false (and no RDB snapshots either). */
  appendonly?: boolean;
  /** Default everysec. The AOF buffer is written before replies go out, so acknowledged
   * writes survive kill9() either way; fsync only matters for a machine crash. */
  appendfsync?: 'always' | 'everysec' | 'no';
  port?: number;
  label?: string;
  /** Extra `--name value` config arguments. */
  extraArgs?: readonly string[];
  readyTimeoutMs?: number;
}

export interface RedisHandle {
  readonly host: '127.0.0.1';
  readonly port: number;
  /** redis://127.0.0.1:PORT */
  readonly url: `redis://${string}`;
  readonly dataDir: string;
  readonly logPath: string;
  pid(): number;
  /** SIGTERM (redis writes AOF/RDB and exits), SIGKILL after 5 s; the data dir is kept until dispose(). */
  stop(): Promise<void>;
  /** SIGKILL: a crash. */
  kill9(): Promise<void>;
  /** Start again on the same port and data dir (stops first if running). */
  restart(): Promise<void>;
  /** stop() and delete the data dir. Idempotent; use this in `after`. */
  dispose(): Promise<void>;
  /** SIGSTOP / SIGCONT: a hung Redis. */
  pause(): void;
  resume(): void;
}

/** Readiness: PING over RESP answers +PONG. */
export function redisPing(host: string, port: number, timeoutMs = 500): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = net.connect({ host, port });
    let data = '';
    const done = (ok: boolean): void => {
      socket.destroy();
      resolve(ok);
    };
    socket.setTimeout(timeoutMs, () => done(false));
    socket.once('error', () => done(false));
    socket.once('connect', () => socket.write('*1\r\n$4\r\nPING\r\n'));
    socket.on('data', (chunk) => {
      data += chunk.toString('utf8');
      if (data.includes('\r\n')) done(data.startsWith('+PONG'));
    });
  });
}

export async function startRedis(options: RedisOptions = {}): Promise<RedisHandle> {
  const binary = requireBinary('redis-server', REDIS_PACKAGE);
  const host = '127.0.0.1';
  const dataDir = await makeWorkDir('redis');
  const logPath = newLogPath('redis', options.label);
  let port = options.port ?? (await freePort({ host }));

  const launch = (): Promise<ManagedProcess> =>
    spawnManaged({
      name: 'redis',
      command: binary,
      debPackages: REDIS_PACKAGE,
      args: [
        '--port', String(port),
        '--bind', host,
        '--dir', dataDir,
        '--daemonize', 'no',
        '--protected-mode', 'yes',
        '--logfile', '',
        '--save', '',
        '--appendonly', options.appendonly ? 'yes' : 'no',
        '--appendfsync', options.appendfsync ?? 'everysec',
        ...(options.extraArgs ?? []),
      ],
      cwd: dataDir,
      logPath,
      readyTimeoutMs: options.readyTimeoutMs ?? 10_000,
      ready: () => redisPing(host, port),
    });

  const proc = await startMovingOnPortClash({
    canMove: options.port === undefined,
    start: launch,
    logText: () => fsp.readFile(logPath, 'utf8'),
    movePort: async () => {
      port = await freePort({ host });
    },
    cleanup: () => fsp.rm(dataDir, { recursive: true, force: true }),
  });
  let current: ManagedProcess = proc;
  let running = true;
  let disposed = false;

  const handle: RedisHandle = {
    host,
    port,
    url: `redis://${host}:${port}`,
    dataDir,
    logPath,
    pid: () => current.pid,
    async stop() {
      if (!running) return;
      running = false;
      await current.stop(5000);
    },
    async kill9() {
      if (!running) return;
      running = false;
      await current.kill9();
    },
    async restart() {
      if (disposed) throw new Error('redis handle disposed');
      await handle.stop();
      current = await launch();
      running = true;
    },
    async dispose() {
      if (disposed) return;
      disposed = true;
      await handle.stop();
      await fsp.rm(path.resolve(dataDir), { recursive: true, force: true });
    },
    pause: () => current.signal('SIGSTOP'),
    resume: () => current.signal('SIGCONT'),
  };
  return handle;
}
