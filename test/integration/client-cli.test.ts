// MwiClient and `mwi update` against a real listening API on a private redis-server: results,
// error codes and statuses, and the CLI's output and exit codes as an operator sees them.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';

import type { Redis } from 'ioredis';

import { configSchema } from '../../config/schema.ts';
import { startApi } from '../../src/api/server.ts';
import { MwiClient, MwiClientError } from '../../src/index.ts';
import { IngestService } from '../../src/ingest/ingest-service.ts';
import type { WireUpdate } from '../../src/ingest/update-schema.ts';
import { storeKeys } from '../../src/store/keys.ts';
import { RedisMailboxStore } from '../../src/store/redis-mailbox-store.ts';
import { createStoreClient } from '../../src/store/store-client.ts';
import { startRedis, type RedisHandle } from '../harness/redis.ts';
import { RecordingScheduler, captureLog } from '../support/ingest-fakes.ts';
import { runMwi as mwi } from '../support/run-mwi.ts';

const TOKEN = 'client-cli-token';
const VIEWER = 'client-cli-viewer-token';


function update(n: number, version: number, extra: Partial<WireUpdate> = {}): WireUpdate {
  return { mailbox: `sip:${n}@client.test`, target: 'sip:127.0.0.1:5060', counts: { new: 1, old: 0 }, version, ...extra };
}

async function rejectsWith(p: Promise<unknown>, code: string, status: number, errPath?: string): Promise<MwiClientError> {
  let caught: unknown;
  await assert.rejects(p, (err: unknown) => {
    caught = err;
    return err instanceof MwiClientError && err.code === code && err.status === status && err.path === errPath;
  }, `expected ${code} ${status}`);
  return caught as MwiClientError;
}

