/**
 * Log flood guard: when a target goes bad, every mailbox of it fails the same way and would log
 * the same warn/error line. This passes the first line of a kind through, counts its repeats
 * within intervalMs, and writes one summary line (same message, `repeated: n`) when the
 * interval ends. A kind is message + error code + target (the mailbox is left out on purpose).
 * debug and info lines pass untouched. Memory is bounded by maxKeys: past it the oldest kind is
 * summarised early and forgotten.
 *
 *   const log = floodGuard(pinoLogger, { clock });   // once per process, shared by every drain
 */
import type { Clock, TimerHandle } from './clock.ts';

export type LogLine = (fields: object, msg: string) => void;

/** A pino Logger fits. */
export interface LineLog {
  debug: LogLine;
  info: LogLine;
  warn: LogLine;
  error: LogLine;
}

export interface FloodGuardOptions {
  clock: Clock;
  /** Default 60 000. */
  intervalMs?: number;
  /** Kinds remembered at once. Default 1 000. */
  maxKeys?: number;
}

export interface FloodGuardedLog extends LineLog {
  /** Writes the summaries of every kind with repeats (shutdown) and forgets them. */
  flush(): void;
  /** Kinds currently remembered. */
  readonly size: number;
}

type Level = 'warn' | 'error';

interface Entry {
  level: Level;
  msg: string;
  since: number;
  repeated: number;
  /** What the summary line carries: the kind's target and code. */
  fields: { target?: string; code?: string };
}

function str(v: unknown): string | undefined {
  return typeof v === 'string' ? v : typeof v === 'number' ? String(v) : undefined;
}

/** The error code of a line: err.code (MwiError, errno), else a `code` or `status` field, else err.name. */
function codeOf(fields: Record<string, unknown>): string | undefined {
  const err = fields.err as { code?: unknown; name?: unknown } | undefined;
  return str(err?.code) ?? str(fields.code) ?? str(fields.status) ?? str(err?.name);
}

export function floodGuard(log: LineLog, opts: FloodGuardOptions): FloodGuardedLog {
  const { clock } = opts;
  const intervalMs = opts.intervalMs ?? 60_000;
  const maxKeys = opts.maxKeys ?? 1_000;
  // Insertion order = first seen, so the first key is the oldest window.
  const entries = new Map<string, Entry>();
  let timer: TimerHandle | undefined;

  function summarise(e: Entry): void {
    if (e.repeated > 0) log[e.level]({ ...e.fields, repeated: e.repeated, intervalMs }, e.msg);
  }

  function schedule(): void {
    if (timer !== undefined) return;
    const first = entries.values().next();
    if (first.done === true) return;
    timer = clock.setTimeout(onTimer, Math.max(0, first.value.since + intervalMs - clock.now()));
    timer.unref?.();
  }

  function onTimer(): void {
    timer = undefined;
    const now = clock.now();
    for (const [key, e] of entries) {
      if (now - e.since < intervalMs) break; // later entries started later
      entries.delete(key);
      summarise(e);
    }
    schedule();
  }

  function line(level: Level): LogLine {
    return (fields, msg) => {
      const f = fields as Record<string, unknown>;
      const target = str(f.target) ?? str(f.hop);
      const code = codeOf(f);
      const key = `${level}\u0000${msg}\u0000${code ?? ''}\u0000${target ?? ''}`;
      const now = clock.now();
      const e = entries.get(key);
      if (e !== undefined && now - e.since < intervalMs) {
        e.repeated++;
        return;
      }
      if (e !== undefined) {
        entries.delete(key);
        summarise(e);
      }
      log[level](fields, msg);
      if (entries.size >= maxKeys) {
        const oldest = entries.entries().next();
        if (oldest.done !== true) {
          entries.delete(oldest.value[0]);
          summarise(oldest.value[1]);
        }
      }
      entries.set(key, { level, msg, since: now, repeated: 0, fields: { ...(target === undefined ? {} : { target }), ...(code === undefined ? {} : { code }) } });
      schedule();
    };
  }

  return {
    debug: (fields, msg) => log.debug(fields, msg),
    info: (fields, msg) => log.info(fields, msg),
    warn: line('warn'),
    error: line('error'),
    flush() {
      if (timer !== undefined) clock.clearTimeout(timer);
      timer = undefined;
      for (const e of entries.values()) summarise(e);
      entries.clear();
    },
    get size() {
      return entries.size;
    },
  };
}
