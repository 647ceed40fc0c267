// Roles, sessions and CSRF on the HTTP API, with every seam faked (no Redis): every route of the
// route table x every kind of caller answers exactly as its declared role says; dashboard login
// (cookie flags, refusals, rate limit), CSRF on cookie-authenticated writes, the operator routes'
// validation and audit trail, the guarded mount for the dashboard, and no secret in any log
// line, metrics output or response body.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';

import type { FastifyPluginCallback, InjectOptions, LightMyRequestResponse } from 'fastify';

import type { Role, RouteRole } from '../../src/api/roles.ts';
import { apiRouteTable } from '../../src/api/server.ts';
import type { WireErrorBody, WireLogin, WireStatus } from '../../src/api/wire-types.ts';
import { KNOWN_BREAKER, KNOWN_MAILBOX, operatorApi, type OperatorApi, type OperatorApiOptions } from '../support/operator-fakes.ts';

const TOKENS: Record<Role, string> = { producer: 'pr0ducer-T0ken-r0les', viewer: 'v1ewer-T0ken-r0les', operator: '0perator-T0ken-r0les' };
const SESSION_SECRET = 'sess10n-Secret-for-the-r0les-test-0123456789';
const API = { producerToken: TOKENS.producer, viewerToken: TOKENS.viewer, operatorToken: TOKENS.operator, sessionSecret: SESSION_SECRET };

function withApi(opts: OperatorApiOptions = {}): OperatorApi {
  return operatorApi({ ...opts, api: { ...API, loginAttemptsPerMinute: 1000, ...opts.api } });
}

function errorOf(res: LightMyRequestResponse): string {
  return res.json<WireErrorBody>().error.code;
}

function assertError(res: LightMyRequestResponse, status: number, code: string, path?: string): void {
  assert.equal(res.statusCode, status, res.body);
  const { error } = res.json<WireErrorBody>();
  assert.equal(error.code, code, res.body);
  assert.equal(error.path, path, res.body);
}

const bearer = (role: Role) => ({ authorization: `Bearer ${TOKENS[role]}` });

function setCookies(res: LightMyRequestResponse): string[] {
  const h = res.headers['set-cookie'];
  return h === undefined ? [] : Array.isArray(h) ? h : [h];
}

/** `name=value` of the Set-Cookie for `name`, and its attributes (lower-cased names). */
function cookieOf(res: LightMyRequestResponse, name: string): { value: string; attrs: Map<string, string> } {
  const line = setCookies(res).find((c) => c.startsWith(`${name}=`));
  assert.ok(line, `no ${name} cookie in ${JSON.stringify(setCookies(res))}`);
  const [pair = '', ...rest] = line.split(';').map((s) => s.trim());
  const attrs = new Map(rest.map((a) => [a.split('=')[0]?.toLowerCase() ?? '', a.split('=')[1] ?? '']));
  return { value: pair.slice(name.length + 1), attrs };
}

interface Session {
  cookie: string;
  value: string;
  csrf: string;
  login: WireLogin;
}

async function login(api: OperatorApi, role: 'viewer' | 'operator', user?: string): Promise<Session> {
  const res = await api.app.inject({ method: 'POST', url: '/login', payload: { token: TOKENS[role], ...(user === undefined ? {} : { user }) } });
  assert.equal(res.statusCode, 200, res.body);
  const { value } = cookieOf(res, 'mwi_session');
  const body = res.json<WireLogin>();
  return { cookie: `mwi_session=${value}`, value, csrf: body.csrfToken, login: body };
}

// What each route must require. A route added to the table without a line here fails the first test.
const EXPECTED_ROLE: Record<string, RouteRole> = {
  'GET /healthz': 'public',
  'GET /readyz': 'public',
  'GET /login': 'public',
  'POST /login': 'public',
  'POST /logout': 'public',
  'POST /v1/mwi': 'producer',
  'GET /v1/mailboxes/:id': 'viewer',
  'GET /metrics': 'viewer',
  'GET /v1/csrf': 'viewer',
  'GET /v1/status': 'viewer',
  'GET /v1/audit': 'viewer',
  'POST /v1/pause': 'operator',
  'POST /v1/resume': 'operator',
  'POST /v1/drain': 'operator',
  'POST /v1/breakers/:id/isolate': 'operator',
  'POST /v1/breakers/:id/reset': 'operator',
  'POST /v1/resync': 'operator',
};

