/**
 * A private Redis Cluster on loopback: `primaries` redis-servers (default 3, plus `replicas`
 * per primary) with `cluster-enabled yes`, each in its own temp dir on a free port (startRedis),
 * joined by `redis-cli --cluster create ... --cluster-yes`; ready once every node reports
 * cluster_state:ok with all 16384 slots assigned and knows every other node.
 */
import { redisCli, infoFields, pollUntil } from './redis-cli.ts';
import { startRedis, type RedisHandle } from './redis.ts';

export interface RedisClusterOptions {
  /** Default 3 (the least redis-cli --cluster create accepts). */
  primaries?: number;
  /** Replicas per primary. Default 0. */
  replicas?: number;
  /** requirepass (and masterauth) of every node; none when unset. */
  password?: string;
  label?: string;
  /** cluster-node-timeout. Default 15000 (Redis's): shorter, a busy machine's stalls look like node failures while the cluster forms. */
  nodeTimeoutMs?: number;
  readyTimeoutMs?: number;
}

export interface RedisClusterHandle {
  readonly nodes: readonly RedisHandle[];
  readonly password: string | undefined;
  /** redis+cluster://[:password@]127.0.0.1:p1,127.0.0.1:p2,... (every node a seed). */
  readonly url: string;
  /** One redis-cli command on one node (authenticated). */
  cli(port: number, args: readonly string[]): Promise<string>;
  /** CLUSTER KEYSLOT of a key. */
  keyslot(key: string): Promise<number>;
  /** The port of the primary serving `slot` now (CLUSTER NODES as the first node sees it). */
  ownerPort(slot: number): Promise<number>;
  /** Every key on one node matching `pattern` (SCAN on that node only). */
  keysOn(port: number, pattern: string): Promise<string[]>;
  /** Stops every node and removes their dirs. Idempotent. */
  stop(): Promise<void>;
}

export async function startRedisCluster(options: RedisClusterOptions = {}): Promise<RedisClusterHandle> {
  const primaries = options.primaries ?? 3;
  const replicas = options.replicas ?? 0;
  const password = options.password;
  const total = primaries * (1 + replicas);
  const extraArgs = [
    '--cluster-enabled', 'yes',
    '--cluster-config-file', 'nodes.conf',
    '--cluster-node-timeout', String(options.nodeTimeoutMs ?? 15_000),
    ...(password === undefined ? [] : ['--masterauth', password]),
  ];
  const started = await Promise.allSettled(Array.from({ length: total }, (_, i) => startRedis({ label: `${options.label ?? 'cluster'}-${i}`, extraArgs })));
  const nodes = started.flatMap((s) => (s.status === 'fulfilled' ? [s.value] : []));
  let stopped = false;
  const stop = async (): Promise<void> => {
    if (stopped) return;
    stopped = true;
    await Promise.all(nodes.map((n) => n.dispose()));
  };
  const cli = (port: number, args: readonly string[], timeoutMs?: number): Promise<string> => redisCli({ port, ...(password === undefined ? {} : { password }) }, args, timeoutMs);
  try {
    const failed = started.find((s) => s.status === 'rejected');
    if (failed) throw failed.reason;
    // After the start: startRedis's readiness check is an unauthenticated PING.
    if (password !== undefined) await Promise.all(nodes.map((n) => redisCli({ port: n.port }, ['CONFIG', 'SET', 'requirepass', password])));
    const addresses = nodes.map((n) => `127.0.0.1:${n.port}`);
    await cli(nodes[0]?.port ?? 0, ['--cluster', 'create', ...addresses, '--cluster-replicas', String(replicas), '--cluster-yes'], options.readyTimeoutMs ?? 30_000);
    await pollUntil('cluster_state:ok on every node', options.readyTimeoutMs ?? 30_000, async () => {
      for (const n of nodes) {
        const info = infoFields(await cli(n.port, ['CLUSTER', 'INFO']));
        if (info.get('cluster_state') !== 'ok' || info.get('cluster_slots_assigned') !== '16384' || info.get('cluster_known_nodes') !== String(total)) return undefined;
      }
      return true;
    });
  } catch (err) {
    await stop();
    throw err;
  }

  const auth = password === undefined ? '' : `:${encodeURIComponent(password)}@`;
  return {
    nodes,
    password,
    url: `redis+cluster://${auth}${nodes.map((n) => `127.0.0.1:${n.port}`).join(',')}`,
    cli,
    keyslot: async (key) => Number(await cli(nodes[0]?.port ?? 0, ['CLUSTER', 'KEYSLOT', key])),
    async ownerPort(slot) {
      // CLUSTER NODES: "<id> <ip:port@cport[,hostname]> <flags> <primary> <ping> <pong> <epoch> <link> <slot or range>..."
      for (const line of (await cli(nodes[0]?.port ?? 0, ['CLUSTER', 'NODES'])).split('\n')) {
        const [, address = '', flags = '', , , , , , ...slots] = line.trim().split(' ');
        if (!flags.split(',').includes('master') || flags.includes('fail')) continue;
        for (const range of slots) {
          const [from, to = from] = range.split('-').map(Number);
          if (from !== undefined && to !== undefined && slot >= from && slot <= to) return Number(address.split('@')[0]?.split(':')[1]);
        }
      }
      throw new Error(`no primary serves slot ${slot}`);
    },
    async keysOn(port, pattern) {
      const keys: string[] = [];
      let cursor = '0';
      do {
        const [next = '0', ...found] = (await cli(port, ['SCAN', cursor, 'MATCH', pattern, 'COUNT', '1000'])).split('\n').map((l) => l.trim());
        cursor = next;
        keys.push(...found.filter((k) => k !== ''));
      } while (cursor !== '0');
      return keys;
    },
    stop,
  };
}
