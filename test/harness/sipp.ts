/**
 * SIPp 3.6 (Debian package sip-tester) as a scripted SIP peer: UAS scenarios that answer our
 * PUBLISH / NOTIFY / OPTIONS in fixed ways (test/sipp/uas-*.xml), and a raw UAC
 * (test/sipp/uac-publish.xml) as the benchmark's reference.
 *
 * How requests are counted: the UAS runs with `-trace_shortmsg`, which writes one tab-separated
 * line per SIP message sent or received, flushed as it happens, for every datagram/segment
 * including retransmissions and messages for dead or unknown calls:
 *   date \t time \t epoch.usec \t R|S \t Call-ID \t CSeq:N METHOD \t first line
 * `requests()` returns the complete "R" lines. Tracing roughly halves SIPp's top rate (about
 * 30k instead of 50k requests/s on 2 cores), so throughput tests pass `countRequests: false` and
 * use `stats()` (the `-trace_stat` CSV, rewritten every second and at exit) instead.
 */
import fsp from 'node:fs/promises';
import path from 'node:path';

import { freePort, isAddressInUse, processHoldsPort, startMovingOnPortClash } from './ports.ts';
import { makeWorkDir, newLogPath, REPO_ROOT, requireBinary, spawnManaged } from './process.ts';
import type { ManagedProcess } from './process.ts';

export const SIPP_PACKAGE = 'sip-tester';
export const SIPP_SCENARIO_DIR = path.join(REPO_ROOT, 'test', 'sipp');
/** Credentials and realm that uas-401-then-200.xml challenges for and verifies. */
export const SIPP_AUTH = { realm: 'mwi.test', username: 'mwi', password: 'mwi-secret' } as const;

export type UasScenario =
  | 'uas-200'
  | 'uas-echo'
  | 'uas-401-then-200'
  | 'uas-423'
  | 'uas-412'
  | 'uas-489'
  | 'uas-500'
  | 'uas-503-retry-after'
  | 'uas-silent';

export type SippTransport = 'udp' | 'tcp';

/** Socket and scheduler tuning: without it SIPp drops and retransmits well below 50k msgs/s. */
const PERF_ARGS = ['-buff_size', '8388608', '-max_recv_loops', '100000', '-max_sched_loops', '100000'];

function scenarioPath(scenario: string): string {
  return scenario.endsWith('.xml') ? path.resolve(scenario) : path.join(SIPP_SCENARIO_DIR, `${scenario}.xml`);
}

function transportFlag(transport: SippTransport): string {
  // u1 / t1: one socket for all calls (server side: one listening socket).
  return transport === 'udp' ? 'u1' : 't1';
}

export interface ReceivedRequest {
  /** Unix time in milliseconds (microsecond precision). */
  atMs: number;
  callId: string;
  /** e.g. "1 PUBLISH" */
  cseq: string;
  method: string;
  /** e.g. "PUBLISH sip:alice@mwi.test SIP/2.0" */
  requestLine: string;
}

/** Parse a `-trace_shortmsg` file: the received requests, complete lines only. */
export function parseShortMessages(text: string): ReceivedRequest[] {
  const complete = text.slice(0, text.lastIndexOf('\n') + 1);
  const result: ReceivedRequest[] = [];
  for (const line of complete.split('\n')) {
    const parts = line.split('\t');
    if (parts.length < 7 || parts[3] !== 'R') continue;
    const first = parts.slice(6).join('\t').trim();
    if (first.startsWith('SIP/2.0 ')) continue; // a response
    result.push({
      atMs: Number(parts[2]) * 1000,
      callId: parts[4] ?? '',
      cseq: (parts[5] ?? '').replace(/^CSeq:\s*/, ''),
      method: first.split(' ')[0] ?? '',
      requestLine: first,
    });
  }
  return result;
}

export interface SippStats {
  /** Calls created by incoming requests (UAS) — with -deadcall_wait 0, one per request for one-step scenarios. */
  incomingCalls: number;
  outgoingCalls: number;
  currentCalls: number;
  successfulCalls: number;
  failedCalls: number;
  retransmissions: number;
  deadCallMsgs: number;
  outOfCallMsgs: number;
  /** From SIPp's start to the time of this line. */
  elapsedMs: number;
  /** SIPp's cumulative call rate (calls/s). */
  callRate: number;
}

