/**
 * The configuration schema: every setting, its default, its bounds and its description (a
 * config reference is generated from the `.describe()` texts). Error messages are phrased to
 * follow the dotted path: "sip.t1Ms must be an integer between 50 and 5000".
 */
import { isIP } from 'node:net';
import { z } from 'zod';
import type { ParsePayload } from 'zod/v4/core';
import pkg from '../package.json' with { type: 'json' };
import { DEFAULT_ODBC_TABLE, isPlainTableName } from '../src/sources/asterisk-odbc-query.ts';
import { mailboxUriTemplateProblem } from '../src/sources/mailbox-uri-template.ts';
import { REDIS_URL_FORMS, redisUrlProblem } from '../src/store/redis-connection.ts';

/** Dotted paths of settings that must never be logged; each may also come from `<ENV>_FILE`. */
export const SECRET_PATHS = ['sip.auth.password', 'redis.url', 'api.producerToken', 'api.operatorToken', 'api.viewerToken', 'api.sessionSecret', 'sweep.sql.url'] as const;

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
  url: singleLine(REDIS_URL_FORMS)
    .superRefine((s, ctx) => {
      const problem = redisUrlProblem(s);
      if (problem !== undefined) ctx.addIssue({ code: 'custom', message: problem });
    })
    .optional()
    .describe(
      'Redis to use: redis://, rediss://, redis+sentinel://[user:password@]host:port,.../MASTER_NAME[?sentinelPassword=...] (the primary a Sentinel group names) or redis+cluster://[user:password@]host:port,... (a Redis Cluster; redis.keyPrefix keeps every key in one slot). Unset: a private redis-server is started on loopback with AOF persistence in redis.dataDir. Secret (may hold a password): prefer MWI_REDIS__URL_FILE.',
    ),
  dataDir: singleLine('a non-empty directory path').default('data/redis').describe('Where the private redis-server keeps its append-only file (when redis.url is unset).'),
  keyPrefix: singleLine()
    .refine((s) => /\{[^{}]+\}/.test(s), { error: 'must contain a non-empty {hash tag} so every key lands in one Redis Cluster slot' })
    .default('{mwi}')
    .describe('Prefix of every Redis key and BullMQ queue, with a {hash tag}.'),
  startupTimeoutMs: intBetween(1_000, 600_000)
    .default(20_000)
    .describe(
      'How long a worker or the API keeps retrying its start-up steps (connecting, setting up the queue) while Redis is unreachable or slow, with jittered backoff, before it exits 69. Covers Redis starting later than the process, a failover, or a loaded machine.',
    ),
});

const apiSchema = section({
  host: host().default('127.0.0.1').describe('Address the HTTP API listens on; loopback unless set.'),
  port: intBetween(0, 65_535).default(8080).describe('Port of the HTTP API; 0 picks a free one.'),
  producerToken: singleLine().optional().describe('Bearer token PBX platforms present to push updates. Secret: prefer MWI_API__PRODUCER_TOKEN_FILE. Without it every state-changing route answers 401.'),
  operatorToken: singleLine().optional().describe('Bearer token (and dashboard login) of operators: pause, resume, drain, resync, isolate, plus everything a viewer may. Secret: prefer MWI_API__OPERATOR_TOKEN_FILE.'),
  viewerToken: singleLine().optional().describe('Bearer token (and dashboard login) of viewers: status, mailboxes, metrics, dashboard, read only. Secret: prefer MWI_API__VIEWER_TOKEN_FILE.'),
  sessionSecret: singleLine()
    .refine((s) => s.length >= 32, { error: 'must be at least 32 characters' })
    .optional()
    .describe('Signs dashboard session cookies; all API processes behind one address need the same one. Unset: a random one per process (sessions end on restart). Secret: prefer MWI_API__SESSION_SECRET_FILE.'),
  sessionTtlSec: intBetween(60, 604_800).default(28_800).describe('A dashboard login lasts this long.'),
  loginAttemptsPerMinute: intBetween(1, 1_000).default(10).describe('Dashboard login attempts allowed per client address per minute; more answer 429.'),
  maxBatchUpdates: intBetween(1, 10_000).default(1_000).describe('Most updates one POST /v1/mwi may carry.'),
  bodyLimitBytes: intBetween(1_024, 16_777_216).default(2_097_152).describe('Largest request body accepted, in bytes.'),
});

