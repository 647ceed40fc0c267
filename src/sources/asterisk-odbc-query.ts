/**
 * The ready-made counts query over Asterisk's ODBC voicemail storage (PostgreSQL dialect).
 *
 * Schema (Asterisk: "ODBC Storage" docs for the `voicemessages` table, `odbctable` in
 * voicemail.conf; contrib/realtime/postgresql/postgresql_voicemail.sql, which the alembic scripts
 * name `voicemail_messages`): ONE ROW PER MESSAGE, `dir VARCHAR(255) NOT NULL`,
 * `msgnum INTEGER NOT NULL` (primary key (dir, msgnum)), context, macrocontext, callerid,
 * origtime, duration, recording, flag ("Urgent", "PRIORITY" or empty), category, mailboxuser,
 * mailboxcontext, msg_id. `dir` is `<spool>/<context>/<mailbox>/<folder>`, e.g.
 * /var/spool/asterisk/voicemail/default/1000/INBOX; greetings live in the same table under
 * `<spool>/<context>/<mailbox>/{busy,unavail,greet,temp}` with msgnum -1.
 *
 * How app_voicemail counts with ODBC storage (apps/app_voicemail.c, ODBC `inboxcount2()` /
 * `count_messages_in_folder()`): `SELECT COUNT(*) FROM <table> WHERE dir = '<spool><context>/
 * <mailbox>/<folder>'` for INBOX (new), Old (old) and Urgent (urgent), and `inboxcount()` adds
 * urgent into new. Urgent messages are not INBOX rows with flag = 'Urgent': `leave_voicemail()`
 * moves them into the Urgent folder (RENAME updates `dir`), and `flag` only labels them. So this
 * query groups on `dir` alone, exactly like Asterisk: new = INBOX + Urgent, old = Old,
 * urgent = Urgent (an INBOX row flagged Urgent counts as plain new, as in Asterisk). Context and
 * mailbox are taken from the last path segments of `dir`, so any spool prefix works, and
 * `mailboxuser`/`mailboxcontext` (nullable) are not needed.
 *
 * A mailbox is listed when it has any row: a message in any app_voicemail folder (the counted
 * three, or Work/Family/Friends/Cust1-5/Deleted, which count for nothing) or a recorded greeting;
 * then with 0/0 if nothing is new or old, so its lamp goes off. A mailbox without a single row
 * (no message, no greeting) cannot be seen in this table and has no row here.
 */

/** app_voicemail's mailbox folders (`mbox()`) and greeting names (stored as dirs, msgnum -1). */
const FOLDERS = ['INBOX', 'Old', 'Work', 'Family', 'Friends', 'Cust1', 'Cust2', 'Cust3', 'Cust4', 'Cust5', 'Deleted', 'Urgent'];
const GREETINGS = ['busy', 'unavail', 'greet', 'temp'];

/** Asterisk's default `odbctable`. */
export const DEFAULT_ODBC_TABLE = 'voicemessages';

const TABLE_NAME = /^[A-Za-z_][A-Za-z0-9_]*(?:\.[A-Za-z_][A-Za-z0-9_]*)?$/;

/** A plain or schema-qualified SQL identifier (no quoting needed, nothing to inject). */
export function isPlainTableName(name: string): boolean {
  return TABLE_NAME.test(name);
}

/** Columns: mailbox, context, new, old, urgent; ordered by context then mailbox. */
export function asteriskOdbcCountsQuery(table: string = DEFAULT_ODBC_TABLE): string {
  if (!isPlainTableName(table)) throw new RangeError(`table must be a plain or schema-qualified SQL identifier, got ${JSON.stringify(table)}`);
  const folderList = [...FOLDERS, ...GREETINGS].map((f) => `'${f}'`).join(', ');
  return `SELECT mailbox, context,
       count(*) FILTER (WHERE folder IN ('INBOX', 'Urgent')) AS new,
       count(*) FILTER (WHERE folder = 'Old') AS old,
       count(*) FILTER (WHERE folder = 'Urgent') AS urgent
  FROM (SELECT substring(dir FROM '([^/]+)/[^/]+/[^/]+/?$') AS context,
               substring(dir FROM '([^/]+)/[^/]+/?$') AS mailbox,
               substring(dir FROM '([^/]+)/?$') AS folder
          FROM ${table}) AS message
 WHERE folder IN (${folderList}) AND context IS NOT NULL AND mailbox IS NOT NULL
 GROUP BY context, mailbox
 ORDER BY context, mailbox`;
}
