// GET /readyz (src/api/routes/readyz.ts) over createReadiness (src/api/readiness.ts) and the
// check builders (src/api/readiness-checks.ts), with fake checks and a FakeClock.
import assert from 'node:assert/strict';
import { setImmediate as tick } from 'node:timers/promises';
import { describe, it } from 'node:test';

import { createReadiness, maskCredentials, type ReadinessCheck } from '../../src/api/readiness.ts';
import { dnsCheck, redisCheck, targetCheck } from '../../src/api/readiness-checks.ts';
import type { ApiRequest } from '../../src/api/handler.ts';
import { readyz, type WireReadiness } from '../../src/api/routes/readyz.ts';
import { FakeClock } from '../../src/clock.ts';
import { ErrorCodes, MwiError } from '../../src/errors.ts';

const REQ: ApiRequest = { params: {}, query: {}, body: undefined, principal: undefined, form: false, secure: false };

/** A target prober that answers per target and counts its probes. */
function prober(down: Set<string>) {
  const probes: string[] = [];
  const probe = (target: string) => {
    probes.push(target);
    return Promise.resolve(down.has(target) ? { up: false, reason: 'MWI_SIP_TIMEOUT: no answer to OPTIONS from 10.0.0.6:5060' } : { up: true, status: 200, reason: '200 OK' });
  };
  return { probe, probes };
}

function setup(opts: { down?: string[]; checks?: ReadinessCheck[] } = {}) {
  const clock = new FakeClock();
  const p = prober(new Set(opts.down));
  let pings = 0;
  const checks = opts.checks ?? [
    redisCheck({ ping: () => (pings++, Promise.resolve('PONG')) }),
    dnsCheck(() => Promise.resolve(['10.0.0.5']), ['10.0.0.7', 'ps-a.test']),
    targetCheck('sip:ps-a.test', p.probe),
    targetCheck('sip:ps-b.test', p.probe),
  ];
  const readiness = createReadiness({ checks, clock, timeoutMs: 1_500, cacheMs: 2_000 });
  const handler = readyz(readiness);
  const get = async () => {
    const res = await handler(REQ);
    return { status: res.status, body: res.body as WireReadiness };
  };
  return { clock, get, probes: p.probes, pings: () => pings };
}