/** A valid request per route and the status it gets when allowed. */
const SAMPLES: Record<string, { url: string; payload?: object; ok: number }> = {
  'GET /healthz': { url: '/healthz', ok: 200 },
  'GET /readyz': { url: '/readyz', ok: 200 },
  'GET /login': { url: '/login', ok: 200 },
  'POST /login': { url: '/login', payload: { token: TOKENS.viewer }, ok: 200 },
  'POST /logout': { url: '/logout', ok: 204 },
  'POST /v1/mwi': { url: '/v1/mwi', payload: { mailbox: 'sip:9@roles.test', counts: { new: 1, old: 0 }, version: 1 }, ok: 202 },
  'GET /v1/mailboxes/:id': { url: `/v1/mailboxes/${encodeURIComponent(KNOWN_MAILBOX)}`, ok: 200 },
  'GET /metrics': { url: '/metrics', ok: 200 },
  'GET /v1/csrf': { url: '/v1/csrf', ok: 200 },
  'GET /v1/status': { url: '/v1/status', ok: 200 },
  'GET /v1/audit': { url: '/v1/audit?limit=5', ok: 200 },
  'POST /v1/pause': { url: '/v1/pause', payload: { reason: 'maintenance', for: '30m' }, ok: 200 },
  'POST /v1/resume': { url: '/v1/resume', payload: { reason: 'done' }, ok: 200 },
  'POST /v1/drain': { url: '/v1/drain', payload: { on: true, reason: 'upgrade' }, ok: 200 },
  'POST /v1/breakers/:id/isolate': { url: `/v1/breakers/${encodeURIComponent(KNOWN_BREAKER)}/isolate`, payload: { reason: 'flapping' }, ok: 200 },
  'POST /v1/breakers/:id/reset': { url: `/v1/breakers/${encodeURIComponent(KNOWN_BREAKER)}/reset`, payload: { reason: 'fixed' }, ok: 200 },
  'POST /v1/resync': { url: '/v1/resync', payload: { mailbox: KNOWN_MAILBOX }, ok: 202 },
};

/** Who may call a route needing each role: written out, not computed by the code under test. */
const ALLOWED: Record<RouteRole, readonly Role[]> = {
  public: ['producer', 'viewer', 'operator'],
  producer: ['producer'],
  viewer: ['viewer', 'operator'],
  operator: ['operator'],
};

interface Caller {
  name: string;
  role?: Role;
  session?: 'viewer' | 'operator';
  csrf?: boolean;
  headers?: Record<string, string>;
}

const CALLERS: Caller[] = [
  { name: 'no credentials' },
  { name: 'a wrong bearer token', headers: { authorization: `Bearer ${TOKENS.operator}x` } },
  { name: 'a token without "Bearer"', headers: { authorization: TOKENS.operator } },
  { name: 'producer bearer', role: 'producer', headers: bearer('producer') },
  { name: 'viewer bearer', role: 'viewer', headers: bearer('viewer') },
  { name: 'operator bearer', role: 'operator', headers: bearer('operator') },
  { name: 'viewer session without CSRF token', role: 'viewer', session: 'viewer', csrf: false },
  { name: 'viewer session with CSRF token', role: 'viewer', session: 'viewer', csrf: true },
  { name: 'operator session without CSRF token', role: 'operator', session: 'operator', csrf: false },
  { name: 'operator session with CSRF token', role: 'operator', session: 'operator', csrf: true },
  { name: 'an invalid session cookie', session: 'operator', csrf: true, headers: { cookie: 'mwi_session=v1.e30.AAAA' } },
];

function expected(needed: RouteRole, method: string, caller: Caller, ok: number): { status: number; code?: string } {
  if (needed === 'public') return { status: ok };
  if (caller.role === undefined) return { status: 401, code: 'MWI_HTTP_UNAUTHORIZED' };
  if (caller.session !== undefined && method !== 'GET' && caller.csrf !== true) return { status: 403, code: 'MWI_HTTP_CSRF' };
  return ALLOWED[needed].includes(caller.role) ? { status: ok } : { status: 403, code: 'MWI_HTTP_FORBIDDEN' };
}

const tableRoutes = apiRouteTable(withApi().deps);

