/**
 * A private dnsmasq (Debian: dnsmasq-base) answering for one local zone on a free 127.0.0.1
 * port, with every query logged so tests can count what reached the server.
 *
 * What reloads how (dnsmasq 2.90, checked by hand): SIGHUP re-reads the --addn-hosts file (A/AAAA
 * records: `setHosts`) and clears dnsmasq's cache, but NOT the config file, so SRV, NAPTR and
 * --host-record changes need a restart on the same port (`setRecords`). Names in the zone that
 * are not defined answer NXDOMAIN (--local), defined names without the asked type NODATA, names
 * outside the zone REFUSED (no upstream servers). A/AAAA answers carry --local-ttl; dnsmasq
 * sends SRV/NAPTR with it too, but Node does not report those TTLs anyway.
 */
import fsp from 'node:fs/promises';
import path from 'node:path';

import { freePort, processHoldsPort, startMovingOnPortClash } from './ports.ts';
import { makeWorkDir, newLogPath, requireBinary, spawnManaged } from './process.ts';
import type { ManagedProcess } from './process.ts';

export const DNSMASQ_PACKAGE = 'dnsmasq-base';

export interface DnsmasqSrv {
  /** e.g. "_sip._udp.example.test". */
  service: string;
  /** Omitted: the "service not available" record (target "."). */
  target?: string;
  port?: number;
  priority?: number;
  weight?: number;
}

export interface DnsmasqNaptr {
  name: string;
  order: number;
  preference: number;
  flags: string;
  service: string;
  replacement: string;
}

export interface DnsmasqHost {
  name: string;
  /** IPv4 and/or IPv6 addresses. */
  addresses: readonly string[];
}

export interface DnsmasqRecords {
  srv?: readonly DnsmasqSrv[];
  naptr?: readonly DnsmasqNaptr[];
  /** Served from the --addn-hosts file, which SIGHUP re-reads. */
  hosts?: readonly DnsmasqHost[];
}

export interface DnsmasqOptions {
  /** Zone answered locally (unknown names in it are NXDOMAIN). Default "example.test". */
  zone?: string;
  records: DnsmasqRecords;
  /** TTL of A/AAAA answers (--local-ttl). Default 1. */
  ttlSec?: number;
  port?: number;
  label?: string;
  readyTimeoutMs?: number;
}

export interface DnsmasqHandle {
  readonly host: '127.0.0.1';
  readonly port: number;
  /** "127.0.0.1:PORT", as dns.servers takes it. */
  readonly server: string;
  /** dnsmasq's stdout/stderr (start-up failures). */
  readonly logPath: string;
  /** --log-facility file: one "query[TYPE] name from ..." line per query, kept across restarts. */
  readonly queryLogPath: string;
  /** Queries logged so far (since the first start), optionally only of one type and/or name. */
  queries(filter?: { type?: string; name?: string }): Promise<number>;
  /** Rewrite the hosts file and SIGHUP; resolves once dnsmasq logged the re-read. */
  setHosts(hosts: readonly DnsmasqHost[]): Promise<void>;
  /** Replace every record: rewrite the config and restart on the same port. */
  setRecords(records: DnsmasqRecords): Promise<void>;
  /** SIGTERM: the port then answers ICMP port unreachable (c-ares: ECONNREFUSED). */
  stop(): Promise<void>;
  /** SIGSTOP / SIGCONT: a server that swallows queries (c-ares: ETIMEOUT). */
  pause(): void;
  resume(): void;
  /** Start again on the same port (stops first if running). */
  restart(): Promise<void>;
  /** stop() and delete the work dir. Idempotent; use this in `after`. */
  dispose(): Promise<void>;
}

function configText(zone: string, records: DnsmasqRecords, hostsPath: string): string {
  const lines = [`local=/${zone}/`, `addn-hosts=${hostsPath}`];
  for (const s of records.srv ?? []) {
    const fields = s.target === undefined ? [s.service] : [s.service, s.target, s.port ?? 5060, s.priority ?? 0, s.weight ?? 0];
    lines.push(`srv-host=${fields.join(',')}`);
  }
  for (const n of records.naptr ?? []) {
    lines.push(`naptr-record=${[n.name, n.order, n.preference, n.flags, n.service, '', n.replacement].join(',')}`);
  }
  return `${lines.join('\n')}\n`;
}

function hostsText(hosts: readonly DnsmasqHost[]): string {
  return hosts.flatMap((h) => h.addresses.map((a) => `${a} ${h.name}\n`)).join('');
}

