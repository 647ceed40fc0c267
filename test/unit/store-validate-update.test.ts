import assert from 'node:assert/strict';
import { describe, it } from 'node:test';

import { ErrorCodes, isMwiError } from '../../src/errors.ts';
import type { ErrorCode } from '../../src/errors.ts';
import type { MailboxUpdate } from '../../src/store/mailbox-state.ts';
import { assertValidUpdate } from '../../src/store/validate-update.ts';

const VALID: MailboxUpdate = {
  mailbox: 'sip:1000@pbx.test',
  route: { mode: 'publish', target: 'sip:127.0.0.1:5060;transport=tcp' },
  summary: { counts: { 'voice-message': { new: 1, old: 2 } } },
  version: 7,
};

function withField(patch: Record<string, unknown>): MailboxUpdate {
  return { ...VALID, ...patch };
}

function assertCode(update: MailboxUpdate, code: ErrorCode): void {
  assert.throws(() => assertValidUpdate(update, 0), (err: unknown) => isMwiError(err, code));
}

describe('assertValidUpdate', () => {
  it('accepts publish and notify routes, version 0 and the largest safe integer', () => {
    assertValidUpdate(VALID, 0);
    assertValidUpdate(withField({ route: { mode: 'notify', contact: 'sip:1000@10.0.0.9:5062' }, version: 0 }), 1);
    assertValidUpdate(withField({ version: Number.MAX_SAFE_INTEGER, mailbox: 'tel:+4930123' }), 2);
  });

  it('refuses versions that are not safe integers >= 0 with RangeError', () => {
    for (const version of [-1, 1.5, Number.MAX_SAFE_INTEGER + 1, Number.NaN, Infinity, '3', undefined]) {
      assert.throws(() => assertValidUpdate(withField({ version }), 0), RangeError, String(version));
    }
  });

  it('refuses a mailbox that is not a sip:, sips: or tel: URI with MWI_URI_INVALID', () => {
    for (const mailbox of ['1000@pbx.test', 'sip:a b@pbx.test', 'sip:a\r\n@x', '', 42]) {
      assertCode(withField({ mailbox }), ErrorCodes.URI_INVALID);
    }
  });

  it('refuses a route the sender could not use with MWI_URI_INVALID', () => {
    for (const route of [undefined, {}, { mode: 'publish' }, { mode: 'notify', target: 'sip:x' }, { mode: 'publish', target: 'http://x' }, { mode: 'publish', target: 'sips:x;transport=udp' }]) {
      assertCode(withField({ route }), ErrorCodes.URI_INVALID);
    }
  });

  it('refuses a summary the sender could not encode with MWI_BODY_INVALID', () => {
    for (const summary of [undefined, {}, { counts: null }, { counts: { 'voice-message': { new: -1, old: 0 } } }, { counts: {}, account: 'mailto:x' }]) {
      assertCode(withField({ summary }), ErrorCodes.BODY_INVALID);
    }
  });
});