describe('roles x routes', () => {
  it('every route in the table declares the role this test expects, and has a sample request', () => {
    const keys = tableRoutes.map((r) => `${r.method} ${r.url}`);
    for (const r of tableRoutes) {
      const key = `${r.method} ${r.url}`;
      assert.ok(key in EXPECTED_ROLE, `${key} has no role rule in this test: add it to EXPECTED_ROLE and SAMPLES`);
      assert.equal(r.role, EXPECTED_ROLE[key], `${key} declares ${r.role}`);
      assert.ok(key in SAMPLES, `${key} has no sample request`);
    }
    assert.deepEqual(Object.keys(EXPECTED_ROLE).filter((k) => !keys.includes(k)), [], 'rules for routes that are gone');
  });

  it('fastify serves exactly the table (HEAD twins of GET aside): no route bypasses it', async () => {
    const api = withApi();
    const served: string[] = [];
    api.app.addHook('onRoute', (r) => {
      for (const m of [r.method].flat()) if (m !== 'HEAD') served.push(`${m} ${r.url}`);
    });
    await api.app.ready();
    assert.deepEqual(served.sort(), tableRoutes.map((r) => `${r.method} ${r.url}`).sort());
    // HEAD twins are guarded like their GET (HEAD answers carry no body, so statuses only).
    assert.equal((await api.app.inject({ method: 'HEAD', url: '/metrics' })).statusCode, 401);
    assert.equal((await api.app.inject({ method: 'HEAD', url: '/metrics', headers: bearer('producer') })).statusCode, 403);
    assert.equal((await api.app.inject({ method: 'HEAD', url: '/metrics', headers: bearer('viewer') })).statusCode, 200);
  });

  for (const route of tableRoutes) {
    const key = `${route.method} ${route.url}`;
    it(`${key} (${route.role}): the exact status for each of ${CALLERS.length} callers`, async () => {
      const api = withApi();
      const sample = SAMPLES[key];
      const rule = EXPECTED_ROLE[key];
      assert.ok(sample && rule, `no sample or role rule for ${key}`);
      const sessions = { viewer: await login(api, 'viewer', 'vera'), operator: await login(api, 'operator', 'olga') };
      const got: string[] = [];
      const want: string[] = [];
      for (const caller of CALLERS) {
        const headers: Record<string, string> = {};
        if (caller.session !== undefined) {
          headers.cookie = sessions[caller.session].cookie;
          if (caller.csrf === true) headers['x-csrf-token'] = sessions[caller.session].csrf;
        }
        Object.assign(headers, caller.headers);
        if (sample.payload !== undefined) headers['content-type'] = 'application/json';
        const req: InjectOptions = { method: route.method, url: sample.url, headers, ...(sample.payload === undefined ? {} : { payload: JSON.stringify(sample.payload) }) };
        const res = await api.app.inject(req);
        const exp = expected(rule, route.method, caller, sample.ok);
        got.push(`${caller.name}: ${res.statusCode}${res.statusCode >= 400 ? ` ${errorOf(res)}` : ''}`);
        want.push(`${caller.name}: ${exp.status}${exp.code === undefined ? '' : ` ${exp.code}`}`);
      }
      assert.deepEqual(got, want);
    });
  }
});

