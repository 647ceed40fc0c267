/** The message-count flags that `mwi send` and `mwi update` share, and what they mean. */
import type { Command } from 'commander';
import { ErrorCodes, MwiError } from '../errors.ts';
import { MESSAGE_CLASSES, type MessageClass, type MessageCounts } from '../mwi/message-summary.ts';
import { parseCount } from './common.ts';

export interface CountOptions {
  new: number;
  old: number;
  urgentNew?: number;
  urgentOld?: number;
  class: string;
}

export function addCountOptions(cmd: Command): Command {
  return cmd
    .option('--new <n>', 'new messages', parseCount, 0)
    .option('--old <n>', 'old messages', parseCount, 0)
    .option('--urgent-new <n>', 'urgent new messages (part of --new)', parseCount)
    .option('--urgent-old <n>', 'urgent old messages (part of --old)', parseCount)
    .option('--class <class>', `message class of the counts: ${MESSAGE_CLASSES.join(', ')}`, 'voice-message');
}

/** The class and counts the flags name; an unknown class is a usage error (exit 2). */
export function countsFromOptions(opts: CountOptions): { cls: MessageClass; counts: MessageCounts } {
  if (!(MESSAGE_CLASSES as readonly string[]).includes(opts.class)) throw new MwiError(ErrorCodes.CLI_USAGE, `--class must be one of ${MESSAGE_CLASSES.join(', ')}`);
  return {
    cls: opts.class as MessageClass,
    counts: {
      new: opts.new,
      old: opts.old,
      ...(opts.urgentNew === undefined ? {} : { urgentNew: opts.urgentNew }),
      ...(opts.urgentOld === undefined ? {} : { urgentOld: opts.urgentOld }),
    },
  };
}
