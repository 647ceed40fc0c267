import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { z } from 'zod';
import { ErrorCodes, isMwiError } from '../../src/errors.ts';
import { envNameToPath, loadConfig, pathToEnvName } from '../../config/load.ts';
import type { ConfigIssue, LoadConfigInput } from '../../config/load.ts';
import { SECRET_PATHS, configSchema, defaultConfig } from '../../config/schema.ts';
import pkg from '../../package.json' with { type: 'json' };

/** A readFile over an in-memory map; missing files throw like fs does. */
function files(map: Record<string, string>): (path: string) => string {
  return (path) => {
    const text = map[path];
    if (text === undefined) throw Object.assign(new Error(`ENOENT: no such file or directory, open '${path}'`), { code: 'ENOENT' });
    return text;
  };
}

const noFiles = files({});

function load(input: Partial<LoadConfigInput>) {
  return loadConfig({ readFile: noFiles, ...input });
}

function configError(input: Partial<LoadConfigInput>, code: string = ErrorCodes.CONFIG_INVALID) {
  try {
    load(input);
  } catch (err) {
    assert.ok(isMwiError(err), `expected MwiError, got ${String(err)}`);
    assert.equal(err.code, code);
    return err;
  }
  assert.fail('expected loadConfig to throw');
}

function issuesOf(input: Partial<LoadConfigInput>): ConfigIssue[] {
  return configError(input).details?.['issues'] as ConfigIssue[];
}

describe('loadConfig defaults', () => {
  it('gives every default with no sources', () => {
    const c = load({});
    assert.equal(c.log.level, 'info');
    assert.equal(c.sip.transport, 'udp');
    assert.equal(c.sip.bindHost, '127.0.0.1');
    assert.equal(c.sip.bindPort, 0);
    assert.equal(c.sip.publicHost, undefined);
    assert.equal(c.sip.t1Ms, 500);
    assert.equal(c.sip.t2Ms, 4000);
    assert.equal(c.sip.transactionTimeoutMs, 4000);
    assert.equal(c.sip.maxMessageBytes, 65535);
    assert.equal(c.sip.userAgent, `mwi-runner/${pkg.version}`);
    assert.equal(c.sip.publishExpiresSec, 3600);
    assert.equal(c.sip.notifySubscriptionState, 'terminated;reason=noresource');
    assert.deepEqual(c.sip.tcp, { idleCloseMs: 60000, connectTimeoutMs: 3000, reconnectBaseMs: 200, reconnectMaxMs: 10000 });
    assert.deepEqual(c.sip.tls, { rejectUnauthorized: true });
    assert.deepEqual(c.sip.auth, {});
    assert.deepEqual(c.targets, {});
    assert.deepEqual(c, defaultConfig());
  });

  it('describes every field of the schema (the config reference is generated from it)', () => {
    const missing: string[] = [];
    const walk = (schema: z.ZodType, path: string): void => {
      if (path !== '' && !schema.description) missing.push(path);
      let inner: z.ZodType = schema;
      while (inner instanceof z.ZodDefault || inner instanceof z.ZodPrefault || inner instanceof z.ZodOptional) inner = inner.unwrap() as z.ZodType;
      if (inner instanceof z.ZodObject) {
        for (const [key, child] of Object.entries(inner.shape)) walk(child as z.ZodType, path === '' ? key : `${path}.${key}`);
      }
    };
    walk(configSchema, '');
    assert.deepEqual(missing, []);
  });
});

