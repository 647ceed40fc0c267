/**
 * Package entry for producers: the typed API client, the wire types of requests and answers,
 * and the error codes to match on.
 */
export { MwiClient, MwiClientError } from './client/mwi-client.ts';
export type { MwiClientOptions } from './client/mwi-client.ts';
export type { WireBatch, WireCounts, WireOtherClasses, WireUpdate } from './ingest/update-schema.ts';
export type {
  WireAccepted,
  WireApplyResult,
  WireBatchResponse,
  WireError,
  WireErrorBody,
  WireHealth,
  WireItemResult,
  WireMailboxState,
  WireRoute,
  WireSummaryView,
} from './api/wire-types.ts';
export { ErrorCodes } from './errors.ts';
export type { ErrorCode } from './errors.ts';