describe('dashboard login', () => {
  it('sets an HttpOnly, SameSite=Strict, Path=/ session cookie for the ttl, and a script-readable CSRF cookie', async () => {
    const api = withApi();
    const res = await api.app.inject({ method: 'POST', url: '/login', payload: { token: TOKENS.operator, user: 'olga' } });
    assert.equal(res.statusCode, 200, res.body);
    const body = res.json<WireLogin>();
    assert.deepEqual({ ...body, csrfToken: '' }, { role: 'operator', actor: 'operator:olga', expiresAt: api.clock.now() + 28_800_000, csrfToken: '' });
    const session = cookieOf(res, 'mwi_session');
    assert.deepEqual(Object.fromEntries(session.attrs), { 'max-age': '28800', path: '/', httponly: '', samesite: 'Strict' });
    const csrf = cookieOf(res, 'XSRF-TOKEN');
    assert.deepEqual(Object.fromEntries(csrf.attrs), { 'max-age': '28800', path: '/', samesite: 'Strict' });
    assert.equal(csrf.value, body.csrfToken);
    assert.ok(!session.value.includes(TOKENS.operator) && !Buffer.from(session.value.split('.')[1] ?? '', 'base64url').toString().includes(TOKENS.operator), 'the cookie does not carry the token');

    const status = await api.app.inject({ method: 'GET', url: '/v1/status', headers: { cookie: `mwi_session=${session.value}` } });
    assert.deepEqual(status.json<WireStatus>().principal, { role: 'operator', actor: 'operator:olga' });
    const token = await api.app.inject({ method: 'GET', url: '/v1/csrf', headers: { cookie: `mwi_session=${session.value}` } });
    assert.deepEqual(token.json(), { csrfToken: body.csrfToken });
    assert.deepEqual((await api.app.inject({ method: 'GET', url: '/v1/csrf', headers: bearer('operator') })).json(), { csrfToken: null });
  });

  it('the login form posts token and user; answered 303 to the dashboard with the cookies', async () => {
    const api = withApi();
    const page = await api.app.inject({ method: 'GET', url: '/login' });
    assert.equal(page.statusCode, 200);
    assert.match(String(page.headers['content-type']), /^text\/html/);
    assert.match(page.body, /<form method="post" action="\/login">/);
    assert.match(String(page.headers['content-security-policy']), /frame-ancestors 'none'/);

    const res = await api.app.inject({ method: 'POST', url: '/login', headers: { 'content-type': 'application/x-www-form-urlencoded' }, payload: new URLSearchParams({ token: TOKENS.viewer, user: '' }).toString() });
    assert.equal(res.statusCode, 303, res.body);
    assert.equal(res.headers.location, '/v1/status');
    const { value } = cookieOf(res, 'mwi_session');
    const status = await api.app.inject({ method: 'GET', url: '/v1/status', headers: { cookie: `mwi_session=${value}` } });
    assert.deepEqual(status.json<WireStatus>().principal, { role: 'viewer', actor: 'viewer' });
    assertError(await api.app.inject({ method: 'POST', url: '/v1/mwi', headers: { 'content-type': 'application/x-www-form-urlencoded', ...bearer('producer') }, payload: 'a=1' }), 415, 'MWI_HTTP_UNSUPPORTED_MEDIA_TYPE');
  });

  it('a wrong token answers 401, a producer token 403, a missing one 400; none sets a cookie', async () => {
    const api = withApi();
    const cases: Array<[unknown, number, string, string?]> = [
      [{ token: `${TOKENS.viewer}x` }, 401, 'MWI_HTTP_UNAUTHORIZED'],
      [{ token: TOKENS.producer }, 403, 'MWI_HTTP_FORBIDDEN'],
      [{}, 400, 'MWI_HTTP_VALIDATION', 'token'],
      [{ token: 42 }, 400, 'MWI_HTTP_VALIDATION', 'token'],
      [{ token: TOKENS.viewer, user: 'bad name\n' }, 400, 'MWI_HTTP_VALIDATION', 'user'],
      [[TOKENS.viewer], 400, 'MWI_HTTP_VALIDATION'],
    ];
    for (const [payload, status, code, path] of cases) {
      const res = await api.app.inject({ method: 'POST', url: '/login', payload: JSON.stringify(payload), headers: { 'content-type': 'application/json' } });
      assertError(res, status, code, path);
      assert.deepEqual(setCookies(res), []);
    }
  });

  it('a session ends at its expiry, when tampered with, and when its role token changes', async () => {
    const api = withApi({ api: { sessionTtlSec: 60 } });
    const s = await login(api, 'viewer');
    const status = (cookie: string, a = api) => a.app.inject({ method: 'GET', url: '/v1/status', headers: { cookie } });
    assert.equal((await status(s.cookie)).statusCode, 200);
    const [v, payload = '', mac] = s.value.split('.');
    const asOperator = Buffer.from(JSON.stringify({ ...JSON.parse(Buffer.from(payload, 'base64url').toString()), role: 'operator' })).toString('base64url');
    assertError(await status(`mwi_session=${v}.${asOperator}.${mac}`), 401, 'MWI_HTTP_UNAUTHORIZED');
    assertError(await status(s.cookie, withApi({ api: { viewerToken: 'a-rotated-viewer-token' } })), 401, 'MWI_HTTP_UNAUTHORIZED');
    assert.equal((await status(s.cookie, withApi())).statusCode, 200, 'another process with the same secret and tokens accepts it');
    api.clock.advance(60_000);
    assertError(await status(s.cookie), 401, 'MWI_HTTP_UNAUTHORIZED');
  });

  it('logout clears both cookies (204, or 303 to /login from the form)', async () => {
    const api = withApi();
    for (const [headers, payload, status] of [[{}, undefined, 204], [{ 'content-type': 'application/x-www-form-urlencoded' }, '', 303]] as const) {
      const res = await api.app.inject({ method: 'POST', url: '/logout', headers, ...(payload === undefined ? {} : { payload }) });
      assert.equal(res.statusCode, status, res.body);
      for (const name of ['mwi_session', 'XSRF-TOKEN']) {
        const c = cookieOf(res, name);
        assert.equal(c.value, '');
        assert.equal(c.attrs.get('max-age'), '0');
      }
    }
  });

  it('the (N+1)th attempt within a minute from one address answers 429 MWI_HTTP_RATE_LIMITED with Retry-After; other addresses are not held', async () => {
    const api = withApi({ api: { loginAttemptsPerMinute: 3 } });
    const attempt = (token: string, remoteAddress = '192.0.2.7') => api.app.inject({ method: 'POST', url: '/login', payload: { token }, remoteAddress });
    assert.equal((await attempt('wrong-1')).statusCode, 401);
    assert.equal((await attempt('wrong-2')).statusCode, 401);
    assert.equal((await attempt(TOKENS.viewer)).statusCode, 200);
    for (const token of ['wrong-4', TOKENS.viewer]) {
      const res = await attempt(token);
      assertError(res, 429, 'MWI_HTTP_RATE_LIMITED');
      const retryAfter = Number(res.headers['retry-after']);
      assert.ok(Number.isInteger(retryAfter) && retryAfter >= 1 && retryAfter <= 60, String(res.headers['retry-after']));
      assert.deepEqual(setCookies(res), []);
    }
    assert.equal((await attempt(TOKENS.viewer, '192.0.2.8')).statusCode, 200);
    assert.equal((await api.app.inject({ method: 'GET', url: '/v1/status', headers: bearer('viewer'), remoteAddress: '192.0.2.7' })).statusCode, 200, 'only login is limited');
  });
});

