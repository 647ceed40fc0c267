/**
 * The PostgreSQL mailbox source against a real, private PostgreSQL (test/harness/postgres.ts):
 * Asterisk's ODBC voicemail table with fixture messages, paging, streaming, bad rows, timeouts
 * and outages.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';

import type pg from 'pg';

import { ErrorCodes, isMwiError } from '../../src/errors.ts';
import type { MailboxSource, SourceMailbox } from '../../src/sources/mailbox-source.ts';
import { createSqlSource, maskPostgresUrl, parseCount, type SqlSourceOptions } from '../../src/sources/sql-source.ts';
import { startPostgres, type PostgresHandle } from '../harness/postgres.ts';

const TEMPLATE = 'sip:{mailbox}@{context}.pbx.example';
const SPOOL = '/var/spool/asterisk/voicemail';

let server: PostgresHandle;
let admin: pg.Client;

function source(options: Partial<SqlSourceOptions> = {}): MailboxSource {
  return createSqlSource({ url: server.url, mailboxUriTemplate: TEMPLATE, statementTimeoutMs: 5_000, connectTimeoutMs: 2_000, ...options });
}

async function readAll(src: MailboxSource, pageSize: number, onPage?: (page: SourceMailbox[]) => Promise<void> | void): Promise<SourceMailbox[][]> {
  const pages: SourceMailbox[][] = [];
  try {
    for await (const page of src.pages(pageSize, new AbortController().signal)) {
      pages.push(page);
      await onPage?.(page);
    }
  } finally {
    await src.close();
  }
  return pages;
}

function voice(m: SourceMailbox | undefined) {
  return m?.summary.counts['voice-message'];
}

function unavailable(check: (err: { message: string; details: Record<string, unknown> | undefined }) => void = () => undefined) {
  return (err: unknown): boolean => {
    assert.ok(isMwiError(err, ErrorCodes.SOURCE_UNAVAILABLE), `expected SOURCE_UNAVAILABLE, got ${String(err)}`);
    assert.equal(err.retryable, true);
    check(err);
    return true;
  };
}

/** Our sessions still open on the server (backends exit asynchronously after a disconnect). */
async function sweepSessions(): Promise<number> {
  for (let i = 0; ; i++) {
    const { rows } = await admin.query<{ n: string }>("SELECT count(*) AS n FROM pg_stat_activity WHERE application_name = 'mwi-runner sweep'");
    const n = Number(rows[0]?.n);
    if (n === 0 || i >= 40) return n;
    await new Promise((resolve) => setTimeout(resolve, 25));
  }
}

/** Asterisk's table as contrib/realtime/postgresql/postgresql_voicemail.sql creates it (named by odbctable). */
function createVoicemessages(table: string): string {
  return `CREATE TABLE ${table} (
    dir VARCHAR(255) NOT NULL, msgnum INTEGER NOT NULL, context VARCHAR(80), macrocontext VARCHAR(80),
    callerid VARCHAR(80), origtime INTEGER, duration INTEGER, recording BYTEA, flag VARCHAR(30),
    category VARCHAR(30), mailboxuser VARCHAR(30), mailboxcontext VARCHAR(30), msg_id VARCHAR(40),
    PRIMARY KEY (dir, msgnum))`;
}

