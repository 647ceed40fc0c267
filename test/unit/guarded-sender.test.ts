import assert from 'node:assert/strict';
import { describe, it } from 'node:test';

import type { BreakerState, Evidence, FleetBreakers, ProbeResult } from '../../src/breaker/types.ts';
import { FakeClock } from '../../src/clock.ts';
import { GuardedSender, type GuardSettings } from '../../src/delivery/guarded-sender.ts';
import type { Outcome } from '../../src/delivery/outcome.ts';
import type { MwiDelivery, MwiSender, ProbeOutcome } from '../../src/delivery/sender.ts';
import type { SipHop, SipLocator } from '../../src/dns/types.ts';
import { ErrorCodes, MwiError } from '../../src/errors.ts';
import type { Admission, SendFeedback, TargetGate } from '../../src/rate/types.ts';
import type { ExplicitHop } from '../../src/sip/transport/transport.ts';

const SETTINGS: GuardSettings = { defaultProtocol: 'UDP', t1Ms: 500, t2Ms: 4000, transactionTimeoutMs: 4000, probeMaxMs: 30_000, dnsRecheckMs: 30_000 };

function hop(address: string, port = 5060): SipHop {
  return { address, port, protocol: 'UDP', hostName: 'ps.example.test', key: `udp:${address}:${port}` };
}

class FakeBreakers implements FleetBreakers {
  readonly states = new Map<string, BreakerState>();
  readonly evidence: Array<[string, Evidence]> = [];
  readonly probes = new Map<string, () => Promise<ProbeResult>>();
  state(id: string): BreakerState {
    return this.states.get(id) ?? { kind: 'closed' };
  }
  register(id: string, probe: () => Promise<ProbeResult>): void {
    this.probes.set(id, probe);
  }
  record(id: string, evidence: Evidence): void {
    this.evidence.push([id, evidence]);
  }
  isolate(): Promise<void> {
    return Promise.resolve();
  }
  reset(): Promise<void> {
    return Promise.resolve();
  }
  list() {
    return Promise.resolve([]);
  }
  onTransition() {
    return () => {};
  }
  close(): Promise<void> {
    return Promise.resolve();
  }
}

class FakeGate implements TargetGate {
  readonly feedback: Array<[string, SendFeedback | undefined]> = [];
  readonly holds: Array<[string, number, string]> = [];
  readonly oc: Array<[string, number, number]> = [];
  refuse: { reason: string; retryAt: number } | undefined;
  admit(id: string): Promise<Admission> {
    if (this.refuse) return Promise.resolve({ ok: false, ...this.refuse });
    return Promise.resolve({ ok: true, permit: { release: (f) => void this.feedback.push([id, f]) } });
  }
  hold(id: string, untilMs: number, reason: string): Promise<void> {
    this.holds.push([id, untilMs, reason]);
    return Promise.resolve();
  }
  overloadControl(id: string, percent: number, validityMs: number): Promise<void> {
    this.oc.push([id, percent, validityMs]);
    return Promise.resolve();
  }
  slowStart(): Promise<void> {
    return Promise.resolve();
  }
  snapshot() {
    return undefined;
  }
  snapshots() {
    return [];
  }
  close(): Promise<void> {
    return Promise.resolve();
  }
}

/** Answers per hop address from a script; records where each delivery went. */
class ScriptedInner implements MwiSender {
  readonly sentTo: string[] = [];
  readonly probed: Array<ExplicitHop | undefined> = [];
  readonly clock: FakeClock;
  readonly answers: Record<string, Partial<Outcome> & Pick<Outcome, 'kind' | 'cause' | 'reason'>>;
  constructor(clock: FakeClock, answers: Record<string, Partial<Outcome> & Pick<Outcome, 'kind' | 'cause' | 'reason'>>) {
    this.clock = clock;
    this.answers = answers;
  }
  send(d: MwiDelivery): Promise<Outcome> {
    const address = d.hop?.destination.host ?? 'none';
    this.sentTo.push(address);
    const a = this.answers[address] ?? { kind: 'delivered', cause: 'response', reason: '200 OK', status: 200 };
    return Promise.resolve({ requests: 1, startedAt: this.clock.now(), elapsedMs: 20, ...a });
  }
  probe(_target: string, hop?: ExplicitHop): Promise<ProbeOutcome> {
    this.probed.push(hop);
    return Promise.resolve({ up: true, status: 200, reason: '200 OK', elapsedMs: 1 });
  }
  close(): Promise<void> {
    return Promise.resolve();
  }
}

