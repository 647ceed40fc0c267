// The wire format of an update: every rule with the code and field path a producer gets back.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';

import { ErrorCodes, type ErrorCode } from '../../src/errors.ts';
import { IngestService, type AcceptResult } from '../../src/ingest/ingest-service.ts';
import { isBatchBody, parseWireBatchEnvelope, parseWireUpdate, type IssuePath, type WireUpdate } from '../../src/ingest/update-schema.ts';
import { summaryFromWire, wireFromSummary } from '../../src/ingest/wire-summary.ts';
import { MemorySink, RecordingScheduler, captureLog } from '../support/ingest-fakes.ts';

const VALID: WireUpdate = {
  mailbox: 'sip:1000@pbx.test',
  target: 'sip:127.0.0.1:5060;transport=tcp',
  counts: { new: 2, old: 8, urgentNew: 1, urgentOld: 0 },
  version: 17,
};

function without(key: keyof WireUpdate): Record<string, unknown> {
  const copy: Record<string, unknown> = { ...VALID };
  delete copy[key];
  return copy;
}

function assertIssue(input: unknown, code: ErrorCode, path: IssuePath, what = JSON.stringify(input)): void {
  const r = parseWireUpdate(input);
  assert.equal(r.ok, false, `${what} was accepted`);
  if (r.ok) return;
  assert.deepEqual({ code: r.issue.code, path: r.issue.path }, { code, path }, what);
  assert.ok(r.issue.message.length > 0);
}

const U = ErrorCodes.URI_INVALID;
const V = ErrorCodes.HTTP_VALIDATION;

describe('wire update schema: accepted', () => {
  it('accepts PUBLISH, NOTIFY and default-target updates, and keeps exactly the known fields', () => {
    for (const ok of [
      VALID,
      { ...without('target'), contact: 'sip:1000@10.0.0.9:5062' },
      without('target'),
      { ...VALID, mailbox: 'tel:+4930123456', target: 'sips:ps.example.net' },
      { ...VALID, target: 'sip:ps.example.net;transport=udp;lr' },
    ]) {
      const r = parseWireUpdate(ok);
      assert.ok(r.ok, JSON.stringify(ok));
      assert.deepEqual(r.value, ok);
    }
  });

  it('accepts the bounds: counts 0 and 2^32-1, version 0 and 2^53-1, a 512-character mailbox', () => {
    const max = 0xffff_ffff;
    assert.ok(parseWireUpdate({ ...VALID, counts: { new: max, old: 0, urgentNew: max }, version: 0 }).ok);
    assert.ok(parseWireUpdate({ ...VALID, counts: { new: 0, old: max, urgentOld: max }, version: Number.MAX_SAFE_INTEGER }).ok);
    const mailbox = `sip:${'a'.repeat(512 - 'sip:@pbx.test'.length)}@pbx.test`;
    assert.equal(mailbox.length, 512);
    assert.ok(parseWireUpdate({ ...VALID, mailbox }).ok);
  });

  it('accepts other message classes with or without voice-message counts', () => {
    const fax = { new: 1, old: 0 };
    assert.ok(parseWireUpdate({ ...without('counts'), otherClasses: { 'fax-message': fax } }).ok);
    const both = parseWireUpdate({ ...VALID, otherClasses: { 'fax-message': fax, none: { new: 0, old: 3 } } });
    assert.ok(both.ok);
    assert.deepEqual(summaryFromWire(both.value), {
      counts: { 'voice-message': { new: 2, old: 8, urgentNew: 1, urgentOld: 0 }, 'fax-message': fax, none: { new: 0, old: 3 } },
    });
    assert.deepEqual(wireFromSummary(summaryFromWire(both.value)), { counts: both.value.counts, otherClasses: both.value.otherClasses });
  });

  it('tells a batch ({ updates }) from a single update', () => {
    assert.equal(isBatchBody({ updates: [] }), true);
    assert.equal(isBatchBody(VALID), false);
    assert.equal(isBatchBody([VALID]), false);
    assert.equal(isBatchBody(null), false);
    assert.deepEqual(parseWireBatchEnvelope({ updates: [1, 'x'] }), { ok: true, value: { updates: [1, 'x'] } });
  });
});

