/**
 * SIPp's own UAC (test/sipp/uac-publish.xml: one initial PUBLISH per call, its own AOR per call)
 * ramped step by step against a peer, up to its highest clean rate. The raw-SIPp reference
 * (`rawSippRamp`, against a SIPp UAS) and the measured capacity of a real presence server
 * (`sippRamp` with other rates, e.g. Kamailio in the incident replay) share it.
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

export interface SippRampOptions {
  /** Offered rates (calls/s), in increasing order; the ramp stops after the first step that is not clean. */
  ratesPerSec: readonly number[];
  stepSec: number;
  /** The watched peer process, for the CPU shares. */
  peerPid: number;
  /** Log label prefix; also the AOR user-part prefix (one per step, so no step re-publishes another's AORs). */
  label: string;
  /** Per step. Default 30 s. */
  stepTimeoutMs?: number;
}

/** Ramps SIPp's PUBLISH UAC against `target` (UDP) and returns every step run. */
export async function sippRamp(target: { host: string; port: number }, opts: SippRampOptions): Promise<RawStep[]> {
  const steps: RawStep[] = [];
  for (const rate of opts.ratesPerSec) {
    const calls = Math.round(rate * opts.stepSec);
    const { value: r, cpu } = await withCpuShares(opts.peerPid, () =>
      runSippUac({
        target,
        rate,
        calls,
        transport: 'udp',
        service: `${opts.label}-${rate}`,
        timeoutMs: opts.stepTimeoutMs ?? 30_000,
        label: `${opts.label}-${rate}`,
      }),
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

export function rawSippRamp(uas: SippUasHandle): Promise<RawStep[]> {
  return sippRamp(uas, { ratesPerSec: RAW_RATES_PER_SEC, stepSec: RAW_STEP_SEC, peerPid: uas.pid, label: 'bench-raw' });
}

/** The highest clean step's achieved rate (0 when none was clean). */
export function highestCleanRate(steps: readonly RawStep[]): number {
  return Math.max(0, ...steps.filter((s) => s.clean).map((s) => s.achievedPerSec));
}

/** The highest clean step's offered rate (0 when none was clean): the capacity as the ramp's grid resolves it. */
export function highestCleanStep(steps: readonly RawStep[]): number {
  return Math.max(0, ...steps.filter((s) => s.clean).map((s) => s.askedPerSec));
}
