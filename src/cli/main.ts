/**
 * The `mwi` command line. Thin: each command parses its flags, builds what it needs and runs;
 * errors become a message on stderr with a stable code and an exit code.
 */
import { Command, CommanderError } from 'commander';
import pkg from '../../package.json' with { type: 'json' };
import { isMwiError } from '../errors.ts';
import { registerBreaker } from './breaker.ts';
import { EXIT, collectSet, exitCodeForError } from './common.ts';
import { registerDrain } from './drain.ts';
import { registerMailbox } from './mailbox.ts';
import { registerPause } from './pause.ts';
import { registerResync } from './resync.ts';
import { registerSend } from './send.ts';
import { registerStart } from './start.ts';
import { registerStatus } from './status.ts';
import { registerSweep } from './sweep.ts';
import { registerUpdate } from './update.ts';

export function buildProgram(): Command {
  const program = new Command('mwi')
    .description('mwi-runner: keeps voicemail message-waiting lamps right over SIP')
    .version(pkg.version)
    .option('-c, --config <file>', 'JSON configuration file (also MWI_CONFIG)')
    .option('--set <path=value>', 'override one setting by its dotted path, e.g. --set sip.t1Ms=250 (repeatable)', collectSet)
    .exitOverride()
    .showHelpAfterError();
  registerSend(program);
  registerStart(program);
  registerUpdate(program);
  registerSweep(program);
  registerResync(program);
  registerPause(program);
  registerDrain(program);
  registerStatus(program);
  registerMailbox(program);
  registerBreaker(program);
  return program;
}

export async function main(argv: string[]): Promise<number> {
  const program = buildProgram();
  try {
    await program.parseAsync(argv, { from: 'user' });
    return typeof process.exitCode === 'number' ? process.exitCode : EXIT.OK;
  } catch (err) {
    if (err instanceof CommanderError) return err.exitCode === 0 ? EXIT.OK : EXIT.USAGE;
    if (isMwiError(err)) {
      process.stderr.write(`mwi: ${err.code}: ${err.message}\n`);
      return exitCodeForError(err.code);
    }
    process.stderr.write(`mwi: internal error: ${(err as Error)?.stack ?? String(err)}\n`);
    return EXIT.INTERNAL;
  }
}
