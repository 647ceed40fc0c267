/**
 * The default HostResolver: IP literals pass through; names go to c-ares (`dns.Resolver`, with an
 * explicit timeout and try count) for A then AAAA, never to the libuv-threadpool `dns.lookup`,
 * which blocks other work when DNS is slow. RFC 3263 SRV/NAPTR and caching replace this later.
 */
import { Resolver } from 'node:dns/promises';
import { isIP } from 'node:net';
import { ErrorCodes, MwiError } from '../errors.ts';
import type { HostResolver } from './transport/transport.ts';

export interface SimpleResolverOptions {
  timeoutMs: number;
  tries: number;
  /** DNS servers as "ip" or "ip:port"; the system's when empty. */
  servers?: string[];
}

export function createSimpleResolver(opts: SimpleResolverOptions): HostResolver {
  const resolver = new Resolver({ timeout: opts.timeoutMs, tries: opts.tries });
  if (opts.servers && opts.servers.length > 0) resolver.setServers(opts.servers);
  return {
    async resolve(host: string): Promise<string> {
      if (isIP(host)) return host;
      if (host === 'localhost') return '127.0.0.1';
      try {
        const v4 = await resolver.resolve4(host).catch(() => [] as string[]);
        const addr = v4[0] ?? (await resolver.resolve6(host))[0];
        if (addr) return addr;
      } catch (err) {
        throw new MwiError(ErrorCodes.RESOLVE_FAILED, `cannot resolve ${host}: ${(err as Error).message}`, { retryable: true, cause: err });
      }
      throw new MwiError(ErrorCodes.RESOLVE_FAILED, `cannot resolve ${host}: no A or AAAA record`, { retryable: true });
    },
  };
}
