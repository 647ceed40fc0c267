/**
 * Bearer-token check for producers. Both tokens are hashed first, so timingSafeEqual compares
 * equal-length digests and the time taken reveals neither the token nor its length. Without a
 * configured token nothing matches: every protected route answers 401.
 */
import { createHash, timingSafeEqual } from 'node:crypto';

export type TokenCheck = (authorization: string | undefined) => boolean;

function digest(text: string): Buffer {
  return createHash('sha256').update(text, 'utf8').digest();
}

/** RFC 6750 2.1: `Bearer 1*SP token`, scheme name case-insensitive. The token is taken as is (a configured token may hold any visible characters). */
const BEARER_PREFIX = /^Bearer +/i;

export function bearerTokenCheck(configuredToken: string | undefined): TokenCheck {
  if (configuredToken === undefined || configuredToken === '') return () => false;
  const expected = digest(configuredToken);
  return (authorization) => {
    const prefix = authorization === undefined ? undefined : BEARER_PREFIX.exec(authorization)?.[0];
    if (authorization === undefined || prefix === undefined) return false;
    return timingSafeEqual(digest(authorization.slice(prefix.length)), expected);
  };
}
