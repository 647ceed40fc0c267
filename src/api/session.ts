/**
 * Dashboard sessions without server state: the cookie carries its claims (role, optional user
 * name, expiry, a random id, a tag of the role's token) and an HMAC-SHA256 over them with
 * api.sessionSecret. The token tag ends every session of a role once its token changes (and the
 * process restarts with the new one). The CSRF token is an HMAC of the session id: a different
 * value per session, checkable without storage, useless without the matching cookie.
 */
import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';

import type { Clock } from '../clock.ts';
import { secretsEqual, type RoleTokens } from './auth.ts';
import type { SessionRole } from './roles.ts';

export interface SessionClaims {
  role: SessionRole;
  /** Optional name given at login; audit entries name it. */
  user?: string;
  /** ms since epoch. */
  expiresAt: number;
  id: string;
}

interface SignedClaims extends SessionClaims {
  tag: string;
}

export interface Sessions {
  /** A new session's cookie value and claims. */
  issue(role: SessionRole, user?: string): { value: string; claims: SessionClaims };
  /** The claims of a cookie value this process would have issued and that is still valid, else undefined. */
  verify(value: string | undefined): SessionClaims | undefined;
  csrfToken(sessionId: string): string;
  csrfMatches(sessionId: string, presented: string | undefined): boolean;
  ttlSec: number;
}

const VERSION = 'v1';
const MAC_BYTES = 32;
/** Far above any cookie we issue; a longer value is refused before any work. */
const MAX_COOKIE_CHARS = 1024;

function mac(secret: Buffer, label: string, text: string): Buffer {
  return createHmac('sha256', secret).update(label).update('\0').update(text).digest();
}

function decodeClaims(json: string): SignedClaims | undefined {
  let c: unknown;
  try {
    c = JSON.parse(json);
  } catch {
    return undefined;
  }
  if (typeof c !== 'object' || c === null) return undefined;
  const { role, user, expiresAt, id, tag } = c as Record<string, unknown>;
  if (role !== 'viewer' && role !== 'operator') return undefined;
  if (typeof expiresAt !== 'number' || typeof id !== 'string' || typeof tag !== 'string') return undefined;
  if (user !== undefined && typeof user !== 'string') return undefined;
  return { role, expiresAt, id, tag, ...(user === undefined ? {} : { user }) };
}

export function createSessions(opts: { secret: string | undefined; ttlSec: number; clock: Clock; tokens: RoleTokens }): Sessions {
  const secret = opts.secret === undefined ? randomBytes(32) : Buffer.from(opts.secret, 'utf8');
  const tagOf = (role: SessionRole): string | undefined => {
    const token = opts.tokens[role];
    return token === undefined || token === '' ? undefined : mac(secret, 'token-tag', `${role}\0${token}`).subarray(0, 12).toString('base64url');
  };
  const tags: Record<SessionRole, string | undefined> = { viewer: tagOf('viewer'), operator: tagOf('operator') };

  return {
    ttlSec: opts.ttlSec,
    issue(role, user) {
      const tag = tags[role];
      if (tag === undefined) throw new Error(`no ${role} token is configured: no ${role} session can be issued`);
      const claims: SessionClaims = { role, expiresAt: opts.clock.now() + opts.ttlSec * 1000, id: randomBytes(16).toString('base64url'), ...(user === undefined ? {} : { user }) };
      const payload = Buffer.from(JSON.stringify({ ...claims, tag } satisfies SignedClaims), 'utf8').toString('base64url');
      const signed = `${VERSION}.${payload}`;
      return { value: `${signed}.${mac(secret, 'session', signed).toString('base64url')}`, claims };
    },
    verify(value) {
      if (value === undefined || value.length > MAX_COOKIE_CHARS) return undefined;
      const parts = value.split('.');
      if (parts.length !== 3 || parts[0] !== VERSION) return undefined;
      const [, payload = '', presented = ''] = parts;
      const given = Buffer.from(presented, 'base64url');
      if (given.length !== MAC_BYTES || !timingSafeEqual(given, mac(secret, 'session', `${VERSION}.${payload}`))) return undefined;
      const claims = decodeClaims(Buffer.from(payload, 'base64url').toString('utf8'));
      if (claims === undefined || claims.expiresAt <= opts.clock.now()) return undefined;
      const tag = tags[claims.role];
      if (tag === undefined || !secretsEqual(tag, claims.tag)) return undefined;
      const { tag: _tag, ...rest } = claims;
      return rest;
    },
    csrfToken: (sessionId) => mac(secret, 'csrf', sessionId).toString('base64url'),
    csrfMatches(sessionId, presented) {
      return presented !== undefined && secretsEqual(presented, mac(secret, 'csrf', sessionId).toString('base64url'));
    },
  };
}
