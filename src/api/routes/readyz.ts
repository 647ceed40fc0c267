/**
 * GET /readyz: public, JSON. 200 when this host reaches Redis, DNS and every presence target;
 * 503 naming what failed otherwise. The ReadinessSource caches each round (about 2 s), so
 * polling this cannot flood the targets with OPTIONS. No process without the seam claims to be
 * ready: it answers 503 MWI_HTTP_NOT_CONFIGURED.
 */
import type { Handler } from '../handler.ts';
import { required, type ReadinessSource } from '../operator-seams.ts';
import type { CheckReport } from '../readiness.ts';

export interface WireReadiness {
  status: 'ready' | 'not-ready';
  /** ms since epoch: when the (possibly cached) round finished. */
  checkedAt: number;
  /** Names of the failing checks, e.g. ["target:sip:ps-b.example.net"]; empty when ready. */
  failing: string[];
  checks: CheckReport[];
}

export function readyz(readiness: ReadinessSource | undefined): Handler {
  return async () => {
    const report = await required(readiness, 'readiness checks')();
    const body: WireReadiness = {
      status: report.ready ? 'ready' : 'not-ready',
      checkedAt: report.checkedAt,
      failing: report.checks.filter((c) => c.status === 'fail').map((c) => c.name),
      checks: report.checks,
    };
    return { status: report.ready ? 200 : 503, body };
  };
}