describe('CSRF on cookie-authenticated writes', () => {
  it('without, with a wrong or another session\'s token: 403 MWI_HTTP_CSRF and nothing done; with the right one (either header name): allowed', async () => {
    const api = withApi();
    const s = await login(api, 'operator', 'olga');
    const other = await login(api, 'operator', 'otto');
    const pause = (extra: Record<string, string>) => api.app.inject({ method: 'POST', url: '/v1/pause', headers: { cookie: s.cookie, 'content-type': 'application/json', ...extra }, payload: { reason: 'r' } });
    assertError(await pause({}), 403, 'MWI_HTTP_CSRF');
    assertError(await pause({ 'x-csrf-token': `${s.csrf}x` }), 403, 'MWI_HTTP_CSRF');
    assertError(await pause({ 'x-csrf-token': other.csrf }), 403, 'MWI_HTTP_CSRF');
    assertError(await pause({ 'x-csrf-token': '' }), 403, 'MWI_HTTP_CSRF');
    assert.deepEqual(api.control.of('pause'), []);
    assert.equal((await pause({ 'x-csrf-token': s.csrf })).statusCode, 200);
    assert.equal((await pause({ 'x-xsrf-token': s.csrf })).statusCode, 200, 'the header axios sends');
    assert.equal(api.control.of('pause').length, 2);
  });

  it('bearer clients need no CSRF token, and a wrong bearer token is not rescued by a valid cookie', async () => {
    const api = withApi();
    const s = await login(api, 'operator');
    const res = await api.app.inject({ method: 'POST', url: '/v1/drain', headers: bearer('operator'), payload: { on: true, reason: 'r' } });
    assert.equal(res.statusCode, 200, res.body);
    assertError(await api.app.inject({ method: 'POST', url: '/v1/drain', headers: { authorization: 'Bearer nope', cookie: s.cookie, 'x-csrf-token': s.csrf }, payload: { on: true, reason: 'r' } }), 401, 'MWI_HTTP_UNAUTHORIZED');
  });
});

