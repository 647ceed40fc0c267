import assert from 'node:assert/strict';
import { describe, it } from 'node:test';

import { loadConfig, type ConfigIssue } from '../../config/load.ts';
import { ErrorCodes, isMwiError } from '../../src/errors.ts';

function load(env: Record<string, string>) {
  return loadConfig({ env, readFile: (p) => (p === '/run/secrets/pg' ? 'postgres://mwi:s3cret@db/pbx\n' : assert.fail(`unexpected read ${p}`)) });
}

function issues(env: Record<string, string>): ConfigIssue[] {
  try {
    load(env);
  } catch (err) {
    assert.ok(isMwiError(err, ErrorCodes.CONFIG_INVALID), String(err));
    return err.details?.['issues'] as ConfigIssue[];
  }
  return assert.fail('expected CONFIG_INVALID');
}

describe('sweep source settings (spool and sql)', () => {
  it('defaults: Asterisk\'s odbctable, a 30 s statement timeout, a 5 s connect timeout, no templates', () => {
    const { sweep } = load({});
    assert.deepEqual(sweep.sql, { odbcTable: 'voicemessages', statementTimeoutMs: 30_000, connectTimeoutMs: 5_000 });
    assert.equal(sweep.spool.mailboxUriTemplate, undefined);
  });

  it('come from the environment, the PostgreSQL URL as a secret file', () => {
    const { sweep } = load({
      MWI_SWEEP__SOURCE: 'sql',
      MWI_SWEEP__SQL__URL_FILE: '/run/secrets/pg',
      MWI_SWEEP__SQL__MAILBOX_URI_TEMPLATE: 'sip:{mailbox}@{context}.pbx.example',
      MWI_SWEEP__SQL__ODBC_TABLE: 'asterisk.voicemail_messages',
      MWI_SWEEP__SQL__STATEMENT_TIMEOUT_MS: '2000',
      MWI_SWEEP__SQL__CONNECT_TIMEOUT_MS: '1500',
    });
    assert.equal(sweep.sql.url, 'postgres://mwi:s3cret@db/pbx');
    assert.equal(sweep.sql.odbcTable, 'asterisk.voicemail_messages');
    assert.equal(sweep.sql.statementTimeoutMs, 2_000);
    assert.equal(sweep.sql.connectTimeoutMs, 1_500);
  });

  it('a template is required by the spool source, and by the sql source with its built-in query', () => {
    assert.deepEqual(issues({ MWI_SWEEP__SOURCE: 'spool' }).map((i) => i.path), ['sweep.spool.mailboxUriTemplate']);
    assert.deepEqual(issues({ MWI_SWEEP__SOURCE: 'sql', MWI_SWEEP__SQL__URL: 'postgres://db/pbx' }).map((i) => i.path), ['sweep.sql.mailboxUriTemplate']);
    const withQuery = load({ MWI_SWEEP__SOURCE: 'sql', MWI_SWEEP__SQL__URL: 'postgres://db/pbx', MWI_SWEEP__SQL__QUERY: 'SELECT uri AS mailbox, n AS new, o AS old FROM lamps ORDER BY uri' });
    assert.equal(withQuery.sweep.sql.mailboxUriTemplate, undefined);
  });

  it('refuses bad templates, table names and timeouts, naming the setting', () => {
    const found = issues({
      MWI_SWEEP__SPOOL__MAILBOX_URI_TEMPLATE: 'sip:{extension}@pbx.example',
      MWI_SWEEP__SQL__ODBC_TABLE: 'voicemessages; DROP TABLE x',
      MWI_SWEEP__SQL__STATEMENT_TIMEOUT_MS: '10',
    });
    assert.deepEqual(found.map((i) => i.path).sort(), ['sweep.spool.mailboxUriTemplate', 'sweep.sql.odbcTable', 'sweep.sql.statementTimeoutMs']);
    assert.match(found.find((i) => i.path === 'sweep.spool.mailboxUriTemplate')?.message ?? '', /only \{mailbox\} and \{context\}/);
  });
});
