/**
 * Free loopback ports for test servers. Kamailio and SIPp listen on UDP and TCP with one number,
 * so a port is handed out only if both a UDP socket and a TCP listener can bind it.
 *
 * Race tolerance: ports are drawn at random from a range below the kernel's ephemeral range
 * (32768-60999 on Linux, where our own clients' `bind(0)` sockets land), so concurrent test files
 * rarely pick the same one, and a number already handed out by this process is never reused.
 * The bind check is still only a snapshot: starters retry with a fresh port when the server
 * itself fails to bind (see `isAddressInUse`).
 */
import dgram from 'node:dgram';
import fsp from 'node:fs/promises';
import net from 'node:net';

export type LoopbackHost = '127.0.0.1' | '::1';

export interface FreePortOptions {
  host?: LoopbackHost;
  /** Inclusive lower bound of the random range. */
  min?: number;
  /** Exclusive upper bound of the random range. */
  max?: number;
  attempts?: number;
}

const DEFAULT_MIN = 20000;
const DEFAULT_MAX = 32000;
const handedOut = new Set<number>();

/** A port on which both UDP and TCP can bind on `host` right now. */
export async function freePort(options: FreePortOptions = {}): Promise<number> {
  const host = options.host ?? '127.0.0.1';
  const min = options.min ?? DEFAULT_MIN;
  const max = options.max ?? DEFAULT_MAX;
  const attempts = options.attempts ?? 200;
  for (let i = 0; i < attempts; i++) {
    const port = min + Math.floor(Math.random() * (max - min));
    if (handedOut.has(port)) continue;
    if ((await canBindUdp(host, port)) && (await canBindTcp(host, port))) {
      handedOut.add(port);
      return port;
    }
  }
  throw new Error(`no free UDP+TCP port on ${host} in [${min}, ${max}) after ${attempts} attempts`);
}

export function canBindUdp(host: LoopbackHost, port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = dgram.createSocket({ type: host === '::1' ? 'udp6' : 'udp4', reuseAddr: false });
    socket.once('error', () => {
      socket.close();
      resolve(false);
    });
    socket.bind({ address: host, port, exclusive: true }, () => {
      socket.close(() => resolve(true));
    });
  });
}

export function canBindTcp(host: LoopbackHost, port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const server = net.createServer();
    server.once('error', () => resolve(false));
    server.listen({ host, port, exclusive: true }, () => {
      server.close(() => resolve(true));
    });
  });
}

/** True when a server's log says it could not bind its port (so a retry on a new port makes sense). */
export function isAddressInUse(logText: string): boolean {
  return /address already in use|EADDRINUSE|bind.*failed|Cannot bind|could not bind|Unable to bind/i.test(logText);
}

/**
 * True when process `pid` itself holds a socket bound to 127.0.0.1:port (UDP) or listening on it
 * (TCP), read from /proc (Linux). Unlike a connect or bind probe, this cannot be fooled by some
 * other process owning the port, and sends nothing the server would see.
 */
export async function processHoldsPort(pid: number, proto: 'udp' | 'tcp', port: number): Promise<boolean> {
  const local = `0100007F:${port.toString(16).toUpperCase().padStart(4, '0')}`;
  const table = await fsp.readFile(`/proc/net/${proto}`, 'utf8');
  const inodes = new Set<string>();
  for (const line of table.split('\n').slice(1)) {
    const cols = line.trim().split(/\s+/);
    // sl local_address rem_address st tx_queue:rx_queue tr:tm->when retrnsmt uid timeout inode
    if (cols[1] !== local) continue;
    if (proto === 'tcp' && cols[3] !== '0A') continue; // 0A = LISTEN
    if (cols[9]) inodes.add(cols[9]);
  }
  if (inodes.size === 0) return false;
  const fds = await fsp.readdir(`/proc/${pid}/fd`).catch(() => [] as string[]);
  for (const fd of fds) {
    const target = await fsp.readlink(`/proc/${pid}/fd/${fd}`).catch(() => '');
    const m = /^socket:\[(\d+)\]$/.exec(target);
    if (m?.[1] && inodes.has(m[1])) return true;
  }
  return false;
}

export interface PortClashRetry<T> {
  /** False when the caller fixed the port: a clash is then an error, not a reason to move. */
  canMove: boolean;
  /** Starts the server on the current port. */
  start: () => Promise<T>;
  /** The failed attempt's log, to tell "address in use" from other failures. */
  logText: () => Promise<string>;
  /** Picks a new free port for the next attempt. */
  movePort: () => Promise<void>;
  /** Removes what the attempts left behind when giving up. */
  cleanup: () => Promise<void>;
  attempts?: number;
}

/**
 * Starts a server, moving to a fresh free port when another process took the chosen one between
 * freePort() and the server's bind (the log shows "address in use"); at most `attempts` tries.
 */
export async function startMovingOnPortClash<T>(o: PortClashRetry<T>): Promise<T> {
  const attempts = o.attempts ?? 4;
  for (let attempt = 1; ; attempt++) {
    try {
      return await o.start();
    } catch (err) {
      if (o.canMove && attempt < attempts && isAddressInUse(await o.logText().catch(() => ''))) {
        await o.movePort();
        continue;
      }
      await o.cleanup();
      throw err;
    }
  }
}
