/**
 * The configuration schema: every setting, its default, its bounds and its description (a
 * config reference is generated from the `.describe()` texts). Error messages are phrased to
 * follow the dotted path: "sip.t1Ms must be an integer between 50 and 5000".
 */
import { isIP } from 'node:net';
import { z } from 'zod';
import type { ParsePayload } from 'zod/v4/core';
import pkg from '../package.json' with { type: 'json' };

/** Dotted paths of settings that must never be logged; each may also come from `<ENV>_FILE`. */
export const SECRET_PATHS = ['sip.auth.password', 'redis.url', 'api.producerToken'] as const;

function intBetween(min: number, max: number) {
  const error = `must be an integer between ${min} and ${max}`;
  return z.int({ error }).min(min, { error }).max(max, { error });
}

/** C0 controls (CR, LF, NUL, ...) or DEL: in a header value they would inject SIP header lines. */
function hasControlChars(s: string): boolean {
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c < 0x20 || c === 0x7f) return true;
  }
  return false;
}

function singleLine(what = 'a non-empty string without control characters (CR, LF, ...)') {
  const error = `must be ${what}`;
  return z.string({ error }).min(1, { error }).refine((s) => !hasControlChars(s), { error });
}

const HOSTNAME = /^(?=.{1,253}$)[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*\.?$/;

function host() {
  const error = 'must be a host name or an IP address (IPv6 without brackets)';
  return z.string({ error }).refine((s) => isIP(s) !== 0 || HOSTNAME.test(s), { error });
}

function sipUri() {
  const error = 'must be a sip: or sips: URI without whitespace or control characters';
  return z.string({ error }).refine((s) => /^sips?:[^\s<>"]+$/i.test(s) && !hasControlChars(s), { error });
}

function bool() {
  return z.boolean({ error: 'must be true or false' });
}

function oneOf<const T extends readonly [string, ...string[]]>(values: T) {
  return z.enum(values, { error: `must be one of ${values.join(', ')}` });
}

function section<T extends z.core.$ZodLooseShape>(shape: T) {
  return z.strictObject(shape, { error: (iss) => (iss.code === 'invalid_type' ? 'must be an object' : undefined) });
}

/** Runs a cross-field check only when the fields it compares parsed cleanly. */
function whenFieldsValid(...keys: string[]) {
  return {
    when: (payload: ParsePayload) =>
      typeof payload.value === 'object' && payload.value !== null && !payload.issues.some((i) => keys.includes(String(i.path?.[0]))),
  };
}

const logSchema = section({
  level: oneOf(['fatal', 'error', 'warn', 'info', 'debug', 'trace'] as const).default('info').describe('Lowest log level written.'),
});

const tcpSchema = section({
  idleCloseMs: intBetween(1_000, 3_600_000).default(60_000).describe('Close a TCP/TLS connection after this long without traffic.'),
  connectTimeoutMs: intBetween(100, 60_000).default(3_000).describe('Give up a TCP/TLS connect attempt after this long.'),
  reconnectBaseMs: intBetween(10, 60_000).default(200).describe('First delay before reconnecting; doubles per failed attempt.'),
  reconnectMaxMs: intBetween(100, 600_000).default(10_000).describe('Upper bound of the reconnect delay; must be >= sip.tcp.reconnectBaseMs.'),
}).superRefine((tcp, ctx) => {
  if (tcp.reconnectMaxMs < tcp.reconnectBaseMs) {
    ctx.addIssue({ code: 'custom', path: ['reconnectMaxMs'], message: 'must be greater than or equal to sip.tcp.reconnectBaseMs' });
  }
}, whenFieldsValid('reconnectBaseMs', 'reconnectMaxMs'));

const tlsSchema = section({
  caFile: singleLine('a non-empty file path').optional().describe('PEM file of CA certificates trusted for the server; the system store when unset.'),
  certFile: singleLine('a non-empty file path').optional().describe('PEM client certificate, for servers that require mutual TLS.'),
  keyFile: singleLine('a non-empty file path').optional().describe('PEM private key of sip.tls.certFile.'),
  rejectUnauthorized: bool().default(true).describe('Reject servers whose certificate does not verify. Turn off only in tests.'),
  serverName: host().optional().describe('SNI and certificate name to verify; the target host when unset.'),
});

const authSchema = section({
  username: singleLine().optional().describe('Digest authentication user name, used when the server challenges with 401/407.'),
  password: singleLine().optional().describe('Digest authentication password. Secret: prefer MWI_SIP__AUTH__PASSWORD_FILE.'),
});

const sipSchema = section({
  transport: oneOf(['udp', 'tcp', 'tls'] as const).default('udp').describe('Transport for requests whose target URI names none.'),
  bindHost: host().default('127.0.0.1').describe('Local address the SIP sockets bind to.'),
  bindPort: intBetween(0, 65_535).default(0).describe('Local port the SIP sockets bind to; 0 picks an ephemeral port.'),
  publicHost: host().optional().describe('Host written in Via and Contact when the runner is behind NAT; the bound address when unset.'),
  t1Ms: intBetween(50, 5_000).default(500).describe('RFC 3261 T1: round-trip estimate, first UDP retransmission interval.'),
  t2Ms: intBetween(500, 16_000).default(4_000).describe('RFC 3261 T2: cap of the UDP retransmission interval; must be >= sip.t1Ms.'),
  // RFC 3261 Timer F (64*T1 = 32 s) is far too long for MWI state, which the next delivery or
  // sweep supersedes anyway. 4 s covers 4 UDP transmissions (at 0, 0.5, 1.5 and 3.5 s) to a LAN
  // presence server, bounds per-request state, and lets the breaker (which opens within twice
  // this) react fast.
  transactionTimeoutMs: intBetween(500, 32_000).default(4_000).describe('Give up a request without a final response after this long (replaces Timer F).'),
  maxMessageBytes: intBetween(1_024, 65_535).default(65_535).describe('Largest SIP message sent or accepted, in bytes.'),
  userAgent: singleLine().default(`mwi-runner/${pkg.version}`).describe('User-Agent header of our requests.'),
  fromUri: sipUri().optional().describe('From URI of OPTIONS health probes (PUBLISH and NOTIFY carry the mailbox URI); sip:mwi-runner@<bound address> when unset.'),
  publishExpiresSec: intBetween(60, 86_400).default(3_600).describe('Expires asked for in PUBLISH; refreshed before it lapses.'),
  notifySubscriptionState: singleLine()
    .default('terminated;reason=noresource')
    .describe('Subscription-State header of unsolicited NOTIFY, e.g. "terminated;reason=noresource" or "active;expires=3600".'),
  tcp: tcpSchema.prefault({}).describe('Connection handling for TCP and TLS.'),
  tls: tlsSchema.prefault({}).describe('TLS client settings.'),
  auth: authSchema.prefault({}).describe('Digest credentials for servers that challenge our requests.'),
}).superRefine((sip, ctx) => {
  if (sip.t2Ms < sip.t1Ms) ctx.addIssue({ code: 'custom', path: ['t2Ms'], message: 'must be greater than or equal to sip.t1Ms' });
}, whenFieldsValid('t1Ms', 't2Ms'));

const targetsSchema = section({
  defaultPublishTarget: sipUri()
    .optional()
    .describe('Presence server that receives PUBLISH when a mailbox names none, e.g. "sip:127.0.0.1:5060;transport=udp".'),
});

const redisSchema = section({
  url: singleLine('a redis:// or rediss:// URL')
    .refine((s) => /^rediss?:\/\/[^\s]+$/.test(s), { error: 'must be a redis:// or rediss:// URL' })
    .optional()
    .describe('Redis to use. Unset: a private redis-server is started on loopback with AOF persistence in redis.dataDir. Secret (may hold a password): prefer MWI_REDIS__URL_FILE.'),
  dataDir: singleLine('a non-empty directory path').default('data/redis').describe('Where the private redis-server keeps its append-only file (when redis.url is unset).'),
  keyPrefix: singleLine()
    .refine((s) => /\{[^{}]+\}/.test(s), { error: 'must contain a non-empty {hash tag} so every key lands in one Redis Cluster slot' })
    .default('{mwi}')
    .describe('Prefix of every Redis key and BullMQ queue, with a {hash tag}.'),
});

const apiSchema = section({
  host: host().default('127.0.0.1').describe('Address the HTTP API listens on; loopback unless set.'),
  port: intBetween(0, 65_535).default(8080).describe('Port of the HTTP API; 0 picks a free one.'),
  producerToken: singleLine().optional().describe('Bearer token PBX platforms present to push updates. Secret: prefer MWI_API__PRODUCER_TOKEN_FILE. Without it every state-changing route answers 401.'),
  maxBatchUpdates: intBetween(1, 10_000).default(1_000).describe('Most updates one POST /v1/mwi may carry.'),
  bodyLimitBytes: intBetween(1_024, 16_777_216).default(2_097_152).describe('Largest request body accepted, in bytes.'),
});

const deliverySchema = section({
  concurrency: intBetween(1, 10_000).default(200).describe('Deliveries in flight per worker process.'),
  batchSize: intBetween(1, 10_000).default(500).describe('Mailboxes one delivery job takes from the dirty set.'),
  leaseMs: intBetween(1_000, 3_600_000).default(60_000).describe('How long a taken mailbox stays reserved for the worker that took it; after a crash it is due again then.'),
  retryBaseMs: intBetween(100, 600_000).default(1_000).describe('First delay before a retryable failure is tried again; doubles per attempt, with jitter.'),
  retryMaxMs: intBetween(1_000, 86_400_000).default(300_000).describe('Cap of the retry delay; retries never stop (MWI state must arrive) but never come faster than this once reached.'),
  shutdownDeadlineMs: intBetween(100, 600_000).default(10_000).describe('On SIGTERM, how long in-flight deliveries may finish before the rest is handed back.'),
});

export const configSchema = section({
  log: logSchema.prefault({}).describe('Logging.'),
  sip: sipSchema.prefault({}).describe('SIP stack: sockets, timers, identity and credentials.'),
  targets: targetsSchema.prefault({}).describe('Where MWI requests go.'),
  redis: redisSchema.prefault({}).describe('Redis: the desired state of every mailbox and the delivery queue.'),
  api: apiSchema.prefault({}).describe('HTTP ingestion API.'),
  delivery: deliverySchema.prefault({}).describe('Delivery workers.'),
});

export type Config = z.infer<typeof configSchema>;

/** The configuration with nothing set. */
export function defaultConfig(): Config {
  return configSchema.parse({});
}
