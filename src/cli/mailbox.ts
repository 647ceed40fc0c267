/**
 * `mwi mailbox show <uri> [--json]`: one mailbox as the store holds it: desired vs delivered
 * state, whether it is queued (and when it is due), the PUBLISH's ETag and expiry, the last
 * outcome. Exit 0 found, 1 no state stored (MWI_MAILBOX_NOT_FOUND), 2 bad usage, 69 Redis unreachable.
 */
import type { Command } from 'commander';

import { formatDurationMs } from '../control/duration.ts';
import type { DeliveryRoute } from '../delivery/sender.ts';
import { ErrorCodes } from '../errors.ts';
import type { MessageSummary } from '../mwi/message-summary.ts';
import type { MailboxRecord } from '../store/mailbox-state.ts';
import { RedisMailboxStore } from '../store/redis-mailbox-store.ts';
import { assertMailbox } from '../store/validate-update.ts';
import { EXIT, loadCliConfig, type GlobalOptions } from './common.ts';
import { withControlSession } from './control-session.ts';
import { formatFields, formatTime } from './text-table.ts';

interface ShowOptions {
  json?: boolean;
}

export interface MailboxReport extends MailboxRecord {
  /** Delivered version equals the desired one. */
  inSync: boolean;
  /** When it is due in the dirty set (ms since epoch); null when not queued. */
  dueAt: number | null;
}

function describeSummary(s: MessageSummary): string {
  const parts = Object.entries(s.counts).map(([cls, c]) => {
    const urgent = c.urgentNew !== undefined || c.urgentOld !== undefined ? ` (urgent ${c.urgentNew ?? 0}/${c.urgentOld ?? 0})` : '';
    return `${cls} ${c.new}/${c.old}${urgent}`;
  });
  return parts.length === 0 ? 'no counts' : parts.join(', ');
}

function describeRoute(r: DeliveryRoute): string {
  return r.mode === 'publish' ? `PUBLISH to ${r.target}` : `NOTIFY to ${r.contact}`;
}

function relative(ms: number, now: number): string {
  return ms <= now ? `${formatDurationMs(now - ms)} ago` : `in ${formatDurationMs(ms - now)}`;
}

export function describeMailbox(m: MailboxReport, now: number): string {
  const fields: Array<[string, string]> = [['mailbox', m.mailbox]];
  if (m.desired) {
    fields.push(['route', describeRoute(m.desired.route)]);
    fields.push(['desired', `version ${m.desired.version}: ${describeSummary(m.desired.summary)} (accepted ${formatTime(m.desired.acceptedAt)})`]);
  }
  fields.push(['delivered', m.delivered ? `version ${m.delivered.version}: ${describeSummary(m.delivered.summary)} (at ${formatTime(m.delivered.deliveredAt)})` : 'never']);
  fields.push(['in sync', m.inSync ? 'yes' : 'no']);
  fields.push(['queued', m.dueAt === null ? 'no' : m.dueAt <= now ? 'yes, due now' : `yes, due ${relative(m.dueAt, now)} (leased or waiting for a retry)`]);
  if (m.etag !== undefined) fields.push(['etag', m.etag]);
  if (m.expiresAt !== undefined) fields.push(['expires', `${formatTime(m.expiresAt)} (${m.expiresAt <= now ? 'lapsed' : relative(m.expiresAt, now)})`]);
  if (m.lastOutcome) fields.push(['last outcome', `${m.lastOutcome.kind}: ${m.lastOutcome.reason} (at ${formatTime(m.lastOutcome.at)})`]);
  if (m.attempts !== undefined) fields.push(['failed attempts', String(m.attempts)]);
  return formatFields(fields);
}

export function registerMailbox(program: Command): void {
  const mailbox = program.command('mailbox').description('look at one mailbox in the shared store');
  mailbox
    .command('show')
    .description('desired vs delivered state, queue position, ETag and expiry, last outcome')
    .argument('<uri>', 'the mailbox account URI, e.g. sip:1000@pbx.example.net')
    .option('--json', 'print the mailbox as JSON')
    .action(async (uri: string, opts: ShowOptions, cmd: Command) => {
      assertMailbox(uri, 'the mailbox');
      const config = loadCliConfig(cmd.optsWithGlobals<GlobalOptions & ShowOptions>());
      const now = Date.now();
      const report = await withControlSession(config, async (s): Promise<MailboxReport | undefined> => {
        const store = new RedisMailboxStore({ redis: s.redis, keys: s.keys });
        const [record, [view]] = await Promise.all([store.get(uri), store.viewMailboxes([uri])]);
        if (record === undefined) return undefined;
        return { ...record, inSync: record.desired !== undefined && record.delivered?.version === record.desired.version, dueAt: view?.dueAt ?? null };
      });
      if (report === undefined) {
        if (opts.json) process.stdout.write(`${JSON.stringify({ mailbox: uri, found: false })}\n`);
        process.stderr.write(`mwi: ${ErrorCodes.MAILBOX_NOT_FOUND}: no state stored for ${uri}\n`);
        process.exitCode = EXIT.PERMANENT;
        return;
      }
      process.stdout.write(opts.json ? `${JSON.stringify(report)}\n` : describeMailbox(report, now));
      process.exitCode = EXIT.OK;
    });
}
