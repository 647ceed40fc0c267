/**
 * `mwi start [--demo] [--no-workers]`: the HTTP API and the delivery workers in one process
 * (src/runtime/runner.ts), until SIGTERM or SIGINT; then a graceful close in reverse order
 * within delivery.shutdownDeadlineMs, and exit 0. A second signal exits at once.
 *
 * `--demo` adds what a newcomer needs to watch it work on one machine: a SIP presence-server
 * SIMULATOR on loopback as the default publish target, a PBX stand-in posting random updates
 * for demo mailboxes through the API (with a producer token generated for the session unless
 * api.producerToken is set), and a status line every few seconds.
 */
import { randomBytes } from 'node:crypto';

import type { Command } from 'commander';
import type { Config } from '../../config/schema.ts';
import { defaultConfig } from '../../config/schema.ts';
import { MwiClient } from '../client/mwi-client.ts';
import { systemClock } from '../clock.ts';
import { startDemoStatus } from '../demo/demo-status.ts';
import { demoMailboxes, startPbxGenerator } from '../demo/pbx-generator.ts';
import { startPresenceSimulator } from '../demo/presence-simulator.ts';
import { ErrorCodes, MwiError, isMwiError } from '../errors.ts';
import { createLogger, type Logger } from '../log.ts';
import { startRunner } from '../runtime/runner.ts';
import { ShutdownStack } from '../runtime/shutdown-stack.ts';
import { EXIT, loadCliConfig, parseCount, type GlobalOptions } from './common.ts';

interface StartOptions {
  demo?: boolean;
  workers: boolean;
  demoMailboxes: number;
  demoRate: number;
}

/** Where the demo keeps its Redis when redis.dataDir is left at its default: apart from real state. */
const DEMO_DATA_DIR = 'data/demo/redis';
const DEMO_STATUS_EVERY_MS = 5_000;
/** After a clean close, a handle still open (a socket in its idle timeout) may keep the process up this long at most. */
const EXIT_GRACE_MS = 2_000;

/** Start-up failures that are about the machine, not the configuration or a bug: exit 69. */
const UNAVAILABLE_CODES: ReadonlySet<string> = new Set([
  ErrorCodes.REDIS_SERVER_MISSING,
  ErrorCodes.REDIS_DATA_DIR_LOCKED,
  ErrorCodes.REDIS_SERVER_FAILED,
  ErrorCodes.REDIS_UNAVAILABLE,
]);

/** The message for a start-up failure that deserves exit 69, or undefined for any other error. */
function unavailableMessage(err: unknown, config: Config): string | undefined {
  if (isMwiError(err) && UNAVAILABLE_CODES.has(err.code)) return `${err.code}: ${err.message}`;
  const { code, syscall } = (err ?? {}) as NodeJS.ErrnoException;
  if (syscall === 'listen' && (code === 'EADDRINUSE' || code === 'EACCES' || code === 'EADDRNOTAVAIL')) {
    return `${code}: the API cannot listen on ${config.api.host}:${config.api.port} (api.host / api.port; MWI_API__PORT=0 picks a free port)`;
  }
  return undefined;
}

function demoConfig(config: Config, publishTarget: string, producerToken: string): Config {
  const dataDir = config.redis.dataDir === defaultConfig().redis.dataDir ? DEMO_DATA_DIR : config.redis.dataDir;
  return {
    ...config,
    targets: { ...config.targets, defaultPublishTarget: publishTarget },
    api: { ...config.api, producerToken },
    redis: { ...config.redis, dataDir },
  };
}

/** Resolves on the first SIGTERM or SIGINT; a later one exits at once, with `exitCode()` (once the close is done) or 70. */
function waitForSignal(log: Logger, exitCode: () => number | undefined): Promise<NodeJS.Signals> {
  return new Promise((resolve) => {
    let received = false;
    const on = (signal: NodeJS.Signals): void => {
      if (received) {
        const code = exitCode() ?? EXIT.INTERNAL;
        if (code !== EXIT.OK) log.warn({ signal }, 'second signal: exiting now');
        process.exit(code);
      }
      received = true;
      resolve(signal);
    };
    process.on('SIGTERM', on);
    process.on('SIGINT', on);
  });
}

/** Demo sizes, checked before anything starts (a bad one is a usage error, exit 2). */
function checkDemoOptions(opts: StartOptions): void {
  if (opts.demoMailboxes < 1 || opts.demoMailboxes > 100_000) throw new MwiError(ErrorCodes.CLI_USAGE, '--demo-mailboxes must be between 1 and 100000');
  if (opts.demoRate < 1 || opts.demoRate > 10_000) throw new MwiError(ErrorCodes.CLI_USAGE, '--demo-rate must be between 1 and 10000 updates per second');
}

