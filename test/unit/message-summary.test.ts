import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { ErrorCodes, isMwiError } from '../../src/errors.ts';
import {
  MAX_MESSAGE_COUNT,
  MESSAGE_CLASSES,
  encodeMessageSummary,
  parseMessageSummary,
} from '../../src/mwi/message-summary.ts';
import type { MessageCounts, MessageSummary, ParseSummaryResult, SummaryProblem } from '../../src/mwi/message-summary.ts';

const RFC_EXAMPLE = 'Messages-Waiting: yes\r\nMessage-Account: sip:alice@vmail.example.com\r\nVoice-Message: 2/8 (0/2)\r\n';

function assertBodyInvalid(fn: () => unknown, problem: SummaryProblem): void {
  assert.throws(fn, (err: unknown) => isMwiError(err, ErrorCodes.BODY_INVALID) && err.details?.['problem'] === problem);
}

function assertRejected(r: ParseSummaryResult, problem: SummaryProblem): void {
  assert.equal(r.ok, false);
  if (r.ok) return;
  assert.equal(r.code, ErrorCodes.BODY_INVALID);
  assert.equal(r.problem, problem);
  assert.ok(r.reason.length > 0);
}

describe('encodeMessageSummary', () => {
  it('produces the RFC 3842 example byte for byte', () => {
    const body = encodeMessageSummary({
      account: 'sip:alice@vmail.example.com',
      counts: { 'voice-message': { new: 2, old: 8, urgentNew: 0, urgentOld: 2 } },
    });
    assert.equal(body, RFC_EXAMPLE);
    assert.deepEqual(Buffer.from(body, 'utf8'), Buffer.from(RFC_EXAMPLE, 'ascii'));
  });

  it('writes the default account (the mailbox) when the summary names none; the summary\'s own wins; a bad one is refused', () => {
    const counts = { 'voice-message': { new: 1, old: 0 } };
    assert.equal(encodeMessageSummary({ counts }, 'sip:100@pbx.test'), 'Messages-Waiting: yes\r\nMessage-Account: sip:100@pbx.test\r\nVoice-Message: 1/0\r\n');
    assert.equal(encodeMessageSummary({ counts, account: 'sip:alice@vmail.test' }, 'sip:100@pbx.test'), 'Messages-Waiting: yes\r\nMessage-Account: sip:alice@vmail.test\r\nVoice-Message: 1/0\r\n');
    assertBodyInvalid(() => encodeMessageSummary({ counts }, 'sip:100@pbx.test\r\nX: y'), 'account');
  });

  it('says "no" without account or classes, still ending in CRLF', () => {
    assert.equal(encodeMessageSummary({ counts: {} }), 'Messages-Waiting: no\r\n');
  });

  it('says "no" when only old messages exist', () => {
    assert.equal(encodeMessageSummary({ counts: { 'voice-message': { new: 0, old: 3 } } }), 'Messages-Waiting: no\r\nVoice-Message: 0/3\r\n');
  });

  it('says "yes" when any class has new messages, and emits classes in a fixed order', () => {
    const body = encodeMessageSummary({
      counts: {
        none: { new: 0, old: 0 },
        'text-message': { new: 0, old: 1 },
        'fax-message': { new: 1, old: 0 },
        'voice-message': { new: 0, old: 0 },
        'multimedia-message': { new: 0, old: 0 },
        'pager-message': { new: 0, old: 0 },
      },
    });
    assert.equal(
      body,
      'Messages-Waiting: yes\r\n' +
        'Voice-Message: 0/0\r\n' +
        'Fax-Message: 1/0\r\n' +
        'Pager-Message: 0/0\r\n' +
        'Multimedia-Message: 0/0\r\n' +
        'Text-Message: 0/1\r\n' +
        'None: 0/0\r\n',
    );
  });

  it('omits the urgent part when no urgent count is given, and fills the missing one with 0', () => {
    assert.equal(encodeMessageSummary({ counts: { 'voice-message': { new: 3, old: 1 } } }), 'Messages-Waiting: yes\r\nVoice-Message: 3/1\r\n');
    assert.equal(encodeMessageSummary({ counts: { 'voice-message': { new: 3, old: 1, urgentNew: 2 } } }), 'Messages-Waiting: yes\r\nVoice-Message: 3/1 (2/0)\r\n');
    assert.equal(encodeMessageSummary({ counts: { 'voice-message': { new: 3, old: 1, urgentOld: 1 } } }), 'Messages-Waiting: yes\r\nVoice-Message: 3/1 (0/1)\r\n');
  });

  it('accepts sips: and tel: accounts', () => {
    assert.match(encodeMessageSummary({ account: 'sips:bob@example.com', counts: {} }), /\r\nMessage-Account: sips:bob@example.com\r\n$/);
    assert.match(encodeMessageSummary({ account: 'tel:+15551234567', counts: {} }), /\r\nMessage-Account: tel:\+15551234567\r\n$/);
  });

  it('accepts 2^32-1 and rejects 2^32, negative and fractional counts', () => {
    assert.equal(
      encodeMessageSummary({ counts: { 'voice-message': { new: MAX_MESSAGE_COUNT, old: MAX_MESSAGE_COUNT } } }),
      'Messages-Waiting: yes\r\nVoice-Message: 4294967295/4294967295\r\n',
    );
    for (const bad of [2 ** 32, -1, 1.5, Number.NaN, Number.POSITIVE_INFINITY]) {
      assertBodyInvalid(() => encodeMessageSummary({ counts: { 'voice-message': { new: bad, old: 0 } } }), 'count-range');
      assertBodyInvalid(() => encodeMessageSummary({ counts: { 'fax-message': { new: 0, old: bad } } }), 'count-range');
    }
    assertBodyInvalid(() => encodeMessageSummary({ counts: { 'voice-message': { new: 1, old: 0, urgentNew: -1 } } }), 'count-range');
  });

  it('rejects urgent counts above their totals', () => {
    assertBodyInvalid(() => encodeMessageSummary({ counts: { 'voice-message': { new: 1, old: 5, urgentNew: 2, urgentOld: 0 } } }), 'urgent-exceeds-total');
    assertBodyInvalid(() => encodeMessageSummary({ counts: { 'voice-message': { new: 1, old: 1, urgentOld: 2 } } }), 'urgent-exceeds-total');
  });

  it('rejects accounts with CR, LF, control characters, spaces or a non-SIP/tel scheme', () => {
    for (const account of [
      'sip:alice@example.com\r\nVoice-Message: 9/9',
      'sip:alice@example.com\n',
      'sip:al\u0000ice@example.com',
      'sip:al\u007fice@example.com',
      'sip:alice @example.com',
      'sip:<alice@example.com>',
      'mailto:alice@example.com',
      'alice@example.com',
      'sip:',
      '',
    ]) {
      assertBodyInvalid(() => encodeMessageSummary({ account, counts: {} }), 'account');
    }
  });
});

