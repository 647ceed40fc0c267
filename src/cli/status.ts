/**
 * `mwi status [--json]`: the fleet at a glance, from the shared Redis (status-report.ts), as
 * aligned text tables or one JSON object. Exit 0, 2 bad usage (no redis.url), 69 Redis unreachable.
 */
import type { Command } from 'commander';

import type { BreakerState } from '../breaker/types.ts';
import { formatDurationMs } from '../control/duration.ts';
import { EXIT, loadCliConfig, type GlobalOptions } from './common.ts';
import { withControlSession } from './control-session.ts';
import { readStatus, type StatusReport } from './status-report.ts';
import { formatFields, formatTable, formatTime } from './text-table.ts';

interface StatusOptions {
  json?: boolean;
}

function until(ms: number | undefined, now: number): string {
  return ms === undefined ? 'until resumed' : `${formatTime(ms)} (in ${formatDurationMs(ms - now)})`;
}

function breakerCells(s: BreakerState, now: number): [string, string, string] {
  switch (s.kind) {
    case 'closed':
      return ['closed', '-', ''];
    case 'open':
      return ['open', formatTime(s.since), `${s.reason} (probe in ${formatDurationMs(s.nextProbeAt - now)}, ${s.failedProbes} failed)`];
    case 'isolated':
      return ['isolated', formatTime(s.since), `${s.reason} (by ${s.actor})`];
  }
}

export function describeStatus(r: StatusReport): string {
  const q = r.queue;
  const out: string[] = [];
  out.push(
    'QUEUE\n' +
      formatFields([
        ['due mailboxes', String(q.dueMailboxes)],
        ['dirty mailboxes', String(q.dirtyMailboxes)],
        ['jobs', `waiting=${q.jobs.waiting} active=${q.jobs.active} delayed=${q.jobs.delayed} failed=${q.jobs.failed}`],
      ]),
  );
  out.push(`DRAIN\n${r.drain === null ? 'off\n' : `on since ${formatTime(r.drain.since)} by ${r.drain.actor}: ${r.drain.reason}\n`}`);
  out.push(
    `PAUSES\n${
      r.pauses.length === 0
        ? 'none\n'
        : formatTable(['SCOPE', 'SINCE', 'UNTIL', 'ACTOR', 'REASON'], r.pauses.map((p) => [p.scope, formatTime(p.since), until(p.until, r.at), p.actor, p.reason]))
    }`,
  );
  out.push(
    `BREAKERS\n${
      r.breakers.length === 0
        ? 'none\n'
        : formatTable(
            ['ID', 'STATE', 'SINCE', 'OK', 'FAILED', 'REASON'],
            r.breakers.map((b) => {
              const [state, since, reason] = breakerCells(b.state, r.at);
              return [b.id, state, since, String(b.okInWindow), String(b.failuresInWindow), reason];
            }),
          )
    }`,
  );
  out.push(
    `RATES\n${
      r.rates.length === 0
        ? 'none\n'
        : formatTable(
            ['TARGET', 'PHASE', 'ALLOWED/S', 'ACTUAL/S', 'IN-FLIGHT', 'LATENCY', 'HELD'],
            r.rates.map((t) => [
              t.id,
              t.phase,
              t.allowedPerSec.toFixed(1),
              t.actualPerSec.toFixed(1),
              `${t.inFlight}/${t.maxInFlight}`,
              `${Math.round(t.latencyMs)}ms`,
              t.holdUntil > r.at ? `until ${formatTime(t.holdUntil)}${t.holdReason ? `: ${t.holdReason}` : ''}` : '-',
            ]),
          )
    }`,
  );
  out.push(
    `RECENT ACTIONS\n${
      r.audit.length === 0
        ? 'none\n'
        : formatTable(['AT', 'ACTOR', 'ACTION', 'SUBJECT', 'VIA', 'REASON'], r.audit.map((e) => [formatTime(e.at), e.actor, e.action, e.subject, e.via, e.reason]))
    }`,
  );
  return out.join('\n');
}

export function registerStatus(program: Command): void {
  program
    .command('status')
    .description('show the delivery backlog, pauses, drain, breakers, target rates and recent operator actions (from the shared Redis)')
    .option('--json', 'print one JSON object')
    .action(async (opts: StatusOptions, cmd: Command) => {
      const config = loadCliConfig(cmd.optsWithGlobals<GlobalOptions & StatusOptions>());
      const report = await withControlSession(config, (s) => readStatus(s, config, Date.now()));
      process.stdout.write(opts.json ? `${JSON.stringify(report)}\n` : describeStatus(report));
      process.exitCode = EXIT.OK;
    });
}
