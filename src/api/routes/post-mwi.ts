/**
 * POST /v1/mwi: one update (the body is the update) or a batch (`{ "updates": [...] }`).
 * 202 once durably in Redis; a batch with a bad item is refused whole (400) unless
 * `?partial=true`, which answers 207 with a status per item and applies the valid ones
 * (`partial` has no effect on a single update). Paths in errors are from the body's root:
 * `counts.new` for a single update, `updates.3.counts.new` in a batch.
 */
import { ErrorCodes, type ErrorCode, type MwiError } from '../../errors.ts';
import type { IngestService, ItemResult } from '../../ingest/ingest-service.ts';
import { isBatchBody, parseWireBatchEnvelope, type IssuePath } from '../../ingest/update-schema.ts';
import { apiError, errorBody } from '../errors.ts';
import type { Handler } from '../handler.ts';
import type { WireAccepted, WireBatchResponse, WireItemResult } from '../wire-types.ts';

function dotted(path: IssuePath): string {
  return path.map(String).join('.');
}

/** "counts.new must be ..." / "body must be a JSON object": the message names what it is about. */
function sentence(path: string, message: string): string {
  return `${path === '' ? 'body' : path} ${message}`;
}

function refusal(issue: { code: ErrorCode; message: string }, path: string): MwiError {
  return apiError(issue.code, sentence(path, issue.message), path);
}

function parsePartial(value: string | string[] | undefined): boolean {
  if (value === undefined || value === 'false') return false;
  if (value === 'true') return true;
  throw apiError(ErrorCodes.HTTP_VALIDATION, 'partial must be true or false', 'partial');
}

function wireItem(item: ItemResult, batchPath: (index: number, path: IssuePath) => string): WireItemResult {
  if (item.ok) return { index: item.index, status: 202, mailbox: item.mailbox, result: item.result };
  const { code, message, path } = item.issue;
  const where = batchPath(item.index, path);
  return { index: item.index, status: 400, error: errorBody(code, sentence(where, message), where).error };
}

export function postMwi(ingest: IngestService): Handler {
  return async (req) => {
    const partial = parsePartial(req.query.partial);
    const body = req.body;

    if (!isBatchBody(body)) {
      const r = await ingest.accept([body], { partial: false });
      if (r.refused) throw refusal(r.issue, dotted(r.issue.path));
      const item = r.items[0];
      if (item === undefined || !item.ok) throw new Error('ingest returned no result for an accepted update');
      return { status: 202, body: { mailbox: item.mailbox, result: item.result } satisfies WireAccepted };
    }

    const envelope = parseWireBatchEnvelope(body);
    if (!envelope.ok) throw refusal(envelope.issue, dotted(envelope.issue.path));
    const batchPath = (index: number | undefined, path: IssuePath): string => dotted(index === undefined ? ['updates', ...path] : ['updates', index, ...path]);
    const r = await ingest.accept(envelope.value.updates, { partial });
    if (r.refused) throw refusal(r.issue, batchPath(r.index, r.issue.path));
    const results = r.items.map((item) => wireItem(item, batchPath));
    return { status: partial ? 207 : 202, body: { results } satisfies WireBatchResponse };
  };
}
