/**
 * The per-mailbox Redis hash: short field names because there is one hash per mailbox. The Lua
 * scripts in ./lua write these same literal names. Versions and times are decimal strings,
 * written by TypeScript and never re-formatted in Lua (Lua 5.1's tostring keeps only 14 significant digits).
 */
import type { DeliveryRoute, KnownPublication } from '../delivery/sender.ts';
import type { Outcome, OutcomeKind } from '../delivery/outcome.ts';
import type { MessageSummary } from '../mwi/message-summary.ts';
import type { DueMailbox, LastOutcome, MailboxRecord, MailboxScreen, MailboxView } from './mailbox-state.ts';

export const MAILBOX_FIELDS = {
  desiredVersion: 'dv',
  /** JSON { summary, route }. */
  desiredState: 'ds',
  acceptedAt: 'dat',
  deliveredVersion: 'xv',
  /** JSON summary. */
  deliveredSummary: 'xs',
  deliveredAt: 'xat',
  etag: 'etag',
  expiresAt: 'exp',
  /** The route target (URI) that granted etag: another target's ETag is never sent in SIP-If-Match. */
  etagTarget: 'et',
  lastAttemptAt: 'la',
  /** JSON LastOutcome. */
  lastOutcome: 'lo',
  /** Failed attempts since the last delivery (record-attempt and park count up, record-delivered clears). */
  attempts: 'na',
} as const;

interface DesiredState {
  summary: MessageSummary;
  route: DeliveryRoute;
}

export function encodeDesiredState(summary: MessageSummary, route: DeliveryRoute): string {
  return JSON.stringify({ summary, route } satisfies DesiredState);
}

export function encodeLastOutcome(outcome: Outcome): string {
  const last: LastOutcome = {
    kind: outcome.kind,
    ...(outcome.status === undefined ? {} : { status: outcome.status }),
    reason: outcome.reason,
    at: outcome.startedAt + outcome.elapsedMs,
  };
  return JSON.stringify(last);
}

function num(text: string | undefined): number | undefined {
  if (text === undefined || text === '') return undefined;
  const n = Number(text);
  return Number.isFinite(n) ? n : undefined;
}

/** HGETALL result to record; undefined for a missing (empty) hash. */
export function decodeMailboxHash(mailbox: string, h: Record<string, string>): MailboxRecord | undefined {
  const F = MAILBOX_FIELDS;
  if (Object.keys(h).length === 0) return undefined;
  const record: MailboxRecord = { mailbox };
  const desiredVersion = num(h[F.desiredVersion]);
  const desiredState = h[F.desiredState];
  if (desiredVersion !== undefined && desiredState !== undefined) {
    const { summary, route } = JSON.parse(desiredState) as DesiredState;
    record.desired = { summary, route, version: desiredVersion, acceptedAt: num(h[F.acceptedAt]) ?? 0 };
  }
  const deliveredVersion = num(h[F.deliveredVersion]);
  const deliveredSummary = h[F.deliveredSummary];
  if (deliveredVersion !== undefined && deliveredSummary !== undefined) {
    record.delivered = {
      summary: JSON.parse(deliveredSummary) as MessageSummary,
      version: deliveredVersion,
      deliveredAt: num(h[F.deliveredAt]) ?? 0,
    };
  }
  const etag = h[F.etag];
  if (etag !== undefined && etag !== '') record.etag = etag;
  const expiresAt = num(h[F.expiresAt]);
  if (expiresAt !== undefined) record.expiresAt = expiresAt;
  const lastAttemptAt = num(h[F.lastAttemptAt]);
  if (lastAttemptAt !== undefined) record.lastAttemptAt = lastAttemptAt;
  const lastOutcome = h[F.lastOutcome];
  if (lastOutcome !== undefined) record.lastOutcome = JSON.parse(lastOutcome) as LastOutcome;
  const attempts = num(h[F.attempts]);
  if (attempts !== undefined && attempts > 0) record.attempts = attempts;
  return record;
}

type Field = string | null | undefined;

/**
 * The publication a PUBLISH of `route` may continue: the recorded ETag when `et` names the route's
 * target; null when the record names another target, or none, or the delivery is a NOTIFY;
 * undefined when nothing records the target (written before `et` existed): the sender's own
 * PublicationStore then holds it.
 */