describe('loadConfig precedence: defaults < file < env < flags', () => {
  const file = JSON.stringify({ log: { level: 'warn' }, sip: { t1Ms: 100, t2Ms: 1000, transactionTimeoutMs: 1000, bindPort: 5070 } });
  const env = { MWI_SIP__T2_MS: '2000', MWI_SIP__TRANSACTION_TIMEOUT_MS: '2000' };
  const flags = { 'sip.transactionTimeoutMs': 3000 };

  it('a file value beats the default, env beats the file, a flag beats env', () => {
    const c = load({ configPath: '/etc/mwi.json', readFile: files({ '/etc/mwi.json': file }), env, flags });
    assert.equal(c.sip.maxMessageBytes, 65535, 'default kept');
    assert.equal(c.log.level, 'warn', 'from file');
    assert.equal(c.sip.t1Ms, 100, 'from file');
    assert.equal(c.sip.bindPort, 5070, 'from file');
    assert.equal(c.sip.t2Ms, 2000, 'env over file');
    assert.equal(c.sip.transactionTimeoutMs, 3000, 'flag over env');
  });

  it('finds the file through MWI_CONFIG, and --config wins over MWI_CONFIG', () => {
    const readFile = files({ '/a.json': '{"sip":{"bindPort":1111}}', '/b.json': '{"sip":{"bindPort":2222}}' });
    assert.equal(load({ readFile, env: { MWI_CONFIG: '/a.json' } }).sip.bindPort, 1111);
    assert.equal(load({ readFile, env: { MWI_CONFIG: '/a.json' }, configPath: '/b.json' }).sip.bindPort, 2222);
  });

  it('merges nested objects from different sources key by key', () => {
    const c = load({
      configPath: '/c.json',
      readFile: files({ '/c.json': '{"sip":{"tls":{"caFile":"/ca.pem"}}}' }),
      env: { MWI_SIP__TLS__SERVER_NAME: 'pres.example.com' },
      flags: { 'sip.tls.rejectUnauthorized': false },
    });
    assert.deepEqual(c.sip.tls, { caFile: '/ca.pem', serverName: 'pres.example.com', rejectUnauthorized: false });
  });
});

describe('loadConfig environment', () => {
  it('maps SCREAMING_SNAKE with __ nesting to camelCase paths', () => {
    assert.deepEqual(envNameToPath('MWI_SIP__TRANSACTION_TIMEOUT_MS'), ['sip', 'transactionTimeoutMs']);
    assert.deepEqual(envNameToPath('MWI_SIP__T1_MS'), ['sip', 't1Ms']);
    assert.deepEqual(envNameToPath('MWI_TARGETS__DEFAULT_PUBLISH_TARGET'), ['targets', 'defaultPublishTarget']);
    assert.equal(pathToEnvName(['sip', 'transactionTimeoutMs']), 'MWI_SIP__TRANSACTION_TIMEOUT_MS');
    assert.equal(pathToEnvName(['sip', 't1Ms']), 'MWI_SIP__T1_MS');
    assert.equal(pathToEnvName(['sip', 'auth', 'password']), 'MWI_SIP__AUTH__PASSWORD');
  });

  it('coerces numbers and booleans per the schema and keeps strings as strings', () => {
    const c = load({
      env: {
        MWI_SIP__TRANSACTION_TIMEOUT_MS: '3000',
        MWI_SIP__BIND_PORT: '5060',
        MWI_SIP__TLS__REJECT_UNAUTHORIZED: 'false',
        MWI_SIP__TCP__IDLE_CLOSE_MS: ' 120000 ',
        MWI_SIP__USER_AGENT: '12345',
        MWI_SIP__TLS__CA_FILE: '/etc/ssl/ca.pem',
        MWI_LOG__LEVEL: 'debug',
        MWI_TARGETS__DEFAULT_PUBLISH_TARGET: 'sip:127.0.0.1:5060;transport=udp',
        PATH: '/usr/bin',
      },
    });
    assert.equal(c.sip.transactionTimeoutMs, 3000);
    assert.equal(c.sip.bindPort, 5060);
    assert.equal(c.sip.tls.rejectUnauthorized, false);
    assert.equal(c.sip.tcp.idleCloseMs, 120000);
    assert.equal(c.sip.userAgent, '12345');
    assert.equal(c.sip.tls.caFile, '/etc/ssl/ca.pem', 'a setting named *File is not a secret file');
    assert.equal(c.log.level, 'debug');
    assert.equal(c.targets.defaultPublishTarget, 'sip:127.0.0.1:5060;transport=udp');
  });

  it('accepts the usual boolean words', () => {
    for (const [word, value] of [['true', true], ['1', true], ['YES', true], ['on', true], ['False', false], ['0', false], ['no', false], ['off', false]] as const) {
      assert.equal(load({ env: { MWI_SIP__TLS__REJECT_UNAUTHORIZED: word } }).sip.tls.rejectUnauthorized, value, word);
    }
  });

  it('treats an empty variable as unset', () => {
    assert.equal(load({ env: { MWI_SIP__T1_MS: '', MWI_CONFIG: '' } }).sip.t1Ms, 500);
  });

  it('coerces string flags like env values', () => {
    const c = load({ flags: { 'sip.t1Ms': '250', 'sip.tls.rejectUnauthorized': 'no', 'sip.transport': 'tcp' } });
    assert.equal(c.sip.t1Ms, 250);
    assert.equal(c.sip.tls.rejectUnauthorized, false);
    assert.equal(c.sip.transport, 'tcp');
  });
});

