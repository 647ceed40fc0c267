import assert from 'node:assert/strict';
import { describe, it } from 'node:test';

import type { Outcome } from '../../src/delivery/outcome.ts';
import { decodeMailboxHash, encodeDesiredState, encodeLastOutcome, MAILBOX_FIELDS as F } from '../../src/store/mailbox-hash.ts';

const SUMMARY = { account: 'sip:vm@pbx.test', counts: { 'voice-message': { new: 2, old: 8, urgentNew: 0, urgentOld: 2 } } };
const ROUTE = { mode: 'publish', target: 'sip:ps.test' } as const;

describe('mailbox hash', () => {
  it('decodes a missing hash as undefined', () => {
    assert.equal(decodeMailboxHash('sip:a@b', {}), undefined);
  });

  it('decodes every field written by the scripts, with versions up to 2^53 - 1 exact', () => {
    const outcome: Outcome = { kind: 'delivered', status: 200, reason: '200 OK', cause: 'response', requests: 1, startedAt: 1000, elapsedMs: 25 };
    const record = decodeMailboxHash('sip:a@b', {
      [F.desiredVersion]: String(Number.MAX_SAFE_INTEGER),
      [F.desiredState]: encodeDesiredState(SUMMARY, ROUTE),
      [F.acceptedAt]: '900',
      [F.deliveredVersion]: '5',
      [F.deliveredSummary]: JSON.stringify(SUMMARY),
      [F.deliveredAt]: '1025',
      [F.etag]: 'e1',
      [F.expiresAt]: '3601025',
      [F.lastAttemptAt]: '1000',
      [F.lastOutcome]: encodeLastOutcome(outcome),
    });
    assert.deepEqual(record, {
      mailbox: 'sip:a@b',
      desired: { summary: SUMMARY, route: ROUTE, version: Number.MAX_SAFE_INTEGER, acceptedAt: 900 },
      delivered: { summary: SUMMARY, version: 5, deliveredAt: 1025 },
      etag: 'e1',
      expiresAt: 3_601_025,
      lastAttemptAt: 1000,
      lastOutcome: { kind: 'delivered', status: 200, reason: '200 OK', at: 1025 },
    });
  });

  it('keeps only kind, status, reason and end time of an outcome, omitting an absent status', () => {
    const outcome: Outcome = { kind: 'retryable', reason: 'timeout', cause: 'timeout', requests: 1, startedAt: 10, elapsedMs: 5, retryAfterMs: 100 };
    assert.deepEqual(JSON.parse(encodeLastOutcome(outcome)), { kind: 'retryable', reason: 'timeout', at: 15 });
  });
});
