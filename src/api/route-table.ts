/** Every route of the HTTP API, in one table. */
import type { IngestService } from '../ingest/ingest-service.ts';
import type { RouteSpec } from './handler.ts';
import { getMailbox, type MailboxReader } from './routes/get-mailbox.ts';
import { getMetrics, type MetricsSource } from './routes/get-metrics.ts';
import { healthz } from './routes/healthz.ts';
import { postMwi } from './routes/post-mwi.ts';

export function routeTable(deps: { ingest: IngestService; store: MailboxReader; metrics: MetricsSource }): RouteSpec[] {
  return [
    { method: 'GET', url: '/healthz', auth: false, handler: healthz },
    { method: 'POST', url: '/v1/mwi', auth: true, handler: postMwi(deps.ingest) },
    { method: 'GET', url: '/v1/mailboxes/:id', auth: true, handler: getMailbox(deps.store) },
    // The producer token for now: scrapers hold it until issue 6 adds a read-only viewer role.
    { method: 'GET', url: '/metrics', auth: true, handler: getMetrics(deps.metrics) },
  ];
}
