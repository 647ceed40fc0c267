/**
 * The runner's own store as a mailbox source (sweep.source "store", the default): pages through
 * the mailbox index (`<prefix>:mailboxes`, a sorted set with every score 0 that apply-updates
 * keeps, in lexical order). Memory is bounded by one page; the order is stable, and a mailbox
 * added during the run is seen if it sorts after the cursor.
 *
 * The sweep reads it with `screenPages`: one Lua call per page screens the mailboxes in Redis
 * and returns only those that may need a delivery (plus counts); the sweep then reads the
 * desired state of just those. `pages` (the MailboxSource contract, with summaries) reads every
 * mailbox's desired state.
 */
import type { MailboxView, ScreenCriteria, ScreenedPage } from '../store/mailbox-state.ts';
import type { MailboxSource, SourceMailbox } from './mailbox-source.ts';

export interface IndexedStore {
  screenMailboxes(after: string, limit: number, criteria: ScreenCriteria): Promise<ScreenedPage>;
  viewMailboxes(mailboxes: readonly string[]): Promise<MailboxView[]>;
  /** Indexes mailboxes written before the index existed (once). */
  backfillMailboxIndex(signal?: AbortSignal): Promise<number>;
}

/** A source that is the store itself: the sweep screens its pages instead of comparing counts. */
export interface ScreenedSource extends MailboxSource {
  /** `criteria` is asked before each page (its `now` moves on). */
  screenPages(pageSize: number, signal: AbortSignal, criteria: () => ScreenCriteria): AsyncIterable<ScreenedPage>;
}

export function isScreenedSource(source: MailboxSource): source is ScreenedSource {
  return typeof (source as Partial<ScreenedSource>).screenPages === 'function';
}

export class StoreMailboxSource implements ScreenedSource {
  readonly name = 'store';
  readonly #store: IndexedStore;

  constructor(store: IndexedStore) {
    this.#store = store;
  }

  async *screenPages(pageSize: number, signal: AbortSignal, criteria: () => ScreenCriteria): AsyncIterable<ScreenedPage> {
    await this.#store.backfillMailboxIndex(signal);
    let after = '';
    for (;;) {
      if (signal.aborted) return;
      const page = await this.#store.screenMailboxes(after, pageSize, criteria());
      if (page.read === 0) return;
      yield page;
      if (page.read < pageSize || page.last === undefined) return;
      after = page.last;
    }
  }

  async *pages(pageSize: number, signal: AbortSignal): AsyncIterable<SourceMailbox[]> {
    for await (const page of this.screenPages(pageSize, signal, () => ({ now: Date.now(), refreshMarginMs: 0, mode: 'all' }))) {
      const views = await this.#store.viewMailboxes(page.candidates.map((s) => s.mailbox));
      yield views.flatMap((v) => (v.desired === undefined ? [] : [{ mailbox: v.mailbox, summary: v.desired.summary }]));
    }
  }

  close(): Promise<void> {
    return Promise.resolve();
  }
}
