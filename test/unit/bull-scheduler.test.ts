// BullDeliveryScheduler against a fake queue: coalescing, slot choice, failure and close.
// (Deduplication itself is BullMQ's: pinned against real Redis in test/integration/queue-coalescing.test.ts.)
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';

import { FakeClock } from '../../src/clock.ts';
import { ErrorCodes, isMwiError } from '../../src/errors.ts';
import { BullDeliveryScheduler, type DrainJobQueue } from '../../src/queue/bull-scheduler.ts';

type AddBulkJobs = Parameters<DrainJobQueue['addBulk']>[0];

class FakeQueue implements DrainJobQueue {
  readonly calls: AddBulkJobs[] = [];
  fail: Error | undefined;
  addBulk(jobs: AddBulkJobs): Promise<unknown> {
    this.calls.push(jobs);
    return this.fail ? Promise.reject(this.fail) : Promise.resolve([]);
  }
}

const flush = () => new Promise<void>((resolve) => setImmediate(resolve));

function setup(opts: { slots?: number; batchSize?: number } = {}) {
  const clock = new FakeClock();
  const queue = new FakeQueue();
  const scheduler = new BullDeliveryScheduler({ queue, clock, batchSize: opts.batchSize ?? 100, slots: opts.slots ?? 4, coalesceMs: 5, random: () => 0 });
  return { clock, queue, scheduler };
}

describe('BullDeliveryScheduler', () => {
  it('folds schedule() calls within the coalescing window into one addBulk', async () => {
    const { clock, queue, scheduler } = setup();
    const calls = [scheduler.schedule(['sip:a@x']), scheduler.schedule(['sip:b@x', 'sip:c@x']), scheduler.schedule(['sip:a@x'])];
    await flush();
    assert.equal(queue.calls.length, 0, 'nothing before the window ends');
    clock.advance(5);
    await Promise.all(calls);
    assert.equal(queue.calls.length, 1);
    assert.deepEqual(queue.calls[0], [{ name: 'drain', data: { slot: 0 }, opts: { deduplication: { id: 'drain-0', keepLastIfActive: true }, removeOnComplete: true, removeOnFail: { count: 100 } } }]);
  });

  it('wakes one slot per batchSize mailboxes, round robin, never more than all slots', async () => {
    const { clock, queue, scheduler } = setup({ slots: 4, batchSize: 10 });
    const slotsOf = (i: number) => queue.calls[i]?.map((j) => j.data.slot);
    let p = scheduler.schedule(Array.from({ length: 25 }, (_, i) => `sip:${i}@x`));
    clock.advance(5);
    await p;
    assert.deepEqual(slotsOf(0), [0, 1, 2]);
    p = scheduler.schedule(['sip:1@x']);
    clock.advance(5);
    await p;
    assert.deepEqual(slotsOf(1), [3]);
    p = scheduler.schedule(Array.from({ length: 1000 }, (_, i) => `sip:${i}@x`));
    clock.advance(5);
    await p;
    assert.deepEqual(slotsOf(2), [0, 1, 2, 3]);
    await scheduler.wakeSlot(2);
    assert.deepEqual(slotsOf(3), [2]);
  });

  it('an empty schedule() queues nothing', async () => {
    const { clock, queue, scheduler } = setup();
    await scheduler.schedule([]);
    clock.advance(10);
    assert.equal(queue.calls.length, 0);
  });

  it('rejects every caller of a failed window with MWI_REDIS_UNAVAILABLE; the next window tries again', async () => {
    const { clock, queue, scheduler } = setup();
    queue.fail = new Error("Stream isn't writeable and enableOfflineQueue options is false");
    const a = scheduler.schedule(['sip:a@x']);
    const b = scheduler.schedule(['sip:b@x']);
    clock.advance(5);
    for (const p of [a, b]) await assert.rejects(p, (err: unknown) => isMwiError(err, ErrorCodes.REDIS_UNAVAILABLE) && err.retryable);
    queue.fail = undefined;
    const c = scheduler.schedule(['sip:a@x']);
    clock.advance(5);
    await c;
    assert.equal(queue.calls.length, 2);
  });

  it('close() sends what is pending at once; schedule() afterwards rejects with MWI_QUEUE_CLOSED', async () => {
    const { clock, queue, scheduler } = setup();
    const pending = scheduler.schedule(['sip:a@x']);
    await scheduler.close();
    await pending;
    assert.equal(queue.calls.length, 1);
    assert.equal(clock.pending, 0, 'the coalescing timer is gone');
    await assert.rejects(scheduler.schedule(['sip:a@x']), (err: unknown) => isMwiError(err, ErrorCodes.QUEUE_CLOSED));
  });
});