describe('wire update schema: refused, with code and path', () => {
  it('mailbox: CR, LF, NUL, DEL, tab, space, <>" and non-ASCII are refused as MWI_URI_INVALID (no SIP header injection)', () => {
    for (const mailbox of [
      'sip:1000@pbx.test\r\nX-Injected: 1',
      'sip:1000@pbx.test\nVia: x',
      'sip:1000@pbx.test\r',
      'sip:10\u000000@pbx.test',
      'sip:1000@pbx.test\u007f',
      'sip:1000@pbx.test\t',
      'sip:1000 @pbx.test',
      'sip:<1000@pbx.test>',
      'sip:1000@pbx.test"',
      'sip:jörg@pbx.test',
      'sip:1000@pbx.test\u2028',
    ]) {
      assertIssue({ ...VALID, mailbox }, U, ['mailbox'], JSON.stringify(mailbox));
    }
  });

  it('mailbox: other schemes, empty, too long are MWI_URI_INVALID; missing or not a string is MWI_HTTP_VALIDATION', () => {
    for (const mailbox of ['http://pbx.test/1000', 'mailto:1000@pbx.test', 'javascript:alert(1)', '1000@pbx.test', 'sip:', '', `sip:${'a'.repeat(509)}`]) {
      assertIssue({ ...VALID, mailbox }, U, ['mailbox'], JSON.stringify(mailbox));
    }
    assertIssue(without('mailbox'), V, ['mailbox']);
    assertIssue({ ...VALID, mailbox: 1000 }, V, ['mailbox']);
    assertIssue({ ...VALID, mailbox: null }, V, ['mailbox']);
  });

  it('target and contact: only sip:/sips: URIs our SIP stack can send to', () => {
    for (const target of [
      'http://ps.test',
      'tel:+4930123',
      'sip:ps.test;transport=sctp',
      'sips:ps.test;transport=udp',
      'sip:ps.test:99999',
      'sip:ps.test\r\nRoute: <sip:evil.test>',
      'sip:ps.test ;transport=tcp',
      'sip:',
      'SIP:ps.test',
    ]) {
      assertIssue({ ...VALID, target }, U, ['target'], JSON.stringify(target));
      assertIssue({ ...without('target'), contact: target }, U, ['contact'], JSON.stringify(target));
    }
    assertIssue({ ...VALID, target: 5060 }, V, ['target']);
  });

  it('target and contact together are refused on contact', () => {
    assertIssue({ ...VALID, contact: 'sip:1000@10.0.0.9' }, V, ['contact']);
  });

  it('counts: negative, fractional, 2^32, strings and unknown fields are refused with the field path', () => {
    const cases: Array<[Record<string, unknown>, IssuePath]> = [
      [{ new: -1, old: 0 }, ['counts', 'new']],
      [{ new: 0x1_0000_0000, old: 0 }, ['counts', 'new']],
      [{ new: 1, old: 2 ** 53 }, ['counts', 'old']],
      [{ new: 1, old: 1.5 }, ['counts', 'old']],
      [{ new: '1', old: 0 }, ['counts', 'new']],
      [{ new: null, old: 0 }, ['counts', 'new']],
      [{ old: 0 }, ['counts', 'new']],
      [{ new: 1, old: 0, urgentNew: -1 }, ['counts', 'urgentNew']],
      [{ new: 1, old: 0, urgentOld: 0x1_0000_0000 }, ['counts', 'urgentOld']],
      [{ new: 1, old: 0, newCount: 3 }, ['counts', 'newCount']],
    ];
    for (const [counts, path] of cases) assertIssue({ ...VALID, counts }, V, path);
    assertIssue({ ...VALID, counts: [1, 2] }, V, ['counts']);
    assertIssue({ ...VALID, counts: 3 }, V, ['counts']);
  });

  it('counts: urgent above its total is refused on the urgent field', () => {
    assertIssue({ ...VALID, counts: { new: 1, old: 5, urgentNew: 2 } }, V, ['counts', 'urgentNew']);
    assertIssue({ ...VALID, counts: { new: 1, old: 5, urgentOld: 6 } }, V, ['counts', 'urgentOld']);
    assertIssue({ ...without('counts'), otherClasses: { 'fax-message': { new: 0, old: 0, urgentNew: 1 } } }, V, ['otherClasses', 'fax-message', 'urgentNew']);
  });

  it('counts: required unless otherClasses names a class; voice-message and unknown classes are not other classes', () => {
    assertIssue(without('counts'), V, ['counts']);
    assertIssue({ ...without('counts'), otherClasses: {} }, V, ['counts']);
    assertIssue({ ...VALID, otherClasses: { 'voice-message': { new: 1, old: 0 } } }, V, ['otherClasses', 'voice-message']);
    assertIssue({ ...VALID, otherClasses: { 'video-message': { new: 1, old: 0 } } }, V, ['otherClasses', 'video-message']);
    assertIssue({ ...VALID, otherClasses: { 'fax-message': { new: 1 } } }, V, ['otherClasses', 'fax-message', 'old']);
  });

  it('version: a safe integer >= 0, required', () => {
    for (const version of [-1, 1.5, 2 ** 53, '7', null, true, 1e300]) assertIssue({ ...VALID, version }, V, ['version'], String(version));
    assertIssue(without('version'), V, ['version']);
  });

  it('unknown top-level fields are refused (a typo never silently drops data)', () => {
    assertIssue({ ...VALID, priority: 'high' }, V, ['priority']);
    assertIssue({ ...VALID, Version: 18 }, V, ['Version']);
  });

  it('a body that is not an object is refused at the root', () => {
    for (const body of [null, undefined, [], [VALID], 'sip:1000@pbx.test', 42, true]) assertIssue(body, V, [], JSON.stringify(body) ?? 'undefined');
  });

  it('messages name the rule and never quote the input', () => {
    const secret = 'sip:1000@pbx.test\r\nX-Secret: hunter2';
    const r = parseWireUpdate({ ...VALID, mailbox: secret, counts: { new: 'hunter2', old: 0 } });
    assert.ok(!r.ok && !r.issue.message.includes('hunter2'));
    const unknown = parseWireUpdate({ ...VALID, hunter2: 1 });
    assert.ok(!unknown.ok && !unknown.issue.message.includes('hunter2'));
  });

  it('the batch envelope: updates must be an array, nothing else beside it', () => {
    const notArray = parseWireBatchEnvelope({ updates: VALID });
    assert.ok(!notArray.ok);
    assert.deepEqual([notArray.issue.code, notArray.issue.path], [V, ['updates']]);
    const extra = parseWireBatchEnvelope({ updates: [], partial: true });
    assert.ok(!extra.ok);
    assert.deepEqual([extra.issue.code, extra.issue.path], [V, ['partial']]);
  });
});