/** A loopback server that answers each request with `respond` (or never, for 'hang'). */
async function fakeServer(respond: 'hang' | ((res: http.ServerResponse) => void)): Promise<{ url: string; close(): Promise<void> }> {
  const server = http.createServer((_req, res) => {
    if (respond !== 'hang') respond(res);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    close: () => {
      server.closeAllConnections();
      return new Promise((resolve) => server.close(() => resolve()));
    },
  };
}

describe('MwiClient and mwi update against a real API', { timeout: 90_000 }, () => {
  let redis: RedisHandle;
  let client: Redis;
  let store: RedisMailboxStore;
  let api: { url: string; close(): Promise<void> };
  let tmp: string;

  before(async () => {
    redis = await startRedis({ label: 'client-cli' });
    client = await createStoreClient({ url: redis.url });
    store = new RedisMailboxStore({ redis: client, keys: storeKeys('{client-cli}') });
    const config = configSchema.parse({ api: { port: 0, producerToken: TOKEN, viewerToken: VIEWER, maxBatchUpdates: 10 }, targets: { defaultPublishTarget: 'sip:127.0.0.1:5070' } });
    const log = captureLog('warn').log;
    const ingest = new IngestService({ store, scheduler: new RecordingScheduler(), log, maxBatchUpdates: 10, defaultPublishTarget: config.targets.defaultPublishTarget });
    api = await startApi({ config, log, ingest, store });
    tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'mwi-client-cli-'));
  });
  after(async () => {
    await api?.close();
    client?.disconnect();
    await redis?.dispose();
    if (tmp) fs.rmSync(tmp, { recursive: true, force: true });
  });

  describe('MwiClient', () => {
    it('update: applied, then stale for an older version; mailbox() reads the state back', async () => {
      const c = new MwiClient({ baseUrl: api.url, token: TOKEN });
      assert.deepEqual(await c.update(update(1, 5)), { mailbox: 'sip:1@client.test', result: 'applied' });
      assert.deepEqual(await c.update(update(1, 4)), { mailbox: 'sip:1@client.test', result: 'stale' });
      // Reading state back is a viewer's right, not a producer's.
      await rejectsWith(c.mailbox('sip:1@client.test'), 'MWI_HTTP_FORBIDDEN', 403);
      const state = await new MwiClient({ baseUrl: api.url, token: VIEWER }).mailbox('sip:1@client.test');
      assert.equal(state.desired?.version, 5);
      assert.deepEqual(state.desired?.route, { mode: 'publish', target: 'sip:127.0.0.1:5060' });
      assert.equal(state.pending, true);
      assert.equal(state.delivered, null);
    });

    it('updateBatch: atomic by default (MwiClientError with the item path), per item with partial', async () => {
      const c = new MwiClient({ baseUrl: `${api.url}/`, token: TOKEN });
      const batch = [update(2, 1), update(3, 1, { counts: { new: 1, old: 0, urgentNew: 2 } })];
      await rejectsWith(c.updateBatch(batch), 'MWI_HTTP_VALIDATION', 400, 'updates.1.counts.urgentNew');
      assert.equal(await store.get('sip:2@client.test'), undefined);
      const partial = await c.updateBatch(batch, { partial: true });
      assert.deepEqual(partial.results.map((r) => r.status), [202, 400]);
      assert.ok(await store.get('sip:2@client.test'));
      const ok = await c.updateBatch([update(4, 1), update(4, 2)]);
      assert.deepEqual(ok.results.map((r) => (r.status === 202 ? r.result : r.error.code)), ['applied', 'applied']);
    });

    it('errors carry the API code and status: 401, 404, 400 with path; retryable only without an answer or on 5xx', async () => {
      const wrong = new MwiClient({ baseUrl: api.url, token: 'nope' });
      const unauthorized = await rejectsWith(wrong.update(update(5, 1)), 'MWI_HTTP_UNAUTHORIZED', 401);
      assert.equal(unauthorized.retryable, false);
      assert.ok(!unauthorized.message.includes('nope'));
      const c = new MwiClient({ baseUrl: api.url, token: TOKEN });
      await rejectsWith(new MwiClient({ baseUrl: api.url, token: VIEWER }).mailbox('sip:unknown@client.test'), 'MWI_MAILBOX_NOT_FOUND', 404, 'id');
      await rejectsWith(c.update({ ...update(5, 1), mailbox: 'sip:5@client.test\r\nX: y' }), 'MWI_URI_INVALID', 400, 'mailbox');
    });

    it('no answer: MWI_API_UNREACHABLE (closed port), MWI_API_TIMEOUT (silent server), MWI_API_BAD_RESPONSE (not our JSON)', async () => {
      const closed = await fakeServer(() => {});
      const closedUrl = closed.url;
      await closed.close();
      const unreachable = await rejectsWith(new MwiClient({ baseUrl: closedUrl, token: TOKEN }).update(update(6, 1)), 'MWI_API_UNREACHABLE', 0);
      assert.equal(unreachable.retryable, true);

      const silent = await fakeServer('hang');
      try {
        const start = performance.now();
        await rejectsWith(new MwiClient({ baseUrl: silent.url, token: TOKEN, timeoutMs: 200 }).update(update(6, 1)), 'MWI_API_TIMEOUT', 0);
        assert.ok(performance.now() - start < 2000);
      } finally {
        await silent.close();
      }

      const proxy = await fakeServer((res) => res.writeHead(502, { 'content-type': 'text/html' }).end('<html>Bad Gateway</html>'));
      try {
        const bad = await rejectsWith(new MwiClient({ baseUrl: proxy.url, token: TOKEN }).update(update(6, 1)), 'MWI_API_BAD_RESPONSE', 502);
        assert.equal(bad.retryable, true);
      } finally {
        await proxy.close();
      }
    });

    it('uses an injected fetch, and refuses a non-http base URL or a token with CR/LF up front', async () => {
      const seen: string[] = [];
      const fetchSpy: typeof fetch = (input, init) => {
        seen.push(`${init?.method ?? 'GET'} ${input instanceof URL ? input.href : typeof input === 'string' ? input : input.url}`);
        return fetch(input, init);
      };
      await new MwiClient({ baseUrl: api.url, token: TOKEN, fetch: fetchSpy }).update(update(7, 1));
      assert.deepEqual(seen, [`POST ${api.url}/v1/mwi`]);
      assert.throws(() => new MwiClient({ baseUrl: 'ftp://127.0.0.1', token: TOKEN }), TypeError);
      assert.throws(() => new MwiClient({ baseUrl: api.url, token: `${TOKEN}\r\nX-Evil: 1` }), TypeError);
    });
  });

  describe('mwi update', () => {
    it('applies an update (exit 0), reports a stale one (exit 0), with the token from the environment', async () => {
      const env = { MWI_API__PRODUCER_TOKEN: TOKEN };
      const args = ['update', '--api', api.url, '--mailbox', 'sip:100@client.test', '--new', '3', '--old', '1', '--urgent-new', '1', '--target', 'sip:127.0.0.1:5060;transport=tcp'];
      const first = await mwi([...args, '--seq', '10'], env);
      assert.equal(first.code, 0, first.stderr);
      assert.equal(first.stdout, 'applied: sip:100@client.test version 10\n');
      const stale = await mwi([...args, '--seq', '9', '--json'], env);
      assert.equal(stale.code, 0, stale.stderr);
      assert.deepEqual(JSON.parse(stale.stdout), { mailbox: 'sip:100@client.test', result: 'stale' });
      const stored = await store.get('sip:100@client.test');
      assert.equal(stored?.desired?.version, 10);
      assert.deepEqual(stored?.desired?.summary, { counts: { 'voice-message': { new: 3, old: 1, urgentNew: 1 } } });
      assert.deepEqual(stored?.desired?.route, { mode: 'publish', target: 'sip:127.0.0.1:5060;transport=tcp' });
    });

    it('--token-file, --contact, --class, and the server default target when neither is given', async () => {
      const tokenFile = path.join(tmp, 'token');
      fs.writeFileSync(tokenFile, `${TOKEN}\n`);
      const base = ['update', '--api', api.url, '--token-file', tokenFile];
      const notify = await mwi([...base, '--mailbox', 'sip:101@client.test', '--contact', 'sip:101@127.0.0.1:5062', '--new', '1', '--seq', '1']);
      assert.equal(notify.code, 0, notify.stderr);
      assert.deepEqual((await store.get('sip:101@client.test'))?.desired?.route, { mode: 'notify', contact: 'sip:101@127.0.0.1:5062' });
      const fax = await mwi([...base, '--mailbox', 'sip:102@client.test', '--class', 'fax-message', '--new', '2', '--seq', '1']);
      assert.equal(fax.code, 0, fax.stderr);
      const stored = await store.get('sip:102@client.test');
      assert.deepEqual(stored?.desired?.summary, { counts: { 'fax-message': { new: 2, old: 0 } } });
      assert.deepEqual(stored?.desired?.route, { mode: 'publish', target: 'sip:127.0.0.1:5070' });
    });

    it('exit 5 when the API refuses (wrong token), exit 3 when it is unreachable, with the code on stderr', async () => {
      const args = ['update', '--mailbox', 'sip:103@client.test', '--new', '1', '--seq', '1'];
      const refused = await mwi([...args, '--api', api.url], { MWI_API__PRODUCER_TOKEN: 'wrong-token' });
      assert.equal(refused.code, 5, refused.stderr);
      assert.match(refused.stderr, /MWI_HTTP_UNAUTHORIZED/);
      assert.ok(!refused.stderr.includes('wrong-token') && !refused.stdout.includes('wrong-token'));
      const closed = await fakeServer(() => {});
      const closedUrl = closed.url;
      await closed.close();
      const unreachable = await mwi([...args, '--api', closedUrl], { MWI_API__PRODUCER_TOKEN: TOKEN });
      assert.equal(unreachable.code, 3, unreachable.stderr);
      assert.match(unreachable.stderr, /MWI_API_UNREACHABLE/);
      assert.equal(await store.get('sip:103@client.test'), undefined);
    });

    it('exit 2 for a bad command line, checked before any request: CR/LF in the mailbox, bad --seq, no token, both targets', async () => {
      const env = { MWI_API__PRODUCER_TOKEN: TOKEN };
      const base = ['update', '--api', api.url, '--new', '1'];
      const injected = await mwi([...base, '--mailbox', 'sip:104@client.test\r\nX: y', '--seq', '1'], env);
      assert.equal(injected.code, 2);
      assert.match(injected.stderr, /MWI_CLI_USAGE: invalid update: mailbox/);
      for (const seq of ['-1', '1.5', '9007199254740992', 'x']) {
        assert.equal((await mwi([...base, '--mailbox', 'sip:104@client.test', '--seq', seq], env)).code, 2, seq);
      }
      assert.equal((await mwi([...base, '--mailbox', 'sip:104@client.test'], env)).code, 2, '--seq is required');
      const noToken = await mwi([...base, '--mailbox', 'sip:104@client.test', '--seq', '1']);
      assert.equal(noToken.code, 2);
      assert.match(noToken.stderr, /MWI_CLI_USAGE/);
      const both = await mwi([...base, '--mailbox', 'sip:104@client.test', '--seq', '1', '--target', 'sip:127.0.0.1', '--contact', 'sip:104@127.0.0.1'], env);
      assert.equal(both.code, 2);
      assert.equal(await store.get('sip:104@client.test'), undefined);
    });
  });
});
