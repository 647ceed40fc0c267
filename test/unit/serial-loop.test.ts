import assert from 'node:assert/strict';
import { describe, it } from 'node:test';

import { FakeClock } from '../../src/clock.ts';
import { SerialLoop } from '../../src/serial-loop.ts';

const flush = () => new Promise((resolve) => setImmediate(resolve));

describe('SerialLoop', () => {
  it('runs at once on soon(), then every interval after the previous run ended', async () => {
    const clock = new FakeClock();
    const runs: number[] = [];
    const loop = new SerialLoop(clock, 250, () => {
      runs.push(clock.now());
      return Promise.resolve();
    });
    const t0 = clock.now();
    loop.soon();
    clock.advance(0);
    await flush();
    clock.advance(250);
    await flush();
    clock.advance(250);
    await flush();
    assert.deepEqual(runs.map((t) => t - t0), [0, 250, 500]);
    await loop.stop();
    clock.advance(1_000);
    await flush();
    assert.equal(runs.length, 3, 'no run after stop()');
  });

  it('never runs twice at once: soon() during a run queues exactly one more right after it', async () => {
    const clock = new FakeClock();
    let active = 0;
    let maxActive = 0;
    let runs = 0;
    let release: (() => void) | undefined;
    const loop = new SerialLoop(clock, 10_000, async () => {
      runs++;
      active++;
      maxActive = Math.max(maxActive, active);
      await new Promise<void>((resolve) => (release = resolve));
      active--;
    });
    loop.soon();
    clock.advance(0);
    await flush();
    loop.soon();
    loop.soon();
    release?.();
    await flush();
    clock.advance(0);
    await flush();
    assert.equal(runs, 2);
    assert.equal(maxActive, 1);
    release?.();
    await loop.stop();
  });

  it('keeps going after a failing run', async () => {
    const clock = new FakeClock();
    let runs = 0;
    const loop = new SerialLoop(clock, 100, () => {
      runs++;
      return Promise.reject(new Error('Redis away'));
    });
    loop.soon();
    clock.advance(0);
    await flush();
    clock.advance(100);
    await flush();
    assert.equal(runs, 2);
    await loop.stop();
  });
});
