import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { Writable } from 'node:stream';
import { loadConfig } from '../../config/load.ts';
import { ErrorCodes, MwiError } from '../../src/errors.ts';
import { REDACTED, createLogger, maskUrlCredentials } from '../../src/log.ts';
import type { LogLevel } from '../../src/log.ts';
import { captureLog } from '../support/ingest-fakes.ts';

const SECRET = 'hunter2-Zq9!';

function capture(level: LogLevel = 'info') {
  return captureLog(level, () => 1_700_000_000_000);
}

describe('createLogger', () => {
  it('never writes a secret from a logged config or alongside a logged error', () => {
    const { log, text, records } = capture();
    const config = loadConfig({ readFile: () => '', env: { MWI_SIP__AUTH__PASSWORD: SECRET, MWI_SIP__AUTH__USERNAME: 'mwi' } });
    const err = new MwiError(ErrorCodes.SIP_TIMEOUT, 'no final response within 4000 ms', { retryable: true, details: { mailbox: '100' } });

    log.info({ config }, 'configuration loaded');
    log.info({ sip: config.sip }, 'sip settings');
    log.info(config, 'bare config');
    log.error({ err, config, auth: config.sip.auth }, 'publish failed');
    log.warn({ password: SECRET, token: SECRET, authorization: `Digest response="${SECRET}"` }, 'top-level secret keys');
    log.warn({ req: { headers: { authorization: SECRET } }, headers: { authorization: SECRET }, redis: { password: SECRET } }, 'nested secret keys');

    assert.ok(!text().includes(SECRET), text());
    const recs = records();
    assert.equal(recs.length, 6);
    const first = recs[0] as { config: { sip: { auth: { password: string; username: string } } } };
    assert.equal(first.config.sip.auth.password, REDACTED);
    assert.equal(first.config.sip.auth.username, 'mwi', 'non-secret fields stay readable');
    const failed = recs[3] as { err: { message: string; code: string; type: string }; level: string; msg: string };
    assert.equal(failed.err.code, ErrorCodes.SIP_TIMEOUT);
    assert.equal(failed.err.message, 'no final response within 4000 ms');
    assert.equal(failed.level, 'error');
    assert.equal(failed.msg, 'publish failed');
  });

  it('does not mutate the logged object', () => {
    const { log } = capture();
    const obj = { sip: { auth: { password: SECRET } } };
    log.info(obj, 'x');
    assert.equal(obj.sip.auth.password, SECRET);
  });

  it('writes JSON lines with the injected time, level names and the message', () => {
    const { log, records } = capture();
    log.info({ mailbox: '100', status: 200 }, 'publish accepted');
    const [rec] = records();
    assert.ok(rec);
    assert.equal(rec['time'], 1_700_000_000_000);
    assert.equal(rec['level'], 'info');
    assert.equal(rec['mailbox'], '100');
    assert.equal(rec['status'], 200);
    assert.equal(rec['msg'], 'publish accepted');
  });

  it('drops records below the configured level', () => {
    const { log, records } = capture('warn');
    log.info({}, 'hidden');
    log.debug({}, 'hidden');
    log.warn({}, 'shown');
    assert.deepEqual(records().map((r) => r['msg']), ['shown']);
  });
});

describe('maskUrlCredentials', () => {
  it('masks the password and keeps user, host, port and path', () => {
    assert.equal(maskUrlCredentials('redis://user:s3cret@host:6379'), 'redis://user:***@host:6379');
    assert.equal(maskUrlCredentials('rediss://user:s3cret@host:6380/2?tls=1'), 'rediss://user:***@host:6380/2?tls=1');
    assert.equal(maskUrlCredentials('redis://:s3cret@host:6379'), 'redis://:***@host:6379');
  });

  it('masks a password holding an unescaped "@" or ":" entirely', () => {
    const masked = maskUrlCredentials('redis://user:p@ss:w0rd@host:6379');
    assert.equal(masked, 'redis://user:***@host:6379');
  });

  it('leaves URLs without a password alone, including "@" after the authority', () => {
    for (const url of ['redis://host:6379', 'redis://user@host:6379', 'http://host/path?mail=a@b', 'not a url', '']) {
      assert.equal(maskUrlCredentials(url), url);
    }
  });
});

describe('createLogger with the queue settings', () => {
  it('never writes the Redis URL password or the producer token from a logged config', async () => {
    const chunks: string[] = [];
    const destination = new Writable({ write(c: Buffer, _e, cb) { chunks.push(c.toString()); cb(); } });
    const config = loadConfig({ env: { MWI_REDIS__URL: 'redis://:r3d1s-pw@127.0.0.1:6379', MWI_API__PRODUCER_TOKEN: 'tok-s3cret-123' }, readFile: () => '' });
    const log = createLogger({ level: 'info', destination });
    log.info({ config }, 'starting');
    await new Promise((r) => setImmediate(r));
    const out = chunks.join('');
    assert.ok(out.includes('starting'));
    assert.ok(!out.includes('r3d1s-pw') && !out.includes('tok-s3cret-123'), out);
  });
});
