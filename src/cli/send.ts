/**
 * `mwi send`: one PUBLISH (or unsolicited NOTIFY) from the command line, to test a presence
 * server or phone by hand. Prints the outcome; the exit code says what kind it was.
 */
import type { Command } from 'commander';
import { systemClock } from '../clock.ts';
import { createSipSender } from '../delivery/create-sip-sender.ts';
import type { Outcome } from '../delivery/outcome.ts';
import { ErrorCodes, MwiError } from '../errors.ts';
import { createLogger } from '../log.ts';
import type { MessageSummary } from '../mwi/message-summary.ts';
import { isValidAccountUri } from '../mwi/message-summary.ts';
import { parseTarget } from '../sip/target.ts';
import { readFileSync } from 'node:fs';
import { EXIT, exitCodeForOutcome, loadCliConfig, type GlobalOptions } from './common.ts';
import { addCountOptions, countsFromOptions, type CountOptions } from './count-options.ts';

interface SendOptions extends CountOptions {
  to?: string;
  mailbox: string;
  transport?: string;
  notify?: boolean;
  json?: boolean;
}

function describeOutcome(o: Outcome): string {
  const parts = [`${o.kind}: ${o.reason}`, `requests=${o.requests}`, `elapsed=${o.elapsedMs}ms`];
  if (o.etag) parts.push(`etag=${o.etag}`);
  if (o.grantedExpiresSec) parts.push(`expires=${o.grantedExpiresSec}s`);
  if (o.retryAfterMs) parts.push(`retry-after=${o.retryAfterMs}ms`);
  return parts.join('  ');
}

export function registerSend(program: Command): void {
  const cmd = program
    .command('send')
    .description('send one MWI state now (PUBLISH to a presence server, or NOTIFY to a phone with --notify) and print the outcome')
    .option('--to <uri>', 'presence server (or phone contact with --notify), e.g. sip:127.0.0.1:5060; default targets.defaultPublishTarget')
    .requiredOption('--mailbox <aor>', 'mailbox account URI, e.g. sip:1000@pbx.example.net');
  addCountOptions(cmd)
    .option('--transport <t>', 'udp, tcp or tls when the URI names none')
    .option('--notify', 'send an unsolicited NOTIFY to a phone instead of PUBLISH')
    .option('--json', 'print the outcome as JSON')
    .action(async (opts: SendOptions, cmd: Command) => {
      const global = cmd.optsWithGlobals<GlobalOptions & SendOptions>();
      const flags: Record<string, unknown> = {};
      if (opts.transport !== undefined) flags['sip.transport'] = opts.transport;
      const config = loadCliConfig(global, flags);
      const to = opts.to ?? config.targets.defaultPublishTarget;
      if (!to) throw new MwiError(ErrorCodes.CLI_USAGE, '--to is required when targets.defaultPublishTarget is not configured');
      parseTarget(to, 'UDP'); // a bad --to is a usage error (exit 2), not a delivery outcome
      if (!isValidAccountUri(opts.mailbox)) throw new MwiError(ErrorCodes.CLI_USAGE, `--mailbox must be a sip:, sips: or tel: account URI, got ${JSON.stringify(opts.mailbox)}`);
      const { cls, counts } = countsFromOptions(opts);
      const summary: MessageSummary = { counts: { [cls]: counts } };
      const log = createLogger({ level: config.log.level === 'info' ? 'warn' : config.log.level, destination: process.stderr });
      const { sender } = await createSipSender({ config, clock: systemClock, log, readFile: (p) => readFileSync(p) });
      try {
        const outcome = await sender.send({ mailbox: opts.mailbox, summary, route: opts.notify ? { mode: 'notify', contact: to } : { mode: 'publish', target: to } });
        process.stdout.write(opts.json ? `${JSON.stringify(outcome)}\n` : `${describeOutcome(outcome)}\n`);
        process.exitCode = exitCodeForOutcome(outcome);
      } finally {
        await sender.close();
      }
    });
}

export { EXIT };
