/**
 * A private PostgreSQL server (Debian package postgresql) on a free 127.0.0.1 port, with its own
 * data directory in a temp folder: `initdb` (superuser "postgres", trust authentication, fsync
 * off), then `postgres` in the foreground under the process harness (its own process group,
 * killed and its folder removed at exit even if the test dies).
 *
 * PostgreSQL refuses to run as root. When the tests run as root (CI), the server runs as the
 * `postgres` system user that the Debian package creates, or, if there is none, as a system user
 * `mwi-postgres` created here with useradd; `setpriv` (util-linux) drops to it. The work folder
 * is chowned to that user. As any other user the binaries run as that user directly.
 * The machine's own PostgreSQL service (if any) is never touched.
 */
import { execFile } from 'node:child_process';
import fs from 'node:fs';
import fsp from 'node:fs/promises';
import path from 'node:path';

import pg from 'pg';

import { freePort, startMovingOnPortClash } from './ports.ts';
import { childPids, makeWorkDir, MissingBinaryError, newLogPath, requireBinary, spawnManaged } from './process.ts';
import type { ManagedProcess } from './process.ts';

export const POSTGRES_PACKAGE = 'postgresql';
/** Created (once per machine) when tests run as root and no `postgres` user exists. */
const FALLBACK_OS_USER = 'mwi-postgres';

export interface PostgresOptions {
  label?: string;
  readyTimeoutMs?: number;
  /** Extra `-c name=value` server settings. */
  settings?: Record<string, string>;
}

export interface PostgresHandle {
  readonly host: '127.0.0.1';
  readonly port: number;
  /** Superuser; trust authentication, so any password is accepted. */
  readonly user: 'postgres';
  readonly database: 'postgres';
  /** postgres://postgres@127.0.0.1:PORT/postgres */
  readonly url: string;
  readonly dataDir: string;
  readonly logPath: string;
  /** OS user the server runs as. */
  readonly osUser: string;
  pid(): number;
  /** A connected client (the caller ends it). */
  connect(): Promise<pg.Client>;
  /** Fast shutdown (SIGINT: sessions are ended), SIGKILL after 5 s; data kept until dispose(). */
  stop(): Promise<void>;
  /** SIGKILL to the whole group: a crash. */
  kill9(): Promise<void>;
  /** Start again on the same port and data dir (stops first if running). */
  restart(): Promise<void>;
  /** stop() and delete the data dir. Idempotent; use this in `after`. */
  dispose(): Promise<void>;
  /** SIGSTOP / SIGCONT the whole group: a hung server (TCP still accepts, nothing answers). */
  pause(): void;
  resume(): void;
}

function isExecutable(file: string): boolean {
  try {
    fs.accessSync(file, fs.constants.X_OK);
    return fs.statSync(file).isFile();
  } catch {
    return false;
  }
}

/** Debian's /usr/lib/postgresql/<version>/bin (newest first), else initdb/postgres on PATH. */
export function postgresBinDir(): string {
  const base = '/usr/lib/postgresql';
  let versions: string[] = [];
  try {
    versions = fs.readdirSync(base).filter((v) => /^\d+(?:\.\d+)?$/.test(v));
  } catch {
    // no Debian layout
  }
  for (const version of versions.sort((a, b) => Number(b) - Number(a))) {
    const dir = path.join(base, version, 'bin');
    if (isExecutable(path.join(dir, 'initdb')) && isExecutable(path.join(dir, 'postgres'))) return dir;
  }
  const dir = path.dirname(requireBinary('initdb', POSTGRES_PACKAGE));
  if (!isExecutable(path.join(dir, 'postgres'))) throw new MissingBinaryError('postgres', POSTGRES_PACKAGE);
  return dir;
}

interface OsUser {
  name: string;
  uid: number;
  gid: number;
}

function lookupOsUser(name: string): OsUser | undefined {
  let passwd: string;
  try {
    passwd = fs.readFileSync('/etc/passwd', 'utf8');
  } catch {
    return undefined;
  }
  for (const line of passwd.split('\n')) {
    const f = line.split(':');
    if (f[0] === name && f[2] !== undefined && f[3] !== undefined) return { name, uid: Number(f[2]), gid: Number(f[3]) };
  }
  return undefined;
}

function exec(file: string, args: readonly string[], options: { cwd?: string; timeoutMs?: number } = {}): Promise<string> {
  return new Promise((resolve, reject) => {
    execFile(
      file,
      args,
      { cwd: options.cwd, env: { ...process.env, LC_ALL: 'C', LANG: 'C' }, timeout: options.timeoutMs ?? 30_000, killSignal: 'SIGKILL', encoding: 'utf8' },
      (err, stdout, stderr) => {
        if (err) reject(new Error(`${path.basename(file)} ${args.join(' ')} failed: ${err.message}\n${stdout}${stderr}`));
        else resolve(`${stdout}${stderr}`);
      },
    );
  });
}

/** Root: the unprivileged user the server runs as (created if needed). Otherwise: undefined. */
async function serverOsUser(): Promise<OsUser | undefined> {
  if (process.getuid?.() !== 0) return undefined;
  const existing = lookupOsUser('postgres') ?? lookupOsUser(FALLBACK_OS_USER);
  if (existing) return existing;
  const useradd = requireBinary('useradd', 'passwd');
  try {
    await exec(useradd, ['--system', '--user-group', '--no-create-home', '--home-dir', '/nonexistent', '--shell', '/usr/sbin/nologin', FALLBACK_OS_USER]);
  } catch (err) {
    // A parallel test file may have created it first.
    if (!lookupOsUser(FALLBACK_OS_USER)) throw err;
  }
  const created = lookupOsUser(FALLBACK_OS_USER);
  if (!created) throw new Error(`useradd ${FALLBACK_OS_USER} succeeded but the user is not in /etc/passwd`);
  return created;
}