function locator(hops: SipHop[] | Error): SipLocator {
  return { locate: () => (hops instanceof Error ? Promise.reject(hops) : Promise.resolve(hops)) };
}

const delivery: MwiDelivery = {
  mailbox: 'sip:1000@pbx.example.test',
  summary: { counts: { 'voice-message': { new: 1, old: 0 } } },
  route: { mode: 'publish', target: 'sip:ps.example.test' },
};

function setup(hops: SipHop[] | Error, answers: ConstructorParameters<typeof ScriptedInner>[1] = {}) {
  const clock = new FakeClock();
  const breakers = new FakeBreakers();
  const gate = new FakeGate();
  const inner = new ScriptedInner(clock, answers);
  const log = { debug: () => {}, info: () => {}, warn: () => {} };
  const sender = new GuardedSender({ inner, locator: locator(hops), breakers, gate, clock, log, settings: SETTINGS, random: () => 0.5 });
  return { clock, breakers, gate, inner, sender };
}

describe('GuardedSender: the protections every PUBLISH passes', () => {
  it('sends to the first hop, releases its permit with feedback and records ok evidence', async () => {
    const { sender, inner, gate, breakers } = setup([hop('10.0.0.1'), hop('10.0.0.2')]);
    const outcome = await sender.send(delivery);
    assert.equal(outcome.kind, 'delivered');
    assert.equal(outcome.hopKey, 'udp:10.0.0.1:5060');
    assert.deepEqual(inner.sentTo, ['10.0.0.1']);
    assert.deepEqual(gate.feedback, [['udp:10.0.0.1:5060', { latencyMs: 20, result: 'ok', retransmissions: 0 }]]);
    assert.deepEqual(breakers.evidence, [['udp:10.0.0.1:5060', { ok: true }]]);
  });

  it('gives the inner sender admitAnother: each further request takes a send slot of the same hop, released when the delivery ends', async () => {
    const { sender, inner, gate } = setup([hop('10.0.0.1')]);
    const answers: Array<{ ok: boolean; reason?: string }> = [];
    inner.send = async (d: MwiDelivery): Promise<Outcome> => {
      assert.ok(d.admitAnother, 'the inner sender can ask for another slot');
      answers.push(await d.admitAnother());
      assert.equal(gate.feedback.length, 0, 'slots are held while the delivery goes on');
      gate.refuse = { reason: 'no send slot within 2000 ms (rate limited)', retryAt: inner.clock.now() + 700 };
      const second = await d.admitAnother();
      answers.push(second.ok ? { ok: true } : { ok: false, reason: second.reason });
      gate.refuse = undefined;
      return { kind: 'delivered', cause: 'response', reason: '412, then 200 OK', status: 200, requests: 2, startedAt: inner.clock.now(), elapsedMs: 20 };
    };
    assert.equal((await sender.send(delivery)).kind, 'delivered');
    assert.deepEqual(answers, [{ ok: true }, { ok: false, reason: 'MWI_TARGET_HELD: udp:10.0.0.1:5060: no send slot within 2000 ms (rate limited)' }]);
    // The delivery's own slot carries the feedback; the extra one is released without.
    assert.deepEqual(gate.feedback.map(([id, f]) => [id, f === undefined]), [['udp:10.0.0.1:5060', true], ['udp:10.0.0.1:5060', false]]);
  });

  it('admitAnother asks again while a paced hop refuses after waiting, up to one transaction timeout', async () => {
    const { sender, inner, gate, clock } = setup([hop('10.0.0.1')]);
    const admit = gate.admit.bind(gate);
    let calls = 0;
    let paced = 0;
    gate.admit = (id: string) => {
      calls++;
      if (calls >= 2 && calls <= 1 + paced) {
        clock.advance(1_500); // waited rate.maxWaitMs in the queue, then refused
        return Promise.resolve({ ok: false, reason: 'no send slot within 1500 ms (rate limited)', retryAt: clock.now() + 100 });
      }
      return admit(id);
    };
    const answers: boolean[] = [];
    inner.send = async (d: MwiDelivery): Promise<Outcome> => {
      paced = 1; // once: granted on the next try
      answers.push((await d.admitAnother?.())?.ok ?? false);
      calls = 1;
      paced = 10; // for longer than SETTINGS.transactionTimeoutMs: refused
      answers.push((await d.admitAnother?.())?.ok ?? false);
      return { kind: 'delivered', cause: 'response', reason: '200 OK', status: 200, requests: 1, startedAt: clock.now(), elapsedMs: 1 };
    };
    await sender.send(delivery);
    assert.deepEqual(answers, [true, false]);
    assert.ok(calls <= 2 + Math.ceil(SETTINGS.transactionTimeoutMs / 1_500), `${calls} tries`);
  });

  it('moves to the next hop after a timeout (failure evidence for the first)', async () => {
    const { sender, inner, breakers, gate } = setup([hop('10.0.0.1'), hop('10.0.0.2')], {
      '10.0.0.1': { kind: 'retryable', cause: 'timeout', reason: 'no final response within 4000 ms', elapsedMs: 4000 },
    });
    const outcome = await sender.send(delivery);
    assert.equal(outcome.kind, 'delivered');
    assert.deepEqual(inner.sentTo, ['10.0.0.1', '10.0.0.2']);
    assert.deepEqual(breakers.evidence[0], ['udp:10.0.0.1:5060', { ok: false, reason: 'no final response within 4000 ms' }]);
    // A 4 s timeout over UDP went out at 0, 500, 1500 and 3500 ms: three retransmissions.
    assert.deepEqual(gate.feedback[0], ['udp:10.0.0.1:5060', { latencyMs: 4000, result: 'timeout', retransmissions: 3 }]);
  });

  it('on 503 with Retry-After holds the hop fleet-wide, fails over, and spreads the retry delay', async () => {
    const { sender, gate, inner } = setup([hop('10.0.0.1')], {
      '10.0.0.1': { kind: 'retryable', cause: 'response', status: 503, reason: '503 Service Unavailable', retryAfterMs: 10_000 },
    });
    const outcome = await sender.send(delivery);
    assert.equal(outcome.kind, 'retryable');
    assert.equal(gate.holds.length, 1);
    assert.equal(gate.holds[0]?.[0], 'udp:10.0.0.1:5060');
    assert.ok((outcome.retryAfterMs ?? 0) >= 10_000 && (outcome.retryAfterMs ?? 0) <= 12_000, String(outcome.retryAfterMs));
    assert.deepEqual(inner.sentTo, ['10.0.0.1']);
  });

  it('a 500 for one mailbox is not a failover and not failure evidence', async () => {
    const { sender, inner, breakers } = setup([hop('10.0.0.1'), hop('10.0.0.2')], {
      '10.0.0.1': { kind: 'permanent', cause: 'response', status: 500, reason: '500 Server Internal Error' },
    });
    const outcome = await sender.send(delivery);
    assert.equal(outcome.kind, 'permanent');
    assert.deepEqual(inner.sentTo, ['10.0.0.1']);
    assert.deepEqual(breakers.evidence, [['udp:10.0.0.1:5060', { ok: true }]]);
  });

  it('skips a hop whose breaker is open and uses the next one', async () => {
    const { sender, inner, breakers, clock } = setup([hop('10.0.0.1'), hop('10.0.0.2')]);
    breakers.states.set('udp:10.0.0.1:5060', { kind: 'open', since: clock.now(), reason: 'timeouts', nextProbeAt: clock.now() + 1000, failedProbes: 0 });
    const outcome = await sender.send(delivery);
    assert.equal(outcome.kind, 'delivered');
    assert.deepEqual(inner.sentTo, ['10.0.0.2']);
  });

  it('defers without sending when every hop is open, spread over [probeMax/2, probeMax]', async () => {
    const { sender, inner, breakers, clock } = setup([hop('10.0.0.1')]);
    breakers.states.set('udp:10.0.0.1:5060', { kind: 'open', since: clock.now(), reason: 'timeouts', nextProbeAt: clock.now() + 1000, failedProbes: 0 });
    const outcome = await sender.send(delivery);
    assert.equal(outcome.kind, 'deferred');
    assert.equal(outcome.requests, 0);
    assert.match(outcome.reason, /MWI_BREAKER_OPEN/);
    const waitMs = (outcome.retryAt ?? 0) - clock.now();
    assert.ok(waitMs >= 15_000 && waitMs <= 30_000, String(waitMs));
    assert.deepEqual(inner.sentTo, []);
  });

  it('defers an isolated target and never probes through send', async () => {
    const { sender, inner, breakers, clock } = setup([hop('10.0.0.1')]);
    breakers.states.set('udp:10.0.0.1:5060', { kind: 'isolated', since: clock.now(), reason: 'maintenance', actor: 'alice' });
    const outcome = await sender.send(delivery);
    assert.equal(outcome.kind, 'deferred');
    assert.deepEqual(inner.sentTo, []);
  });

  it('defers when the gate has no room in time (no failover to a backup for pacing)', async () => {
    const { sender, inner, gate, clock } = setup([hop('10.0.0.1'), hop('10.0.0.2')]);
    gate.refuse = { reason: 'held by 503 Retry-After', retryAt: clock.now() + 5000 };
    const outcome = await sender.send(delivery);
    assert.equal(outcome.kind, 'deferred');
    assert.equal(outcome.retryAt, clock.now() + 5000);
    assert.match(outcome.reason, /MWI_TARGET_HELD/);
    assert.deepEqual(inner.sentTo, []);
  });

  it('a breaker that opens while a delivery waits for its send slot stops that delivery too', async () => {
    const { sender, inner, gate, breakers, clock } = setup([hop('10.0.0.1')]);
    const admit = gate.admit.bind(gate);
    gate.admit = (id: string) => {
      breakers.states.set(id, { kind: 'open', since: clock.now(), reason: 'timeouts', nextProbeAt: clock.now() + 1000, failedProbes: 0 });
      return admit(id);
    };
    const outcome = await sender.send(delivery);
    assert.equal(outcome.kind, 'deferred');
    assert.match(outcome.reason, /MWI_BREAKER_OPEN/);
    assert.deepEqual(inner.sentTo, []);
    assert.deepEqual(gate.feedback, [['udp:10.0.0.1:5060', undefined]], 'the permit went back unused');
  });

  it('registers an OPTIONS probe per hop that goes to that hop', async () => {
    const { sender, inner, breakers } = setup([hop('10.0.0.1')]);
    await sender.send(delivery);
    const probe = breakers.probes.get('udp:10.0.0.1:5060');
    assert.ok(probe);
    assert.deepEqual(await probe(), { up: true, reason: '200 OK' });
    assert.deepEqual(inner.probed, [{ destination: { host: '10.0.0.1', port: 5060 }, hostName: 'ps.example.test' }]);
  });

  it('probe (the sweep health check) is down without sending while every hop is open, else probes the first closed hop', async () => {
    const { sender, inner, breakers, clock } = setup([hop('10.0.0.1'), hop('10.0.0.2')]);
    breakers.states.set('udp:10.0.0.1:5060', { kind: 'open', since: clock.now(), reason: 'timeouts', nextProbeAt: clock.now() + 1000, failedProbes: 0 });
    assert.equal((await sender.probe('sip:ps.example.test')).up, true);
    assert.deepEqual(inner.probed, [{ destination: { host: '10.0.0.2', port: 5060 }, hostName: 'ps.example.test' }]);
    breakers.states.set('udp:10.0.0.2:5060', { kind: 'isolated', since: clock.now(), reason: 'maintenance', actor: 'alice' });
    const down = await sender.probe('sip:ps.example.test');
    assert.equal(down.up, false);
    assert.match(down.reason, /MWI_BREAKER_OPEN/);
    assert.equal(inner.probed.length, 1);
  });

  it('passes RFC 7339 oc feedback to the gate', async () => {
    const { sender, gate } = setup([hop('10.0.0.1')], {
      '10.0.0.1': { kind: 'delivered', cause: 'response', status: 200, reason: '200 OK', overload: { percent: 30, validityMs: 2000 } },
    });
    await sender.send(delivery);
    assert.deepEqual(gate.oc, [['udp:10.0.0.1:5060', 30, 2000]]);
  });

  it('DNS down without a cached answer: deferred; NXDOMAIN: a target configuration error', async () => {
    const down = setup(new MwiError(ErrorCodes.DNS_TIMEOUT, 'no answer', { retryable: true }));
    const o1 = await down.sender.send(delivery);
    assert.equal(o1.kind, 'deferred');
    assert.match(o1.reason, /MWI_DNS_TIMEOUT/);
    const nx = setup(new MwiError(ErrorCodes.DNS_NXDOMAIN, 'ps.example.test does not exist'));
    const o2 = await nx.sender.send(delivery);
    assert.equal(o2.kind, 'config-error');
    assert.match(o2.reason, /MWI_DNS_NXDOMAIN/);
  });

  it('NOTIFY to a phone is located but has no breaker or rate state', async () => {
    const { sender, inner, gate, breakers } = setup([hop('192.0.2.10', 5062)]);
    const outcome = await sender.send({ ...delivery, route: { mode: 'notify', contact: 'sip:1000@192.0.2.10:5062' } });
    assert.equal(outcome.kind, 'delivered');
    assert.deepEqual(inner.sentTo, ['192.0.2.10']);
    assert.deepEqual(gate.feedback, []);
    assert.deepEqual(breakers.evidence, []);
  });
});
