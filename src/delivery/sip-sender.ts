/**
 * MwiSender over our SIP stack: encodes the RFC 3842 body and hands it to the PUBLISH or
 * NOTIFY client. Bad input (an invalid body or URI) is a permanent outcome, never a throw.
 */
import type { Clock } from '../clock.ts';
import { isMwiError } from '../errors.ts';
import { encodeMessageSummary } from '../mwi/message-summary.ts';
import { Notifier } from '../sip/notify.ts';
import { probeTarget } from '../sip/options-probe.ts';
import type { PublicationStore } from '../sip/publication-store.ts';
import { Publisher, type PublishInput } from '../sip/publish.ts';
import type { SipStack } from '../sip/stack.ts';
import { parseTarget, type SipTarget } from '../sip/target.ts';
import type { ExplicitHop, TransportProtocol } from '../sip/transport/transport.ts';
import type { Outcome } from './outcome.ts';
import type { MwiDelivery, MwiSender, ProbeOutcome } from './sender.ts';

export interface SipSenderOptions {
  stack: SipStack;
  store: PublicationStore;
  clock: Clock;
  defaultProtocol: TransportProtocol;
  expiresSec: number;
  transactionTimeoutMs: number;
  subscriptionState: string;
  /** From of OPTIONS probes. */
  probeFromUri: string;
}

export class SipMwiSender implements MwiSender {
  readonly #opts: SipSenderOptions;
  readonly #publisher: Publisher;
  readonly #notifier: Notifier;
  readonly #targets = new Map<string, SipTarget>();

  constructor(opts: SipSenderOptions) {
    this.#opts = opts;
    this.#publisher = new Publisher({ stack: opts.stack, store: opts.store, clock: opts.clock, expiresSec: opts.expiresSec, transactionTimeoutMs: opts.transactionTimeoutMs });
    this.#notifier = new Notifier({ stack: opts.stack, clock: opts.clock, subscriptionState: opts.subscriptionState, transactionTimeoutMs: opts.transactionTimeoutMs });
  }

  #target(uri: string): SipTarget {
    let t = this.#targets.get(uri);
    if (!t) {
      t = parseTarget(uri, this.#opts.defaultProtocol);
      if (this.#targets.size > 10_000) this.#targets.clear();
      this.#targets.set(uri, t);
    }
    return t;
  }

  async send(delivery: MwiDelivery): Promise<Outcome> {
    const startedAt = this.#opts.clock.now();
    try {
      const body = encodeMessageSummary(delivery.summary, delivery.mailbox);
      if (delivery.route.mode === 'publish') {
        const input: PublishInput = { aor: delivery.mailbox, target: this.#target(delivery.route.target), body };
        if (delivery.hop) input.hop = delivery.hop;
        if (delivery.admitAnother) input.admitAnother = delivery.admitAnother;
        if (delivery.publication !== undefined) input.publication = delivery.publication;
        return await this.#publisher.publish(input);
      }
      return await this.#notifier.notify({ aor: delivery.mailbox, contact: this.#target(delivery.route.contact), body, ...(delivery.hop ? { hop: delivery.hop } : {}), ...(delivery.admitAnother ? { admitAnother: delivery.admitAnother } : {}) });
    } catch (err) {
      if (!isMwiError(err)) throw err;
      // Nothing reached the server: bad input (a URI, counts) is permanent; a stack shutting down is not.
      return { kind: err.retryable ? 'retryable' : 'permanent', cause: err.retryable ? 'transport' : 'response', reason: `${err.code}: ${err.message}`, requests: 0, startedAt, elapsedMs: this.#opts.clock.now() - startedAt };
    }
  }

  probe(target: string, hop?: ExplicitHop): Promise<ProbeOutcome> {
    return probeTarget(this.#opts.stack, this.#opts.clock, this.#target(target), this.#opts.probeFromUri, hop);
  }

  close(): Promise<void> {
    return this.#opts.stack.close();
  }
}
