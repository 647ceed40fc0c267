import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { SerialPerKey } from '../../src/sip/serial-per-key.ts';

const tick = () => new Promise((r) => setImmediate(r));

describe('SerialPerKey', () => {
  it('runs tasks of one key in order, one at a time; a failure does not block the next; the key is forgotten after', async () => {
    const s = new SerialPerKey();
    const log: string[] = [];
    let running = 0;
    const task = (name: string, fail = false) => async () => {
      running++;
      assert.equal(running, 1);
      log.push(`start ${name}`);
      await tick();
      running--;
      log.push(`end ${name}`);
      if (fail) throw new Error(name);
      return name;
    };
    const results = await Promise.allSettled([s.run('k', task('a')), s.run('k', task('b', true)), s.run('k', task('c'))]);
    assert.deepEqual(log, ['start a', 'end a', 'start b', 'end b', 'start c', 'end c']);
    assert.deepEqual(results.map((r) => r.status), ['fulfilled', 'rejected', 'fulfilled']);
    await tick();
    assert.equal(s.size, 0);
  });

  it('runs different keys concurrently', async () => {
    const s = new SerialPerKey();
    let running = 0;
    let peak = 0;
    const task = async () => {
      running++;
      peak = Math.max(peak, running);
      await tick();
      running--;
    };
    await Promise.all(['a', 'b', 'c'].map((k) => s.run(k, task)));
    assert.equal(peak, 3);
  });
});
