import assert from 'node:assert/strict';
import { describe, it } from 'node:test';

import { DeliveryPermits } from '../../src/queue/delivery-permits.ts';

const flush = () => new Promise<void>((resolve) => setImmediate(resolve));

describe('DeliveryPermits', () => {
  it('takes up to max once min are free, first come first served, and gives 0 on abort', async () => {
    const permits = new DeliveryPermits(10);
    assert.equal(await permits.take(4), 4);
    assert.equal(await permits.take(100), 6);
    const order: string[] = [];
    const a = permits.take(5, 3).then((n) => (order.push(`a${n}`), n));
    const b = permits.take(1, 1).then((n) => (order.push(`b${n}`), n));
    permits.release(2);
    await flush();
    assert.deepEqual(order, [], 'a waits for 3 and b queues behind it');
    permits.release(2);
    assert.equal(await a, 4);
    await flush();
    assert.deepEqual(order, ['a4'], 'b still waits: every permit is taken');
    permits.release(1);
    assert.equal(await b, 1);
    assert.deepEqual(order, ['a4', 'b1']);
    const stop = new AbortController();
    const c = permits.take(5, 5, stop.signal);
    stop.abort();
    assert.equal(await c, 0);
    assert.equal(await permits.take(1, 1, stop.signal), 0, 'an aborted signal takes nothing');
  });

  it('clamps min to the capacity so a large batch never waits forever', async () => {
    const permits = new DeliveryPermits(3);
    assert.equal(await permits.take(500, 500), 3);
    permits.release(3);
    assert.equal(permits.free, 3);
    assert.throws(() => new DeliveryPermits(0), RangeError);
  });
});
