/**
 * The private redis-server `mwi start` runs when no redis.url is configured: 127.0.0.1 only, a
 * free ephemeral port (never the machine's own Redis on 6379), a random password, and the
 * append-only file in redis.dataDir (fsync every second; an update the API accepted survives a
 * crash of the runner, and at worst the last second is lost when the machine itself fails).
 * No RDB snapshots: the AOF already holds everything, and periodic snapshots would only add fork
 * pauses and a second copy on disk (AOF rewrites still compact the file, with an RDB preamble).
 *
 * The configuration goes in on stdin (`redis-server -`), so the password never shows in argv.
 * redis-server runs in its own process group: a Ctrl-C in the terminal reaches only the runner,
 * which drains its workers first and stops Redis last. If the runner dies without closing, an
 * exit hook sends SIGTERM (Redis then flushes the AOF and exits); after a SIGKILL of the runner
 * the next start finds the orphan through the lock file and stops it.
 */
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import fsp from 'node:fs/promises';
import net from 'node:net';
import path from 'node:path';

import { ErrorCodes, MwiError } from '../errors.ts';
import type { Logger } from '../log.ts';
import { acquireDataDirLock, isHeldByThisProcess, type LockRecord } from './data-dir-lock.ts';
import { pidRuns, processCwd } from './process-info.ts';

export const REDIS_SERVER_DEB_PACKAGE = 'redis-server';
export const LOCK_FILE_NAME = 'mwi-runner.lock';
export const LOG_FILE_NAME = 'redis-server.log';

const HOST = '127.0.0.1';
const SYSTEM_REDIS_PORT = 6379;
const START_ATTEMPTS = 3;
const READY_POLL_MS = 50;
const KILL_WAIT_MS = 2_000;
const LOG_TAIL_LINES = 15;

export interface EmbeddedRedisOptions {
  /** Where the AOF lives; created if missing. Relative paths resolve against the working directory. */
  dataDir: string;
  log: Logger;
  /** Directories searched for redis-server, PATH-style; process.env.PATH when unset. */
  searchPath?: string;
  /** Wait this long for the first +PONG (loading a large AOF takes a while). Default 30 s. */
  readyTimeoutMs?: number;
  /** How long a previous runner's orphaned redis-server gets to exit on SIGTERM. Default 10 s. */
  orphanStopMs?: number;
}

export interface EmbeddedRedis {
  /** redis://:password@127.0.0.1:port (mask it before logging: maskUrlCredentials). */
  readonly url: string;
  readonly port: number;
  readonly pid: number;
  /** Absolute. */
  readonly dataDir: string;
  readonly logPath: string;
  /**
   * Resolves, with how it ended and where its log is, if redis-server exits before close() was
   * called (killed, out of memory, disk full); never resolves otherwise.
   */
  readonly died: Promise<string>;
  /** SIGTERM (Redis fsyncs the AOF and exits), SIGKILL after `deadlineMs` (default 10 s). Idempotent. */
  close(deadlineMs?: number): Promise<void>;
}

/** Absolute path of redis-server on the search path, or MWI_REDIS_SERVER_MISSING naming the package. */
export function findRedisServer(searchPath: string = process.env.PATH ?? ''): string {
  for (const dir of searchPath.split(path.delimiter)) {
    if (dir === '') continue;
    const candidate = path.join(dir, 'redis-server');
    try {
      fs.accessSync(candidate, fs.constants.X_OK);
      if (fs.statSync(candidate).isFile()) return candidate;
    } catch {
      // not in this directory
    }
  }
  throw new MwiError(
    ErrorCodes.REDIS_SERVER_MISSING,
    `redis-server is not installed (not found on PATH): install the Debian package ${REDIS_SERVER_DEB_PACKAGE} ` +
      `(apt-get install ${REDIS_SERVER_DEB_PACKAGE}), or set redis.url (MWI_REDIS__URL) to use a Redis you run yourself`,
    { details: { debPackage: REDIS_SERVER_DEB_PACKAGE } },
  );
}

/** A port the kernel hands out as free on 127.0.0.1 right now (ephemeral range, so never 6379). */
function freeLoopbackPort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.once('error', reject);
    server.listen({ host: HOST, port: 0, exclusive: true }, () => {
      const { port } = server.address() as net.AddressInfo;
      server.close(() => resolve(port));
    });
  });
}

/** A double-quoted value for redis.conf. */
function confString(s: string): string {
  return `"${s.replaceAll('\\', '\\\\').replaceAll('"', '\\"')}"`;
}

function redisConf(port: number, dataDir: string, password: string): string {
  return [
    `bind ${HOST}`,
    `port ${port}`,
    'protected-mode yes',
    'daemonize no',
    'supervised no',
    `dir ${confString(dataDir)}`,
    'appendonly yes',
    'appendfsync everysec',
    'save ""',
    `requirepass ${password}`,
    'logfile ""',
    '',
  ].join('\n');
}

type PingAnswer = 'pong' | 'loading' | 'no';

