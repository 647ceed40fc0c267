/**
 * `mwi update`: push one mailbox state to a running mwi-runner API (POST /v1/mwi) with the typed
 * client, as a PBX would. Exit 0 when accepted (applied, or stale: a newer state is stored), 2
 * for a bad command line, 5 when the API refused it, 3 when the API is unreachable or Redis is down.
 *
 * The ordering key is `--seq`, not `--version`: the program-wide `--version` flag (print the
 * mwi version) is recognised after the command name too, so `update --version 5` could never work.
 */
import { readFileSync } from 'node:fs';

import { InvalidArgumentError, type Command } from 'commander';

import { MwiClient, MwiClientError } from '../client/mwi-client.ts';
import { ErrorCodes, MwiError } from '../errors.ts';
import { parseWireUpdate, type WireUpdate } from '../ingest/update-schema.ts';
import { EXIT, loadCliConfig, type GlobalOptions } from './common.ts';
import { addCountOptions, countsFromOptions, type CountOptions } from './count-options.ts';

interface UpdateOptions extends CountOptions {
  mailbox: string;
  target?: string;
  contact?: string;
  seq: number;
  api?: string;
  tokenFile?: string;
  json?: boolean;
}

function parseSeq(value: string): number {
  const n = Number(value);
  if (!/^\d{1,16}$/.test(value) || !Number.isSafeInteger(n)) throw new InvalidArgumentError('must be a whole number from 0 to 2^53-1');
  return n;
}

/** Where the API listens by configuration; a wildcard bind address is reached on loopback. */
function configuredApiUrl(host: string, port: number): string {
  const h = host === '0.0.0.0' ? '127.0.0.1' : host === '::' ? '::1' : host;
  return `http://${h.includes(':') ? `[${h}]` : h}:${port}`;
}

function readToken(file: string): string {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    const reason = (err as { code?: unknown } | null)?.code;
    throw new MwiError(ErrorCodes.SECRET_UNREADABLE, `cannot read --token-file ${file}`, { details: { path: file, reason: typeof reason === 'string' ? reason : 'unknown' } });
  }
  return text.replace(/\r?\n$/, '');
}

function buildUpdate(opts: UpdateOptions): WireUpdate {
  const { cls, counts } = countsFromOptions(opts);
  if (opts.target !== undefined && opts.contact !== undefined) throw new MwiError(ErrorCodes.CLI_USAGE, 'give --target or --contact, not both');
  const candidate = {
    mailbox: opts.mailbox,
    ...(opts.target === undefined ? {} : { target: opts.target }),
    ...(opts.contact === undefined ? {} : { contact: opts.contact }),
    ...(cls === 'voice-message' ? { counts } : { otherClasses: { [cls]: counts } }),
    version: opts.seq,
  };
  // The server's own rules, checked here so a typo is a usage error (exit 2) before any request.
  const parsed = parseWireUpdate(candidate);
  if (!parsed.ok) throw new MwiError(ErrorCodes.CLI_USAGE, `invalid update: ${parsed.issue.path.join('.') || 'update'} ${parsed.issue.message}`);
  return parsed.value;
}

export function registerUpdate(program: Command): void {
  const cmd = program
    .command('update')
    .description('push one mailbox state to a running mwi-runner API (POST /v1/mwi) and print whether it was applied')
    .requiredOption('--mailbox <aor>', 'mailbox account URI, e.g. sip:1000@pbx.example.net');
  addCountOptions(cmd)
    .option('--target <uri>', "presence server to PUBLISH to; default: the server's targets.defaultPublishTarget")
    .option('--contact <uri>', "phone contact for an unsolicited NOTIFY instead of PUBLISH")
    .requiredOption('--seq <n>', 'ordering key sent as "version" (a version or source timestamp): only a greater one replaces the stored state', parseSeq)
    .option('--api <url>', 'API base URL; default http://<api.host>:<api.port> from the configuration')
    .option('--token-file <file>', 'file holding the producer token; default api.producerToken (MWI_API__PRODUCER_TOKEN or MWI_API__PRODUCER_TOKEN_FILE)')
    .option('--json', 'print the API answer as JSON')
    .action(async (opts: UpdateOptions, cmd: Command) => {
      const global = cmd.optsWithGlobals<GlobalOptions & UpdateOptions>();
      const config = loadCliConfig(global);
      const update = buildUpdate(opts);
      const token = opts.tokenFile === undefined ? config.api.producerToken : readToken(opts.tokenFile);
      if (token === undefined || token === '') throw new MwiError(ErrorCodes.CLI_USAGE, 'no producer token: give --token-file or set MWI_API__PRODUCER_TOKEN');
      const baseUrl = opts.api ?? configuredApiUrl(config.api.host, config.api.port);
      let client: MwiClient;
      try {
        client = new MwiClient({ baseUrl, token });
      } catch {
        throw new MwiError(ErrorCodes.CLI_USAGE, `--api must be an http:// or https:// URL, got ${JSON.stringify(baseUrl)}; the token must be one line`);
      }
      try {
        const res = await client.update(update);
        process.stdout.write(opts.json ? `${JSON.stringify(res)}\n` : `${res.result}: ${res.mailbox} version ${update.version}\n`);
        process.exitCode = EXIT.OK;
      } catch (err) {
        if (!(err instanceof MwiClientError)) throw err;
        process.stderr.write(`mwi: ${err.code}: ${err.message}${err.path === undefined ? '' : ` (${err.path})`}\n`);
        process.exitCode = err.retryable ? EXIT.RETRYABLE : EXIT.API_REFUSED;
      }
    });
}