/** Parse the last complete line of a `-trace_stat` CSV (';'-separated, with a header line). */
export function parseStatCsv(text: string): SippStats | undefined {
  const lines = text.split('\n').filter((l) => l.trim() !== '');
  const header = lines[0]?.split(';');
  const last = lines.length > 1 ? lines[lines.length - 1]?.split(';') : undefined;
  if (!header || !last || last.length < header.length - 1) return undefined;
  const get = (name: string): string => last[header.indexOf(name)] ?? '';
  const num = (name: string): number => Number(get(name)) || 0;
  // Times look like "2026-11-21\t06:16:40.594405\t1795241800.594405": the epoch is the last field.
  const epoch = (name: string): number => Number(get(name).split('\t').pop());
  return {
    incomingCalls: num('IncomingCall(C)'),
    outgoingCalls: num('OutgoingCall(C)'),
    currentCalls: num('CurrentCall'),
    successfulCalls: num('SuccessfulCall(C)'),
    failedCalls: num('FailedCall(C)'),
    retransmissions: num('Retransmissions(C)'),
    deadCallMsgs: num('DeadCallMsgs(C)'),
    outOfCallMsgs: num('OutOfCallMsgs(C)'),
    elapsedMs: Math.round((epoch('CurrentTime') - epoch('StartTime')) * 1000),
    callRate: num('CallRate(C)'),
  };
}

export interface SippUasOptions {
  /** A scenario of test/sipp (name without .xml) or a path to an .xml file. */
  scenario: UasScenario | `${string}.xml`;
  transport: SippTransport;
  /** Default: a free port. */
  port?: number;
  /** Log every message with -trace_shortmsg so requests() can count them. Default true. */
  countRequests?: boolean;
  extraArgs?: readonly string[];
  label?: string;
  readyTimeoutMs?: number;
}

export interface SippUasHandle {
  readonly host: '127.0.0.1';
  readonly port: number;
  readonly transport: SippTransport;
  /** sip:127.0.0.1:PORT;transport=udp|tcp */
  readonly uri: string;
  readonly scenarioPath: string;
  /** SIPp's stdout/stderr (screens every second). */
  readonly logPath: string;
  /** -trace_err: unexpected messages and warnings (uas-401-then-200 logs a harmless
   * "authentication must be digest" per unauthenticated request here). */
  readonly errorLogPath: string;
  readonly workDir: string;
  readonly pid: number;
  /** SIGTERM (SIPp prints final stats and exits), SIGKILL after 5 s. Idempotent. */
  stop(): Promise<void>;
  /** SIGSTOP / SIGCONT. */
  pause(): void;
  resume(): void;
  /** Every request received so far, retransmissions included (needs countRequests). */
  requests(): Promise<ReceivedRequest[]>;
  requestCount(method?: string): Promise<number>;
  /** Poll until at least `count` requests (of `method`) arrived; rejects after timeoutMs. */
  waitForRequests(count: number, options?: { method?: string; timeoutMs?: number }): Promise<ReceivedRequest[]>;
  /** Latest `-trace_stat` line (written every second and at exit), undefined before the first. */
  stats(): Promise<SippStats | undefined>;
}