describe('loadConfig errors', () => {
  it('names the field and its bounds: sip.transactionTimeoutMs', () => {
    const err = configError({ env: { MWI_SIP__TRANSACTION_TIMEOUT_MS: '40000' } });
    assert.equal(err.message, 'sip.transactionTimeoutMs must be an integer between 500 and 32000');
    assert.deepEqual(err.details?.['issues'], [{ path: 'sip.transactionTimeoutMs', message: 'must be an integer between 500 and 32000' }]);
  });

  it('reports non-numeric, fractional and below-minimum integers the same way', () => {
    for (const bad of ['abc', '3000ms', '1500.5', '499', '-1']) {
      assert.deepEqual(issuesOf({ env: { MWI_SIP__TRANSACTION_TIMEOUT_MS: bad } }), [
        { path: 'sip.transactionTimeoutMs', message: 'must be an integer between 500 and 32000' },
      ]);
    }
    assert.deepEqual(issuesOf({ flags: { 'sip.transactionTimeoutMs': 1500.5 } }), [
      { path: 'sip.transactionTimeoutMs', message: 'must be an integer between 500 and 32000' },
    ]);
  });

  it('lists every bad field in one error', () => {
    const err = configError({
      env: { MWI_SIP__BIND_PORT: '70000', MWI_LOG__LEVEL: 'loud', MWI_SIP__TRANSPORT: 'sctp' },
      flags: { 'sip.maxMessageBytes': 100, 'sip.tls.rejectUnauthorized': 'maybe' },
    });
    const issues = err.details?.['issues'] as ConfigIssue[];
    assert.deepEqual(
      issues.map((i) => i.path).sort(),
      ['log.level', 'sip.bindPort', 'sip.maxMessageBytes', 'sip.tls.rejectUnauthorized', 'sip.transport'],
    );
    for (const i of issues) assert.ok(err.message.includes(`${i.path} ${i.message}`));
  });

  it('rejects t2Ms below t1Ms with a path on t2Ms', () => {
    assert.deepEqual(issuesOf({ flags: { 'sip.t1Ms': 1000, 'sip.t2Ms': 800 } }), [
      { path: 'sip.t2Ms', message: 'must be greater than or equal to sip.t1Ms' },
    ]);
    assert.equal(load({ flags: { 'sip.t1Ms': 1000, 'sip.t2Ms': 1000 } }).sip.t2Ms, 1000);
  });

  it('runs the t2Ms cross-check alongside other bad fields, but not on a t1Ms that is itself bad', () => {
    assert.deepEqual(issuesOf({ flags: { 'sip.t1Ms': 1000, 'sip.t2Ms': 800, 'sip.bindPort': -1 } }).map((i) => i.path), ['sip.bindPort', 'sip.t2Ms']);
    assert.deepEqual(issuesOf({ flags: { 'sip.t1Ms': 9000, 'sip.t2Ms': 800 } }).map((i) => i.path), ['sip.t1Ms']);
  });

  it('rejects reconnectMaxMs below reconnectBaseMs', () => {
    assert.deepEqual(issuesOf({ flags: { 'sip.tcp.reconnectBaseMs': 5000, 'sip.tcp.reconnectMaxMs': 1000 } }), [
      { path: 'sip.tcp.reconnectMaxMs', message: 'must be greater than or equal to sip.tcp.reconnectBaseMs' },
    ]);
  });

  it('rejects unknown keys in the file, env and flags with their paths', () => {
    const readFile = files({ '/c.json': JSON.stringify({ sip: { transactionTimeout: 3000, tls: { ca: 'x' } }, extra: true }) });
    const paths = issuesOf({ configPath: '/c.json', readFile, env: { MWI_SIP__TRANSACTON_TIMEOUT_MS: '1' }, flags: { 'log.lvl': 'x' } })
      .map((i) => `${i.path} ${i.message}`)
      .sort();
    assert.deepEqual(paths, [
      'extra is not a known setting',
      'log.lvl is not a known setting',
      'sip.tls.ca is not a known setting',
      'sip.transactionTimeout is not a known setting',
      'sip.transactonTimeoutMs is not a known setting',
    ]);
  });

  it('keeps a "__proto__" key as an unknown setting instead of touching prototypes', () => {
    const readFile = files({ '/c.json': '{"sip":{"__proto__":{"t1Ms":1}}}' });
    assert.deepEqual(issuesOf({ configPath: '/c.json', readFile }).map((i) => i.path), ['sip.__proto__']);
    assert.equal(({} as Record<string, unknown>)['t1Ms'], undefined);
  });

  it('rejects a section that is not an object', () => {
    assert.deepEqual(issuesOf({ configPath: '/c.json', readFile: files({ '/c.json': '{"sip":5}' }) }), [{ path: 'sip', message: 'must be an object' }]);
  });

  it('validates hosts, URIs and header values', () => {
    const issues = issuesOf({
      flags: {
        'sip.bindHost': 'not a host',
        'sip.publicHost': '[::1]',
        'targets.defaultPublishTarget': 'http://example.com',
        'sip.fromUri': 'sip:mwi@example.com\r\nX: y',
        'sip.notifySubscriptionState': 'terminated\r\nEvil: 1',
        'sip.userAgent': '',
      },
    });
    assert.deepEqual(issues.map((i) => i.path).sort(), [
      'sip.bindHost',
      'sip.fromUri',
      'sip.notifySubscriptionState',
      'sip.publicHost',
      'sip.userAgent',
      'targets.defaultPublishTarget',
    ]);
    const ok = load({ flags: { 'sip.bindHost': '::1', 'sip.publicHost': 'mwi.example.com', 'targets.defaultPublishTarget': 'sips:pres.example.com' } });
    assert.equal(ok.sip.bindHost, '::1');
    assert.equal(ok.targets.defaultPublishTarget, 'sips:pres.example.com');
    for (const bad of ['sip:host with space', 'sip:a\tb', 'sip:']) {
      assert.deepEqual(issuesOf({ flags: { 'targets.defaultPublishTarget': bad } }).map((i) => i.path), ['targets.defaultPublishTarget']);
    }
  });

  it('reports an unreadable config file naming its path', () => {
    const err = configError({ configPath: '/etc/missing.json' }, ErrorCodes.CONFIG_FILE_UNREADABLE);
    assert.ok(err.message.includes('/etc/missing.json'));
    assert.equal(err.details?.['path'], '/etc/missing.json');
  });

  it('reports invalid JSON naming the path and without quoting the content', () => {
    const readFile = files({ '/c.json': '{ "sip": { "auth": { "password": "hunter2-in-file" } ' });
    const err = configError({ configPath: '/c.json', readFile }, ErrorCodes.CONFIG_FILE_UNREADABLE);
    assert.ok(err.message.includes('/c.json'));
    assert.ok(!JSON.stringify({ message: err.message, details: err.details }).includes('hunter2'));
  });

  it('reports a file that is not a JSON object', () => {
    configError({ configPath: '/c.json', readFile: files({ '/c.json': '[1,2]' }) }, ErrorCodes.CONFIG_FILE_UNREADABLE);
  });
});