before(async () => {
  server = await startPostgres({ label: 'sql-source' });
  admin = await server.connect();
  await admin.query(createVoicemessages('voicemessages'));
  const rows: Array<[string, number, string]> = [
    // 1000@default: 2 in INBOX, 1 urgent (moved to Urgent by leave_voicemail), 3 heard, 1 filed in Work, greetings.
    [`${SPOOL}/default/1000/INBOX`, 0, ''],
    [`${SPOOL}/default/1000/INBOX`, 1, ''],
    [`${SPOOL}/default/1000/Urgent`, 0, 'Urgent'],
    [`${SPOOL}/default/1000/Old`, 0, ''],
    [`${SPOOL}/default/1000/Old`, 1, ''],
    [`${SPOOL}/default/1000/Old`, 2, 'Urgent'],
    [`${SPOOL}/default/1000/Work`, 0, ''],
    [`${SPOOL}/default/1000/busy`, -1, ''],
    [`${SPOOL}/default/1000/unavail`, -1, ''],
    // 1001@default: an INBOX row flagged Urgent counts as plain new, as in app_voicemail.
    [`${SPOOL}/default/1001/INBOX`, 0, 'Urgent'],
    // 1002@default: only a filed message: listed with 0/0 (lamp off).
    [`${SPOOL}/default/1002/Family`, 0, ''],
    // 1003@default: only a greeting: listed with 0/0 too.
    [`${SPOOL}/default/1003/greet`, -1, ''],
    // Rows outside a mailbox folder layout are no mailboxes.
    [`${SPOOL}/default/1004`, 0, ''],
    [`${SPOOL}/default/1005/tmp`, 0, ''],
    [`${SPOOL}/sales/2000/Old`, 0, ''],
    // Another spool prefix: context and mailbox come from the last segments of dir.
    ['/srv/pbx/vm/other/3000/INBOX', 0, ''],
  ];
  for (const [dir, msgnum, flag] of rows) {
    await admin.query('INSERT INTO voicemessages (dir, msgnum, flag, recording) VALUES ($1, $2, $3, $4)', [dir, msgnum, flag, Buffer.from('RIFF')]);
  }
  // 10,000 mailboxes in 4 contexts: one INBOX message each, i % 3 heard ones.
  await admin.query(createVoicemessages('big_voicemessages'));
  await admin.query(`INSERT INTO big_voicemessages (dir, msgnum)
    SELECT '${SPOOL}/ctx' || (i % 4) || '/' || lpad(i::text, 5, '0') || '/INBOX', 0 FROM generate_series(1, 10000) i
    UNION ALL
    SELECT '${SPOOL}/ctx' || (i % 4) || '/' || lpad(i::text, 5, '0') || '/Old', n FROM generate_series(1, 10000) i, generate_series(0, 1) n WHERE n < i % 3`);
});

after(async () => {
  await admin?.end().catch(() => undefined);
  await server?.dispose();
});

describe('sql source: Asterisk ODBC voicemail storage (built-in query)', () => {
  it('aggregates one row per message into counts per mailbox, as app_voicemail counts by dir', async () => {
    const pages = await readAll(source(), 100);
    assert.equal(pages.length, 1);
    assert.deepEqual(
      pages[0]?.map((m) => [m.mailbox, voice(m)]),
      [
        ['sip:1000@default.pbx.example', { new: 3, old: 3, urgentNew: 1 }],
        ['sip:1001@default.pbx.example', { new: 1, old: 0, urgentNew: 0 }],
        ['sip:1002@default.pbx.example', { new: 0, old: 0, urgentNew: 0 }],
        ['sip:1003@default.pbx.example', { new: 0, old: 0, urgentNew: 0 }],
        ['sip:3000@other.pbx.example', { new: 1, old: 0, urgentNew: 0 }],
        ['sip:2000@sales.pbx.example', { new: 0, old: 1, urgentNew: 0 }],
      ],
    );
    assert.equal(await sweepSessions(), 0, 'the client is released after the last page');
  });

  it('pages 10,000 mailboxes at pageSize rows per read, in a stable order, each mailbox once', async () => {
    const expected = Array.from({ length: 10_000 }, (_, k) => k + 1)
      .map((i) => ({ context: `ctx${i % 4}`, box: String(i).padStart(5, '0'), old: i % 3 }))
      .sort((a, b) => (a.context === b.context ? (a.box < b.box ? -1 : 1) : a.context < b.context ? -1 : 1));
    for (const pageSize of [1_000, 999]) {
      const started = Date.now();
      const pages = await readAll(source({ odbcTable: 'big_voicemessages' }), pageSize);
      assert.equal(pages.length, Math.ceil(10_000 / pageSize), `pageSize ${pageSize}`);
      assert.ok(pages.every((p) => p.length <= pageSize));
      const all = pages.flat();
      assert.deepEqual(all.map((m) => m.mailbox), expected.map((e) => `sip:${e.box}@${e.context}.pbx.example`));
      assert.deepEqual(voice(all[7]), { new: 1, old: expected[7]?.old ?? -1, urgentNew: 0 });
      assert.ok(Date.now() - started < 5_000, 'well within the test budget');
    }
  });

  it('reads another table name (alembic\'s voicemail_messages) through odbcTable', async () => {
    await admin.query(createVoicemessages('voicemail_messages'));
    await admin.query(`INSERT INTO voicemail_messages (dir, msgnum) VALUES ('${SPOOL}/default/4000/Urgent', 0)`);
    const pages = await readAll(source({ odbcTable: 'voicemail_messages' }), 10);
    assert.deepEqual(pages.flat().map((m) => [m.mailbox, voice(m)]), [['sip:4000@default.pbx.example', { new: 1, old: 0, urgentNew: 1 }]]);
  });
});

