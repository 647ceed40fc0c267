/**
 * What the operator routes call besides the ControlPlane, wired by the integrator (runtime):
 * each is optional, and a route whose seam is missing answers 503 MWI_HTTP_NOT_CONFIGURED.
 */
import { ErrorCodes } from '../errors.ts';
import { apiError } from './errors.ts';
import type { ReadinessReport } from './readiness.ts';

/**
 * Extra live state for GET /v1/status (queue depth, breakers, rates, ...), served as `runtime`.
 * Must be JSON-serialisable and hold no secret.
 */
export type StatusSource = () => Promise<Record<string, unknown>>;

/** Operator hold-open and reset of a target's (or the DNS) breaker; FleetBreakers fits. Unknown id: MwiError BREAKER_NOT_FOUND. */
export interface BreakerControl {
  isolate(id: string, actor: string, reason: string): Promise<void>;
  reset(id: string, actor: string, reason: string): Promise<void>;
}

/**
 * Send one mailbox's stored desired state again now (store.markDirty + scheduler.schedule, as
 * `mwi resync --mailbox`): 'queued', 'already-queued' (its turn is kept), or 'no-desired-state'
 * (nothing stored: 404).
 */
export type ResyncMailbox = (mailbox: string) => Promise<'queued' | 'already-queued' | 'no-desired-state'>;

/**
 * GET /readyz: can this host reach Redis, DNS and every presence target? createReadiness
 * (readiness.ts) over the checks of readiness-checks.ts fits; it caches, so callers may poll.
 */
export type ReadinessSource = () => Promise<ReadinessReport>;

export function required<T>(seam: T | undefined, what: string): T {
  if (seam === undefined) throw apiError(ErrorCodes.HTTP_NOT_CONFIGURED, `this API process has no ${what}`);
  return seam;
}
