/**
 * fast-check arbitraries for fuzzing POST /v1/mwi: mostly broken, some valid JSON bodies, content
 * types, bearer tokens and URLs. Used by test/integration/api-fuzz.test.ts (in-process) and the
 * api-fuzz chaos scenario (a real API process over HTTP).
 */
import fc from 'fast-check';

const printable = fc.string({ maxLength: 40 });
const anyText = fc.string({ unit: 'binary-ascii', maxLength: 40 });

const count = fc.oneof(
  { weight: 6, arbitrary: fc.nat(20) },
  { weight: 1, arbitrary: fc.constantFrom(-1, 0x1_0000_0000, 2 ** 53, 1.5, Number.MAX_SAFE_INTEGER) },
  { weight: 1, arbitrary: fc.jsonValue({ maxDepth: 1 }) },
);

const counts = fc.oneof(
  { weight: 8, arbitrary: fc.record({ new: count, old: count, urgentNew: count, urgentOld: count }, { requiredKeys: ['new', 'old'] }) },
  { weight: 1, arbitrary: fc.jsonValue({ maxDepth: 2 }) },
);

const mailbox = fc.oneof(
  { weight: 6, arbitrary: fc.constantFrom('sip:1000@pbx.test', 'sip:1001@pbx.test', 'sips:1002@pbx.test', 'tel:+4930123456') },
  { weight: 2, arbitrary: anyText.map((s) => `sip:${s}@pbx.test`) },
  { weight: 1, arbitrary: fc.constantFrom('sip:1@pbx.test\r\nX-Injected: 1', 'http://pbx.test/1', 'sip:1@pbx.test\n', '') },
  { weight: 1, arbitrary: fc.jsonValue({ maxDepth: 1 }) },
);

const sipUri = fc.oneof(
  { weight: 5, arbitrary: fc.constantFrom('sip:127.0.0.1:5060', 'sip:ps.test;transport=tcp', 'sips:ps.test', 'sip:1000@127.0.0.1:5062') },
  { weight: 2, arbitrary: anyText.map((s) => `sip:${s}`) },
  { weight: 1, arbitrary: fc.constantFrom('sip:ps.test;transport=sctp', 'sip:ps.test\r\nRoute: <sip:evil>', 'http://ps.test', 'sip:ps.test:70000') },
  { weight: 1, arbitrary: fc.jsonValue({ maxDepth: 1 }) },
);

const version = fc.oneof(
  { weight: 6, arbitrary: fc.nat() },
  { weight: 1, arbitrary: fc.constantFrom(-1, 1.5, 2 ** 53, Number.MAX_SAFE_INTEGER, '12') },
  { weight: 1, arbitrary: fc.jsonValue({ maxDepth: 1 }) },
);

const validCounts = fc.nat(10).chain((n) => fc.record({ new: fc.constant(n), old: fc.nat(10), urgentNew: fc.nat(n) }, { requiredKeys: ['new', 'old'] }));

const validUpdate = fc.record(
  {
    mailbox: fc.constantFrom('sip:1000@pbx.test', 'sip:1001@pbx.test', 'sips:1002@pbx.test', 'tel:+4930123456'),
    target: fc.constantFrom('sip:127.0.0.1:5060', 'sip:ps.test;transport=tcp'),
    counts: validCounts,
    version: fc.nat(),
  },
  { requiredKeys: ['mailbox', 'counts', 'version'] },
);

const update = fc.oneof(
  { weight: 6, arbitrary: validUpdate },
  { weight: 4, arbitrary: fc.record({ mailbox, target: sipUri, contact: sipUri, counts, version, otherClasses: fc.dictionary(fc.constantFrom('fax-message', 'none', 'voice-message', 'x'), counts, { maxKeys: 2 }), extra: printable }, { requiredKeys: ['mailbox', 'counts', 'version'] }) },
  { weight: 1, arbitrary: fc.jsonValue({ maxDepth: 2 }) },
);

/** A request body: single updates, batches, any JSON, binary junk, edge cases. */
export const fuzzBody = fc.oneof(
  { weight: 4, arbitrary: update.map((u) => JSON.stringify(u)) },
  { weight: 3, arbitrary: fc.array(update, { maxLength: 7 }).map((updates) => JSON.stringify({ updates })) },
  { weight: 1, arbitrary: fc.json({ maxDepth: 3 }) },
  { weight: 1, arbitrary: fc.string({ unit: 'binary', maxLength: 200 }) },
  { weight: 1, arbitrary: fc.constantFrom('', '{', '{"__proto__":{"x":1}}', '{"updates":', 'null', '[]', 'x'.repeat(1100)) },
);

export const fuzzContentType = fc.oneof(
  { weight: 8, arbitrary: fc.constantFrom('application/json', 'application/json; charset=utf-8') },
  { weight: 1, arbitrary: fc.constantFrom('text/plain', 'application/xml', 'multipart/form-data; boundary=x', 'application/x-www-form-urlencoded', 'application/json; charset') },
  { weight: 1, arbitrary: fc.constantFrom(undefined) },
  { weight: 1, arbitrary: printable },
);

export function fuzzAuthorization(token: string) {
  return fc.oneof(
    { weight: 8, arbitrary: fc.constant(`Bearer ${token}`) },
    { weight: 1, arbitrary: fc.constantFrom(undefined, 'Bearer', `Bearer ${token}x`, `Basic ${token}`, token) },
    { weight: 1, arbitrary: printable },
  );
}

export const fuzzMwiUrl = fc.oneof(
  { weight: 8, arbitrary: fc.constantFrom('/v1/mwi', '/v1/mwi?partial=true', '/v1/mwi?partial=false') },
  { weight: 1, arbitrary: printable.map((s) => `/v1/mwi?partial=${encodeURIComponent(s)}`) },
  { weight: 1, arbitrary: fc.constantFrom('/v1/mwi/', '/v1/mailboxes', '/v2/mwi', '/') },
);

/** A POST /v1/mwi (mostly) with fuzzed URL, body, content type and bearer token. */
export function fuzzMwiRequest(token: string) {
  return fc.record({ url: fuzzMwiUrl, payload: fuzzBody, contentType: fuzzContentType, authorization: fuzzAuthorization(token), method: fc.constantFrom('POST', 'POST', 'POST', 'POST', 'POST', 'POST', 'POST', 'PUT', 'GET') });
}
