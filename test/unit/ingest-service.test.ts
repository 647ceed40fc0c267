// IngestService: one store call per request, all-or-nothing unless partial, and scheduling that
// never fails or holds up an accepted update.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';

import { FakeClock } from '../../src/clock.ts';
import { ErrorCodes, MwiError } from '../../src/errors.ts';
import { IngestService } from '../../src/ingest/ingest-service.ts';
import type { WireUpdate } from '../../src/ingest/update-schema.ts';
import { MemorySink, RecordingScheduler, captureLog } from '../support/ingest-fakes.ts';

function update(n: number, version: number, extra: Partial<WireUpdate> = {}): WireUpdate {
  return { mailbox: `sip:${n}@pbx.test`, contact: `sip:${n}@127.0.0.1:5062`, counts: { new: version % 3, old: 1 }, version, ...extra };
}

function setup(opts: { clock?: FakeClock } = {}) {
  const sink = new MemorySink();
  const scheduler = new RecordingScheduler();
  const captured = captureLog('debug');
  const ingest = new IngestService({ store: sink, scheduler, log: captured.log, maxBatchUpdates: 10, ...(opts.clock ? { clock: opts.clock, scheduleTimeoutMs: 1000 } : {}) });
  return { sink, scheduler, captured, ingest };
}

async function until(cond: () => boolean): Promise<void> {
  for (let i = 0; i < 1000 && !cond(); i++) await new Promise((resolve) => setImmediate(resolve));
  assert.ok(cond(), 'condition not reached');
}

describe('IngestService', () => {
  it('maps a valid batch to ONE applyUpdates call with routes and summaries, results in input order', async () => {
    const { sink, ingest } = setup();
    const r = await ingest.accept([update(1, 5), update(2, 3, { contact: undefined, target: 'sip:ps.test' }), update(1, 4)], { partial: false });
    assert.equal(r.refused, false);
    assert.deepEqual(
      !r.refused && r.items.map((i) => (i.ok ? [i.index, i.mailbox, i.result] : i)),
      [
        [0, 'sip:1@pbx.test', 'applied'],
        [1, 'sip:2@pbx.test', 'applied'],
        [2, 'sip:1@pbx.test', 'stale'],
      ],
    );
    assert.equal(sink.calls.length, 1);
    assert.deepEqual(sink.calls[0]?.[0], { mailbox: 'sip:1@pbx.test', route: { mode: 'notify', contact: 'sip:1@127.0.0.1:5062' }, summary: { counts: { 'voice-message': { new: 2, old: 1 } } }, version: 5 });
    assert.deepEqual(sink.calls[0]?.[1]?.route, { mode: 'publish', target: 'sip:ps.test' });
  });

  it('schedules only the applied mailboxes, each once, after the write', async () => {
    const { scheduler, ingest } = setup();
    await ingest.accept([update(1, 5), update(1, 6), update(2, 1)], { partial: false });
    assert.deepEqual(scheduler.calls, [['sip:1@pbx.test', 'sip:2@pbx.test']]);
    await ingest.accept([update(1, 2), update(2, 1)], { partial: false });
    assert.equal(scheduler.calls.length, 1, 'all stale: nothing to schedule');
  });

  it('partial: valid items are applied in one call, bad ones get their own issue, nothing for an all-bad batch', async () => {
    const { sink, scheduler, ingest } = setup();
    const r = await ingest.accept([update(1, 1), { ...update(2, 1), mailbox: 'sip:2@pbx.test\r\nX: y' }, update(3, 1), 'nonsense'], { partial: true });
    assert.ok(!r.refused);
    assert.deepEqual(
      r.items.map((i) => (i.ok ? i.result : i.issue.code)),
      ['applied', ErrorCodes.URI_INVALID, 'applied', ErrorCodes.HTTP_VALIDATION],
    );
    assert.deepEqual(sink.calls.map((c) => c.map((u) => u.mailbox)), [['sip:1@pbx.test', 'sip:3@pbx.test']]);
    assert.deepEqual(scheduler.calls, [['sip:1@pbx.test', 'sip:3@pbx.test']]);

    const bad = await ingest.accept([{}, null], { partial: true });
    assert.ok(!bad.refused && bad.items.every((i) => !i.ok));
    assert.equal(sink.calls.length, 1, 'no store call without a valid item');
  });

  it('a failing scheduler is logged and the accept still resolves', async () => {
    const { scheduler, captured, ingest } = setup();
    scheduler.mode = 'fail';
    const r = await ingest.accept([update(1, 1)], { partial: false });
    assert.ok(!r.refused && r.items[0]?.ok && r.items[0].result === 'applied');
    assert.ok(captured.records().some((l) => l.level === 'warn' && typeof l.err === 'object'), captured.text());
  });

  it('a hanging scheduler holds the answer for scheduleTimeoutMs at most', async () => {
    const clock = new FakeClock();
    const { scheduler, captured, ingest } = setup({ clock });
    scheduler.mode = 'hang';
    let settled = false;
    const pending = ingest.accept([update(1, 1)], { partial: false }).then((r) => {
      settled = true;
      return r;
    });
    await until(() => clock.pending === 1);
    clock.advance(999);
    await new Promise((resolve) => setImmediate(resolve));
    assert.equal(settled, false);
    clock.advance(1);
    const r = await pending;
    assert.equal(r.refused, false);
    assert.ok(captured.records().some((l) => l.level === 'warn'));
  });

  it('a Redis failure rejects with MWI_REDIS_UNAVAILABLE and schedules nothing', async () => {
    const scheduler = new RecordingScheduler();
    const store = { applyUpdates: () => Promise.reject(new MwiError(ErrorCodes.REDIS_UNAVAILABLE, 'down', { retryable: true })) };
    const ingest = new IngestService({ store, scheduler, log: captureLog('fatal').log, maxBatchUpdates: 10 });
    await assert.rejects(ingest.accept([update(1, 1)], { partial: false }), (err: unknown) => err instanceof MwiError && err.code === ErrorCodes.REDIS_UNAVAILABLE);
    assert.equal(scheduler.calls.length, 0);
  });
});
