// Property: whatever a client sends (mostly broken, some valid JSON bodies and headers), the API
// answers 2xx, or 4xx with an MWI_* code, never 5xx; and a 4xx request never reaches Redis:
// no store call, DBSIZE unchanged. Afterwards every stored mailbox is a valid URI.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';

import fc from 'fast-check';
import type { InjectOptions } from 'fastify';
import type { Redis } from 'ioredis';

import type { WireBatchResponse, WireErrorBody } from '../../src/api/wire-types.ts';
import { isValidAccountUri } from '../../src/mwi/message-summary.ts';
import { createStoreClient } from '../../src/store/store-client.ts';
import { startRedis, type RedisHandle } from '../harness/redis.ts';
import { apiUnderTest, type ApiUnderTest } from '../support/api-under-test.ts';

const TOKEN = 'fuzz-producer-token';
const RUNS = 2000;
const CODE = /^MWI_[A-Z_]+$/;

const printable = fc.string({ maxLength: 40 });
const anyText = fc.string({ unit: 'binary-ascii', maxLength: 40 });

const count = fc.oneof(
  { weight: 6, arbitrary: fc.nat(20) },
  { weight: 1, arbitrary: fc.constantFrom(-1, 0x1_0000_0000, 2 ** 53, 1.5, Number.MAX_SAFE_INTEGER) },
  { weight: 1, arbitrary: fc.jsonValue({ maxDepth: 1 }) },
);

const counts = fc.oneof(
  { weight: 8, arbitrary: fc.record({ new: count, old: count, urgentNew: count, urgentOld: count }, { requiredKeys: ['new', 'old'] }) },
  { weight: 1, arbitrary: fc.jsonValue({ maxDepth: 2 }) },
);

const mailbox = fc.oneof(
  { weight: 6, arbitrary: fc.constantFrom('sip:1000@pbx.test', 'sip:1001@pbx.test', 'sips:1002@pbx.test', 'tel:+4930123456') },
  { weight: 2, arbitrary: anyText.map((s) => `sip:${s}@pbx.test`) },
  { weight: 1, arbitrary: fc.constantFrom('sip:1@pbx.test\r\nX-Injected: 1', 'http://pbx.test/1', 'sip:1@pbx.test\n', '') },
  { weight: 1, arbitrary: fc.jsonValue({ maxDepth: 1 }) },
);

const sipUri = fc.oneof(
  { weight: 5, arbitrary: fc.constantFrom('sip:127.0.0.1:5060', 'sip:ps.test;transport=tcp', 'sips:ps.test', 'sip:1000@127.0.0.1:5062') },
  { weight: 2, arbitrary: anyText.map((s) => `sip:${s}`) },
  { weight: 1, arbitrary: fc.constantFrom('sip:ps.test;transport=sctp', 'sip:ps.test\r\nRoute: <sip:evil>', 'http://ps.test', 'sip:ps.test:70000') },
  { weight: 1, arbitrary: fc.jsonValue({ maxDepth: 1 }) },
);

const version = fc.oneof(
  { weight: 6, arbitrary: fc.nat() },
  { weight: 1, arbitrary: fc.constantFrom(-1, 1.5, 2 ** 53, Number.MAX_SAFE_INTEGER, '12') },
  { weight: 1, arbitrary: fc.jsonValue({ maxDepth: 1 }) },
);

const validCounts = fc.nat(10).chain((n) => fc.record({ new: fc.constant(n), old: fc.nat(10), urgentNew: fc.nat(n) }, { requiredKeys: ['new', 'old'] }));

const validUpdate = fc.record(
  {
    mailbox: fc.constantFrom('sip:1000@pbx.test', 'sip:1001@pbx.test', 'sips:1002@pbx.test', 'tel:+4930123456'),
    target: fc.constantFrom('sip:127.0.0.1:5060', 'sip:ps.test;transport=tcp'),
    counts: validCounts,
    version: fc.nat(),
  },
  { requiredKeys: ['mailbox', 'counts', 'version'] },
);

const update = fc.oneof(
  { weight: 6, arbitrary: validUpdate },
  { weight: 4, arbitrary: fc.record({ mailbox, target: sipUri, contact: sipUri, counts, version, otherClasses: fc.dictionary(fc.constantFrom('fax-message', 'none', 'voice-message', 'x'), counts, { maxKeys: 2 }), extra: printable }, { requiredKeys: ['mailbox', 'counts', 'version'] }) },
  { weight: 1, arbitrary: fc.jsonValue({ maxDepth: 2 }) },
);

const body = fc.oneof(
  { weight: 4, arbitrary: update.map((u) => JSON.stringify(u)) },
  { weight: 3, arbitrary: fc.array(update, { maxLength: 7 }).map((updates) => JSON.stringify({ updates })) },
  { weight: 1, arbitrary: fc.json({ maxDepth: 3 }) },
  { weight: 1, arbitrary: fc.string({ unit: 'binary', maxLength: 200 }) },
  { weight: 1, arbitrary: fc.constantFrom('', '{', '{"__proto__":{"x":1}}', '{"updates":', 'null', '[]', 'x'.repeat(1100)) },
);

