import assert from 'node:assert/strict';
import { describe, it } from 'node:test';

import { LatencyRecorder, latencyPercentiles } from '../../bench/latency-percentiles.ts';
import { parseRttCsv } from '../../bench/raw-sipp.ts';

describe('bench latency percentiles', () => {
  it('takes the nearest rank of 1..1000 ms for p50, p90, p99, p99.9 and max, whatever the order', () => {
    const samples = Array.from({ length: 1_000 }, (_, i) => 1_000 - i);
    assert.deepEqual(latencyPercentiles(samples), { count: 1_000, p50Ms: 500, p90Ms: 900, p99Ms: 990, p999Ms: 999, maxMs: 1_000 });
    assert.equal(samples[0], 1_000, 'the input is not sorted in place');
  });

  it('gives NaN figures without samples, and the sample itself for one', () => {
    const none = latencyPercentiles([]);
    assert.equal(none.count, 0);
    assert.ok(Number.isNaN(none.p50Ms) && Number.isNaN(none.maxMs));
    assert.deepEqual(latencyPercentiles([7]), { count: 1, p50Ms: 7, p90Ms: 7, p99Ms: 7, p999Ms: 7, maxMs: 7 });
  });

  it('records past its first buffer', () => {
    const rec = new LatencyRecorder();
    for (let i = 1; i <= 5_000; i++) rec.add(i / 10);
    assert.equal(rec.count, 5_000);
    assert.deepEqual(rec.percentiles(), { count: 5_000, p50Ms: 250, p90Ms: 450, p99Ms: 495, p999Ms: 499.5, maxMs: 500 });
  });
});

describe('SIPp -trace_rtt file', () => {
  it('reads the response time column, skipping the header and blank or broken lines', () => {
    const text = 'Date_ms;response_time_ms;rtd_no\n588.001;16;1\n588.002;0;1\n\nnot;a number;1\n589.5;3;1\n';
    assert.deepEqual(parseRttCsv(text), [16, 0, 3]);
  });
});
