/**
 * The HTTP ingestion API on fastify: routes from the route table, bearer auth on the routes that
 * ask for it, and every error (ours, fastify's, a malformed HTTP request) answered with the one
 * error body shape. Fastify's own logger is off: one line per request is written here, with the
 * route pattern and status only (never headers or the raw URL, so no token can reach a log).
 */
import http from 'node:http';
import type { AddressInfo, Socket } from 'node:net';

import Fastify, { type FastifyInstance, type FastifyReply, type FastifyRequest } from 'fastify';

import type { Config } from '../../config/schema.ts';
import { ErrorCodes } from '../errors.ts';
import type { IngestService } from '../ingest/ingest-service.ts';
import type { Logger } from '../log.ts';
import { createMetrics } from '../metrics/registry.ts';
import type { RedisMailboxStore } from '../store/redis-mailbox-store.ts';
import { bearerTokenCheck } from './auth.ts';
import { apiError, errorReply, type ErrorReply } from './errors.ts';
import type { ApiRequest, RouteSpec } from './handler.ts';
import { routeTable } from './route-table.ts';
import type { MetricsSource } from './routes/get-metrics.ts';

export interface ApiDeps {
  config: Config;
  log: Logger;
  ingest: IngestService;
  store: RedisMailboxStore;
  /** The process's registry (createMetrics); default: one of its own, metrics at zero. */
  metrics?: MetricsSource;
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

function toApiRequest(req: FastifyRequest): ApiRequest {
  return {
    params: (req.params ?? {}) as ApiRequest['params'],
    query: (req.query ?? {}) as ApiRequest['query'],
    body: req.body,
  };
}

/** The API without listening: for `inject()` in tests, and for startApi. */
export function buildApi(deps: ApiDeps): FastifyInstance {
  const { config, log } = deps;
  const tokenMatches = bearerTokenCheck(config.api.producerToken);
  if (config.api.producerToken === undefined) log.warn('api.producerToken is not set: every POST /v1/mwi, GET /v1/mailboxes and GET /metrics answers 401');

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
  // Only JSON bodies: text/plain (registered by default) answers 415 like any other type.
  app.removeContentTypeParser('text/plain');

  app.setErrorHandler((err, req, reply) => sendError(log, req, reply, err));
  app.setNotFoundHandler((req, reply) => sendError(log, req, reply, apiError(ErrorCodes.HTTP_NOT_FOUND, 'no such route')));
  app.addHook('onRequest', async (_req, reply) => {
    void reply.header('cache-control', 'no-store').header('x-content-type-options', 'nosniff');
  });
  app.addHook('onResponse', async (req, reply) => {
    log.debug({ method: req.method, route: routeOf(req), status: reply.statusCode, ms: Math.round(reply.elapsedTime) }, 'api request');
  });

  const requireToken = (req: FastifyRequest): Promise<void> =>
    tokenMatches(req.headers.authorization) ? Promise.resolve() : Promise.reject(apiError(ErrorCodes.HTTP_UNAUTHORIZED, 'missing or invalid bearer token'));

  for (const route of routeTable({ ...deps, metrics: deps.metrics ?? createMetrics().registry })) {
    const spec: RouteSpec = route;
    app.route({
      method: spec.method,
      url: spec.url,
      // onRequest runs before the body is read: an unauthenticated client never gets its body parsed.
      ...(spec.auth ? { onRequest: requireToken } : {}),
      handler: async (req, reply) => {
        const res = await spec.handler(toApiRequest(req));
        return reply.code(res.status).headers(res.headers ?? {}).send(res.body);
      },
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
