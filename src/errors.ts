/**
 * The error catalogue: every error the product raises has a stable `code` (tests and clients
 * match on codes, never on messages) and says whether retrying can help.
 */
export const ErrorCodes = {
  CONFIG_INVALID: 'MWI_CONFIG_INVALID',
  CONFIG_FILE_UNREADABLE: 'MWI_CONFIG_FILE_UNREADABLE',
  SECRET_UNREADABLE: 'MWI_SECRET_UNREADABLE',
  CLI_USAGE: 'MWI_CLI_USAGE',
  BODY_INVALID: 'MWI_BODY_INVALID',
  URI_INVALID: 'MWI_URI_INVALID',
  SIP_TRANSPORT: 'MWI_SIP_TRANSPORT',
  SIP_TIMEOUT: 'MWI_SIP_TIMEOUT',
  SIP_MESSAGE_TOO_LARGE: 'MWI_SIP_MESSAGE_TOO_LARGE',
  SIP_STACK_CLOSED: 'MWI_SIP_STACK_CLOSED',
  RESOLVE_FAILED: 'MWI_RESOLVE_FAILED',
  /** A transport's bounded table (retransmission entries, connections) is full: back off and retry. */
  SIP_TRANSPORT_BUSY: 'MWI_SIP_TRANSPORT_BUSY',
  REDIS_UNAVAILABLE: 'MWI_REDIS_UNAVAILABLE',
  /** No redis.url and no redis-server on PATH: install the Debian package redis-server. */
  REDIS_SERVER_MISSING: 'MWI_REDIS_SERVER_MISSING',
  /** Another running instance owns the private Redis data dir (redis.dataDir). */
  REDIS_DATA_DIR_LOCKED: 'MWI_REDIS_DATA_DIR_LOCKED',
  /** The private redis-server exited or did not answer PING in time; its log is named. */
  REDIS_SERVER_FAILED: 'MWI_REDIS_SERVER_FAILED',
  /** HTTP API: a field of the request breaks its rule; the error's `path` names it (e.g. updates.3.counts.new). */
  HTTP_VALIDATION: 'MWI_HTTP_VALIDATION',
  /** HTTP API: the body is not valid JSON (or is empty, or carries __proto__/constructor keys). */
  HTTP_MALFORMED_JSON: 'MWI_HTTP_MALFORMED_JSON',
  /** HTTP API: the body is not application/json. */
  HTTP_UNSUPPORTED_MEDIA_TYPE: 'MWI_HTTP_UNSUPPORTED_MEDIA_TYPE',
  /** HTTP API: the body is larger than api.bodyLimitBytes. */
  HTTP_BODY_TOO_LARGE: 'MWI_HTTP_BODY_TOO_LARGE',
  /** HTTP API: a batch holds more than api.maxBatchUpdates updates: split it. */
  HTTP_BATCH_TOO_LARGE: 'MWI_HTTP_BATCH_TOO_LARGE',
  /** HTTP API: missing or wrong bearer token, or no producer token configured on the server. */
  HTTP_UNAUTHORIZED: 'MWI_HTTP_UNAUTHORIZED',
  /** HTTP API: no such route. */
  HTTP_NOT_FOUND: 'MWI_HTTP_NOT_FOUND',
  /** HTTP API: a request the server cannot read (bad URL, bad Content-Length, malformed HTTP). */
  HTTP_BAD_REQUEST: 'MWI_HTTP_BAD_REQUEST',
  /** HTTP API: an unexpected server error (a bug); details are in the server log only. */
  HTTP_INTERNAL: 'MWI_HTTP_INTERNAL',
  /** An update names neither target nor contact and targets.defaultPublishTarget is not configured. */
  NO_TARGET: 'MWI_NO_TARGET',
  /** The store holds no state for this mailbox. */
  MAILBOX_NOT_FOUND: 'MWI_MAILBOX_NOT_FOUND',
  /** API client: no connection to the API (refused, reset, DNS). */
  API_UNREACHABLE: 'MWI_API_UNREACHABLE',
  /** API client: no answer within the client's timeout. */
  API_TIMEOUT: 'MWI_API_TIMEOUT',
  /** API client: an answer that is not the API's JSON (a proxy's error page, a truncated body). */
  API_BAD_RESPONSE: 'MWI_API_BAD_RESPONSE',
  /** A process that needs a shared Redis (a delivery worker) was started without redis.url. */
  REDIS_URL_REQUIRED: 'MWI_REDIS_URL_REQUIRED',
  /** The delivery queue of this process is closed (shutting down): nothing more is scheduled from it. */
  QUEUE_CLOSED: 'MWI_QUEUE_CLOSED',
  /** A sweep source failed (spool directory unreadable, database down): the run aborts and marks nothing. */
  SOURCE_UNAVAILABLE: 'MWI_SOURCE_UNAVAILABLE',
  /** DNS: the name does not exist (NXDOMAIN). Cached as a negative answer; counts as DNS breaker evidence. */
  DNS_NXDOMAIN: 'MWI_DNS_NXDOMAIN',
  /** DNS: the name exists but has no record of the type asked (NODATA), e.g. no SRV and no A/AAAA. */
  DNS_NO_DATA: 'MWI_DNS_NO_DATA',
  /** DNS: no answer from any configured server within dns.timeoutMs x dns.tries. */
  DNS_TIMEOUT: 'MWI_DNS_TIMEOUT',
  /** DNS: the server failed (SERVFAIL, REFUSED, connection refused) or its answer was unusable (garbage, bad records). */
  DNS_FAILED: 'MWI_DNS_FAILED',
  /** The DNS circuit breaker is open: no lookups (beyond the recheck probe) and no cached answer to serve. */
  DNS_BREAKER_OPEN: 'MWI_DNS_BREAKER_OPEN',
  /** A target's circuit breaker is open (or isolated by an operator): nothing but probes goes to it. */
  BREAKER_OPEN: 'MWI_BREAKER_OPEN',
  /** A target is held (503 Retry-After, or its fleet-wide rate/in-flight limit left no room in time): try later, no attempt used. */
  TARGET_HELD: 'MWI_TARGET_HELD',
  /** No breaker with that id is known to the fleet. */
  BREAKER_NOT_FOUND: 'MWI_BREAKER_NOT_FOUND',
  /** An operator action (pause, resume, drain, isolate, reset) was given no reason, or a blank one. */
  CONTROL_REASON_REQUIRED: 'MWI_CONTROL_REASON_REQUIRED',
  /** An operator action's argument breaks its rule (control characters, too long, bad target, bad duration); `details.field` names it. */
  CONTROL_INVALID: 'MWI_CONTROL_INVALID',
  /** HTTP API: the credentials are valid but their role may not use this route (a producer token on GET /metrics, a viewer on POST /v1/pause). */
  HTTP_FORBIDDEN: 'MWI_HTTP_FORBIDDEN',
  /** HTTP API: a state-changing request signed in by session cookie lacks the session's CSRF token (X-CSRF-Token or X-XSRF-Token header). */
  HTTP_CSRF: 'MWI_HTTP_CSRF',
  /** HTTP API: too many requests from this client address (dashboard login: api.loginAttemptsPerMinute); wait Retry-After seconds. */
  HTTP_RATE_LIMITED: 'MWI_HTTP_RATE_LIMITED',
  /** HTTP API: this process was started without what the route needs (control plane, breaker control, resync): wire it, or ask a process that has it. */
  HTTP_NOT_CONFIGURED: 'MWI_HTTP_NOT_CONFIGURED',
} as const;

export type ErrorCode = (typeof ErrorCodes)[keyof typeof ErrorCodes];

export class MwiError extends Error {
  readonly code: ErrorCode;
  readonly retryable: boolean;
  readonly details: Record<string, unknown> | undefined;

  constructor(code: ErrorCode, message: string, opts: { retryable?: boolean; cause?: unknown; details?: Record<string, unknown> } = {}) {
    super(message, opts.cause === undefined ? undefined : { cause: opts.cause });
    this.name = 'MwiError';
    this.code = code;
    this.retryable = opts.retryable ?? false;
    this.details = opts.details;
  }
}

export function isMwiError(err: unknown, code?: ErrorCode): err is MwiError {
  return err instanceof MwiError && (code === undefined || err.code === code);
}