describe('operator routes', () => {
  it('pass the actor and channel: a bearer token acts as its role via api, a named session as role:user via dashboard', async () => {
    const api = withApi();
    await api.app.inject({ method: 'POST', url: '/v1/pause', headers: bearer('operator'), payload: { reason: ' maintenance ', for: '30m', target: 'sip:ps.test' } });
    const s = await login(api, 'operator', 'olga');
    await api.app.inject({ method: 'POST', url: '/v1/resume', headers: { cookie: s.cookie, 'x-csrf-token': s.csrf }, payload: { reason: 'done' } });
    await api.app.inject({ method: 'POST', url: '/v1/drain', headers: bearer('operator'), payload: { on: false, reason: 'back' } });
    assert.deepEqual(api.control.of('pause'), [[{ target: 'sip:ps.test' }, 'operator', 'maintenance', { via: 'api', forMs: 1_800_000 }]]);
    assert.deepEqual(api.control.of('resume'), [['global', 'operator:olga', 'done', { via: 'dashboard' }]]);
    assert.deepEqual(api.control.of('setDrain'), [[false, 'operator', 'back', { via: 'api' }]]);
  });

  it('breaker isolate/reset and resync act through their seam, then audit; unknown ids and mailboxes answer 404 unaudited', async () => {
    const api = withApi();
    const post = (url: string, payload: object) => api.app.inject({ method: 'POST', url, headers: bearer('operator'), payload });
    const isolate = await post(`/v1/breakers/${encodeURIComponent(KNOWN_BREAKER)}/isolate`, { reason: 'flapping' });
    assert.deepEqual(isolate.json(), { breaker: KNOWN_BREAKER, action: 'isolate' });
    assert.deepEqual(api.breakers.calls, [{ method: 'isolate', args: [KNOWN_BREAKER, 'operator', 'flapping'] }]);
    assertError(await post('/v1/breakers/udp%3A10.9.9.9%3A5060/reset', { reason: 'x' }), 404, 'MWI_BREAKER_NOT_FOUND');
    const resync = await post('/v1/resync', { mailbox: KNOWN_MAILBOX, reason: 'phone replaced' });
    assert.equal(resync.statusCode, 202);
    assert.deepEqual(resync.json(), { mailbox: KNOWN_MAILBOX, result: 'queued' });
    assertError(await post('/v1/resync', { mailbox: 'sip:404@roles.test' }), 404, 'MWI_MAILBOX_NOT_FOUND', 'mailbox');
    assert.deepEqual(api.control.of('audit'), [
      [{ actor: 'operator', action: 'breaker-isolate', subject: KNOWN_BREAKER, reason: 'flapping', via: 'api' }],
      [{ actor: 'operator', action: 'resync', subject: KNOWN_MAILBOX, reason: 'phone replaced', via: 'api' }],
    ]);
    const audit = await api.app.inject({ method: 'GET', url: '/v1/audit?limit=1', headers: bearer('viewer') });
    assert.deepEqual(audit.json<{ entries: Array<{ action: string }> }>().entries.map((e) => e.action), ['resync']);
  });

  it('a bad body or query answers 400 MWI_HTTP_VALIDATION naming the field, and reaches no seam', async () => {
    const api = withApi();
    const cases: Array<[string, string, unknown, string, string]> = [
      ['POST', '/v1/pause', {}, 'MWI_HTTP_VALIDATION', 'reason'],
      ['POST', '/v1/pause', { reason: '   ' }, 'MWI_HTTP_VALIDATION', 'reason'],
      ['POST', '/v1/pause', { reason: 'a\nb' }, 'MWI_HTTP_VALIDATION', 'reason'],
      ['POST', '/v1/pause', { reason: 'x'.repeat(501) }, 'MWI_HTTP_VALIDATION', 'reason'],
      ['POST', '/v1/pause', { reason: 'r', for: '30x' }, 'MWI_HTTP_VALIDATION', 'for'],
      ['POST', '/v1/pause', { reason: 'r', for: '31d' }, 'MWI_HTTP_VALIDATION', 'for'],
      ['POST', '/v1/pause', { reason: 'r', target: 'sip:a b' }, 'MWI_HTTP_VALIDATION', 'target'],
      ['POST', '/v1/pause', { reason: 'r', extra: 1 }, 'MWI_HTTP_VALIDATION', 'extra'],
      ['POST', '/v1/pause', [], 'MWI_HTTP_VALIDATION', ''],
      ['POST', '/v1/resume', { reason: 'r', for: '1m' }, 'MWI_HTTP_VALIDATION', 'for'],
      ['POST', '/v1/drain', { on: 'yes', reason: 'r' }, 'MWI_HTTP_VALIDATION', 'on'],
      ['POST', '/v1/drain', { on: true }, 'MWI_HTTP_VALIDATION', 'reason'],
      ['POST', '/v1/breakers/a%20b/isolate', { reason: 'r' }, 'MWI_HTTP_VALIDATION', 'id'],
      ['POST', `/v1/breakers/${encodeURIComponent(KNOWN_BREAKER)}/reset`, {}, 'MWI_HTTP_VALIDATION', 'reason'],
      ['POST', '/v1/resync', { mailbox: 'http://pbx.test/1' }, 'MWI_URI_INVALID', 'mailbox'],
      ['POST', '/v1/resync', { mailbox: 7 }, 'MWI_HTTP_VALIDATION', 'mailbox'],
      ['GET', '/v1/audit?limit=0', undefined, 'MWI_HTTP_VALIDATION', 'limit'],
      ['GET', '/v1/audit?limit=1001', undefined, 'MWI_HTTP_VALIDATION', 'limit'],
      ['GET', '/v1/audit?limit=1&limit=2', undefined, 'MWI_HTTP_VALIDATION', 'limit'],
    ];
    for (const [method, url, payload, code, path] of cases) {
      const res = await api.app.inject({ method: method as 'GET' | 'POST', url, headers: bearer('operator'), ...(payload === undefined ? {} : { payload: JSON.stringify(payload) }), ...(payload === undefined ? {} : { headers: { ...bearer('operator'), 'content-type': 'application/json' } }) });
      assertError(res, 400, code, path === '' ? undefined : path);
    }
    assert.deepEqual(api.control.calls, []);
    assert.deepEqual(api.breakers.calls, []);
    assert.deepEqual(api.resynced, []);
  });

  it('without the control plane, breaker control or resync seam, their routes answer 503 MWI_HTTP_NOT_CONFIGURED without Retry-After', async () => {
    const api = withApi({ without: ['control', 'breakers', 'resync', 'readiness'] });
    for (const key of ['GET /readyz', 'GET /v1/status', 'GET /v1/audit', 'POST /v1/pause', 'POST /v1/resume', 'POST /v1/drain', 'POST /v1/breakers/:id/isolate', 'POST /v1/breakers/:id/reset', 'POST /v1/resync']) {
      const sample = SAMPLES[key];
      assert.ok(sample);
      const res = await api.app.inject({ method: key.startsWith('GET') ? 'GET' : 'POST', url: sample.url, headers: bearer('operator'), ...(sample.payload === undefined ? {} : { payload: sample.payload }) });
      assertError(res, 503, 'MWI_HTTP_NOT_CONFIGURED');
      assert.equal(res.headers['retry-after'], undefined, key);
    }
    assert.equal((await api.app.inject({ method: 'GET', url: '/metrics', headers: bearer('viewer') })).statusCode, 200, 'the other routes still serve');
  });

  it('GET /v1/status merges the control snapshot with the StatusSource', async () => {
    const api = withApi({ status: () => Promise.resolve({ queue: { waiting: 12 }, breakers: [{ id: KNOWN_BREAKER, state: 'open' }] }) });
    await api.app.inject({ method: 'POST', url: '/v1/drain', headers: bearer('operator'), payload: { on: true, reason: 'upgrade' } });
    const res = await api.app.inject({ method: 'GET', url: '/v1/status', headers: bearer('viewer') });
    assert.deepEqual(res.json<WireStatus>(), {
      principal: { role: 'viewer', actor: 'viewer' },
      control: { pauses: [], drain: { reason: 'upgrade', actor: 'operator', since: api.clock.now() } },
      runtime: { queue: { waiting: 12 }, breakers: [{ id: KNOWN_BREAKER, state: 'open' }] },
    });
    const bare = withApi({ without: ['status'] });
    assert.equal((await bare.app.inject({ method: 'GET', url: '/v1/status', headers: bearer('viewer') })).json<WireStatus>().runtime, null);
  });
});

