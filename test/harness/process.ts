/**
 * Spawning real server processes for integration tests.
 *
 * Every process is started in its own process group (`detached: true` = setsid), so stop, pause
 * and resume reach all its children (Kamailio forks one process per worker). Output goes straight
 * to a log file under `.tmp/logs/` (the fd is handed to the child, so nothing is lost if the test
 * process is busy or dies). Live processes are tracked and SIGKILLed from a `process.on('exit')`
 * hook and on SIGINT/SIGTERM/SIGHUP, so a failing or interrupted test leaves nothing behind.
 */
import { execFile, spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import fsp from 'node:fs/promises';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';

/** Repository root (this file is test/harness/process.ts). */
export const REPO_ROOT = path.resolve(import.meta.dirname, '..', '..');
/** Per-test logs of every spawned process; `.tmp/` is gitignored. */
export const LOG_DIR = path.join(REPO_ROOT, '.tmp', 'logs');

const EXTRA_BIN_DIRS = ['/usr/local/sbin', '/usr/sbin', '/sbin', '/usr/local/bin', '/usr/bin', '/bin'];

export class MissingBinaryError extends Error {
  readonly code = 'HARNESS_MISSING_BINARY';
  readonly binary: string;
  readonly debPackages: string;

  constructor(binary: string, debPackages: string) {
    super(
      `${binary} not found on PATH (or in /usr/sbin, /sbin): install the Debian package(s) ` +
        `"${debPackages}" (apt-get install -y ${debPackages}), or run .ci/run`,
    );
    this.name = 'MissingBinaryError';
    this.binary = binary;
    this.debPackages = debPackages;
  }
}

/** Absolute path of an executable, or a MissingBinaryError naming the Debian package(s) to install. */
export function requireBinary(binary: string, debPackages: string): string {
  const dirs = [...(process.env.PATH ?? '').split(path.delimiter).filter(Boolean), ...EXTRA_BIN_DIRS];
  for (const dir of dirs) {
    const candidate = path.join(dir, binary);
    try {
      fs.accessSync(candidate, fs.constants.X_OK);
      if (fs.statSync(candidate).isFile()) return candidate;
    } catch {
      // not here
    }
  }
  throw new MissingBinaryError(binary, debPackages);
}

/** A file the harness needs from a Debian package (config schema, module). */
export function requireFile(file: string, debPackages: string): string {
  if (!fs.existsSync(file)) {
    throw new Error(`${file} is missing: install the Debian package(s) "${debPackages}" (apt-get install -y ${debPackages})`);
  }
  return file;
}

export interface ExitInfo {
  code: number | null;
  signal: NodeJS.Signals | null;
}

/**
 * Readiness predicate, polled until it returns true, the timeout passes or the process exits.
 * Throwing means "will never be ready" (e.g. the log shows a bind failure): the start fails at once.
 */
export type ReadyCheck = (proc: ManagedProcess) => boolean | Promise<boolean>;

export interface SpawnOptions {
  /** Short name used in log file names and error messages, e.g. "kamailio". */
  name: string;
  /** Binary name (looked up on PATH and in /usr/sbin) or absolute path. */
  command: string;
  /** Debian package(s) providing the binary, named in the error when it is missing. */
  debPackages: string;
  args: readonly string[];
  cwd?: string;
  env?: NodeJS.ProcessEnv;
  /** Added to the log file name, e.g. the test's name. */
  label?: string;
  /** Reuse a log file (appending), e.g. across a restart. Default: a new file under `.tmp/logs/`. */
  logPath?: string;
  ready?: ReadyCheck;
  readyTimeoutMs?: number;
  readyPollMs?: number;
}

export interface ManagedProcess {
  readonly name: string;
  readonly pid: number;
  readonly logPath: string;
  /** Resolves when the group leader has exited (never rejects). */
  readonly exited: Promise<ExitInfo>;
  hasExited(): boolean;
  /** SIGTERM to the group (plus SIGCONT, so a paused process can act on it), SIGKILL after `timeoutMs`. */
  stop(timeoutMs?: number): Promise<ExitInfo>;
  /** SIGKILL to the whole group: a crash. */
  kill9(): Promise<ExitInfo>;
  /** Send a signal to the whole process group (e.g. SIGSTOP / SIGCONT / SIGUSR2). */
  signal(sig: NodeJS.Signals): void;
  logText(): Promise<string>;
  /** Last `lines` lines of the log, for error messages. */
  logTail(lines?: number): Promise<string>;
}

const live = new Set<ChildProcess>();
const workDirs = new Set<string>();
let hooksInstalled = false;

function killAllNow(): void {
  for (const child of live) {
    if (child.pid === undefined) continue;
    try {
      process.kill(-child.pid, 'SIGKILL');
    } catch {
      // group already gone
    }
  }
  live.clear();
  for (const dir of workDirs) {
    try {
      fs.rmSync(dir, { recursive: true, force: true });
    } catch {
      // best effort at exit
    }
  }
  workDirs.clear();
}

function installExitHooks(): void {
  if (hooksInstalled) return;
  hooksInstalled = true;
  process.on('exit', killAllNow);
  for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) {
    const onSignal = (): void => {
      killAllNow();
      process.removeListener(sig, onSignal);
      // Re-raise so the default action (or another handler) still ends the process.
      if (process.listenerCount(sig) === 0) process.kill(process.pid, sig);
    };
    process.on(sig, onSignal);
  }
}

