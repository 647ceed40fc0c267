import assert from 'node:assert/strict';
import { describe, it } from 'node:test';

import { ErrorCodes, MwiError } from '../../src/errors.ts';
import { retryWhileRedisStarts } from '../../src/store/startup-retry.ts';

const unavailable = (): MwiError => new MwiError(ErrorCodes.REDIS_UNAVAILABLE, 'not yet', { retryable: true });

function logSink(): { warn: (obj: unknown, msg: string) => void; lines: string[] } {
  const lines: string[] = [];
  return { lines, warn: (_obj, msg) => lines.push(msg) };
}

describe('retryWhileRedisStarts', () => {
  it('runs the step again while Redis is unavailable, logging each failure, until it succeeds', async () => {
    const log = logSink();
    let calls = 0;
    const value = await retryWhileRedisStarts('start the queue', () => (++calls < 3 ? Promise.reject(unavailable()) : Promise.resolve('up')), { log, timeoutMs: 5_000, minDelayMs: 5, maxDelayMs: 10 });
    assert.equal(value, 'up');
    assert.equal(calls, 3);
    assert.deepEqual(log.lines, ['Redis not ready at start (start the queue); trying again', 'Redis not ready at start (start the queue); trying again']);
  });

  it('fails at once on any other error (a bad configuration is not retried)', async () => {
    let calls = 0;
    const bad = new MwiError(ErrorCodes.CONFIG_INVALID, 'bad prefix');
    await assert.rejects(
      retryWhileRedisStarts('connect', () => (calls++, Promise.reject(bad)), { log: logSink(), timeoutMs: 5_000, minDelayMs: 5 }),
      (err: unknown) => err === bad,
    );
    assert.equal(calls, 1);
  });

  it('gives up with the last MWI_REDIS_UNAVAILABLE once the start-up timeout has passed', async () => {
    let calls = 0;
    const started = Date.now();
    await assert.rejects(
      retryWhileRedisStarts('connect', () => (calls++, Promise.reject(unavailable())), { log: logSink(), timeoutMs: 300, minDelayMs: 20, maxDelayMs: 40 }),
      (err: unknown) => err instanceof MwiError && err.code === ErrorCodes.REDIS_UNAVAILABLE,
    );
    const elapsed = Date.now() - started;
    assert.ok(calls >= 3, `retried (${calls} calls)`);
    assert.ok(elapsed >= 250 && elapsed < 2_000, `stopped near the timeout (${elapsed} ms)`);
  });
});
