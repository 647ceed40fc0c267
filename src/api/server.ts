/**
 * The HTTP API on fastify: routes from the route table, each behind the role guard (guard.ts)
 * unless public, plus plugins mounted behind the same guard (the dashboard), and every error
 * (ours, fastify's, a malformed HTTP request) answered with the one error body shape. Fastify's
 * own logger is off: one line per request is written here, with the route pattern and status
 * only (never headers, cookies or the raw URL, so no token or session can reach a log).
 */
import http from 'node:http';
import type { AddressInfo, Socket } from 'node:net';

import rateLimit from '@fastify/rate-limit';
import Fastify, { type FastifyInstance, type FastifyPluginAsync, type FastifyPluginCallback, type FastifyReply, type FastifyRequest } from 'fastify';

import type { Config } from '../../config/schema.ts';
import { systemClock, type Clock } from '../clock.ts';
import type { ControlPlane } from '../control/types.ts';
import { ErrorCodes } from '../errors.ts';
import type { IngestService } from '../ingest/ingest-service.ts';
import type { Logger } from '../log.ts';
import { createMetrics } from '../metrics/registry.ts';
import { tokenRoles, type RoleTokens } from './auth.ts';
import { apiError, errorReply, type ErrorReply } from './errors.ts';
import { createGuard, type Guard } from './guard.ts';
import type { ApiRequest, RouteSpec } from './handler.ts';
import type { BreakerControl, ReadinessSource, ResyncMailbox, StatusSource } from './operator-seams.ts';
import type { SessionRole } from './roles.ts';
import { routeTable, type RouteDeps } from './route-table.ts';
import type { MailboxReader } from './routes/get-mailbox.ts';
import type { MetricsSource } from './routes/get-metrics.ts';
import { createSessions } from './session.ts';

/**
 * A fastify plugin served under `prefix` behind the role guard: the hook for the bull-board
 * dashboard (`serverAdapter.registerPlugin()`, with `setBasePath(prefix)`). GET and HEAD need
 * `readRole`, other methods `writeRole`, and under a session cookie the CSRF token, which
 * bull-board's axios sends by itself (XSRF-TOKEN cookie -> X-XSRF-Token header).
 */
export interface GuardedMount {
  prefix: string;
  plugin: FastifyPluginCallback | FastifyPluginAsync;
  /** Default: viewer. */
  readRole?: SessionRole;
  /** Default: operator. */
  writeRole?: SessionRole;
}

export interface ApiDeps {
  config: Config;
  log: Logger;
  ingest: IngestService;
  store: MailboxReader;
  /** The process's registry (createMetrics); default: one of its own, metrics at zero. */
  metrics?: MetricsSource;
  /** Pause, resume, drain, audit, status. Without it those routes (and the audited breaker and resync routes) answer 503 MWI_HTTP_NOT_CONFIGURED. */
  control?: ControlPlane;
  /** Live state for GET /v1/status (`runtime`): queue, breakers, rates. */
  status?: StatusSource;
  /** Breaker isolate/reset (FleetBreakers itself: the route audits through `control`). */
  breakers?: BreakerControl;
  resync?: ResyncMailbox;
  /** Checks for GET /readyz (createReadiness); without it /readyz answers 503 MWI_HTTP_NOT_CONFIGURED. */
  readiness?: ReadinessSource;
  /** Plugins served behind the guard (the dashboard). */
  mounts?: GuardedMount[];
  /** Where a form login lands; default /v1/status until a dashboard is mounted. */
  dashboardPath?: string;
  /** Session expiry; default the system clock. */
  clock?: Clock;
}

export interface ApiHandle {
  /** e.g. http://127.0.0.1:8080 */
  url: string;
  close(): Promise<void>;
}

/** A percent-encoded mailbox URI of MAX_URI_LENGTH characters can triple in length. */
const MAX_PARAM_LENGTH = 2048;
/** A client that has not sent its whole request within this long gets 408 (slow-body clients hold sockets). */
const REQUEST_TIMEOUT_MS = 30_000;

