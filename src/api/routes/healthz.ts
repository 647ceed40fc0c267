/** GET /healthz: the process is alive and serving HTTP. No details, no authentication, no Redis call. */
import type { Handler } from '../handler.ts';
import type { WireHealth } from '../wire-types.ts';

export const healthz: Handler = () => ({ status: 200, body: { status: 'ok' } satisfies WireHealth });
