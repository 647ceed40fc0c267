// The HTTP ingestion API against a private redis-server: 202 only after the durable write,
// ordering, batch atomicity and partial mode, auth (roles in detail: api-roles.test.ts), the error shape for everything a client can
// get wrong, 503 fast when Redis dies, and no secret in logs or bodies.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';

import type { Redis } from 'ioredis';
import type { InjectOptions, LightMyRequestResponse } from 'fastify';

import { configSchema } from '../../config/schema.ts';
import type { WireBatchResponse, WireErrorBody, WireMailboxState } from '../../src/api/wire-types.ts';
import { startApi } from '../../src/api/server.ts';
import { IngestService } from '../../src/ingest/ingest-service.ts';
import type { WireUpdate } from '../../src/ingest/update-schema.ts';
import { storeKeys } from '../../src/store/keys.ts';
import { RedisMailboxStore } from '../../src/store/redis-mailbox-store.ts';
import { createStoreClient } from '../../src/store/store-client.ts';
import { startRedis, type RedisHandle } from '../harness/redis.ts';
import { apiUnderTest, type ApiUnderTest } from '../support/api-under-test.ts';
import { RecordingScheduler, captureLog } from '../support/ingest-fakes.ts';

const TOKEN = 'producer-Tok3n-0f-t3sts';
const VIEWER = 'viewer-Tok3n-0f-t3sts';
const AUTH = { authorization: `Bearer ${TOKEN}` };
const VIEW = { authorization: `Bearer ${VIEWER}` };
const JSON_HEADERS = { ...AUTH, 'content-type': 'application/json' };

function update(n: number, version: number, extra: Partial<WireUpdate> = {}): WireUpdate {
  return { mailbox: `sip:${n}@pbx.test`, target: 'sip:127.0.0.1:5060;transport=tcp', counts: { new: version % 5, old: 2 }, version, ...extra };
}

function post(api: ApiUnderTest, body: unknown, opts: { query?: string; headers?: Record<string, string> } = {}): Promise<LightMyRequestResponse> {
  const req: InjectOptions = { method: 'POST', url: `/v1/mwi${opts.query ?? ''}`, headers: opts.headers ?? JSON_HEADERS, payload: typeof body === 'string' ? body : JSON.stringify(body) };
  return api.app.inject(req);
}

function errorOf(res: LightMyRequestResponse): WireErrorBody['error'] {
  const body = res.json<WireErrorBody>();
  assert.match(body.error.code, /^MWI_[A-Z_]+$/, res.body);
  assert.equal(typeof body.error.message, 'string');
  return body.error;
}

function assertError(res: LightMyRequestResponse, status: number, code: string, path?: string): void {
  assert.equal(res.statusCode, status, res.body);
  const e = errorOf(res);
  assert.equal(e.code, code);
  assert.equal(e.path, path);
  assert.match(String(res.headers['content-type']), /^application\/json/);
}

