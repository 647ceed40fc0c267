import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { Grammar } from 'sip.js/lib/core/index.js';
import { isSipUri, parseSipUri } from '../../src/sip/uri.ts';

describe('parseSipUri (grammar-free fast path)', () => {
  const samples = [
    'sip:1000@pbx.example.net',
    'sips:alice@example.com:5061',
    'sip:127.0.0.1:5070;transport=udp;lr',
    'sip:[::1]:5060;transport=tcp',
    'sip:mwi@10.0.0.1;transport=udp',
    'sip:+4930123@gw.example.org;user=phone',
    'sip:ps.example.net;lr',
  ];
  it('builds the same URI as sip.js Grammar.URIParse for the common forms', () => {
    for (const s of samples) {
      const fast = parseSipUri(s);
      const ref = Grammar.URIParse(s);
      assert.ok(fast && ref, s);
      assert.equal(fast.toString(), ref.toString(), s);
      assert.equal(fast.host, ref.host, s);
      assert.equal(fast.port, ref.port, s);
      assert.equal(fast.user, ref.user, s);
      assert.deepEqual(fast.getParam('transport'), ref.getParam('transport'), s);
    }
  });
  it('agrees with the grammar on generated user@host:port;params URIs', () => {
    const token = fc.stringMatching(/^[a-z0-9][a-z0-9.-]{0,10}[a-z0-9]$/);
    // sip.js's PEG grammar commits to `lr`, `ttl`, `user`, ... once a parameter name starts with
    // one and then fails on the rest ("lr0" is a valid other-param by RFC 3261 but the grammar
    // rejects it): such names are not a disagreement worth pinning, so they are not generated.
    const param = token.filter((p) => !/^(?:lr|ttl|maddr|user|method|transport)./.test(p));
    fc.assert(
      fc.property(fc.constantFrom('sip', 'sips'), fc.option(fc.stringMatching(/^[A-Za-z0-9_.!~*'()&=+$,-]{1,12}$/)), token, fc.option(fc.integer({ min: 1, max: 65535 })), fc.array(param, { maxLength: 3 }), (scheme, user, host, port, params) => {
        const text = `${scheme}:${user ? `${user}@` : ''}${host}${port ? `:${port}` : ''}${params.map((p) => `;${p}`).join('')}`;
        const ref = Grammar.URIParse(text);
        const fast = parseSipUri(text);
        assert.equal(fast?.toString(), ref?.toString(), text);
      }),
      { numRuns: 2000 },
    );
  });
  it('rejects what the grammar rejects, falling back to it for unusual forms', () => {
    for (const bad of ['', 'sip:', 'http://x', 'sip:a@b:99999', 'sip:a b@c', 'sip:a@b\r\nX: y']) {
      assert.equal(parseSipUri(bad), undefined, JSON.stringify(bad));
    }
    assert.equal(parseSipUri('sip:al%20ice@x.test?subject=hi')?.toString(), Grammar.URIParse('sip:al%20ice@x.test?subject=hi')?.toString());
  });
});

describe('isSipUri', () => {
  it('agrees with parseSipUri on valid and invalid input', () => {
    for (const s of ['sip:1000@pbx.example.net', 'sip:127.0.0.1:5070;transport=udp;lr', 'sip:[::1]:5060', 'sip:al%20ice@x.test?subject=hi', '', 'sip:', 'http://x', 'sip:a@b:99999', 'sip:a@b:0', 'sip:a b@c', 'sip:a@b\r\nX: y', 'sip:00']) {
      assert.equal(isSipUri(s), parseSipUri(s) !== undefined, JSON.stringify(s));
    }
  });
});
