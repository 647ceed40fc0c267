// A global pause ending kicks the drains once; anything else (a target pause, a new pause, a
// view that did not change the global scope) kicks nothing; a failed kick is a warning, not a throw.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';

import type { ControlSnapshot, PauseState } from '../../src/control/types.ts';
import { kickOnResume } from '../../src/queue/resume-kick.ts';

function pause(scope: string): PauseState {
  return { scope, reason: 'test', actor: 'alice', since: 0 };
}

function view(...scopes: string[]): ControlSnapshot {
  return { pauses: scopes.map(pause), drain: undefined };
}

function harness(pausedNow: boolean, kick: () => Promise<unknown> = () => Promise.resolve()) {
  let listener: ((s: ControlSnapshot) => void) | undefined;
  const warnings: string[] = [];
  let kicks = 0;
  const off = kickOnResume({
    control: {
      onChange: (l) => {
        listener = l;
        return () => {
          listener = undefined;
        };
      },
    },
    pausedNow,
    kick: () => {
      kicks++;
      return kick();
    },
    log: { warn: (_obj, msg) => warnings.push(msg) },
  });
  return { emit: (s: ControlSnapshot) => listener?.(s), kicks: () => kicks, warnings, off, listening: () => listener !== undefined };
}

describe('kickOnResume', () => {
  it('kicks once when the global pause ends, and again only after another global pause ends', () => {
    const h = harness(true);
    h.emit(view('global', 'sip:ps.test'));
    assert.equal(h.kicks(), 0, 'still paused');
    h.emit(view('sip:ps.test'));
    assert.equal(h.kicks(), 1, 'the global pause ended');
    h.emit(view());
    assert.equal(h.kicks(), 1, 'a target pause ending is not a global resume');
    h.emit(view('global'));
    h.emit(view());
    assert.equal(h.kicks(), 2);
  });

  it('kicks nothing when nothing was paused at start, or when only target pauses come and go', () => {
    const h = harness(false);
    h.emit(view());
    h.emit(view('sip:ps.test'));
    h.emit(view());
    assert.equal(h.kicks(), 0);
  });

  it('a failed kick is logged once as a warning and does not throw', async () => {
    const h = harness(true, () => Promise.reject(new Error('redis down')));
    h.emit(view());
    await new Promise((r) => setImmediate(r));
    assert.equal(h.kicks(), 1);
    assert.deepEqual(h.warnings, ['could not kick the drains after the global pause ended; the periodic kick will']);
  });

  it('stops listening when turned off', () => {
    const h = harness(true);
    h.off();
    assert.equal(h.listening(), false);
  });
});
