/** GET /v1/mailboxes/:id (the mailbox URI, percent-encoded): desired and delivered state, ETag, last attempt. */
import { ErrorCodes } from '../../errors.ts';
import { MAX_URI_LENGTH } from '../../ingest/update-schema.ts';
import { wireFromSummary } from '../../ingest/wire-summary.ts';
import { isValidAccountUri } from '../../mwi/message-summary.ts';
import type { MailboxRecord } from '../../store/mailbox-state.ts';
import type { RedisMailboxStore } from '../../store/redis-mailbox-store.ts';
import { apiError } from '../errors.ts';
import type { Handler } from '../handler.ts';
import type { WireMailboxState } from '../wire-types.ts';

export type MailboxReader = Pick<RedisMailboxStore, 'get'>;

export function mailboxView(r: MailboxRecord): WireMailboxState {
  const { desired, delivered } = r;
  return {
    mailbox: r.mailbox,
    desired: desired === undefined ? null : { version: desired.version, acceptedAt: desired.acceptedAt, route: desired.route, ...wireFromSummary(desired.summary) },
    delivered: delivered === undefined ? null : { version: delivered.version, deliveredAt: delivered.deliveredAt, ...wireFromSummary(delivered.summary) },
    pending: desired !== undefined && (delivered === undefined || delivered.version < desired.version),
    etag: r.etag ?? null,
    expiresAt: r.expiresAt ?? null,
    lastAttemptAt: r.lastAttemptAt ?? null,
    lastOutcome: r.lastOutcome ?? null,
  };
}

export function getMailbox(store: MailboxReader): Handler {
  return async (req) => {
    const id = req.params.id ?? '';
    if (id.length > MAX_URI_LENGTH || !isValidAccountUri(id)) throw apiError(ErrorCodes.URI_INVALID, 'id must be a mailbox URI (sip:, sips: or tel:), percent-encoded in the path', 'id');
    const record = await store.get(id);
    if (record === undefined) throw apiError(ErrorCodes.MAILBOX_NOT_FOUND, 'no state is stored for this mailbox', 'id');
    return { status: 200, body: mailboxView(record) };
  };
}
