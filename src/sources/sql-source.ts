/**
 * Mailbox source over PostgreSQL: a configurable query returning one row per mailbox, read
 * `pageSize` rows at a time through a server-side cursor, on one client per run.
 *
 * Row contract (extra columns are ignored):
 * - `mailbox`: the mailbox URI; or, with a mailbox URI template, the mailbox name put in it
 * - `context`: needed only when the template uses {context}
 * - `new`, `old`: counts (new includes urgent new, as in RFC 3842)
 * - `urgent` or `urgent_new` (optional): urgent new; `urgent_old` (optional)
 * Counts may be integer or bigint (count(*)) columns. A row with a NULL, negative, fractional or
 * too large count, urgent above its total, or a mailbox that gives no acceptable URI aborts the
 * read with MwiError(SOURCE_UNAVAILABLE) naming the row's mailbox: a source that lies must not
 * mark mailboxes. The order is the query's: it must ORDER BY something stable.
 *
 * Cursor: `BEGIN READ ONLY`, `DECLARE ... NO SCROLL CURSOR FOR <query>`, then `FETCH FORWARD
 * <pageSize>` per page. Not pg-cursor: pg-cursor keeps one extended-protocol statement open
 * (Execute with a row limit, no Sync) until the last row, and PostgreSQL runs statement_timeout
 * from the first message to the Sync, so the timeout would cover the whole sweep, including the
 * time the sweep spends on each page between reads (measured on PostgreSQL 15: read 10 rows,
 * pause 1.5 s, next read fails with "canceling statement due to statement timeout" at 1 s). With
 * FETCH, each page is its own statement: `statementTimeoutMs` bounds every read (the first one
 * runs an aggregating query's whole plan), not the consumer. The READ ONLY transaction also
 * stops a mistaken query from writing; memory holds one page.
 */
import pg from 'pg';

import { ErrorCodes, MwiError } from '../errors.ts';
import { maskUrlCredentials } from '../log.ts';
import { MAX_MESSAGE_COUNT, type MessageCounts } from '../mwi/message-summary.ts';
import { asteriskOdbcCountsQuery, DEFAULT_ODBC_TABLE } from './asterisk-odbc-query.ts';
import type { MailboxSource, SourceMailbox } from './mailbox-source.ts';
import { isAcceptableMailboxUri, parseMailboxUriTemplate, type MailboxUriTemplate } from './mailbox-uri-template.ts';

export interface SqlSourceOptions {
  /** postgres://user:password@host:port/db (secret: never logged unmasked). */
  url: string;
  /** The counts query; default: the Asterisk ODBC storage query over `odbcTable`. */
  query?: string;
  /** Table of the default query; default `voicemessages`. */
  odbcTable?: string;
  /** Builds the URI from the row's mailbox (and context); without it `mailbox` must be the URI. */
  mailboxUriTemplate?: string;
  /** Longest one read (connect excluded) may take on the server. */
  statementTimeoutMs: number;
  /** Longest the connection (TCP and startup) may take. */
  connectTimeoutMs: number;
}

const CURSOR = 'mwi_sweep_cursor';

