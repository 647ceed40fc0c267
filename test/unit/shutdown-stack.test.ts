import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { pino } from 'pino';

import { ShutdownStack } from '../../src/runtime/shutdown-stack.ts';

const log = pino({ level: 'silent' });

describe('ShutdownStack', () => {
  it('closes in reverse order, giving each step the time left minus what later steps reserve', async () => {
    let now = 1000;
    const stack = new ShutdownStack(log, () => now);
    const calls: Array<[string, number]> = [];
    stack.push({ name: 'redis', reserveMs: 2000, close: (ms) => Promise.resolve(void calls.push(['redis', ms])) });
    stack.push({ name: 'delivery', close: (ms) => { calls.push(['delivery', ms]); now += 3000; return Promise.resolve(); } });
    stack.push({ name: 'api', close: (ms) => Promise.resolve(void calls.push(['api', ms])) });
    assert.equal(await stack.close(10_000), true);
    assert.deepEqual(calls, [['api', 8000], ['delivery', 8000], ['redis', 7000]]);
  });

  it('goes on past a step that fails, reports false, and closes only once', async () => {
    const stack = new ShutdownStack(log);
    const closed: string[] = [];
    stack.push({ name: 'last', close: () => Promise.resolve(void closed.push('last')) });
    stack.push({ name: 'broken', close: () => Promise.reject(new Error('boom')) });
    stack.push({ name: 'unclean', close: () => Promise.resolve(false) });
    const first = stack.close(1000);
    assert.equal(stack.close(1000), first);
    assert.equal(await first, false);
    assert.deepEqual(closed, ['last']);
  });

  it('abandons a step that hangs past its budget and still closes the rest', async () => {
    const stack = new ShutdownStack(log);
    const closed: string[] = [];
    stack.push({ name: 'redis', close: () => Promise.resolve(void closed.push('redis')) });
    stack.push({ name: 'hangs', close: () => new Promise(() => {}) });
    const started = Date.now();
    assert.equal(await stack.close(50), false);
    assert.deepEqual(closed, ['redis']);
    assert.ok(Date.now() - started < 3000);
  });
});