const deliverySchema = section({
  concurrency: intBetween(1, 10_000).default(200).describe('Mailboxes being sent per worker process (SIP transactions and their retries; recording an outcome in Redis does not hold a slot).'),
  batchSize: intBetween(1, 10_000).default(500).describe('Mailboxes one delivery job takes from the dirty set.'),
  leaseMs: intBetween(1_000, 3_600_000).default(60_000).describe('How long a taken mailbox stays reserved for the worker that took it; after a crash it is due again then.'),
  retryBaseMs: intBetween(100, 600_000).default(1_000).describe('First delay before a retryable failure is tried again; doubles per attempt, with jitter.'),
  retryMaxMs: intBetween(1_000, 86_400_000).default(300_000).describe('Cap of the retry delay; retries never stop (MWI state must arrive) but never come faster than this once reached.'),
  shutdownDeadlineMs: intBetween(100, 600_000).default(10_000).describe('On SIGTERM, how long in-flight deliveries may finish before the rest is handed back.'),
  metricsPort: intBetween(0, 65_535)
    .optional()
    .describe('A separate delivery worker process (workers/delivery-worker.ts) serves GET /metrics (viewer or operator token) and /healthz on api.host at this port; unset: none. `mwi start` serves metrics on its API.'),
});

function dnsServer() {
  const error = 'must be an IP address, optionally with a port ("10.0.0.53", "10.0.0.53:5353", "[::1]:53")';
  return z.string({ error }).refine((s) => {
    const m = /^\[([^\]]+)\](?::(\d{1,5}))?$/.exec(s) ?? /^([^:]+)(?::(\d{1,5}))?$/.exec(s);
    if (m === null) return isIP(s) === 6; // a bare IPv6 address
    const port = m[2] === undefined ? 53 : Number(m[2]);
    return isIP(m[1] ?? '') !== 0 && port >= 1 && port <= 65_535;
  }, { error });
}

function ratio(what: string) {
  const error = `must be a number ${what}`;
  return z.number({ error }).gt(0, { error }).lt(1, { error });
}

const dnsSchema = section({
  servers: z.array(dnsServer(), { error: 'must be a list of DNS server addresses' }).max(8, { error: 'must list at most 8 servers' }).default([]).describe('DNS servers queried (in order, with failover); the system\'s (/etc/resolv.conf) when empty.'),
  // RFC 8767 calls ~1.8 s the client response timer; two tries stay well under the 4 s SIP transaction timeout.
  timeoutMs: intBetween(100, 30_000).default(1_800).describe('Per-try timeout of one DNS query (c-ares).'),
  tries: intBetween(1, 5).default(2).describe('Tries per DNS query and server before the query fails.'),
  minTtlSec: intBetween(0, 86_400).default(5).describe('Answers are cached at least this long, whatever their TTL.'),
  maxTtlSec: intBetween(1, 604_800).default(3_600).describe('Answers are cached at most this long, whatever their TTL; must be >= dns.minTtlSec.'),
  srvTtlSec: intBetween(1, 86_400).default(300).describe('Cache time of SRV and NAPTR answers (Node\'s c-ares binding does not report their TTL); clamped like any TTL.'),
  negativeTtlSec: intBetween(1, 86_400).default(30).describe('Cache time of NXDOMAIN / no-data answers (RFC 2308, capped).'),
  staleTtlSec: intBetween(1, 3_600).default(30).describe('RFC 8767: a stale answer served while the resolver fails is reused for this long before trying again.'),
  failureRecheckSec: intBetween(1, 3_600).default(30).describe('RFC 8767: after a failed lookup, the same name is not queried again for this long.'),
  maxStaleSec: intBetween(0, 604_800).default(86_400).describe('RFC 8767: longest an expired answer is served while the resolver fails (0 = never serve stale).'),
  maxEntries: intBetween(10, 1_000_000).default(10_000).describe('Most names cached; the least recently used go first.'),
  naptr: bool().default(false).describe('Look up NAPTR records before SRV (RFC 3263 4.1); most deployments publish SRV only.'),
}).superRefine((dns, ctx) => {
  if (dns.maxTtlSec < dns.minTtlSec) ctx.addIssue({ code: 'custom', path: ['maxTtlSec'], message: 'must be greater than or equal to dns.minTtlSec' });
}, whenFieldsValid('minTtlSec', 'maxTtlSec'));