describe('parseMessageSummary', () => {
  it('parses the RFC 3842 example', () => {
    assert.deepEqual(parseMessageSummary(RFC_EXAMPLE), {
      ok: true,
      messagesWaiting: true,
      value: {
        account: 'sip:alice@vmail.example.com',
        counts: { 'voice-message': { new: 2, old: 8, urgentNew: 0, urgentOld: 2 } },
      },
    });
  });

  it('ignores message headers after the blank line (opt-msg-headers)', () => {
    const body =
      'Messages-Waiting: yes\r\nMessage-Account: sip:alice@vmail.example.com\r\nVoice-Message: 4/8 (1/2)\r\n' +
      '\r\nTo: <alice@atlanta.example.com>\r\nFrom: <bob@biloxi.example.com>\r\nSubject: carpool tomorrow?\r\n' +
      'Voice-Message: not counts\r\n';
    const r = parseMessageSummary(body);
    assert.deepEqual(r, {
      ok: true,
      messagesWaiting: true,
      value: { account: 'sip:alice@vmail.example.com', counts: { 'voice-message': { new: 4, old: 8, urgentNew: 1, urgentOld: 2 } } },
    });
  });

  it('is liberal: LF line ends, any header-name case, spacing, no final newline, angle-bracketed account', () => {
    const r = parseMessageSummary('messages-waiting:YES\nmessage-account : <sip:a@b>\nVOICE-MESSAGE:  1 / 2 ( 0 / 1 )\nfax-message: 0/0');
    assert.deepEqual(r, {
      ok: true,
      messagesWaiting: true,
      value: {
        account: 'sip:a@b',
        counts: { 'voice-message': { new: 1, old: 2, urgentNew: 0, urgentOld: 1 }, 'fax-message': { new: 0, old: 0 } },
      },
    });
  });

  it('ignores unknown header lines such as extension classes', () => {
    const r = parseMessageSummary('Messages-Waiting: no\r\nVideo-Message: 1/1\r\nX-Vendor: whatever\r\nVoice-Message: 0/1\r\n');
    assert.deepEqual(r, { ok: true, messagesWaiting: false, value: { counts: { 'voice-message': { new: 0, old: 1 } } } });
  });

  it('reports Messages-Waiting as sent even when it contradicts the counts', () => {
    const r = parseMessageSummary('Messages-Waiting: no\r\nVoice-Message: 3/0\r\n');
    assert.ok(r.ok);
    assert.equal(r.messagesWaiting, false);
    assert.deepEqual(r.value.counts['voice-message'], { new: 3, old: 0 });
  });

  it('joins folded header lines', () => {
    const r = parseMessageSummary('Messages-Waiting: yes\r\nVoice-Message: 1/2\r\n (0/1)\r\n');
    assert.ok(r.ok);
    assert.deepEqual(r.value.counts['voice-message'], { new: 1, old: 2, urgentNew: 0, urgentOld: 1 });
  });

  it('rejects a missing or invalid status line', () => {
    for (const body of ['', '\r\n', 'Voice-Message: 1/2\r\n', 'Messages-Waiting: maybe\r\n', 'Messages-Waiting\r\n', 'garbage', 'Message-Account: sip:a@b\r\nMessages-Waiting: yes\r\n']) {
      assertRejected(parseMessageSummary(body), 'status-line');
    }
  });

  it('accepts 2^32-1 and rejects 2^32 in any count', () => {
    const max = parseMessageSummary(`Messages-Waiting: yes\r\nVoice-Message: ${MAX_MESSAGE_COUNT}/${MAX_MESSAGE_COUNT} (${MAX_MESSAGE_COUNT}/0)\r\n`);
    assert.ok(max.ok);
    assert.deepEqual(max.value.counts['voice-message'], { new: MAX_MESSAGE_COUNT, old: MAX_MESSAGE_COUNT, urgentNew: MAX_MESSAGE_COUNT, urgentOld: 0 });
    for (const line of ['4294967296/0', '0/4294967296', '4294967296/4294967296 (4294967296/0)', '99999999999999999999999/0']) {
      assertRejected(parseMessageSummary(`Messages-Waiting: yes\r\nVoice-Message: ${line}\r\n`), 'count-range');
    }
  });

  it('rejects negative, fractional and malformed counts', () => {
    for (const line of ['-1/0', '1.5/0', '1/', '/1', '1/2 (0/1', '1/2 (0)', 'a/b', '1/2 3', '']) {
      assertRejected(parseMessageSummary(`Messages-Waiting: yes\r\nVoice-Message: ${line}\r\n`), 'counts-syntax');
    }
  });

  it('rejects urgent counts above their totals', () => {
    assertRejected(parseMessageSummary('Messages-Waiting: yes\r\nVoice-Message: 1/2 (2/0)\r\n'), 'urgent-exceeds-total');
    assertRejected(parseMessageSummary('Messages-Waiting: yes\r\nVoice-Message: 1/2 (0/3)\r\n'), 'urgent-exceeds-total');
  });

  it('rejects duplicate class, status and account lines (case-insensitively)', () => {
    assertRejected(parseMessageSummary('Messages-Waiting: yes\r\nVoice-Message: 1/2\r\nvoice-message: 1/2\r\n'), 'duplicate-line');
    assertRejected(parseMessageSummary('Messages-Waiting: yes\r\nMessages-Waiting: yes\r\n'), 'duplicate-line');
    assertRejected(parseMessageSummary('Messages-Waiting: yes\r\nMessage-Account: sip:a@b\r\nMessage-Account: sip:a@b\r\n'), 'duplicate-line');
  });

  it('rejects a bad account and a line that is not a header', () => {
    assertRejected(parseMessageSummary('Messages-Waiting: yes\r\nMessage-Account: mailto:a@b\r\n'), 'account');
    assertRejected(parseMessageSummary('Messages-Waiting: yes\r\nno colon here\r\n'), 'malformed-line');
  });
});

