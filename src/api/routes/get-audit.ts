/** GET /v1/audit?limit=100: who paused, resumed, drained, isolated, reset or resynced what, when and why; newest first. */
import type { ControlPlane } from '../../control/types.ts';
import { ErrorCodes } from '../../errors.ts';
import { apiError } from '../errors.ts';
import type { Handler } from '../handler.ts';
import { required } from '../operator-seams.ts';
import type { WireAudit } from '../wire-types.ts';

const DEFAULT_LIMIT = 100;
const MAX_LIMIT = 1000;

function parseLimit(value: string | string[] | undefined): number {
  if (value === undefined) return DEFAULT_LIMIT;
  const n = typeof value === 'string' && /^[1-9][0-9]{0,3}$/.test(value) ? Number(value) : NaN;
  if (!(n <= MAX_LIMIT)) throw apiError(ErrorCodes.HTTP_VALIDATION, `limit must be a whole number from 1 to ${MAX_LIMIT}`, 'limit');
  return n;
}

export function getAudit(control: ControlPlane | undefined): Handler {
  return async (req) => {
    const limit = parseLimit(req.query.limit);
    const entries = await required(control, 'control plane').auditLog(limit);
    return { status: 200, body: { entries } satisfies WireAudit };
  };
}
