/**
 * One sweep run: under the cross-host lock, page through every mailbox of the source, plan each
 * one (plan.ts), probe the presence servers involved (target-health.ts) and queue a delivery
 * only where it is needed, paced by the delivery queue; then leave a run record.
 *
 * A run stops, marking nothing more, as soon as any of these happens: the lock is lost, the
 * deadline passes, the caller's signal aborts (shutdown), the source or Redis fails. What it
 * marked before that stays marked (each mark is a complete, idempotent instruction: "deliver
 * the stored desired state"); the next run reconciles the rest.
 *
 * Pacing: marking a page makes its mailboxes due at once, and a fresh PBX update queues behind
 * every due mailbox. So after each page that queued something the run waits while more than
 * maxDueBacklog mailboxes are due: a reconciliation of a million mailboxes never buries live
 * updates, and never offers the presence servers more than the drain jobs' own pace.
 */
import { randomBytes } from 'node:crypto';

import type { Clock, TimerHandle } from '../clock.ts';
import type { DeliveryRoute } from '../delivery/sender.ts';
import { ErrorCodes, isMwiError } from '../errors.ts';
import type { Logger } from '../log.ts';
import type { DeliveryScheduler } from '../queue/delivery-scheduler.ts';
import type { MailboxSource, SourceMailbox } from '../sources/mailbox-source.ts';
import { isScreenedSource } from '../sources/store-source.ts';
import type { ApplyResult, MailboxUpdate, MailboxView, MarkResult, ScreenCriteria, ScreenedPage } from '../store/mailbox-state.ts';
import { decide, needOf, needOfSourced, probedTarget, type Need, type PlanSettings } from './plan.ts';
import { emptyCounts, type PlannedDelivery, type SweepAbortReason, type SweepCounts, type SweepMode, type SweepRunEnd, type SweepRunLog, type SweepRunRecord, type SweepTrigger } from './run-records.ts';
import type { SweepLock } from './sweep-lock.ts';
import { TargetHealth, type Prober } from './target-health.ts';

/** The part of the mailbox store a run uses. */
export interface SweepStore {
  viewMailboxes(mailboxes: readonly string[]): Promise<MailboxView[]>;
  markDirty(mailboxes: readonly string[], dueAt?: number): Promise<MarkResult[]>;
  applyUpdates(updates: readonly MailboxUpdate[]): Promise<ApplyResult[]>;
  dueCount(): Promise<number>;
}

export interface SweepSettings {
  /** Mailboxes read and planned per step. */
  pageSize: number;
  refreshMarginMs: number;
  /** Infinity: no deadline (resync). */
  deadlineMs: number;
  /** Marking waits while more mailboxes than this are due. */
  maxDueBacklog: number;
  /** Re-probe each presence server this often during a run. */
  probeEveryMs: number;
  /** Most mailboxes per store call (the store's maxBatchUpdates). */
  maxBatchUpdates: number;
  /** Route for an external source's mailbox the store does not know (targets.defaultPublishTarget). */
  defaultRoute?: DeliveryRoute;
  /** How often the backlog is looked at while waiting. Default 200. */
  backlogPollMs?: number;
  /** Progress callbacks at most this often (plus one at the end). Default 1000. */
  progressEveryMs?: number;
}

export interface SweepDeps {
  store: SweepStore;
  scheduler: DeliveryScheduler;
  prober: Prober;
  lock: SweepLock;
  runLog: SweepRunLog;
  source: MailboxSource;
  clock: Clock;
  log: Logger;
  identity: { host: string; pid: number };
  /** Told once per run that ends (completed, aborted, skipped) or throws (failed); not for a run that was not due. Must not throw. */
  onRunEnd?: (end: SweepRunEnd) => void;
}

export interface SweepProgress extends SweepCounts {
  runId: string;
  mode: SweepMode;
  dryRun: boolean;
  elapsedMs: number;
  /** Presence servers this run stopped sending to, with why. */
  targetsDown: Array<{ target: string; reason: string }>;
  aborted?: { reason: SweepAbortReason; message: string };
}

export interface SweepOptions {
  trigger: SweepTrigger;
  mode?: SweepMode;
  /** Plan and report, queue nothing. */
  dryRun?: boolean;
  /** Aborts the run (reason 'shutdown'). */
  signal?: AbortSignal;
  /**
   * The schedule's pause: run only if the previous run ended at least this long ago (checked
   * before trying the lock and again holding it). Runs triggered by hand leave it unset.
   */
  minPauseMs?: number;
  onProgress?: (progress: SweepProgress) => unknown;
}

export interface SweepNotDue {
  outcome: 'not-due';
  /** When the schedule's pause ends. */
  dueAt: number;
}

export type SweepResult = SweepRunRecord | SweepNotDue;

