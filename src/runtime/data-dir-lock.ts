/**
 * A lock file in the private Redis data dir, so that two runners never start two redis-servers
 * on one append-only file (Redis itself does not lock its dir). The file names the runner's pid
 * and, once started, the redis-server's pid and port. It is created atomically with its content
 * (written to a temporary file, then hard-linked into place: link fails if the lock exists).
 *
 * A lock whose owner is gone is stale; the caller's `judge` decides that (and may stop an
 * orphaned redis-server first). Known gap: two runners starting at the same instant on one
 * stale lock can both take it; starting one instance per data dir is the operator's contract.
 */
import fsp from 'node:fs/promises';

import { ErrorCodes, MwiError } from '../errors.ts';

export interface LockRecord {
  runnerPid: number;
  redisPid?: number;
  port?: number;
  startedAt: number;
}

export interface DataDirLock {
  readonly file: string;
  /** Adds the redis-server's pid and port once it runs. */
  update(fields: Pick<LockRecord, 'redisPid' | 'port'>): Promise<void>;
  /** Removes the file if it is still ours. Idempotent. */
  release(): Promise<void>;
}

/** Called with the record of an existing lock (undefined if unreadable); throws if the lock is held. */
export type StaleLockJudge = (previous: LockRecord | undefined) => Promise<void>;

const ACQUIRE_ATTEMPTS = 3;

/** Lock files this process holds: its own pid in a lock file is then no sign of staleness. */
const heldHere = new Set<string>();

/** True when this process holds the lock `file` (a pid alone cannot say: containers reuse pid 1). */
export function isHeldByThisProcess(file: string): boolean {
  return heldHere.has(file);
}

export async function readLockRecord(file: string): Promise<LockRecord | undefined> {
  let value: unknown;
  try {
    value = JSON.parse(await fsp.readFile(file, 'utf8'));
  } catch {
    return undefined;
  }
  const r = value as Partial<LockRecord> | null;
  if (typeof r !== 'object' || r === null || !Number.isSafeInteger(r.runnerPid)) return undefined;
  return {
    runnerPid: r.runnerPid as number,
    startedAt: typeof r.startedAt === 'number' ? r.startedAt : 0,
    ...(Number.isSafeInteger(r.redisPid) ? { redisPid: r.redisPid as number } : {}),
    ...(Number.isSafeInteger(r.port) ? { port: r.port as number } : {}),
  };
}

async function writeAtomically(file: string, record: LockRecord, replace: boolean): Promise<void> {
  const tmp = `${file}.${process.pid}.tmp`;
  await fsp.writeFile(tmp, `${JSON.stringify(record)}\n`, { mode: 0o600 });
  try {
    if (replace) await fsp.rename(tmp, file);
    else await fsp.link(tmp, file);
  } finally {
    await fsp.rm(tmp, { force: true });
  }
}

export async function acquireDataDirLock(file: string, judge: StaleLockJudge, now: () => number = Date.now): Promise<DataDirLock> {
  let record: LockRecord = { runnerPid: process.pid, startedAt: now() };
  for (let attempt = 1; attempt <= ACQUIRE_ATTEMPTS; attempt++) {
    try {
      await writeAtomically(file, record, false);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
      await judge(await readLockRecord(file));
      await fsp.rm(file, { force: true });
      continue;
    }
    let released = false;
    heldHere.add(file);
    return {
      file,
      async update(fields) {
        record = { ...record, ...fields };
        await writeAtomically(file, record, true);
      },
      async release() {
        if (released) return;
        released = true;
        heldHere.delete(file);
        const current = await readLockRecord(file);
        if (current?.runnerPid === process.pid) await fsp.rm(file, { force: true });
      },
    };
  }
  throw new MwiError(ErrorCodes.REDIS_DATA_DIR_LOCKED, `could not take the lock ${file}: another runner keeps taking it`, { details: { file } });
}