/** AUTH + PING over RESP. Any other server on the port (say, the machine's Redis) fails AUTH: 'no'. */
export function pingRedis(port: number, password: string, timeoutMs = 500): Promise<PingAnswer> {
  return new Promise((resolve) => {
    const socket = net.connect({ host: HOST, port });
    let data = '';
    const done = (answer: PingAnswer): void => {
      socket.destroy();
      resolve(answer);
    };
    socket.setTimeout(timeoutMs, () => done('no'));
    socket.once('error', () => done('no'));
    socket.once('connect', () => socket.write(`*2\r\n$4\r\nAUTH\r\n$${password.length}\r\n${password}\r\n*1\r\n$4\r\nPING\r\n`));
    socket.on('data', (chunk: Buffer) => {
      data += chunk.toString('latin1');
      if (data.length > 4096) return done('no');
      const lines = data.split('\r\n');
      if (lines.length < 3) return undefined; // two complete replies not in yet
      if (lines[0] !== '+OK') return done('no');
      if (lines[1] === '+PONG') return done('pong');
      return done(lines[1]?.startsWith('-LOADING') ? 'loading' : 'no');
    });
  });
}

function delay(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** Resolves true when `p` settles within `ms`, false otherwise; leaves no timer behind. */
async function settlesWithin(p: Promise<unknown>, ms: number): Promise<boolean> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<false>((resolve) => {
    timer = setTimeout(() => resolve(false), Math.max(0, ms));
  });
  try {
    return await Promise.race([p.then(() => true), timeout]);
  } finally {
    clearTimeout(timer);
  }
}

/** The last lines redis-server wrote since byte `from` of its log (earlier runs append to the same file). */
async function logTail(logPath: string, from: number): Promise<string> {
  const text = await fsp.readFile(logPath).catch(() => Buffer.alloc(0));
  return text.subarray(from).toString('utf8').trimEnd().split('\n').slice(-LOG_TAIL_LINES).join('\n');
}

function signal(pid: number, sig: NodeJS.Signals): void {
  try {
    process.kill(pid, sig);
  } catch {
    // already gone
  }
}

/** Waits (bounded) until `pid` no longer runs. */
async function waitGone(pid: number, ms: number): Promise<boolean> {
  const deadline = Date.now() + ms;
  while (await pidRuns(pid, /redis/i)) {
    if (Date.now() >= deadline) return false;
    await delay(READY_POLL_MS);
  }
  return true;
}

interface Launched {
  pid: number;
  port: number;
  /** Resolves with how it ended, e.g. "code 1" or "signal SIGKILL". */
  exited: Promise<string>;
  hasExited: () => boolean;
}

async function launch(binary: string, dataDir: string, password: string, logPath: string, readyTimeoutMs: number, log: Logger): Promise<Launched | 'port-taken'> {
  let port = await freeLoopbackPort();
  for (let i = 0; port === SYSTEM_REDIS_PORT && i < 5; i++) port = await freeLoopbackPort();
  if (port === SYSTEM_REDIS_PORT) return 'port-taken';

  const fd = fs.openSync(logPath, 'a', 0o600);
  const logFrom = fs.fstatSync(fd).size;
  const child = (() => {
    try {
      return spawn(binary, ['-'], { cwd: dataDir, detached: true, stdio: ['pipe', fd, fd] });
    } finally {
      fs.closeSync(fd);
    }
  })();
  let spawnError: Error | undefined;
  let exitedFlag = false;
  const exited = new Promise<string>((resolve) => {
    child.once('exit', (code, sig) => {
      exitedFlag = true;
      resolve(sig === null ? `code ${code}` : `signal ${sig}`);
    });
    child.once('error', (err) => {
      spawnError = err;
      exitedFlag = true;
      resolve(err.message);
    });
  });
  child.stdin?.on('error', () => {}); // EPIPE when redis-server dies at once; reported through `exited`
  child.stdin?.end(redisConf(port, dataDir, password));
  child.unref();

  const failed = async (why: string): Promise<never> => {
    if (child.pid !== undefined && !exitedFlag) {
      signal(-child.pid, 'SIGKILL');
      await settlesWithin(exited, KILL_WAIT_MS);
    }
    throw new MwiError(ErrorCodes.REDIS_SERVER_FAILED, `the private redis-server ${why}; its log ${logPath} ends with:\n${await logTail(logPath, logFrom)}`, {
      details: { logPath, dataDir },
    });
  };

  const deadline = Date.now() + readyTimeoutMs;
  let loadingLogged = false;
  for (;;) {
    if (spawnError) return failed(`could not be started (${spawnError.message})`);
    if (exitedFlag) {
      if (/Address already in use/i.test(await logTail(logPath, logFrom))) return 'port-taken';
      return failed('exited while starting');
    }
    const answer = await pingRedis(port, password);
    if (answer === 'pong') break;
    if (answer === 'loading' && !loadingLogged) {
      loadingLogged = true;
      log.info({ dataDir }, 'redis-server is loading its append-only file');
    }
    if (Date.now() >= deadline) return failed(`did not answer PING within ${readyTimeoutMs} ms`);
    await delay(READY_POLL_MS);
  }
  return { pid: child.pid as number, port, exited, hasExited: () => exitedFlag };
}

