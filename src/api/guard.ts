/**
 * Who is calling, and may they: the onRequest check of every non-public route (and of plugins
 * mounted behind it). It runs before the body is read, in this order:
 *   1. no valid credentials: 401 (a bearer header that does not match is never rescued by a cookie);
 *   2. signed in by session cookie, a state-changing method, and not the session's CSRF token: 403 MWI_HTTP_CSRF;
 *   3. a role that may not use the route: 403 MWI_HTTP_FORBIDDEN.
 * Bearer clients need no CSRF token: a browser never adds an Authorization header on its own.
 */
import type { FastifyRequest } from 'fastify';

import { ErrorCodes, type MwiError } from '../errors.ts';
import { bearerToken, type TokenRoles } from './auth.ts';
import { SESSION_COOKIE, readCookie } from './cookies.ts';
import { apiError } from './errors.ts';
import { grants, type Principal, type RouteRole } from './roles.ts';
import type { Sessions } from './session.ts';

export type GuardHook = (req: FastifyRequest) => Promise<void>;

export interface Guard {
  /** The onRequest hook for a route (or mount) needing `needed`, which may depend on the method. */
  require(needed: RouteRole | ((method: string) => RouteRole)): GuardHook;
  /** The principal the guard admitted this request as (undefined on public routes). */
  principalOf(req: FastifyRequest): Principal | undefined;
}

const SAFE_METHODS = new Set(['GET', 'HEAD', 'OPTIONS']);

function header(req: FastifyRequest, name: string): string | undefined {
  const v = req.headers[name];
  return typeof v === 'string' ? v : undefined;
}

export function createGuard(deps: { tokenRoles: TokenRoles; sessions: Sessions }): Guard {
  const admitted = new WeakMap<FastifyRequest, Principal>();

  const authenticate = (req: FastifyRequest): Principal | undefined => {
    const authorization = header(req, 'authorization');
    if (authorization !== undefined) {
      const token = bearerToken(authorization);
      const role = token === undefined ? undefined : deps.tokenRoles(token);
      return role === undefined ? undefined : { role, actor: role, via: 'api' };
    }
    const claims = deps.sessions.verify(readCookie(header(req, 'cookie'), SESSION_COOKIE));
    if (claims === undefined) return undefined;
    return { role: claims.role, actor: claims.user === undefined ? claims.role : `${claims.role}:${claims.user}`, via: 'dashboard', sessionId: claims.id };
  };

  /** The refusal for this request, or undefined when it may proceed. */
  const refusal = (req: FastifyRequest, needed: RouteRole): MwiError | undefined => {
    if (needed === 'public') return undefined;
    const principal = authenticate(req);
    if (principal === undefined) return apiError(ErrorCodes.HTTP_UNAUTHORIZED, 'missing or invalid bearer token or session');
    if (principal.sessionId !== undefined && !SAFE_METHODS.has(req.method)) {
      const presented = header(req, 'x-csrf-token') ?? header(req, 'x-xsrf-token');
      if (!deps.sessions.csrfMatches(principal.sessionId, presented)) return apiError(ErrorCodes.HTTP_CSRF, "a session-cookie request that changes state needs the session's CSRF token in X-CSRF-Token (GET /v1/csrf)");
    }
    if (!grants(principal.role, needed)) return apiError(ErrorCodes.HTTP_FORBIDDEN, `the ${principal.role} role may not use this route`);
    admitted.set(req, principal);
    return undefined;
  };

  return {
    require: (needed) => (req) => {
      const err = refusal(req, typeof needed === 'function' ? needed(req.method) : needed);
      return err === undefined ? Promise.resolve() : Promise.reject(err);
    },
    principalOf: (req) => admitted.get(req),
  };
}
