import assert from 'node:assert/strict';
import { describe, it } from 'node:test';

import { ReplyError } from 'ioredis';

import { ErrorCodes, isMwiError } from '../../src/errors.ts';
import { isRedisUnavailable, withRedis } from '../../src/store/redis-unavailable.ts';

const Reply = ReplyError as new (message: string) => Error;

describe('Redis error mapping', () => {
  it('treats lost connections, timeouts and transient server replies as unavailable', () => {
    for (const err of [
      new Error("Stream isn't writeable and enableOfflineQueue options is false"),
      new Error('Connection is closed.'),
      new Error('Command timed out'),
      Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:1'), { code: 'ECONNREFUSED' }),
      new Reply('LOADING Redis is loading the dataset in memory'),
      new Reply('READONLY You can\'t write against a read only replica.'),
      new Reply('BUSY Redis is busy running a script.'),
      new Reply('OOM command not allowed when used memory > \'maxmemory\'.'),
    ]) {
      assert.equal(isRedisUnavailable(err), true, err.message);
    }
  });

  it('lets script bugs, wrong types and our own TypeErrors through', () => {
    for (const err of [new Reply('ERR user_script:1: Script attempted to access nonexistent global variable'), new Reply('WRONGTYPE Operation against a key holding the wrong kind of value'), new TypeError('x'), new RangeError('y'), 'a string']) {
      assert.equal(isRedisUnavailable(err), false, String(err));
    }
  });

  it('withRedis rethrows unavailability as retryable MWI_REDIS_UNAVAILABLE with the cause, other errors unchanged', async () => {
    const cause = new Error('Connection is closed.');
    await assert.rejects(withRedis('get', () => Promise.reject(cause)), (err: unknown) => isMwiError(err, ErrorCodes.REDIS_UNAVAILABLE) && err.retryable && err.cause === cause && err.details?.['operation'] === 'get');
    const bug = new Reply('WRONGTYPE Operation against a key holding the wrong kind of value');
    await assert.rejects(withRedis('get', () => Promise.reject(bug)), (err: unknown) => err === bug);
    assert.equal(await withRedis('get', () => Promise.resolve(3)), 3);
  });
});
