import assert from 'node:assert/strict';
import { describe, it } from 'node:test';

import { parseOverloadControl } from '../../src/sip/overload-control.ts';

describe('RFC 7339 oc feedback in a response Via', () => {
  it('reads oc and oc-validity', () => {
    assert.deepEqual(parseOverloadControl('SIP/2.0/UDP 10.0.0.1:5060;branch=z9hG4bKx;rport=5060;oc=20;oc-validity=1500;oc-seq=1.2'), { percent: 20, validityMs: 1500 });
  });
  it('defaults oc-validity to 500 ms and accepts oc=0 (end of the reduction)', () => {
    assert.deepEqual(parseOverloadControl('SIP/2.0/UDP h;branch=z9hG4bKx;oc=0'), { percent: 0, validityMs: 500 });
  });
  it('ignores our own bare oc parameter, values above 100 and garbage', () => {
    assert.equal(parseOverloadControl('SIP/2.0/UDP h;branch=z9hG4bKx;rport;oc'), undefined);
    assert.equal(parseOverloadControl('SIP/2.0/UDP h;branch=z9hG4bKx;oc=250'), undefined);
    assert.equal(parseOverloadControl('SIP/2.0/UDP h;branch=z9hG4bKx;oc=abc'), undefined);
    assert.equal(parseOverloadControl(undefined), undefined);
  });
});
