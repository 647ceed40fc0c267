/**
 * A stand-in for a PBX platform, for `mwi start --demo`: random voicemail activity on a set of
 * demo mailboxes (a message arrives, one is listened to, old ones are deleted, a mailbox is
 * emptied), posted to the runner's HTTP API through the typed client, at a modest steady rate.
 * One request in flight at a time: when the API is slower than the rate, the generator falls
 * behind (owing at most one second of updates) instead of piling up requests.
 */
import { systemClock, type Clock, type TimerHandle } from '../clock.ts';
import type { MwiClient } from '../client/mwi-client.ts';
import type { WireUpdate } from '../ingest/update-schema.ts';
import type { Logger } from '../log.ts';

export interface PbxGeneratorOptions {
  client: Pick<MwiClient, 'updateBatch'>;
  mailboxes: readonly string[];
  ratePerSec: number;
  log: Logger;
  clock?: Clock;
  /** Uniform in [0, 1); Math.random when unset. */
  random?: () => number;
  /** How often a batch is posted. Default 250 ms. */
  tickMs?: number;
}

export interface PbxGeneratorStats {
  /** Updates the API accepted (applied or stale). */
  accepted: number;
  /** Updates in requests that failed. */
  failed: number;
  lastErrorCode: string | undefined;
}

export interface PbxGenerator {
  stats(): PbxGeneratorStats;
  /** Stops posting; resolves when the request in flight, if any, has settled. */
  close(): Promise<void>;
}

/** Demo mailbox URIs: sip:1000@demo.invalid, sip:1001@demo.invalid, ... (.invalid never resolves). */
export function demoMailboxes(count: number): string[] {
  return Array.from({ length: count }, (_, i) => `sip:${1000 + i}@demo.invalid`);
}

const MAX_BATCH = 1000;
const MAX_NEW = 20;

interface Box {
  new: number;
  old: number;
}

/** One step of voicemail life: mostly new messages and listening, sometimes a clean-up. */
function nextCounts(box: Box, r: number): Box {
  if (r < 0.45) return { new: Math.min(box.new + 1, MAX_NEW), old: box.old };
  if (r < 0.8) return box.new > 0 ? { new: box.new - 1, old: box.old + 1 } : { new: 1, old: box.old };
  if (r < 0.95) return { new: box.new, old: Math.max(0, box.old - 1) };
  return { new: 0, old: 0 };
}

export function startPbxGenerator(opts: PbxGeneratorOptions): PbxGenerator {
  const clock = opts.clock ?? systemClock;
  const random = opts.random ?? Math.random;
  const tickMs = opts.tickMs ?? 250;
  if (opts.mailboxes.length === 0) throw new RangeError('the generator needs at least one mailbox');
  if (!(opts.ratePerSec > 0)) throw new RangeError('ratePerSec must be > 0');

  const boxes = new Map<string, Box>(opts.mailboxes.map((m) => [m, { new: 0, old: 0 }]));
  const stats: PbxGeneratorStats = { accepted: 0, failed: 0, lastErrorCode: undefined };
  let lastVersion = 0;
  let owed = 0;
  let lastTick = clock.now();
  let timer: TimerHandle | undefined;
  let inFlight: Promise<void> | undefined;
  let stopped = false;

  const makeUpdate = (): WireUpdate => {
    const mailbox = opts.mailboxes[Math.floor(random() * opts.mailboxes.length)] as string;
    const counts = nextCounts(boxes.get(mailbox) as Box, random());
    boxes.set(mailbox, counts);
    // Versions only grow, and start from the clock so a restarted demo supersedes the stored state.
    lastVersion = Math.max(clock.now(), lastVersion + 1);
    return { mailbox, counts, version: lastVersion };
  };

  const post = async (updates: WireUpdate[]): Promise<void> => {
    try {
      const res = await opts.client.updateBatch(updates);
      stats.accepted += res.results.length;
    } catch (err) {
      stats.failed += updates.length;
      const code = (err as { code?: unknown }).code;
      const first = stats.lastErrorCode === undefined;
      stats.lastErrorCode = typeof code === 'string' ? code : 'unknown';
      if (first) opts.log.warn({ err }, 'demo PBX generator: posting updates failed (logged once; see the status line)');
    }
  };

  const tick = (): void => {
    timer = undefined;
    if (stopped) return;
    const now = clock.now();
    owed = Math.min(owed + ((now - lastTick) / 1000) * opts.ratePerSec, Math.max(1, Math.min(opts.ratePerSec, MAX_BATCH)));
    lastTick = now;
    const n = Math.floor(owed);
    if (inFlight === undefined && n > 0) {
      owed -= n;
      inFlight = post(Array.from({ length: n }, makeUpdate)).finally(() => {
        inFlight = undefined;
      });
    }
    timer = clock.setTimeout(tick, tickMs);
    timer.unref?.();
  };
  timer = clock.setTimeout(tick, tickMs);
  timer.unref?.();

  return {
    stats: () => ({ ...stats }),
    async close() {
      stopped = true;
      if (timer !== undefined) clock.clearTimeout(timer);
      await inFlight;
    },
  };
}
