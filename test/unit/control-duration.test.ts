import assert from 'node:assert/strict';
import { describe, it } from 'node:test';

import { MAX_DURATION_MS, formatDurationMs, parseDurationMs } from '../../src/control/duration.ts';
import { ErrorCodes, isMwiError } from '../../src/errors.ts';

describe('control duration (--for)', () => {
  it('reads a whole number with one unit: s, m, h or d', () => {
    assert.equal(parseDurationMs('30s'), 30_000);
    assert.equal(parseDurationMs('30m'), 1_800_000);
    assert.equal(parseDurationMs('2h'), 7_200_000);
    assert.equal(parseDurationMs('1d'), 86_400_000);
    assert.equal(parseDurationMs(' 5m '), 300_000, 'surrounding blanks are ignored');
  });

  it('accepts up to 30 days and refuses longer', () => {
    assert.equal(parseDurationMs('30d'), MAX_DURATION_MS);
    assert.throws(() => parseDurationMs('31d'), (err: unknown) => isMwiError(err, ErrorCodes.CLI_USAGE) && /at most 30d/.test(err.message));
    assert.throws(() => parseDurationMs('721h'), (err: unknown) => isMwiError(err, ErrorCodes.CLI_USAGE));
  });

  it('refuses anything else with MWI_CLI_USAGE naming the flag and the value', () => {
    for (const bad of ['', '30', 'm', '0s', '-5m', '1.5h', '1h30m', '30M', '30 m', '5w', '30ms', 'soon', '01m', '99999999s']) {
      assert.throws(
        () => parseDurationMs(bad),
        (err: unknown) => isMwiError(err, ErrorCodes.CLI_USAGE) && err.message.startsWith('--for must be') && err.message.includes(JSON.stringify(bad)),
        bad,
      );
    }
  });

  it('formats a duration for people in its two largest units', () => {
    assert.equal(formatDurationMs(0), '0s');
    assert.equal(formatDurationMs(999), '0s');
    assert.equal(formatDurationMs(30_000), '30s');
    assert.equal(formatDurationMs(5_400_000), '1h30m');
    assert.equal(formatDurationMs(90_061_000), '1d1h');
    assert.equal(formatDurationMs(-5), '0s');
  });
});