const breakerSchema = section({
  windowMs: intBetween(1_000, 600_000).default(10_000).describe('Evidence (fleet-wide) is judged over this sliding window.'),
  minFailures: intBetween(1, 10_000).default(3).describe('A breaker trips only after at least this many failures in the window (timeouts, transport errors, 503, server-wide 5xx).'),
  failureRatio: ratio('between 0 and 1 (exclusive)').default(0.5).describe('... and when failures are at least this share of the outcomes in the window.'),
  consecutiveFailures: intBetween(1, 10_000)
    .default(5)
    .describe('A breaker also trips after this many failures in a row, fleet-wide (no success between): a server that hangs after a busy, healthy window trips at once instead of waiting for its successes to age out.'),
  probeBaseMs: intBetween(100, 600_000).default(1_000).describe('First wait before the half-open probe (SIP OPTIONS) of an open breaker; doubles per failed probe, jittered.'),
  probeMaxMs: intBetween(1_000, 3_600_000).default(30_000).describe('Longest wait between probes of an open breaker; must be >= breaker.probeBaseMs.'),
  syncMs: intBetween(50, 1_000).default(250).describe('Each worker re-reads the breakers it uses at least this often (transitions are also pushed at once over pub/sub).'),
}).superRefine((b, ctx) => {
  if (b.probeMaxMs < b.probeBaseMs) ctx.addIssue({ code: 'custom', path: ['probeMaxMs'], message: 'must be greater than or equal to breaker.probeBaseMs' });
}, whenFieldsValid('probeBaseMs', 'probeMaxMs'));

const rateSchema = section({
  maxPerSec: intBetween(1, 1_000_000).optional().describe('Hard fleet-wide limit of requests per second to each target; the adaptive controller stays below it. Unset: adaptive only, up to rate.ceilingPerSec.'),
  ceilingPerSec: intBetween(1, 1_000_000).default(50_000).describe('Highest rate the adaptive controller may reach when rate.maxPerSec is unset.'),
  maxInFlight: intBetween(1, 100_000).default(200).describe('Most requests awaiting a final response from one target, fleet-wide.'),
  adaptive: bool().default(true).describe('Find each target\'s capacity: additive increase while responses stay fast and clean, multiplicative decrease on timeouts, retransmissions, 503 or rising latency. Off: a fixed rate.maxPerSec (required).'),
  initialPerSec: intBetween(1, 1_000_000).default(50).describe('Slow start: the rate at start-up, after a breaker closes, after a pause and after a 503 hold.'),
  minPerSec: intBetween(1, 1_000_000).default(5).describe('The adaptive controller never goes below this rate.'),
  controlIntervalMs: intBetween(50, 60_000).default(500).describe('The controller adjusts each target\'s rate once per this interval, from the fleet\'s outcomes in it.'),
  decreaseFactor: ratio('between 0 and 1 (exclusive)').default(0.7).describe('Multiplicative decrease: the rate is multiplied by this on a congestion signal.'),
  latencyTargetMs: intBetween(1, 30_000).default(150).describe('Response time (mean per interval) above which the target counts as congested, even without timeouts.'),
  maxWaitMs: intBetween(10, 60_000).default(2_000).describe('A delivery waits at most this long for a send slot; then it is deferred (no attempt used) and its mailbox stays due.'),
}).superRefine((r, ctx) => {
  if (!r.adaptive && r.maxPerSec === undefined) ctx.addIssue({ code: 'custom', path: ['maxPerSec'], message: 'is required when rate.adaptive is false' });
  if (r.minPerSec > r.initialPerSec) ctx.addIssue({ code: 'custom', path: ['initialPerSec'], message: 'must be greater than or equal to rate.minPerSec' });
}, whenFieldsValid('adaptive', 'maxPerSec', 'minPerSec', 'initialPerSec'));

