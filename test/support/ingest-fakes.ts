/**
 * Fakes around IngestService: a scheduler that records its calls (and can fail or hang), an
 * in-memory update sink with the store's ordering rule, and a logger writing into memory.
 */
import type { Logger } from '../../src/log.ts';
import { createLogger, type LogLevel } from '../../src/log.ts';
import type { DeliveryScheduler } from '../../src/queue/delivery-scheduler.ts';
import type { ApplyResult, MailboxUpdate } from '../../src/store/mailbox-state.ts';

export class RecordingScheduler implements DeliveryScheduler {
  readonly calls: string[][] = [];
  /** 'ok', 'fail' (rejects) or 'hang' (never settles). */
  mode: 'ok' | 'fail' | 'hang' = 'ok';

  schedule(mailboxes: readonly string[]): Promise<void> {
    this.calls.push([...mailboxes]);
    if (this.mode === 'fail') return Promise.reject(new Error('queue unavailable'));
    if (this.mode === 'hang') return new Promise<void>(() => {});
    return Promise.resolve();
  }
}

/** Newest version per mailbox, like RedisMailboxStore.applyUpdates (strictly greater wins). */
export class MemorySink {
  readonly versions = new Map<string, number>();
  readonly calls: MailboxUpdate[][] = [];

  applyUpdates(updates: readonly MailboxUpdate[]): Promise<ApplyResult[]> {
    this.calls.push([...updates]);
    return Promise.resolve(
      updates.map((u) => {
        const stored = this.versions.get(u.mailbox);
        if (stored !== undefined && stored >= u.version) return 'stale';
        this.versions.set(u.mailbox, u.version);
        return 'applied';
      }),
    );
  }
}

export interface CapturedLog {
  log: Logger;
  text: () => string;
  records: () => Array<Record<string, unknown>>;
}

/** A logger writing into memory; pino calls write() synchronously with one JSON line each. */
export function captureLog(level: LogLevel = 'trace', time?: () => number): CapturedLog {
  const chunks: string[] = [];
  const log = createLogger({ level, ...(time ? { time } : {}), destination: { write: (s: string) => void chunks.push(s) } });
  return {
    log,
    text: () => chunks.join(''),
    records: () =>
      chunks
        .join('')
        .split('\n')
        .filter((l) => l !== '')
        .map((l) => JSON.parse(l) as Record<string, unknown>),
  };
}
