/**
 * `mwi sweep run [--dry-run]`: one reconciliation sweep now, from this process, on the shared
 * Redis (redis.url): under the cross-host lock, paced through the delivery queue that the
 * running workers drain. `--dry-run` plans and probes but queues nothing, and lists what it
 * would send. Exit 0 completed, 3 aborted (the record says why), 69 skipped because another
 * run holds the lock (the holder is printed) or Redis is unreachable, 2 bad usage.
 */
import type { Command } from 'commander';

import { ErrorCodes, isMwiError } from '../errors.ts';
import { createLogger } from '../log.ts';
import type { SweepRunRecord } from '../sweep/run-records.ts';
import { EXIT, loadCliConfig, type GlobalOptions } from './common.ts';
import { abortOnSignal, openSweepSession } from './sweep-session.ts';

interface SweepRunOptions {
  dryRun?: boolean;
  json?: boolean;
}

/** A run record for people: one summary line, targets taken down, a dry run's planned sends. */
export function describeRun(r: SweepRunRecord): string {
  const c = r.counts;
  const lines: string[] = [];
  if (r.outcome === 'skipped') {
    const h = r.holder;
    lines.push(`skipped: the sweep lock is held${h ? ` by ${h.host} pid ${h.pid} (run ${h.runId}, ${h.mode}, since ${new Date(h.startedAt).toISOString()})` : ''}`);
    return `${lines.join('\n')}\n`;
  }
  const skippedBy = Object.entries(c.skippedBy)
    .filter(([, n]) => n > 0)
    .map(([k, n]) => `${k}=${n}`)
    .join(' ');
  lines.push(
    `${r.outcome}${r.aborted ? ` (${r.aborted.reason}: ${r.aborted.message})` : ''}${r.dryRun ? ' [dry run: nothing queued]' : ''}: ` +
      `scanned=${c.scanned} changed=${c.changed} expiring=${c.expiring} ${r.dryRun ? 'would-enqueue' : 'enqueued'}=${c.enqueued} skipped=${c.skipped}` +
      `${skippedBy ? ` (${skippedBy})` : ''}${c.stale > 0 ? ` stale=${c.stale}` : ''} elapsed=${r.endedAt - r.startedAt}ms run=${r.runId}`,
  );
  for (const t of r.targets) if (!t.up) lines.push(`target down: ${t.target}: ${t.reason ?? ''} (${t.skipped} mailboxes not queued)`);
  for (const p of r.planned ?? []) lines.push(`would send: ${p.mailbox} -> ${p.to} (${p.why})`);
  if (r.planned !== undefined && c.enqueued > r.planned.length) lines.push(`... and ${c.enqueued - r.planned.length} more`);
  return `${lines.join('\n')}\n`;
}

export function exitCodeForRun(r: SweepRunRecord): number {
  if (r.outcome === 'completed') return EXIT.OK;
  if (r.outcome === 'skipped') return EXIT.UNAVAILABLE;
  return EXIT.RETRYABLE;
}

export function registerSweep(program: Command): void {
  const sweep = program.command('sweep').description('the reconciliation sweep (vm-presence replacement)');
  sweep
    .command('run')
    .description('run one sweep now on the shared Redis (redis.url), under the cross-host sweep lock, paced through the delivery queue')
    .option('--dry-run', 'plan and probe only: print what would be sent, queue nothing')
    .option('--json', 'print the run record as JSON')
    .action(async (opts: SweepRunOptions, cmd: Command) => {
      const config = loadCliConfig(cmd.optsWithGlobals<GlobalOptions & SweepRunOptions>());
      const log = createLogger({ level: config.log.level === 'info' ? 'warn' : config.log.level, destination: process.stderr });
      process.exitCode = await runOnce(config, log, opts);
    });
}

async function runOnce(config: Parameters<typeof openSweepSession>[0], log: Parameters<typeof openSweepSession>[1], opts: SweepRunOptions): Promise<number> {
  let session;
  try {
    session = await openSweepSession(config, log, { probes: true });
  } catch (err) {
    if (!isMwiError(err, ErrorCodes.REDIS_UNAVAILABLE)) throw err;
    process.stderr.write(`mwi: ${err.code}: ${err.message}\n`);
    return EXIT.UNAVAILABLE;
  }
  const controller = new AbortController();
  const stopListening = abortOnSignal(controller);
  try {
    const record = await session.sweep.runNow({ dryRun: opts.dryRun === true, signal: controller.signal });
    process.stdout.write(opts.json ? `${JSON.stringify(record)}\n` : describeRun(record));
    return exitCodeForRun(record);
  } catch (err) {
    if (!isMwiError(err, ErrorCodes.REDIS_UNAVAILABLE)) throw err;
    process.stderr.write(`mwi: ${err.code}: ${err.message}\n`);
    return EXIT.UNAVAILABLE;
  } finally {
    stopListening();
    await session.close();
  }
}
