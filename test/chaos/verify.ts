/**
 * The one check every chaos scenario ends with: for each mailbox with an update answered 202,
 * the publication the runner maintains at the presence server (the one carrying the ETag the
 * runner's store holds for it) carries that mailbox's latest accepted version or a newer one it
 * was sent (an update whose answer was lost may have been applied all the same), never an older
 * one. Anything else counts as lost.
 *
 * Other publications of the same mailbox (an initial PUBLISH sent again after a crash or a 412,
 * while the earlier one had reached the server) are counted as duplicates: they lapse with their
 * Expires and are reported, not lost.
 */
import type { KamailioHandle } from '../harness/kamailio.ts';
import { parseMessageSummary } from '../../src/mwi/message-summary.ts';
import type { RedisMailboxStore } from '../../src/store/redis-mailbox-store.ts';
import type { UpdateLedger } from './load.ts';

export interface HeldPublication {
  etag: string;
  body: string;
}

/** What the presence server holds, per mailbox URI. */
export type PresenceHoldings = Map<string, HeldPublication[]>;

export interface VerifyReport {
  /** Mailboxes with at least one update answered 202. */
  checked: number;
  lost: number;
  /** Why, for the first few lost mailboxes. */
  failures: string[];
  /** Publications beside the maintained one (see above). */
  duplicates: number;
}

export async function kamailioHoldings(kam: KamailioHandle): Promise<PresenceHoldings> {
  const held: PresenceHoldings = new Map();
  for (const row of await kam.presentities()) {
    if (row.event !== 'message-summary') continue;
    const mailbox = `sip:${row.username}@${row.domain}`;
    const list = held.get(mailbox) ?? [];
    list.push({ etag: row.etag, body: row.body });
    held.set(mailbox, list);
  }
  return held;
}

/** The voice-message count of a body, which is the version it was built from (load.ts summaryOf). */
function versionIn(body: string, mailbox: string): number | string {
  const parsed = parseMessageSummary(body);
  if (!parsed.ok) return `unparseable body (${parsed.problem})`;
  if (parsed.value.account !== mailbox) return `body for account ${String(parsed.value.account)}`;
  const v = parsed.value.counts['voice-message']?.new;
  return v === undefined ? 'no voice-message line' : v;
}

const KEEP_FAILURES = 10;
const STORE_READS_AT_ONCE = 100;
const READ_ATTEMPTS = 10;

/** A read of the store or of Kamailio, tried again while it times out (a slow host is not a loss). */
export async function readPatiently<T>(read: () => Promise<T>): Promise<T> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await read();
    } catch (err) {
      if (attempt >= READ_ATTEMPTS) throw err;
      await new Promise((resolve) => setTimeout(resolve, 500 * attempt));
    }
  }
}

export async function verifyLatest(opts: { ledger: UpdateLedger; store: RedisMailboxStore; holdings: PresenceHoldings }): Promise<VerifyReport> {
  const { ledger, store, holdings } = opts;
  const report: VerifyReport = { checked: 0, lost: 0, failures: [], duplicates: 0 };
  const lose = (why: string): void => {
    report.lost++;
    if (report.failures.length < KEEP_FAILURES) report.failures.push(why);
  };
  const mailboxes = [...ledger.accepted.keys()];
  for (let i = 0; i < mailboxes.length; i += STORE_READS_AT_ONCE) {
    const slice = mailboxes.slice(i, i + STORE_READS_AT_ONCE);
    const records = await readPatiently(() => Promise.all(slice.map((m) => store.get(m))));
    slice.forEach((mailbox, k) => {
      report.checked++;
      const accepted = ledger.accepted.get(mailbox) ?? 0;
      const attempted = ledger.attempted.get(mailbox) ?? accepted;
      const etag = records[k]?.etag;
      const held = holdings.get(mailbox) ?? [];
      const ours = etag === undefined ? undefined : held.find((p) => p.etag === etag);
      report.duplicates += Math.max(0, held.length - (ours ? 1 : 0));
      if (ours === undefined) {
        lose(`${mailbox}: accepted v${accepted}, but no publication with the runner's ETag ${etag ?? '(none)'} (${held.length} held)`);
        return;
      }
      const version = versionIn(ours.body, mailbox);
      if (typeof version === 'string') lose(`${mailbox}: accepted v${accepted}, presence server holds ${version}`);
      else if (version < accepted) lose(`${mailbox}: accepted v${accepted}, presence server holds v${version}`);
      else if (version > attempted) lose(`${mailbox}: presence server holds v${version}, never sent (newest sent v${attempted})`);
    });
  }
  return report;
}
