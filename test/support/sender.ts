/** Builds a real SipMwiSender (real sockets) from config overrides, for integration tests and benchmarks. */
import { readFileSync } from 'node:fs';
import pino from 'pino';
import { loadConfig } from '../../config/load.ts';
import { systemClock } from '../../src/clock.ts';
import { createSipSender, type BuiltSender } from '../../src/delivery/create-sip-sender.ts';
import type { PublicationStore } from '../../src/sip/publication-store.ts';

export function testSender(flags: Record<string, unknown> = {}, store?: PublicationStore): Promise<BuiltSender> {
  const config = loadConfig({ flags, env: {}, readFile: (p) => readFileSync(p, 'utf8') });
  return createSipSender({ config, clock: systemClock, log: pino({ level: 'silent' }), readFile: (p) => readFileSync(p), ...(store ? { store } : {}) });
}
