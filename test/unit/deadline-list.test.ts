import { test } from 'node:test';
import assert from 'node:assert/strict';
import { FakeClock } from '../../src/clock.ts';
import { DeadlineList, type DeadlineNode } from '../../src/sip/deadline-list.ts';

interface Item extends DeadlineNode {
  name: string;
}

function item(name: string): Item {
  return { name, deadlineAtMs: 0, deadlinePrev: undefined, deadlineNext: undefined, deadlineList: undefined };
}

void test('nodes expire in order, each delayMs after it was added, with one clock timer for all', () => {
  const clock = new FakeClock();
  const expired: Array<[string, number]> = [];
  const t0 = clock.now();
  const list = new DeadlineList<Item>(clock, 1000, (n) => expired.push([n.name, clock.now() - t0]));
  list.add(item('a'));
  clock.advance(300);
  list.add(item('b'));
  list.add(item('c'));
  assert.equal(clock.pending, 1);
  clock.advance(5000);
  assert.deepEqual(expired, [
    ['a', 1000],
    ['b', 1300],
    ['c', 1300],
  ]);
  assert.equal(list.size, 0);
  assert.equal(clock.pending, 0, 'an empty list holds no timer');
});

void test('a removed node never expires; removing the last one clears the timer; remove is idempotent', () => {
  const clock = new FakeClock();
  const expired: string[] = [];
  const list = new DeadlineList<Item>(clock, 1000, (n) => expired.push(n.name));
  const a = item('a');
  const b = item('b');
  list.add(a);
  list.add(b);
  list.remove(a);
  list.remove(a);
  assert.equal(list.size, 1);
  clock.advance(2000);
  assert.deepEqual(expired, ['b']);
  list.add(a);
  list.remove(a);
  assert.equal(clock.pending, 0);
  clock.advance(2000);
  assert.deepEqual(expired, ['b']);
});

void test('a node added again moves to the end with a new deadline; clear() forgets everything', () => {
  const clock = new FakeClock();
  const expired: string[] = [];
  const list = new DeadlineList<Item>(clock, 1000, (n) => expired.push(n.name));
  const a = item('a');
  list.add(a);
  clock.advance(600);
  list.add(item('b'));
  list.add(a);
  clock.advance(500);
  assert.deepEqual(expired, []);
  clock.advance(600);
  assert.deepEqual(expired, ['b', 'a']);
  list.add(item('c'));
  list.clear();
  clock.advance(5000);
  assert.deepEqual(expired, ['b', 'a']);
  assert.equal(clock.pending, 0);
});

void test('a throwing handler does not stop later nodes from expiring', () => {
  const clock = new FakeClock();
  const expired: string[] = [];
  const list = new DeadlineList<Item>(clock, 100, (n) => {
    expired.push(n.name);
    if (n.name === 'a') throw new Error('boom');
  });
  list.add(item('a'));
  clock.advance(50);
  list.add(item('b'));
  assert.throws(() => clock.advance(60), /boom/);
  clock.advance(100);
  assert.deepEqual(expired, ['a', 'b']);
});
