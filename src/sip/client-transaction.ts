/**
 * sip.js's non-INVITE client transaction, ended as soon as its final response has been handed up.
 *
 * sip.js 0.21.2 (lib/core/transactions/non-invite-client-transaction.js) moves to Completed on a
 * final response and arms Timer K there (line 198: `this.K = setTimeout(() => this.timerK(),
 * Timers.TIMER_K)`), with `TIMER_K = 0 * T4` for every transport (lib/core/timers.js). So each
 * transaction cost one more timer, created and fired a turn later only to reach Terminated, and a
 * Node timer list created and torn down around it. The Completed state is meant to absorb
 * retransmitted responses; with a 0 ms Timer K it absorbs nothing either way (a late copy is
 * discarded as unmatched by the core), so we go to Terminated right after the final response has
 * been passed to the transaction user, the same order sip.js follows, without the timer.
 * Everything else (provisional responses, the 408 from the network treated as a timeout, Timer F
 * which our shorter transaction timeout fires early, transport errors) is sip.js's own code.
 */
import { NonInviteClientTransaction, TransactionState } from 'sip.js/lib/core/index.js';
import type { IncomingResponseMessage } from 'sip.js/lib/core/index.js';
import type { RequestFacts } from './transport/transport.ts';

/**
 * The stack's transport adapter. sip.js passes it only the serialised text; the transaction
 * leaves the request it is sending here first (send() is synchronous up to the transport), so
 * the transport gets the method, branch and next hop without reading them back from the text.
 */
export interface FactsAwareTransport {
  nextFacts: RequestFacts | undefined;
}

/** The private members of sip.js's transaction used here (present in 0.21.2, not in its typings). */
interface Internals {
  stateTransition(state: TransactionState): void;
  onRequestTimeout(): void;
  user: { receiveResponse?: (response: IncomingResponseMessage) => void };
}

export class PromptNonInviteClientTransaction extends NonInviteClientTransaction {
  override send(message: string): Promise<void> {
    const request = this.request as unknown as Partial<RequestFacts>;
    // Our WireRequest carries the facts; anything else (never, today) is read from the text.
    if (typeof request.nextHopUri === 'string') (this.transport as unknown as FactsAwareTransport).nextFacts = request as RequestFacts;
    return super.send(message);
  }

  override receiveResponse(response: IncomingResponseMessage): void {
    const status = response.statusCode ?? 0;
    const state = this.state;
    if (status < 200 || status > 699 || (state !== TransactionState.Trying && state !== TransactionState.Proceeding)) {
      super.receiveResponse(response);
      return;
    }
    const self = this as unknown as Internals;
    try {
      // As sip.js does for a final response in Trying or Proceeding (RFC 3261 17.1.2.2), minus Completed.
      if (status === 408) self.onRequestTimeout();
      else self.user.receiveResponse?.(response);
    } finally {
      self.stateTransition(TransactionState.Terminated);
    }
  }
}