describe('sql source: cursor behaviour', () => {
  it('streams: the first page arrives long before the query has produced its last rows', async () => {
    const started = Date.now();
    let firstPageAt = 0;
    const query = `SELECT 'sip:' || i || '@x.example' AS mailbox, 1 AS new, 0 AS old
                     FROM generate_series(1, 10000) i WHERE i <> 9500 OR pg_sleep(0.8) IS NOT NULL`; // no ORDER BY: a sort would read every row first
    const pages = await readAll(source({ query, mailboxUriTemplate: undefined }), 500, () => {
      firstPageAt ||= Date.now() - started;
    });
    const total = Date.now() - started;
    assert.equal(pages.flat().length, 10_000);
    assert.ok(pages.every((p) => p.length <= 500));
    assert.ok(total >= 800, `the query sleeps 0.8 s at row 9500 (took ${total} ms)`);
    assert.ok(firstPageAt < total - 600, `first page after ${firstPageAt} ms, last after ${total} ms`);
  });

  it('the statement timeout bounds each read, not the consumer\'s time between pages', async () => {
    const query = "SELECT 'sip:' || i || '@x.example' AS mailbox, 0 AS new, 0 AS old FROM generate_series(1, 30) i ORDER BY i";
    const pages = await readAll(source({ query, mailboxUriTemplate: undefined, statementTimeoutMs: 200 }), 10, () => new Promise((resolve) => setTimeout(resolve, 300)));
    assert.deepEqual(pages.map((p) => p.length), [10, 10, 10]);
  });

  it('a read slower than statementTimeoutMs aborts with SOURCE_UNAVAILABLE (after the pages before it)', async () => {
    const query = `SELECT 'sip:' || i || '@x.example' AS mailbox, 0 AS new, 0 AS old
                     FROM generate_series(1, 30) i WHERE i <> 15 OR pg_sleep(3) IS NOT NULL`;
    const started = Date.now();
    const seen: number[] = [];
    await assert.rejects(
      readAll(source({ query, mailboxUriTemplate: undefined, statementTimeoutMs: 300 }), 10, (p) => void seen.push(p.length)),
      unavailable((err) => {
        assert.equal(err.details?.code, '57014');
        assert.match(err.message, /statement timeout \(300 ms\)/);
      }),
    );
    assert.deepEqual(seen, [10]);
    assert.ok(Date.now() - started < 2_000, 'cancelled by the server, not waited out');
    assert.equal(await sweepSessions(), 0);
  });

  it('runs the query in a read-only transaction', async () => {
    await admin.query('CREATE SEQUENCE IF NOT EXISTS side_effect');
    const query = "SELECT 'sip:a@x.example' AS mailbox, nextval('side_effect') AS new, 0 AS old";
    await assert.rejects(readAll(source({ query, mailboxUriTemplate: undefined }), 10), unavailable((err) => assert.equal(err.details?.code, '25006')));
  });

  it('maps custom columns: a URI mailbox, urgent_new and urgent_old, bigint and int counts', async () => {
    const query = `SELECT * FROM (VALUES ('sip:1@a.example', 5::bigint, 2, 1::bigint, 2), ('tel:+15551234', 0::bigint, 0, 0::bigint, 0))
                     AS t(mailbox, new, old, urgent_new, urgent_old) ORDER BY mailbox`;
    const pages = await readAll(source({ query, mailboxUriTemplate: undefined }), 10);
    assert.deepEqual(pages.flat().map((m) => [m.mailbox, voice(m)]), [
      ['sip:1@a.example', { new: 5, old: 2, urgentNew: 1, urgentOld: 2 }],
      ['tel:+15551234', { new: 0, old: 0, urgentNew: 0, urgentOld: 0 }],
    ]);
  });

  it('stops at an abort with the signal\'s reason and releases the client; breaking out early releases it too', async () => {
    const controller = new AbortController();
    const src = source({ odbcTable: 'big_voicemessages' });
    await assert.rejects(
      (async () => {
        for await (const _ of src.pages(100, controller.signal)) controller.abort();
      })(),
      { name: 'AbortError' },
    );
    assert.equal(await sweepSessions(), 0);
    for await (const _ of source({ odbcTable: 'big_voicemessages' }).pages(100, new AbortController().signal)) break;
    assert.equal(await sweepSessions(), 0);
  });
});