/** The matched route pattern, never the raw URL: a careless client may put a token in the path or query. */
function routeOf(req: FastifyRequest): string {
  return req.routeOptions.url ?? '(no route)';
}

function sendError(log: Logger, req: FastifyRequest, reply: FastifyReply, err: unknown): void {
  const r: ErrorReply = errorReply(err);
  const fields = { method: req.method, route: routeOf(req), status: r.status, code: r.body.error.code };
  if (r.level === 'error') log.error({ ...fields, err }, 'api request failed');
  else if (r.level === 'warn') log.warn(r.status === 503 ? { ...fields, err } : fields, 'api request refused');
  else log.info(fields, 'api request refused');
  void reply.code(r.status).headers(r.headers).send(r.body);
}

/** Malformed HTTP never reaches fastify's router: answer it on the socket, in our error shape. */
function clientError(log: Logger) {
  return (err: Error & { code?: string }, socket: Socket): void => {
    if (err.code === 'ECONNRESET' || socket.destroyed) return;
    const [status, message] =
      err.code === 'ERR_HTTP_REQUEST_TIMEOUT' ? [408, 'the request was not received in time'] : err.code === 'HPE_HEADER_OVERFLOW' ? [431, 'request headers are too large'] : [400, 'malformed HTTP request'];
    const body = JSON.stringify({ error: { code: ErrorCodes.HTTP_BAD_REQUEST, message } });
    log.debug({ status, reason: err.code }, 'malformed http request');
    if (socket.writable) {
      socket.write(`HTTP/1.1 ${status} ${http.STATUS_CODES[status] ?? ''}\r\nContent-Type: application/json; charset=utf-8\r\nContent-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`);
    }
    socket.destroy();
  };
}

const FORM = 'application/x-www-form-urlencoded';

function toApiRequest(req: FastifyRequest, guard: Guard): ApiRequest {
  return {
    params: (req.params ?? {}) as ApiRequest['params'],
    query: (req.query ?? {}) as ApiRequest['query'],
    body: req.body,
    principal: guard.principalOf(req),
    form: (req.headers['content-type'] ?? '').toLowerCase().startsWith(FORM),
    secure: req.protocol === 'https',
  };
}

function roleTokens(config: Config): RoleTokens {
  return { producer: config.api.producerToken, viewer: config.api.viewerToken, operator: config.api.operatorToken };
}

function warnUnsetTokens(config: Config, log: Logger): void {
  if (config.api.producerToken === undefined) log.warn('api.producerToken is not set: every POST /v1/mwi answers 401');
  if (config.api.viewerToken === undefined && config.api.operatorToken === undefined) {
    log.warn('neither api.viewerToken nor api.operatorToken is set: status, mailbox, metrics and operator routes answer 401, and nobody can sign in');
  }
  if (config.api.sessionSecret === undefined) log.info('api.sessionSecret is not set: dashboard sessions are signed with a random per-process secret and end on restart');
}

function registerRoute(scope: FastifyInstance, spec: RouteSpec, guard: Guard): void {
  scope.route({
    method: spec.method,
    url: spec.url,
    // onRequest runs before the body is read: an unauthenticated client never gets its body parsed.
    ...(spec.role === 'public' ? {} : { onRequest: guard.require(spec.role) }),
    ...(spec.perClientPerMinute === undefined ? {} : { config: { rateLimit: { max: spec.perClientPerMinute, timeWindow: 60_000 } } }),
    handler: async (req, reply) => {
      const res = await spec.handler(toApiRequest(req, guard));
      return reply.code(res.status).headers(res.headers ?? {}).send(res.body);
    },
  });
}

function formFields(body: string): Record<string, string> {
  return Object.fromEntries(new URLSearchParams(body));
}

function routeDepsOf(deps: ApiDeps): RouteDeps {
  const { config } = deps;
  const tokens = roleTokens(config);
  return {
    ...deps,
    metrics: deps.metrics ?? createMetrics().registry,
    tokenRoles: tokenRoles(tokens),
    sessions: createSessions({ secret: config.api.sessionSecret, ttlSec: config.api.sessionTtlSec, clock: deps.clock ?? systemClock, tokens }),
    loginAttemptsPerMinute: config.api.loginAttemptsPerMinute,
    dashboardPath: deps.dashboardPath ?? '/v1/status',
  };
}

