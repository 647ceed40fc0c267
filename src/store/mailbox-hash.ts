/**
 * The per-mailbox Redis hash: short field names because there is one hash per mailbox. The Lua
 * scripts in ./lua write these same literal names. Versions and times are decimal strings,
 * written by TypeScript and never re-formatted in Lua (Lua 5.1's tostring keeps only 14 significant digits).
 */
import type { DeliveryRoute } from '../delivery/sender.ts';
import type { Outcome } from '../delivery/outcome.ts';
import type { MessageSummary } from '../mwi/message-summary.ts';
import type { LastOutcome, MailboxRecord } from './mailbox-state.ts';

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