describe('guarded mounts (the dashboard hook)', () => {
  const dashboard: FastifyPluginCallback = (app, _opts, done) => {
    app.get('/', () => ({ page: 'queues' }));
    app.put('/api/jobs/:id/retry', () => ({ retried: true }));
    done();
  };

  it('reads need a viewer, writes an operator plus the CSRF token under a session', async () => {
    const api = withApi({ mounts: [{ prefix: '/dashboard/queues', plugin: dashboard }] });
    const viewer = await login(api, 'viewer');
    const operator = await login(api, 'operator');
    const get = (headers: Record<string, string>) => api.app.inject({ method: 'GET', url: '/dashboard/queues/', headers });
    const put = (headers: Record<string, string>) => api.app.inject({ method: 'PUT', url: '/dashboard/queues/api/jobs/7/retry', headers });
    assertError(await get({}), 401, 'MWI_HTTP_UNAUTHORIZED');
    assertError(await get(bearer('producer')), 403, 'MWI_HTTP_FORBIDDEN');
    assert.deepEqual((await get({ cookie: viewer.cookie })).json(), { page: 'queues' });
    assert.equal((await get({ cookie: operator.cookie })).statusCode, 200);
    assertError(await put({ cookie: viewer.cookie, 'x-xsrf-token': viewer.csrf }), 403, 'MWI_HTTP_FORBIDDEN');
    assertError(await put({ cookie: operator.cookie }), 403, 'MWI_HTTP_CSRF');
    assert.deepEqual((await put({ cookie: operator.cookie, 'x-xsrf-token': operator.csrf })).json(), { retried: true });
    assert.equal((await put(bearer('operator'))).statusCode, 200);
    assertError(await put({}), 401, 'MWI_HTTP_UNAUTHORIZED');
  });
});