function publicationFor(route: DeliveryRoute, etag: Field, exp: Field, et: Field): KnownPublication | null | undefined {
  if (route.mode !== 'publish') return null;
  if (typeof et !== 'string' || et === '') return typeof etag === 'string' && etag !== '' ? undefined : null;
  const expiresAt = num(exp ?? undefined);
  if (et !== route.target || typeof etag !== 'string' || etag === '' || expiresAt === undefined) return null;
  return { etag, expiresAt };
}

/** A leased mailbox from the take-dirty script's reply (dv, ds, na, etag, exp, et; nil -> absent). */
export function decodeDueMailbox(mailbox: string, dv: Field, ds: Field, na: Field, etag: Field = null, exp: Field = null, et: Field = null): DueMailbox {
  const due: DueMailbox = { mailbox };
  const version = num(dv ?? undefined);
  if (version !== undefined && typeof ds === 'string') {
    // One unreadable mailbox must not fail the whole lease (and stall the others in it).
    try {
      const { summary, route } = JSON.parse(ds) as DesiredState;
      due.desired = { summary, route, version };
      const publication = publicationFor(route, etag, exp, et);
      if (publication !== undefined) due.publication = publication;
    } catch (err) {
      due.unreadable = { version, reason: `stored desired state is not valid JSON: ${err instanceof Error ? err.message : String(err)}` };
    }
  }
  const attempts = num(na ?? undefined);
  if (attempts !== undefined && attempts > 0) due.attempts = attempts;
  return due;
}

function int(v: string | number | null | undefined): number | undefined {
  if (v === null || v === undefined) return undefined;
  const n = typeof v === 'number' ? v : Number(v);
  return Number.isFinite(n) ? n : undefined;
}

/** A screen from the sweep-page script's reply (nil -> absent). */
export function screenOf(mailbox: string, dv: string | number | null | undefined, xv: string | number | null | undefined, exp: string | number | null | undefined, due: string | number | null | undefined): MailboxScreen {
  const screen: { -readonly [K in keyof MailboxScreen]: MailboxScreen[K] } = { mailbox };
  const desiredVersion = int(dv);
  if (desiredVersion !== undefined) screen.desiredVersion = desiredVersion;
  const deliveredVersion = int(xv);
  if (deliveredVersion !== undefined) screen.deliveredVersion = deliveredVersion;
  const expiresAt = int(exp);
  if (expiresAt !== undefined) screen.expiresAt = expiresAt;
  const dueAt = int(due);
  if (dueAt !== undefined) screen.dueAt = dueAt;
  return screen;
}

/**
 * A MailboxView over the raw fields the sweep scripts return (dv, ds, xv, exp, lo, due at). The
 * JSON fields are parsed on first access only: a sweep over a million clean mailboxes parses none.
 */
export class RawMailboxView implements MailboxView {
  readonly mailbox: string;
  readonly desiredVersion: number | undefined;
  readonly deliveredVersion: number | undefined;
  readonly expiresAt: number | undefined;
  readonly dueAt: number | undefined;
  #ds: Field;
  #lo: Field;
  #desired: DesiredState | undefined;
  #lastOutcomeKind: OutcomeKind | undefined;

  constructor(mailbox: string, dv: Field, ds: Field, xv: Field, exp: Field, lo: Field, due: Field) {
    this.mailbox = mailbox;
    this.desiredVersion = ds == null ? undefined : num(dv ?? undefined);
    this.deliveredVersion = num(xv ?? undefined);
    this.expiresAt = num(exp ?? undefined);
    this.dueAt = num(due ?? undefined);
    this.#ds = ds;
    this.#lo = lo;
  }

  get desired(): DesiredState | undefined {
    if (this.#desired === undefined && this.#ds != null && this.desiredVersion !== undefined) {
      this.#desired = JSON.parse(this.#ds) as DesiredState;
      this.#ds = undefined;
    }
    return this.#desired;
  }

  get lastOutcomeKind(): OutcomeKind | undefined {
    if (this.#lastOutcomeKind === undefined && this.#lo != null) {
      this.#lastOutcomeKind = (JSON.parse(this.#lo) as LastOutcome).kind;
      this.#lo = undefined;
    }
    return this.#lastOutcomeKind;
  }
}
