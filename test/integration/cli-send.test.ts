// `mwi send` as an operator runs it: a real process, real SIP peers, checked by output and exit code.
import assert from 'node:assert/strict';
import { after, describe, it } from 'node:test';
import { runMwi as mwi } from '../support/run-mwi.ts';
import { startSippUas, type SippUasHandle } from '../harness/sipp.ts';



const peers: SippUasHandle[] = [];
after(async () => {
  for (const p of peers) await p.stop();
});

describe('mwi send', () => {
  it('PUBLISH accepted: prints the outcome as JSON and exits 0', async () => {
    const uas = await startSippUas({ scenario: 'uas-200', transport: 'udp', label: 'cli' });
    peers.push(uas);
    const r = await mwi(['send', '--to', uas.uri, '--mailbox', 'sip:3000@mwi.test', '--new', '2', '--old', '1', '--urgent-new', '1', '--json']);
    assert.equal(r.code, 0, r.stderr);
    const out = JSON.parse(r.stdout) as { kind: string; status: number; etag: string };
    assert.deepEqual([out.kind, out.status], ['delivered', 200]);
    assert.ok(out.etag);
    const reqs = await uas.requests();
    assert.equal(reqs[0]?.method, 'PUBLISH');
  });

  it('--notify sends an unsolicited NOTIFY and exits 0', async () => {
    const uas = await startSippUas({ scenario: 'uas-200', transport: 'tcp', label: 'cli-notify' });
    peers.push(uas);
    const r = await mwi(['send', '--notify', '--to', `sip:3001@127.0.0.1:${uas.port};transport=tcp`, '--mailbox', 'sip:3001@mwi.test', '--new', '0']);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /^delivered: 200/);
    assert.equal((await uas.requests())[0]?.method, 'NOTIFY');
  });

  it('exit 3 (retryable) when the server stays silent, exit 4 on 489, exit 1 on 500', async () => {
    const silent = await startSippUas({ scenario: 'uas-silent', transport: 'udp', label: 'cli-silent' });
    const bad = await startSippUas({ scenario: 'uas-489', transport: 'udp', label: 'cli-489' });
    const err = await startSippUas({ scenario: 'uas-500', transport: 'udp', label: 'cli-500' });
    peers.push(silent, bad, err);
    const args = (to: string) => ['send', '--to', to, '--mailbox', 'sip:3002@mwi.test', '--new', '1'];
    const t = await mwi([...args(silent.uri), '--set', 'sip.transactionTimeoutMs=600']);
    assert.equal(t.code, 3, t.stdout + t.stderr);
    assert.match(t.stdout, /^retryable: no final response within 600 ms/);
    assert.equal((await mwi(args(bad.uri))).code, 4);
    assert.equal((await mwi(args(err.uri))).code, 1);
  });

  it('exit 2 with the field path for bad flags, config or environment', async () => {
    const badCount = await mwi(['send', '--to', 'sip:127.0.0.1:9', '--mailbox', 'sip:1@x.test', '--new', '-1']);
    assert.equal(badCount.code, 2);
    const badEnv = await mwi(['send', '--to', 'sip:127.0.0.1:9', '--mailbox', 'sip:1@x.test'], { MWI_SIP__TRANSACTION_TIMEOUT_MS: '99' });
    assert.equal(badEnv.code, 2);
    assert.match(badEnv.stderr, /MWI_CONFIG_INVALID: sip\.transactionTimeoutMs must be an integer between 500 and 32000/);
    const badUri = await mwi(['send', '--to', 'http://x', '--mailbox', 'sip:1@x.test']);
    assert.equal(badUri.code, 2);
    assert.match(badUri.stderr, /MWI_URI_INVALID/);
    const badMailbox = await mwi(['send', '--to', 'sip:127.0.0.1:9', '--mailbox', 'sip:1@x.test\r\nX: y']);
    assert.equal(badMailbox.code, 2);
    assert.match(badMailbox.stderr, /MWI_CLI_USAGE/);
    const noTarget = await mwi(['send', '--mailbox', 'sip:1@x.test']);
    assert.equal(noTarget.code, 2);
    assert.match(noTarget.stderr, /MWI_CLI_USAGE/);
  });

  it('never prints the digest password, even with debug logging', async () => {
    const uas = await startSippUas({ scenario: 'uas-401-then-200', transport: 'udp', label: 'cli-auth' });
    peers.push(uas);
    const secret = 'mwi-secret';
    const r = await mwi(['send', '--to', uas.uri, '--mailbox', 'sip:3003@mwi.test', '--new', '1', '--set', 'log.level=trace'], { MWI_SIP__AUTH__USERNAME: 'mwi', MWI_SIP__AUTH__PASSWORD: secret });
    assert.equal(r.code, 0, r.stderr);
    assert.ok(!r.stdout.includes(secret) && !r.stderr.includes(secret));
  });
});