function escapeRegExp(s: string): string {
  return s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}

export async function startDnsmasq(options: DnsmasqOptions): Promise<DnsmasqHandle> {
  const binary = requireBinary('dnsmasq', DNSMASQ_PACKAGE);
  const host = '127.0.0.1';
  const zone = options.zone ?? 'example.test';
  const workDir = await makeWorkDir('dnsmasq');
  const confPath = path.join(workDir, 'dnsmasq.conf');
  const hostsPath = path.join(workDir, 'hosts');
  const logPath = newLogPath('dnsmasq', options.label);
  const queryLogPath = newLogPath('dnsmasq-queries', options.label);
  await fsp.writeFile(confPath, configText(zone, options.records, hostsPath));
  await fsp.writeFile(hostsPath, hostsText(options.records.hosts ?? []));
  let port = options.port ?? (await freePort({ host }));

  const launch = (): Promise<ManagedProcess> =>
    spawnManaged({
      name: 'dnsmasq',
      command: binary,
      debPackages: DNSMASQ_PACKAGE,
      args: [
        '--keep-in-foreground',
        `--conf-file=${confPath}`, // replaces /etc/dnsmasq.conf
        '--no-resolv',
        '--no-hosts',
        `--port=${port}`,
        `--listen-address=${host}`,
        '--bind-interfaces',
        '--pid-file=', // none: the default /run/dnsmasq.pid would clash between tests
        `--local-ttl=${options.ttlSec ?? 1}`,
        '--log-queries',
        `--log-facility=${queryLogPath}`,
        // Started as root, dnsmasq would switch to "nobody" and could not reopen its files.
        ...(process.getuid?.() === 0 ? ['--user=root'] : []),
      ],
      cwd: workDir,
      logPath,
      readyTimeoutMs: options.readyTimeoutMs ?? 10_000,
      ready: async (proc) => (await processHoldsPort(proc.pid, 'udp', port)) && processHoldsPort(proc.pid, 'tcp', port),
    });

  let current = await startMovingOnPortClash({
    canMove: options.port === undefined,
    start: launch,
    logText: () => fsp.readFile(logPath, 'utf8'),
    movePort: async () => {
      port = await freePort({ host });
    },
    cleanup: () => fsp.rm(workDir, { recursive: true, force: true }),
  });
  let running = true;
  let disposed = false;

  const queryLog = (): Promise<string> => fsp.readFile(queryLogPath, 'utf8').catch(() => '');

  const handle: DnsmasqHandle = {
    host,
    port,
    server: `${host}:${port}`,
    logPath,
    queryLogPath,
    async queries(filter = {}) {
      const type = filter.type === undefined ? '[A-Z0-9]+' : escapeRegExp(filter.type);
      const name = filter.name === undefined ? '\\S+' : escapeRegExp(filter.name.replace(/\.$/, ''));
      const line = new RegExp(`: query\\[${type}\\] ${name} from `, 'gi');
      return (await queryLog()).match(line)?.length ?? 0;
    },
    async setHosts(hosts) {
      if (!running) throw new Error('dnsmasq is not running');
      const reread = new RegExp(`read ${escapeRegExp(hostsPath)} - \\d+ names`, 'g');
      const before = (await queryLog()).match(reread)?.length ?? 0;
      await fsp.writeFile(hostsPath, hostsText(hosts));
      current.signal('SIGHUP');
      const deadline = Date.now() + 5_000;
      while (((await queryLog()).match(reread)?.length ?? 0) <= before) {
        if (Date.now() > deadline) throw new Error(`dnsmasq did not re-read ${hostsPath} after SIGHUP; log ${queryLogPath}`);
        await new Promise((resolve) => setTimeout(resolve, 20));
      }
    },
    async setRecords(records) {
      await fsp.writeFile(confPath, configText(zone, records, hostsPath));
      await fsp.writeFile(hostsPath, hostsText(records.hosts ?? []));
      await handle.restart();
    },
    async stop() {
      if (!running) return;
      running = false;
      await current.stop(5_000);
    },
    pause: () => current.signal('SIGSTOP'),
    resume: () => current.signal('SIGCONT'),
    async restart() {
      if (disposed) throw new Error('dnsmasq handle disposed');
      await handle.stop();
      current = await launch();
      running = true;
    },
    async dispose() {
      if (disposed) return;
      disposed = true;
      await handle.stop();
      await fsp.rm(workDir, { recursive: true, force: true });
    },
  };
  return handle;
}
