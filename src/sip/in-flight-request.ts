/**
 * One request of the stack in flight: sip.js's delegate for its final response, its node in the
 * stack's transaction-timeout list, and how it settles into a SipResult (once). One object per
 * request instead of a closure per callback and a timer per request.
 */
import type { IncomingResponse, IncomingResponseMessage, OutgoingRequestDelegate, UserAgentClient } from 'sip.js/lib/core/index.js';
import type { Clock } from '../clock.ts';
import { ErrorCodes, MwiError } from '../errors.ts';
import type { DeadlineList, DeadlineNode } from './deadline-list.ts';
import { canonicalHeaderName } from './fast-response.ts';
import type { SipResult, SipStackStats } from './stack.ts';
import type { ExplicitHop, SipTransport } from './transport/transport.ts';

export interface InFlightContext {
  readonly clock: Clock;
  readonly stats: SipStackStats;
  /** Transport errors waiting for the synthetic 503 that sip.js raises for them, by branch. */
  readonly transportErrors: Map<string, unknown>;
  /** Explicit hops of requests in flight, by Call-ID (digest retries keep the Call-ID and the hop). */
  readonly hops: Map<string, ExplicitHop>;
  readonly timeouts: DeadlineList<InFlightRequest>;
}

/** The private Timer F handler of sip.js's non-INVITE client transaction (0.21.2). */
interface TimerF {
  timerF?: () => void;
  id: string;
}

export class InFlightRequest implements DeadlineNode, OutgoingRequestDelegate {
  deadlineAtMs = 0;
  deadlinePrev: DeadlineNode | undefined = undefined;
  deadlineNext: DeadlineNode | undefined = undefined;
  deadlineList: DeadlineList<DeadlineNode> | undefined = undefined;
  /** Set once sip.js's core has taken the request; callbacks only run later (sends are asynchronous). */
  uac: UserAgentClient | undefined = undefined;
  readonly promise: Promise<SipResult>;
  readonly #resolve: (result: SipResult) => void;
  readonly #ctx: InFlightContext;
  readonly #transport: SipTransport;
  readonly #startedAt: number;
  /** The Call-ID under which an explicit hop is registered, if any. */
  readonly #hopCallId: string | undefined;
  #settled = false;

  constructor(ctx: InFlightContext, transport: SipTransport, hopCallId: string | undefined) {
    this.#ctx = ctx;
    this.#transport = transport;
    this.#hopCallId = hopCallId;
    this.#startedAt = ctx.clock.now();
    const { promise, resolve } = Promise.withResolvers<SipResult>();
    this.promise = promise;
    this.#resolve = resolve;
  }

  /** Whether the request has its result (a final response, a timeout, a transport error, a refusal). */
  get settled(): boolean {
    return this.#settled;
  }

  /** A digest retry was refused a send slot (come back at `retryAt`, default now): the request ends here, nothing more sent. */
  refuse(reason: string, retryAt?: number): void {
    const now = this.#ctx.clock.now();
    this.#finish({ kind: 'not-admitted', reason, retryAt: retryAt ?? now, startedAt: this.#startedAt, elapsedMs: now - this.#startedAt });
  }

  /** The request could not go on (a digest retry that sip.js failed to send): a retryable transport error. */
  fail(error: MwiError): void {
    if (this.#settled) return;
    this.#ctx.stats.transportErrors++;
    const now = this.#ctx.clock.now();
    this.#finish({ kind: 'transport-error', error, startedAt: this.#startedAt, elapsedMs: now - this.#startedAt });
  }

  onAccept(response: IncomingResponse): void {
    this.#final(response.message);
  }

  onReject(response: IncomingResponse): void {
    this.#final(response.message);
  }

  onRedirect(response: IncomingResponse): void {
    this.#final(response.message);
  }

  /**
   * Our transaction timeout, far shorter than sip.js's fixed 32 s Timer F: fire sip.js's own
   * Timer F path early so the transaction terminates and leaves the core's tables.
   */
  expire(): void {
    if (this.#settled || !this.uac) return;
    const tx = this.uac.transaction as unknown as TimerF;
    this.#transport.abandon?.(tx.id);
    if (tx.timerF) tx.timerF();
    if (!this.#settled) {
      this.#ctx.stats.timeouts++;
      this.#finish({ kind: 'timeout', startedAt: this.#startedAt, elapsedMs: this.#ctx.clock.now() - this.#startedAt });
    }
  }

  #final(msg: IncomingResponseMessage): void {
    const status = msg.statusCode ?? 0;
    const startedAt = this.#startedAt;
    const elapsedMs = this.#ctx.clock.now() - startedAt;
    // sip.js synthesises 408 (Timer F) and 503 (transport error) with no wire data.
    if (!msg.data) {
      const branch = this.uac?.transaction.id ?? '';
      const cause = this.#ctx.transportErrors.get(branch);
      this.#ctx.transportErrors.delete(branch);
      if (status === 503) {
        this.#ctx.stats.transportErrors++;
        const error = cause instanceof MwiError ? cause : new MwiError(ErrorCodes.SIP_TRANSPORT, `transport error: ${(cause as Error | undefined)?.message ?? 'unknown'}`, { retryable: true, cause });
        this.#finish({ kind: 'transport-error', error, startedAt, elapsedMs });
      } else {
        this.#ctx.stats.timeouts++;
        this.#finish({ kind: 'timeout', startedAt, elapsedMs });
      }
      return;
    }
    const headers = msg.headers as Record<string, Array<{ raw: string }> | undefined>;
    this.#finish({ kind: 'response', status, reason: msg.reasonPhrase ?? '', header: (name) => headers[canonicalHeaderName(name)]?.[0]?.raw, startedAt, elapsedMs });
  }

  #finish(result: SipResult): void {
    if (this.#settled) return;
    this.#settled = true;
    this.#ctx.timeouts.remove(this);
    if (this.#hopCallId !== undefined) this.#ctx.hops.delete(this.#hopCallId);
    this.#resolve(result);
  }
}
