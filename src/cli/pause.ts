/**
 * `mwi pause --reason <text> [--for 30m] [--target <uri-or-hop>]` and `mwi resume [--target]
 * --reason`: stop (and restart) sending, fleet-wide, to every target or to one (a target URI as
 * configured, or a hop key such as udp:10.0.0.5:5060). Workers see the change within a second;
 * updates keep being accepted and queue up meanwhile. Both are audited.
 * Exit 0 done (resume with nothing paused too: it says so), 2 bad usage (MWI_CONTROL_REASON_REQUIRED,
 * MWI_CLI_USAGE for a bad --for, MWI_CONTROL_INVALID, MWI_REDIS_URL_REQUIRED), 69 Redis unreachable.
 */
import type { Command } from 'commander';

import { scopeKey } from '../control/control-input.ts';
import { formatDurationMs, parseDurationMs } from '../control/duration.ts';
import type { PauseScope, PauseState } from '../control/types.ts';
import { EXIT, loadCliConfig, type GlobalOptions } from './common.ts';
import { VIA_CLI, actionFlags, addActionFlags, type ActionFlags } from './control-flags.ts';
import { withControlSession } from './control-session.ts';
import { formatTime } from './text-table.ts';

interface PauseOptions extends ActionFlags {
  for?: string;
  target?: string;
}

function scopeOf(target: string | undefined): PauseScope {
  const scope: PauseScope = target === undefined ? 'global' : { target };
  scopeKey(scope); // a bad --target is a usage error before Redis is touched
  return scope;
}

export function describePause(p: PauseState): string {
  const until = p.until === undefined ? 'until resumed' : `until ${formatTime(p.until)} (${formatDurationMs(p.until - p.since)})`;
  return `${p.scope} ${until} by ${p.actor}: ${p.reason}`;
}

export function registerPause(program: Command): void {
  addActionFlags(
    program
      .command('pause')
      .description('stop sending, fleet-wide, to every target or to one (--target); updates are still accepted and queue up')
      .option('--for <duration>', 'end the pause by itself after 30s, 30m, 2h, 1d... (default: until resumed)')
      .option('--target <uri-or-hop>', 'pause one target only: its URI as configured (sip:ps.example.net) or a hop key (udp:10.0.0.5:5060)'),
  ).action(async (opts: PauseOptions, cmd: Command) => {
    const { reason, actor } = actionFlags(opts);
    const forMs = opts.for === undefined ? undefined : parseDurationMs(opts.for);
    const scope = scopeOf(opts.target);
    const config = loadCliConfig(cmd.optsWithGlobals<GlobalOptions & PauseOptions>());
    const pause = await withControlSession(config, (s) => s.control.pause(scope, actor, reason, { via: VIA_CLI, ...(forMs === undefined ? {} : { forMs }) }));
    process.stdout.write(opts.json ? `${JSON.stringify(pause)}\n` : `paused ${describePause(pause)}\n`);
    process.exitCode = EXIT.OK;
  });

  addActionFlags(
    program
      .command('resume')
      .description('end a pause made with `mwi pause` (the same --target, or none for the global pause); sending restarts in slow start')
      .option('--target <uri-or-hop>', 'the paused target, exactly as given to `mwi pause --target`'),
  ).action(async (opts: PauseOptions, cmd: Command) => {
    const { reason, actor } = actionFlags(opts);
    const scope = scopeOf(opts.target);
    const config = loadCliConfig(cmd.optsWithGlobals<GlobalOptions & PauseOptions>());
    const ended = await withControlSession(config, (s) => s.control.resume(scope, actor, reason, { via: VIA_CLI }));
    const key = scopeKey(scope);
    if (opts.json) process.stdout.write(`${JSON.stringify({ scope: key, resumed: ended ?? null })}\n`);
    else if (ended === undefined) process.stdout.write(`not paused: ${key} (nothing to resume)\n`);
    else process.stdout.write(`resumed ${key} (paused by ${ended.actor} since ${formatTime(ended.since)}: ${ended.reason})\n`);
    process.exitCode = EXIT.OK;
  });
}