function delay(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

export async function startSippUas(options: SippUasOptions): Promise<SippUasHandle> {
  const sipp = requireBinary('sipp', SIPP_PACKAGE);
  const file = scenarioPath(options.scenario);
  await fsp.access(file).catch(() => {
    throw new Error(`SIPp scenario not found: ${file}`);
  });
  const host = '127.0.0.1';
  const countRequests = options.countRequests ?? true;
  const workDir = await makeWorkDir('sipp');
  const shortMsgPath = path.join(workDir, 'messages.tsv');
  const statPath = path.join(workDir, 'stat.csv');
  const errorLogPath = path.join(workDir, 'errors.log');
  const name = `sipp-${path.basename(file, '.xml')}`;

  let port = options.port ?? (await freePort({ host }));
  let logPath = '';
  const launch = (): Promise<ManagedProcess> => {
    logPath = newLogPath(name, options.label);
    const args = [
      '-sf', file,
      '-i', host,
      '-p', String(port),
      '-t', transportFlag(options.transport),
      // No terminal in CI: never read stdin; screens still go to stdout (our log).
      '-nostdin',
      // No default behaviours: never send BYE/CANCEL to the client on timeouts or surprises.
      '-nd',
      // Forget finished calls at once, so a Call-ID the client reuses starts a new call instead
      // of being discarded as a message for a "dead call" (the default keeps them 33 s).
      '-deadcall_wait', '0',
      '-trace_err', '-error_file', errorLogPath,
      '-trace_stat', '-stf', statPath, '-fd', '1',
      ...(countRequests ? ['-trace_shortmsg', '-shortmessage_file', shortMsgPath] : []),
      ...PERF_ARGS,
      ...(options.extraArgs ?? []),
    ];
    return spawnManaged({
        name,
        command: sipp,
        debPackages: SIPP_PACKAGE,
        args,
        cwd: workDir,
        logPath,
        readyTimeoutMs: options.readyTimeoutMs ?? 10_000,
        // Ready once SIPp itself holds the port (from /proc): no probe message that would show up
        // in the counts or be answered by the scenario. SIPp does not exit when it cannot bind
        // its main socket: it logs "Unable to bind main socket" and runs on port 0.
        ready: async (p) => {
          if (isAddressInUse(await p.logText())) throw new Error(`SIPp could not bind ${host}:${port}`);
          return processHoldsPort(p.pid, options.transport, port);
        },
      });
  };
  const proc = await startMovingOnPortClash({
    canMove: options.port === undefined,
    start: launch,
    logText: () => fsp.readFile(logPath, 'utf8'),
    movePort: async () => {
      port = await freePort({ host });
    },
    cleanup: () => fsp.rm(workDir, { recursive: true, force: true }),
  });
  const running = proc;
  let stopped = false;

  const requests = async (): Promise<ReceivedRequest[]> => {
    if (!countRequests) throw new Error('startSippUas({ countRequests: false }): requests are not traced; use stats()');
    const text = await fsp.readFile(shortMsgPath, 'utf8').catch((err: NodeJS.ErrnoException) => {
      if (err.code === 'ENOENT') return '';
      throw err;
    });
    return parseShortMessages(text);
  };

  return {
    host,
    port,
    transport: options.transport,
    uri: `sip:${host}:${port};transport=${options.transport}`,
    scenarioPath: file,
    logPath: running.logPath,
    errorLogPath,
    workDir,
    pid: running.pid,
    async stop() {
      if (stopped) return;
      stopped = true;
      await running.stop(5000);
      // Keep the traces next to the log for post-mortems; drop the work dir.
      for (const [from, suffix] of [
        [shortMsgPath, 'messages.tsv'],
        [statPath, 'stat.csv'],
        [errorLogPath, 'errors.log'],
      ] as const) {
        await fsp.rename(from, running.logPath.replace(/\.log$/, `.${suffix}`)).catch(() => undefined);
      }
      await fsp.rm(workDir, { recursive: true, force: true });
    },
    pause: () => running.signal('SIGSTOP'),
    resume: () => running.signal('SIGCONT'),
    requests,
    async requestCount(method) {
      const all = await requests();
      return method === undefined ? all.length : all.filter((r) => r.method === method).length;
    },
    async waitForRequests(count, waitOptions = {}) {
      const deadline = Date.now() + (waitOptions.timeoutMs ?? 5000);
      for (;;) {
        const all = (await requests()).filter((r) => waitOptions.method === undefined || r.method === waitOptions.method);
        if (all.length >= count) return all;
        if (Date.now() >= deadline) {
          throw new Error(`SIPp ${path.basename(file)} received ${all.length} of ${count} expected requests within ${waitOptions.timeoutMs ?? 5000} ms`);
        }
        await delay(25);
      }
    },
    async stats() {
      const text = await fsp.readFile(statPath, 'utf8').catch(() => '');
      return parseStatCsv(text);
    },
  };
}

export interface SippUacOptions {
  /** "127.0.0.1:5060" or { host, port }. */
  target: string | { host: string; port: number };
  /** Calls (= PUBLISH transactions) started per second. */
  rate: number;
  /** Total calls; SIPp exits when they are done. */
  calls: number;
  transport: SippTransport;
  /** Default uac-publish. */
  scenario?: string;
  /** SIPp -l: cap on simultaneous calls. */
  maxInFlight?: number;
  /** [service]: the user part prefix (AOR is service-N@target). Default "mwi". */
  service?: string;
  /** Hard limit; SIPp is killed and the call rejects. Default: calls/rate + 60 s. */
  timeoutMs?: number;
  extraArgs?: readonly string[];
  label?: string;
}

export interface SippUacResult {
  elapsedMs: number;
  successful: number;
  failed: number;
  retransmissions: number;
  callsPerSec: number;
  /** 0 all calls succeeded, 1 some failed (SIPp's convention). */
  exitCode: number;
  logPath: string;
  /** Every response time SIPp traced (`-trace_rtt` in extraArgs), moved beside the log. */
  rttPath?: string;
}

/** Run a SIPp UAC to completion and return its final statistics. */
export async function runSippUac(options: SippUacOptions): Promise<SippUacResult> {
  const sipp = requireBinary('sipp', SIPP_PACKAGE);
  const file = scenarioPath(options.scenario ?? 'uac-publish');
  const target = typeof options.target === 'string' ? options.target : `${options.target.host}:${options.target.port}`;
  const workDir = await makeWorkDir('sipp-uac');
  const statPath = path.join(workDir, 'stat.csv');
  const timeoutMs = options.timeoutMs ?? Math.ceil((options.calls / options.rate) * 1000) + 60_000;
  const args = [
    target,
    '-sf', file,
    '-i', '127.0.0.1',
    // Port 0: the kernel picks a free one, SIPp puts the real one in Via ([local_port]).
    '-p', '0',
    '-t', transportFlag(options.transport),
    '-nostdin',
    '-r', String(options.rate),
    '-m', String(options.calls),
    '-s', options.service ?? 'mwi',
    '-trace_stat', '-stf', statPath, '-fd', '1',
    ...(options.maxInFlight === undefined ? [] : ['-l', String(options.maxInFlight)]),
    ...PERF_ARGS,
    ...(options.extraArgs ?? []),
  ];
  const proc = await spawnManaged({
    name: `sipp-${path.basename(file, '.xml')}`,
    command: sipp,
    debPackages: SIPP_PACKAGE,
    args,
    cwd: workDir,
    label: options.label,
  });
  try {
    let timer: NodeJS.Timeout | undefined;
    const timedOut = new Promise<'timeout'>((resolve) => {
      timer = setTimeout(() => resolve('timeout'), timeoutMs);
    });
    const outcome = await Promise.race([proc.exited, timedOut]);
    clearTimeout(timer);
    if (outcome === 'timeout') {
      await proc.stop(2000);
      throw new Error(`SIPp UAC did not finish ${options.calls} calls within ${timeoutMs} ms; log ${proc.logPath}:\n${await proc.logTail()}`);
    }
    await proc.stop(1000); // reaps the (already exited) group and untracks it
    const exitCode = outcome.code ?? -1;
    const stats = parseStatCsv(await fsp.readFile(statPath, 'utf8').catch(() => ''));
    if ((exitCode !== 0 && exitCode !== 1) || !stats) {
      throw new Error(`SIPp UAC failed (exit ${exitCode}, signal ${outcome.signal}); log ${proc.logPath}:\n${await proc.logTail()}`);
    }
    await fsp.copyFile(statPath, proc.logPath.replace(/\.log$/, '.stat.csv')).catch(() => undefined);
    // With -trace_rtt in extraArgs, SIPp writes <scenario>_<pid>_rtt.csv into its cwd (the work dir).
    const rttFile = (await fsp.readdir(workDir)).find((f) => f.endsWith('_rtt.csv'));
    const rttPath = rttFile === undefined ? undefined : proc.logPath.replace(/\.log$/, '.rtt.csv');
    if (rttFile !== undefined && rttPath !== undefined) await fsp.rename(path.join(workDir, rttFile), rttPath);
    return {
      elapsedMs: stats.elapsedMs,
      successful: stats.successfulCalls,
      failed: stats.failedCalls,
      retransmissions: stats.retransmissions,
      callsPerSec: stats.elapsedMs > 0 ? (stats.successfulCalls * 1000) / stats.elapsedMs : 0,
      exitCode,
      logPath: proc.logPath,
      rttPath,
    };
  } finally {
    await proc.stop(1000);
    await fsp.rm(workDir, { recursive: true, force: true });
  }
}
