/**
 * Unsolicited NOTIFY of message-summary to a phone (vendor practice outside a subscription,
 * RFC 6665 framing: Event, Subscription-State, Contact). 481/489 from the phone mean it does not
 * take unsolicited MWI: permanent for that endpoint.
 */
import type { Clock } from '../clock.ts';
import type { Outcome } from '../delivery/outcome.ts';
import type { AdmitAnother } from '../delivery/sender.ts';
import { classify } from './classify.ts';
import { MESSAGE_SUMMARY_TYPE } from './publish.ts';
import type { SipRequester } from './stack.ts';
import { parseOverloadControl } from './overload-control.ts';
import type { SipTarget } from './target.ts';
import type { ExplicitHop } from './transport/transport.ts';

export interface NotifyInput {
  aor: string;
  /** The phone's contact URI: Request-URI and next hop. */
  contact: SipTarget;
  body: string;
  /** Where to send (RFC 3263 chose it); without it the contact's host is resolved by the transport. */
  hop?: ExplicitHop;
  /** Asked before a digest retry (MwiDelivery.admitAnother). */
  admitAnother?: AdmitAnother;
}

export interface NotifierOptions {
  stack: SipRequester;
  clock: Clock;
  subscriptionState: string;
  transactionTimeoutMs: number;
}

export class Notifier {
  readonly #opts: NotifierOptions;

  constructor(opts: NotifierOptions) {
    this.#opts = opts;
  }

  async notify(input: NotifyInput): Promise<Outcome> {
    const startedAt = this.#opts.clock.now();
    const result = await this.#opts.stack.request({
      method: 'NOTIFY',
      requestUri: input.contact.uri,
      fromUri: input.aor,
      toUri: input.aor,
      protocol: input.contact.protocol,
      headers: ['Event: message-summary', `Subscription-State: ${this.#opts.subscriptionState}`],
      body: { contentType: MESSAGE_SUMMARY_TYPE, content: input.body },
      withContact: true,
      ...(input.hop ? { hop: input.hop } : {}),
      ...(input.admitAnother ? { admitRetry: input.admitAnother } : {}),
    });
    const c = classify('NOTIFY', result, this.#opts.transactionTimeoutMs);
    const overload = result.kind === 'response' ? parseOverloadControl(result.header('Via')) : undefined;
    return { ...c, requests: 1, startedAt, elapsedMs: this.#opts.clock.now() - startedAt, ...(overload ? { overload } : {}) };
  }
}