let logCounter = 0;

function safeName(text: string): string {
  return text.replace(/[^A-Za-z0-9._-]+/g, '_').slice(0, 60);
}

/** A fresh log file path under `.tmp/logs/` (the directory is created). */
export function newLogPath(name: string, label?: string): string {
  fs.mkdirSync(LOG_DIR, { recursive: true });
  const stamp = new Date().toISOString().replace(/[:.]/g, '-');
  const parts = [safeName(name), label ? safeName(label) : undefined, stamp, `${process.pid}-${++logCounter}`];
  return path.join(LOG_DIR, `${parts.filter(Boolean).join('-')}.log`);
}

/**
 * A fresh private work directory under the OS temp dir (short, for unix socket paths). It is
 * removed when the test process exits, if its owner has not removed it before.
 */
/** A private directory for one process, removed at exit; under `base` (default the OS temp dir). */
export async function makeWorkDir(name: string, base: string = os.tmpdir()): Promise<string> {
  installExitHooks();
  const dir = await fsp.mkdtemp(path.join(base, `mwi-${safeName(name)}-`));
  workDirs.add(dir);
  return dir;
}

function delay(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/**
 * Whether any non-zombie process is left in the group. Zombies count for kill(-pgid, 0), and
 * orphans killed together with their parent stay zombies until init reaps them (slowly, in some
 * containers), so /proc is consulted when it exists.
 */
function groupAlive(pgid: number): boolean {
  try {
    process.kill(-pgid, 0);
  } catch {
    return false;
  }
  const live = liveProcesses();
  return live === undefined || live.some((p) => p.pgrp === pgid);
}

/** Pids of the live (non-zombie) children of `pid`, from /proc (empty where there is none). */
export function childPids(pid: number): number[] {
  return (liveProcesses() ?? []).filter((p) => p.ppid === pid).map((p) => p.pid);
}

/** Every non-zombie process with its parent and group, from /proc; undefined without /proc. */
function liveProcesses(): Array<{ pid: number; ppid: number; pgrp: number }> | undefined {
  let entries: string[];
  try {
    entries = fs.readdirSync('/proc');
  } catch {
    return undefined;
  }
  const out: Array<{ pid: number; ppid: number; pgrp: number }> = [];
  for (const entry of entries) {
    if (!/^\d+$/.test(entry)) continue;
    let stat: string;
    try {
      stat = fs.readFileSync(`/proc/${entry}/stat`, 'utf8');
    } catch {
      continue; // exited meanwhile
    }
    // "pid (comm) state ppid pgrp ...": comm may contain spaces and parentheses.
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    if (fields[0] !== 'Z') out.push({ pid: Number(entry), ppid: Number(fields[1]), pgrp: Number(fields[2]) });
  }
  return out;
}

/** Start a process; resolves once `ready` says so, rejects (and kills it) on exit or timeout. */
export async function spawnManaged(options: SpawnOptions): Promise<ManagedProcess> {
  const binary = path.isAbsolute(options.command) ? options.command : requireBinary(options.command, options.debPackages);
  const logPath = options.logPath ?? newLogPath(options.name, options.label);
  fs.mkdirSync(path.dirname(logPath), { recursive: true });
  const fd = fs.openSync(logPath, 'a');
  fs.writeSync(fd, `### ${new Date().toISOString()} spawn: ${binary} ${options.args.join(' ')}\n`);
  let child: ChildProcess;
  try {
    child = spawn(binary, options.args, {
      cwd: options.cwd,
      env: options.env ?? process.env,
      detached: true,
      stdio: ['ignore', fd, fd],
    });
  } finally {
    fs.closeSync(fd);
  }
  const pid = child.pid;
  if (pid === undefined) {
    const err = await new Promise<Error>((resolve) => child.once('error', resolve));
    throw new Error(`${options.name}: spawn ${binary} failed: ${err.message}`);
  }
  installExitHooks();
  child.on('error', () => {
    // reported through `exited` / readiness; an unhandled 'error' event would crash the test process
  });
  live.add(child);
  child.unref();

  let exitInfo: ExitInfo | undefined;
  const exited = new Promise<ExitInfo>((resolve) => {
    child.once('exit', (code, signal) => {
      exitInfo = { code, signal };
      resolve(exitInfo);
    });
  });

  const killGroup = (sig: NodeJS.Signals): void => {
    try {
      process.kill(-pid, sig);
    } catch {
      // group gone
    }
  };

  // Wait for the leader and then for the rest of the group (orphaned children) to be gone.
  const waitGone = async (deadline: number): Promise<boolean> => {
    let timer: NodeJS.Timeout | undefined;
    const leaderDone = await Promise.race([
      exited.then(() => true),
      new Promise<boolean>((resolve) => {
        timer = setTimeout(() => resolve(false), Math.max(0, deadline - Date.now()));
      }),
    ]);
    clearTimeout(timer); // a pending timer would keep the test process alive until the deadline
    if (!leaderDone) return false;
    while (groupAlive(pid)) {
      if (Date.now() >= deadline) return false;
      await delay(20);
    }
    return true;
  };

  const finish = async (): Promise<ExitInfo> => {
    const info = await exited;
    live.delete(child);
    return info;
  };

  const handle: ManagedProcess = {
    name: options.name,
    pid,
    logPath,
    exited,
    hasExited: () => exitInfo !== undefined,
    async stop(timeoutMs = 5000) {
      if (exitInfo === undefined || groupAlive(pid)) {
        killGroup('SIGTERM');
        killGroup('SIGCONT');
        if (!(await waitGone(Date.now() + timeoutMs))) {
          killGroup('SIGKILL');
          await waitGone(Date.now() + 2000);
        }
      }
      return finish();
    },
    async kill9() {
      killGroup('SIGCONT');
      killGroup('SIGKILL');
      await waitGone(Date.now() + 5000);
      return finish();
    },
    signal(sig) {
      if (exitInfo !== undefined && !groupAlive(pid)) throw new Error(`${options.name} (pid ${pid}) has exited`);
      process.kill(-pid, sig);
    },
    logText: () => fsp.readFile(logPath, 'utf8'),
    async logTail(lines = 30) {
      const text = await fsp.readFile(logPath, 'utf8').catch(() => '');
      return text.split('\n').slice(-lines - 1).join('\n');
    },
  };

  if (options.ready) {
    const timeoutMs = options.readyTimeoutMs ?? 10_000;
    const pollMs = options.readyPollMs ?? 50;
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      if (exitInfo !== undefined) {
        await handle.stop(1000);
        throw new Error(
          `${options.name} exited before it was ready (code ${exitInfo.code}, signal ${exitInfo.signal}); log ${logPath}:\n${await handle.logTail()}`,
        );
      }
      let ok: boolean;
      try {
        ok = await options.ready(handle);
      } catch (err) {
        await handle.stop(1000);
        throw new Error(`${options.name} failed its readiness check: ${(err as Error).message}; log ${logPath}:\n${await handle.logTail()}`);
      }
      if (ok) break;
      if (Date.now() >= deadline) {
        await handle.stop(1000);
        throw new Error(`${options.name} not ready within ${timeoutMs} ms; log ${logPath}:\n${await handle.logTail()}`);
      }
      await delay(pollMs);
    }
  }
  return handle;
}

