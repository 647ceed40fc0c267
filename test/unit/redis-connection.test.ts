import assert from 'node:assert/strict';
import { describe, it } from 'node:test';

import { Cluster, Redis } from 'ioredis';

import { loadConfig, type ConfigIssue } from '../../config/load.ts';
import { ErrorCodes, isMwiError } from '../../src/errors.ts';
import { maskUrlCredentials } from '../../src/log.ts';
import { createRedisConnection, duplicateConnection, parseRedisUrl, redisUrlProblem } from '../../src/store/redis-connection.ts';

const noFiles = (): string => {
  throw new Error('no files');
};

function urlIssues(url: string): ConfigIssue[] {
  try {
    loadConfig({ env: { MWI_REDIS__URL: url }, readFile: noFiles });
  } catch (err) {
    assert.ok(isMwiError(err, ErrorCodes.CONFIG_INVALID), String(err));
    return err.details?.['issues'] as ConfigIssue[];
  }
  return [];
}

describe('parseRedisUrl', () => {
  it('keeps redis:// and rediss:// URLs whole, for ioredis to read', () => {
    assert.deepEqual(parseRedisUrl('redis://:pw@127.0.0.1:6379/2'), { kind: 'single', url: 'redis://:pw@127.0.0.1:6379/2' });
    assert.deepEqual(parseRedisUrl('rediss://user:pw@redis.example:6380'), { kind: 'single', url: 'rediss://user:pw@redis.example:6380' });
  });

  it('reads a Sentinel URL: sentinels, master name, data-node credentials and the sentinel password', () => {
    assert.deepEqual(parseRedisUrl('redis+sentinel://app:p%40ss@10.0.0.1:26379,sentinel-b.example:26380,[::1]:26381/mymaster?sentinelPassword=s%26cret'), {
      kind: 'sentinel',
      sentinels: [
        { host: '10.0.0.1', port: 26379 },
        { host: 'sentinel-b.example', port: 26380 },
        { host: '::1', port: 26381 },
      ],
      masterName: 'mymaster',
      username: 'app',
      password: 'p@ss',
      sentinelPassword: 's&cret',
    });
  });

  it('defaults a sentinel port to 26379 and a cluster port to 6379; no userinfo means no credentials', () => {
    assert.deepEqual(parseRedisUrl('redis+sentinel://s1,s2/primary'), { kind: 'sentinel', sentinels: [{ host: 's1', port: 26379 }, { host: 's2', port: 26379 }], masterName: 'primary' });
    assert.deepEqual(parseRedisUrl('redis+cluster://n1,n2:7001/'), { kind: 'cluster', nodes: [{ host: 'n1', port: 6379 }, { host: 'n2', port: 7001 }] });
  });

  it('reads a cluster URL with a password only, and one whose password holds an unescaped "@"', () => {
    assert.deepEqual(parseRedisUrl('redis+cluster://:pw@127.0.0.1:7000,127.0.0.1:7001'), {
      kind: 'cluster',
      nodes: [
        { host: '127.0.0.1', port: 7000 },
        { host: '127.0.0.1', port: 7001 },
      ],
      password: 'pw',
    });
    assert.equal((parseRedisUrl('redis+cluster://:a@b@h:1') as { password?: string }).password, 'a@b');
  });

  const invalid: Array<[string, RegExp]> = [
    ['http://127.0.0.1:6379', /must be a redis:\/\/ or rediss:\/\/ URL, redis\+sentinel:\/\//],
    ['redis+sentinel://127.0.0.1:26379', /must name the Sentinel master group as the path/],
    ['redis+sentinel://127.0.0.1:26379/', /must name the Sentinel master group/],
    ['redis+sentinel://127.0.0.1:26379/a/b', /must name the Sentinel master group/],
    ['redis+sentinel://h:1/m?db=2', /may only have the parameters sentinelPassword and sentinelUsername/],
    ['redis+sentinel://h:1/m?sentinelPassword=', /must not have an empty sentinelPassword/],
    ['redis+cluster://h:1/0', /must not have a path/],
    ['redis+cluster://h:1?x=1', /must not have \?parameters/],
    ['redis+cluster://', /must name at least one host:port/],
    ['redis+cluster://:pw@', /must name at least one host:port/],
    ['redis+cluster://h:1,,h:2', /must not have an empty entry/],
    ['redis+cluster://h:0', /must have a port between 1 and 65535 after host 1 of the list/],
    ['redis+cluster://h:1,h:65536', /must have a port between 1 and 65535 after host 2 of the list/],
    ['redis+cluster://h:1,h:abc', /must have a port between 1 and 65535 after host 2/],
    ['redis+cluster://bad_host:1', /must have a host name or IP address/],
    ['redis+cluster://::1:7000', /must have a host name or IP address \(IPv6 in brackets\)/],
    ['redis+cluster://[::1:7000', /unclosed \[/],
    ['redis+cluster://[10.0.0.1]:7000', /must have an IPv6 address between the brackets/],
    ['redis+cluster://secret@h:1', /must give credentials as user:password@ or :password@/],
    ['redis+cluster://u:@h:1', /must not have an empty password/],
    ['redis+cluster://:%zz@h:1', /badly percent-encoded/],
    ['redis+cluster://h:1#frag', /must not have a #fragment/],
    ['redis+cluster://h:1, h:2', /must not contain whitespace/],
  ];
  for (const [url, reason] of invalid) {
    it(`refuses ${url} with a reason`, () => {
      assert.match(redisUrlProblem(url) ?? '', reason);
      assert.throws(() => parseRedisUrl(url), (err: unknown) => isMwiError(err, ErrorCodes.CONFIG_INVALID) && err.message.startsWith('redis.url '));
    });
  }

  it('never quotes the URL in a reason (it may hold a password)', () => {
    for (const url of ['redis+cluster://:hunter2@bad_host:1', 'redis+sentinel://:hunter2@h:1/', 'redis+cluster://hunter2@h:1', 'redis+cluster://:hunter2@h:99999']) {
      assert.doesNotMatch(redisUrlProblem(url) ?? 'no problem found', /hunter2|bad_host/);
    }
  });
});

describe('redis.url in the configuration', () => {
  it('accepts the Sentinel and cluster forms', () => {
    for (const url of ['redis+sentinel://:pw@h1:1,h2:2/mymaster?sentinelPassword=x', 'redis+cluster://h1:7000,h2:7001', 'redis://127.0.0.1:6379']) {
      assert.equal(loadConfig({ env: { MWI_REDIS__URL: url }, readFile: noFiles }).redis.url, url);
    }
  });

  it('refuses a bad one under its field path with the reason, CONFIG_INVALID, without the value', () => {
    const issues = urlIssues('redis+sentinel://:hunter2@h1:1,h2:2');
    assert.equal(issues.length, 1);
    assert.equal(issues[0]?.path, 'redis.url');
    assert.match(issues[0]?.message ?? '', /must name the Sentinel master group/);
    assert.doesNotMatch(JSON.stringify(issues), /hunter2/);
  });
});

describe('maskUrlCredentials on the new forms', () => {
  it('masks the data password and the sentinel password', () => {
    assert.equal(maskUrlCredentials('redis+sentinel://:s3cret@h1:1,h2:2/mymaster'), 'redis+sentinel://:***@h1:1,h2:2/mymaster');
    assert.equal(maskUrlCredentials('redis+sentinel://app:s3cret@h1:1,h2:2/mymaster?sentinelPassword=t0p'), 'redis+sentinel://app:***@h1:1,h2:2/mymaster?sentinelPassword=***');
    assert.equal(maskUrlCredentials('redis+sentinel://h1:1/m?sentinelUsername=u&sentinelPassword=t0p'), 'redis+sentinel://h1:1/m?sentinelUsername=u&sentinelPassword=***');
    assert.equal(maskUrlCredentials('redis+cluster://:s3cret@h1:7000,h2:7001'), 'redis+cluster://:***@h1:7000,h2:7001');
  });
});

describe('createRedisConnection', () => {
  const options = { lazyConnect: true, enableOfflineQueue: false, maxRetriesPerRequest: 1, commandTimeout: 1000, connectTimeout: 2000, enableAutoPipelining: true, retryStrategy: (times: number) => times * 7 };

  it('a single server: a Redis client with the options as given', () => {
    const c = createRedisConnection('redis://:pw@127.0.0.1:6390/3', options);
    assert.ok(c instanceof Redis);
    assert.equal(c.options.port, 6390);
    assert.equal(c.options.db, 3);
    assert.equal(c.options.password, 'pw');
    assert.equal(c.options.enableOfflineQueue, false);
    c.disconnect();
  });

  it('a Sentinel URL: a Redis client that asks the sentinels for the master, with the data and sentinel passwords', () => {
    const c = createRedisConnection('redis+sentinel://:pw@127.0.0.1:26390,127.0.0.1:26391/mymaster?sentinelPassword=sp', options);
    assert.ok(c instanceof Redis);
    assert.deepEqual(c.options.sentinels, [
      { host: '127.0.0.1', port: 26390 },
      { host: '127.0.0.1', port: 26391 },
    ]);
    assert.equal(c.options.name, 'mymaster');
    assert.equal(c.options.password, 'pw');
    assert.equal(c.options.sentinelPassword, 'sp');
    assert.equal(c.options.maxRetriesPerRequest, 1);
    assert.equal(c.options.commandTimeout, 1000);
    c.disconnect();
  });

  it('a cluster URL: a Cluster whose own options and per-node options carry ours', () => {
    const c = createRedisConnection('redis+cluster://u:pw@127.0.0.1:7390,127.0.0.1:7391', options);
    assert.ok(c instanceof Cluster);
    assert.equal(c.options.enableOfflineQueue, false);
    assert.equal(c.options.enableAutoPipelining, true);
    assert.equal(c.options.lazyConnect, true);
    assert.equal(c.options.clusterRetryStrategy?.(3), 21);
    assert.equal(c.options.slotsRefreshTimeout, 2000, 'a slot-table read may take as long as a connect');
    assert.equal(c.options.redisOptions?.maxRetriesPerRequest, 1);
    assert.equal(c.options.redisOptions?.commandTimeout, 1000);
    assert.equal(c.options.redisOptions?.connectTimeout, 2000);
    assert.equal(c.options.redisOptions?.username, 'u');
    assert.equal(c.options.redisOptions?.password, 'pw');

    // A subscriber or BullMQ connection: new settings, same nodes and credentials.
    const d = duplicateConnection(c, { lazyConnect: true, maxRetriesPerRequest: null, enableOfflineQueue: true });
    assert.ok(d instanceof Cluster);
    assert.equal(d.options.enableOfflineQueue, true);
    assert.equal(d.options.redisOptions?.maxRetriesPerRequest, null);
    assert.equal(d.options.redisOptions?.commandTimeout, 1000);
    assert.equal(d.options.redisOptions?.password, 'pw');
    c.disconnect();
    d.disconnect();
  });

  it('an invalid URL: CONFIG_INVALID before any socket is opened', () => {
    assert.throws(() => createRedisConnection('redis+cluster://h:1/0'), (err: unknown) => isMwiError(err, ErrorCodes.CONFIG_INVALID));
  });
});
