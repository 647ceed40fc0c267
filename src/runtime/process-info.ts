/**
 * What this process can tell about another one by its pid, to judge whether a lock's owner is
 * still running. Reads /proc where it exists (Linux); elsewhere only liveness is known.
 */
import fsp from 'node:fs/promises';
import path from 'node:path';

/** True while a process with this pid exists (EPERM: it exists but belongs to another user). */
export function pidExists(pid: number): boolean {
  if (!Number.isSafeInteger(pid) || pid <= 0) return false;
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** Its command line, arguments joined by spaces; undefined when it cannot be read (no /proc, gone). */
export async function processCommandLine(pid: number): Promise<string | undefined> {
  try {
    const raw = await fsp.readFile(`/proc/${pid}/cmdline`, 'utf8');
    return raw.replaceAll('\0', ' ').trim();
  } catch {
    return undefined;
  }
}

/** Its working directory, resolved; undefined when it cannot be read. */
export async function processCwd(pid: number): Promise<string | undefined> {
  try {
    return path.resolve(await fsp.readlink(`/proc/${pid}/cwd`));
  } catch {
    return undefined;
  }
}

/**
 * True when `pid` runs and, where its command line is readable, that line matches `pattern`:
 * a recorded pid that the system has since given to an unrelated program does not count.
 */
export async function pidRuns(pid: number, pattern: RegExp): Promise<boolean> {
  if (!pidExists(pid)) return false;
  const cmdline = await processCommandLine(pid);
  return cmdline === undefined || pattern.test(cmdline);
}