/** Readiness: a TCP connect to host:port succeeds. */
export function tcpAccepting(host: string, port: number, timeoutMs = 500): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = net.connect({ host, port });
    const done = (ok: boolean): void => {
      socket.destroy();
      resolve(ok);
    };
    socket.setTimeout(timeoutMs, () => done(false));
    socket.once('connect', () => done(true));
    socket.once('error', () => done(false));
  });
}

/** Readiness: the process log matches `pattern`. */
export function logMatches(pattern: RegExp): ReadyCheck {
  return async (proc) => pattern.test(await proc.logText());
}

/** Readiness: a file exists. */
export function fileExists(file: string): ReadyCheck {
  return () => fs.existsSync(file);
}

export interface RunResult {
  stdout: string;
  stderr: string;
}

/** Run a short command (kamcmd, sqlite3) with a hard timeout; rejects on non-zero exit. */
export function runCommand(
  command: string,
  debPackages: string,
  args: readonly string[],
  options: { timeoutMs?: number; cwd?: string } = {},
): Promise<RunResult> {
  const binary = requireBinary(command, debPackages);
  return new Promise((resolve, reject) => {
    execFile(
      binary,
      args,
      { timeout: options.timeoutMs ?? 5000, killSignal: 'SIGKILL', maxBuffer: 64 * 1024 * 1024, cwd: options.cwd, encoding: 'utf8' },
      (err, stdout, stderr) => {
        if (err) {
          reject(new Error(`${command} ${args.join(' ')} failed (exit ${String(err.code)}, signal ${String(err.signal)}, killed ${err.killed}): ${err.message}\n${stderr}`));
        } else {
          resolve({ stdout, stderr });
        }
      },
    );
  });
}