/** Masks the password of the userinfo and of a `password=` query parameter. */
export function maskPostgresUrl(url: string): string {
  return maskUrlCredentials(url).replace(/([?&]password=)[^&#]*/gi, '$1***');
}

/** The password as it may appear in an error text (raw and decoded), to scrub it. */
function secretsOf(url: string): string[] {
  const out: string[] = [];
  try {
    const u = new URL(url);
    for (const p of [u.password, u.searchParams.get('password') ?? '']) {
      if (p !== '') out.push(p, decodeURIComponent(p));
    }
  } catch {
    // not a WHATWG URL: pg will refuse it and the error text is ours
  }
  return out.filter((s) => s.length >= 1);
}

interface PgErrorLike {
  code?: unknown;
  message?: unknown;
}

function describeValue(v: unknown): string {
  if (v === null || v === undefined) return 'NULL';
  const text = typeof v === 'string' ? JSON.stringify(v.slice(0, 100)) : typeof v === 'number' || typeof v === 'bigint' || typeof v === 'boolean' ? String(v) : typeof v;
  return text;
}

/** A valid RFC 3842 count from an int4 (number) or int8/numeric (string) column, else undefined. */
export function parseCount(v: unknown): number | undefined {
  let n: number;
  if (typeof v === 'number') n = v;
  else if (typeof v === 'bigint') n = Number(v);
  else if (typeof v === 'string' && /^\d{1,10}$/.test(v)) n = Number(v);
  else return undefined;
  return Number.isInteger(n) && n >= 0 && n <= MAX_MESSAGE_COUNT ? n : undefined;
}

interface Columns {
  urgentNew: 'urgent' | 'urgent_new' | undefined;
  urgentOld: boolean;
}

export function createSqlSource(options: SqlSourceOptions): MailboxSource {
  const maskedUrl = maskPostgresUrl(options.url);
  const secrets = secretsOf(options.url);
  const template: MailboxUriTemplate | undefined = options.mailboxUriTemplate === undefined ? undefined : parseMailboxUriTemplate(options.mailboxUriTemplate);
  const query = (options.query ?? asteriskOdbcCountsQuery(options.odbcTable ?? DEFAULT_ODBC_TABLE)).trim().replace(/;\s*$/, '');
  const open = new Set<pg.Client>();

  const scrub = (text: string): string => secrets.reduce((t, s) => t.split(s).join('***'), text);

  function unavailable(reason: string, details: Record<string, unknown> = {}): MwiError {
    return new MwiError(ErrorCodes.SOURCE_UNAVAILABLE, `sql source ${maskedUrl}: ${scrub(reason)}`, {
      retryable: true,
      details: { source: 'sql', url: maskedUrl, ...details },
    });
  }

  /** A failure of the server or the connection; no `cause` (driver errors may quote the config). */
  function fromDriverError(step: string, err: unknown): MwiError {
    if (err instanceof MwiError) return err;
    const e = (err ?? {}) as PgErrorLike;
    const code = typeof e.code === 'string' ? e.code : undefined;
    let message = typeof e.message === 'string' && e.message !== '' ? e.message : String(err);
    // 57014 query_canceled: only our statement_timeout cancels this session's statements.
    if (code === '57014') message = `statement timeout (${options.statementTimeoutMs} ms) exceeded: ${message}`;
    return unavailable(`${step} failed: ${message}`, code === undefined ? {} : { code });
  }

  function badRow(row: number, mailbox: unknown, problem: string, column?: string): MwiError {
    const name = describeValue(mailbox);
    return unavailable(`row ${row} (mailbox ${name}): ${problem}`, { row, mailbox: typeof mailbox === 'string' ? mailbox.slice(0, 200) : null, ...(column === undefined ? {} : { column }) });
  }

  function checkColumns(fields: readonly { name: string }[]): Columns {
    const names = new Set(fields.map((f) => f.name));
    for (const required of ['mailbox', 'new', 'old']) {
      if (!names.has(required)) throw unavailable(`query returns no "${required}" column (it must return mailbox, new, old and optionally urgent or urgent_new, urgent_old, context)`);
    }
    if (names.has('urgent') && names.has('urgent_new')) throw unavailable('query returns both "urgent" and "urgent_new": return one of them');
    if (template?.usesContext === true && !names.has('context')) throw unavailable(`query returns no "context" column, which the mailbox URI template ${template.text} uses`);
    return { urgentNew: names.has('urgent_new') ? 'urgent_new' : names.has('urgent') ? 'urgent' : undefined, urgentOld: names.has('urgent_old') };
  }

  function toSourceMailbox(row: Record<string, unknown>, index: number, columns: Columns): SourceMailbox {
    const raw = row.mailbox;
    if (typeof raw !== 'string' || raw === '') throw badRow(index, raw, `mailbox is ${describeValue(raw)}`, 'mailbox');
    let uri = raw;
    if (template !== undefined) {
      const context = row.context;
      if (template.usesContext && (typeof context !== 'string' || context === '')) throw badRow(index, raw, `context is ${describeValue(context)}`, 'context');
      uri = template.render({ mailbox: raw, context: typeof context === 'string' ? context : '' });
    }
    if (!isAcceptableMailboxUri(uri)) throw badRow(index, raw, `${JSON.stringify(uri.slice(0, 200))} is not a sip:, sips: or tel: URI of visible ASCII characters (at most 512)`, 'mailbox');
    const count = (column: string): number => {
      const n = parseCount(row[column]);
      if (n === undefined) throw badRow(index, raw, `${column} is ${describeValue(row[column])}, not an integer from 0 to ${MAX_MESSAGE_COUNT}`, column);
      return n;
    };
    const counts: MessageCounts = { new: count('new'), old: count('old') };
    if (columns.urgentNew !== undefined) {
      counts.urgentNew = count(columns.urgentNew);
      if (counts.urgentNew > counts.new) throw badRow(index, raw, `${columns.urgentNew} (${counts.urgentNew}) exceeds new (${counts.new})`, columns.urgentNew);
    }
    if (columns.urgentOld) {
      counts.urgentOld = count('urgent_old');
      if (counts.urgentOld > counts.old) throw badRow(index, raw, `urgent_old (${counts.urgentOld}) exceeds old (${counts.old})`, 'urgent_old');
    }
    return { mailbox: uri, summary: { counts: { 'voice-message': counts } } };
  }

  /** Ends the client without waiting on a server busy with our statement: the socket close rolls back. */
  async function release(client: pg.Client): Promise<void> {
    if (!open.delete(client)) return;
    const ended = client.end().catch(() => undefined);
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([ended, new Promise<void>((resolve) => (timer = setTimeout(resolve, 1_000)))]);
    clearTimeout(timer);
  }

  async function* pages(pageSize: number, signal: AbortSignal): AsyncGenerator<SourceMailbox[]> {
    if (!Number.isInteger(pageSize) || pageSize < 1) throw new RangeError(`pageSize must be a positive integer, got ${pageSize}`);
    signal.throwIfAborted();
    let client: pg.Client;
    try {
      client = new pg.Client({
        connectionString: options.url,
        connectionTimeoutMillis: options.connectTimeoutMs,
        application_name: 'mwi-runner sweep',
      });
    } catch (err) {
      // Only a malformed URL gets here; its error text may quote the URL.
      throw unavailable(`cannot use the URL: ${(err as Error).name}`);
    }
    // A connection lost between statements is reported on the client, not on a query: without a
    // listener it would crash the process. The next statement fails and says why.
    client.on('error', () => undefined);
    open.add(client);

    /** Runs one step; an abort ends the wait at once (the client is then released). */
    const step = async <T>(name: string, work: Promise<T>): Promise<T> => {
      work.catch(() => undefined);
      let onAbort: (() => void) | undefined;
      const aborted = new Promise<never>((_, reject) => {
        onAbort = () => reject(signal.reason as Error);
        signal.addEventListener('abort', onAbort, { once: true });
      });
      aborted.catch(() => undefined);
      try {
        return await Promise.race([work, aborted]);
      } catch (err) {
        if (signal.aborted) throw signal.reason as Error;
        throw fromDriverError(name, err);
      } finally {
        if (onAbort) signal.removeEventListener('abort', onAbort);
      }
    };

    try {
      await step('connect', client.connect());
      await step('begin', client.query('BEGIN ISOLATION LEVEL REPEATABLE READ, READ ONLY'));
      // SET LOCAL rather than a startup parameter: works through PgBouncer in transaction mode.
      await step('set statement_timeout', client.query(`SET LOCAL statement_timeout = ${Math.trunc(options.statementTimeoutMs)}`));
      await step('query', client.query(`DECLARE ${CURSOR} NO SCROLL CURSOR FOR ${query}`));
      let columns: Columns | undefined;
      let index = 0;
      for (;;) {
        signal.throwIfAborted();
        const result = await step('read', client.query<Record<string, unknown>>(`FETCH FORWARD ${pageSize} FROM ${CURSOR}`));
        const cols = (columns ??= checkColumns(result.fields));
        if (result.rows.length === 0) break;
        const page = result.rows.map((row) => toSourceMailbox(row, ++index, cols));
        const last = result.rows.length < pageSize;
        yield page;
        if (last) break;
      }
    } finally {
      await release(client);
    }
  }

  return {
    name: `sql:${maskedUrl}`,
    pages,
    async close() {
      await Promise.all([...open].map((c) => release(c)));
    },
  };
}