describe('loadConfig secrets', () => {
  it('lists the secret paths', () => {
    assert.deepEqual([...SECRET_PATHS], ['sip.auth.password', 'redis.url', 'api.producerToken', 'api.operatorToken', 'api.viewerToken', 'api.sessionSecret', 'sweep.sql.url']);
  });

  it('takes a secret directly from env', () => {
    assert.equal(load({ env: { MWI_SIP__AUTH__PASSWORD: 's3cret' } }).sip.auth.password, 's3cret');
  });

  it('reads a secret from the file named by <VAR>_FILE, stripping one trailing newline', () => {
    const readFile = files({ '/run/secrets/pw': 'from-file\n', '/run/secrets/crlf': 'crlf\r\n', '/run/secrets/two': 'two\n\n' });
    assert.equal(load({ readFile, env: { MWI_SIP__AUTH__PASSWORD_FILE: '/run/secrets/pw' } }).sip.auth.password, 'from-file');
    assert.equal(load({ readFile, env: { MWI_SIP__AUTH__PASSWORD_FILE: '/run/secrets/crlf' } }).sip.auth.password, 'crlf');
    // Only one newline goes; what is left is a control character, which no secret may hold.
    assert.deepEqual(issuesOf({ readFile, env: { MWI_SIP__AUTH__PASSWORD_FILE: '/run/secrets/two' } }).map((i) => i.path), ['sip.auth.password']);
  });

  it('lets a secret file beat the config file and a flag beat the secret file', () => {
    const readFile = files({ '/c.json': '{"sip":{"auth":{"password":"from-config"}}}', '/pw': 'from-secret-file' });
    const env = { MWI_CONFIG: '/c.json', MWI_SIP__AUTH__PASSWORD_FILE: '/pw' };
    assert.equal(load({ readFile, env }).sip.auth.password, 'from-secret-file');
    assert.equal(load({ readFile, env, flags: { 'sip.auth.password': 'from-flag' } }).sip.auth.password, 'from-flag');
  });

  it('rejects a secret set both directly and through _FILE', () => {
    const readFile = files({ '/pw': 'a' });
    assert.deepEqual(issuesOf({ readFile, env: { MWI_SIP__AUTH__PASSWORD: 'b', MWI_SIP__AUTH__PASSWORD_FILE: '/pw' } }).map((i) => i.path), ['sip.auth.password']);
  });

  it('reports an unreadable secret file naming the variable, never any content', () => {
    const readFile = (path: string): string => {
      // A reader whose error carries content must not leak it either.
      throw Object.assign(new Error(`EACCES: permission denied, open '${path}' (content: hunter2)`), { code: 'EACCES' });
    };
    const err = configError({ readFile, env: { MWI_SIP__AUTH__PASSWORD_FILE: '/run/secrets/pw' } }, ErrorCodes.SECRET_UNREADABLE);
    assert.ok(err.message.includes('MWI_SIP__AUTH__PASSWORD_FILE'));
    assert.equal(err.details?.['envVar'], 'MWI_SIP__AUTH__PASSWORD_FILE');
    assert.equal(err.details?.['reason'], 'EACCES');
    assert.equal(err.cause, undefined);
    assert.ok(!JSON.stringify({ message: err.message, stack: err.stack, details: err.details }).includes('hunter2'));
  });

  it('never quotes a rejected secret value in the error', () => {
    const readFile = files({ '/pw': 'hunter2\u0000bad' });
    const err = configError({ readFile, env: { MWI_SIP__AUTH__PASSWORD_FILE: '/pw' } });
    assert.deepEqual((err.details?.['issues'] as ConfigIssue[]).map((i) => i.path), ['sip.auth.password']);
    assert.ok(!JSON.stringify({ message: err.message, details: err.details }).includes('hunter2'));
  });
});
