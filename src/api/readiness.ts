/**
 * Readiness of this host: can it reach Redis, DNS and every presence target right now? The
 * integrator supplies the checks (readiness-checks.ts builds the usual three); this runs them
 * concurrently, each within timeoutMs, and keeps the result for cacheMs so a scraper polling
 * GET /readyz (or /metrics, through mwi_ready) cannot turn into an OPTIONS flood on the targets.
 * Concurrent callers while a round runs share it.
 *
 * Details in the report are public (GET /readyz needs no credentials): checks word them from
 * status codes and error codes, never from an error's message, and any `user:password@` left in
 * a name or detail is masked here.
 */
import type { Clock } from '../clock.ts';

export type ReadinessKind = 'redis' | 'dns' | 'target';

/** `not-needed`: nothing to check (DNS when every target is an IP address); counts as ready. */
export type CheckStatus = 'ok' | 'fail' | 'not-needed';

export interface CheckResult {
  status: CheckStatus;
  /** Short and public: a status line, an error code, "no PONG". */
  detail?: string;
}

export interface ReadinessCheck {
  /** Stable and public, e.g. `redis`, `dns`, `target:sip:ps.example.net`. */
  name: string;
  kind: ReadinessKind;
  /** Rejecting counts as `fail` (with the error's code only); `signal` aborts at the timeout. */
  run(signal: AbortSignal): Promise<CheckResult>;
}

export interface CheckReport extends CheckResult {
  name: string;
  kind: ReadinessKind;
  elapsedMs: number;
}

export interface ReadinessReport {
  ready: boolean;
  /** When this round finished, ms since epoch. */
  checkedAt: number;
  checks: CheckReport[];
}

export interface ReadinessOptions {
  /** The checks of a round; a function when the targets can change. */
  checks: readonly ReadinessCheck[] | (() => readonly ReadinessCheck[]);
  clock: Clock;
  /** Per check. Default 2 000 (a UDP OPTIONS gets its first retransmissions in). */
  timeoutMs?: number;
  /** A finished round answers every call for this long. Default 2 000. */
  cacheMs?: number;
}

const MAX_DETAIL_CHARS = 160;

/** `scheme://user:pw@` and `sip:user:pw@` lose the password. */
export function maskCredentials(text: string): string {
  return text
    .replace(/([a-z][a-z0-9+.-]*:\/\/[^\s/?#@:]*):[^\s/?#@]*@/gi, '$1:***@')
    .replace(/\b(sips?:[^\s:@;]+):[^\s@;]*@/gi, '$1:***@');
}

function publicText(text: string): string {
  const masked = maskCredentials(text);
  return masked.length > MAX_DETAIL_CHARS ? `${masked.slice(0, MAX_DETAIL_CHARS - 1)}…` : masked;
}

/** An error's stable code (MwiError, Node errno), never its message. */
export function errorCode(err: unknown): string {
  const code = (err as { code?: unknown } | null)?.code;
  return typeof code === 'string' && /^[A-Z][A-Z0-9_]{1,63}$/.test(code) ? code : 'error';
}

export type Readiness = () => Promise<ReadinessReport>;

export function createReadiness(opts: ReadinessOptions): Readiness {
  const { clock } = opts;
  const timeoutMs = opts.timeoutMs ?? 2_000;
  const cacheMs = opts.cacheMs ?? 2_000;
  let cached: ReadinessReport | undefined;
  let running: Promise<ReadinessReport> | undefined;

  async function runOne(check: ReadinessCheck): Promise<CheckReport> {
    const startedAt = clock.now();
    const abort = new AbortController();
    let timer: ReturnType<Clock['setTimeout']> | undefined;
    const timedOut = new Promise<CheckResult>((resolve) => {
      timer = clock.setTimeout(() => {
        abort.abort();
        resolve({ status: 'fail', detail: `no answer within ${timeoutMs} ms` });
      }, timeoutMs);
      timer.unref?.();
    });
    let result: CheckResult;
    try {
      const run = Promise.resolve()
        .then(() => check.run(abort.signal))
        .catch((err: unknown): CheckResult => ({ status: 'fail', detail: `failed (${errorCode(err)})` }));
      result = await Promise.race([run, timedOut]);
    } finally {
      if (timer !== undefined) clock.clearTimeout(timer);
    }
    return {
      name: publicText(check.name),
      kind: check.kind,
      status: result.status,
      ...(result.detail === undefined ? {} : { detail: publicText(result.detail) }),
      elapsedMs: clock.now() - startedAt,
    };
  }

  async function round(): Promise<ReadinessReport> {
    const checks = typeof opts.checks === 'function' ? opts.checks() : opts.checks;
    const reports = await Promise.all(checks.map(runOne));
    return { ready: reports.every((c) => c.status !== 'fail'), checkedAt: clock.now(), checks: reports };
  }

  return () => {
    if (cached !== undefined && clock.now() - cached.checkedAt < cacheMs) return Promise.resolve(cached);
    running ??= round()
      .then((report) => {
        cached = report;
        return report;
      })
      .finally(() => {
        running = undefined;
      });
    return running;
  };
}
