/** Runs a breaker probe to a bounded end: a throw or a timeout is a failed probe, never an error. */
import type { Clock, TimerHandle } from '../clock.ts';
import type { ProbeResult } from './types.ts';

export async function probeWithTimeout(probe: () => Promise<ProbeResult>, clock: Clock, timeoutMs: number): Promise<ProbeResult> {
  let timer: TimerHandle | undefined;
  const timeout = new Promise<ProbeResult>((resolve) => {
    timer = clock.setTimeout(() => resolve({ up: false, reason: `probe timed out after ${timeoutMs} ms` }), timeoutMs);
  });
  try {
    const run = Promise.resolve()
      .then(probe)
      .catch((err: unknown): ProbeResult => ({ up: false, reason: `probe failed: ${err instanceof Error ? err.message : String(err)}` }));
    return await Promise.race([run, timeout]);
  } finally {
    if (timer !== undefined) clock.clearTimeout(timer);
  }
}
