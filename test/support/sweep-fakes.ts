/** In-memory stand-ins for the sweep's seams (store, lock, run log, source, prober), for unit tests of runSweep. */
import { pino } from 'pino';

import type { Clock } from '../../src/clock.ts';
import type { ProbeOutcome } from '../../src/delivery/sender.ts';
import { ErrorCodes, MwiError } from '../../src/errors.ts';
import type { Logger } from '../../src/log.ts';
import type { MailboxSource, SourceMailbox } from '../../src/sources/mailbox-source.ts';
import type { ScreenedSource } from '../../src/sources/store-source.ts';
import type { ApplyResult, MailboxScreen, MailboxUpdate, MailboxView, MarkResult, ScreenCriteria, ScreenedPage } from '../../src/store/mailbox-state.ts';
import { needsDetail } from '../../src/sweep/plan.ts';
import type { SweepRunLog, SweepRunRecord } from '../../src/sweep/run-records.ts';
import type { LockOutcome, SweepHolder, SweepLock } from '../../src/sweep/sweep-lock.ts';
import type { SweepStore } from '../../src/sweep/sweep-run.ts';
import type { Prober } from '../../src/sweep/target-health.ts';

export class FakeSweepStore implements SweepStore {
  readonly views = new Map<string, MailboxView>();
  readonly marked: string[] = [];
  readonly applied: MailboxUpdate[] = [];
  /** Successive answers of dueCount (the last one repeats). */
  due: number[] = [0];
  dueCalls = 0;

  viewMailboxes(mailboxes: readonly string[]): Promise<MailboxView[]> {
    return Promise.resolve(mailboxes.map((m) => this.views.get(m) ?? { mailbox: m }));
  }

  markDirty(mailboxes: readonly string[]): Promise<MarkResult[]> {
    return Promise.resolve(
      mailboxes.map((m) => {
        const v = this.views.get(m);
        if (v?.desiredVersion === undefined) return 'no-desired-state';
        if (v.dueAt !== undefined) return 'already-dirty';
        this.marked.push(m);
        return 'marked';
      }),
    );
  }

  applyUpdates(updates: readonly MailboxUpdate[]): Promise<ApplyResult[]> {
    return Promise.resolve(
      updates.map((u) => {
        const v = this.views.get(u.mailbox);
        if (v?.desiredVersion !== undefined && v.desiredVersion >= u.version) return 'stale';
        this.applied.push(u);
        return 'applied';
      }),
    );
  }

  dueCount(): Promise<number> {
    const n = this.due[Math.min(this.dueCalls, this.due.length - 1)] ?? 0;
    this.dueCalls++;
    return Promise.resolve(n);
  }
}

export class FakeLock implements SweepLock {
  /** Set to make the lock busy: withLock returns this holder without running. */
  heldBy: SweepHolder | undefined;
  /** Throws this from withLock (Redis down while taking the lock). */
  failWith: Error | undefined;
  /** acquiredAt (the run's start) is read from this clock when set; default Date.now(). */
  clock: Clock | undefined;
  acquisitions = 0;
  #lost: AbortController | undefined;