describe('GET /readyz', () => {
  it('every check ok: 200 ready, each check listed with its kind', async () => {
    const h = setup();
    const res = await h.get();
    assert.equal(res.status, 200);
    assert.equal(res.body.status, 'ready');
    assert.deepEqual(res.body.failing, []);
    assert.deepEqual(res.body.checks.map((c) => [c.name, c.kind, c.status, c.detail ?? null]), [
      ['redis', 'redis', 'ok', null],
      ['dns', 'dns', 'ok', null],
      ['target:sip:ps-a.test', 'target', 'ok', 'OPTIONS answered 200'],
      ['target:sip:ps-b.test', 'target', 'ok', 'OPTIONS answered 200'],
    ]);
  });

  it('one target down: 503 not-ready naming it, with a code-only detail', async () => {
    const res = await setup({ down: ['sip:ps-b.test'] }).get();
    assert.equal(res.status, 503);
    assert.equal(res.body.status, 'not-ready');
    assert.deepEqual(res.body.failing, ['target:sip:ps-b.test']);
    assert.deepEqual(res.body.checks.find((c) => c.name === 'target:sip:ps-b.test'), { name: 'target:sip:ps-b.test', kind: 'target', status: 'fail', detail: 'MWI_SIP_TIMEOUT', elapsedMs: 0 });
  });

  it('a round is cached for 2 s: polling does not probe the targets again until it expires', async () => {
    const h = setup();
    await h.get();
    await Promise.all([h.get(), h.get(), h.get()]);
    h.clock.advance(1_999);
    await h.get();
    assert.deepEqual(h.probes, ['sip:ps-a.test', 'sip:ps-b.test']);
    assert.equal(h.pings(), 1);
    h.clock.advance(1);
    await h.get();
    assert.equal(h.probes.length, 4);
    assert.equal(h.pings(), 2);
  });

  it('concurrent callers while a round runs share it', async () => {
    let release: () => void = () => {};
    let runs = 0;
    const slow: ReadinessCheck = { name: 'redis', kind: 'redis', run: () => (runs++, new Promise((r) => (release = () => r({ status: 'ok' })))) };
    const h = setup({ checks: [slow] });
    const all = Promise.all([h.get(), h.get(), h.get()]);
    await tick();
    release();
    assert.deepEqual((await all).map((r) => r.status), [200, 200, 200]);
    assert.equal(runs, 1);
  });

  it('checks run concurrently, each within its timeout: a hanging check fails alone and aborts', async () => {
    let aborted = false;
    const hang: ReadinessCheck = {
      name: 'target:sip:ps-hang.test',
      kind: 'target',
      run: (signal) => new Promise(() => signal.addEventListener('abort', () => (aborted = true))),
    };
    const h = setup({ checks: [hang, redisCheck({ ping: () => Promise.resolve('PONG') })] });
    const pending = h.get();
    await tick();
    h.clock.advance(1_500);
    const res = await pending;
    assert.equal(res.status, 503);
    assert.deepEqual(res.body.failing, ['target:sip:ps-hang.test']);
    assert.deepEqual(res.body.checks.map((c) => [c.status, c.detail ?? null, c.elapsedMs]), [['fail', 'no answer within 1500 ms', 1_500], ['ok', null, 0]]);
    assert.ok(aborted);
    assert.equal(h.clock.pending, 0, 'no timer left behind');
  });

  it('no error message, password or URL credential reaches the public body', async () => {
    const secretErr = Object.assign(new Error('connect to redis://mwi:s3cret-pw@10.0.0.9:6379 failed'), { code: 'ECONNREFUSED' });
    const checks: ReadinessCheck[] = [
      redisCheck({ ping: () => Promise.reject(secretErr) }),
      { name: 'target:sip:alice:s3cret-pw@ps.test', kind: 'target', run: () => Promise.reject(new Error('s3cret-pw in a message')) },
      { name: 'dns', kind: 'dns', run: () => Promise.resolve({ status: 'fail', detail: 'see redis://u:s3cret-pw@h/0' }) },
    ];
    const res = await setup({ checks }).get();
    const text = JSON.stringify(res.body);
    assert.ok(!text.includes('s3cret-pw'), text);
    assert.deepEqual(res.body.checks.map((c) => c.detail), ['PING failed (ECONNREFUSED)', 'failed (error)', 'see redis://u:***@h/0']);
    assert.equal(res.body.checks[1]?.name, 'target:sip:alice:***@ps.test');
    assert.equal(maskCredentials('sips:bob:pw@ps.test;transport=tls'), 'sips:bob:***@ps.test;transport=tls');
  });

  it('without a readiness source it answers 503 MWI_HTTP_NOT_CONFIGURED (never claims ready)', async () => {
    await assert.rejects(Promise.resolve().then(() => readyz(undefined)(REQ)), (err: unknown) => err instanceof MwiError && err.code === ErrorCodes.HTTP_NOT_CONFIGURED);
  });
});

describe('readiness checks', () => {
  it('DNS: not needed when every target is an IP; NXDOMAIN is an answer; a timeout fails', async () => {
    const signal = new AbortController().signal;
    const asked: string[] = [];
    assert.deepEqual(await dnsCheck(() => Promise.resolve(), ['10.0.0.1', '[2001:db8::1]', 'localhost']).run(signal), { status: 'not-needed', detail: 'every target is an IP address' });
    assert.deepEqual(await dnsCheck((n) => (asked.push(n), Promise.resolve()), ['10.0.0.1', 'ps.test', 'ps2.test']).run(signal), { status: 'ok' });
    assert.deepEqual(asked, ['ps.test'], 'one real query per round');
    assert.deepEqual(await dnsCheck(() => Promise.reject(new MwiError(ErrorCodes.DNS_NXDOMAIN, 'x')), ['ps.test']).run(signal), { status: 'ok', detail: ErrorCodes.DNS_NXDOMAIN });
    assert.deepEqual(await dnsCheck(() => Promise.reject(new MwiError(ErrorCodes.DNS_TIMEOUT, 'x')), ['ps.test']).run(signal), { status: 'fail', detail: `query failed (${ErrorCodes.DNS_TIMEOUT})` });
  });

  it('Redis: anything but PONG fails', async () => {
    const signal = new AbortController().signal;
    assert.deepEqual(await redisCheck({ ping: () => Promise.resolve('LOADING') }).run(signal), { status: 'fail', detail: 'unexpected PING answer' });
  });
});
