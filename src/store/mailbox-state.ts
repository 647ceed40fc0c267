/**
 * MWI is state, not events: per mailbox the store keeps the newest desired summary (by ordering
 * key) and what was last delivered. A mailbox is dirty while desired.version > delivered.version.
 */
import type { DeliveryRoute, KnownPublication } from '../delivery/sender.ts';
import type { OutcomeKind } from '../delivery/outcome.ts';
import type { MessageSummary } from '../mwi/message-summary.ts';

export interface MailboxUpdate {
  /** The mailbox's account URI, e.g. sip:1000@pbx.example.net. */
  mailbox: string;
  route: DeliveryRoute;
  summary: MessageSummary;
  /** Ordering key: a version or source timestamp, a safe integer >= 0. Only a strictly greater one replaces the stored state. */
  version: number;
}

export type ApplyResult =
  | 'applied'
  /** The store already holds this version or a newer one (also what a retried, already applied update reports). */
  | 'stale';

export interface LastOutcome {
  kind: OutcomeKind;
  status?: number;
  reason: string;
  /** When the attempt ended (ms since epoch). */
  at: number;
}

export interface MailboxRecord {
  mailbox: string;
  desired?: { summary: MessageSummary; route: DeliveryRoute; version: number; acceptedAt: number };
  delivered?: { summary: MessageSummary; version: number; deliveredAt: number };
  /** From the last delivered PUBLISH (absent after a NOTIFY delivery). */
  etag?: string;
  expiresAt?: number;
  lastAttemptAt?: number;
  lastOutcome?: LastOutcome;
  /** Failed attempts since the last delivery (absent when none): what the retry backoff grows with. */
  attempts?: number;
}

/** A mailbox leased for delivery, with what delivering it needs (MailboxStore takeDue). */
export interface DueMailbox {
  mailbox: string;
  /** Absent when the mailbox has no desired state (a dirty entry without a hash): nothing to send. */
  desired?: { summary: MessageSummary; route: DeliveryRoute; version: number };
  /** Failed attempts since the last delivery (absent when none). */
  attempts?: number;
  /**
   * The publication a PUBLISH of `desired` continues (MwiDelivery.publication): the ETag the last
   * recorded delivery to the same target was granted, null when there is none to continue;
   * absent when the record does not say which target granted its ETag (an older record).
   */
  publication?: KnownPublication | null;
  /**
   * The stored desired state could not be read (not valid JSON; only a hand edit or corruption
   * makes that): nothing can be sent for `version` until a newer update replaces it.
   */
  unreadable?: { version: number; reason: string };
}

export type DeliveredResult =
  /** delivered.version equals desired.version: the mailbox is no longer dirty. */
  | 'clean'
  /** A newer desired state arrived during the delivery: the mailbox stays dirty and is due now. */
  | 'still-dirty'
  /** A newer version was already recorded as delivered: nothing written. */
  | 'superseded'
  /** No desired state with this version (or newer) was ever accepted: nothing written. */
  | 'unknown-version';

export type AttemptResult = 'recorded' | 'unknown-mailbox';

export type ParkResult =
  /** The parked version is still the desired one: the mailbox left the dirty set until a newer update. */
  | 'parked'
  /** A newer desired state arrived during the attempt: the mailbox stays dirty and is due now. */
  | 'still-dirty'
  /** No desired state is stored for this mailbox: its dirty entry was dropped, nothing written. */
  | 'unknown-mailbox';

/** The numbers the sweep screens a mailbox by: versions, publication expiry, dirty mark. */
export interface MailboxScreen {
  readonly mailbox: string;
  readonly desiredVersion?: number;
  readonly deliveredVersion?: number;
  /** Expiry of the last PUBLISH (ms since epoch); absent after a NOTIFY or before any PUBLISH. */
  readonly expiresAt?: number;
  /** Due time in the dirty set (ms since epoch); absent when the mailbox is not dirty. */
  readonly dueAt?: number;
}

export interface ScreenCriteria {
  now: number;
  refreshMarginMs: number;
  /** sweep: may need a delivery; force: every mailbox not dirty (resync); all: every mailbox with a desired state. */
  mode: 'sweep' | 'force' | 'all';
}

/** One page of the mailbox index, screened in Redis. */
export interface ScreenedPage {
  /** Index entries read (the page size unless this was the last page). */
  read: number;
  /** The last entry read: the cursor of the next page. */
  last?: string;
  /** Mailboxes with a desired state on the page. */
  scanned: number;
  /** Of those, already dirty (due, leased, waiting for a retry). */
  dirty: number;
  /** The ones the criteria select, with their numbers (never dirty, except in mode "all"). */
  candidates: MailboxScreen[];
}

/**
 * What the sweep plans from: the screen plus the desired state and the last outcome, decoded on
 * first use (a mailbox that turns out to need nothing never has its JSON parsed).
 */
export interface MailboxView extends MailboxScreen {
  readonly desired?: { summary: MessageSummary; route: DeliveryRoute };
  /** Kind of the last attempt's outcome ('permanent' while parked). */
  readonly lastOutcomeKind?: OutcomeKind;
}

export type MarkResult =
  /** Now dirty, due at the given time. */
  | 'marked'
  /** Already dirty: its due time (lease, retry) is kept. */
  | 'already-dirty'
  /** No desired state stored: nothing to send. */
  | 'no-desired-state';