const countArb = fc.integer({ min: 0, max: MAX_MESSAGE_COUNT });

const countsArb: fc.Arbitrary<MessageCounts> = fc
  .record({ new: countArb, old: countArb, urgent: fc.option(fc.tuple(fc.option(countArb, { nil: undefined }), fc.option(countArb, { nil: undefined })), { nil: undefined }) })
  .map(({ new: n, old: o, urgent }) => {
    const c: MessageCounts = { new: n, old: o };
    if (urgent?.[0] !== undefined) c.urgentNew = urgent[0] % (n + 1);
    if (urgent?.[1] !== undefined) c.urgentOld = urgent[1] % (o + 1);
    return c;
  });

const accountArb = fc.oneof(
  fc.constant(undefined),
  fc
    .tuple(fc.constantFrom('sip:', 'sips:', 'tel:', 'SIP:'), fc.string({ unit: fc.constantFrom(...'abcXYZ019@.:;=+-_~%!*'.split('')), minLength: 1, maxLength: 30 }))
    .map(([scheme, rest]) => scheme + rest),
);

const summaryArb: fc.Arbitrary<MessageSummary> = fc
  .record({
    account: accountArb,
    counts: fc.record(Object.fromEntries(MESSAGE_CLASSES.map((c) => [c, countsArb])) as Record<(typeof MESSAGE_CLASSES)[number], fc.Arbitrary<MessageCounts>>, {
      requiredKeys: [],
    }),
  })
  .map(({ account, counts }) => (account === undefined ? { counts } : { account, counts }));

