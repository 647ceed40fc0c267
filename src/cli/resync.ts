/**
 * `mwi resync --mailbox <aor>`: send one mailbox's stored desired state again, now (it joins the
 * delivery queue; if it is already queued its turn is kept). `mwi resync --all`: the same for
 * every mailbox, as a sweep run of mode resync-all under the sweep lock, marking a page at a
 * time and waiting while more than sweep.maxDueBacklog mailboxes are due, so it is paced by the
 * queue and never a blast; presence servers failing their probe are left out (run it again once
 * they are back). Both need redis.url and running workers to deliver.
 * Exit 0 done, 1 no such mailbox, 2 bad usage, 3 --all aborted, 69 lock held or Redis unreachable.
 */
import type { Command } from 'commander';

import { ErrorCodes, MwiError, isMwiError } from '../errors.ts';
import { createLogger } from '../log.ts';
import { EXIT, loadCliConfig, type GlobalOptions } from './common.ts';
import { abortOnSignal, openSweepSession } from './sweep-session.ts';
import { describeRun, exitCodeForRun } from './sweep.ts';

interface ResyncOptions {
  mailbox?: string;
  all?: boolean;
  json?: boolean;
}

export function registerResync(program: Command): void {
  program
    .command('resync')
    .description('send stored mailbox state again through the delivery queue: one mailbox now (--mailbox), or every mailbox, paced (--all)')
    .option('--mailbox <aor>', 'the mailbox account URI, e.g. sip:1000@pbx.example.net')
    .option('--all', 'every mailbox, a page at a time, paced by the delivery queue (under the sweep lock)')
    .option('--json', 'print the result as JSON')
    .action(async (opts: ResyncOptions, cmd: Command) => {
      if ((opts.mailbox === undefined) === (opts.all !== true)) throw new MwiError(ErrorCodes.CLI_USAGE, 'give exactly one of --mailbox <aor> or --all');
      const config = loadCliConfig(cmd.optsWithGlobals<GlobalOptions & ResyncOptions>());
      const log = createLogger({ level: config.log.level === 'info' ? 'warn' : config.log.level, destination: process.stderr });
      let session;
      try {
        session = await openSweepSession(config, log, { probes: opts.all === true });
      } catch (err) {
        if (!isMwiError(err, ErrorCodes.REDIS_UNAVAILABLE)) throw err;
        process.stderr.write(`mwi: ${err.code}: ${err.message}\n`);
        process.exitCode = EXIT.UNAVAILABLE;
        return;
      }
      try {
        process.exitCode = opts.all === true ? await resyncAll(session, opts) : await resyncOne(session, opts.mailbox ?? '', opts);
      } catch (err) {
        if (!isMwiError(err, ErrorCodes.REDIS_UNAVAILABLE)) throw err;
        process.stderr.write(`mwi: ${err.code}: ${err.message}\n`);
        process.exitCode = EXIT.UNAVAILABLE;
      } finally {
        await session.close();
      }
    });
}

type Session = Awaited<ReturnType<typeof openSweepSession>>;

async function resyncOne(session: Session, mailbox: string, opts: ResyncOptions): Promise<number> {
  const [result] = await session.store.markDirty([mailbox]);
  if (result === 'marked') await session.scheduler.schedule([mailbox]).catch(() => undefined); // the kick wakes a drain otherwise
  const record = result === 'no-desired-state' ? undefined : await session.store.get(mailbox);
  if (opts.json) process.stdout.write(`${JSON.stringify({ mailbox, result })}\n`);
  if (result === 'no-desired-state') {
    if (!opts.json) process.stderr.write(`mwi: ${ErrorCodes.MAILBOX_NOT_FOUND}: no state stored for ${mailbox}\n`);
    return EXIT.PERMANENT;
  }
  if (!opts.json) {
    const to = record?.desired?.route.mode === 'notify' ? record.desired.route.contact : record?.desired?.route.target;
    process.stdout.write(result === 'marked' ? `queued: ${mailbox} -> ${to ?? '?'} version ${record?.desired?.version ?? '?'}\n` : `already queued: ${mailbox} keeps its turn\n`);
  }
  return EXIT.OK;
}

async function resyncAll(session: Session, opts: ResyncOptions): Promise<number> {
  const controller = new AbortController();
  const stopListening = abortOnSignal(controller);
  try {
    const record = await session.sweep.runNow({
      mode: 'resync-all',
      signal: controller.signal,
      onProgress: (p) => {
        if (!opts.json) process.stderr.write(`resync: scanned=${p.scanned} enqueued=${p.enqueued} skipped=${p.skipped} elapsed=${p.elapsedMs}ms\n`);
      },
    });
    process.stdout.write(opts.json ? `${JSON.stringify(record)}\n` : describeRun(record));
    return exitCodeForRun(record);
  } finally {
    stopListening();
  }
}
