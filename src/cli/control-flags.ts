/** The flags every operator action shares: --reason (required), --actor, --json; checked before Redis is touched. */
import type { Command } from 'commander';

import { checkActor, checkReason } from '../control/control-input.ts';
import { defaultActor } from './actor.ts';

export interface ActionFlags {
  reason?: string;
  actor?: string;
  json?: boolean;
}

/** --reason is not a commander requiredOption: a missing reason must fail with its stable code (MWI_CONTROL_REASON_REQUIRED). */
export function addActionFlags(cmd: Command): Command {
  return cmd
    .option('--reason <text>', 'why (required; goes to the audit log)')
    .option('--actor <name>', 'who acts, for the audit log (default $USER@hostname)')
    .option('--json', 'print the result as JSON');
}

export function actionFlags(opts: ActionFlags): { reason: string; actor: string } {
  return { reason: checkReason(opts.reason), actor: checkActor(opts.actor ?? defaultActor()) };
}

/** What every operator command passes as the audit entry's `via`. */
export const VIA_CLI = 'cli';
