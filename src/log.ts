/**
 * The process logger: pino, JSON lines, data object first (`log.info({ mailbox }, 'sent')`),
 * errors under `err`. Redaction of every secret path is configured here, once.
 */
import { pino } from 'pino';
import type { DestinationStream, Logger } from 'pino';
import { SECRET_PATHS } from '../config/schema.ts';
import type { Config } from '../config/schema.ts';

export type { Logger } from 'pino';

export type LogLevel = Config['log']['level'];

export interface CreateLoggerOptions {
  level: LogLevel;
  /** Where the JSON lines go; stdout when unset. */
  destination?: DestinationStream;
  /** Milliseconds since the epoch, e.g. `() => clock.now()`; Date.now when unset. */
  time?: () => number;
}

export const REDACTED = '[redacted]';

/** Key names that are secret wherever they appear (to three levels deep). */
const SECRET_KEYS = ['password', 'token', 'authorization', 'cookie', 'sessionSecret', 'csrfToken'] as const;

/** Keys that need bracket notation in a redaction path. */
const SECRET_QUOTED_KEYS = ['["set-cookie"]', '["x-csrf-token"]', '["x-xsrf-token"]'] as const;

/**
 * Secret settings at the top level, under `config` and one level deeper (so
 * `log.info({ config })` is safe), plus the secret key names in any logged object.
 */
export const REDACT_PATHS: readonly string[] = [
  ...SECRET_PATHS.flatMap((p) => [p, `config.${p}`, `*.${p}`]),
  ...SECRET_KEYS.flatMap((k) => [k, `*.${k}`, `*.*.${k}`]),
  ...SECRET_QUOTED_KEYS.flatMap((k) => [k, `*${k}`, `*.*${k}`]),
  'headers.authorization',
];

export function createLogger(opts: CreateLoggerOptions): Logger {
  const time = opts.time;
  return pino(
    {
      level: opts.level,
      redact: { paths: [...REDACT_PATHS], censor: REDACTED },
      timestamp: time === undefined ? pino.stdTimeFunctions.epochTime : () => `,"time":${time()}`,
      formatters: { level: (label) => ({ level: label }) },
    },
    opts.destination ?? pino.destination(1),
  );
}

/**
 * `redis://user:secret@host:6379/0` -> `redis://user:***@host:6379/0`; unchanged without a password.
 * Also `redis+sentinel://:s@h1:1,h2:2/mymaster?sentinelPassword=t` -> `redis+sentinel://:***@h1:1,h2:2/mymaster?sentinelPassword=***`.
 */
export function maskUrlCredentials(url: string): string {
  return maskPasswordParams(maskUserinfo(url));
}

function maskUserinfo(url: string): string {
  // As in WHATWG URL parsing, the authority ends at the first "/", "?" or "#", and its last "@"
  // ends the userinfo (so a password may hold an unescaped "@"); the first ":" ends the user.
  const m = /^([a-z][a-z0-9+.-]*:\/\/)([^/?#]*)@/i.exec(url);
  const userinfo = m?.[2];
  if (m === null || userinfo === undefined) return url;
  const colon = userinfo.indexOf(':');
  if (colon === -1) return url;
  return `${m[1] ?? ''}${userinfo.slice(0, colon)}:***@${url.slice(m[0].length)}`;
}

/** Query parameters named like a password (sentinelPassword, password) keep their name only. */
function maskPasswordParams(url: string): string {
  const q = url.indexOf('?');
  if (q === -1) return url;
  return url.slice(0, q) + url.slice(q).replace(/([?&][a-z]*password=)[^&#]*/gi, '$1***');
}
