/**
 * One redis-cli command against a harness server (cluster or Sentinel set-up steps and
 * checks), with the password kept off the process table's warnings (--no-auth-warning).
 */
import { execFile } from 'node:child_process';

import { REDIS_PACKAGE } from './redis.ts';
import { requireBinary } from './process.ts';

export interface RedisCliTarget {
  port: number;
  password?: string;
}

/** The command's stdout (trimmed); rejects on a non-zero exit or an error reply. */
export function redisCli(target: RedisCliTarget, args: readonly string[], timeoutMs = 10_000): Promise<string> {
  const binary = requireBinary('redis-cli', REDIS_PACKAGE);
  const auth = target.password === undefined ? [] : ['-a', target.password, '--no-auth-warning'];
  return new Promise((resolve, reject) => {
    execFile(binary, ['-h', '127.0.0.1', '-p', String(target.port), ...auth, ...args], { timeout: timeoutMs }, (err, stdout, stderr) => {
      const out = stdout.trim();
      if (err) reject(new Error(`redis-cli -p ${target.port} ${args.join(' ')}: ${err.message} ${stderr.trim()} ${out}`.trim()));
      else if (/^(ERR|WRONGTYPE|NOAUTH|WRONGPASS|MOVED|ASK)\b/.test(out)) reject(new Error(`redis-cli -p ${target.port} ${args.join(' ')}: ${out}`));
      else resolve(out);
    });
  });
}

/** `field:value` lines of INFO or CLUSTER INFO as a map. */
export function infoFields(text: string): Map<string, string> {
  const out = new Map<string, string>();
  for (const line of text.split(/\r?\n/)) {
    const colon = line.indexOf(':');
    if (colon > 0 && !line.startsWith('#')) out.set(line.slice(0, colon), line.slice(colon + 1).trim());
  }
  return out;
}

/** Polls `check` every `everyMs` until it returns a value; rejects with `what` after timeoutMs. */
export async function pollUntil<T>(what: string, timeoutMs: number, check: () => Promise<T | undefined>, everyMs = 100): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  for (;;) {
    try {
      const value = await check();
      if (value !== undefined) return value;
    } catch (err) {
      last = err;
    }
    if (Date.now() >= deadline) throw new Error(`${what}: not within ${timeoutMs} ms${last instanceof Error ? ` (last error: ${last.message})` : ''}`);
    await new Promise((resolve) => setTimeout(resolve, everyMs));
  }
}
