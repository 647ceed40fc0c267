/** GET /v1/status: pauses and drain from the control plane, plus the process's live runtime state. */
import type { ControlPlane } from '../../control/types.ts';
import { principalOf, type Handler } from '../handler.ts';
import { required, type StatusSource } from '../operator-seams.ts';
import type { WireStatus } from '../wire-types.ts';

export function getStatus(control: ControlPlane | undefined, status: StatusSource | undefined): Handler {
  return async (req) => {
    const cp = required(control, 'control plane');
    const { role, actor } = principalOf(req);
    const [snapshot, runtime] = await Promise.all([cp.snapshot(), status === undefined ? null : status()]);
    const body: WireStatus = { principal: { role, actor }, control: { pauses: snapshot.pauses, drain: snapshot.drain ?? null }, runtime };
    return { status: 200, body };
  };
}
