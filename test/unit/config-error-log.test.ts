import assert from 'node:assert/strict';
import { describe, it } from 'node:test';

import { pino } from 'pino';

import { FakeClock } from '../../src/clock.ts';
import { ConfigErrorLog } from '../../src/queue/config-error-log.ts';

describe('ConfigErrorLog', () => {
  it('logs the first config error of a target, then at most one per interval with the suppressed count', () => {
    const clock = new FakeClock();
    const lines: Array<Record<string, unknown>> = [];
    const log = pino({ level: 'error' }, { write: (s: string) => lines.push(JSON.parse(s) as Record<string, unknown>) });
    const errors = new ConfigErrorLog({ log, clock, intervalMs: 60_000 });
    const report = (target: string, mailbox = 'sip:1@x') => errors.report({ target, mailbox, status: 489, reason: '489 Bad Event', retryAt: clock.now() + 1 });
    assert.equal(report('sip:ps1'), true);
    for (let i = 0; i < 500; i++) assert.equal(report('sip:ps1', `sip:${i}@x`), false);
    assert.equal(report('sip:ps2'), true, 'each target gets its own line');
    clock.advance(60_000);
    assert.equal(report('sip:ps1'), true);
    assert.equal(lines.length, 3);
    assert.deepEqual(
      lines.map((l) => [l.level, l.target, l.status, l.reason, l.suppressed]),
      [
        [50, 'sip:ps1', 489, '489 Bad Event', 0],
        [50, 'sip:ps2', 489, '489 Bad Event', 0],
        [50, 'sip:ps1', 489, '489 Bad Event', 500],
      ],
    );
  });

  it('forgets the oldest targets beyond maxTargets', () => {
    const clock = new FakeClock();
    let lines = 0;
    const errors = new ConfigErrorLog({ log: { error: () => void lines++ }, clock, maxTargets: 2 });
    for (const t of ['a', 'b', 'c', 'a']) errors.report({ target: t, mailbox: 'sip:1@x', reason: 'r', retryAt: 0 });
    assert.equal(lines, 4, '"a" was forgotten when "c" arrived, so it logs again');
  });
});
