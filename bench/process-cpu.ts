/**
 * CPU time from Linux /proc, to tell during a phase whether the reference process (the SIPp UAS)
 * was the bottleneck, and how much CPU everything else on the machine took meanwhile (the
 * benchmarks share a small machine; other work on it shows up here, not in the figures).
 */
import { readFileSync } from 'node:fs';
import { performance } from 'node:perf_hooks';

/** USER_HZ: the unit of /proc times; 100 on every Linux architecture Node runs on. */
const CLOCK_TICKS_PER_SEC = 100;

function ticksToMs(ticks: number): number | undefined {
  return Number.isFinite(ticks) ? (ticks * 1000) / CLOCK_TICKS_PER_SEC : undefined;
}

/** User + system CPU milliseconds of `pid`, or undefined when /proc cannot tell. */
export function processCpuMs(pid: number): number | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // Fields after "(comm)": state is field 3, utime 14, stime 15 (proc(5)).
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return ticksToMs(Number(fields[11]) + Number(fields[12]));
  } catch {
    return undefined;
  }
}

/**
 * Idle time of the whole machine (idle + iowait, all CPUs) and its CPU count. Busy time is
 * derived from it (CPUs x wall - idle): on this VM the tick-sampled busy counters of /proc/stat
 * lag far behind the per-process times, while idle time is accounted exactly.
 */
export function machineIdle(): { idleMs: number; cpus: number } | undefined {
  try {
    const lines = readFileSync('/proc/stat', 'utf8').split('\n');
    // "cpu  user nice system idle iowait irq softirq steal ...", then one "cpuN" line per CPU.
    const fields = (lines[0] ?? '').trim().split(/\s+/).slice(1).map(Number);
    const idleMs = ticksToMs((fields[3] ?? Number.NaN) + (fields[4] ?? Number.NaN));
    const cpus = lines.filter((l) => /^cpu\d+ /.test(l)).length;
    return idleMs === undefined || cpus === 0 ? undefined : { idleMs, cpus };
  } catch {
    return undefined;
  }
}

export interface CpuShares {
  wallMs: number;
  /** This Node process (all its threads); 1 = one core busy all along. */
  self: number;
  /** The watched process, e.g. the SIPp UAS. */
  peer: number | undefined;
  /** Everything else on the machine: busy CPU minus this process and the peer (10 ms resolution). */
  others: number | undefined;
}

/** Runs `task` and measures the CPU shares of this process, `peerPid` and the rest of the machine. */
export async function withCpuShares<T>(peerPid: number, task: () => Promise<T>): Promise<{ value: T; cpu: CpuShares }> {
  const peer0 = processCpuMs(peerPid);
  const idle0 = machineIdle();
  const self0 = process.cpuUsage();
  const t0 = performance.now();
  const value = await task();
  const wallMs = performance.now() - t0;
  const selfUsage = process.cpuUsage(self0);
  const peer1 = processCpuMs(peerPid);
  const idle1 = machineIdle();
  const selfMs = (selfUsage.user + selfUsage.system) / 1000;
  const peerMs = peer0 === undefined || peer1 === undefined ? undefined : peer1 - peer0;
  const machineMs = idle0 === undefined || idle1 === undefined ? undefined : idle1.cpus * wallMs - (idle1.idleMs - idle0.idleMs);
  return {
    value,
    cpu: {
      wallMs,
      self: selfMs / wallMs,
      peer: peerMs === undefined ? undefined : peerMs / wallMs,
      others: machineMs === undefined || peerMs === undefined ? undefined : Math.max(0, machineMs - selfMs - peerMs) / wallMs,
    },
  };
}
