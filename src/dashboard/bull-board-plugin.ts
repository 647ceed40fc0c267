/**
 * bull-board (the BullMQ queue browser) as a fastify plugin, for a GuardedMount: the API's
 * guard admits viewers to its pages and reads and operators (with the session's CSRF token) to
 * its writes. Its UI sends that token by itself: axios copies the XSRF-TOKEN cookie into an
 * X-XSRF-TOKEN header on same-origin requests, which the guard accepts.
 *
 * Two adjustments:
 * - bull-board sets its own error handler on its routes, which would turn the guard's 401/403
 *   (thrown from onRequest, answered by the route's handler) into 500s: our errors keep their
 *   status and body shape, everything else still goes to bull-board's handler.
 * - Its page links a Google Fonts stylesheet: a Content-Security-Policy keeps it (and anything
 *   else off-site) from loading, so the board works offline and tells no third party it is open.
 */
import { createBullBoard } from '@bull-board/api';
import { BullMQAdapter } from '@bull-board/api/bullMQAdapter';
import { FastifyAdapter } from '@bull-board/fastify';
import type { HTTPStatus } from '@bull-board/api/typings/app';
import type { Queue } from 'bullmq';
import type { FastifyPluginAsync } from 'fastify';

import { errorReply } from '../api/errors.ts';
import { isMwiError } from '../errors.ts';

type BoardErrorHandler = Parameters<FastifyAdapter['setErrorHandler']>[0];

const CSP = [
  "default-src 'self'",
  "img-src 'self' data:",
  // The board's React styles its own elements inline.
  "style-src 'self' 'unsafe-inline'",
  "font-src 'self' data:",
  "frame-ancestors 'none'",
  "form-action 'self'",
].join('; ');

class GuardedFastifyAdapter extends FastifyAdapter {
  override setErrorHandler(handler: BoardErrorHandler): this {
    return super.setErrorHandler((err) => {
      if (!isMwiError(err)) return handler(err);
      const r = errorReply(err);
      // Fastify sends any status; bull-board's type lists only the ones its own handlers use (not 401, 503).
      return { status: r.status as HTTPStatus, body: r.body };
    });
  }
}

export interface BullBoardOptions {
  /** Where the board is served, e.g. /dashboard/queues (the mount's prefix). */
  basePath: string;
  queues: readonly Queue[];
  /** Shown in the board's menu: back to our operations page. */
  dashboardPath: string;
}

export function bullBoardPlugin(opts: BullBoardOptions): FastifyPluginAsync {
  const adapter = new GuardedFastifyAdapter();
  adapter.setBasePath(opts.basePath);
  createBullBoard({
    queues: opts.queues.map((q) => new BullMQAdapter(q)),
    serverAdapter: adapter,
    options: { uiConfig: { boardTitle: 'mwi-runner queues', hideDocsLink: true, miscLinks: [{ text: 'Operations page', url: opts.dashboardPath }] } },
  });
  const board = adapter.registerPlugin();
  return async (app) => {
    app.addHook('onSend', async (_req, reply, payload) => {
      void reply.header('content-security-policy', CSP);
      return payload;
    });
    await app.register(board);
  };
}
