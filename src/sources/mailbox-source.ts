// src/sources/mailbox-source.ts
import type { MessageSummary } from '../mwi/message-summary.ts';
/** One mailbox as a source sees it: the account URI and its counts. */
export interface SourceMailbox { mailbox: string; summary: MessageSummary }
/** Streams every mailbox with bounded memory; throws MwiError(SOURCE_UNAVAILABLE) with a reason when the source fails (directory unreadable, database down): the run then aborts and marks nothing. */
export interface MailboxSource {
  readonly name: string;
  /** Pages of at most pageSize mailboxes, in a stable order. */
  pages(pageSize: number, signal: AbortSignal): AsyncIterable<SourceMailbox[]>;
  close(): Promise<void>;
}