describe('HTTP API', { timeout: 60_000 }, () => {
  let redis: RedisHandle;
  let client: Redis;

  before(async () => {
    redis = await startRedis({ label: 'api' });
    client = await createStoreClient({ url: redis.url });
  });
  after(async () => {
    client?.disconnect();
    await redis?.dispose();
  });

  const withApi = (settings: { api?: Record<string, unknown>; targets?: Record<string, unknown> } = {}): ApiUnderTest =>
    apiUnderTest(client, { api: { producerToken: TOKEN, viewerToken: VIEWER, maxBatchUpdates: 5, ...settings.api }, ...(settings.targets ? { targets: settings.targets } : {}) });

  describe('POST /v1/mwi', () => {
    it('answers 202 applied only once the update is in Redis, and schedules the mailbox', async () => {
      const api = withApi();
      const res = await post(api, update(1, 7, { counts: { new: 2, old: 8, urgentNew: 1 } }));
      assert.equal(res.statusCode, 202, res.body);
      assert.deepEqual(res.json(), { mailbox: 'sip:1@pbx.test', result: 'applied' });
      const stored = await api.store.get('sip:1@pbx.test');
      assert.equal(stored?.desired?.version, 7);
      assert.deepEqual(stored?.desired?.summary, { counts: { 'voice-message': { new: 2, old: 8, urgentNew: 1 } } });
      assert.deepEqual(stored?.desired?.route, { mode: 'publish', target: 'sip:127.0.0.1:5060;transport=tcp' });
      assert.deepEqual(api.scheduler.calls, [['sip:1@pbx.test']]);
    });

    it('an older update arriving late answers 202 stale and changes nothing', async () => {
      const api = withApi();
      assert.equal((await post(api, update(1, 10))).statusCode, 202);
      const before = await api.store.get('sip:1@pbx.test');
      for (const version of [9, 10]) {
        const res = await post(api, update(1, version, { counts: { new: 4, old: 4 } }));
        assert.equal(res.statusCode, 202);
        assert.deepEqual(res.json(), { mailbox: 'sip:1@pbx.test', result: 'stale' });
      }
      assert.deepEqual(await api.store.get('sip:1@pbx.test'), before);
      assert.equal(api.scheduler.calls.length, 1, 'stale updates schedule nothing');
    });

    it('contact routes to an unsolicited NOTIFY; no target uses targets.defaultPublishTarget, or answers MWI_NO_TARGET', async () => {
      const api = withApi({ targets: { defaultPublishTarget: 'sip:127.0.0.1:5070' } });
      assert.equal((await post(api, update(1, 1, { target: undefined, contact: 'sip:1@127.0.0.1:5062' }))).statusCode, 202);
      assert.deepEqual((await api.store.get('sip:1@pbx.test'))?.desired?.route, { mode: 'notify', contact: 'sip:1@127.0.0.1:5062' });
      assert.equal((await post(api, update(2, 1, { target: undefined }))).statusCode, 202);
      assert.deepEqual((await api.store.get('sip:2@pbx.test'))?.desired?.route, { mode: 'publish', target: 'sip:127.0.0.1:5070' });

      const noDefault = withApi();
      assertError(await post(noDefault, update(3, 1, { target: undefined })), 400, 'MWI_NO_TARGET', 'target');
      assertError(await post(noDefault, { updates: [update(4, 1), update(3, 1, { target: undefined })] }), 400, 'MWI_NO_TARGET', 'updates.1.target');
      assert.equal(await noDefault.keyCount(), 0);
    });

    it('a batch is applied in order in one write; 202 with a result per item', async () => {
      const api = withApi();
      const res = await post(api, { updates: [update(1, 3), update(2, 1), update(1, 2), update(1, 4)] });
      assert.equal(res.statusCode, 202, res.body);
      assert.deepEqual(
        res.json<WireBatchResponse>().results.map((r) => (r.status === 202 ? [r.index, r.mailbox, r.result] : r)),
        [
          [0, 'sip:1@pbx.test', 'applied'],
          [1, 'sip:2@pbx.test', 'applied'],
          [2, 'sip:1@pbx.test', 'stale'],
          [3, 'sip:1@pbx.test', 'applied'],
        ],
      );
      assert.equal((await api.store.get('sip:1@pbx.test'))?.desired?.version, 4);
      assert.equal(api.storeCalls(), 1);
    });

    it('a batch with one bad item is refused whole: 400 with the item path, nothing written', async () => {
      const api = withApi();
      await post(api, update(9, 1));
      const keysBefore = await api.keyCount();
      const batch = [update(1, 1), update(2, 1), update(3, 1), update(4, 1, { counts: { new: -1, old: 0 } })];
      assertError(await post(api, { updates: batch }), 400, 'MWI_HTTP_VALIDATION', 'updates.3.counts.new');
      assertError(await post(api, { updates: [update(1, 1), update(2, 1, { mailbox: 'sip:2@pbx.test\r\nX-Injected: 1' })] }), 400, 'MWI_URI_INVALID', 'updates.1.mailbox');
      assertError(await post(api, { updates: [update(1, 1), 'not an update'] }), 400, 'MWI_HTTP_VALIDATION', 'updates.1');
      assert.equal(await api.keyCount(), keysBefore);
      assert.equal(await api.store.get('sip:1@pbx.test'), undefined);
      assert.equal(api.storeCalls(), 1, 'only the first single update reached the store');
    });

    it('batch limits: empty, over api.maxBatchUpdates, not an array, extra envelope fields', async () => {
      const api = withApi();
      assertError(await post(api, { updates: [] }), 400, 'MWI_HTTP_VALIDATION', 'updates');
      assertError(await post(api, { updates: [1, 2, 3, 4, 5, 6].map((n) => update(n, 1)) }), 400, 'MWI_HTTP_BATCH_TOO_LARGE', 'updates');
      assertError(await post(api, { updates: update(1, 1) }), 400, 'MWI_HTTP_VALIDATION', 'updates');
      assertError(await post(api, { updates: [update(1, 1)], atomic: false }), 400, 'MWI_HTTP_VALIDATION', 'atomic');
      assert.equal((await post(api, { updates: [1, 2, 3, 4, 5].map((n) => update(n, 1)) })).statusCode, 202);
    });

    it('?partial=true: 207 with a status per item; valid items applied, bad ones reported with their code', async () => {
      const api = withApi();
      const res = await post(api, { updates: [update(1, 1), update(2, 1, { version: -3 }), update(3, 1, { target: 'http://x' }), update(1, 1)] }, { query: '?partial=true' });
      assert.equal(res.statusCode, 207, res.body);
      const results = res.json<WireBatchResponse>().results;
      assert.deepEqual(
        results.map((r) => (r.status === 202 ? [r.index, r.status, r.result] : [r.index, r.status, r.error.code, r.error.path])),
        [
          [0, 202, 'applied'],
          [1, 400, 'MWI_HTTP_VALIDATION', 'updates.1.version'],
          [2, 400, 'MWI_URI_INVALID', 'updates.2.target'],
          [3, 202, 'stale'],
        ],
      );
      assert.ok(await api.store.get('sip:1@pbx.test'));
      assert.equal(await api.store.get('sip:2@pbx.test'), undefined);
      assertError(await post(api, { updates: [update(1, 1)] }, { query: '?partial=yes' }), 400, 'MWI_HTTP_VALIDATION', 'partial');
    });

    it('a failing scheduler is logged, and the update is still answered 202', async () => {
      const api = withApi();
      api.scheduler.mode = 'fail';
      assert.equal((await post(api, update(1, 1))).statusCode, 202);
      assert.ok(api.logs.records().some((r) => r.level === 'warn' && String(r.msg).includes('scheduling')));
    });
  });

  describe('GET /v1/mailboxes/:id', () => {
    it('shows desired and delivered state, ETag, expiry, last attempt and outcome', async () => {
      const api = withApi();
      await post(api, update(1, 5, { counts: { new: 1, old: 2 }, otherClasses: { 'fax-message': { new: 3, old: 0 } } }));
      const startedAt = Date.now();
      await api.store.recordDelivered('sip:1@pbx.test', 5, { counts: { 'voice-message': { new: 1, old: 2 }, 'fax-message': { new: 3, old: 0 } } }, { kind: 'delivered', status: 200, reason: '200 OK', cause: 'response', requests: 1, startedAt, elapsedMs: 4, etag: 'e-1', expiresAt: startedAt + 3_600_000 });
      await post(api, update(1, 6, { counts: { new: 0, old: 3 } }));
      await api.store.recordAttempt('sip:1@pbx.test', { kind: 'retryable', reason: 'no final response within 4000 ms', cause: 'timeout', requests: 1, startedAt: startedAt + 10, elapsedMs: 4000 });

      const res = await api.app.inject({ method: 'GET', url: `/v1/mailboxes/${encodeURIComponent('sip:1@pbx.test')}`, headers: VIEW });
      assert.equal(res.statusCode, 200, res.body);
      assert.equal(res.headers['cache-control'], 'no-store');
      const state = res.json<WireMailboxState>();
      assert.equal(state.mailbox, 'sip:1@pbx.test');
      assert.deepEqual(state.desired && { ...state.desired, acceptedAt: 0 }, { version: 6, acceptedAt: 0, route: { mode: 'publish', target: 'sip:127.0.0.1:5060;transport=tcp' }, counts: { new: 0, old: 3 } });
      assert.deepEqual(state.delivered, { version: 5, deliveredAt: startedAt + 4, counts: { new: 1, old: 2 }, otherClasses: { 'fax-message': { new: 3, old: 0 } } });
      assert.equal(state.pending, true);
      assert.equal(state.etag, 'e-1');
      assert.equal(state.expiresAt, startedAt + 3_600_000);
      assert.equal(state.lastAttemptAt, startedAt + 10);
      assert.deepEqual(state.lastOutcome, { kind: 'retryable', reason: 'no final response within 4000 ms', at: startedAt + 4010 });
    });

    it('unknown mailbox: 404 MWI_MAILBOX_NOT_FOUND; a bad id: 400 MWI_URI_INVALID; unknown route: 404 MWI_HTTP_NOT_FOUND', async () => {
      const api = withApi();
      assertError(await api.app.inject({ method: 'GET', url: `/v1/mailboxes/${encodeURIComponent('sip:404@pbx.test')}`, headers: VIEW }), 404, 'MWI_MAILBOX_NOT_FOUND', 'id');
      assertError(await api.app.inject({ method: 'GET', url: `/v1/mailboxes/${encodeURIComponent('sip:1@pbx.test\r\nX: y')}`, headers: VIEW }), 400, 'MWI_URI_INVALID', 'id');
      assertError(await api.app.inject({ method: 'GET', url: '/v1/mailboxes/%E0%A4%A', headers: VIEW }), 400, 'MWI_HTTP_BAD_REQUEST');
      assertError(await api.app.inject({ method: 'GET', url: '/v1/nothing', headers: AUTH }), 404, 'MWI_HTTP_NOT_FOUND');
      assertError(await api.app.inject({ method: 'DELETE', url: '/v1/mwi', headers: AUTH }), 404, 'MWI_HTTP_NOT_FOUND');
    });
  });

  describe('authentication', () => {
    it('POST and GET need their bearer token: missing, malformed or wrong answer 401 with WWW-Authenticate; /healthz is open', async () => {
      const api = withApi();
      const body = update(1, 1);
      for (const authorization of [undefined, TOKEN, `Basic ${TOKEN}`, `Bearer ${TOKEN}x`, `Bearer ${TOKEN.slice(0, -1)}`, 'Bearer ', `Bearer ${TOKEN.toUpperCase()}`]) {
        const headers: Record<string, string> = { 'content-type': 'application/json', ...(authorization === undefined ? {} : { authorization }) };
        const res = await post(api, body, { headers });
        assertError(res, 401, 'MWI_HTTP_UNAUTHORIZED');
        assert.match(String(res.headers['www-authenticate']), /^Bearer /);
        assertError(await api.app.inject({ method: 'GET', url: '/v1/mailboxes/sip%3A1%40pbx.test', headers }), 401, 'MWI_HTTP_UNAUTHORIZED');
      }
      assert.equal(await api.keyCount(), 0);
      assert.equal((await post(api, body, { headers: { 'content-type': 'application/json', authorization: `bearer ${TOKEN}` } })).statusCode, 202, 'scheme is case-insensitive');
      const health = await api.app.inject({ method: 'GET', url: '/healthz' });
      assert.equal(health.statusCode, 200);
      assert.deepEqual(health.json(), { status: 'ok' });
    });

    it('without configured tokens every POST, GET /v1 and GET /metrics answers 401, whatever the client sends', async () => {
      const api = apiUnderTest(client, { api: { maxBatchUpdates: 5 } });
      for (const authorization of [undefined, 'Bearer ', 'Bearer undefined', `Bearer ${TOKEN}`]) {
        const headers: Record<string, string> = { 'content-type': 'application/json', ...(authorization === undefined ? {} : { authorization }) };
        assertError(await post(api, update(1, 1), { headers }), 401, 'MWI_HTTP_UNAUTHORIZED');
        assertError(await api.app.inject({ method: 'GET', url: '/v1/mailboxes/sip%3A1%40pbx.test', headers }), 401, 'MWI_HTTP_UNAUTHORIZED');
        assertError(await api.app.inject({ method: 'GET', url: '/metrics', headers }), 401, 'MWI_HTTP_UNAUTHORIZED');
      }
      assert.equal(await api.keyCount(), 0);
      assert.ok(api.logs.records().some((r) => r.level === 'warn' && String(r.msg).includes('producerToken')));
    });

    it('GET /metrics needs a viewer token: none or a wrong one 401, the producer token 403; with it, Prometheus text without the token', async () => {
      const api = withApi();
      for (const authorization of [undefined, `Bearer ${VIEWER}x`, `Basic ${VIEWER}`]) {
        const res = await api.app.inject({ method: 'GET', url: '/metrics', headers: authorization === undefined ? {} : { authorization } });
        assertError(res, 401, 'MWI_HTTP_UNAUTHORIZED');
        assert.ok(!res.body.includes('mwi_sweep'), 'no metrics without the token');
      }
      const producer = await api.app.inject({ method: 'GET', url: '/metrics', headers: AUTH });
      assertError(producer, 403, 'MWI_HTTP_FORBIDDEN');
      assert.ok(!producer.body.includes('mwi_sweep'), 'no metrics for a producer');
      const res = await api.app.inject({ method: 'GET', url: '/metrics', headers: VIEW });
      assert.equal(res.statusCode, 200, res.body);
      assert.match(String(res.headers['content-type']), /^text\/plain; version=0\.0\.4/);
      assert.match(res.body, /^# TYPE mwi_sweep_runs_total counter$/m);
      assert.match(res.body, /^mwi_sweep_runs_total\{outcome="completed",mode="sweep"\} 0$/m);
      for (const name of ['mwi_sweep_duration_seconds', 'mwi_sweep_mailboxes_total', 'mwi_sweep_aborted_total', 'mwi_sweep_last_run_end_timestamp_seconds']) assert.ok(res.body.includes(`# TYPE ${name} `), name);
      for (const token of [TOKEN, VIEWER]) assert.ok(!res.body.includes(token) && !api.logs.text().includes(token), 'no token is in the output or the logs');
    });

    it('an unauthenticated request is refused before its body is read (401, not 413 or 400)', async () => {
      const api = withApi({ api: { bodyLimitBytes: 1024 } });
      assertError(await post(api, 'x'.repeat(5000), { headers: { 'content-type': 'application/json' } }), 401, 'MWI_HTTP_UNAUTHORIZED');
      assertError(await post(api, '{nope', { headers: { 'content-type': 'application/json' } }), 401, 'MWI_HTTP_UNAUTHORIZED');
    });
  });

  describe('malformed requests get the error shape', () => {
    it('413 body too large, 415 wrong or missing content type, 400 malformed or empty JSON and poisoned keys', async () => {
      const api = withApi({ api: { bodyLimitBytes: 1024 } });
      assertError(await post(api, { updates: Array.from({ length: 5 }, (_, i) => update(i, 1, { mailbox: `sip:${'a'.repeat(200)}${i}@pbx.test` })) }), 413, 'MWI_HTTP_BODY_TOO_LARGE');
      assertError(await post(api, JSON.stringify(update(1, 1)), { headers: { ...AUTH, 'content-type': 'text/plain' } }), 415, 'MWI_HTTP_UNSUPPORTED_MEDIA_TYPE');
      assertError(await post(api, JSON.stringify(update(1, 1)), { headers: { ...AUTH, 'content-type': 'application/x-www-form-urlencoded' } }), 415, 'MWI_HTTP_UNSUPPORTED_MEDIA_TYPE');
      assertError(await post(api, JSON.stringify(update(1, 1)), { headers: AUTH }), 415, 'MWI_HTTP_UNSUPPORTED_MEDIA_TYPE');
      assertError(await post(api, '{"mailbox": "sip:1@pbx.test",', {}), 400, 'MWI_HTTP_MALFORMED_JSON');
      assertError(await post(api, '', {}), 400, 'MWI_HTTP_MALFORMED_JSON');
      assertError(await post(api, '{"__proto__": {"admin": true}, "mailbox": "sip:1@pbx.test"}', {}), 400, 'MWI_HTTP_MALFORMED_JSON');
      assertError(await post(api, '{"constructor": {"prototype": {"admin": true}}}', {}), 400, 'MWI_HTTP_MALFORMED_JSON');
      assertError(await api.app.inject({ method: 'POST', url: '/v1/mwi', headers: AUTH }), 400, 'MWI_HTTP_VALIDATION');
      assertError(await post(api, '[1, 2]', {}), 400, 'MWI_HTTP_VALIDATION');
      assert.equal(await api.keyCount(), 0);
    });

    it('malformed HTTP on a real socket gets a 400 with the error shape', async () => {
      const config = configSchema.parse({ api: { port: 0, producerToken: TOKEN } });
      const logs = captureLog();
      const store = new RedisMailboxStore({ redis: client, keys: storeKeys('{api-raw}') });
      const ingest = new IngestService({ store, scheduler: new RecordingScheduler(), log: logs.log, maxBatchUpdates: 5 });
      const api = await startApi({ config, log: logs.log, ingest, store });
      try {
        const { connect } = await import('node:net');
        const url = new URL(api.url);
        const raw = await new Promise<string>((resolve, reject) => {
          const socket = connect(Number(url.port), url.hostname, () => socket.write('POST /v1/mwi HTTP/1.1\r\nHost: x\r\nContent-Length: abc\r\n\r\n'));
          let data = '';
          socket.on('data', (d) => (data += d.toString('utf8')));
          socket.on('close', () => resolve(data));
          socket.on('error', reject);
        });
        assert.match(raw, /^HTTP\/1\.1 400 /);
        assert.match(raw, /"code":"MWI_HTTP_BAD_REQUEST"/);
      } finally {
        await api.close();
      }
    });
  });

  describe('secrets', () => {
    it('the token and the Authorization header never reach the logs (trace level) or a response body', async () => {
      const api = withApi();
      const wrong = 'wr0ng-S3cret-token';
      const bodies: string[] = [];
      const send = async (req: InjectOptions) => bodies.push((await api.app.inject(req)).body);
      await send({ method: 'POST', url: '/v1/mwi', headers: JSON_HEADERS, payload: JSON.stringify(update(1, 1)) });
      await send({ method: 'POST', url: '/v1/mwi', headers: { 'content-type': 'application/json', authorization: `Bearer ${wrong}` }, payload: JSON.stringify(update(1, 2)) });
      await send({ method: 'POST', url: '/v1/mwi', headers: JSON_HEADERS, payload: JSON.stringify({ ...update(1, 3), token: TOKEN }) });
      await send({ method: 'POST', url: '/v1/mwi', headers: JSON_HEADERS, payload: `{"token": "${TOKEN}"` });
      await send({ method: 'POST', url: `/v1/mwi?token=${TOKEN}`, headers: JSON_HEADERS, payload: JSON.stringify(update(1, 4)) });
      await send({ method: 'GET', url: `/v1/mailboxes/${encodeURIComponent('sip:1@pbx.test')}`, headers: VIEW });
      await send({ method: 'GET', url: `/nothing/${wrong}`, headers: { authorization: `Bearer ${wrong}` } });
      const logText = api.logs.text();
      assert.ok(logText.length > 0);
      for (const secret of [TOKEN, VIEWER, wrong, 'Bearer']) {
        assert.ok(!logText.includes(secret), `log contains ${secret}`);
        assert.ok(bodies.every((b) => !b.includes(secret)), `a body contains ${secret}`);
      }
    });
  });

  describe('real listen', () => {
    it('startApi listens on api.host with port 0 and serves fetch; close() stops it', async () => {
      const config = configSchema.parse({ api: { port: 0, producerToken: TOKEN } });
      const logs = captureLog();
      const store = new RedisMailboxStore({ redis: client, keys: storeKeys('{api-listen}') });
      const ingest = new IngestService({ store, scheduler: new RecordingScheduler(), log: logs.log, maxBatchUpdates: 5 });
      const api = await startApi({ config, log: logs.log, ingest, store });
      assert.match(api.url, /^http:\/\/127\.0\.0\.1:\d+$/);
      try {
        const res = await fetch(`${api.url}/v1/mwi`, { method: 'POST', headers: JSON_HEADERS, body: JSON.stringify(update(77, 1)) });
        assert.equal(res.status, 202);
        assert.deepEqual(await res.json(), { mailbox: 'sip:77@pbx.test', result: 'applied' });
        assert.equal((await store.get('sip:77@pbx.test'))?.desired?.version, 1);
        assert.equal((await fetch(`${api.url}/healthz`)).status, 200);
      } finally {
        await api.close();
      }
      await assert.rejects(fetch(`${api.url}/healthz`));
    });
  });
});

describe('HTTP API when Redis dies', { timeout: 60_000 }, () => {
  let redis: RedisHandle;
  let client: Redis;

  before(async () => {
    redis = await startRedis({ label: 'api-outage' });
    client = await createStoreClient({ url: redis.url, commandTimeoutMs: 500 });
  });
  after(async () => {
    client?.disconnect();
    await redis?.dispose();
  });

  it('after kill -9: POST and GET answer 503 MWI_REDIS_UNAVAILABLE within 1 s with Retry-After; /healthz stays 200', async (t) => {
    const api = apiUnderTest(client, { api: { producerToken: TOKEN, viewerToken: VIEWER } });
    assert.equal((await post(api, update(1, 1))).statusCode, 202);
    await redis.kill9();
    const timings: number[] = [];
    for (const req of [
      () => post(api, update(1, 2)),
      () => post(api, { updates: [update(2, 1), update(3, 1)] }, { query: '?partial=true' }),
      () => api.app.inject({ method: 'GET', url: '/v1/mailboxes/sip%3A1%40pbx.test', headers: VIEW }),
    ]) {
      const start = performance.now();
      const res = await req();
      timings.push(performance.now() - start);
      assertError(res, 503, 'MWI_REDIS_UNAVAILABLE');
      assert.equal(res.headers['retry-after'], '1');
    }
    t.diagnostic(`503 answers in ${timings.map((ms) => ms.toFixed(1)).join(', ')} ms`);
    assert.ok(timings.every((ms) => ms < 1000), JSON.stringify(timings));
    assert.equal((await api.app.inject({ method: 'GET', url: '/healthz' })).statusCode, 200);
    assert.equal(api.scheduler.calls.length, 1, 'nothing scheduled for updates that were not written');
    assert.ok(!api.logs.text().includes(TOKEN));
  });
});
