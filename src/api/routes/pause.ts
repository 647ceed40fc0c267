/**
 * POST /v1/pause {reason, for?: "30m", target?} and POST /v1/resume {reason, target?}: stop or
 * restart sending, everywhere or to one target (a URI as configured, or a hop key). A pause
 * replaces an earlier one of the same scope; `for` ends it by itself.
 */
import type { ControlPlane, PauseScope } from '../../control/types.ts';
import { principalOf, type Handler } from '../handler.ts';
import { required } from '../operator-seams.ts';
import { bodyObject, durationField, parseBody, reasonField, targetField } from '../request-body.ts';

const pauseBody = bodyObject({ reason: reasonField(), for: durationField().optional(), target: targetField().optional() });
const resumeBody = bodyObject({ reason: reasonField(), target: targetField().optional() });

function scope(target: string | undefined): PauseScope {
  return target === undefined ? 'global' : { target };
}

export function postPause(control: ControlPlane | undefined): Handler {
  return async (req) => {
    const cp = required(control, 'control plane');
    const body = parseBody(pauseBody, req.body);
    const { actor, via } = principalOf(req);
    const pause = await cp.pause(scope(body.target), actor, body.reason, { via, ...(body.for === undefined ? {} : { forMs: body.for }) });
    return { status: 200, body: { pause } };
  };
}

export function postResume(control: ControlPlane | undefined): Handler {
  return async (req) => {
    const cp = required(control, 'control plane');
    const body = parseBody(resumeBody, req.body);
    const { actor, via } = principalOf(req);
    const resumed = await cp.resume(scope(body.target), actor, body.reason, { via });
    return { status: 200, body: { resumed: resumed ?? null } };
  };
}