export async function startEmbeddedRedis(opts: EmbeddedRedisOptions): Promise<EmbeddedRedis> {
  const { log } = opts;
  const binary = findRedisServer(opts.searchPath);
  const dataDir = path.resolve(opts.dataDir);
  try {
    await fsp.mkdir(dataDir, { recursive: true, mode: 0o700 });
  } catch (err) {
    throw new MwiError(ErrorCodes.REDIS_SERVER_FAILED, `redis.dataDir ${dataDir} cannot be created (${(err as NodeJS.ErrnoException).code ?? 'error'})`, {
      details: { dataDir },
    });
  }
  const realDataDir = await fsp.realpath(dataDir);
  const lockFile = path.join(dataDir, LOCK_FILE_NAME);
  const orphanStopMs = opts.orphanStopMs ?? 10_000;

  const judge = async (previous: LockRecord | undefined): Promise<void> => {
    const locked = (who: string): MwiError =>
      new MwiError(ErrorCodes.REDIS_DATA_DIR_LOCKED, `redis.dataDir ${dataDir} is in use by ${who}; stop it first, or give this instance another redis.dataDir`, {
        details: { dataDir, lockFile, ...previous },
      });
    if (isHeldByThisProcess(lockFile)) throw locked('this process');
    if (previous === undefined) return; // unreadable: left by a crash between create and write
    // Our own pid in a lock we do not hold is a previous life (containers reuse pid 1).
    if (previous.runnerPid !== process.pid && (await pidRuns(previous.runnerPid, /node|mwi/i))) throw locked(`another mwi runner (pid ${previous.runnerPid})`);
    if (previous.redisPid !== undefined && (await pidRuns(previous.redisPid, /redis/i))) {
      // Left behind by a runner that was SIGKILLed. Stop it only if it provably serves this dir.
      if ((await processCwd(previous.redisPid)) !== realDataDir) throw locked(`redis-server (pid ${previous.redisPid})`);
      log.warn({ redisPid: previous.redisPid, dataDir }, 'stopping the redis-server a killed runner left behind on this data dir');
      signal(previous.redisPid, 'SIGTERM');
      if (!(await waitGone(previous.redisPid, orphanStopMs))) {
        signal(-previous.redisPid, 'SIGKILL');
        await waitGone(previous.redisPid, KILL_WAIT_MS);
      }
    }
  };
  const lock = await acquireDataDirLock(lockFile, judge);

  const password = randomBytes(24).toString('hex');
  const logPath = path.join(dataDir, LOG_FILE_NAME);
  let launched: Launched | 'port-taken' = 'port-taken';
  try {
    for (let attempt = 1; attempt <= START_ATTEMPTS && launched === 'port-taken'; attempt++) {
      launched = await launch(binary, dataDir, password, logPath, opts.readyTimeoutMs ?? 30_000, log);
    }
    if (launched === 'port-taken') throw new MwiError(ErrorCodes.REDIS_SERVER_FAILED, `no free loopback port for redis-server after ${START_ATTEMPTS} attempts`);
  } catch (err) {
    await lock.release();
    throw err;
  }
  const { pid, port, exited, hasExited } = launched;
  const onExit = (): void => signal(pid, 'SIGTERM');
  process.on('exit', onExit);
  try {
    await lock.update({ redisPid: pid, port });
  } catch (err) {
    signal(pid, 'SIGTERM');
    await settlesWithin(exited, KILL_WAIT_MS);
    process.removeListener('exit', onExit);
    await lock.release();
    throw err;
  }
  log.info({ redisPid: pid, port, dataDir }, 'private redis-server started (AOF, fsync every second)');

  let closing: Promise<void> | undefined;
  const died = exited.then((how) => (closing === undefined ? `redis-server (pid ${pid}) exited unexpectedly (${how}); see ${logPath}` : new Promise<string>(() => {})));
  const close = async (deadlineMs: number): Promise<void> => {
    if (!hasExited()) {
      signal(pid, 'SIGTERM');
      if (!(await settlesWithin(exited, deadlineMs))) {
        log.warn({ redisPid: pid, deadlineMs }, 'redis-server did not stop on SIGTERM in time: SIGKILL');
        signal(-pid, 'SIGKILL');
        await settlesWithin(exited, KILL_WAIT_MS);
      }
    }
    process.removeListener('exit', onExit);
    await lock.release();
    log.info({ redisPid: pid }, 'private redis-server stopped');
  };
  return {
    url: `redis://:${password}@${HOST}:${port}`,
    port,
    pid,
    dataDir,
    logPath,
    died,
    close(deadlineMs = 10_000) {
      closing ??= close(deadlineMs);
      return closing;
    },
  };
}
