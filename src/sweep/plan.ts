/**
 * What the sweep does with one mailbox: pure decisions from the stored view (and, for an
 * external source, the counts the source reports), the time and the health of the target.
 * Two steps, because health is only known once the targets of a page are probed:
 * `needOf` says what the mailbox needs regardless of its target, `decide` applies the health.
 */
import type { DeliveryRoute } from '../delivery/sender.ts';
import { MESSAGE_CLASSES, type MessageSummary } from '../mwi/message-summary.ts';
import type { MailboxScreen, MailboxView } from '../store/mailbox-state.ts';

export interface PlanSettings {
  now: number;
  /** Re-publish a clean mailbox whose publication expires within this long. */
  refreshMarginMs: number;
  /** Resync: send every mailbox with a desired state that is not already queued. */
  force: boolean;
}

export type EnqueueReason =
  /** The desired state was never delivered and nothing queues it (a lost dirty mark). */
  | 'differs'
  /** Delivered, but the PUBLISH lapses within the refresh margin. */
  | 'expiring'
  /** Resync asked for it. */
  | 'forced'
  /** The external source reports other counts than the desired state: they become the new desired state. */
  | 'source-changed';

export type SkipReason =
  /** Already dirty (due, leased or waiting for a retry): the queue delivers it. */
  | 'pending'
  /** Its desired version failed permanently; it waits for a newer update. */
  | 'parked'
  /** The presence server failed its health probe in this run. */
  | 'target-down'
  /** An external source names a mailbox the store has no route for, and there is no default target. */
  | 'no-target';

export type Need =
  | { kind: 'none'; why: 'clean' | 'no-desired-state' }
  | { kind: 'skip'; why: Exclude<SkipReason, 'target-down'> }
  | { kind: 'enqueue'; why: EnqueueReason; route: DeliveryRoute };

export type Decision =
  | { kind: 'none'; why: 'clean' | 'no-desired-state' }
  | { kind: 'skip'; why: SkipReason; target?: string }
  | { kind: 'enqueue'; why: EnqueueReason; route: DeliveryRoute };

/** Health of a presence server as the run knows it; notify routes (phones) are never probed. */
export type TargetStatus = { up: true } | { up: false; reason: string };

/** The URI that is probed for a route, or undefined when the route is not probed (NOTIFY to a phone). */
export function probedTarget(route: DeliveryRoute): string | undefined {
  return route.mode === 'publish' ? route.target : undefined;
}

function counts(summary: MessageSummary, cls: (typeof MESSAGE_CLASSES)[number]): [number, number, number, number] {
  const c = summary.counts[cls];
  return c === undefined ? [0, 0, 0, 0] : [c.new, c.old, c.urgentNew ?? 0, c.urgentOld ?? 0];
}

/** Same counts in every message class (an absent class or urgent count is 0): the lamp and the body's meaning do not change. */
export function sameCounts(a: MessageSummary, b: MessageSummary): boolean {
  for (const cls of MESSAGE_CLASSES) {
    const x = counts(a, cls);
    const y = counts(b, cls);
    if (x[0] !== y[0] || x[1] !== y[1] || x[2] !== y[2] || x[3] !== y[3]) return false;
  }
  return true;
}

/**
 * Whether the numbers alone leave a mailbox possibly needing a delivery, so its desired state
 * must be read: exactly the mailboxes for which needOf reads `desired` or `lastOutcomeKind`.
 * A sweep of a million clean mailboxes reads and parses no desired state at all.
 */
export function needsDetail(screen: MailboxScreen, settings: PlanSettings): boolean {
  if (screen.desiredVersion === undefined || screen.dueAt !== undefined) return false;
  if (settings.force || screen.desiredVersion > (screen.deliveredVersion ?? -1)) return true;
  return screen.expiresAt !== undefined && screen.expiresAt - settings.now <= settings.refreshMarginMs;
}

/**
 * What the stored state of a mailbox needs (the 'store' source, and external sources once
 * their counts match). Reads `desired` and `lastOutcomeKind` only where needsDetail is true.
 */
export function needOf(view: MailboxView, settings: PlanSettings): Need {
  if (view.desiredVersion === undefined) return { kind: 'none', why: 'no-desired-state' };
  if (view.dueAt !== undefined) return { kind: 'skip', why: 'pending' };
  if (!needsDetail(view, settings)) return { kind: 'none', why: 'clean' };
  const desired = view.desired;
  if (desired === undefined) return { kind: 'none', why: 'no-desired-state' };
  if (settings.force) return { kind: 'enqueue', why: 'forced', route: desired.route };
  if (view.desiredVersion > (view.deliveredVersion ?? -1)) {
    // Park keeps a permanently failed version out of the dirty set until a newer update; the
    // sweep must not turn that into a retry every interval (resync can, on purpose).
    if (view.lastOutcomeKind === 'permanent') return { kind: 'skip', why: 'parked' };
    return { kind: 'enqueue', why: 'differs', route: desired.route };
  }
  // An expiry is only ever stored for a PUBLISH; NOTIFY routes have none.
  if (desired.route.mode === 'publish') return { kind: 'enqueue', why: 'expiring', route: desired.route };
  return { kind: 'none', why: 'clean' };
}

/**
 * What counts reported by an external source need: new desired state when they differ from the
 * stored one (sent along the stored route, else `defaultRoute`), otherwise whatever the stored
 * state needs.
 */
export function needOfSourced(view: MailboxView, reported: MessageSummary, defaultRoute: DeliveryRoute | undefined, settings: PlanSettings): Need {
  const desired = view.desiredVersion === undefined ? undefined : view.desired;
  if (desired !== undefined && sameCounts(desired.summary, reported)) return needOf(view, settings);
  const route = desired?.route ?? defaultRoute;
  if (route === undefined) return { kind: 'skip', why: 'no-target' };
  return { kind: 'enqueue', why: 'source-changed', route };
}

/** The need, given the health of its target. A target with no status yet counts as up (the run probes before it decides). */
export function decide(need: Need, status: (target: string) => TargetStatus | undefined): Decision {
  if (need.kind !== 'enqueue') return need;
  const target = probedTarget(need.route);
  if (target !== undefined && status(target)?.up === false) return { kind: 'skip', why: 'target-down', target };
  return need;
}
