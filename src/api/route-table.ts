/** Every route of the HTTP API, in one table. */
import type { IngestService } from '../ingest/ingest-service.ts';
import type { RouteSpec } from './handler.ts';
import { getMailbox, type MailboxReader } from './routes/get-mailbox.ts';
import { healthz } from './routes/healthz.ts';
import { postMwi } from './routes/post-mwi.ts';

export function routeTable(deps: { ingest: IngestService; store: MailboxReader }): RouteSpec[] {
  return [
    { method: 'GET', url: '/healthz', auth: false, handler: healthz },
    { method: 'POST', url: '/v1/mwi', auth: true, handler: postMwi(deps.ingest) },
    { method: 'GET', url: '/v1/mailboxes/:id', auth: true, handler: getMailbox(deps.store) },
  ];
}
