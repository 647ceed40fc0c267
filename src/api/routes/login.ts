/**
 * POST /login (JSON or the login page's form: a token, optionally a user name for the audit log)
 * starts a dashboard session as the token's role; POST /logout ends it. A form login is
 * redirected (303) to the dashboard; a JSON login gets the session's CSRF token in the body.
 * Rate-limited per client address (api.loginAttemptsPerMinute), by the route table.
 */
import { z } from 'zod';

import { ErrorCodes } from '../../errors.ts';
import type { Logger } from '../../log.ts';
import type { TokenRoles } from '../auth.ts';
import { clearedCookies, sessionCookies } from '../cookies.ts';
import { apiError } from '../errors.ts';
import type { ApiResponse, Handler } from '../handler.ts';
import { parseBody } from '../request-body.ts';
import type { Sessions } from '../session.ts';
import type { WireLogin } from '../wire-types.ts';

const MAX_TOKEN_CHARS = 4096;

// Not strict: a form may post its submit button's name too.
const loginBody = z.object(
  {
    token: z.string({ error: 'must be the token of a viewer or operator' }).min(1, { error: 'must be the token of a viewer or operator' }).max(MAX_TOKEN_CHARS, { error: `must be at most ${MAX_TOKEN_CHARS} characters` }),
    // An empty form field means no name.
    user: z.preprocess(
      (v) => (v === '' ? undefined : v),
      z.string({ error: 'must be 1 to 64 letters, digits or . _ @ -' }).regex(/^[A-Za-z0-9._@-]{1,64}$/, { error: 'must be 1 to 64 letters, digits or . _ @ -' }).optional(),
    ),
  },
  { error: 'must be a JSON object or a form with a token field' },
);

function seeOther(location: string, cookies: string[]): ApiResponse {
  return { status: 303, headers: { 'set-cookie': cookies, location }, body: '' };
}

export function postLogin(deps: { tokenRoles: TokenRoles; sessions: Sessions; log: Logger; dashboardPath: string }): Handler {
  return (req) => {
    const { token, user } = parseBody(loginBody, req.body);
    const role = deps.tokenRoles(token);
    if (role === undefined) throw apiError(ErrorCodes.HTTP_UNAUTHORIZED, 'unknown token');
    if (role === 'producer') throw apiError(ErrorCodes.HTTP_FORBIDDEN, 'a producer token cannot sign in to the dashboard: use a viewer or operator token');
    const { value, claims } = deps.sessions.issue(role, user);
    const csrfToken = deps.sessions.csrfToken(claims.id);
    const cookies = sessionCookies(value, csrfToken, deps.sessions.ttlSec, req.secure);
    deps.log.info({ role, user }, 'dashboard login');
    if (req.form) return seeOther(deps.dashboardPath, cookies);
    const body: WireLogin = { role, actor: user === undefined ? role : `${role}:${user}`, expiresAt: claims.expiresAt, csrfToken };
    return { status: 200, headers: { 'set-cookie': cookies }, body };
  };
}

/** Clears both cookies whoever asks: the session itself stays valid until it expires (it is not stored), but the browser forgets it. */
export const postLogout: Handler = (req) => {
  const cookies = clearedCookies(req.secure);
  return req.form ? seeOther('/login', cookies) : { status: 204, headers: { 'set-cookie': cookies }, body: undefined };
};
