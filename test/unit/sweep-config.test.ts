// The sweep's settings: defaults, the cross-checks with sip.publishExpiresSec, the warnings, and
// the tick of the schedule.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';

import { loadConfig } from '../../config/load.ts';
import { ErrorCodes, isMwiError } from '../../src/errors.ts';
import { sweepTickMs } from '../../src/sweep/sweep-queue.ts';
import { sweepConfigWarnings, sweepSettings } from '../../src/sweep/sweep-runtime.ts';
import { FakeClock } from '../../src/clock.ts';
import { TargetHealth } from '../../src/sweep/target-health.ts';

const noFile = (p: string): string => {
  throw new Error(`no file ${p}`);
};
const load = (flags: Record<string, unknown>) => loadConfig({ flags, env: {}, readFile: noFile });

function issues(flags: Record<string, unknown>): string[] {
  try {
    load(flags);
  } catch (err) {
    assert.ok(isMwiError(err, ErrorCodes.CONFIG_INVALID), String(err));
    return (err.details?.issues as Array<{ path: string }>).map((i) => i.path);
  }
  return [];
}

describe('sweep config', () => {
  it('is off by default, sweeping the store every 5 minutes', () => {
    const s = load({}).sweep;
    assert.deepEqual(
      { enabled: s.enabled, intervalSec: s.intervalSec, deadlineSec: s.deadlineSec, pageSize: s.pageSize, refreshMarginSec: s.refreshMarginSec, source: s.source, lockTtlMs: s.lockTtlMs },
      { enabled: false, intervalSec: 300, deadlineSec: 240, pageSize: 1000, refreshMarginSec: 600, source: 'store', lockTtlMs: 30_000 },
    );
  });

  it('keeps Expires at least twice the interval and the margin below Expires, when the sweep is on', () => {
    assert.deepEqual(issues({ 'sweep.enabled': true, 'sweep.intervalSec': 1_900 }), ['sweep.intervalSec']);
    assert.deepEqual(issues({ 'sweep.enabled': true, 'sip.publishExpiresSec': 600, 'sweep.refreshMarginSec': 600 }), ['sweep.refreshMarginSec']);
    assert.deepEqual(issues({ 'sweep.enabled': false, 'sweep.intervalSec': 1_900 }), [], 'not checked while off');
    assert.deepEqual(issues({ 'sweep.enabled': 'maybe', 'sweep.intervalSec': 1_900 }), ['sweep.enabled'], 'only fields that parsed are compared');
  });

  it('needs sweep.sql.url for the sql source and keeps it secret', () => {
    assert.ok(issues({ 'sweep.source': 'sql', 'sweep.sql.mailboxUriTemplate': 'sip:{mailbox}@pbx.test' }).includes('sweep.sql.url'));
    const c = loadConfig({ env: { MWI_SWEEP__SQL__URL_FILE: '/run/secrets/pg' }, readFile: () => 'postgres://u:pw@127.0.0.1/vm\n' });
    assert.equal(c.sweep.sql.url, 'postgres://u:pw@127.0.0.1/vm');
  });

  it('warns when a publication could lapse between two runs', () => {
    assert.deepEqual(sweepConfigWarnings(load({})), []);
    assert.match(sweepConfigWarnings(load({ 'sweep.refreshMarginSec': 100 }))[0] ?? '', /may lapse between two runs/);
  });

  it('gives resync no deadline and routes unknown external mailboxes to the default target', () => {
    const c = load({ 'targets.defaultPublishTarget': 'sip:127.0.0.1:5060' });
    assert.equal(sweepSettings(c, 'resync-all').deadlineMs, Infinity);
    assert.equal(sweepSettings(c).deadlineMs, 240_000);
    assert.deepEqual(sweepSettings(c).defaultRoute, { mode: 'publish', target: 'sip:127.0.0.1:5060' });
  });

  it('ticks at a tenth of the interval, between 1 s and 60 s, never slower than the interval', () => {
    assert.equal(sweepTickMs(1_000), 1_000);
    assert.equal(sweepTickMs(5_000), 1_000);
    assert.equal(sweepTickMs(300_000), 30_000);
    assert.equal(sweepTickMs(86_400_000), 60_000);
  });
});

describe('target health', () => {
  it('probes a target once per recheck interval, counts a throwing probe as down, and keeps a down target down for the run', async () => {
    const clock = new FakeClock();
    const answers: Array<boolean | Error> = [true, new Error('socket closed'), true];
    let probes = 0;
    const downs: string[] = [];
    const health = new TargetHealth({
      clock,
      recheckMs: 1_000,
      onDown: (t, reason) => downs.push(`${t}: ${reason}`),
      prober: {
        probe: () => {
          const a = answers[probes++];
          return a instanceof Error ? Promise.reject(a) : Promise.resolve({ up: a === true, reason: a ? '200 OK' : 'no answer', elapsedMs: 1 });
        },
      },
    });
    await health.check(['sip:ps.test']);
    await health.check(['sip:ps.test']);
    assert.equal(probes, 1, 'not again within the recheck interval');
    clock.advance(1_000);
    await health.recheck();
    assert.deepEqual(health.status('sip:ps.test'), { up: false, reason: 'OPTIONS probe failed: socket closed' });
    clock.advance(1_000);
    await health.recheck();
    assert.equal(probes, 2, 'a down target is not probed again in this run');
    assert.deepEqual(downs, ['sip:ps.test: OPTIONS probe failed: socket closed']);
  });

  it('stops waiting for a hung probe when the run aborts', async () => {
    const stop = new AbortController();
    const health = new TargetHealth({ clock: new FakeClock(), recheckMs: 1_000, prober: { probe: () => new Promise(() => {}) } });
    const checking = health.check(['sip:hung.test'], stop.signal);
    stop.abort();
    await checking;
    assert.equal(health.status('sip:hung.test'), undefined);
  });
});