describe('sql source: a source that lies must not mark mailboxes', () => {
  const cases: Array<[string, string, string]> = [
    ['NULL new', "SELECT 'sip:bad@x.example' AS mailbox, NULL::int AS new, 0 AS old", 'new'],
    ['negative old', "SELECT 'sip:bad@x.example' AS mailbox, 0 AS new, -1 AS old", 'old'],
    ['fractional new (numeric)', "SELECT 'sip:bad@x.example' AS mailbox, 1.5::numeric AS new, 0 AS old", 'new'],
    ['fractional new (float)', "SELECT 'sip:bad@x.example' AS mailbox, 1.5::float8 AS new, 0 AS old", 'new'],
    ['count above 2^32-1', "SELECT 'sip:bad@x.example' AS mailbox, 4294967296::bigint AS new, 0 AS old", 'new'],
    ['urgent above new', "SELECT 'sip:bad@x.example' AS mailbox, 1 AS new, 0 AS old, 2 AS urgent", 'urgent'],
    ['not a sip:/tel: URI', "SELECT 'http://bad@x.example' AS mailbox, 0 AS new, 0 AS old", 'mailbox'],
    ['a URI with a space', "SELECT 'sip:bad @x.example' AS mailbox, 0 AS new, 0 AS old", 'mailbox'],
  ];
  for (const [what, query, column] of cases) {
    it(`${what}: SOURCE_UNAVAILABLE naming the row's mailbox, no page`, async () => {
      const good = "SELECT 'sip:good@x.example' AS mailbox, 1 AS new, 1 AS old, 0 AS urgent";
      const withUrgent = query.includes(' AS urgent') ? query : query.replace(' AS old', ' AS old, 0 AS urgent');
      const seen: SourceMailbox[][] = [];
      await assert.rejects(
        readAll(source({ query: `${good} UNION ALL ${withUrgent}`, mailboxUriTemplate: undefined }), 10, (p) => void seen.push(p)),
        unavailable((err) => {
          assert.equal(err.details?.column, column);
          assert.equal(err.details?.row, 2);
          assert.match(err.message, /bad/);
        }),
      );
      assert.equal(seen.length, 0, 'the page holding the bad row is not yielded');
    });
  }

  it('a NULL mailbox, and a NULL context the template needs', async () => {
    await assert.rejects(readAll(source({ query: 'SELECT NULL::text AS mailbox, 0 AS new, 0 AS old', mailboxUriTemplate: undefined }), 10), unavailable((err) => assert.equal(err.details?.column, 'mailbox')));
    await assert.rejects(readAll(source({ query: "SELECT '1000' AS mailbox, NULL::text AS context, 0 AS new, 0 AS old" }), 10), unavailable((err) => assert.equal(err.details?.mailbox, '1000')));
  });

  it('a query without a required column, or without the context its template uses', async () => {
    await assert.rejects(readAll(source({ query: "SELECT 'sip:a@x' AS mailbox, 0 AS new", mailboxUriTemplate: undefined }), 10), unavailable((err) => assert.match(err.message, /no "old" column/)));
    await assert.rejects(readAll(source({ query: "SELECT '1000' AS mailbox, 0 AS new, 0 AS old" }), 10), unavailable((err) => assert.match(err.message, /no "context" column/)));
  });

  it('a query error (missing table) names the server\'s reason and code', async () => {
    await assert.rejects(readAll(source({ odbcTable: 'no_such_table' }), 10), unavailable((err) => {
      assert.equal(err.details?.code, '42P01');
      assert.match(err.message, /no_such_table/);
    }));
    assert.equal(await sweepSessions(), 0);
  });

  it('parses counts strictly', () => {
    assert.equal(parseCount(3), 3);
    assert.equal(parseCount('42'), 42);
    assert.equal(parseCount(0xffff_ffff), 0xffff_ffff);
    for (const bad of [null, undefined, -1, 1.5, '1.5', '-1', '', ' 1', '4294967296', 2 ** 32, true, {}]) assert.equal(parseCount(bad), undefined, JSON.stringify(bad) ?? 'undefined');
  });
});

