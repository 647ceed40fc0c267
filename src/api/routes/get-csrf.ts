/** GET /v1/csrf: the CSRF token of the caller's session (null for a bearer token, which needs none). */
import { principalOf, type Handler } from '../handler.ts';
import type { Sessions } from '../session.ts';
import type { WireCsrf } from '../wire-types.ts';

export function getCsrf(sessions: Sessions): Handler {
  return (req) => {
    const { sessionId } = principalOf(req);
    return { status: 200, body: { csrfToken: sessionId === undefined ? null : sessions.csrfToken(sessionId) } satisfies WireCsrf };
  };
}
