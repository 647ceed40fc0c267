/**
 * Every ioredis client of ours is made here, from redis.url, for one of three topologies:
 * - `redis://` / `rediss://`: one server (a plain ioredis client, the URL as ioredis reads it);
 * - `redis+sentinel://[user:password@]host:port,host:port/<masterName>[?sentinelPassword=...]`:
 *   the primary a Sentinel group names; ioredis asks the sentinels again after every disconnect,
 *   so a failover costs a reconnect. The userinfo is for the data nodes;
 * - `redis+cluster://[user:password@]host:port,host:port`: a Redis Cluster, with those seed nodes.
 * Every key of a deployment shares one {hash tag} (keys.ts), hence one slot: Lua scripts, MULTI
 * and BullMQ work unchanged on a cluster; SCAN must go to the node that owns the slot (slotOwner).
 */
import { isIP } from 'node:net';

import { Cluster, Redis, type ClusterOptions, type RedisOptions } from 'ioredis';

import { ErrorCodes, MwiError } from '../errors.ts';

/** What a caller may hold: one server or Sentinel-managed primary (Redis), or a cluster. */
export type RedisClient = Redis | Cluster;

/** A URL of one server: always a plain Redis client. */
export type SingleRedisUrl = `redis://${string}` | `rediss://${string}`;

export interface RedisNodeAddress {
  host: string;
  port: number;
}

export type RedisTopology =
  | { kind: 'single'; url: string }
  | {
      kind: 'sentinel';
      sentinels: RedisNodeAddress[];
      masterName: string;
      username?: string;
      password?: string;
      sentinelUsername?: string;
      sentinelPassword?: string;
    }
  | { kind: 'cluster'; nodes: RedisNodeAddress[]; username?: string; password?: string };

/** The connection settings our call sites choose (ioredis names); mapped onto a Cluster's own options in cluster mode. */
export type RedisConnectionOptions = Pick<
  RedisOptions,
  'enableOfflineQueue' | 'maxRetriesPerRequest' | 'connectTimeout' | 'commandTimeout' | 'lazyConnect' | 'enableAutoPipelining' | 'retryStrategy' | 'autoResubscribe'
>;