function mailboxUriTemplate() {
  return singleLine('a URI template such as sip:{mailbox}@{context}.pbx.example').superRefine((s, ctx) => {
    const problem = mailboxUriTemplateProblem(s);
    if (problem !== undefined) ctx.addIssue({ code: 'custom', message: problem });
  });
}

const sweepSpoolSchema = section({
  root: singleLine('a non-empty directory path')
    .default('/var/spool/asterisk/voicemail')
    .describe('Asterisk voicemail spool root (<root>/<context>/<mailbox>/INBOX|Old|Urgent), read when sweep.source is "spool".'),
  mailboxUriTemplate: mailboxUriTemplate()
    .optional()
    .describe('Mailbox URI of each spool mailbox, e.g. "sip:{mailbox}@{context}.pbx.example" ({mailbox} and {context} are the directory names, percent-encoded). Required when sweep.source is "spool".'),
});

const sweepSqlSchema = section({
  url: singleLine('a postgres:// or postgresql:// URL')
    .refine((s) => /^postgres(?:ql)?:\/\/[^\s]+$/.test(s), { error: 'must be a postgres:// or postgresql:// URL' })
    .optional()
    .describe('PostgreSQL holding the mailbox counts, read when sweep.source is "sql". Secret (may hold a password): prefer MWI_SWEEP__SQL__URL_FILE.'),
  query: singleLine()
    .optional()
    .describe('SELECT returning one row per mailbox in a stable order (ORDER BY): columns mailbox (the URI, or the name put into sweep.sql.mailboxUriTemplate), new (including urgent), old, optionally urgent (or urgent_new), urgent_old and context; read pageSize rows at a time through a server-side cursor in a read-only transaction. Unset: the built-in query over Asterisk\'s ODBC voicemail storage (sweep.sql.odbcTable).'),
  odbcTable: singleLine('a plain or schema-qualified SQL table name')
    .refine(isPlainTableName, { error: 'must be a plain or schema-qualified SQL table name (letters, digits, _)' })
    .default(DEFAULT_ODBC_TABLE)
    .describe('Table of Asterisk\'s ODBC voicemail storage (voicemail.conf odbctable; "voicemail_messages" when created by Asterisk\'s alembic scripts), read by the built-in query.'),
  mailboxUriTemplate: mailboxUriTemplate()
    .optional()
    .describe('Builds each mailbox URI from the row\'s mailbox and context columns, e.g. "sip:{mailbox}@{context}.pbx.example"; unset: the mailbox column must be the URI. Required with the built-in query.'),
  statementTimeoutMs: intBetween(100, 3_600_000)
    .default(30_000)
    .describe('Longest one read of the query may take on the server (statement_timeout per cursor FETCH; the first read runs an aggregating query\'s whole plan). Exceeded: the sweep run aborts.'),
  connectTimeoutMs: intBetween(100, 120_000).default(5_000).describe('Give up connecting to sweep.sql.url after this long: the sweep run aborts.'),
});