const contentType = fc.oneof(
  { weight: 8, arbitrary: fc.constantFrom('application/json', 'application/json; charset=utf-8') },
  { weight: 1, arbitrary: fc.constantFrom('text/plain', 'application/xml', 'multipart/form-data; boundary=x', 'application/x-www-form-urlencoded', 'application/json; charset') },
  { weight: 1, arbitrary: fc.constantFrom(undefined) },
  { weight: 1, arbitrary: printable },
);

const authorization = fc.oneof(
  { weight: 8, arbitrary: fc.constant(`Bearer ${TOKEN}`) },
  { weight: 1, arbitrary: fc.constantFrom(undefined, 'Bearer', `Bearer ${TOKEN}x`, `Basic ${TOKEN}`, TOKEN) },
  { weight: 1, arbitrary: printable },
);

const target = fc.oneof(
  { weight: 8, arbitrary: fc.constantFrom('/v1/mwi', '/v1/mwi?partial=true', '/v1/mwi?partial=false') },
  { weight: 1, arbitrary: printable.map((s) => `/v1/mwi?partial=${encodeURIComponent(s)}`) },
  { weight: 1, arbitrary: fc.constantFrom('/v1/mwi/', '/v1/mailboxes', '/v2/mwi', '/') },
);

const request = fc.record({ url: target, payload: body, contentType, authorization, method: fc.constantFrom('POST', 'POST', 'POST', 'POST', 'POST', 'POST', 'POST', 'PUT', 'GET') });

describe('HTTP API fuzz', { timeout: 120_000 }, () => {
  let redis: RedisHandle;
  let client: Redis;
  let api: ApiUnderTest;

  before(async () => {
    redis = await startRedis({ label: 'api-fuzz' });
    client = await createStoreClient({ url: redis.url });
    api = apiUnderTest(client, { api: { producerToken: TOKEN, maxBatchUpdates: 5, bodyLimitBytes: 1024 }, targets: { defaultPublishTarget: 'sip:127.0.0.1:5060' } });
  });
  after(async () => {
    await api?.app.close();
    client?.disconnect();
    await redis?.dispose();
  });

  it(`${RUNS} random requests: 2xx or 4xx with a code, and a 4xx never writes to Redis`, async (t) => {
    const statuses = new Map<number, number>();
    const start = performance.now();
    await fc.assert(
      fc.asyncProperty(request, async (r) => {
        const headers: Record<string, string> = {};
        if (r.contentType !== undefined) headers['content-type'] = r.contentType;
        if (r.authorization !== undefined) headers.authorization = r.authorization;
        const keysBefore = await client.dbsize();
        const callsBefore = api.storeCalls();
        const req: InjectOptions = { method: r.method, url: r.url, headers, ...(r.method === 'GET' ? {} : { payload: r.payload }) };
        const res = await api.app.inject(req);
        statuses.set(res.statusCode, (statuses.get(res.statusCode) ?? 0) + 1);

        const ok2xx = res.statusCode >= 200 && res.statusCode < 300;
        const ok4xx = res.statusCode >= 400 && res.statusCode < 500;
        assert.ok(ok2xx || ok4xx, `status ${res.statusCode}: ${res.body}`);
        const parsed = res.json<unknown>();
        if (ok4xx) {
          assert.match((parsed as WireErrorBody).error.code, CODE, res.body);
          assert.equal(await client.dbsize(), keysBefore, `4xx changed Redis: ${res.body}`);
          assert.equal(api.storeCalls(), callsBefore, `4xx reached the store: ${res.body}`);
        }
        if (res.statusCode === 207) {
          for (const item of (parsed as WireBatchResponse).results) {
            assert.ok(item.status === 202 || CODE.test(item.error.code), JSON.stringify(item));
          }
        }
      }),
      { numRuns: RUNS },
    );
    const elapsedMs = performance.now() - start;
    t.diagnostic(`${RUNS} requests in ${Math.round(elapsedMs)} ms; statuses ${JSON.stringify(Object.fromEntries([...statuses].sort((a, b) => a[0] - b[0])))}`);
    assert.ok((statuses.get(202) ?? 0) + (statuses.get(207) ?? 0) > RUNS / 50, 'too few valid requests to mean anything');
    assert.ok(elapsedMs < 20_000, `took ${Math.round(elapsedMs)} ms`);

    // Whatever got in is well-formed: every stored mailbox is a valid URI without control characters.
    const keys = await client.keys('*:mailbox:*');
    assert.ok(keys.length > 0);
    for (const key of keys) {
      const mailbox = key.slice(key.indexOf(':mailbox:') + ':mailbox:'.length);
      assert.ok(isValidAccountUri(mailbox), JSON.stringify(mailbox));
      assert.ok(await api.store.get(mailbox));
    }
  });
});
