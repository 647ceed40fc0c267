/**
 * Response bodies of the HTTP API, shared by the server and the typed client (types only).
 * Request bodies are in src/ingest/update-schema.ts (WireUpdate, WireBatch).
 */
import type { AuditEntry, DrainState, PauseState } from '../control/types.ts';
import type { OutcomeKind } from '../delivery/outcome.ts';
import type { WireCounts, WireOtherClasses } from '../ingest/update-schema.ts';

/** Every 4xx/5xx body: `code` is stable (match on it), `message` is for people, `path` names the field at fault. */
export interface WireError {
  code: string;
  message: string;
  path?: string;
}

export interface WireErrorBody {
  error: WireError;
}

/** 'stale': accepted, but the store already holds this version or a newer one, so nothing changed. */
export type WireApplyResult = 'applied' | 'stale';

/** 202 answer to a single update. */
export interface WireAccepted {
  mailbox: string;
  result: WireApplyResult;
}

export type WireItemResult =
  | ({ index: number; status: 202 } & WireAccepted)
  | { index: number; status: 400; error: WireError };

/** Answer to a batch: 202 (all applied or stale) or, with ?partial=true, 207 (per-item status). */
export interface WireBatchResponse {
  results: WireItemResult[];
}

export type WireRoute = { mode: 'publish'; target: string } | { mode: 'notify'; contact: string };

export interface WireSummaryView {
  counts?: WireCounts;
  otherClasses?: WireOtherClasses;
}

/** GET /v1/mailboxes/:id */
export interface WireMailboxState {
  mailbox: string;
  /** The newest accepted state. */
  desired: (WireSummaryView & { version: number; acceptedAt: number; route: WireRoute }) | null;
  /** What was last delivered. */
  delivered: (WireSummaryView & { version: number; deliveredAt: number }) | null;
  /** The desired state is not delivered yet. */
  pending: boolean;
  /** SIP-ETag of the last delivered PUBLISH and when that publication expires (ms since epoch). */
  etag: string | null;
  expiresAt: number | null;
  lastAttemptAt: number | null;
  lastOutcome: { kind: OutcomeKind; status?: number; reason: string; at: number } | null;
}

/** GET /healthz */
export interface WireHealth {
  status: 'ok';
}

/** The caller, as GET /v1/status and POST /login name it. */
export interface WirePrincipal {
  role: 'producer' | 'viewer' | 'operator';
  /** What audit entries name: `operator`, or `operator:alice` for a named dashboard session. */
  actor: string;
}

/** GET /v1/status */
export interface WireStatus {
  principal: WirePrincipal;
  control: { pauses: PauseState[]; drain: DrainState | null };
  /** Live state from the process's StatusSource (queue, breakers, rates); null when none is wired. */
  runtime: Record<string, unknown> | null;
}

/** POST /login (JSON); the same session also arrives as cookies. */
export interface WireLogin extends WirePrincipal {
  expiresAt: number;
  /** Send it as X-CSRF-Token on every state-changing request made with the session cookie. */
  csrfToken: string;
}

/** GET /v1/csrf: null when the caller used a bearer token (which needs none). */
export interface WireCsrf {
  csrfToken: string | null;
}

/** GET /v1/audit, newest first. */
export interface WireAudit {
  entries: AuditEntry[];
}

/** POST /v1/resync */
export interface WireResync {
  mailbox: string;
  result: 'queued' | 'already-queued';
}
