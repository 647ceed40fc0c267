/**
 * A real Kamailio 5.6 presence server (presence + presence_mwi) for integration tests, on a free
 * loopback port with UDP and TCP, configured from `kamailio/kamailio.cfg.tpl` in a private temp
 * dir. See /work/shared/notes/kamailio-presence.md for how it answers PUBLISH.
 */
import fs from 'node:fs';
import fsp from 'node:fs/promises';
import path from 'node:path';

import { freePort, startMovingOnPortClash } from './ports.ts';
import type { LoopbackHost } from './ports.ts';
import { makeWorkDir, newLogPath, requireBinary, requireFile, runCommand, spawnManaged, tcpAccepting } from './process.ts';
import type { ManagedProcess } from './process.ts';
import { optionsPing } from './sip-probe.ts';

export const KAMAILIO_PACKAGES = 'kamailio kamailio-presence-modules kamailio-sqlite-modules';
export const SQLITE_PACKAGE = 'sqlite3';

const TEMPLATE = path.join(import.meta.dirname, 'kamailio', 'kamailio.cfg.tpl');
const SQLITE_SCHEMA_DIR = '/usr/share/kamailio/db_sqlite';
const MODULE_DIR_CANDIDATES = [
  '/usr/lib/x86_64-linux-gnu/kamailio/modules',
  '/usr/lib/aarch64-linux-gnu/kamailio/modules',
  '/usr/lib64/kamailio/modules',
  '/usr/lib/kamailio/modules',
  '/usr/local/lib64/kamailio/modules',
  '/usr/local/lib/kamailio/modules',
];

export type KamailioStorage = 'sqlite' | 'memory';

export interface KamailioOptions {
  storage: KamailioStorage;
  host?: LoopbackHost;
  /** Default: a free port (UDP and TCP). */
  port?: number;
  /** presence `max_expires`: PUBLISH Expires above it are clipped (5.6 never answers 423). Default 3600. */
  maxExpiresSec?: number;
  /** presence `clean_period`: how often expired presentities are deleted. Default 100 (Kamailio's). */
  cleanPeriodSec?: number;
  /** UDP and TCP worker processes. Default 1 for sqlite (mandatory in practice), 2 for memory. */
  children?: number;
  /** Shared memory (-m). Default 1024: 128 MB runs out near 8k PUBLISH/s in memory mode. */
  shmMb?: number;
  /** Kamailio `debug` level. Default 2 (info); 3 logs every request. */
  debugLevel?: number;
  /** Added to the log file name. */
  label?: string;
  readyTimeoutMs?: number;
  /**
   * Keep the work dir, and so the sqlite db, on /dev/shm: sqlite then commits (fsyncs) each
   * PUBLISH without disk I/O, so the capacity measured is Kamailio's CPU, not this VM's disk,
   * whose fsync latency varies several-fold between machines and runs. Default false.
   */
  tmpfs?: boolean;
}

export interface Presentity {
  username: string;
  domain: string;
  event: string;
  etag: string;
  /** Absolute expiry, Unix seconds. */
  expires: number;
  body: string;
}

export interface KamailioHandle {
  readonly host: LoopbackHost;
  readonly port: number;
  /** sip:127.0.0.1:PORT;transport=udp */
  readonly udpUri: string;
  /** sip:127.0.0.1:PORT;transport=tcp */
  readonly tcpUri: string;
  readonly storage: KamailioStorage;
  /** One log for the life of the handle (restarts append). */
  readonly logPath: string;
  readonly workDir: string;
  readonly configPath: string;
  /** sqlite file (sqlite storage only). */
  readonly dbPath: string | undefined;
  /** Pid of the main process (changes on restart). */
  pid(): number;
  /** Stop (SIGTERM, SIGKILL after a deadline) and remove the work dir. Idempotent. */
  stop(): Promise<void>;
  /** Crash: SIGKILL all its processes (state in memory is lost; sqlite rows stay). */
  kill9(): Promise<void>;
  /**
   * Stop and start again on the same port with all state gone (sqlite: fresh empty db, so every
   * ETag the client holds is unknown). `keepState: true` (sqlite only) keeps the db, which
   * Kamailio reloads at startup: a crash-and-recover.
   */
  restart(options?: { keepState?: boolean }): Promise<void>;
  /** SIGSTOP every Kamailio process: UDP requests pile up unanswered, TCP connects but gets no reply. */
  pause(): void;
  /** SIGCONT: the queued backlog is then processed (late). */
  resume(): void;
  /** sqlite: the presentity table (read with sqlite3, WAL so Kamailio's writes never fail on it);
   * memory: presence.presentity_list over JSON-RPC. Don't poll it in a tight loop under load. */
  presentities(): Promise<Presentity[]>;
  /** JSON-RPC over the jsonrpcs FIFO (no reply size limit): the `result`, or throws on `error`. */
  rpc(method: string, ...params: Array<string | number>): Promise<unknown>;
  /** `kamcmd` over the ctl socket (text output; replies over 64 KB fail), e.g. kamcmd('core.psx'). */
  kamcmd(...args: string[]): Promise<string>;
}