/** The route table buildApi serves for these deps (tests walk it to cover every route). */
export function apiRouteTable(deps: ApiDeps): RouteSpec[] {
  return routeTable(routeDepsOf(deps));
}

/** The API without listening: for `inject()` in tests, and for startApi. */
export function buildApi(deps: ApiDeps): FastifyInstance {
  const { config, log } = deps;
  const routeDeps = routeDepsOf(deps);
  const routes = routeTable(routeDeps);
  warnUnsetTokens(config, log);
  const guard = createGuard(routeDeps);

  const app = Fastify({
    logger: false,
    bodyLimit: config.api.bodyLimitBytes,
    routerOptions: { maxParamLength: MAX_PARAM_LENGTH },
    requestTimeout: REQUEST_TIMEOUT_MS,
    // Fastify's closing 503 has its own body shape; requests arriving during close are served as usual.
    return503OnClosing: false,
    onProtoPoisoning: 'error',
    onConstructorPoisoning: 'error',
    frameworkErrors: (err, req, reply) => sendError(log, req, reply, err),
    clientErrorHandler: clientError(log),
  });
  // Only JSON bodies (and forms on the routes that ask): text/plain, registered by default, answers 415 like any other type.
  app.removeContentTypeParser('text/plain');

  app.setErrorHandler((err, req, reply) => sendError(log, req, reply, err));
  app.setNotFoundHandler((req, reply) => sendError(log, req, reply, apiError(ErrorCodes.HTTP_NOT_FOUND, 'no such route')));
  app.addHook('onRequest', async (_req, reply) => {
    void reply.header('cache-control', 'no-store').header('x-content-type-options', 'nosniff');
  });
  app.addHook('onResponse', async (req, reply) => {
    log.debug({ method: req.method, route: routeOf(req), status: reply.statusCode, ms: Math.round(reply.elapsedTime) }, 'api request');
  });
  // Keyed by the socket's address (no trustProxy): behind a reverse proxy every client shares one budget.
  void app.register(rateLimit, {
    global: false,
    errorResponseBuilder: () => apiError(ErrorCodes.HTTP_RATE_LIMITED, 'too many attempts from this address: retry after Retry-After seconds'),
  });

  // Registered after the rate limiter, so its onRoute hook sees them.
  void app.register((scope, _opts, done) => {
    for (const spec of routes) {
      if (spec.acceptsForm !== true) registerRoute(scope, spec, guard);
    }
    done();
  });
  // Form parsing is scoped to the routes that accept forms.
  void app.register((scope, _opts, done) => {
    scope.addContentTypeParser(FORM, { parseAs: 'string' }, (_req, body, parsed) => parsed(null, formFields(body as string)));
    for (const spec of routes) {
      if (spec.acceptsForm === true) registerRoute(scope, spec, guard);
    }
    done();
  });
  for (const mount of deps.mounts ?? []) {
    const readRole = mount.readRole ?? 'viewer';
    const writeRole = mount.writeRole ?? 'operator';
    void app.register(async (scope) => {
      scope.addHook('onRequest', guard.require((method) => (method === 'GET' || method === 'HEAD' ? readRole : writeRole)));
      await scope.register(mount.plugin, { prefix: mount.prefix });
    });
  }
  return app;
}

/** Listens on api.host:api.port (port 0: a free one) and resolves with the URL. */
export async function startApi(deps: ApiDeps): Promise<{ url: string; close(): Promise<void> }> {
  const app = buildApi(deps);
  await app.listen({ host: deps.config.api.host, port: deps.config.api.port });
  const address = app.server.address() as AddressInfo;
  const host = address.family === 'IPv6' ? `[${address.address}]` : address.address;
  const url = `http://${host}:${address.port}`;
  deps.log.info({ url }, 'api listening');
  const handle: ApiHandle = {
    url,
    close: () => app.close(),
  };
  return handle;
}
