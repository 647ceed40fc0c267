/** An MwiSender wrapper that records every send and its outcome (requests = SIP PUBLISHes sent). */
import type { Outcome } from '../../src/delivery/outcome.ts';
import type { MwiDelivery, MwiSender, ProbeOutcome } from '../../src/delivery/sender.ts';

export interface SendRecord {
  mailbox: string;
  delivery: MwiDelivery;
  outcome: Outcome;
}

export class CountingSender implements MwiSender {
  readonly sends: SendRecord[] = [];
  requests = 0;
  inFlight = 0;
  maxInFlight = 0;
  readonly #inner: MwiSender;

  constructor(inner: MwiSender) {
    this.#inner = inner;
  }

  async send(delivery: MwiDelivery): Promise<Outcome> {
    this.inFlight++;
    this.maxInFlight = Math.max(this.maxInFlight, this.inFlight);
    try {
      const outcome = await this.#inner.send(delivery);
      this.requests += outcome.requests;
      this.sends.push({ mailbox: delivery.mailbox, delivery, outcome });
      return outcome;
    } finally {
      this.inFlight--;
    }
  }

  probe(target: string): Promise<ProbeOutcome> {
    return this.#inner.probe(target);
  }

  close(): Promise<void> {
    return this.#inner.close();
  }
}
