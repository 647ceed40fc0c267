import assert from 'node:assert/strict';
import { describe, it } from 'node:test';

import { ErrorCodes, isMwiError } from '../../src/errors.ts';
import { mailboxUriTemplateProblem, parseMailboxUriTemplate } from '../../src/sources/mailbox-uri-template.ts';

describe('mailbox URI template', () => {
  it('fills {mailbox} and {context}, each as often as it appears', () => {
    const t = parseMailboxUriTemplate('sip:{mailbox}@{context}.pbx.example;user={context}');
    assert.equal(t.usesContext, true);
    assert.equal(t.render({ mailbox: '1000', context: 'default' }), 'sip:1000@default.pbx.example;user=default');
    assert.equal(parseMailboxUriTemplate('tel:+4930{mailbox}').usesContext, false);
  });

  it('percent-encodes what could inject URI syntax or break the header line', () => {
    const t = parseMailboxUriTemplate('sip:{mailbox}@{context}.pbx.example');
    assert.equal(t.render({ mailbox: 'a@b;c>d e', context: 'x\r\ny' }), 'sip:a%40b%3Bc%3Ed%20e@x%0D%0Ay.pbx.example');
    assert.equal(t.render({ mailbox: 'from_internal-1.2', context: 'ü' }), 'sip:from_internal-1.2@%C3%BC.pbx.example');
  });

  it('refuses templates that cannot give a mailbox URI, saying why', () => {
    for (const [text, why] of [
      ['http://{mailbox}', /sip:, sips: or tel:/],
      ['sip:pbx.example', /\{mailbox\}/],
      ['sip:{mailbox}@{domain}', /not \{domain\}/],
      ['sip:{mailbox}@{context', /unbalanced/],
      ['sip:{mailbox} @pbx.example', /visible ASCII/],
    ] as const) {
      assert.match(mailboxUriTemplateProblem(text) ?? 'accepted', why, text);
      assert.throws(() => parseMailboxUriTemplate(text), (err: unknown) => isMwiError(err, ErrorCodes.CONFIG_INVALID));
    }
    assert.equal(mailboxUriTemplateProblem('sips:{mailbox}@{context}.pbx.example'), undefined);
  });
});
