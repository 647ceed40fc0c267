/**
 * POST /v1/breakers/:id/isolate and /reset {reason}: hold a breaker open (nothing but probes
 * goes to that target) or close it and forget its evidence. The id is percent-encoded in the
 * path. Audited through the control plane, which is why both need it.
 */
import type { ControlPlane } from '../../control/types.ts';
import { ErrorCodes } from '../../errors.ts';
import { apiError } from '../errors.ts';
import { principalOf, type Handler } from '../handler.ts';
import { required, type BreakerControl } from '../operator-seams.ts';
import { bodyObject, parseBody, reasonField, targetField } from '../request-body.ts';

const breakerBody = bodyObject({ reason: reasonField() });
const breakerId = targetField();

export function postBreaker(action: 'isolate' | 'reset', breakers: BreakerControl | undefined, control: ControlPlane | undefined): Handler {
  return async (req) => {
    const bc = required(breakers, 'breaker control');
    const cp = required(control, 'control plane');
    const id = breakerId.safeParse(req.params.id);
    if (!id.success) throw apiError(ErrorCodes.HTTP_VALIDATION, 'id must be a breaker id (percent-encoded, no whitespace or control characters)', 'id');
    const { reason } = parseBody(breakerBody, req.body);
    const { actor, via } = principalOf(req);
    await bc[action](id.data, actor, reason);
    await cp.audit({ actor, action: `breaker-${action}`, subject: id.data, reason, via });
    return { status: 200, body: { breaker: id.data, action } };
  };
}
