/**
 * Who may do what. A token maps to exactly one role; a route names the least role it needs.
 * Operators may do everything viewers may; producers only push updates (a PBX's token cannot
 * read other mailboxes or pause delivery, and an operator's cannot forge updates).
 */
export type Role = 'producer' | 'viewer' | 'operator';

export type RouteRole = 'public' | Role;

/** The roles a browser may sign in as (a producer is a PBX, not a person). */
export type SessionRole = Exclude<Role, 'producer'>;

export const ROLES: readonly Role[] = ['producer', 'viewer', 'operator'];

export function grants(held: Role, needed: RouteRole): boolean {
  if (needed === 'public' || held === needed) return true;
  return held === 'operator' && needed === 'viewer';
}

/** The authenticated caller of one request. */
export interface Principal {
  role: Role;
  /** What audit entries name: the role (`operator`) for a bearer token, `role:user` for a named session. */
  actor: string;
  /** `api` (bearer token) or `dashboard` (session cookie), as written to the audit log. */
  via: 'api' | 'dashboard';
  /** Session cookie only: the session's id, which its CSRF token is bound to. */
  sessionId?: string;
}
