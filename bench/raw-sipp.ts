/**
 * The raw-SIPp reference: SIPp's own UAC (test/sipp/uac-publish.xml) against a SIPp UAS, ramped
 * to its highest clean rate. Shared by the benchmarks that compare against it.
 */
import { runSippUac, type SippUasHandle } from '../test/harness/sipp.ts';
import { withCpuShares, type CpuShares } from './process-cpu.ts';

const RAW_RATES_PER_SEC = [10_000, 20_000, 30_000, 40_000, 50_000, 60_000, 80_000, 100_000];
export const RAW_STEP_SEC = 2.5;
/** A ramp step is clean when every call succeeded, SIPp kept up with this share of the asked rate... */
export const RAW_MIN_ACHIEVED_SHARE = 0.9;
/** ...and retransmitted at most this share of its requests (beyond, the UAS is being outrun). */
export const RAW_MAX_RETRANSMISSION_SHARE = 0.01;

export interface RawStep {
  askedPerSec: number;
  achievedPerSec: number;
  successful: number;
  failed: number;
  retransmissions: number;
  elapsedMs: number;
  cpu: CpuShares;
  clean: boolean;
}

export async function rawSippRamp(uas: SippUasHandle): Promise<RawStep[]> {
  const steps: RawStep[] = [];
  for (const rate of RAW_RATES_PER_SEC) {
    const calls = Math.round(rate * RAW_STEP_SEC);
    const { value: r, cpu } = await withCpuShares(uas.pid, () =>
      runSippUac({ target: { host: uas.host, port: uas.port }, rate, calls, transport: 'udp', timeoutMs: 30_000, label: `bench-raw-${rate}` }),
    );
    const clean =
      r.failed === 0 &&
      r.successful === calls &&
      r.callsPerSec >= RAW_MIN_ACHIEVED_SHARE * rate &&
      r.retransmissions <= RAW_MAX_RETRANSMISSION_SHARE * calls;
    steps.push({ askedPerSec: rate, achievedPerSec: r.callsPerSec, successful: r.successful, failed: r.failed, retransmissions: r.retransmissions, elapsedMs: r.elapsedMs, cpu, clean });
    if (!clean) break;
  }
  return steps;
}

/** The highest clean step's achieved rate (0 when none was clean). */
export function highestCleanRate(steps: readonly RawStep[]): number {
  return Math.max(0, ...steps.filter((s) => s.clean).map((s) => s.achievedPerSec));
}