/** How many planned deliveries a dry run lists in its record. */
export const DRY_RUN_SAMPLE = 100;

function errorMessage(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

function newRunId(now: number): string {
  return `${now.toString(36)}-${randomBytes(4).toString('hex')}`;
}

function chunks<T>(items: readonly T[], size: number): T[][] {
  const out: T[][] = [];
  for (let i = 0; i < items.length; i += size) out.push(items.slice(i, i + size));
  return out;
}

/** A page as the run gets it: the store itself, screened in Redis, or mailboxes with counts from an external source. */
type Page = { screened: ScreenedPage } | { items: SourceMailbox[] };

async function* pagesOf(source: MailboxSource, pageSize: number, signal: AbortSignal, criteria: () => ScreenCriteria): AsyncGenerator<Page> {
  if (isScreenedSource(source)) {
    for await (const screened of source.screenPages(pageSize, signal, criteria)) yield { screened };
  } else {
    for await (const items of source.pages(pageSize, signal)) yield { items };
  }
}

function routeUri(route: DeliveryRoute): string {
  return route.mode === 'publish' ? route.target : route.contact;
}

/** Resolves after `ms`, or at once when `signal` aborts. */
function pause(clock: Clock, ms: number, signal: AbortSignal): Promise<void> {
  if (signal.aborted) return Promise.resolve();
  return new Promise((resolve) => {
    const done = (): void => {
      clock.clearTimeout(timer);
      signal.removeEventListener('abort', done);
      resolve();
    };
    const timer = clock.setTimeout(done, ms);
    signal.addEventListener('abort', done, { once: true });
  });
}

export async function runSweep(deps: SweepDeps, settings: SweepSettings, opts: SweepOptions): Promise<SweepResult> {
  const startedAt = deps.clock.now();
  let result: SweepResult;
  try {
    result = await sweepOnce(deps, settings, opts);
  } catch (err) {
    tellRunEnd(deps, { outcome: 'failed', mode: opts.mode ?? 'sweep', dryRun: opts.dryRun === true, startedAt, endedAt: deps.clock.now() });
    throw err;
  }
  if (result.outcome !== 'not-due') tellRunEnd(deps, result);
  return result;
}

function tellRunEnd(deps: SweepDeps, end: SweepRunEnd): void {
  try {
    deps.onRunEnd?.(end);
  } catch (err) {
    deps.log.warn({ err }, 'sweep onRunEnd failed');
  }
}

async function sweepOnce(deps: SweepDeps, settings: SweepSettings, opts: SweepOptions): Promise<SweepResult> {
  const { clock, runLog, source } = deps;
  const mode = opts.mode ?? 'sweep';
  const dryRun = opts.dryRun === true;
  const runId = newRunId(clock.now());
  const log = deps.log.child({ runId, mode, source: source.name, ...(dryRun ? { dryRun } : {}) });

  const notDue = async (): Promise<SweepNotDue | undefined> => {
    if (opts.minPauseMs === undefined) return undefined;
    const last = await runLog.lastEndedAt();
    if (last === undefined || clock.now() - last >= opts.minPauseMs) return undefined;
    return { outcome: 'not-due', dueAt: last + opts.minPauseMs };
  };
  const early = await notDue();
  if (early !== undefined) return early;

  const triedAt = clock.now();
  const locked = await deps.lock.withLock({ runId, mode, ...deps.identity }, async (lost, acquiredAt) => {
    // The previous holder may have finished between the first check and our acquisition.
    const late = await notDue();
    if (late !== undefined) return late;
    return runLocked({ deps, settings, opts, runId, mode, dryRun, log, lost, startedAt: acquiredAt });
  });
  if (locked.acquired) return locked.value;

  const skipped: SweepRunRecord = {
    runId,
    mode,
    trigger: opts.trigger,
    source: source.name,
    dryRun,
    ...deps.identity,
    outcome: 'skipped',
    startedAt: triedAt,
    endedAt: clock.now(),
    counts: emptyCounts(),
    targets: [],
    holder: locked.holder ?? null,
  };
  log.info({ holder: locked.holder, ttlLeftMs: locked.ttlLeftMs }, 'sweep skipped: another run holds the sweep lock');
  await runLog.add(skipped).catch((err: unknown) => log.warn({ err }, 'could not record the skipped sweep'));
  return skipped;
}

interface LockedRun {
  deps: SweepDeps;
  settings: SweepSettings;
  opts: SweepOptions;
  runId: string;
  mode: SweepMode;
  dryRun: boolean;
  log: Logger;
  lost: AbortSignal & { error?: Error };
  startedAt: number;
}

async function runLocked(run: LockedRun): Promise<SweepRunRecord> {
  const { deps, settings, opts, runId, mode, dryRun, log, lost, startedAt } = run;
  const { clock, store, source } = deps;
  const counts = emptyCounts();
  const planned: PlannedDelivery[] = [];
  const controller = new AbortController();
  const signal = controller.signal;
  let aborted: { reason: SweepAbortReason; message: string } | undefined;
  const abort = (reason: SweepAbortReason, message: string): void => {
    if (aborted !== undefined) return;
    aborted = { reason, message };
    controller.abort();
  };

  const onLost = (): void => abort('lock-lost', `the sweep lock was lost (deleted, taken over, or not extended in time): ${lost.error?.message ?? 'no detail'}`);
  const onShutdown = (): void => abort('shutdown', 'the process is shutting down');
  if (lost.aborted) onLost();
  lost.addEventListener('abort', onLost, { once: true });
  if (opts.signal?.aborted) onShutdown();
  opts.signal?.addEventListener('abort', onShutdown, { once: true });
  let deadline: TimerHandle | undefined;
  if (Number.isFinite(settings.deadlineMs)) {
    deadline = clock.setTimeout(() => abort('deadline', `the run took longer than its deadline of ${settings.deadlineMs} ms`), settings.deadlineMs);
  }

  const health = new TargetHealth({
    prober: deps.prober,
    clock,
    recheckMs: settings.probeEveryMs,
    onDown: (target, reason) => log.warn({ target, reason }, 'presence server failed its health probe: this run queues nothing more for it'),
  });
  const planSettings = (): PlanSettings => ({ now: clock.now(), refreshMarginMs: settings.refreshMarginMs, force: mode === 'resync-all' });
  let lastVersion = 0;
  let lastProgressAt = -Infinity;
  const progressEveryMs = settings.progressEveryMs ?? 1_000;

  const progress = async (force: boolean): Promise<void> => {
    if (opts.onProgress === undefined) return;
    const now = clock.now();
    if (!force && now - lastProgressAt < progressEveryMs) return;
    lastProgressAt = now;
    const targetsDown = health.report().flatMap((t) => (t.up ? [] : [{ target: t.target, reason: t.reason ?? '' }]));
    try {
      await opts.onProgress({ runId, mode, dryRun, ...counts, skippedBy: { ...counts.skippedBy }, elapsedMs: now - startedAt, targetsDown, ...(aborted ? { aborted } : {}) });
    } catch (err) {
      log.debug({ err }, 'progress report failed');
    }
  };

  const wakes = new Set<Promise<void>>();
  const viewsOf = async (mailboxes: readonly string[]): Promise<MailboxView[]> => {
    const views: MailboxView[] = [];
    for (const part of chunks(mailboxes, settings.maxBatchUpdates)) views.push(...(await store.viewMailboxes(part)));
    return views;
  };

  const processPage = async (page: Page, requestedAt: number): Promise<void> => {
    counts.pages++;
    const ps = planSettings();
    let mailboxes: string[];
    let needs: Need[];
    if ('screened' in page) {
      // Redis counted every mailbox and returned only those that may need something (needsDetail):
      // the rest are clean or already queued.
      const { scanned, dirty, candidates } = page.screened;
      counts.scanned += scanned;
      counts.skipped += dirty;
      counts.skippedBy.pending += dirty;
      mailboxes = candidates.map((c) => c.mailbox);
      const views = await viewsOf(mailboxes);
      needs = views.map((v) => needOf(v, ps));
    } else {
      mailboxes = page.items.map((m) => m.mailbox);
      counts.scanned += mailboxes.length;
      const views = await viewsOf(mailboxes);
      needs = page.items.map((m, i) => needOfSourced(views[i] as MailboxView, m.summary, settings.defaultRoute, ps));
    }
    if (mailboxes.length === 0) return;
    const targets = new Set<string>();
    for (const n of needs) {
      if (n.kind !== 'enqueue') continue;
      const t = probedTarget(n.route);
      if (t !== undefined) targets.add(t);
    }
    await health.check(targets, signal);
    if (signal.aborted) return;

    // Decide.
    const toMark: string[] = [];
    const toApply: MailboxUpdate[] = [];
    needs.forEach((need, i) => {
      if (need.kind === 'enqueue') {
        if (need.why === 'differs' || need.why === 'source-changed') counts.changed++;
        else if (need.why === 'expiring') counts.expiring++;
      }
      const d = decide(need, (t) => health.status(t));
      if (d.kind === 'none') return;
      if (d.kind === 'skip') {
        counts.skipped++;
        counts.skippedBy[d.why]++;
        if (d.target !== undefined) health.countSkipped(d.target);
        return;
      }
      const mailbox = mailboxes[i] as string;
      if (dryRun) {
        counts.enqueued++;
        if (planned.length < DRY_RUN_SAMPLE) planned.push({ mailbox, why: d.why, to: routeUri(d.route) });
        return;
      }
      if (d.why === 'source-changed' && 'items' in page) {
        // Version = when this page was requested from the source: every count on it was read after
        // that instant, so it is at least as new as any update stamped earlier, and a PBX push
        // stamped later (during the run) is newer and wins (apply-updates keeps the greater
        // version). Runs never overlap (the lock) and pages follow each other, so sweep versions
        // only grow. This assumes producers that push while a source is swept stamp their updates
        // with ms timestamps: a producer counting 1, 2, 3... would lose to every sweep.
        lastVersion = Math.max(lastVersion + 1, requestedAt);
        toApply.push({ mailbox, route: d.route, summary: (page.items[i] as SourceMailbox).summary, version: lastVersion });
      } else {
        toMark.push(mailbox);
      }
    });
    if (dryRun || signal.aborted) return;

    // Queue.
    const queued: string[] = [];
    for (const part of chunks(toMark, settings.maxBatchUpdates)) {
      const results = await store.markDirty(part);
      results.forEach((r, i) => {
        if (r === 'marked') queued.push(part[i] as string);
        else if (r === 'already-dirty') {
          // Became dirty (an update, a delivery's retry) since the page was read.
          counts.skipped++;
          counts.skippedBy.pending++;
        }
      });
    }
    for (const part of chunks(toApply, settings.maxBatchUpdates)) {
      const results = await store.applyUpdates(part);
      results.forEach((r, i) => {
        if (r === 'applied') queued.push((part[i] as MailboxUpdate).mailbox);
        else counts.stale++;
      });
    }
    counts.enqueued += queued.length;
    if (queued.length === 0) return;
    // Not awaited here (the scheduler folds wake-ups of a few ms into one addBulk; waiting for each
    // would cost that window per page); awaited before the run ends. A failed wake-up loses
    // nothing: the mailboxes are dirty, and the periodic kick wakes drains.
    const wake = deps.scheduler.schedule(queued).catch((err: unknown) => log.warn({ err }, 'could not wake the drains; the periodic kick will'));
    wakes.add(wake);
    void wake.then(() => wakes.delete(wake));
    while (!signal.aborted && (await store.dueCount()) > settings.maxDueBacklog) {
      await pause(clock, settings.backlogPollMs ?? 200, signal);
    }
  };

  log.info({ trigger: opts.trigger }, 'sweep started');
  const criteria = (): ScreenCriteria => ({ now: clock.now(), refreshMarginMs: settings.refreshMarginMs, mode: mode === 'resync-all' ? 'force' : 'sweep' });
  const iterator = pagesOf(source, settings.pageSize, signal, criteria);
  try {
    for (;;) {
      if (signal.aborted) break;
      const requestedAt = clock.now();
      const next = await iterator.next();
      if (next.done === true || signal.aborted) break;
      await processPage(next.value, requestedAt);
      if (signal.aborted) break;
      await health.recheck(signal);
      await progress(false);
    }
  } catch (err) {
    if (!signal.aborted) {
      if (isMwiError(err, ErrorCodes.SOURCE_UNAVAILABLE)) abort('source-unavailable', err.message);
      else if (isMwiError(err, ErrorCodes.REDIS_UNAVAILABLE)) abort('redis-unavailable', err.message);
      else {
        log.error({ err }, 'sweep failed');
        abort('error', errorMessage(err));
      }
    }
  } finally {
    if (deadline !== undefined) clock.clearTimeout(deadline);
    lost.removeEventListener('abort', onLost);
    opts.signal?.removeEventListener('abort', onShutdown);
    // Ends the source's page stream (closes a cursor, a directory handle).
    await iterator.return(undefined).catch((err: unknown) => log.debug({ err }, 'closing the source page stream failed'));
    await Promise.all(wakes);
  }

  const record: SweepRunRecord = {
    runId,
    mode,
    trigger: opts.trigger,
    source: source.name,
    dryRun,
    ...deps.identity,
    outcome: aborted === undefined ? 'completed' : 'aborted',
    startedAt,
    endedAt: clock.now(),
    counts,
    targets: health.report(),
    ...(aborted === undefined ? {} : { aborted }),
    ...(dryRun ? { planned } : {}),
  };
  await progress(true);
  const summary = { ...counts, elapsedMs: record.endedAt - startedAt, targets: record.targets, aborted };
  if (aborted === undefined) log.info(summary, dryRun ? 'sweep dry run finished (nothing queued)' : 'sweep finished');
  else log.warn(summary, `sweep aborted: ${aborted.reason}`);
  // Written while still holding the lock, so the next holder's pause check sees this run's end.
  await deps.runLog.add(record).catch((err: unknown) => log.warn({ err }, 'could not record the sweep run'));
  return record;
}
