// The API's credential helpers: constant-time secret comparison (its results, not its timing),
// tokens to roles, the Bearer header, session cookies (signature, expiry, token rotation) and
// the session-bound CSRF token; and the log redaction of those credentials.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';

import { bearerToken, secretsEqual, tokenRoles } from '../../src/api/auth.ts';
import { readCookie } from '../../src/api/cookies.ts';
import { grants } from '../../src/api/roles.ts';
import { createSessions } from '../../src/api/session.ts';
import { FakeClock } from '../../src/clock.ts';
import { ErrorCodes, isMwiError } from '../../src/errors.ts';
import { REDACTED } from '../../src/log.ts';
import { captureLog } from '../support/ingest-fakes.ts';

const TOKENS = { producer: 'prod-token-123', viewer: 'view-token-456', operator: 'oper-token-789' };
const SECRET = 'a-session-secret-of-at-least-32-chars!';

describe('secretsEqual', () => {
  it('is true only for the identical string, whatever the lengths', () => {
    assert.equal(secretsEqual('s3cret', 's3cret'), true);
    assert.equal(secretsEqual('', ''), true);
    assert.equal(secretsEqual('grüße-🔑', 'grüße-🔑'), true);
    for (const other of ['s3creT', 's3cre', 's3cret ', ' s3cret', '', 's3cret\0', 'S3CRET', 's3cret'.repeat(100)]) {
      assert.equal(secretsEqual('s3cret', other), false, JSON.stringify(other));
    }
  });
});

describe('tokenRoles', () => {
  it('maps each configured token to its one role and anything else to none', () => {
    const roleOf = tokenRoles(TOKENS);
    assert.equal(roleOf(TOKENS.producer), 'producer');
    assert.equal(roleOf(TOKENS.viewer), 'viewer');
    assert.equal(roleOf(TOKENS.operator), 'operator');
    for (const t of ['', 'undefined', `${TOKENS.operator} `, TOKENS.operator.toUpperCase(), TOKENS.operator.slice(0, -1), `${TOKENS.viewer}${TOKENS.operator}`]) assert.equal(roleOf(t), undefined, t);
  });

  it('a role without a token matches nothing, not even an empty or "undefined" token', () => {
    const roleOf = tokenRoles({ producer: TOKENS.producer });
    for (const t of ['', 'undefined', 'null', TOKENS.viewer]) assert.equal(roleOf(t), undefined);
    assert.equal(tokenRoles({})('x'), undefined);
  });

  it('refuses one token for two roles with MWI_CONFIG_INVALID naming the settings, never the token', () => {
    assert.throws(
      () => tokenRoles({ producer: 'same-token', viewer: 'x', operator: 'same-token' }),
      (err: unknown) => isMwiError(err, ErrorCodes.CONFIG_INVALID) && err.message.includes('api.producerToken') && err.message.includes('api.operatorToken') && !err.message.includes('same-token'),
    );
  });
});

describe('bearerToken and grants', () => {
  it('takes the token after "Bearer " (scheme case-insensitive), and nothing from other schemes', () => {
    assert.equal(bearerToken('Bearer abc'), 'abc');
    assert.equal(bearerToken('bearer   abc def'), 'abc def');
    assert.equal(bearerToken('Bearer '), '');
    for (const h of [undefined, 'Basic abc', 'abc', 'Bearer', 'Bearerabc']) assert.equal(bearerToken(h), undefined, h);
  });

  it('operators may do what viewers may; producers only their own; public is anyone', () => {
    const table = (['producer', 'viewer', 'operator'] as const).map((held) => (['public', 'producer', 'viewer', 'operator'] as const).map((needed) => grants(held, needed)));
    assert.deepEqual(table, [
      [true, true, false, false],
      [true, false, true, false],
      [true, false, true, true],
    ]);
  });
});

