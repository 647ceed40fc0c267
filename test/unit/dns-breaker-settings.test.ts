import assert from 'node:assert/strict';
import { describe, it } from 'node:test';

import { defaultConfig } from '../../config/schema.ts';
import { probeDelayMs } from '../../src/breaker/breaker-state.ts';
import { dnsBreakerSettings } from '../../src/delivery/start-protections.ts';

describe('DNS breaker settings', () => {
  it('probes no more often than dns.failureRecheckSec (RFC 8767), and at most twice that apart, whatever the jitter and failed probes', () => {
    for (const recheckSec of [2, 30]) {
      const config = defaultConfig();
      config.dns.failureRecheckSec = recheckSec;
      const settings = dnsBreakerSettings(config);
      for (const failedProbes of [0, 1, 5]) {
        for (const r of [0, 0.25, 0.5, 0.999, 1]) {
          const delay = probeDelayMs(failedProbes, settings, () => r);
          assert.ok(delay >= recheckSec * 1_000 && delay <= 2 * recheckSec * 1_000, `recheck ${recheckSec} s, random ${r}: ${delay} ms`);
        }
      }
      assert.equal(settings.minFailures, 2);
      assert.ok(settings.windowMs >= 2 * recheckSec * 1_000);
    }
  });
});
