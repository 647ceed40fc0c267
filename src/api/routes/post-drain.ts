/** POST /v1/drain {on, reason}: on, queued work is finished and no new sweep starts; off, back to normal. */
import { z } from 'zod';

import type { ControlPlane } from '../../control/types.ts';
import { principalOf, type Handler } from '../handler.ts';
import { required } from '../operator-seams.ts';
import { bodyObject, parseBody, reasonField } from '../request-body.ts';

const drainBody = bodyObject({ on: z.boolean({ error: 'must be true or false' }), reason: reasonField() });

export function postDrain(control: ControlPlane | undefined): Handler {
  return async (req) => {
    const cp = required(control, 'control plane');
    const { on, reason } = parseBody(drainBody, req.body);
    const { actor, via } = principalOf(req);
    await cp.setDrain(on, actor, reason, { via });
    return { status: 200, body: { draining: on } };
  };
}
