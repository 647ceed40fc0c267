/**
 * Builds the SIP side from configuration: transports (UDP always; TCP and TLS opened lazily per
 * connection), the sip.js-based stack, and the MwiSender seam on top. close() tears down in reverse.
 */
import type { Logger } from 'pino';
import type { Config } from '../../config/schema.ts';
import type { Clock } from '../clock.ts';
import { ErrorCodes, MwiError } from '../errors.ts';
import { createDns, type Dns } from '../dns/create-dns.ts';
import { MemoryPublicationStore, type PublicationStore } from '../sip/publication-store.ts';
import { SipStack } from '../sip/stack.ts';
import { StreamTransport } from '../sip/transport/stream.ts';
import type { HostResolver, SipTransport, TransportProtocol } from '../sip/transport/transport.ts';
import { UdpTransport } from '../sip/transport/udp.ts';
import { SipMwiSender } from './sip-sender.ts';

export interface SipSenderDeps {
  config: Config;
  clock: Clock;
  log: Logger;
  readFile: (path: string) => Buffer;
  store?: PublicationStore;
  resolver?: HostResolver;
  /** The process's DNS (cache, locator); built from config.dns when absent. */
  dns?: Dns;
}

export interface BuiltSender {
  sender: SipMwiSender;
  stack: SipStack;
  dns: Dns;
}

function tlsFiles(config: Config, readFile: (path: string) => Buffer) {
  const t = config.sip.tls;
  const read = (path: string | undefined, field: string): Buffer | undefined => {
    if (path === undefined) return undefined;
    try {
      return readFile(path);
    } catch (err) {
      throw new MwiError(ErrorCodes.CONFIG_FILE_UNREADABLE, `sip.tls.${field}: cannot read ${path} (${(err as NodeJS.ErrnoException).code ?? 'error'})`);
    }
  };
  const ca = read(t.caFile, 'caFile');
  const cert = read(t.certFile, 'certFile');
  const key = read(t.keyFile, 'keyFile');
  return { ...(ca ? { ca } : {}), ...(cert ? { cert } : {}), ...(key ? { key } : {}), rejectUnauthorized: t.rejectUnauthorized, ...(t.serverName ? { servername: t.serverName } : {}) };
}

export async function createSipSender(deps: SipSenderDeps): Promise<BuiltSender> {
  const { config, clock, log } = deps;
  const sip = config.sip;
  const dns = deps.dns ?? createDns({ config, clock });
  const resolver = deps.resolver ?? dns.resolver;
  const base = { clock, resolver, bindHost: sip.bindHost, maxMessageBytes: sip.maxMessageBytes };
  const stream = (protocol: 'TCP' | 'TLS') => ({
    ...base,
    bindPort: 0,
    protocol,
    connectTimeoutMs: sip.tcp.connectTimeoutMs,
    idleCloseMs: sip.tcp.idleCloseMs,
    reconnectBaseMs: sip.tcp.reconnectBaseMs,
    reconnectMaxMs: sip.tcp.reconnectMaxMs,
  });
  const tls = tlsFiles(config, deps.readFile);
  const transports: Partial<Record<TransportProtocol, SipTransport>> = {
    UDP: await UdpTransport.open({ ...base, bindPort: sip.bindPort, t1Ms: sip.t1Ms, t2Ms: sip.t2Ms, transactionTimeoutMs: sip.transactionTimeoutMs }),
    TCP: await StreamTransport.open(stream('TCP')),
    TLS: await StreamTransport.open({ ...stream('TLS'), tls }),
  };
  const auth = sip.auth.username !== undefined && sip.auth.password !== undefined ? { username: sip.auth.username, password: sip.auth.password } : undefined;
  const stack = new SipStack({
    transports,
    clock,
    log,
    userAgent: sip.userAgent,
    transactionTimeoutMs: sip.transactionTimeoutMs,
    ...(sip.publicHost ? { publicHost: sip.publicHost } : {}),
    ...(auth ? { auth } : {}),
  });
  const udp = transports.UDP as UdpTransport;
  const sender = new SipMwiSender({
    stack,
    store: deps.store ?? new MemoryPublicationStore(),
    clock,
    defaultProtocol: sip.transport.toUpperCase() as TransportProtocol,
    expiresSec: sip.publishExpiresSec,
    transactionTimeoutMs: sip.transactionTimeoutMs,
    subscriptionState: sip.notifySubscriptionState,
    probeFromUri: sip.fromUri ?? `sip:mwi-runner@${udp.localHost.includes(':') ? `[${udp.localHost}]` : udp.localHost}`,
  });
  return { sender, stack, dns };
}
