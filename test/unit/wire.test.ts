import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { peekHeader, peekNextHop, peekTopViaBranch } from '../../src/sip/wire.ts';

const msg = (lines: string[]) => `${lines.join('\r\n')}\r\n\r\nbody\r\nVia: not-a-header\r\n`;

describe('wire peeks', () => {
  it('reads the first occurrence whatever its spelling, compact forms included', () => {
    assert.equal(peekTopViaBranch(msg(['SIP/2.0 200 OK', 'Via: SIP/2.0/UDP a;branch=z9hG4bK1', 'Via: SIP/2.0/UDP b;branch=z9hG4bK2'])), 'z9hG4bK1');
    assert.equal(peekTopViaBranch(msg(['SIP/2.0 200 OK', 'v: SIP/2.0/UDP a;branch=z9hG4bKc', 'Via: SIP/2.0/UDP b;branch=z9hG4bK2'])), 'z9hG4bKc');
    assert.equal(peekTopViaBranch(msg(['SIP/2.0 200 OK', 'VIA : SIP/2.0/UDP a;branch=z9hG4bKu', 'Via: SIP/2.0/UDP b;branch=z9hG4bK2'])), 'z9hG4bKu');
    assert.equal(peekHeader(msg(['SIP/2.0 200 OK', 'cseq: 1 PUBLISH']), 'CSeq'), '1 PUBLISH');
    assert.equal(peekHeader(msg(['SIP/2.0 200 OK', 'X-A: 1']), 'Via', 'v'), undefined); // never from the body
  });
  it('takes the next hop from the first Route, else the Request-URI', () => {
    assert.deepEqual(peekNextHop(msg(['PUBLISH sip:1@x.test SIP/2.0', 'Route: <sip:127.0.0.1:5070;transport=tcp;lr>'])), { host: '127.0.0.1', port: 5070, transport: 'TCP' });
    assert.deepEqual(peekNextHop(msg(['NOTIFY sip:1@[::1]:5062 SIP/2.0', 'Via: x'])), { host: '::1', port: 5062, transport: undefined });
    assert.equal(peekNextHop(msg(['NOTIFY http://x SIP/2.0'])), undefined);
  });
});
