/**
 * The two dashboard cookies. The session cookie is HttpOnly (no script reads it) and
 * SameSite=Strict (no other site's page sends it). The CSRF cookie is readable by the page's
 * scripts on purpose: axios (bull-board's UI) copies a cookie named XSRF-TOKEN into an
 * X-XSRF-Token header on same-origin requests, which is what the guard checks.
 * Written by hand: both values are our own base64url text, so no encoding is needed (and
 * @fastify/cookie's standalone serialize only works once its plugin has loaded).
 */
export const SESSION_COOKIE = 'mwi_session';
export const CSRF_COOKIE = 'XSRF-TOKEN';

function setCookie(name: string, value: string, maxAgeSec: number, secure: boolean, httpOnly: boolean): string {
  return `${name}=${value}; Max-Age=${maxAgeSec}; Path=/;${httpOnly ? ' HttpOnly;' : ''}${secure ? ' Secure;' : ''} SameSite=Strict`;
}

/** Set-Cookie values for a new session. Secure only when the request came over TLS (a loopback dashboard is plain HTTP). */
export function sessionCookies(session: string, csrf: string, maxAgeSec: number, secure: boolean): string[] {
  return [setCookie(SESSION_COOKIE, session, maxAgeSec, secure, true), setCookie(CSRF_COOKIE, csrf, maxAgeSec, secure, false)];
}

export function clearedCookies(secure: boolean): string[] {
  return [setCookie(SESSION_COOKIE, '', 0, secure, true), setCookie(CSRF_COOKIE, '', 0, secure, false)];
}

/** The first cookie of that name in a Cookie header (RFC 6265 5.4: `name=value; name2=value2`). */
export function readCookie(header: string | undefined, name: string): string | undefined {
  if (header === undefined) return undefined;
  for (const pair of header.split(';')) {
    const eq = pair.indexOf('=');
    if (eq !== -1 && pair.slice(0, eq).trim() === name) return pair.slice(eq + 1).trim();
  }
  return undefined;
}
