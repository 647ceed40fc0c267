import assert from 'node:assert/strict';
import { describe, it } from 'node:test';

import type { Outcome } from '../../src/delivery/outcome.ts';
import { ResponseMix, observeAll } from '../../src/delivery/response-mix.ts';

function outcome(status: number | undefined, cause: Outcome['cause'] = 'response'): Outcome {
  return { kind: 'delivered', cause, reason: '', requests: 1, startedAt: 0, elapsedMs: 1, ...(status === undefined ? {} : { status }) };
}

describe('ResponseMix: what each target answered', () => {
  it('counts by class, timeouts and transport errors per target', () => {
    const mix = new ResponseMix();
    mix.delivered('udp:10.0.0.1:5060', outcome(200), { latencyMs: 1, result: 'ok', retransmissions: 0 });
    mix.delivered('udp:10.0.0.1:5060', outcome(202), { latencyMs: 1, result: 'ok', retransmissions: 0 });
    mix.delivered('udp:10.0.0.1:5060', outcome(412), { latencyMs: 1, result: 'ok', retransmissions: 0 });
    mix.delivered('udp:10.0.0.1:5060', outcome(undefined, 'timeout'), { latencyMs: 4000, result: 'timeout', retransmissions: 3 });
    mix.delivered('udp:10.0.0.2:5060', outcome(503), { latencyMs: 1, result: 'overload', retransmissions: 0 });
    mix.delivered('tcp:10.0.0.3:5060', outcome(undefined, 'transport'), { latencyMs: 1, result: 'transport-error', retransmissions: 0 });
    assert.deepEqual(mix.snapshot(), {
      'udp:10.0.0.1:5060': { '2xx': 2, '4xx': 1, timeout: 1 },
      'udp:10.0.0.2:5060': { '5xx': 1 },
      'tcp:10.0.0.3:5060': { transport: 1 },
    });
  });

  it('observeAll tells every observer', () => {
    const a = new ResponseMix();
    const b = new ResponseMix();
    observeAll(a, b).delivered('udp:10.0.0.1:5060', outcome(200), { latencyMs: 1, result: 'ok', retransmissions: 0 });
    assert.deepEqual(a.snapshot(), b.snapshot());
    assert.deepEqual(a.snapshot(), { 'udp:10.0.0.1:5060': { '2xx': 1 } });
  });
});
