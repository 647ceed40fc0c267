import assert from 'node:assert/strict';
import { describe, it } from 'node:test';

import { MicroBatch } from '../../src/store/micro-batch.ts';

/** Lets the current turn end (setImmediate callbacks run). */
const nextTurn = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

describe('MicroBatch', () => {
  it('runs the calls of one turn as one flush, in order, each settling with its own result', async () => {
    const flushed: number[][] = [];
    const batch = new MicroBatch<number, string>({ maxItems: 100, flush: (items) => (flushed.push([...items]), Promise.resolve(items.map((i) => `r${i}`))) });
    const first = [batch.call(1), batch.call(2), batch.call(3)];
    assert.deepEqual(flushed, [], 'nothing is sent before the turn ends');
    assert.deepEqual(await Promise.all(first), ['r1', 'r2', 'r3']);
    const second = batch.call(4);
    await nextTurn();
    assert.equal(await second, 'r4');
    assert.deepEqual(flushed, [[1, 2, 3], [4]]);
  });

  it('flushes at once when maxItems calls are waiting, and only once', async () => {
    const flushed: number[][] = [];
    const batch = new MicroBatch<number, number>({ maxItems: 2, flush: (items) => (flushed.push([...items]), Promise.resolve(items.map((i) => i * 10))) });
    const calls = [1, 2, 3].map((i) => batch.call(i));
    assert.deepEqual(flushed, [[1, 2]], 'the full batch left without waiting for the turn to end');
    assert.deepEqual(await Promise.all(calls), [10, 20, 30]);
    await nextTurn();
    assert.deepEqual(flushed, [[1, 2], [3]]);
  });

  it('a failed flush rejects every call in it, and the next turn starts afresh', async () => {
    let fail = true;
    const batch = new MicroBatch<number, number>({
      maxItems: 10,
      flush: (items) => (fail ? Promise.reject(new Error('redis down')) : Promise.resolve(items.map((i) => i))),
    });
    const results = await Promise.allSettled([batch.call(1), batch.call(2)]);
    assert.deepEqual(results.map((r) => r.status), ['rejected', 'rejected']);
    assert.match(String((results[0] as PromiseRejectedResult).reason), /redis down/);
    fail = false;
    assert.equal(await batch.call(3), 3);
  });

  it('a flush that throws, or returns the wrong number of results, rejects every call', async () => {
    const throwing = new MicroBatch<number, number>({
      maxItems: 10,
      flush: () => {
        throw new TypeError('bug');
      },
    });
    await assert.rejects(throwing.call(1), TypeError);
    const short = new MicroBatch<number, number>({ maxItems: 10, flush: () => Promise.resolve([1]) });
    const results = await Promise.allSettled([short.call(1), short.call(2)]);
    assert.deepEqual(results.map((r) => r.status), ['rejected', 'rejected']);
    assert.match(String((results[1] as PromiseRejectedResult).reason), /a batch of 2 calls returned 1 results/);
  });

  it('with splitOnError, a failed batch is retried one call at a time: only the bad call fails', async () => {
    const flushed: number[][] = [];
    const batch = new MicroBatch<number, number>({
      maxItems: 10,
      flush: (items) => (flushed.push([...items]), items.includes(2) ? Promise.reject(new Error('WRONGTYPE on 2')) : Promise.resolve(items.map((i) => i * 10))),
      splitOnError: (err) => /WRONGTYPE/.test(String(err)),
    });
    const results = await Promise.allSettled([batch.call(1), batch.call(2), batch.call(3)]);
    assert.deepEqual(
      results.map((r) => (r.status === 'fulfilled' ? r.value : 'rejected')),
      [10, 'rejected', 30],
    );
    assert.deepEqual(flushed, [[1, 2, 3], [1], [2], [3]]);
  });

  it('without a matching splitOnError, a failed batch rejects every call and is not retried', async () => {
    let flushes = 0;
    const batch = new MicroBatch<number, number>({ maxItems: 10, flush: () => (flushes++, Promise.reject(new Error('down'))), splitOnError: (err) => /WRONGTYPE/.test(String(err)) });
    const results = await Promise.allSettled([batch.call(1), batch.call(2)]);
    assert.deepEqual(results.map((r) => r.status), ['rejected', 'rejected']);
    assert.equal(flushes, 1);
  });

  it('refuses a maxItems that is not a positive integer', () => {
    assert.throws(() => new MicroBatch({ maxItems: 0, flush: () => Promise.resolve([]) }), RangeError);
    assert.throws(() => new MicroBatch({ maxItems: 1.5, flush: () => Promise.resolve([]) }), RangeError);
  });
});
