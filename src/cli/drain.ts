/**
 * `mwi drain --reason <text>` / `mwi drain --off --reason <text>`: the fleet finishes the work it
 * has queued and starts no new sweeps (before a rolling restart), then back to normal. Audited.
 * Exit 0 done, 2 bad usage, 69 Redis unreachable.
 */
import type { Command } from 'commander';

import { EXIT, loadCliConfig, type GlobalOptions } from './common.ts';
import { VIA_CLI, actionFlags, addActionFlags, type ActionFlags } from './control-flags.ts';
import { withControlSession } from './control-session.ts';
import { formatTime } from './text-table.ts';

interface DrainOptions extends ActionFlags {
  off?: boolean;
}

export function registerDrain(program: Command): void {
  addActionFlags(
    program
      .command('drain')
      .description('drain the fleet: finish queued work, start no new sweeps (--off: back to normal)')
      .option('--off', 'end the drain'),
  ).action(async (opts: DrainOptions, cmd: Command) => {
    const { reason, actor } = actionFlags(opts);
    const on = opts.off !== true;
    const config = loadCliConfig(cmd.optsWithGlobals<GlobalOptions & DrainOptions>());
    const { changed, drain } = await withControlSession(config, (s) => s.control.setDrain(on, actor, reason, { via: VIA_CLI }));
    if (opts.json) process.stdout.write(`${JSON.stringify({ draining: on, changed, drain: drain ?? null })}\n`);
    else if (drain !== undefined) process.stdout.write(`drain on since ${formatTime(drain.since)} by ${drain.actor}: ${drain.reason}\n`);
    else process.stdout.write(changed ? 'drain off\n' : 'drain was not on (nothing changed)\n');
    process.exitCode = EXIT.OK;
  });
}