function findModulesDir(): string {
  for (const dir of MODULE_DIR_CANDIDATES) {
    if (fs.existsSync(path.join(dir, 'tm.so'))) {
      requireFile(path.join(dir, 'presence_mwi.so'), KAMAILIO_PACKAGES);
      return dir;
    }
  }
  throw new Error(`Kamailio modules (tm.so) not found in ${MODULE_DIR_CANDIDATES.join(', ')}: install the Debian package(s) "${KAMAILIO_PACKAGES}"`);
}

function hostInUri(host: LoopbackHost): string {
  return host === '::1' ? '[::1]' : host;
}

export function renderConfig(values: Record<string, string>, template = fs.readFileSync(TEMPLATE, 'utf8')): string {
  return template.replace(/\{\{([A-Z_]+)\}\}/g, (_match, key: string) => {
    const value = values[key];
    if (value === undefined) throw new Error(`kamailio.cfg.tpl: no value for {{${key}}}`);
    return value;
  });
}

async function createSqliteDb(dbPath: string): Promise<void> {
  await fsp.rm(dbPath, { force: true });
  for (const suffix of ['-wal', '-shm', '-journal']) await fsp.rm(dbPath + suffix, { force: true });
  const standard = requireFile(path.join(SQLITE_SCHEMA_DIR, 'standard-create.sql'), 'kamailio-sqlite-modules');
  const presence = requireFile(path.join(SQLITE_SCHEMA_DIR, 'presence-create.sql'), 'kamailio-sqlite-modules');
  // WAL: a reader (presentities()) never blocks Kamailio's writer, which would answer 500.
  const script = `PRAGMA journal_mode=WAL;\n${await fsp.readFile(standard, 'utf8')}\n${await fsp.readFile(presence, 'utf8')}\n`;
  const sqlPath = `${dbPath}.init.sql`;
  await fsp.writeFile(sqlPath, script);
  await runCommand('sqlite3', SQLITE_PACKAGE, [dbPath, `.read ${sqlPath}`], { timeoutMs: 10_000 });
}

/** One record of presence.presentity_list "full" (JSON-RPC), as Kamailio 5.6 names the fields. */
interface RpcPresentity {
  user?: string;
  username?: string;
  domain?: string;
  event?: string;
  etag?: string;
  expires?: number;
  body?: string;
}

interface SqliteRow {
  username: string;
  domain: string;
  event: string;
  etag: string;
  expires: number;
  body_hex: string;
}

