/** Every route of the HTTP API, in one table, each with the least role that may call it. */
import type { ControlPlane } from '../control/types.ts';
import type { IngestService } from '../ingest/ingest-service.ts';
import type { Logger } from '../log.ts';
import type { TokenRoles } from './auth.ts';
import type { RouteSpec } from './handler.ts';
import type { BreakerControl, ReadinessSource, ResyncMailbox, StatusSource } from './operator-seams.ts';
import { getAudit } from './routes/get-audit.ts';
import { getCsrf } from './routes/get-csrf.ts';
import { getMailbox, type MailboxReader } from './routes/get-mailbox.ts';
import { getMetrics, type MetricsSource } from './routes/get-metrics.ts';
import { getStatus } from './routes/get-status.ts';
import { healthz } from './routes/healthz.ts';
import { getLoginPage } from './routes/login-page.ts';
import { readyz } from './routes/readyz.ts';
import { postLogin, postLogout } from './routes/login.ts';
import { postPause, postResume } from './routes/pause.ts';
import { postBreaker } from './routes/post-breaker.ts';
import { postDrain } from './routes/post-drain.ts';
import { postMwi } from './routes/post-mwi.ts';
import { postResync } from './routes/post-resync.ts';
import type { Sessions } from './session.ts';

export interface RouteDeps {
  ingest: IngestService;
  store: MailboxReader;
  metrics: MetricsSource;
  log: Logger;
  tokenRoles: TokenRoles;
  sessions: Sessions;
  loginAttemptsPerMinute: number;
  dashboardPath: string;
  control?: ControlPlane;
  status?: StatusSource;
  breakers?: BreakerControl;
  resync?: ResyncMailbox;
  readiness?: ReadinessSource;
}

export function routeTable(deps: RouteDeps): RouteSpec[] {
  const { control } = deps;
  return [
    { method: 'GET', url: '/healthz', role: 'public', handler: healthz },
    { method: 'GET', url: '/readyz', role: 'public', handler: readyz(deps.readiness) },
    { method: 'GET', url: '/login', role: 'public', handler: getLoginPage },
    { method: 'POST', url: '/login', role: 'public', acceptsForm: true, perClientPerMinute: deps.loginAttemptsPerMinute, handler: postLogin(deps) },
    { method: 'POST', url: '/logout', role: 'public', acceptsForm: true, handler: postLogout },
    { method: 'POST', url: '/v1/mwi', role: 'producer', handler: postMwi(deps.ingest) },
    { method: 'GET', url: '/v1/mailboxes/:id', role: 'viewer', handler: getMailbox(deps.store) },
    { method: 'GET', url: '/metrics', role: 'viewer', handler: getMetrics(deps.metrics) },
    { method: 'GET', url: '/v1/csrf', role: 'viewer', handler: getCsrf(deps.sessions) },
    { method: 'GET', url: '/v1/status', role: 'viewer', handler: getStatus(control, deps.status) },
    { method: 'GET', url: '/v1/audit', role: 'viewer', handler: getAudit(control) },
    { method: 'POST', url: '/v1/pause', role: 'operator', handler: postPause(control) },
    { method: 'POST', url: '/v1/resume', role: 'operator', handler: postResume(control) },
    { method: 'POST', url: '/v1/drain', role: 'operator', handler: postDrain(control) },
    { method: 'POST', url: '/v1/breakers/:id/isolate', role: 'operator', handler: postBreaker('isolate', deps.breakers, control) },
    { method: 'POST', url: '/v1/breakers/:id/reset', role: 'operator', handler: postBreaker('reset', deps.breakers, control) },
    { method: 'POST', url: '/v1/resync', role: 'operator', handler: postResync(deps.resync, control) },
  ];
}
