/** The mailbox source a sweep reads, from sweep.source. */
import type { Config } from '../../config/schema.ts';
import { ErrorCodes, MwiError } from '../errors.ts';
import type { MailboxSource } from '../sources/mailbox-source.ts';
import { createSpoolSource } from '../sources/spool-source.ts';
import { createSqlSource } from '../sources/sql-source.ts';
import { StoreMailboxSource, type IndexedStore } from '../sources/store-source.ts';

export function createSweepSource(config: Config, store: IndexedStore): MailboxSource {
  const s = config.sweep;
  switch (s.source) {
    case 'store':
      return new StoreMailboxSource(store);
    case 'spool':
      if (s.spool.mailboxUriTemplate === undefined) throw new MwiError(ErrorCodes.CONFIG_INVALID, 'sweep.spool.mailboxUriTemplate is required when sweep.source is "spool"');
      return createSpoolSource({ root: s.spool.root, mailboxUriTemplate: s.spool.mailboxUriTemplate });
    case 'sql':
      if (s.sql.url === undefined) throw new MwiError(ErrorCodes.CONFIG_INVALID, 'sweep.sql.url is required when sweep.source is "sql"');
      return createSqlSource({
        url: s.sql.url,
        ...(s.sql.query === undefined ? {} : { query: s.sql.query }),
        odbcTable: s.sql.odbcTable,
        ...(s.sql.mailboxUriTemplate === undefined ? {} : { mailboxUriTemplate: s.sql.mailboxUriTemplate }),
        statementTimeoutMs: s.sql.statementTimeoutMs,
        connectTimeoutMs: s.sql.connectTimeoutMs,
      });
  }
}
