/**
 * SIPp's own UAC (test/sipp/uac-publish.xml: one initial PUBLISH per call, its own AOR per call)
 * ramped step by step against a peer, up to its highest clean rate. The raw-SIPp reference
 * (`rawSippRamp`, against a SIPp UAS) and the measured capacity of a real presence server
 * (`sippRamp` with other rates, e.g. Kamailio in the incident replay) share it.
 */
import { readFile, rm } from 'node:fs/promises';
import { runSippUac, type SippUasHandle } from '../test/harness/sipp.ts';
import { latencyPercentiles } from './latency-percentiles.ts';
import { withCpuShares, type CpuShares } from './process-cpu.ts';
import type { LatencyPercentiles } from './report.ts';

const RAW_RATES_PER_SEC = [10_000, 20_000, 30_000, 40_000, 50_000, 60_000, 80_000, 100_000];
export const RAW_STEP_SEC = 2.5;
/** Halvings of the gap above the last clean step of the ramp (10,000/s becomes 2,500/s). */
export const RAW_REFINE_STEPS = 2;
/** A ramp step is clean when every call succeeded, SIPp kept up with this share of the asked rate... */
export const RAW_MIN_ACHIEVED_SHARE = 0.9;
/** ...and retransmitted at most this share of its requests (beyond, the UAS is being outrun). */
export const RAW_MAX_RETRANSMISSION_SHARE = 0.01;
/** SIPp buffers traced response times and writes them every -rtt_freq calls (at most this many). */
const RTT_DUMP_MAX_CALLS = 1_000;

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
  /** Halvings of the gap above the last clean step. Default 0. */
  refineSteps?: number;
}

interface StepOptions {
  ratePerSec: number;
  stepSec: number;
  peerPid: number;
  label: string;
  stepTimeoutMs?: number;
  extraArgs?: readonly string[];
}

/** One step of SIPp's PUBLISH UAC at a fixed rate; the rtt file when extraArgs asked for one. */
async function sippStep(target: { host: string; port: number }, opts: StepOptions): Promise<{ step: RawStep; rttPath?: string }> {
  const rate = opts.ratePerSec;
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
      extraArgs: opts.extraArgs,
    }),
  );
  const clean =
    r.failed === 0 &&
    r.successful === calls &&
    r.callsPerSec >= RAW_MIN_ACHIEVED_SHARE * rate &&
    r.retransmissions <= RAW_MAX_RETRANSMISSION_SHARE * calls;
  const step = { askedPerSec: rate, achievedPerSec: r.callsPerSec, successful: r.successful, failed: r.failed, retransmissions: r.retransmissions, elapsedMs: r.elapsedMs, cpu, clean };
  return r.rttPath === undefined ? { step } : { step, rttPath: r.rttPath };
}

/**
 * Ramps SIPp's PUBLISH UAC against `target` (UDP) and returns every step run. With `refineSteps`,
 * the gap between the last clean step and the first one that was not is then halved that many
 * times (to 1,000/s), so the reference's ceiling is not understated by the coarse grid.
 */
export async function sippRamp(target: { host: string; port: number }, opts: SippRampOptions): Promise<RawStep[]> {
  const steps: RawStep[] = [];
  let clean = 0;
  let failed: number | undefined;
  for (const rate of opts.ratesPerSec) {
    const { step } = await sippStep(target, { ...opts, ratePerSec: rate });
    steps.push(step);
    if (!step.clean) {
      failed = rate;
      break;
    }
    clean = rate;
  }
  for (let i = 0; i < (opts.refineSteps ?? 0) && failed !== undefined && clean > 0; i++) {
    const rate = Math.round((clean + failed) / 2_000) * 1_000;
    if (rate <= clean || rate >= failed) break;
    const { step } = await sippStep(target, { ...opts, ratePerSec: rate });
    steps.push(step);
    if (step.clean) clean = rate;
    else failed = rate;
  }
  return steps;
}

/** Response times of one `-trace_rtt` file (`Date_ms;response_time_ms;rtd_no`), in ms. */
export function parseRttCsv(text: string): number[] {
  const out: number[] = [];
  for (const line of text.split('\n')) {
    const field = line.split(';')[1];
    if (field === undefined || field.trim() === '') continue;
    const ms = Number(field);
    if (Number.isFinite(ms)) out.push(ms);
  }
  return out;
}

function gcd(a: number, b: number): number {
  return b === 0 ? Math.max(1, a) : gcd(b, a % b);
}

/**
 * SIPp's own latency: one extra step at `ratePerSec` with every response time traced (not during
 * the ramp, whose rate the tracing could lower). SIPp measures in whole milliseconds.
 */
export async function sippLatency(target: { host: string; port: number }, opts: { ratePerSec: number; stepSec?: number; peerPid: number; label: string }): Promise<{ step: RawStep; latency: LatencyPercentiles }> {
  const stepSec = opts.stepSec ?? RAW_STEP_SEC;
  // SIPp never writes a last partial batch: a dump interval that divides the call count keeps them all.
  const dumpEvery = gcd(Math.round(opts.ratePerSec * stepSec), RTT_DUMP_MAX_CALLS);
  const { step, rttPath } = await sippStep(target, {
    ratePerSec: opts.ratePerSec,
    stepSec,
    peerPid: opts.peerPid,
    label: opts.label,
    extraArgs: ['-trace_rtt', '-rtt_freq', String(dumpEvery)],
  });
  if (rttPath === undefined) return { step, latency: latencyPercentiles([]) };
  try {
    return { step, latency: latencyPercentiles(parseRttCsv(await readFile(rttPath, 'utf8'))) };
  } finally {
    await rm(rttPath, { force: true });
  }
}

/** The raw-SIPp reference: the ramp, then two halvings of its last gap. */
export function rawSippRamp(uas: SippUasHandle, label = 'bench-raw'): Promise<RawStep[]> {
  return sippRamp(uas, { ratesPerSec: RAW_RATES_PER_SEC, stepSec: RAW_STEP_SEC, peerPid: uas.pid, label, refineSteps: RAW_REFINE_STEPS });
}

/** The highest clean step's achieved rate (0 when none was clean). */
export function highestCleanRate(steps: readonly RawStep[]): number {
  return Math.max(0, ...steps.filter((s) => s.clean).map((s) => s.achievedPerSec));
}

/** The highest clean step's offered rate (0 when none was clean): the capacity as the ramp's grid resolves it. */
export function highestCleanStep(steps: readonly RawStep[]): number {
  return Math.max(0, ...steps.filter((s) => s.clean).map((s) => s.askedPerSec));
}
