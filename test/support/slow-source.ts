/** A mailbox source slowed down for tests: a pause before every page, and the time each page was handed out. */
import type { MailboxSource, SourceMailbox } from '../../src/sources/mailbox-source.ts';

export class SlowSource implements MailboxSource {
  readonly name: string;
  readonly servedAt: number[] = [];
  readonly #inner: MailboxSource;
  readonly #delayMs: number;

  constructor(inner: MailboxSource, delayMs: number) {
    this.#inner = inner;
    this.#delayMs = delayMs;
    this.name = inner.name;
  }

  async *pages(pageSize: number, signal: AbortSignal): AsyncIterable<SourceMailbox[]> {
    for await (const page of this.#inner.pages(pageSize, signal)) {
      await new Promise((resolve) => setTimeout(resolve, this.#delayMs));
      if (signal.aborted) return;
      this.servedAt.push(performance.now());
      yield page;
    }
  }

  close(): Promise<void> {
    return this.#inner.close();
  }
}
