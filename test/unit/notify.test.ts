import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { FakeClock } from '../../src/clock.ts';
import { Notifier } from '../../src/sip/notify.ts';
import type { SipRequest, SipResult } from '../../src/sip/stack.ts';
import { parseTarget } from '../../src/sip/target.ts';

function notifierAnswering(status: number, sent: SipRequest[]) {
  const clock = new FakeClock();
  const stack = {
    request(req: SipRequest): Promise<SipResult> {
      sent.push(req);
      return Promise.resolve({ kind: 'response', status, reason: 'R', header: () => undefined, startedAt: clock.now(), elapsedMs: 1 });
    },
  };
  return new Notifier({ stack, clock, subscriptionState: 'terminated;reason=noresource', transactionTimeoutMs: 4000 });
}

describe('unsolicited NOTIFY', () => {
  const contact = parseTarget('sip:1000@127.0.0.1:5062;transport=tcp', 'UDP');

  it('goes to the phone contact with Event, Subscription-State, Contact and the body', async () => {
    const sent: SipRequest[] = [];
    const out = await notifierAnswering(200, sent).notify({ aor: 'sip:1000@pbx.test', contact, body: 'Messages-Waiting: no\r\n' });
    assert.equal(out.kind, 'delivered');
    const req = sent[0];
    assert.equal(req?.method, 'NOTIFY');
    assert.equal(req?.requestUri, contact.uri);
    assert.equal(req?.protocol, 'TCP');
    assert.equal(req?.route, undefined);
    assert.equal(req?.withContact, true);
    assert.deepEqual(req?.headers, ['Event: message-summary', 'Subscription-State: terminated;reason=noresource']);
    assert.equal(req?.body?.content, 'Messages-Waiting: no\r\n');
  });

  it('481 and 489 from a phone are permanent for that endpoint (it does not take unsolicited MWI)', async () => {
    for (const status of [481, 489]) {
      const out = await notifierAnswering(status, []).notify({ aor: 'sip:1000@pbx.test', contact, body: 'Messages-Waiting: no\r\n' });
      assert.equal(out.kind, 'permanent', String(status));
    }
  });
});
