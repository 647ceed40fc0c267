/**
 * The demo's live status line, logged every few seconds:
 * `demo: 1200 updates -> 310 PUBLISH -> simulator holds 50 mailboxes (0 pending)`, with
 * `310 PUBLISH (20 answered 503)` when the simulator was over its capacity.
 * Updates the API accepted, PUBLISHes the simulator answered (many updates of one mailbox fold
 * into one delivery of its latest state), mailboxes it holds, and mailboxes still dirty in Redis.
 */
import type { Logger } from '../log.ts';
import type { PbxGenerator } from './pbx-generator.ts';
import type { PresenceSimulator } from './presence-simulator.ts';

export interface DemoStatus {
  updates: number;
  failedUpdates: number;
  lastErrorCode?: string | undefined;
  publishes: number;
  /** PUBLISHes the simulator refused for being over its capacity (the runner backs off and retries). */
  overloaded: number;
  holding: number;
  /** Dirty mailboxes; undefined when Redis could not say. */
  pending: number | undefined;
}

export function formatDemoStatus(s: DemoStatus): string {
  const failed = s.failedUpdates > 0 ? `, ${s.failedUpdates} updates failed (${s.lastErrorCode ?? 'unknown'})` : '';
  const overloaded = s.overloaded > 0 ? ` (${s.overloaded} answered 503)` : '';
  return `demo: ${s.updates} updates -> ${s.publishes} PUBLISH${overloaded} -> simulator holds ${s.holding} mailboxes (${s.pending ?? '?'} pending)${failed}`;
}

export interface DemoStatusSources {
  generator: Pick<PbxGenerator, 'stats'>;
  simulator: Pick<PresenceSimulator, 'holding' | 'answers'>;
  dirtyCount: () => Promise<number>;
}

export async function readDemoStatus(src: DemoStatusSources): Promise<DemoStatus> {
  const g = src.generator.stats();
  const pending = await src.dirtyCount().catch(() => undefined);
  const publish = src.simulator.answers().PUBLISH ?? {};
  const publishes = Object.values(publish).reduce((a, b) => a + b, 0);
  return { updates: g.accepted, failedUpdates: g.failed, lastErrorCode: g.lastErrorCode, publishes, overloaded: publish['503'] ?? 0, holding: src.simulator.holding(), pending };
}

/** Logs the status line every `everyMs`; close() stops it. */
export function startDemoStatus(src: DemoStatusSources, log: Logger, everyMs = 5000): { close(): void } {
  let busy = false;
  const timer = setInterval(() => {
    if (busy) return;
    busy = true;
    void readDemoStatus(src)
      .then((s) => log.info({ demo: s }, formatDemoStatus(s)))
      .finally(() => {
        busy = false;
      });
  }, everyMs);
  timer.unref();
  return { close: () => clearInterval(timer) };
}
