/**
 * Our operations page as a fastify plugin (mounted at DASHBOARD_PATH behind the guard): one HTML
 * page, one script and one stylesheet, all from the package (no build step, nothing off-site),
 * plus GET <prefix>/api/sweep, the sweep's lock holder and latest runs (until the status report
 * carries them). Everything else the page shows comes from the API routes it calls with the
 * session cookie: GET /v1/status every 2 s, GET /v1/mailboxes/:id, and the operator writes.
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';

import type { FastifyPluginCallback } from 'fastify';

import { ErrorCodes } from '../errors.ts';
import { apiError } from '../api/errors.ts';
import { PAGE_SCRIPT } from './page-script.ts';
import type { SweepStatus } from './sweep-status.ts';

const ASSETS = path.join(import.meta.dirname, 'assets');

// The page's script draws the charts with SVG elements and sets no inline style or script.
const PAGE_CSP = [
  "default-src 'none'",
  "script-src 'self'",
  "style-src 'self'",
  "img-src 'self' data:",
  "connect-src 'self'",
  "form-action 'self'",
  "frame-ancestors 'none'",
  "base-uri 'none'",
].join('; ');

export interface OperationsPageOptions {
  /** Where the plugin is mounted (asset URLs in the page are absolute). */
  basePath: string;
  /** Where bull-board is mounted (linked from the page). */
  queuesPath: string;
  sweepStatus?: () => Promise<SweepStatus>;
  /** Runs when the API closes (e.g. closing the queues bull-board reads). */
  onClose?: () => Promise<void>;
}

function readAsset(name: string, basePath: string, queuesPath: string): string {
  return readFileSync(path.join(ASSETS, name), 'utf8').replaceAll('{{base}}', basePath).replaceAll('{{queues}}', queuesPath);
}

export function operationsPage(opts: OperationsPageOptions): FastifyPluginCallback {
  const html = readAsset('index.html', opts.basePath, opts.queuesPath);
  const css = readAsset('dashboard.css', opts.basePath, opts.queuesPath);
  return (app, _opts, done) => {
    app.get('/', (_req, reply) => reply.type('text/html; charset=utf-8').header('content-security-policy', PAGE_CSP).send(html));
    app.get('/dashboard.js', (_req, reply) => reply.type('text/javascript; charset=utf-8').send(PAGE_SCRIPT));
    app.get('/dashboard.css', (_req, reply) => reply.type('text/css; charset=utf-8').send(css));
    app.get('/api/sweep', () => {
      if (opts.sweepStatus === undefined) return Promise.reject(apiError(ErrorCodes.HTTP_NOT_CONFIGURED, 'this API process has no sweep status reader'));
      return opts.sweepStatus();
    });
    const { onClose } = opts;
    if (onClose !== undefined) app.addHook('onClose', async () => onClose());
    done();
  };
}
