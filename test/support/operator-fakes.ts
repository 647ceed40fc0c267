/**
 * The HTTP API with every seam faked in memory (no Redis): a ControlPlane and BreakerControl
 * that record their calls (and can fail), a resync seam, a mailbox reader with one mailbox, an
 * ingest service over MemorySink, a fake clock for session expiry and a captured logger.
 */
import type { FastifyInstance } from 'fastify';

import { configSchema, type Config } from '../../config/schema.ts';
import { buildApi, type ApiDeps, type GuardedMount } from '../../src/api/server.ts';
import type { BreakerControl, ReadinessSource, ResyncMailbox, StatusSource } from '../../src/api/operator-seams.ts';
import { FakeClock } from '../../src/clock.ts';
import type { AuditEntry, ControlPlane, ControlSnapshot, DrainState, PauseScope, PauseState } from '../../src/control/types.ts';
import { ErrorCodes, MwiError } from '../../src/errors.ts';
import { IngestService } from '../../src/ingest/ingest-service.ts';
import type { MailboxRecord } from '../../src/store/mailbox-state.ts';
import { MemorySink, RecordingScheduler, captureLog, type CapturedLog } from './ingest-fakes.ts';

export const KNOWN_MAILBOX = 'sip:1@roles.test';
export const KNOWN_BREAKER = 'udp:10.0.0.5:5060';

export interface Call {
  method: string;
  args: unknown[];
}

export class FakeControlPlane implements ControlPlane {
  readonly calls: Call[] = [];
  /** Every call rejects with it while set. */
  failWith: Error | undefined;
  #pauses = new Map<string, PauseState>();
  #drain: DrainState | undefined;
  #audit: AuditEntry[] = [];
  readonly #clock: FakeClock;

  constructor(clock: FakeClock) {
    this.#clock = clock;
  }

  #record(method: string, args: unknown[]): Promise<void> {
    this.calls.push({ method, args });
    return this.failWith === undefined ? Promise.resolve() : Promise.reject(this.failWith);
  }

  async pause(scope: PauseScope, actor: string, reason: string, opts: { forMs?: number; via?: string } = {}): Promise<PauseState> {
    await this.#record('pause', [scope, actor, reason, opts]);
    const key = scope === 'global' ? 'global' : scope.target;
    const since = this.#clock.now();
    const state: PauseState = { scope: key, reason, actor, since, ...(opts.forMs === undefined ? {} : { until: since + opts.forMs }) };
    this.#pauses.set(key, state);
    this.#audit.unshift({ at: since, actor, action: 'pause', subject: key, reason, via: opts.via ?? 'api' });
    return state;
  }

  async resume(scope: PauseScope, actor: string, reason: string, opts: { via?: string } = {}): Promise<PauseState | undefined> {
    await this.#record('resume', [scope, actor, reason, opts]);
    const key = scope === 'global' ? 'global' : scope.target;
    const was = this.#pauses.get(key);
    this.#pauses.delete(key);
    return was;
  }

  async setDrain(on: boolean, actor: string, reason: string, opts: { via?: string } = {}): Promise<void> {
    await this.#record('setDrain', [on, actor, reason, opts]);
    this.#drain = on ? { reason, actor, since: this.#clock.now() } : undefined;
  }

  async audit(entry: Omit<AuditEntry, 'at'>): Promise<void> {
    await this.#record('audit', [entry]);
    this.#audit.unshift({ at: this.#clock.now(), ...entry });
  }

  async auditLog(limit: number): Promise<AuditEntry[]> {
    await this.#record('auditLog', [limit]);
    return this.#audit.slice(0, limit);
  }

  async snapshot(): Promise<ControlSnapshot> {
    await this.#record('snapshot', []);
    return { pauses: [...this.#pauses.values()], drain: this.#drain };
  }

  pausedFor(): PauseState | undefined {
    return this.#pauses.get('global');
  }

  draining(): boolean {
    return this.#drain !== undefined;
  }

  onChange(): () => void {
    return () => {};
  }

  close(): Promise<void> {
    return Promise.resolve();
  }

  /** Calls of one method. */
  of(method: string): unknown[][] {
    return this.calls.filter((c) => c.method === method).map((c) => c.args);
  }
}

export class FakeBreakers implements BreakerControl {
  readonly calls: Call[] = [];

  #act(method: string, id: string, actor: string, reason: string): Promise<void> {
    if (id !== KNOWN_BREAKER) return Promise.reject(new MwiError(ErrorCodes.BREAKER_NOT_FOUND, 'no breaker with that id'));
    this.calls.push({ method, args: [id, actor, reason] });
    return Promise.resolve();
  }

  isolate(id: string, actor: string, reason: string): Promise<void> {
    return this.#act('isolate', id, actor, reason);
  }

  reset(id: string, actor: string, reason: string): Promise<void> {
    return this.#act('reset', id, actor, reason);
  }
}