const sweepSchema = section({
  enabled: bool().default(false).describe('Run the periodic reconciliation sweep (vm-presence replacement) in `mwi start`.'),
  intervalSec: intBetween(1, 86_400)
    .default(300)
    .describe('Pause between the end of one sweep and the start of the next (runs never stack). sip.publishExpiresSec must be at least twice this.'),
  deadlineSec: intBetween(1, 86_400).default(240).describe('A sweep still running after this long stops where it is (recorded as aborted: deadline); the next run starts over from the first mailbox.'),
  pageSize: intBetween(1, 10_000).default(1_000).describe('Mailboxes read, compared and marked per step: bounds memory and the size of each Redis batch.'),
  refreshMarginSec: intBetween(0, 86_400)
    .default(600)
    .describe('Re-publish a mailbox whose published state expires within this long; must be below sip.publishExpiresSec and should cover sweep.intervalSec + sweep.deadlineSec.'),
  lockTtlMs: intBetween(1_000, 600_000)
    .default(30_000)
    .describe('TTL of the cross-host sweep lock; extended while the run is alive, so a crashed holder frees it within this long.'),
  runHistory: intBetween(1, 10_000).default(100).describe('Sweep run records (and skips) kept in Redis for dashboards.'),
  maxDueBacklog: intBetween(100, 10_000_000)
    .default(10_000)
    .describe('The sweep and `mwi resync --all` queue no more while more mailboxes than this are due: a big reconciliation never buries fresh updates, which queue behind every due mailbox.'),
  probeEveryMs: intBetween(100, 600_000).default(10_000).describe('During a run, re-probe each presence server (SIP OPTIONS) this often; one failed probe stops the run from queueing for it.'),
  source: oneOf(['store', 'spool', 'sql'] as const)
    .default('store')
    .describe('What the sweep reconciles: "store" re-checks the runner\'s own state; "spool" and "sql" read counts from the PBX and make them desired state.'),
  spool: sweepSpoolSchema.prefault({}).describe('Asterisk voicemail spool source.'),
  sql: sweepSqlSchema.prefault({}).describe('PostgreSQL source.'),
}).superRefine((sweep, ctx) => {
  if (sweep.source === 'sql' && sweep.sql.url === undefined) {
    ctx.addIssue({ code: 'custom', path: ['sql', 'url'], message: 'is required when sweep.source is "sql"' });
  }
  if (sweep.source === 'sql' && sweep.sql.query === undefined && sweep.sql.mailboxUriTemplate === undefined) {
    ctx.addIssue({ code: 'custom', path: ['sql', 'mailboxUriTemplate'], message: 'is required when sweep.source is "sql" and sweep.sql.query is unset (the built-in query returns mailbox names, not URIs)' });
  }
  if (sweep.source === 'spool' && sweep.spool.mailboxUriTemplate === undefined) {
    ctx.addIssue({ code: 'custom', path: ['spool', 'mailboxUriTemplate'], message: 'is required when sweep.source is "spool"' });
  }
}, whenFieldsValid('source', 'sql', 'spool'));

export const configSchema = section({
  log: logSchema.prefault({}).describe('Logging.'),
  sip: sipSchema.prefault({}).describe('SIP stack: sockets, timers, identity and credentials.'),
  targets: targetsSchema.prefault({}).describe('Where MWI requests go.'),
  redis: redisSchema.prefault({}).describe('Redis: the desired state of every mailbox and the delivery queue.'),
  api: apiSchema.prefault({}).describe('HTTP ingestion API.'),
  delivery: deliverySchema.prefault({}).describe('Delivery workers.'),
  dns: dnsSchema.prefault({}).describe('DNS for SIP targets (RFC 3263 NAPTR/SRV/A/AAAA) through c-ares, cached with RFC 8767 stale serving.'),
  breaker: breakerSchema.prefault({}).describe('Circuit breakers on DNS and on each presence target, shared by the fleet through Redis.'),
  rate: rateSchema.prefault({}).describe('Fleet-wide pacing of each target: rate and in-flight limits in Redis, adaptive by default.'),
  sweep: sweepSchema.prefault({}).describe('Periodic reconciliation sweep: one run at a time across all hosts, paced through the delivery queue.'),
}).superRefine((config, ctx) => {
  // Only when the sweep is on: the sweep is what refreshes publications before they lapse.
  if (!config.sweep.enabled) return;
  const expiresSec = config.sip.publishExpiresSec;
  if (expiresSec < 2 * config.sweep.intervalSec) {
    ctx.addIssue({ code: 'custom', path: ['sweep', 'intervalSec'], message: `must be at most half of sip.publishExpiresSec (${expiresSec})` });
  }
  if (config.sweep.refreshMarginSec >= expiresSec) {
    ctx.addIssue({ code: 'custom', path: ['sweep', 'refreshMarginSec'], message: `must be less than sip.publishExpiresSec (${expiresSec})` });
  }
}, whenFieldsValid('sip', 'sweep'));

export type Config = z.infer<typeof configSchema>;

/** The configuration with nothing set. */
export function defaultConfig(): Config {
  return configSchema.parse({});
}
