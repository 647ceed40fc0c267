/**
 * A delivery worker's own /metrics (and /healthz), for processes that run no API: the deliveries
 * of a scaled-out fleet happen in the workers, so their per-target counters must be scrapable.
 * Same access rule as the API's /metrics: a viewer or operator bearer token, compared in
 * constant time; no token configured, no access. Loopback unless configured otherwise.
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';

import { bearerToken, tokenRoles, type RoleTokens } from '../api/auth.ts';
import { grants } from '../api/roles.ts';
import { ErrorCodes } from '../errors.ts';
import type { Registry } from 'prom-client';

export interface MetricsServer {
  url: string;
  close(): Promise<void>;
}

function json(res: http.ServerResponse, status: number, code: string, message: string): void {
  res.writeHead(status, { 'content-type': 'application/json; charset=utf-8' }).end(JSON.stringify({ error: { code, message } }));
}

export async function startMetricsServer(opts: { host: string; port: number; registry: Pick<Registry, 'metrics' | 'contentType'>; tokens: RoleTokens }): Promise<MetricsServer> {
  const roleOf = tokenRoles({ ...(opts.tokens.viewer ? { viewer: opts.tokens.viewer } : {}), ...(opts.tokens.operator ? { operator: opts.tokens.operator } : {}) });
  const server = http.createServer((req, res) => {
    const path = (req.url ?? '').split('?')[0];
    if (req.method !== 'GET') return json(res, 404, ErrorCodes.HTTP_NOT_FOUND, 'no such route');
    if (path === '/healthz') return void res.writeHead(200, { 'content-type': 'application/json' }).end('{"status":"ok"}');
    if (path !== '/metrics') return json(res, 404, ErrorCodes.HTTP_NOT_FOUND, 'no such route');
    const token = bearerToken(req.headers.authorization);
    const role = token === undefined ? undefined : roleOf(token);
    if (role === undefined || !grants(role, 'viewer')) return json(res, 401, ErrorCodes.HTTP_UNAUTHORIZED, 'a viewer or operator bearer token is required');
    opts.registry.metrics().then(
      (text) => res.writeHead(200, { 'content-type': opts.registry.contentType }).end(text),
      () => json(res, 500, ErrorCodes.HTTP_INTERNAL, 'metrics could not be collected'),
    );
  });
  server.requestTimeout = 10_000;
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(opts.port, opts.host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  const address = server.address() as AddressInfo;
  const host = address.family === 'IPv6' ? `[${address.address}]` : address.address;
  return {
    url: `http://${host}:${address.port}`,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}
