// The operator commands as an operator runs them: `mwi pause | resume | drain | status |
// mailbox show | breaker isolate | breaker reset`, real processes on a real redis-server
// (redis.url): output, what lands in Redis, exit codes and stable error codes.
import assert from 'node:assert/strict';
import { hostname } from 'node:os';
import { after, before, describe, it } from 'node:test';

import { Queue } from 'bullmq';
import type { Redis } from 'ioredis';

import { loadConfig, readTextFile } from '../../config/load.ts';
import { RedisBreakerStore } from '../../src/breaker/redis-breaker-store.ts';
import { decodeDrain, decodePause } from '../../src/control/control-codec.ts';
import { RedisControlStore } from '../../src/control/redis-control-store.ts';
import type { PauseState } from '../../src/control/types.ts';
import { DELIVER_QUEUE } from '../../src/queue/drain-queue.ts';
import { RedisRateStore } from '../../src/rate/redis-rate-store.ts';
import { storeKeys } from '../../src/store/keys.ts';
import { RedisMailboxStore } from '../../src/store/redis-mailbox-store.ts';
import { createStoreClient } from '../../src/store/store-client.ts';
import type { StatusReport } from '../../src/cli/status-report.ts';
import type { MailboxReport } from '../../src/cli/mailbox.ts';
import { freePort } from '../harness/ports.ts';
import { startRedis, type RedisHandle } from '../harness/redis.ts';
import { runMwi } from '../support/run-mwi.ts';

const PREFIX = '{mwi-cli-control}';
const HOP = 'udp:10.0.0.5:5060';
const PS = 'sip:ps.cli.test';
const ME = `tester@${hostname()}`;

