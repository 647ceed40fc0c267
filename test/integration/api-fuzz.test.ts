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
import { fuzzMwiRequest } from '../support/api-fuzz-arbitraries.ts';

const TOKEN = 'fuzz-producer-token';
const RUNS = 2000;
const CODE = /^MWI_[A-Z_]+$/;

const request = fuzzMwiRequest(TOKEN);

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
