/** What every `mwi` command shares: global flags, config loading, exit codes. */
import { InvalidArgumentError } from 'commander';
import { loadConfig, readTextFile } from '../../config/load.ts';
import type { Config } from '../../config/schema.ts';
import type { Outcome } from '../delivery/outcome.ts';
import { ErrorCodes, type ErrorCode } from '../errors.ts';

/** Exit codes of `mwi`; stable, documented in the README. */
export const EXIT = {
  OK: 0,
  /** The server refused this mailbox for good (permanent outcome); or the named mailbox or breaker does not exist (MWI_MAILBOX_NOT_FOUND, MWI_BREAKER_NOT_FOUND). */
  PERMANENT: 1,
  /** Bad command line or configuration (also: an operator action without --reason, MWI_CONTROL_REASON_REQUIRED; no redis.url, MWI_REDIS_URL_REQUIRED). */
  USAGE: 2,
  /** Retryable failure: timeout, transport error, 503. */
  RETRYABLE: 3,
  /** The target is misconfigured for us (489, 415, authentication). */
  TARGET_CONFIG: 4,
  /** Something the command needs is missing or busy: redis-server not installed, redis.dataDir in use, Redis or the API port unavailable (sysexits EX_UNAVAILABLE). */
  UNAVAILABLE: 69,
  /** `mwi update`: the API refused the request (4xx: token, validation, no target). Unreachable or 503 is RETRYABLE. */
  API_REFUSED: 5,
  /** Anything unexpected (a bug). */
  INTERNAL: 70,
} as const;

/** Error codes that mean the command line or configuration is wrong: exit USAGE. */
const USAGE_CODES: ReadonlySet<ErrorCode> = new Set([
  ErrorCodes.CONFIG_INVALID,
  ErrorCodes.CLI_USAGE,
  ErrorCodes.CONFIG_FILE_UNREADABLE,
  ErrorCodes.SECRET_UNREADABLE,
  ErrorCodes.URI_INVALID,
  ErrorCodes.BODY_INVALID,
  ErrorCodes.REDIS_URL_REQUIRED,
  ErrorCodes.CONTROL_REASON_REQUIRED,
  ErrorCodes.CONTROL_INVALID,
]);

/** The exit code of an MwiError that reached the top of a command. */
export function exitCodeForError(code: ErrorCode): number {
  if (USAGE_CODES.has(code)) return EXIT.USAGE;
  if (code === ErrorCodes.REDIS_UNAVAILABLE) return EXIT.UNAVAILABLE;
  if (code === ErrorCodes.MAILBOX_NOT_FOUND || code === ErrorCodes.BREAKER_NOT_FOUND) return EXIT.PERMANENT;
  return EXIT.INTERNAL;
}

export interface GlobalOptions {
  config?: string;
  set?: string[];
}

export function exitCodeForOutcome(o: Outcome): number {
  switch (o.kind) {
    case 'delivered':
      return EXIT.OK;
    case 'permanent':
      return EXIT.PERMANENT;
    case 'retryable':
    case 'deferred':
      return EXIT.RETRYABLE;
    case 'config-error':
      return EXIT.TARGET_CONFIG;
  }
}

export function parseCount(value: string): number {
  if (!/^\d{1,10}$/.test(value) || Number(value) > 0xffffffff) throw new InvalidArgumentError('must be a whole number from 0 to 4294967295');
  return Number(value);
}

/** `--set a.b=c` flags: any setting by its dotted path (the highest precedence). */
export function collectSet(value: string, previous: string[] = []): string[] {
  return [...previous, value];
}

export function loadCliConfig(global: GlobalOptions, extraFlags: Record<string, unknown> = {}): Config {
  const flags: Record<string, unknown> = {};
  for (const kv of global.set ?? []) {
    const eq = kv.indexOf('=');
    if (eq <= 0) throw new InvalidArgumentError(`--set expects path=value, got ${JSON.stringify(kv)}`);
    flags[kv.slice(0, eq)] = kv.slice(eq + 1);
  }
  return loadConfig({ flags: { ...flags, ...extraFlags }, env: process.env, ...(global.config ? { configPath: global.config } : {}), readFile: readTextFile });
}
