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