describe('mwi pause / resume / drain / status / mailbox / breaker', { timeout: 120_000 }, () => {
  let redis: RedisHandle;
  let raw: Redis;
  let env: Record<string, string>;
  const keys = storeKeys(PREFIX);
  const config = loadConfig({ env: {}, flags: { 'redis.keyPrefix': PREFIX }, readFile: readTextFile });

  const audit = async (): Promise<string[][]> => {
    const client = new RedisControlStore({ redis: raw, keys });
    return (await client.auditLog(100)).map((e) => [e.action, e.subject, e.actor, e.reason, e.via]);
  };

  before(async () => {
    redis = await startRedis({ label: 'cli-control' });
    raw = await createStoreClient({ url: redis.url });
    env = { MWI_REDIS__URL: redis.url, MWI_REDIS__KEY_PREFIX: PREFIX, USER: 'tester' };
  });
  after(async () => {
    raw?.disconnect();
    await redis?.dispose();
  });

  it('pause (global, for a while; one target, as JSON) and resume: printed, stored, audited; resume with nothing paused says so and exits 0', async () => {
    const global = await runMwi(['pause', '--reason', 'PS upgrade', '--for', '30m', '--actor', 'alice'], env);
    assert.equal(global.code, 0, global.stderr);
    assert.match(global.stdout, /^paused global until \d{4}-\d\d-\d\dT[\d:.]+Z \(30m\) by alice: PS upgrade\n$/);
    const stored = decodePause(await raw.hget(keys.controlPauses(), 'global'));
    assert.equal(stored?.actor, 'alice');
    assert.equal((stored?.until ?? 0) - (stored?.since ?? 0), 30 * 60_000);

    const target = await runMwi(['pause', '--target', HOP, '--reason', 'bad node', '--json'], env);
    assert.equal(target.code, 0, target.stderr);
    const pause = JSON.parse(target.stdout) as PauseState;
    assert.deepEqual({ scope: pause.scope, actor: pause.actor, reason: pause.reason, until: pause.until }, { scope: HOP, actor: ME, reason: 'bad node', until: undefined });
    assert.deepEqual(decodePause(await raw.hget(keys.controlPauses(), HOP)), pause);

    const resumed = await runMwi(['resume', '--reason', 'upgrade done', '--actor', 'bob'], env);
    assert.equal(resumed.code, 0, resumed.stderr);
    assert.match(resumed.stdout, /^resumed global \(paused by alice since \S+Z: PS upgrade\)\n$/);
    assert.equal(await raw.hexists(keys.controlPauses(), 'global'), 0);
    assert.equal(await raw.hexists(keys.controlPauses(), HOP), 1, 'the target pause is a different scope');

    const again = await runMwi(['resume', '--reason', 'again'], env);
    assert.equal(again.code, 0, again.stderr);
    assert.equal(again.stdout, 'not paused: global (nothing to resume)\n');
    const targetResumed = await runMwi(['resume', '--target', HOP, '--reason', 'node replaced', '--json'], env);
    assert.equal(targetResumed.code, 0, targetResumed.stderr);
    assert.equal((JSON.parse(targetResumed.stdout) as { resumed: PauseState }).resumed.reason, 'bad node');

    assert.deepEqual((await audit()).slice(0, 4), [
      ['resume', HOP, ME, 'node replaced', 'cli'],
      ['resume', 'global', 'bob', 'upgrade done', 'cli'],
      ['pause', HOP, ME, 'bad node', 'cli'],
      ['pause', 'global', 'alice', 'PS upgrade', 'cli'],
    ], 'a resume with nothing paused is not audited');
  });

  it('drain on and off: printed, stored, audited; off while off changes nothing', async () => {
    const on = await runMwi(['drain', '--reason', 'rolling restart'], env);
    assert.equal(on.code, 0, on.stderr);
    assert.match(on.stdout, new RegExp(`^drain on since \\S+Z by ${ME}: rolling restart\\n$`));
    assert.equal(decodeDrain(await raw.get(keys.controlDrain()))?.reason, 'rolling restart');
    const off = await runMwi(['drain', '--off', '--reason', 'restart done', '--json'], env);
    assert.equal(off.code, 0, off.stderr);
    assert.deepEqual(JSON.parse(off.stdout), { draining: false, changed: true, drain: null });
    assert.equal(await raw.exists(keys.controlDrain()), 0);
    const offAgain = await runMwi(['drain', '--off', '--reason', 'again'], env);
    assert.equal(offAgain.stdout, 'drain was not on (nothing changed)\n');
    assert.deepEqual((await audit()).slice(0, 2).map((e) => e[0]), ['undrain', 'drain']);
  });

  it('bad command lines exit 2 with a stable code and write nothing; no redis.url exits 2, an unreachable Redis 69', async () => {
    const before = await raw.llen(keys.controlAudit());
    const port = await freePort();
    const cases: Array<[string[], Record<string, string>, number, RegExp]> = [
      [['pause'], env, 2, /^mwi: MWI_CONTROL_REASON_REQUIRED: /m],
      [['pause', '--reason', '  '], env, 2, /MWI_CONTROL_REASON_REQUIRED/],
      [['resume'], env, 2, /MWI_CONTROL_REASON_REQUIRED/],
      [['drain', '--off'], env, 2, /MWI_CONTROL_REASON_REQUIRED/],
      [['breaker', 'isolate', HOP], env, 2, /MWI_CONTROL_REASON_REQUIRED/],
      [['breaker', 'reset', HOP], env, 2, /MWI_CONTROL_REASON_REQUIRED/],
      [['pause', '--reason', 'x', '--for', '90x'], env, 2, /^mwi: MWI_CLI_USAGE: --for must be a whole number and a unit/m],
      [['pause', '--reason', 'x', '--for', '31d'], env, 2, /MWI_CLI_USAGE: --for must be at most 30d/],
      [['pause', '--reason', 'x', '--for', '1h30m'], env, 2, /MWI_CLI_USAGE/],
      [['pause', '--reason', 'line one\nline two'], env, 2, /MWI_CONTROL_INVALID: reason must not contain control characters/],
      [['pause', '--reason', 'x', '--target', 'sip:a b'], env, 2, /MWI_CONTROL_INVALID: target/],
      [['pause', '--reason', 'x', '--target', 'global'], env, 2, /MWI_CONTROL_INVALID: target/],
      [['mailbox', 'show', 'not-a-uri'], env, 2, /MWI_URI_INVALID/],
      [['pause', '--reason', 'x', '--bogus'], env, 2, /unknown option '--bogus'/],
      [['pause', '--reason', 'x'], { USER: 'tester' }, 2, /^mwi: MWI_REDIS_URL_REQUIRED: redis.url is not set/m],
      [['status'], { USER: 'tester' }, 2, /MWI_REDIS_URL_REQUIRED/],
      [['pause', '--reason', 'x'], { ...env, MWI_REDIS__URL: `redis://ops:s3cret@127.0.0.1:${port}` }, 69, /^mwi: MWI_REDIS_UNAVAILABLE: cannot reach Redis at redis:\/\/ops:\*\*\*@127\.0\.0\.1/m],
      [['status', '--json'], { ...env, MWI_REDIS__URL: `redis://127.0.0.1:${port}` }, 69, /MWI_REDIS_UNAVAILABLE/],
    ];
    // A few processes at a time: the machine has two cores and each run starts a Node process.
    const results: Array<Awaited<ReturnType<typeof runMwi>>> = [];
    for (let i = 0; i < cases.length; i += 3) {
      results.push(...(await Promise.all(cases.slice(i, i + 3).map(([args, e]) => runMwi(args, e)))));
    }
    results.forEach((r, i) => {
      const [args, , code, stderr] = cases[i] ?? [[], {}, -1, /never/];
      assert.equal(r.code, code, `${args.join(' ')}: ${r.stderr}`);
      assert.match(r.stderr, stderr, args.join(' '));
      assert.doesNotMatch(r.stderr, /s3cret/);
    });
    assert.equal(await raw.llen(keys.controlAudit()), before, 'nothing audited');
    assert.equal(await raw.hlen(keys.controlPauses()), 0, 'nothing paused');
  });

  it('breaker isolate and reset change the fleet breaker and are audited; resetting an unknown breaker exits 1', async () => {
    const breakers = new RedisBreakerStore({ redis: raw, keys, settings: config.breaker });
    const isolate = await runMwi(['breaker', 'isolate', HOP, '--reason', 'flapping node', '--actor', 'carol'], env);
    assert.equal(isolate.code, 0, isolate.stderr);
    assert.equal(isolate.stdout, `breaker ${HOP}: closed -> isolated by carol: flapping node\n`);
    assert.equal((await breakers.read([HOP]))[0]?.state.kind, 'isolated');

    const reset = await runMwi(['breaker', 'reset', HOP, '--reason', 'node fixed', '--actor', 'carol', '--json'], env);
    assert.equal(reset.code, 0, reset.stderr);
    const body = JSON.parse(reset.stdout) as { id: string; state: { kind: string }; transition: { from: string; to: string } };
    assert.deepEqual([body.id, body.state.kind, body.transition.from, body.transition.to], [HOP, 'closed', 'isolated', 'closed']);
    assert.equal((await breakers.read([HOP]))[0]?.state.kind, 'closed');
    assert.deepEqual((await audit()).slice(0, 2), [
      ['breaker-reset', HOP, 'carol', 'node fixed', 'cli'],
      ['breaker-isolate', HOP, 'carol', 'flapping node', 'cli'],
    ]);

    const unknown = await runMwi(['breaker', 'reset', 'udp:192.0.2.1:5060', '--reason', 'x'], env);
    assert.equal(unknown.code, 1, unknown.stderr);
    assert.match(unknown.stderr, /MWI_BREAKER_NOT_FOUND/);
  });

  it('mailbox show: desired vs delivered, ETag and expiry, queue state; an unknown mailbox exits 1', async () => {
    const store = new RedisMailboxStore({ redis: raw, keys });
    const summary = (n: number) => ({ counts: { 'voice-message': { new: n, old: 1 } } });
    await store.applyUpdates([
      { mailbox: 'sip:100@cli.test', route: { mode: 'publish', target: PS }, summary: summary(2), version: 7 },
      { mailbox: 'sip:200@cli.test', route: { mode: 'publish', target: PS }, summary: summary(5), version: 3 },
    ]);
    const startedAt = Date.now();
    const expiresAt = startedAt + 3_600_000;
    await store.recordDelivered('sip:100@cli.test', 7, summary(2), {
      kind: 'delivered', status: 200, reason: '200 OK', cause: 'response', etag: 'etag-abc', grantedExpiresSec: 3600, expiresAt, requests: 1, startedAt, elapsedMs: 12,
    });

    const delivered = await runMwi(['mailbox', 'show', 'sip:100@cli.test'], env);
    assert.equal(delivered.code, 0, delivered.stderr);
    assert.match(delivered.stdout, /^route\s+PUBLISH to sip:ps\.cli\.test$/m);
    assert.match(delivered.stdout, /^desired\s+version 7: voice-message 2\/1 /m);
    assert.match(delivered.stdout, /^delivered\s+version 7: voice-message 2\/1 \(at \S+Z\)$/m);
    assert.match(delivered.stdout, /^in sync\s+yes$/m);
    assert.match(delivered.stdout, /^queued\s+no$/m);
    assert.match(delivered.stdout, /^etag\s+etag-abc$/m);
    assert.match(delivered.stdout, new RegExp(`^expires\\s+${new Date(expiresAt).toISOString().replace(/\./g, '\\.')} \\(in (59m\\d+s|1h)\\)$`, 'm'));
    assert.match(delivered.stdout, /^last outcome\s+delivered: 200 OK/m);

    const pending = await runMwi(['mailbox', 'show', 'sip:200@cli.test', '--json'], env);
    assert.equal(pending.code, 0, pending.stderr);
    const report = JSON.parse(pending.stdout) as MailboxReport;
    assert.equal(report.inSync, false);
    assert.equal(report.desired?.version, 3);
    assert.equal(report.delivered, undefined);
    assert.equal(typeof report.dueAt, 'number', 'queued: its due time is shown');

    const unknown = await runMwi(['mailbox', 'show', 'sip:nobody@cli.test'], env);
    assert.equal(unknown.code, 1);
    assert.match(unknown.stderr, /MWI_MAILBOX_NOT_FOUND: no state stored for sip:nobody@cli.test/);
  });

  it('status shows backlog, jobs, pauses, drain, breakers, rates and recent actions as aligned tables, or one parseable JSON object', async () => {
    // Seed what status reads: a queued job and a delayed one, a pause, drain, an isolated breaker and a held target.
    const queue = new Queue(DELIVER_QUEUE, { connection: raw, prefix: PREFIX });
    try {
      await queue.add('drain', { slot: 0 });
      await queue.add('drain', { slot: 1 }, { delay: 600_000 });
    } finally {
      await queue.close();
    }
    const control = new RedisControlStore({ redis: raw, keys });
    await control.pause({ target: PS }, 'dave', 'PS maintenance', { via: 'api', forMs: 3_600_000 });
    await control.setDrain(true, 'dave', 'before restart', { via: 'api' });
    await new RedisBreakerStore({ redis: raw, keys, settings: config.breaker }).isolate('dns', 'erin', 'resolver down');
    await new RedisRateStore({ redis: raw, keys, settings: config.rate }).hold(HOP, Date.now() + 600_000, '503 Retry-After');

    const json = await runMwi(['status', '--json'], env);
    assert.equal(json.code, 0, json.stderr);
    const r = JSON.parse(json.stdout) as StatusReport;
    assert.equal(r.queue.dirtyMailboxes, 1, 'sip:200 is not delivered yet');
    assert.equal(r.queue.dueMailboxes, 1);
    assert.deepEqual(r.queue.jobs, { waiting: 1, active: 0, delayed: 1, failed: 0 });
    assert.deepEqual(r.pauses.map((p) => [p.scope, p.actor, p.reason]), [[PS, 'dave', 'PS maintenance']]);
    assert.equal(r.drain?.reason, 'before restart');
    assert.deepEqual(r.breakers.map((b) => [b.id, b.state.kind]), [['dns', 'isolated'], [HOP, 'closed']]);
    assert.deepEqual(r.rates.map((t) => [t.id, t.phase, t.holdReason]), [[HOP, 'slow-start', '503 Retry-After']]);
    assert.equal(r.rates[0]?.allowedPerSec, config.rate.initialPerSec);
    assert.deepEqual(r.audit.slice(0, 2).map((e) => e.action), ['drain', 'pause']);

    const text = await runMwi(['status'], env);
    assert.equal(text.code, 0, text.stderr);
    const out = text.stdout;
    for (const section of ['QUEUE', 'DRAIN', 'PAUSES', 'BREAKERS', 'RATES', 'RECENT ACTIONS']) assert.match(out, new RegExp(`^${section}$`, 'm'));
    assert.match(out, /^due mailboxes\s+1$/m);
    assert.match(out, /^jobs\s+waiting=1 active=0 delayed=1 failed=0$/m);
    assert.match(out, /^on since \S+Z by dave: before restart$/m);
    assert.match(out, /^sip:ps\.cli\.test\s+\S+Z\s+\S+Z \(in (59m\d+s|1h)\)\s+dave\s+PS maintenance$/m);
    assert.match(out, /^dns\s+isolated\s+\S+Z\s+0\s+0\s+resolver down \(by erin\)$/m);
    assert.match(out, new RegExp(`^${HOP}\\s+slow-start\\s+\\d+\\.\\d\\s+\\d+\\.\\d\\s+0/\\d+\\s+\\d+ms\\s+until \\S+Z: 503 Retry-After$`, 'm'));
    // Aligned: in each table every row's second column starts where its header's does.
    const breakerTable = out.split('BREAKERS\n')[1]?.split('\n\n')[0]?.split('\n') ?? [];
    const stateColumn = breakerTable[0]?.indexOf('STATE');
    assert.ok(stateColumn !== undefined && stateColumn > 0);
    for (const row of breakerTable.slice(1)) assert.match(row.slice(stateColumn), /^(closed|isolated|open) /, row);
  });
});
