/**
 * MWI is state, not events: per mailbox the store keeps the newest desired summary (by ordering
 * key) and what was last delivered. A mailbox is dirty while desired.version > delivered.version.
 */
import type { DeliveryRoute } from '../delivery/sender.ts';
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
