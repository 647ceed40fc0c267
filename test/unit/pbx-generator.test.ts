import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { pino } from 'pino';

import type { WireBatchResponse } from '../../src/api/wire-types.ts';
import { MwiClientError } from '../../src/client/mwi-client.ts';
import { FakeClock } from '../../src/clock.ts';
import { formatDemoStatus } from '../../src/demo/demo-status.ts';
import { demoMailboxes, startPbxGenerator } from '../../src/demo/pbx-generator.ts';
import type { WireUpdate } from '../../src/ingest/update-schema.ts';
import { prng } from '../support/prng.ts';

const log = pino({ level: 'silent' });

function accepting(batches: WireUpdate[][]) {
  return {
    updateBatch: (updates: readonly WireUpdate[]): Promise<WireBatchResponse> => {
      batches.push([...updates]);
      return Promise.resolve({ results: updates.map((u, index) => ({ index, status: 202 as const, mailbox: u.mailbox, result: 'applied' as const })) });
    },
  };
}

async function settle(): Promise<void> {
  for (let i = 0; i < 5; i++) await Promise.resolve();
}

describe('demo PBX generator', () => {
  it('posts updates at its rate with valid counts and versions that only grow', async () => {
    const clock = new FakeClock();
    const batches: WireUpdate[][] = [];
    const mailboxes = demoMailboxes(5);
    const gen = startPbxGenerator({ client: accepting(batches), mailboxes, ratePerSec: 20, log, clock, random: prng(1), tickMs: 250 });
    for (let i = 0; i < 40; i++) {
      clock.advance(250);
      await settle();
    }
    await gen.close();
    const all = batches.flat();
    assert.equal(all.length, 200, '10 s at 20 updates/s');
    assert.equal(gen.stats().accepted, 200);
    let last = 0;
    for (const u of all) {
      assert.ok(mailboxes.includes(u.mailbox));
      assert.ok(u.version > last);
      last = u.version;
      const c = u.counts;
      assert.ok(c !== undefined && c.new >= 0 && c.new <= 20 && c.old >= 0);
    }
  });

  it('keeps one request in flight and owes at most one second of updates', async () => {
    const clock = new FakeClock();
    let calls = 0;
    let release: (() => void) | undefined;
    const client = {
      updateBatch: (updates: readonly WireUpdate[]): Promise<WireBatchResponse> => {
        calls++;
        return new Promise((resolve) => {
          release = () => resolve({ results: updates.map((u, index) => ({ index, status: 202 as const, mailbox: u.mailbox, result: 'applied' as const })) });
        });
      },
    };
    const gen = startPbxGenerator({ client, mailboxes: demoMailboxes(3), ratePerSec: 10, log, clock, tickMs: 250 });
    clock.advance(250);
    await settle();
    assert.equal(calls, 1);
    for (let i = 0; i < 40; i++) clock.advance(250);
    await settle();
    assert.equal(calls, 1, 'no second request while one is in flight');
    release?.();
    await settle();
    clock.advance(250);
    await settle();
    assert.equal(calls, 2);
    const closing = gen.close();
    release?.();
    await closing;
    assert.ok(gen.stats().accepted <= 2 + 10 + 3, 'the backlog is capped at one second of updates');
  });

  it('counts failed updates with the error code', async () => {
    const clock = new FakeClock();
    const client = { updateBatch: (): Promise<WireBatchResponse> => Promise.reject(new MwiClientError('MWI_API_UNREACHABLE', 'down', 0)) };
    const gen = startPbxGenerator({ client, mailboxes: demoMailboxes(1), ratePerSec: 4, log, clock, tickMs: 250 });
    clock.advance(250);
    await settle();
    await gen.close();
    assert.deepEqual(gen.stats(), { accepted: 0, failed: 1, lastErrorCode: 'MWI_API_UNREACHABLE' });
  });

  it('refuses an empty mailbox list or a rate of zero', () => {
    assert.throws(() => startPbxGenerator({ client: accepting([]), mailboxes: [], ratePerSec: 1, log }), RangeError);
    assert.throws(() => startPbxGenerator({ client: accepting([]), mailboxes: demoMailboxes(1), ratePerSec: 0, log }), RangeError);
  });
});

describe('demo status line', () => {
  it('reads updates -> PUBLISH -> held mailboxes (pending), and failures when there are any', () => {
    assert.equal(formatDemoStatus({ updates: 1200, failedUpdates: 0, publishes: 310, overloaded: 0, holding: 50, pending: 0 }), 'demo: 1200 updates -> 310 PUBLISH -> simulator holds 50 mailboxes (0 pending)');
    assert.equal(
      formatDemoStatus({ updates: 5, failedUpdates: 3, lastErrorCode: 'MWI_API_TIMEOUT', publishes: 9, overloaded: 4, holding: 5, pending: undefined }),
      'demo: 5 updates -> 9 PUBLISH (4 answered 503) -> simulator holds 5 mailboxes (? pending), 3 updates failed (MWI_API_TIMEOUT)',
    );
  });
});
