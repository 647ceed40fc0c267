/** POST /v1/resync {mailbox, reason?}: send one mailbox's stored desired state again, now (as `mwi resync --mailbox`). */
import { z } from 'zod';

import type { ControlPlane } from '../../control/types.ts';
import { ErrorCodes } from '../../errors.ts';
import { MAX_URI_LENGTH } from '../../ingest/update-schema.ts';
import { isValidAccountUri } from '../../mwi/message-summary.ts';
import { apiError } from '../errors.ts';
import { principalOf, type Handler } from '../handler.ts';
import { required, type ResyncMailbox } from '../operator-seams.ts';
import { bodyObject, parseBody, reasonField } from '../request-body.ts';
import type { WireResync } from '../wire-types.ts';

const resyncBody = bodyObject({ mailbox: z.string({ error: 'must be a mailbox URI (sip:, sips: or tel:)' }), reason: reasonField().optional() });

export function postResync(resync: ResyncMailbox | undefined, control: ControlPlane | undefined): Handler {
  return async (req) => {
    const send = required(resync, 'resync');
    const cp = required(control, 'control plane');
    const { mailbox, reason } = parseBody(resyncBody, req.body);
    if (mailbox.length > MAX_URI_LENGTH || !isValidAccountUri(mailbox)) throw apiError(ErrorCodes.URI_INVALID, 'mailbox must be a mailbox URI (sip:, sips: or tel:)', 'mailbox');
    const { actor, via } = principalOf(req);
    const result = await send(mailbox);
    if (result === 'no-desired-state') throw apiError(ErrorCodes.MAILBOX_NOT_FOUND, 'no state is stored for this mailbox', 'mailbox');
    await cp.audit({ actor, action: 'resync', subject: mailbox, reason: reason ?? 'resync requested', via });
    return { status: 202, body: { mailbox, result } satisfies WireResync };
  };
}