  async withLock<T>(who: Omit<SweepHolder, 'startedAt'>, work: (lost: AbortSignal, acquiredAt: number) => Promise<T>): Promise<LockOutcome<T>> {
    if (this.failWith !== undefined) throw this.failWith;
    if (this.heldBy !== undefined) return { acquired: false, holder: this.heldBy, ttlLeftMs: 1_000 };
    this.acquisitions++;
    this.#lost = new AbortController();
    this.heldBy = { ...who, startedAt: 0 };
    try {
      return { acquired: true, value: await work(this.#lost.signal, this.clock?.now() ?? Date.now()) };
    } finally {
      this.heldBy = undefined;
      this.#lost = undefined;
    }
  }

  /** The lock is taken over: the running work's signal aborts. */
  lose(): void {
    this.#lost?.abort();
  }
}

export class MemoryRunLog implements SweepRunLog {
  readonly records: SweepRunRecord[] = [];
  ended: number | undefined;

  add(record: SweepRunRecord): Promise<void> {
    this.records.unshift(record);
    if (record.outcome !== 'skipped' && !record.dryRun) this.ended = record.endedAt;
    return Promise.resolve();
  }

  lastEndedAt(): Promise<number | undefined> {
    return Promise.resolve(this.ended);
  }

  recent(limit: number): Promise<SweepRunRecord[]> {
    return Promise.resolve(this.records.slice(0, limit));
  }
}

/** An external source's pages; `beforePage(i)` runs before page i is handed out (advance a clock, lose a lock, fail). */
export class PagedSource implements MailboxSource {
  readonly name: string = 'fake';
  readonly pagesServed: number[] = [];
  readonly #pages: SourceMailbox[][];
  readonly #beforePage: (i: number) => void | Promise<void>;

  constructor(pages: SourceMailbox[][], beforePage: (i: number) => void | Promise<void> = () => {}) {
    this.#pages = pages;
    this.#beforePage = beforePage;
  }

  async *pages(_pageSize: number, signal: AbortSignal): AsyncIterable<SourceMailbox[]> {
    for (let i = 0; i < this.#pages.length; i++) {
      await this.#beforePage(i);
      if (signal.aborted) return;
      this.pagesServed.push(i);
      yield this.#pages[i] ?? [];
    }
  }

  close(): Promise<void> {
    return Promise.resolve();
  }
}

/** The store as a source: pages of screens (here, the full views; the run asks the fake store for details anyway). */
export class ScreenSource implements ScreenedSource {
  readonly name = 'store';
  readonly pagesServed: number[] = [];
  readonly #pages: MailboxView[][];
  readonly #beforePage: (i: number) => void | Promise<void>;

  constructor(pages: MailboxView[][], beforePage: (i: number) => void | Promise<void> = () => {}) {
    this.#pages = pages;
    this.#beforePage = beforePage;
  }

  /** Screens as lua/sweep-page.ts does, by the TypeScript spec of that screen (needsDetail). */
  async *screenPages(_pageSize: number, signal: AbortSignal, criteria: () => ScreenCriteria): AsyncIterable<ScreenedPage> {
    for (let i = 0; i < this.#pages.length; i++) {
      await this.#beforePage(i);
      if (signal.aborted) return;
      this.pagesServed.push(i);
      const c = criteria();
      const stored = (this.#pages[i] ?? []).filter((v) => v.desiredVersion !== undefined);
      const selected = stored.filter((v) => c.mode === 'all' || needsDetail(v, { now: c.now, refreshMarginMs: c.refreshMarginMs, force: c.mode === 'force' }));
      yield {
        read: this.#pages[i]?.length ?? 0,
        scanned: stored.length,
        dirty: stored.filter((v) => v.dueAt !== undefined).length,
        // Numbers only: the run must read the desired state itself.
        candidates: selected.map(({ mailbox, desiredVersion, deliveredVersion, expiresAt }): MailboxScreen => ({ mailbox, desiredVersion, deliveredVersion, expiresAt })),
      };
    }
  }

  pages(): AsyncIterable<SourceMailbox[]> {
    throw new Error('the sweep reads the store by screens');
  }

  close(): Promise<void> {
    return Promise.resolve();
  }
}

export function sourceUnavailable(): MwiError {
  return new MwiError(ErrorCodes.SOURCE_UNAVAILABLE, 'cannot read the spool: EACCES');
}

/** Answers probes from a map (default up); counts them; `down(target)` / `up(target)` change the answer. */
export class FakeProber implements Prober {
  readonly probes: string[] = [];
  readonly #down = new Map<string, string>();

  down(target: string, reason = 'no answer'): void {
    this.#down.set(target, reason);
  }

  up(target: string): void {
    this.#down.delete(target);
  }

  probe(target: string): Promise<ProbeOutcome> {
    this.probes.push(target);
    const reason = this.#down.get(target);
    return Promise.resolve(reason === undefined ? { up: true, status: 200, reason: '200 OK', elapsedMs: 1 } : { up: false, reason, elapsedMs: 1_000 });
  }
}

export const silentLog: Logger = pino({ level: 'silent' });