describe('rules IngestService adds: target, batch size', () => {
  function service(opts: { defaultPublishTarget?: string; maxBatchUpdates?: number } = {}) {
    const sink = new MemorySink();
    const ingest = new IngestService({ store: sink, scheduler: new RecordingScheduler(), log: captureLog('fatal').log, maxBatchUpdates: opts.maxBatchUpdates ?? 3, ...opts });
    return { sink, ingest };
  }

  function refusal(r: AcceptResult): { code: string; index: number | undefined; path: IssuePath } {
    assert.ok(r.refused, JSON.stringify(r));
    return { code: r.issue.code, index: r.index, path: r.issue.path };
  }

  it('no target, no contact and no configured default: MWI_NO_TARGET on target', async () => {
    const { sink, ingest } = service();
    assert.deepEqual(refusal(await ingest.accept([without('target')], { partial: false })), { code: ErrorCodes.NO_TARGET, index: 0, path: ['target'] });
    assert.equal(sink.calls.length, 0);
  });

  it('no target, no contact, with a configured default: published to the default', async () => {
    const { sink, ingest } = service({ defaultPublishTarget: 'sip:ps.test:5070;transport=tcp' });
    const r = await ingest.accept([without('target')], { partial: false });
    assert.equal(r.refused, false);
    assert.deepEqual(sink.calls[0]?.[0]?.route, { mode: 'publish', target: 'sip:ps.test:5070;transport=tcp' });
  });

  it('an unusable configured default fails at construction, not per request', () => {
    assert.throws(() => service({ defaultPublishTarget: 'sip:ps.test;transport=sctp' }), (err: unknown) => (err as { code?: string }).code === ErrorCodes.CONFIG_INVALID);
  });

  it('empty batch: MWI_HTTP_VALIDATION on the batch itself', async () => {
    const { ingest } = service();
    assert.deepEqual(refusal(await ingest.accept([], { partial: false })), { code: V, index: undefined, path: [] });
    assert.deepEqual(refusal(await ingest.accept([], { partial: true })), { code: V, index: undefined, path: [] });
  });

  it('batch over api.maxBatchUpdates: MWI_HTTP_BATCH_TOO_LARGE, also in partial mode; at the limit it is accepted', async () => {
    const { sink, ingest } = service({ maxBatchUpdates: 3 });
    const four = [1, 2, 3, 4].map((n) => ({ ...VALID, mailbox: `sip:${n}@pbx.test` }));
    assert.deepEqual(refusal(await ingest.accept(four, { partial: false })), { code: ErrorCodes.HTTP_BATCH_TOO_LARGE, index: undefined, path: [] });
    assert.deepEqual(refusal(await ingest.accept(four, { partial: true })), { code: ErrorCodes.HTTP_BATCH_TOO_LARGE, index: undefined, path: [] });
    assert.equal(sink.calls.length, 0);
    assert.equal((await ingest.accept(four.slice(0, 3), { partial: false })).refused, false);
  });

  it('one bad item refuses the batch, naming the first bad item and its field', async () => {
    const { sink, ingest } = service();
    const batch = [VALID, { ...VALID, counts: { new: 1, old: -1 } }, { ...VALID, version: -1 }];
    assert.deepEqual(refusal(await ingest.accept(batch, { partial: false })), { code: V, index: 1, path: ['counts', 'old'] });
    assert.equal(sink.calls.length, 0);
  });
});
