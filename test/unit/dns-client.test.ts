import assert from 'node:assert/strict';
import { describe, it } from 'node:test';

import fc from 'fast-check';

import { addressRecords, naptrRecords, srvRecords } from '../../src/dns/dns-answers.ts';
import { caresServer } from '../../src/dns/dns-client.ts';
import { dnsError } from '../../src/dns/dns-error.ts';
import { ErrorCodes, MwiError, isMwiError } from '../../src/errors.ts';

const caresFailure = (code: string) => Object.assign(new Error(`query ${code}`), { code });

describe('c-ares error codes to DNS_* codes', () => {
  const cases: [string, string][] = [
    ['ENOTFOUND', ErrorCodes.DNS_NXDOMAIN],
    ['ENODATA', ErrorCodes.DNS_NO_DATA],
    ['ETIMEOUT', ErrorCodes.DNS_TIMEOUT],
    ['ESERVFAIL', ErrorCodes.DNS_FAILED],
    ['EREFUSED', ErrorCodes.DNS_FAILED],
    ['ECONNREFUSED', ErrorCodes.DNS_FAILED],
    ['EBADRESP', ErrorCodes.DNS_FAILED],
    ['EFORMERR', ErrorCodes.DNS_FAILED],
    ['ECANCELLED', ErrorCodes.DNS_FAILED],
  ];
  for (const [cares, code] of cases) {
    it(`${cares} -> ${code}`, () => {
      assert.equal(dnsError(caresFailure(cares), 'A', 'pbx.example').code, code);
    });
  }

  it('negative answers are not retryable, resolver failures are', () => {
    assert.equal(dnsError(caresFailure('ENOTFOUND'), 'A', 'x').retryable, false);
    assert.equal(dnsError(caresFailure('ETIMEOUT'), 'A', 'x').retryable, true);
  });

  it('anything thrown (null, strings, objects without code) becomes DNS_FAILED', () => {
    for (const thrown of [null, undefined, 'boom', 42, {}, { code: 7 }]) assert.equal(dnsError(thrown, 'SRV', 'x').code, ErrorCodes.DNS_FAILED);
  });
});

describe('SRV answer validation', () => {
  it('keeps good records, lower-cased and without the trailing dot', () => {
    assert.deepEqual(srvRecords([{ name: 'PBX.Example.', port: 5060, priority: 10, weight: 5 }], '_sip._udp.example'), [
      { target: 'pbx.example', port: 5060, priority: 10, weight: 5 },
    ]);
  });

  it('drops port 0, ports above 65535, non-integer or out-of-range priorities and weights, bad names', () => {
    const good = { name: 'ok.example', port: 5060, priority: 1, weight: 1 };
    const records = [
      { ...good, port: 0 },
      { ...good, port: 70_000 },
      { ...good, priority: -1 },
      { ...good, priority: 65_536 },
      { ...good, weight: 1.5 },
      { ...good, name: 'bad name.example' },
      { ...good, name: 'x'.repeat(64) + '.example' },
      good,
    ];
    assert.deepEqual(srvRecords(records, 'q').map((r) => r.target), ['ok.example']);
  });

  it('a lone "." target (c-ares: empty name) is the service-not-available answer: []', () => {
    assert.deepEqual(srvRecords([{ name: '', port: 1, priority: 0, weight: 0 }], 'q'), []);
  });

  it('nothing usable and no "." target is DNS_FAILED; an empty list is DNS_NO_DATA', () => {
    assert.throws(() => srvRecords([{ name: 'a.example', port: 0, priority: 0, weight: 0 }], 'q'), (e) => isMwiError(e, ErrorCodes.DNS_FAILED));
    assert.throws(() => srvRecords([], 'q'), (e) => isMwiError(e, ErrorCodes.DNS_NO_DATA));
  });
});

describe('address answer validation', () => {
  it('keeps addresses of the asked family, deduplicated, with the smallest TTL', () => {
    const raw = [
      { address: '10.0.0.1', ttl: 300 },
      { address: '10.0.0.1', ttl: 300 },
      { address: '2001:db8::1', ttl: 5 },
      { address: '10.0.0.2', ttl: 60 },
      { address: '10.0.0.3', ttl: -1 },
    ];
    assert.deepEqual(addressRecords(raw, 4, 'q'), { addresses: ['10.0.0.1', '10.0.0.2'], ttlSec: 60 });
  });
});

describe('NAPTR answer validation', () => {
  it('keeps well-formed records and normalises the replacement', () => {
    const raw = [
      { flags: 's', service: 'SIP+D2U', regexp: '', replacement: '_sip._udp.Example.com', order: 10, preference: 5 },
      { flags: 's', service: 'SIP+D2U', regexp: '', replacement: '_sip._udp.example.com', order: 70_000, preference: 5 },
    ];
    assert.deepEqual(naptrRecords(raw, 'q'), [{ flags: 's', service: 'SIP+D2U', regexp: '', replacement: '_sip._udp.example.com', order: 10, preference: 5 }]);
  });
});

describe('garbage answers', () => {
  it('never throw anything but a DNS_* MwiError', () => {
    const dnsCodes = new Set<string>([ErrorCodes.DNS_FAILED, ErrorCodes.DNS_NO_DATA]);
    fc.assert(
      fc.property(fc.anything(), (raw) => {
        for (const validate of [() => srvRecords(raw, 'q'), () => naptrRecords(raw, 'q'), () => addressRecords(raw, 4, 'q'), () => addressRecords(raw, 6, 'q')]) {
          try {
            validate();
          } catch (err) {
            assert.ok(err instanceof MwiError && dnsCodes.has(err.code), `unexpected ${String(err)}`);
          }
        }
      }),
      { numRuns: 1_000 },
    );
  });

  it('records shaped almost right never throw anything but a DNS_* MwiError either', () => {
    const srvLike = fc.record({ name: fc.oneof(fc.string(), fc.domain(), fc.constant('')), port: fc.oneof(fc.integer(), fc.double()), priority: fc.integer(), weight: fc.integer() });
    fc.assert(
      fc.property(fc.array(srvLike, { maxLength: 50 }), (raw) => {
        try {
          const records = srvRecords(raw, 'q');
          assert.ok(records.length <= 32);
          for (const r of records) assert.ok(r.port >= 1 && r.port <= 65_535 && r.target.length > 0);
        } catch (err) {
          assert.ok(err instanceof MwiError, `unexpected ${String(err)}`);
        }
      }),
      { numRuns: 1_000 },
    );
  });
});

describe('dns.servers to c-ares servers', () => {
  it('accepts "ip", "ip:port", "[v6]:port" and a bare IPv6 address', () => {
    assert.equal(caresServer('10.0.0.53'), '10.0.0.53');
    assert.equal(caresServer('10.0.0.53:5353'), '10.0.0.53:5353');
    assert.equal(caresServer('[::1]:5353'), '[::1]:5353');
    assert.equal(caresServer('::1'), '::1');
  });

  it('refuses anything else with CONFIG_INVALID', () => {
    for (const bad of ['dns.example', '10.0.0.53:0', '10.0.0.53:70000', '[10.0.0.53]:53', '']) {
      assert.throws(() => caresServer(bad), (e) => isMwiError(e, ErrorCodes.CONFIG_INVALID), bad);
    }
  });
});
