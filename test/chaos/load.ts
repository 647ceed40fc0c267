/**
 * PBX load for the chaos scenarios: batches of updates POSTed to the real HTTP API, each a newer
 * version of a randomly chosen mailbox, with a ledger of what was tried and what was answered 202.
 *
 * Version v of a mailbox carries `new: v` voice messages, so the version a presence server holds
 * can be read back from its message-summary body (test/chaos/verify.ts).
 */
import type { MwiClient } from '../../src/client/mwi-client.ts';
import { MwiClientError } from '../../src/client/mwi-client.ts';
import type { WireUpdate } from '../../src/ingest/update-schema.ts';
import type { MessageSummary } from '../../src/mwi/message-summary.ts';
import { prng } from '../support/prng.ts';

export function summaryOf(version: number): MessageSummary {
  return { counts: { 'voice-message': { new: version, old: 0 } } };
}

export function wireUpdate(mailbox: string, target: string, version: number): WireUpdate {
  return { mailbox, target, counts: { new: version, old: 0 }, version };
}

/** Per mailbox: the newest version sent (answered or not) and the newest answered 202. */
export class UpdateLedger {
  readonly attempted = new Map<string, number>();
  readonly accepted = new Map<string, number>();

  /** The next version of `mailbox`, recorded as tried. */
  next(mailbox: string): number {
    const version = (this.attempted.get(mailbox) ?? 0) + 1;
    this.attempted.set(mailbox, version);
    return version;
  }

  accept(mailbox: string, version: number): void {
    if (version > (this.accepted.get(mailbox) ?? 0)) this.accepted.set(mailbox, version);
  }

  acceptedUpdates(): number {
    let n = 0;
    for (const v of this.accepted.values()) n += v;
    return n;
  }
}

export interface FlowStats {
  requests: number;
  /** Updates in requests answered 202. */
  accepted: number;
  /** Updates in requests answered otherwise or not at all (they may or may not have been applied). */
  refused: number;
  /** Refusals by error code (MWI_REDIS_UNAVAILABLE, MWI_API_TIMEOUT, ...). */
  refusedBy: Record<string, number>;
}

export interface UpdateFlowOptions {
  client: MwiClient;
  mailboxes: readonly string[];
  target: string;
  ledger: UpdateLedger;
  /** Updates per request (distinct mailboxes). */
  batchSize: number;
  /** Pause between two requests of one lane. */
  intervalMs: number;
  /** Requests in flight at once. Default 1. */
  lanes?: number;
  seed: number;
}

export interface UpdateFlow {
  stats(): FlowStats;
  /** Stops sending and waits for the requests in flight. */
  stop(): Promise<void>;
}

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

/** Sends one batch; true when it was answered 202 (the ledger records it). */
export async function postBatch(client: MwiClient, ledger: UpdateLedger, target: string, mailboxes: readonly string[], stats?: FlowStats): Promise<boolean> {
  const updates = mailboxes.map((mailbox) => wireUpdate(mailbox, target, ledger.next(mailbox)));
  if (stats) stats.requests++;
  try {
    await client.updateBatch(updates);
  } catch (err) {
    const code = err instanceof MwiClientError ? err.code : 'unexpected';
    if (stats) {
      stats.refused += updates.length;
      stats.refusedBy[code] = (stats.refusedBy[code] ?? 0) + updates.length;
    }
    if (!(err instanceof MwiClientError)) throw err;
    return false;
  }
  for (const u of updates) ledger.accept(u.mailbox, u.version);
  if (stats) stats.accepted += updates.length;
  return true;
}

/** Every mailbox at version 1, retried until accepted (setup, before any fault). */
export async function seedMailboxes(client: MwiClient, ledger: UpdateLedger, target: string, mailboxes: readonly string[], batchSize = 500): Promise<void> {
  for (let i = 0; i < mailboxes.length; i += batchSize) {
    const batch = mailboxes.slice(i, i + batchSize);
    for (let attempt = 1; !(await postBatch(client, ledger, target, batch)); attempt++) {
      if (attempt >= 20) throw new Error(`seeding ${batch.length} mailboxes: not accepted after ${attempt} attempts`);
      await sleep(250);
    }
  }
}

export function startUpdateFlow(o: UpdateFlowOptions): UpdateFlow {
  const random = prng(o.seed);
  const stats: FlowStats = { requests: 0, accepted: 0, refused: 0, refusedBy: {} };
  let running = true;
  const pick = (): string[] => {
    const chosen = new Set<string>();
    const want = Math.min(o.batchSize, o.mailboxes.length);
    while (chosen.size < want) chosen.add(o.mailboxes[Math.floor(random() * o.mailboxes.length)] ?? '');
    return [...chosen];
  };
  const lane = async (): Promise<void> => {
    while (running) {
      await postBatch(o.client, o.ledger, o.target, pick(), stats);
      if (running) await sleep(o.intervalMs);
    }
  };
  const lanes = Array.from({ length: o.lanes ?? 1 }, () => lane());
  return {
    stats: () => stats,
    async stop() {
      running = false;
      await Promise.all(lanes);
    },
  };
}