/** Readiness: a real login and `SELECT 1` (TCP accepts long before the server takes queries). */
async function canQuery(port: number): Promise<boolean> {
  const client = new pg.Client({ host: '127.0.0.1', port, user: 'postgres', database: 'postgres', connectionTimeoutMillis: 1_000 });
  client.on('error', () => undefined);
  try {
    await client.connect();
    await client.query('SELECT 1');
    return true;
  } catch {
    return false;
  } finally {
    await client.end().catch(() => undefined);
  }
}

/** Resolves when `p` settles or after `ms`, whichever is first; the timer never outlives it. */
async function within(p: Promise<unknown>, ms: number): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  await Promise.race([p, new Promise<void>((resolve) => (timer = setTimeout(resolve, ms)))]);
  clearTimeout(timer);
}

export async function startPostgres(options: PostgresOptions = {}): Promise<PostgresHandle> {
  const binDir = postgresBinDir();
  const osUser = await serverOsUser();
  // setpriv execs the target, so the managed pid is the postmaster itself.
  const dropPrivileges = osUser === undefined ? [] : [requireBinary('setpriv', 'util-linux'), `--reuid=${osUser.uid}`, `--regid=${osUser.gid}`, '--clear-groups', '--'];
  const asServerUser = (binary: string, args: readonly string[]): [string, string[]] => {
    const argv = [...dropPrivileges, path.join(binDir, binary), ...args];
    return [argv[0] ?? binary, argv.slice(1)];
  };

  const host = '127.0.0.1';
  const workDir = await makeWorkDir('postgres');
  const dataDir = path.join(workDir, 'data');
  const logPath = newLogPath('postgres', options.label);
  if (osUser) await fsp.chown(workDir, osUser.uid, osUser.gid);

  const [initdbCmd, initdbArgs] = asServerUser('initdb', ['-D', dataDir, '-U', 'postgres', '--auth=trust', '--encoding=UTF8', '--locale=C', '--no-sync']);
  try {
    await fsp.appendFile(logPath, await exec(initdbCmd, initdbArgs, { cwd: workDir }));
  } catch (err) {
    await fsp.rm(workDir, { recursive: true, force: true });
    throw new Error(`initdb failed (server user ${osUser?.name ?? 'current'}; the temp dir must be reachable by it): ${(err as Error).message}`);
  }

  let port = await freePort({ host });
  const settings: Record<string, string> = {
    listen_addresses: host,
    unix_socket_directories: workDir,
    fsync: 'off',
    synchronous_commit: 'off',
    full_page_writes: 'off',
    max_connections: '40',
    shared_buffers: '16MB',
    ...options.settings,
  };

  const launch = (): Promise<ManagedProcess> => {
    const [command, args] = asServerUser('postgres', ['-D', dataDir, '-p', String(port), ...Object.entries(settings).flatMap(([k, v]) => ['-c', `${k}=${v}`])]);
    return spawnManaged({
      name: 'postgres',
      command,
      debPackages: POSTGRES_PACKAGE,
      args,
      cwd: workDir,
      env: { ...process.env, LC_ALL: 'C', LANG: 'C' },
      logPath,
      readyTimeoutMs: options.readyTimeoutMs ?? 15_000,
      readyPollMs: 50,
      ready: () => canQuery(port),
    });
  };

  let current = await startMovingOnPortClash({
    canMove: true,
    start: launch,
    logText: () => fsp.readFile(logPath, 'utf8'),
    movePort: async () => {
      port = await freePort({ host });
    },
    cleanup: () => fsp.rm(workDir, { recursive: true, force: true }),
  });
  let running = true;
  let disposed = false;

  const handle: PostgresHandle = {
    host,
    port,
    user: 'postgres',
    database: 'postgres',
    url: `postgres://postgres@${host}:${port}/postgres`,
    dataDir,
    logPath,
    osUser: osUser?.name ?? 'current user',
    pid: () => current.pid,
    async connect() {
      const client = new pg.Client({ host, port, user: 'postgres', database: 'postgres', connectionTimeoutMillis: 5_000 });
      client.on('error', () => undefined);
      await client.connect();
      return client;
    },
    async stop() {
      if (!running) return;
      running = false;
      try {
        current.signal('SIGINT'); // fast shutdown: ends sessions instead of waiting for them
      } catch {
        // already gone
      }
      await within(current.exited, 5_000);
      await current.stop(2_000);
    },
    async kill9() {
      if (!running) return;
      running = false;
      // PostgreSQL setsid()s every child, so killing the postmaster's group leaves the backends
      // running until they notice their postmaster is gone: a session could go on answering
      // (CI once read 11 more cursor pages after the "crash"). Stop the postmaster (no new
      // backends), kill its children, then it.
      current.signal('SIGSTOP');
      for (const child of childPids(current.pid)) {
        try {
          process.kill(child, 'SIGKILL');
        } catch {
          // exited meanwhile
        }
      }
      await current.kill9();
    },
    async restart() {
      if (disposed) throw new Error('postgres handle disposed');
      await handle.stop();
      // A SIGKILLed postmaster leaves postmaster.pid; a new one checks that pid and starts anyway.
      current = await launch();
      running = true;
    },
    async dispose() {
      if (disposed) return;
      disposed = true;
      await handle.stop();
      await fsp.rm(workDir, { recursive: true, force: true });
    },
    pause: () => current.signal('SIGSTOP'),
    resume: () => current.signal('SIGCONT'),
  };
  return handle;
}
