/**
 * The seam between ingestion and delivery: once updates are durably applied to the mailbox store,
 * the ingest path tells the scheduler which mailboxes became dirty so that a delivery is sure to
 * be queued for them. Implementations must be idempotent (a mailbox named twice gets one
 * delivery of its latest state) and must not lose work if they fail: the dirty set in Redis is
 * the source of truth, so a failed schedule() is caught up by the next one or by the sweep.
 */
export interface DeliveryScheduler {
  schedule(mailboxes: readonly string[]): Promise<void>;
}
