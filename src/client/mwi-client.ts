/**
 * Typed client of the mwi-runner HTTP API for producers (PBX platforms, scripts, `mwi update`).
 * Uses the platform fetch (or one passed in). Every failure is an MwiClientError with the API's
 * stable `code` (or one of MWI_API_UNREACHABLE / MWI_API_TIMEOUT / MWI_API_BAD_RESPONSE when no
 * API answer came) and the HTTP `status` (0 without an answer). The token never appears in an error.
 */
import { ErrorCodes } from '../errors.ts';
import type { WireAccepted, WireBatchResponse, WireErrorBody, WireMailboxState } from '../api/wire-types.ts';
import type { WireUpdate } from '../ingest/update-schema.ts';

export interface MwiClientOptions {
  /** e.g. http://127.0.0.1:8080 */
  baseUrl: string;
  /** The producer bearer token (api.producerToken of the server). */
  token: string;
  fetch?: typeof globalThis.fetch;
  /** Per request. Default 10000. */
  timeoutMs?: number;
}

export class MwiClientError extends Error {
  /** MWI_*: the API's error code, or MWI_API_UNREACHABLE / MWI_API_TIMEOUT / MWI_API_BAD_RESPONSE. */
  readonly code: string;
  /** HTTP status; 0 when no answer came. */
  readonly status: number;
  /** The field at fault, e.g. updates.3.counts.new. */
  readonly path: string | undefined;

  constructor(code: string, message: string, status: number, opts: { path?: string | undefined; cause?: unknown } = {}) {
    super(message, opts.cause === undefined ? undefined : { cause: opts.cause });
    this.name = 'MwiClientError';
    this.code = code;
    this.status = status;
    this.path = opts.path;
  }

  /** Sending the same request again later may succeed (no answer, Redis unavailable, a server error). */
  get retryable(): boolean {
    return this.status === 0 || this.status >= 500;
  }
}

const DEFAULT_TIMEOUT_MS = 10_000;

function hasControlChars(s: string): boolean {
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c < 0x20 || c === 0x7f) return true;
  }
  return false;
}

function isErrorBody(v: unknown): v is WireErrorBody {
  const e = (v as Partial<WireErrorBody> | null)?.error;
  return typeof e === 'object' && e !== null && typeof e.code === 'string' && typeof e.message === 'string';
}

export class MwiClient {
  readonly #base: URL;
  readonly #authorization: string;
  readonly #fetch: typeof globalThis.fetch;
  readonly #timeoutMs: number;

  constructor(opts: MwiClientOptions) {
    const base = new URL(opts.baseUrl);
    if (base.protocol !== 'http:' && base.protocol !== 'https:') throw new TypeError('baseUrl must be an http: or https: URL');
    if (typeof opts.token !== 'string' || opts.token === '' || hasControlChars(opts.token)) {
      throw new TypeError('token must be a non-empty string without control characters');
    }
    if (!base.pathname.endsWith('/')) base.pathname += '/';
    this.#base = base;
    this.#authorization = `Bearer ${opts.token}`;
    this.#fetch = opts.fetch ?? globalThis.fetch;
    this.#timeoutMs = opts.timeoutMs ?? DEFAULT_TIMEOUT_MS;
  }

  /** One update; resolves once it is durably stored ('applied') or superseded by a newer one ('stale'). */
  async update(update: WireUpdate): Promise<WireAccepted> {
    return (await this.#request('POST', 'v1/mwi', update)).body as WireAccepted;
  }

  /**
   * Several updates in one request, applied atomically: one bad item rejects the whole batch with
   * MwiClientError (its `path` names the item). With `partial`, the valid items are applied and
   * each result carries its own status (202, or 400 with an error).
   */
  async updateBatch(updates: readonly WireUpdate[], opts: { partial?: boolean } = {}): Promise<WireBatchResponse> {
    const path = opts.partial ? 'v1/mwi?partial=true' : 'v1/mwi';
    return (await this.#request('POST', path, { updates })).body as WireBatchResponse;
  }

  /** The stored state of a mailbox; MwiClientError MWI_MAILBOX_NOT_FOUND (404) when none is stored. */
  async mailbox(id: string): Promise<WireMailboxState> {
    return (await this.#request('GET', `v1/mailboxes/${encodeURIComponent(id)}`)).body as WireMailboxState;
  }

  async #request(method: 'GET' | 'POST', path: string, body?: unknown): Promise<{ status: number; body: unknown }> {
    const url = new URL(path, this.#base);
    const headers: Record<string, string> = { authorization: this.#authorization, accept: 'application/json' };
    if (body !== undefined) headers['content-type'] = 'application/json';
    let res: Response;
    let text: string;
    try {
      res = await this.#fetch(url, {
        method,
        headers,
        ...(body === undefined ? {} : { body: JSON.stringify(body) }),
        signal: AbortSignal.timeout(this.#timeoutMs),
      });
      text = await res.text();
    } catch (err) {
      const name = (err as { name?: unknown } | null)?.name;
      if (name === 'TimeoutError' || name === 'AbortError') {
        throw new MwiClientError(ErrorCodes.API_TIMEOUT, `${method} ${url.pathname}: no answer within ${this.#timeoutMs} ms`, 0, { cause: err });
      }
      throw new MwiClientError(ErrorCodes.API_UNREACHABLE, `${method} ${url.pathname}: cannot reach the API at ${url.origin}`, 0, { cause: err });
    }
    let parsed: unknown;
    try {
      parsed = JSON.parse(text);
    } catch {
      throw new MwiClientError(ErrorCodes.API_BAD_RESPONSE, `${method} ${url.pathname}: answer ${res.status} is not JSON`, res.status);
    }
    if (res.ok) return { status: res.status, body: parsed };
    if (isErrorBody(parsed)) throw new MwiClientError(parsed.error.code, parsed.error.message, res.status, { path: parsed.error.path });
    throw new MwiClientError(ErrorCodes.API_BAD_RESPONSE, `${method} ${url.pathname}: answer ${res.status} without an error body`, res.status);
  }
}