describe('secrets', () => {
  it('no token, session secret, session cookie or CSRF token reaches a log line; none but the CSRF token reaches a body or the metrics', async () => {
    const api = withApi({ api: { loginAttemptsPerMinute: 3 } });
    api.control.failWith = new Error('control plane exploded');
    const bodies: string[] = [];
    const send = async (req: InjectOptions): Promise<LightMyRequestResponse> => {
      const res = await api.app.inject(req);
      bodies.push(res.body, JSON.stringify(res.headers['www-authenticate'] ?? ''), JSON.stringify(res.headers.location ?? ''));
      return res;
    };
    const viewer = await login(api, 'viewer', 'vera');
    const operator = await login(api, 'operator', 'olga');
    const wrong = 'wr0ng-T0ken-in-the-secrets-test';
    await send({ method: 'POST', url: '/login', payload: { token: wrong } });
    await send({ method: 'POST', url: '/login', payload: { token: TOKENS.producer } });
    await send({ method: 'POST', url: '/login', payload: { token: TOKENS.operator } });
    await send({ method: 'POST', url: '/v1/mwi', headers: bearer('producer'), payload: { mailbox: 'sip:5@roles.test', counts: { new: 1, old: 0 }, version: 1, token: TOKENS.operator } });
    await send({ method: 'POST', url: '/v1/mwi', headers: { authorization: `Bearer ${wrong}` }, payload: {} });
    await send({ method: 'GET', url: `/v1/status?token=${TOKENS.viewer}`, headers: { cookie: viewer.cookie } });
    await send({ method: 'POST', url: '/v1/pause', headers: { cookie: operator.cookie }, payload: { reason: 'r' } });
    await send({ method: 'POST', url: '/v1/pause', headers: { cookie: operator.cookie, 'x-csrf-token': viewer.csrf }, payload: { reason: 'r' } });
    const failed = await send({ method: 'POST', url: '/v1/pause', headers: { cookie: operator.cookie, 'x-csrf-token': operator.csrf }, payload: { reason: 'r' } });
    assertError(failed, 500, 'MWI_HTTP_INTERNAL');
    await send({ method: 'POST', url: '/v1/drain', headers: bearer('operator'), payload: { on: true, reason: 'r' } });
    await send({ method: 'POST', url: '/v1/pause', headers: bearer('viewer'), payload: { reason: 'r' } });
    await send({ method: 'GET', url: `/nothing/${TOKENS.operator}`, headers: bearer('operator') });
    await send({ method: 'POST', url: '/login', headers: { cookie: operator.cookie }, payload: { token: TOKENS.operator } });
    const metrics = await send({ method: 'GET', url: '/metrics', headers: bearer('viewer') });
    assert.equal(metrics.statusCode, 200);
    assert.ok(bodies.some((b) => b.includes('MWI_HTTP_RATE_LIMITED')), 'the flood was limited');

    const logText = api.logs.text();
    assert.ok(api.logs.records().some((r) => r.msg === 'api request failed' && r.code === 'MWI_HTTP_INTERNAL'), 'the failure was logged');
    const secrets = { ...TOKENS, wrong, SESSION_SECRET, viewerCookie: viewer.value, operatorCookie: operator.value };
    for (const [name, secret] of Object.entries(secrets)) {
      assert.ok(!logText.includes(secret), `the log holds ${name}`);
      assert.ok(!bodies.some((b) => b.includes(secret)), `a body holds ${name}`);
    }
    for (const [name, token] of Object.entries({ viewerCsrf: viewer.csrf, operatorCsrf: operator.csrf, bearer: 'Bearer ' })) assert.ok(!logText.includes(token), `the log holds ${name}`);
  });
});
