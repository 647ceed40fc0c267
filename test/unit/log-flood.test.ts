// The log flood guard (src/log-flood.ts) over a recording logger and a FakeClock.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';

import { FakeClock } from '../../src/clock.ts';
import { floodGuard, type LineLog } from '../../src/log-flood.ts';
import { ErrorCodes, MwiError } from '../../src/errors.ts';

type Line = { level: string; msg: string } & Record<string, unknown>;

function recorder(): { log: LineLog; lines: Line[] } {
  const lines: Line[] = [];
  const at = (level: string) => (fields: object, msg: string) => lines.push({ ...(fields as Record<string, unknown>), level, msg });
  return { log: { debug: at('debug'), info: at('info'), warn: at('warn'), error: at('error') }, lines };
}

const PARKED = 'delivery failed permanently; parked until a newer update';

describe('log flood guard', () => {
  it('the first line of a kind goes out; repeats within the interval are counted and summarised once when it ends', () => {
    const clock = new FakeClock();
    const { log, lines } = recorder();
    const g = floodGuard(log, { clock, intervalMs: 60_000 });
    for (let i = 0; i < 50; i++) g.warn({ mailbox: `sip:${i}@pbx`, target: 'sip:ps.test', status: 404 }, PARKED);
    assert.deepEqual(lines, [{ level: 'warn', msg: PARKED, mailbox: 'sip:0@pbx', target: 'sip:ps.test', status: 404 }]);
    clock.advance(59_999);
    assert.equal(lines.length, 1);
    clock.advance(1);
    assert.deepEqual(lines[1], { level: 'warn', msg: PARKED, target: 'sip:ps.test', code: '404', repeated: 49, intervalMs: 60_000 });
    assert.equal(g.size, 0, 'a kind is forgotten once summarised');
    g.warn({ mailbox: 'sip:51@pbx', target: 'sip:ps.test', status: 404 }, PARKED);
    assert.equal(lines.length, 3, 'after the interval the next one goes out in full');
    clock.advance(60_000);
    assert.equal(lines.length, 3, 'no summary without repeats');
  });

  it('kinds differ by message, error code and target, not by mailbox; debug and info pass untouched', () => {
    const clock = new FakeClock();
    const { log, lines } = recorder();
    const g = floodGuard(log, { clock, intervalMs: 1_000 });
    const msg = 'sender threw instead of returning an outcome';
    g.error({ err: new MwiError(ErrorCodes.SIP_TRANSPORT, 'a'), mailbox: 'm1', target: 'sip:a' }, msg);
    g.error({ err: new MwiError(ErrorCodes.SIP_TRANSPORT, 'b'), mailbox: 'm2', target: 'sip:a' }, msg);
    g.error({ err: new MwiError(ErrorCodes.SIP_TIMEOUT, 'c'), mailbox: 'm3', target: 'sip:a' }, msg);
    g.error({ err: new MwiError(ErrorCodes.SIP_TRANSPORT, 'd'), mailbox: 'm4', target: 'sip:b' }, msg);
    g.error({ err: new TypeError('bug'), mailbox: 'm5' }, msg);
    g.warn({ err: new MwiError(ErrorCodes.SIP_TRANSPORT, 'e'), target: 'sip:a' }, 'another message');
    for (let i = 0; i < 3; i++) g.debug({ mailbox: 'm' }, 'delivery failed; retrying later');
    g.info({ x: 1 }, 'i');
    assert.deepEqual(lines.map((l) => [l.level, l.mailbox ?? null]), [['error', 'm1'], ['error', 'm3'], ['error', 'm4'], ['error', 'm5'], ['warn', null], ['debug', 'm'], ['debug', 'm'], ['debug', 'm'], ['info', null]]);
    clock.advance(1_000);
    assert.deepEqual(lines.slice(9), [{ level: 'error', msg, target: 'sip:a', code: ErrorCodes.SIP_TRANSPORT, repeated: 1, intervalMs: 1_000 }]);
  });

  it('memory is bounded: past maxKeys the oldest kind is summarised early and forgotten', () => {
    const clock = new FakeClock();
    const { log, lines } = recorder();
    const g = floodGuard(log, { clock, intervalMs: 60_000, maxKeys: 3 });
    g.warn({ target: 't0' }, 'x');
    g.warn({ target: 't0' }, 'x');
    for (let i = 1; i <= 10; i++) g.warn({ target: `t${i}` }, 'x');
    assert.equal(g.size, 3);
    assert.deepEqual(lines.filter((l) => l.repeated !== undefined), [{ level: 'warn', msg: 'x', target: 't0', repeated: 1, intervalMs: 60_000 }]);
    assert.equal(lines.length, 12);
  });

  it('flush() writes pending summaries (shutdown) and stops the timer', () => {
    const clock = new FakeClock();
    const { log, lines } = recorder();
    const g = floodGuard(log, { clock });
    g.error({ target: 'a', code: 'E' }, 'x');
    g.error({ target: 'a', code: 'E' }, 'x');
    assert.equal(clock.pending, 1);
    g.flush();
    assert.equal(clock.pending, 0);
    assert.deepEqual(lines[1], { level: 'error', msg: 'x', target: 'a', code: 'E', repeated: 1, intervalMs: 60_000 });
  });
});
