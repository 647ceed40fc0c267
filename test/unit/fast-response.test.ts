// The fast response parser's hand-written status line and Via readers, against the regular
// expressions they replaced (kept here as the specification), on generated near-miss input.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { parseResponseFast, parseTopVia } from '../../src/sip/fast-response.ts';

const VIA = /^SIP\/2\.0\/[A-Za-z]+[ \t]+(\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9.-]+)(?::(\d{1,5}))?((?:[ \t]*;[^;,]*)*)$/;
const BRANCH = /;[ \t]*branch=([A-Za-z0-9.!%*_+`'~-]+)/i;
const STATUS_LINE = /^SIP\/2\.0 ([1-6]\d\d) ([^\r\n]*)$/;

function viaByRegex(value: string): { host: string; port: number | undefined; branch: string } | undefined {
  if (value.includes(',')) return undefined;
  const m = VIA.exec(value);
  const branch = m ? BRANCH.exec(m[3] ?? '')?.[1] : undefined;
  if (!m || !branch) return undefined;
  return { host: m[1] ?? '', port: m[2] === undefined ? undefined : Number(m[2]), branch };
}

/** Strings made of the pieces a Via is made of, in any order: mostly near misses. */
const viaPieces = fc
  .array(
    fc.constantFrom(
      'SIP/2.0/', 'SIP/2.0/UDP', 'UDP', 'tcp', ' ', '\t', '  ', '127.0.0.1', 'host-a.example', '[::1]', '[2001:db8::7]', '[', ']', ':', ':5060', ':65535', ':123456', ':',
      ';', ';branch=', ';BRANCH=', '; branch=', ';branch', 'z9hG4bK1', 'z9hG4bK.a~b', ';rport', ';rport=5060', ';received=10.0.0.1', '=', ',', 'x', '5', '\r', '\n', '\u00e9', '"', '%', '',
    ),
    { maxLength: 12 },
  )
  .map((parts) => parts.join(''));

const wellFormedVia = fc
  .record({
    transport: fc.constantFrom('UDP', 'TCP', 'tls', 'SCTP'),
    gap: fc.constantFrom(' ', '\t', '  '),
    host: fc.constantFrom('127.0.0.1', 'ps.example.net', '[::1]', '[fe80::1%]', 'a'),
    port: fc.option(fc.integer({ min: 0, max: 999_999 }), { nil: undefined }),
    params: fc.array(fc.constantFrom(';rport', ';rport=5070', ' ;received=1.2.3.4', ';branch=z9hG4bKabc', ';Branch=z9hG4bK-x.y', ';branch=', ';ttl=1', ';maddr=x'), { maxLength: 5 }),
  })
  .map(({ transport, gap, host, port, params }) => `SIP/2.0/${transport}${gap}${host}${port === undefined ? '' : `:${port}`}${params.join('')}`);

describe('fast response parser', () => {
  it('reads a Via exactly as the regular expressions it replaced (host, port, branch; or nothing)', () => {
    fc.assert(
      fc.property(fc.oneof(viaPieces, wellFormedVia, fc.string({ maxLength: 40 })), (value) => {
        assert.deepEqual(parseTopVia(value), viaByRegex(value));
      }),
      { numRuns: 20_000 },
    );
    assert.deepEqual(parseTopVia('SIP/2.0/UDP 127.0.0.1:5070;rport=5070;branch=z9hG4bKx1;received=127.0.0.1'), { host: '127.0.0.1', port: 5070, branch: 'z9hG4bKx1' });
    assert.deepEqual(parseTopVia('SIP/2.0/TCP [::1];BRANCH=z9hG4bKq'), { host: '[::1]', port: undefined, branch: 'z9hG4bKq' });
    assert.equal(parseTopVia('SIP/2.0/UDP 127.0.0.1:5070 junk;branch=z9hG4bKx'), undefined);
  });

  it('reads the From tag as /;[ \\t]*tag=(token+)/i after the closing > finds it', () => {
    const TAG = /;[ \t]*tag=([A-Za-z0-9.!%*_+`'~-]+)/i;
    const from = fc
      .array(fc.constantFrom('<sip:a@b>', 'sip:a@b', '"A;tag=x" ', '<sip:a@b;tag=uri>', ';tag=', ';TAG=', '; tag=', ';tag', 'abc', '1.2', '~', ';x=y', '>', '<', ' ', '\t', '=', '"'), { minLength: 1, maxLength: 8 })
      .map((parts) => parts.join(''));
    fc.assert(
      fc.property(from, (value) => {
        const parsed = parseResponseFast(`SIP/2.0 200 OK\r\nVia: SIP/2.0/UDP 127.0.0.1:5070;branch=z9hG4bKa\r\nFrom: ${value}\r\nTo: <sip:a@b>;tag=2\r\nCall-ID: c\r\nCSeq: 1 PUBLISH\r\nContent-Length: 0\r\n\r\n`);
        const trimmed = value.trim();
        if (trimmed === '') return;
        assert.ok(typeof parsed === 'object', JSON.stringify(value));
        const gt = trimmed.lastIndexOf('>');
        assert.equal(parsed.fromTag, TAG.exec(trimmed.slice(gt === -1 ? 0 : gt))?.[1] ?? '', JSON.stringify(value));
      }),
      { numRuns: 5_000 },
    );
  });

  it('reads the status line exactly as the regular expression it replaced', () => {
    const line = fc.oneof(
      fc.record({ code: fc.integer({ min: 0, max: 999 }), pad: fc.constantFrom('', '0', ' '), reason: fc.constantFrom('OK', '', 'Conditional Request Failed', 'a\rb', 'a\nb', ' x ', '\u00e9') }).map(({ code, pad, reason }) => `SIP/2.0 ${pad}${code} ${reason}`),
      fc.constantFrom('SIP/2.0 200', 'SIP/2.0 200OK', 'SIP/2.1 200 OK', 'sip/2.0 200 OK', 'SIP/2.0  200 OK', 'SIP/2.0 2x0 OK', ''),
    );
    const rest = 'Via: SIP/2.0/UDP 127.0.0.1:5070;branch=z9hG4bKa\r\nFrom: <sip:a@b>;tag=1\r\nTo: <sip:a@b>;tag=2\r\nCall-ID: c\r\nCSeq: 1 PUBLISH\r\nContent-Length: 0\r\n\r\n';
    fc.assert(
      fc.property(line, (first) => {
        const parsed = parseResponseFast(`${first}\r\n${rest}`);
        const m = STATUS_LINE.exec(first);
        if (!m) {
          assert.equal(parsed, 'malformed', JSON.stringify(first));
          return;
        }
        assert.ok(typeof parsed === 'object', JSON.stringify(first));
        assert.deepEqual([parsed.statusCode, parsed.reasonPhrase], [Number(m[1]), m[2]]);
      }),
      { numRuns: 5_000 },
    );
  });
});
