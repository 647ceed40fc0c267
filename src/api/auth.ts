/**
 * Bearer tokens to roles. Tokens are hashed first, so timingSafeEqual compares equal-length
 * digests and the time taken reveals neither a token nor its length; every configured token is
 * compared on every request (no early exit), so the time does not tell which role matched either.
 * A role without a configured token matches nothing.
 */
import { createHash, timingSafeEqual } from 'node:crypto';

import { ErrorCodes, MwiError } from '../errors.ts';
import { ROLES, type Role } from './roles.ts';

export type RoleTokens = Partial<Record<Role, string>>;

/** The role a presented token belongs to, or undefined. */
export type TokenRoles = (token: string) => Role | undefined;

function digest(text: string): Buffer {
  return createHash('sha256').update(text, 'utf8').digest();
}

/** Constant-time equality of two secrets of any length. */
export function secretsEqual(a: string, b: string): boolean {
  return timingSafeEqual(digest(a), digest(b));
}

/** RFC 6750 2.1: `Bearer 1*SP token`, scheme name case-insensitive. The token is taken as is (a configured token may hold any visible characters). */
const BEARER_PREFIX = /^Bearer +/i;

export function bearerToken(authorization: string | undefined): string | undefined {
  const prefix = authorization === undefined ? undefined : BEARER_PREFIX.exec(authorization)?.[0];
  return authorization === undefined || prefix === undefined ? undefined : authorization.slice(prefix.length);
}

/** Refuses a configuration where one token would hold two roles. */
export function assertDistinctTokens(tokens: RoleTokens): void {
  const set = ROLES.filter((r) => tokens[r] !== undefined && tokens[r] !== '');
  for (const [i, a] of set.entries()) {
    for (const b of set.slice(i + 1)) {
      if (tokens[a] === tokens[b]) throw new MwiError(ErrorCodes.CONFIG_INVALID, `api.${a}Token and api.${b}Token must differ: a token maps to exactly one role`);
    }
  }
}

export function tokenRoles(tokens: RoleTokens): TokenRoles {
  assertDistinctTokens(tokens);
  const expected = ROLES.flatMap((role) => {
    const token = tokens[role];
    return token === undefined || token === '' ? [] : [{ role, digest: digest(token) }];
  });
  return (token) => {
    const presented = digest(token);
    let found: Role | undefined;
    for (const e of expected) {
      if (timingSafeEqual(presented, e.digest)) found = e.role;
    }
    return found;
  };
}