describe('sessions', () => {
  const make = (opts: { secret?: string; tokens?: typeof TOKENS; clock?: FakeClock } = {}) => {
    const clock = opts.clock ?? new FakeClock();
    return { clock, sessions: createSessions({ secret: opts.secret ?? SECRET, ttlSec: 600, clock, tokens: opts.tokens ?? TOKENS }) };
  };

  it('a cookie it issued verifies to the same claims until it expires', () => {
    const { clock, sessions } = make();
    const { value, claims } = sessions.issue('operator', 'olga');
    assert.deepEqual(claims, { role: 'operator', user: 'olga', expiresAt: clock.now() + 600_000, id: claims.id });
    assert.deepEqual(sessions.verify(value), claims);
    clock.advance(599_999);
    assert.deepEqual(sessions.verify(value), claims);
    clock.advance(1);
    assert.equal(sessions.verify(value), undefined);
  });

  it('refuses a changed payload, a changed or truncated signature, another secret and garbage', () => {
    const { sessions } = make();
    const { value } = sessions.issue('viewer');
    const [v, payload = '', mac = ''] = value.split('.');
    const forged = Buffer.from(JSON.stringify({ ...JSON.parse(Buffer.from(payload, 'base64url').toString('utf8')), role: 'operator' })).toString('base64url');
    const flipped = `${mac.slice(0, -2)}${mac.endsWith('AA') ? 'BA' : 'AA'}`;
    for (const bad of [`${v}.${forged}.${mac}`, `${v}.${payload}.${flipped}`, `${v}.${payload}.${mac.slice(0, -1)}`, `${v}.${payload}`, `v2.${payload}.${mac}`, '', '..', 'x'.repeat(5000), undefined]) {
      assert.equal(sessions.verify(bad), undefined, String(bad).slice(0, 40));
    }
    assert.equal(make({ secret: `${SECRET}-other` }).sessions.verify(value), undefined);
    assert.ok(make().sessions.verify(value), 'the same secret in another process verifies it');
  });

  it('ends the sessions of a role whose token changed; the other role is untouched', () => {
    const clock = new FakeClock();
    const { sessions } = make({ clock });
    const viewer = sessions.issue('viewer').value;
    const operator = sessions.issue('operator').value;
    const rotated = make({ clock, tokens: { ...TOKENS, operator: 'a-new-operator-token' } }).sessions;
    assert.equal(rotated.verify(operator), undefined);
    assert.ok(rotated.verify(viewer));
  });

  it('a random secret per instance when none is configured: sessions do not survive a restart', () => {
    const clock = new FakeClock();
    const a = createSessions({ secret: undefined, ttlSec: 600, clock, tokens: TOKENS });
    const b = createSessions({ secret: undefined, ttlSec: 600, clock, tokens: TOKENS });
    const { value } = a.issue('viewer');
    assert.ok(a.verify(value));
    assert.equal(b.verify(value), undefined);
  });

  it('cannot issue a session for a role without a token', () => {
    const { sessions } = make({ tokens: { producer: 'p', viewer: 'v' } as typeof TOKENS });
    assert.throws(() => sessions.issue('operator'));
  });

  it('the CSRF token is bound to its session id', () => {
    const { sessions } = make();
    const a = sessions.issue('operator').claims.id;
    const b = sessions.issue('operator').claims.id;
    const token = sessions.csrfToken(a);
    assert.equal(sessions.csrfMatches(a, token), true);
    assert.equal(sessions.csrfMatches(b, token), false);
    assert.notEqual(sessions.csrfToken(b), token);
    for (const bad of [undefined, '', token.slice(1), `${token}x`]) assert.equal(sessions.csrfMatches(a, bad), false);
  });
});

describe('readCookie', () => {
  it('finds a cookie by exact name among others', () => {
    assert.equal(readCookie('a=1; mwi_session=v1.x.y; b=2', 'mwi_session'), 'v1.x.y');
    assert.equal(readCookie('xmwi_session=1; mwi_session=2', 'mwi_session'), '2');
    assert.equal(readCookie('mwi_session=', 'mwi_session'), '');
    for (const h of [undefined, '', 'a=1', 'mwi_session', 'mwi_sessions=1']) assert.equal(readCookie(h, 'mwi_session'), undefined, h);
  });
});

describe('log redaction of API credentials', () => {
  it('redacts cookies, Set-Cookie, CSRF tokens and the session secret wherever an object carries them', () => {
    const { log, text } = captureLog('info');
    const secret = 'c00kie-S3cret-value';
    log.info({ cookie: secret, headers: { cookie: secret, 'set-cookie': [secret], 'x-csrf-token': secret, 'x-xsrf-token': secret } }, 'request');
    log.info({ res: { headers: { 'set-cookie': secret } }, csrfToken: secret, api: { sessionSecret: secret } }, 'response');
    log.info({ config: { api: { sessionSecret: secret, operatorToken: secret, viewerToken: secret } } }, 'config');
    assert.ok(!text().includes(secret), text());
    assert.equal(text().split('\n').filter((l) => l.includes(REDACTED)).length, 3);
  });
});
