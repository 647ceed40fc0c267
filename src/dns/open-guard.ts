/** A DnsGuard that never holds queries back: for the CLI and tests, which run without the fleet's breakers. */
import type { DnsGuard } from './types.ts';

export const alwaysAllow: DnsGuard = {
  allowsQuery: () => true,
  recordSuccess: () => {},
  recordFailure: () => {},
};