export async function startKamailio(options: KamailioOptions): Promise<KamailioHandle> {
  const kamailioBin = requireBinary('kamailio', KAMAILIO_PACKAGES);
  requireBinary('kamcmd', KAMAILIO_PACKAGES);
  const storage = options.storage;
  if (storage === 'sqlite') {
    requireBinary('sqlite3', SQLITE_PACKAGE);
  }
  const modulesDir = findModulesDir();
  if (storage === 'sqlite') requireFile(path.join(modulesDir, 'db_sqlite.so'), KAMAILIO_PACKAGES);

  const host: LoopbackHost = options.host ?? '127.0.0.1';
  const workDir = await makeWorkDir('kamailio', options.tmpfs === true ? '/dev/shm' : undefined);
  const configPath = path.join(workDir, 'kamailio.cfg');
  const ctlSocket = path.join(workDir, 'ctl.sock');
  const pidFile = path.join(workDir, 'kamailio.pid');
  const dbPath = storage === 'sqlite' ? path.join(workDir, 'presence.db') : undefined;
  const logPath = newLogPath('kamailio', options.label);
  const readyTimeoutMs = options.readyTimeoutMs ?? 15_000;

  let port = options.port ?? (await freePort({ host }));
  let proc: ManagedProcess | undefined;
  let stopped = false;

  const writeConfig = async (): Promise<void> => {
    const config = renderConfig({
      DEFINES: storage === 'sqlite' ? '#!define WITH_SQLITE' : '',
      DEBUG_LEVEL: String(options.debugLevel ?? 2),
      CHILDREN: String(options.children ?? (storage === 'sqlite' ? 1 : 2)),
      LISTEN_HOST: host === '::1' ? '[::1]' : host,
      ALIAS: `${hostInUri(host)}:${port}`,
      PORT: String(port),
      MODULES_DIR: modulesDir,
      CTL_SOCKET: ctlSocket,
      MAX_EXPIRES: String(options.maxExpiresSec ?? 3600),
      CLEAN_PERIOD: String(options.cleanPeriodSec ?? 100),
      DB_PATH: dbPath ?? '',
      WORK_DIR: workDir,
    });
    await fsp.writeFile(configPath, config);
  };

  const launch = async (keepState = false): Promise<ManagedProcess> => {
    if (dbPath && !keepState) await createSqliteDb(dbPath);
    await fsp.rm(ctlSocket, { force: true });
    return spawnManaged({
      name: 'kamailio',
      command: kamailioBin,
      debPackages: KAMAILIO_PACKAGES,
      // -DD: stay in the foreground (no daemon fork) but keep worker processes; -E: log to stderr.
      args: ['-f', configPath, '-DD', '-E', '-m', String(options.shmMb ?? 1024), '-M', '64', '-P', pidFile, '-Y', workDir, '-w', workDir],
      cwd: workDir,
      logPath,
      readyTimeoutMs,
      readyPollMs: 100,
      ready: async () => (await optionsPing(host, port, 300)) === 200 && (await tcpAccepting(host, port)),
    });
  };

  proc = await startMovingOnPortClash({
    canMove: options.port === undefined,
    start: async () => {
      await writeConfig();
      return launch();
    },
    logText: () => fsp.readFile(logPath, 'utf8'),
    movePort: async () => {
      port = await freePort({ host });
    },
    cleanup: () => fsp.rm(workDir, { recursive: true, force: true }),
  });

  const current = (): ManagedProcess => {
    if (!proc || stopped) throw new Error('kamailio is stopped');
    return proc;
  };

  const rpcFifo = path.join(workDir, 'rpc.fifo');
  let rpcCounter = 0;
  const rpc = async (method: string, ...params: Array<string | number>): Promise<unknown> => {
    const replyName = `reply_${++rpcCounter}`; // jsonrpcs forbids "-" and "." in reply FIFO names
    const replyPath = path.join(workDir, replyName);
    await runCommand('mkfifo', 'coreutils', [replyPath]);
    // `cat` blocks on the reply FIFO until Kamailio writes it; its timeout bounds a paused server.
    const reading = runCommand('cat', 'coreutils', [replyPath], { timeoutMs: 10_000 });
    reading.catch(() => undefined); // awaited below; avoid an unhandled rejection if the write fails
    try {
      // O_NONBLOCK: ENXIO at once when Kamailio is not running, instead of blocking forever.
      const request = await fsp.open(rpcFifo, fs.constants.O_WRONLY | fs.constants.O_NONBLOCK).catch((err: Error) => {
        throw new Error(`kamailio JSON-RPC ${method}: cannot write ${rpcFifo}: ${err.message}`);
      });
      try {
        await request.write(`${JSON.stringify({ jsonrpc: '2.0', method, params, reply_name: replyName, id: rpcCounter })}\n`);
      } finally {
        await request.close();
      }
      const reply = JSON.parse((await reading).stdout) as { result?: unknown; error?: { code?: number; message?: string } };
      if (reply.error) throw new Error(`kamailio JSON-RPC ${method}: ${reply.error.code} ${reply.error.message}`);
      return reply.result;
    } finally {
      // Release a `cat` still blocked in open() (we failed before Kamailio wrote): O_RDWR never blocks.
      await fsp
        .open(replyPath, fs.constants.O_RDWR | fs.constants.O_NONBLOCK)
        .then((fh) => fh.close())
        .catch(() => undefined);
      await fsp.rm(replyPath, { force: true });
    }
  };

  const kamcmd = async (...args: string[]): Promise<string> => {
    const { stdout } = await runCommand('kamcmd', KAMAILIO_PACKAGES, ['-s', `unix:${ctlSocket}`, ...args], { timeoutMs: 5000 });
    return stdout;
  };

  const handle: KamailioHandle = {
    host,
    port,
    udpUri: `sip:${hostInUri(host)}:${port};transport=udp`,
    tcpUri: `sip:${hostInUri(host)}:${port};transport=tcp`,
    storage,
    logPath,
    workDir,
    configPath,
    dbPath,
    pid: () => current().pid,
    async stop() {
      if (stopped) return;
      stopped = true;
      await proc?.stop(5000);
      await fsp.rm(workDir, { recursive: true, force: true });
    },
    async kill9() {
      await current().kill9();
    },
    async restart(restartOptions = {}) {
      const old = current();
      await old.stop(5000);
      // Same port: UDP rebinds at once; Kamailio sets SO_REUSEADDR on its TCP listener.
      proc = await launch(restartOptions.keepState === true);
    },
    pause() {
      current().signal('SIGSTOP');
    },
    resume() {
      current().signal('SIGCONT');
    },
    async presentities() {
      if (dbPath) {
        const { stdout } = await runCommand(
          'sqlite3',
          SQLITE_PACKAGE,
          [
            '-json',
            '-cmd',
            '.timeout 2000',
            dbPath,
            'select username, domain, event, etag, expires, hex(body) as body_hex from presentity order by id',
          ],
          { timeoutMs: 5000 },
        );
        if (stdout.trim() === '') return [];
        const rows = JSON.parse(stdout) as SqliteRow[];
        return rows.map((r) => ({
          username: r.username,
          domain: r.domain,
          event: r.event,
          etag: r.etag,
          expires: Number(r.expires),
          body: Buffer.from(r.body_hex, 'hex').toString('utf8'),
        }));
      }
      const result = await rpc('presence.presentity_list', 'full');
      const rows = Array.isArray(result) ? (result as RpcPresentity[]) : [];
      return rows.map((r) => ({
        username: r.user ?? r.username ?? '',
        domain: r.domain ?? '',
        event: r.event ?? '',
        etag: r.etag ?? '',
        expires: Number(r.expires),
        body: r.body ?? '',
      }));
    },
    rpc,
    kamcmd,
  };
  return handle;
}
