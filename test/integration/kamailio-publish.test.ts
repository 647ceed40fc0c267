// PUBLISH against a real Kamailio (presence + presence_mwi, sqlite storage), over UDP and TCP.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { encodeMessageSummary } from '../../src/mwi/message-summary.ts';
import { MemoryPublicationStore } from '../../src/sip/publication-store.ts';
import { startKamailio, type KamailioHandle } from '../harness/kamailio.ts';
import { testSender } from '../support/sender.ts';

for (const transport of ['udp', 'tcp'] as const) {
  describe(`PUBLISH to Kamailio over ${transport.toUpperCase()}`, () => {
    let kam: KamailioHandle;
    let built: Awaited<ReturnType<typeof testSender>>;
    const store = new MemoryPublicationStore();
    const target = () => (transport === 'udp' ? kam.udpUri : kam.tcpUri);
    const rowsFor = async (user: string) => (await kam.presentities()).filter((p) => p.username === user && p.event === 'message-summary');

    before(async () => {
      kam = await startKamailio({ storage: 'sqlite', label: `publish-${transport}` });
      built = await testSender({ 'sip.transactionTimeoutMs': 2000 }, store);
    });
    after(async () => {
      await built?.sender.close();
      await kam?.stop();
    });

    it('initial PUBLISH is accepted and Kamailio stores exactly the body we sent', async () => {
      const mailbox = `sip:1000@mwi.test`;
      const summary = { counts: { 'voice-message': { new: 2, old: 8, urgentNew: 0, urgentOld: 2 } } };
      const out = await built.sender.send({ mailbox, summary, route: { mode: 'publish', target: target() } });
      assert.equal(out.kind, 'delivered', out.reason);
      assert.equal(out.status, 200);
      assert.ok(out.etag);
      assert.equal(out.grantedExpiresSec, 3600);
      const rows = await rowsFor('1000');
      assert.equal(rows.length, 1);
      assert.equal(rows[0]?.body, encodeMessageSummary({ ...summary, account: mailbox }));
      assert.equal(rows[0]?.etag, out.etag);
    });

    it('a modify carries SIP-If-Match, gets a new ETag, and replaces the stored body (no second record)', async () => {
      const mailbox = `sip:1001@mwi.test`;
      const first = await built.sender.send({ mailbox, summary: { counts: { 'voice-message': { new: 1, old: 0 } } }, route: { mode: 'publish', target: target() } });
      const second = await built.sender.send({ mailbox, summary: { counts: { 'voice-message': { new: 0, old: 1 } } }, route: { mode: 'publish', target: target() } });
      assert.equal(second.kind, 'delivered', second.reason);
      assert.equal(second.requests, 1);
      assert.notEqual(second.etag, first.etag);
      const rows = await rowsFor('1001');
      assert.equal(rows.length, 1);
      assert.equal(rows[0]?.etag, second.etag);
      assert.equal(rows[0]?.body, 'Messages-Waiting: no\r\nMessage-Account: sip:1001@mwi.test\r\nVoice-Message: 0/1\r\n');
    });

    it('after Kamailio restarts with its ETags gone, one initial PUBLISH recovers (412 then 200)', async () => {
      const mailbox = `sip:1002@mwi.test`;
      const route = { mode: 'publish' as const, target: target() };
      const before = await built.sender.send({ mailbox, summary: { counts: { 'voice-message': { new: 3, old: 0 } } }, route });
      assert.equal(before.kind, 'delivered');
      await kam.restart();
      const out = await built.sender.send({ mailbox, summary: { counts: { 'voice-message': { new: 4, old: 0 } } }, route });
      assert.equal(out.kind, 'delivered', out.reason);
      assert.equal(out.requests, 2);
      assert.match(out.reason, /^412 .*then 200/);
      const rows = await rowsFor('1002');
      assert.equal(rows.length, 1);
      assert.match(rows[0]?.body ?? '', /Voice-Message: 4\/0\r\n$/);
    });

    it('OPTIONS probe says up, and down while Kamailio is stopped (SIGSTOP)', async () => {
      assert.equal((await built.sender.probe(target())).up, true);
      kam.pause();
      try {
        const down = await built.sender.probe(target());
        assert.equal(down.up, false);
        assert.ok(down.elapsedMs >= 1900 && down.elapsedMs < 3500, `probe gave up after ${down.elapsedMs} ms`);
      } finally {
        kam.resume();
      }
    });
  });
}