describe('sql source: database outages (run last: they stop and restart the server)', () => {
  it('masks the password in the source name and in every error', async () => {
    assert.equal(maskPostgresUrl('postgres://mwi:s3cret@db:5432/pbx?sslmode=require&password=other'), 'postgres://mwi:***@db:5432/pbx?sslmode=require&password=***');
    const url = `postgres://postgres:s3cret-pw@127.0.0.1:${server.port}/postgres`;
    const src = createSqlSource({ url, mailboxUriTemplate: TEMPLATE, statementTimeoutMs: 1_000, connectTimeoutMs: 1_000, query: "SELECT 's3cret-pw'::int AS mailbox" });
    assert.equal(src.name, `sql:postgres://postgres:***@127.0.0.1:${server.port}/postgres`);
    await assert.rejects(readAll(src, 10), unavailable((err) => {
      assert.doesNotMatch(`${err.message} ${JSON.stringify(err.details)}`, /s3cret-pw/);
    }));
  });

  it('database stopped: SOURCE_UNAVAILABLE at once (connection refused)', async () => {
    await server.stop();
    try {
      const started = Date.now();
      const url = `postgres://postgres:s3cret-pw@127.0.0.1:${server.port}/postgres`;
      await assert.rejects(readAll(createSqlSource({ url, mailboxUriTemplate: TEMPLATE, statementTimeoutMs: 1_000, connectTimeoutMs: 2_000 }), 10), unavailable((err) => {
        assert.match(err.message, /connect failed: .*ECONNREFUSED/);
        assert.doesNotMatch(err.message, /s3cret-pw/);
        assert.equal(err.details?.url, `postgres://postgres:***@127.0.0.1:${server.port}/postgres`);
      }));
      assert.ok(Date.now() - started < 1_000, `took ${Date.now() - started} ms`);
    } finally {
      await server.restart();
      await admin.end().catch(() => undefined);
      admin = await server.connect();
    }
  });

  it('database killed between pages: the next read fails with SOURCE_UNAVAILABLE', async () => {
    let pagesSeen = 0;
    try {
      await assert.rejects(
        readAll(source({ odbcTable: 'big_voicemessages' }), 100, async () => {
          if (++pagesSeen === 1) await server.kill9();
        }),
        unavailable((err) => assert.match(err.message, /read failed/)),
      );
      assert.equal(pagesSeen, 1);
    } finally {
      await server.restart();
      await admin.end().catch(() => undefined);
      admin = await server.connect();
    }
  });

  it('database hung (SIGSTOP): the connect times out after connectTimeoutMs', async () => {
    server.pause();
    try {
      const started = Date.now();
      await assert.rejects(readAll(source({ connectTimeoutMs: 300 }), 10), unavailable((err) => assert.match(err.message, /connect failed/)));
      const took = Date.now() - started;
      assert.ok(took >= 250 && took < 1_500, `took ${took} ms`);
    } finally {
      server.resume();
    }
  });
});