const RECORD: MailboxRecord = {
  mailbox: KNOWN_MAILBOX,
  desired: { summary: { counts: { 'voice-message': { new: 1, old: 0 } } }, route: { mode: 'publish', target: 'sip:127.0.0.1:5060' }, version: 3, acceptedAt: 1_700_000_000_000 },
};

export interface OperatorApi {
  app: FastifyInstance;
  /** What buildApi was given (apiRouteTable(deps) lists its routes). */
  deps: ApiDeps;
  config: Config;
  logs: CapturedLog;
  clock: FakeClock;
  control: FakeControlPlane;
  breakers: FakeBreakers;
  /** Mailboxes resync was asked for. */
  resynced: string[];
  sink: MemorySink;
}

export interface OperatorApiOptions {
  /** api.* settings over the defaults of the caller. */
  api?: Record<string, unknown>;
  /** Leave these seams out (their routes answer 503). */
  without?: Array<'control' | 'breakers' | 'resync' | 'status' | 'readiness'>;
  status?: StatusSource;
  /** Default: Redis, DNS and one target, all ok. */
  readiness?: ReadinessSource;
  mounts?: GuardedMount[];
}

function readyFake(clock: FakeClock): ReadinessSource {
  const checks = [
    { name: 'redis', kind: 'redis', status: 'ok', elapsedMs: 1 },
    { name: 'dns', kind: 'dns', status: 'not-needed', detail: 'every target is an IP address', elapsedMs: 0 },
    { name: 'target:sip:127.0.0.1:5060', kind: 'target', status: 'ok', detail: 'OPTIONS answered 200', elapsedMs: 2 },
  ] as const;
  return () => Promise.resolve({ ready: true, checkedAt: clock.now(), checks: checks.map((c) => ({ ...c })) });
}

export function operatorApi(opts: OperatorApiOptions = {}): OperatorApi {
  const config = configSchema.parse({ log: { level: 'trace' }, api: { port: 0, ...opts.api } });
  const logs = captureLog('trace');
  const clock = new FakeClock();
  const control = new FakeControlPlane(clock);
  const breakers = new FakeBreakers();
  const resynced: string[] = [];
  const sink = new MemorySink();
  const resync: ResyncMailbox = (mailbox) => {
    resynced.push(mailbox);
    return Promise.resolve(mailbox === KNOWN_MAILBOX ? 'queued' : 'no-desired-state');
  };
  const without = new Set(opts.without ?? []);
  const ingest = new IngestService({ store: sink, scheduler: new RecordingScheduler(), log: logs.log, maxBatchUpdates: config.api.maxBatchUpdates, defaultPublishTarget: 'sip:127.0.0.1:5060' });
  const deps: ApiDeps = {
    config,
    log: logs.log,
    ingest,
    store: { get: (mailbox) => Promise.resolve(mailbox === KNOWN_MAILBOX ? RECORD : undefined) },
    clock,
    ...(without.has('control') ? {} : { control }),
    ...(without.has('breakers') ? {} : { breakers }),
    ...(without.has('resync') ? {} : { resync }),
    ...(without.has('status') ? {} : { status: opts.status ?? (() => Promise.resolve({ queue: { waiting: 4 } })) }),
    ...(without.has('readiness') ? {} : { readiness: opts.readiness ?? readyFake(clock) }),
    ...(opts.mounts === undefined ? {} : { mounts: opts.mounts }),
  };
  return { app: buildApi(deps), deps, config, logs, clock, control, breakers, resynced, sink };
}