async function run(opts: StartOptions, global: GlobalOptions): Promise<number> {
  let config = loadCliConfig(global);
  if (opts.demo) checkDemoOptions(opts);
  if (!opts.workers && config.redis.url === undefined) {
    throw new MwiError(ErrorCodes.CLI_USAGE, '--no-workers needs redis.url (MWI_REDIS__URL): the workers that deliver must share the Redis, and a private one is reachable from this process only');
  }
  const log = createLogger({ level: config.log.level });
  const stack = new ShutdownStack(log);
  const closed: { code?: number } = {};
  const signalled = waitForSignal(log, () => closed.code);
  let failed: Promise<string> | undefined;
  try {
    let demo: { token: string; simulator: Awaited<ReturnType<typeof startPresenceSimulator>> } | undefined;
    if (opts.demo) {
      const simulator = await startPresenceSimulator({ log });
      stack.push({ name: 'presence simulator', close: () => simulator.close() });
      const token = config.api.producerToken ?? randomBytes(24).toString('base64url');
      if (config.api.producerToken === undefined) log.info('demo: a random producer token was generated for this session (set MWI_API__PRODUCER_TOKEN to choose one and query the API yourself)');
      if (config.redis.url !== undefined) log.warn('demo: demo mailboxes (sip:*@demo.invalid) are written to the configured redis.url');
      config = demoConfig(config, simulator.uri, token);
      demo = { token, simulator };
    }

    const runner = await startRunner({ config, log, clock: systemClock, workers: opts.workers });
    stack.push({ name: 'runner', close: (ms) => runner.close(ms) });
    failed = runner.failed;
    log.info({ apiUrl: runner.apiUrl, redis: runner.redis, redisDataDir: runner.redisDataDir, workers: opts.workers, demo: opts.demo === true }, `mwi-runner started: API ${runner.apiUrl}, Redis ${runner.redis}`);
    const canLogIn = config.api.operatorToken !== undefined || config.api.viewerToken !== undefined;
    log.info(
      { dashboard: `${runner.apiUrl}/dashboard` },
      canLogIn ? `dashboard: ${runner.apiUrl}/dashboard (log in with the operator or viewer token)` : `dashboard: ${runner.apiUrl}/dashboard needs MWI_API__OPERATOR_TOKEN or MWI_API__VIEWER_TOKEN to log in (none is set)`,
    );

    if (demo !== undefined) {
      const client = new MwiClient({ baseUrl: runner.apiUrl, token: demo.token });
      const generator = startPbxGenerator({ client, mailboxes: demoMailboxes(opts.demoMailboxes), ratePerSec: opts.demoRate, log });
      stack.push({ name: 'demo PBX generator', close: () => generator.close() });
      const status = startDemoStatus({ generator, simulator: demo.simulator, dirtyCount: () => runner.store.dirtyCount() }, log, DEMO_STATUS_EVERY_MS);
      stack.push({ name: 'demo status', close: () => Promise.resolve(status.close()) });
      log.info({ mailboxes: opts.demoMailboxes, ratePerSec: opts.demoRate }, 'demo: PBX generator posting updates; status every 5 s; Ctrl-C to stop');
    }
  } catch (err) {
    await stack.close(config.delivery.shutdownDeadlineMs);
    const message = unavailableMessage(err, config);
    if (message === undefined) throw err;
    process.stderr.write(`mwi: ${message}\n`);
    return EXIT.UNAVAILABLE;
  }

  const ended = await Promise.race([signalled.then((signal) => ({ signal })), failed.then((reason) => ({ reason }))]);
  const deadlineMs = config.delivery.shutdownDeadlineMs;
  if ('signal' in ended) log.info({ signal: ended.signal, deadlineMs }, 'shutting down');
  else log.fatal({ reason: ended.reason }, `shutting down: ${ended.reason}`);
  const clean = await stack.close(deadlineMs);
  const code = 'reason' in ended ? EXIT.UNAVAILABLE : clean ? EXIT.OK : EXIT.INTERNAL;
  closed.code = code;
  log.info({ clean }, 'mwi-runner stopped');
  // A socket in its idle timeout must not keep a stopped runner alive.
  setTimeout(() => process.exit(code), EXIT_GRACE_MS).unref();
  return code;
}

export function registerStart(program: Command): void {
  program
    .command('start')
    .description('run the HTTP API and the delivery workers (with a private redis-server unless redis.url is set) until SIGTERM/SIGINT')
    .option('--demo', 'also run a SIP presence-server simulator and a PBX stand-in posting random updates, and print a live status line')
    .option('--no-workers', 'run the API only (delivery workers run elsewhere: node workers/delivery-worker.ts)')
    .option('--demo-mailboxes <n>', 'number of demo mailboxes', parseCount, 50)
    .option('--demo-rate <n>', 'demo updates per second', parseCount, 20)
    .action(async (opts: StartOptions, cmd: Command) => {
      process.exitCode = await run(opts, cmd.optsWithGlobals<GlobalOptions & StartOptions>());
    });
}