/** What the parser should give back: urgent counts complete when either was given. */
function normalized(s: MessageSummary): MessageSummary {
  const counts: MessageSummary['counts'] = {};
  for (const cls of MESSAGE_CLASSES) {
    const c = s.counts[cls];
    if (c === undefined) continue;
    counts[cls] =
      c.urgentNew === undefined && c.urgentOld === undefined
        ? { new: c.new, old: c.old }
        : { new: c.new, old: c.old, urgentNew: c.urgentNew ?? 0, urgentOld: c.urgentOld ?? 0 };
  }
  return s.account === undefined ? { counts } : { account: s.account, counts };
}

describe('message-summary properties', () => {
  it('encode then parse gives the summary back, with Messages-Waiting iff some new > 0', () => {
    fc.assert(
      fc.property(summaryArb, (s) => {
        const r = parseMessageSummary(encodeMessageSummary(s));
        assert.ok(r.ok, r.ok ? '' : r.reason);
        assert.deepEqual(r.value, normalized(s));
        assert.equal(r.messagesWaiting, Object.values(s.counts).some((c) => c.new > 0));
      }),
      { numRuns: 500 },
    );
  });

  it('every encoded line ends in CRLF and there is no bare CR or LF', () => {
    fc.assert(
      fc.property(summaryArb, (s) => {
        const body = encodeMessageSummary(s);
        assert.ok(body.endsWith('\r\n'));
        const lines = body.split('\r\n');
        assert.equal(lines.pop(), '');
        for (const line of lines) {
          assert.ok(line.length > 0);
          assert.doesNotMatch(line, /[\r\n]/);
          assert.match(line, /^(?:Messages-Waiting|Message-Account|Voice-Message|Fax-Message|Pager-Message|Multimedia-Message|Text-Message|None): /);
        }
      }),
      { numRuns: 500 },
    );
  });

  it('parse never throws on arbitrary strings', () => {
    fc.assert(
      fc.property(fc.oneof(fc.string(), fc.string({ unit: 'binary' }), fc.string({ unit: fc.constantFrom('\r', '\n', ' ', ':', '/', '(', ')', '0', '9', 'a') })), (text) => {
        const r = parseMessageSummary(text);
        assert.equal(typeof r.ok, 'boolean');
      }),
      { numRuns: 2000 },
    );
  });

  it('parse never throws on mutated valid bodies, and an accepted body respects the bounds', () => {
    const mutatedArb = fc
      .tuple(summaryArb, fc.array(fc.tuple(fc.nat(), fc.nat({ max: 3 }), fc.string({ maxLength: 4 })), { maxLength: 6 }))
      .map(([s, edits]) => {
        let body = encodeMessageSummary(s);
        for (const [at, deleteCount, insert] of edits) {
          const i = body.length === 0 ? 0 : at % body.length;
          body = body.slice(0, i) + insert + body.slice(i + deleteCount);
        }
        return body;
      });
    fc.assert(
      fc.property(mutatedArb, (text) => {
        const r = parseMessageSummary(text);
        if (!r.ok) return;
        for (const c of Object.values(r.value.counts)) {
          for (const n of [c.new, c.old, c.urgentNew ?? 0, c.urgentOld ?? 0]) {
            assert.ok(Number.isInteger(n) && n >= 0 && n <= MAX_MESSAGE_COUNT);
          }
          assert.ok((c.urgentNew ?? 0) <= c.new && (c.urgentOld ?? 0) <= c.old);
        }
      }),
      { numRuns: 2000 },
    );
  });

  it('encode rejects out-of-range counts with BODY_INVALID and never emits them', () => {
    const badArb = fc.oneof(
      fc.integer({ min: MAX_MESSAGE_COUNT + 1, max: Number.MAX_SAFE_INTEGER }),
      fc.integer({ min: Number.MIN_SAFE_INTEGER, max: -1 }),
      fc.double({ noInteger: true }),
    );
    fc.assert(
      fc.property(badArb, fc.constantFrom(...MESSAGE_CLASSES), fc.boolean(), (bad, cls, inNew) => {
        const counts = inNew ? { new: bad, old: 0 } : { new: 0, old: bad };
        assertBodyInvalid(() => encodeMessageSummary({ counts: { [cls]: counts } }), 'count-range');
      }),
    );
  });
});