export const DEFAULT_SENTINEL_PORT = 26379;
export const DEFAULT_CLUSTER_PORT = 6379;
const SENTINEL_PARAMS = ['sentinelPassword', 'sentinelUsername'] as const;
const HOSTNAME = /^(?=.{1,253}$)[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*\.?$/;
const SINGLE = /^rediss?:\/\/\S+$/;
const MULTI = /^redis\+(sentinel|cluster):\/\/(.*)$/;

export const REDIS_URL_FORMS =
  'a redis:// or rediss:// URL, redis+sentinel://[user:password@]host:port,.../<masterName>, or redis+cluster://[user:password@]host:port,...';

type Parsed<T> = { ok: true; value: T } | { ok: false; problem: string };
const fail = (problem: string): { ok: false; problem: string } => ({ ok: false, problem });

function decode(s: string): string | undefined {
  try {
    return decodeURIComponent(s);
  } catch {
    return undefined;
  }
}

/** `host:port`, `[v6]:port`, or a host alone (defaultPort). Problems never quote the text (it may be a mistyped secret). */
function parseAddress(text: string, index: number, defaultPort: number): Parsed<RedisNodeAddress> {
  const which = `host ${index + 1} of the list`;
  let host: string;
  let portText: string | undefined;
  if (text.startsWith('[')) {
    const close = text.indexOf(']');
    if (close === -1) return fail(`has an unclosed [ in ${which}`);
    host = text.slice(1, close);
    const rest = text.slice(close + 1);
    if (rest !== '' && !rest.startsWith(':')) return fail(`must have :port after the ] of ${which}`);
    portText = rest === '' ? undefined : rest.slice(1);
    if (isIP(host) !== 6) return fail(`must have an IPv6 address between the brackets of ${which}`);
  } else {
    const colon = text.lastIndexOf(':');
    host = colon === -1 ? text : text.slice(0, colon);
    portText = colon === -1 ? undefined : text.slice(colon + 1);
    if (host === '') return fail(`is missing the name of ${which}`);
    if (host.includes(':') || (isIP(host) === 0 && !HOSTNAME.test(host))) return fail(`must have a host name or IP address (IPv6 in brackets) as ${which}`);
  }
  if (portText === undefined) return { ok: true, value: { host, port: defaultPort } };
  const port = /^\d{1,5}$/.test(portText) ? Number(portText) : NaN;
  if (!(port >= 1 && port <= 65_535)) return fail(`must have a port between 1 and 65535 after ${which}`);
  return { ok: true, value: { host, port } };
}

/** Parses redis.url into a topology, or says what is wrong with it (phrased to follow "redis.url", never quoting the URL). */
export function parseRedisUrlOrProblem(url: string): Parsed<RedisTopology> {
  if (typeof url !== 'string') return fail(`must be ${REDIS_URL_FORMS}`);
  if (SINGLE.test(url)) return { ok: true, value: { kind: 'single', url } };
  const m = MULTI.exec(url);
  if (m === null) return fail(`must be ${REDIS_URL_FORMS}`);
  const kind = m[1] === 'sentinel' ? 'sentinel' : 'cluster';
  const rest = m[2] ?? '';
  if (/\s/.test(rest)) return fail('must not contain whitespace');
  if (rest.includes('#')) return fail('must not have a #fragment');
  const authorityEnd = rest.search(/[/?]/);
  const authority = authorityEnd === -1 ? rest : rest.slice(0, authorityEnd);
  const pathAndQuery = authorityEnd === -1 ? '' : rest.slice(authorityEnd);
  const queryAt = pathAndQuery.indexOf('?');
  const path = queryAt === -1 ? pathAndQuery : pathAndQuery.slice(0, queryAt);
  const query = queryAt === -1 ? '' : pathAndQuery.slice(queryAt + 1);

  // As in URLs, the last "@" ends the userinfo (a password may hold an unescaped "@"), the first ":" ends the user.
  const at = authority.lastIndexOf('@');
  let username: string | undefined;
  let password: string | undefined;
  if (at !== -1) {
    const userinfo = authority.slice(0, at);
    const colon = userinfo.indexOf(':');
    if (colon === -1) return fail('must give credentials as user:password@ or :password@');
    const user = decode(userinfo.slice(0, colon));
    const pass = decode(userinfo.slice(colon + 1));
    if (user === undefined || pass === undefined) return fail('has a badly percent-encoded user name or password');
    if (pass === '') return fail('must not have an empty password after user:');
    if (user !== '') username = user;
    password = pass;
  }
  const hostList = authority.slice(at + 1);
  if (hostList === '') return fail('must name at least one host:port after //');
  const nodes: RedisNodeAddress[] = [];
  const parts = hostList.split(',');
  for (const [i, part] of parts.entries()) {
    if (part === '') return fail('must not have an empty entry in its comma-separated host list');
    const address = parseAddress(part, i, kind === 'sentinel' ? DEFAULT_SENTINEL_PORT : DEFAULT_CLUSTER_PORT);
    if (!address.ok) return address;
    nodes.push(address.value);
  }
  const credentials = { ...(username === undefined ? {} : { username }), ...(password === undefined ? {} : { password }) };

  if (kind === 'cluster') {
    if (path !== '' && path !== '/') return fail('must not have a path: a Redis Cluster has database 0 only');
    if (query !== '') return fail('must not have ?parameters with redis+cluster://');
    return { ok: true, value: { kind, nodes, ...credentials } };
  }
  const masterName = decode(path.slice(1));
  if (path.length <= 1 || masterName === undefined || masterName === '' || masterName.includes('/')) {
    return fail('must name the Sentinel master group as the path: redis+sentinel://host:port,.../<masterName>');
  }
  const params = new URLSearchParams(query);
  const extra: { sentinelUsername?: string; sentinelPassword?: string } = {};
  for (const [name, value] of params) {
    if (!(SENTINEL_PARAMS as readonly string[]).includes(name)) return fail(`may only have the parameters ${SENTINEL_PARAMS.join(' and ')}`);
    if (value === '') return fail(`must not have an empty ${name}`);
    extra[name as (typeof SENTINEL_PARAMS)[number]] = value;
  }
  return { ok: true, value: { kind, sentinels: nodes, masterName, ...credentials, ...extra } };
}

/** For the config schema: undefined when the URL is usable, else why not. */
export function redisUrlProblem(url: string): string | undefined {
  const parsed = parseRedisUrlOrProblem(url);
  return parsed.ok ? undefined : parsed.problem;
}

/** The topology of redis.url; MWI_CONFIG_INVALID when it is none (config validation catches that first). */
export function parseRedisUrl(url: string): RedisTopology {
  const parsed = parseRedisUrlOrProblem(url);
  if (!parsed.ok) throw new MwiError(ErrorCodes.CONFIG_INVALID, `redis.url ${parsed.problem}`);
  return parsed.value;
}

/** Our options on a Cluster: the cluster's own names for what it decides, the rest per node. */
function clusterOptions(options: RedisConnectionOptions, credentials: { username?: string; password?: string }, baseNodeOptions: ClusterOptions['redisOptions'] = {}): ClusterOptions {
  const { enableOfflineQueue, lazyConnect, enableAutoPipelining, retryStrategy, ...perNode } = options;
  return {
    ...(enableOfflineQueue === undefined ? {} : { enableOfflineQueue }),
    ...(lazyConnect === undefined ? {} : { lazyConnect }),
    ...(enableAutoPipelining === undefined ? {} : { enableAutoPipelining }),
    ...(retryStrategy ? { clusterRetryStrategy: (times: number) => retryStrategy(times) } : {}),
    // Reading the slot table may first open a node connection: give it as long as a connect (ioredis: 1000 ms).
    ...(perNode.connectTimeout === undefined ? {} : { slotsRefreshTimeout: perNode.connectTimeout }),
    redisOptions: { ...baseNodeOptions, ...perNode, ...credentials },
  };
}

/** A client for redis.url's topology (not connected yet when `lazyConnect`). */
export function createRedisConnection(url: string, options: RedisConnectionOptions = {}): RedisClient {
  const topology = parseRedisUrl(url);
  switch (topology.kind) {
    case 'single':
      return new Redis(url, options);
    case 'sentinel': {
      const { sentinels, masterName, kind: _kind, ...auth } = topology;
      // failoverDetector: the sentinels' +switch-master drops the connection at once, also when the old primary is still up (a manual failover).
      return new Redis({ ...options, ...auth, sentinels, name: masterName, failoverDetector: true });
    }
    case 'cluster': {
      const { nodes, kind: _kind, ...credentials } = topology;
      return new Cluster(nodes, clusterOptions(options, credentials));
    }
  }
}

/**
 * connect(), bounded: resolves once the client is ready, rejects on failure or after `timeoutMs`.
 * A Cluster's connect() promise never settles when its first ready check fails (CLUSTER INFO
 * timing out, a cluster still converging): it reconnects on its own and only emits 'ready'.
 * A Cluster also opens its connection to each primary on the first command sent there: that is
 * done here too, so a first command does not pay for a connection and its handshake.
 */
export async function connectWithin(client: RedisClient, timeoutMs: number): Promise<void> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  let onReady: (() => void) | undefined;
  const deadline = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`not ready within ${timeoutMs} ms`)), timeoutMs);
  });
  const ready = new Promise<void>((resolve, reject) => {
    onReady = resolve;
    client.once('ready', onReady);
    client.connect().then(resolve, reject);
  });
  try {
    await Promise.race([ready, deadline]);
    if (client instanceof Cluster) await Promise.race([Promise.all(client.nodes('master').map((node) => node.ping())), deadline]);
  } finally {
    clearTimeout(timer);
    if (onReady !== undefined) client.off('ready', onReady);
  }
}

/** A new client to the same Redis with other options (a pub/sub subscriber, a BullMQ connection). */
export function duplicateConnection(client: RedisClient, options: RedisConnectionOptions): RedisClient {
  if (client instanceof Cluster) return client.duplicate([], clusterOptions(options, {}, client.options.redisOptions));
  return client.duplicate(options);
}

/**
 * The server that holds `key`'s slot: the client itself, or on a cluster the primary that owns
 * the slot now. For SCAN, which a cluster client would send to any node. Call it inside withRedis().
 */
export async function slotOwner(client: RedisClient, key: string): Promise<Redis> {
  if (!(client instanceof Cluster)) return client;
  const slot = Number(await client.cluster('KEYSLOT', key));
  const owner = client.slots[slot]?.[0];
  const node = owner === undefined ? undefined : client.nodes('master').find((n) => `${n.options.host}:${n.options.port}` === owner);
  // A plain Error: withRedis() maps it to MWI_REDIS_UNAVAILABLE like any other connection trouble.
  if (node === undefined) throw new Error(`no cluster node owns slot ${slot} now (slots being moved or refreshed)`);
  return node;
}
