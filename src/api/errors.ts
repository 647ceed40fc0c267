/**
 * The one place an error becomes an HTTP answer: status, headers and the error body
 * `{ "error": { "code", "message", "path"? } }`. Messages are ours and fixed per cause: a
 * framework's or Redis' own text (which may quote the body or an address) never reaches the client.
 */
import { ErrorCodes, MwiError, isMwiError, type ErrorCode } from '../errors.ts';
import type { WireErrorBody } from './wire-types.ts';

const STATUS_BY_CODE: Partial<Record<ErrorCode, number>> = {
  [ErrorCodes.HTTP_VALIDATION]: 400,
  [ErrorCodes.URI_INVALID]: 400,
  [ErrorCodes.BODY_INVALID]: 400,
  [ErrorCodes.NO_TARGET]: 400,
  [ErrorCodes.HTTP_BATCH_TOO_LARGE]: 400,
  [ErrorCodes.HTTP_MALFORMED_JSON]: 400,
  [ErrorCodes.HTTP_BAD_REQUEST]: 400,
  [ErrorCodes.CONTROL_REASON_REQUIRED]: 400,
  [ErrorCodes.CONTROL_INVALID]: 400,
  [ErrorCodes.HTTP_UNAUTHORIZED]: 401,
  [ErrorCodes.HTTP_FORBIDDEN]: 403,
  [ErrorCodes.HTTP_CSRF]: 403,
  [ErrorCodes.HTTP_NOT_FOUND]: 404,
  [ErrorCodes.MAILBOX_NOT_FOUND]: 404,
  [ErrorCodes.BREAKER_NOT_FOUND]: 404,
  [ErrorCodes.HTTP_BODY_TOO_LARGE]: 413,
  [ErrorCodes.HTTP_UNSUPPORTED_MEDIA_TYPE]: 415,
  [ErrorCodes.HTTP_RATE_LIMITED]: 429,
  [ErrorCodes.REDIS_UNAVAILABLE]: 503,
  [ErrorCodes.HTTP_NOT_CONFIGURED]: 503,
};

/** Fastify's own errors, by their `code`. */
const FRAMEWORK_ERRORS: Record<string, { status: number; code: ErrorCode; message: string }> = {
  FST_ERR_CTP_INVALID_MEDIA_TYPE: { status: 415, code: ErrorCodes.HTTP_UNSUPPORTED_MEDIA_TYPE, message: 'Content-Type must be application/json' },
  FST_ERR_CTP_BODY_TOO_LARGE: { status: 413, code: ErrorCodes.HTTP_BODY_TOO_LARGE, message: 'request body is larger than api.bodyLimitBytes' },
  FST_ERR_CTP_EMPTY_JSON_BODY: { status: 400, code: ErrorCodes.HTTP_MALFORMED_JSON, message: 'request body is empty' },
  // Also what __proto__ and constructor.prototype keys get (onProtoPoisoning / onConstructorPoisoning 'error').
  FST_ERR_CTP_INVALID_JSON_BODY: { status: 400, code: ErrorCodes.HTTP_MALFORMED_JSON, message: 'request body is not valid JSON' },
  FST_ERR_CTP_INVALID_CONTENT_LENGTH: { status: 400, code: ErrorCodes.HTTP_BAD_REQUEST, message: 'Content-Length does not match the body' },
  FST_ERR_BAD_URL: { status: 400, code: ErrorCodes.HTTP_BAD_REQUEST, message: 'the URL is malformed' },
  FST_ERR_MAX_PARAM_LENGTH: { status: 400, code: ErrorCodes.HTTP_BAD_REQUEST, message: 'a path parameter is too long' },
};

export interface ErrorReply {
  status: number;
  headers: Record<string, string>;
  body: WireErrorBody;
  /** How loudly to log it: a bug is an error; a refused token, a flood, a CSRF refusal or an outage a warning. */
  level: 'info' | 'warn' | 'error';
}

/** An error a handler throws to answer with `code` (status from the table above). */
export function apiError(code: ErrorCode, message: string, path?: string): MwiError {
  return new MwiError(code, message, { details: path === undefined || path === '' ? {} : { path } });
}

export function errorBody(code: string, message: string, path?: string): WireErrorBody {
  return { error: { code, message, ...(path === undefined || path === '' ? {} : { path }) } };
}

function reply(status: number, code: ErrorCode, message: string, path?: string): ErrorReply {
  const headers: Record<string, string> = {};
  if (status === 401) headers['www-authenticate'] = 'Bearer realm="mwi-runner"';
  // Retrying this process cannot help when it lacks the route's dependency.
  if (status === 503 && code !== ErrorCodes.HTTP_NOT_CONFIGURED) headers['retry-after'] = '1';
  const loud = status === 401 || status === 429 || status === 503 || code === ErrorCodes.HTTP_CSRF;
  const level = status >= 500 && status !== 503 ? 'error' : loud ? 'warn' : 'info';
  return { status, headers, body: errorBody(code, message, path), level };
}

export function errorReply(err: unknown): ErrorReply {
  if (isMwiError(err)) {
    const status = STATUS_BY_CODE[err.code];
    if (status === undefined) return reply(500, ErrorCodes.HTTP_INTERNAL, 'internal error');
    if (err.code === ErrorCodes.REDIS_UNAVAILABLE) return reply(503, err.code, 'Redis is unavailable: nothing was written, retry later');
    // The control plane's own argument errors name their field as details.field.
    const path = err.details?.path ?? err.details?.field;
    return reply(status, err.code, err.message, typeof path === 'string' ? path : undefined);
  }
  const e = err as { code?: unknown; statusCode?: unknown } | null;
  const known = typeof e?.code === 'string' ? FRAMEWORK_ERRORS[e.code] : undefined;
  if (known !== undefined) return reply(known.status, known.code, known.message);
  const statusCode = typeof e?.statusCode === 'number' ? e.statusCode : 500;
  if (statusCode >= 400 && statusCode < 500) return reply(statusCode, ErrorCodes.HTTP_BAD_REQUEST, 'the request cannot be read');
  return reply(500, ErrorCodes.HTTP_INTERNAL, 'internal error');
}
