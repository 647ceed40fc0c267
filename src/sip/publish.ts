/**
 * RFC 3903 PUBLISH of message-summary state for one mailbox (we are the EPA, the presence server
 * the ESC). Always the full body: an initial PUBLISH, then modifies with SIP-If-Match and the
 * body again (never a bodiless refresh: Kamailio then sends phones an empty NOTIFY).
 * One PUBLISH in flight per mailbox and target; 412 drops the ETag and sends exactly one initial
 * PUBLISH; 423 adopts Min-Expires once; everything else is classified once.
 * The ETag comes from the PublicationStore, or from the caller (input.publication): the queue
 * keeps it in the mailbox's record and stores the outcome's ETag with the delivered state.
 */
import type { Clock } from '../clock.ts';
import type { Outcome } from '../delivery/outcome.ts';
import type { AdmitAnother } from '../delivery/sender.ts';
import { classify } from './classify.ts';
import type { Publication, PublicationStore } from './publication-store.ts';
import { SerialPerKey } from './serial-per-key.ts';
import type { SipRequest, SipRequester, SipResult } from './stack.ts';
import { parseOverloadControl, type OverloadControl } from './overload-control.ts';
import { routeFor, type SipTarget } from './target.ts';
import type { ExplicitHop } from './transport/transport.ts';

export const MESSAGE_SUMMARY_TYPE = 'application/simple-message-summary';

export interface PublisherOptions {
  stack: SipRequester;
  store: PublicationStore;
  clock: Clock;
  expiresSec: number;
  transactionTimeoutMs: number;
}

export interface PublishInput {
  /** The mailbox's account URI; the Request-URI, From and To of the PUBLISH. */
  aor: string;
  target: SipTarget;
  /** The encoded message-summary body. */
  body: string;
  /** Where to send (RFC 3263 chose it); without it the target URI's host is resolved by the transport. */
  hop?: ExplicitHop;
  /** Asked before each request after the first (MwiDelivery.admitAnother). */
  admitAnother?: AdmitAnother;
  /** The caller's record of the publication (MwiDelivery.publication): used instead of the store, which is then neither read nor written. */
  publication?: Publication | null;
}

const MAX_MIN_EXPIRES_SEC = 86_400 * 7;

export function publicationKey(target: SipTarget, aor: string): string {
  return `${target.key}|${aor}`;
}

/** Completes a delivery's outcome with what the whole delivery did (requests, timing, feedback, what came before). */
function finish(outcome: Outcome, requests: number, startedAt: number, now: number, overload: OverloadControl | undefined, history: string[] | undefined, refusedEtag: string | undefined): Outcome {
  outcome.requests = requests;
  if (refusedEtag !== undefined && outcome.kind !== 'delivered') outcome.refusedEtag = refusedEtag;
  outcome.startedAt = startedAt;
  outcome.elapsedMs = now - startedAt;
  if (overload) outcome.overload = overload;
  if (history !== undefined) outcome.reason = [...history, outcome.reason].join(', then ');
  return outcome;
}

export class Publisher {
  readonly #opts: PublisherOptions;
  readonly #serial = new SerialPerKey();
  readonly #expiresHeader: string;
  readonly #routes = new WeakMap<SipTarget, string>();

  constructor(opts: PublisherOptions) {
    this.#opts = opts;
    this.#expiresHeader = `Expires: ${opts.expiresSec}`;
  }

  publish(input: PublishInput): Promise<Outcome> {
    const key = publicationKey(input.target, input.aor);
    return this.#serial.run(key, () => this.#publishNow(key, input));
  }

  #send(input: PublishInput, etag: string | undefined, expiresSec: number): Promise<SipResult> {
    const expires = expiresSec === this.#opts.expiresSec ? this.#expiresHeader : `Expires: ${expiresSec}`;
    const request: SipRequest = {
      method: 'PUBLISH',
      requestUri: input.aor,
      fromUri: input.aor,
      toUri: input.aor,
      protocol: input.target.protocol,
      route: this.#route(input.target),
      headers: etag === undefined ? ['Event: message-summary', expires] : ['Event: message-summary', expires, `SIP-If-Match: ${etag}`],
      body: { contentType: MESSAGE_SUMMARY_TYPE, content: input.body },
    };
    if (input.hop) request.hop = input.hop;
    if (input.admitAnother) request.admitRetry = input.admitAnother;
    return this.#opts.stack.request(request);
  }

  /** The target as a loose route, worked out once per target. */
  #route(target: SipTarget): string {
    let route = this.#routes.get(target);
    if (route === undefined) {
      route = routeFor(target);
      this.#routes.set(target, route);
    }
    return route;
  }

  /** undefined when the next request may go; else the deferred outcome (nothing more sent, no attempt used). */
  async #admitAnother(input: PublishInput): Promise<Outcome | undefined> {
    if (input.admitAnother === undefined) return undefined;
    const slot = await input.admitAnother();
    if (slot.ok) return undefined;
    return { kind: 'deferred', cause: 'response', reason: `no send slot for the next request: ${slot.reason}`, retryAt: slot.retryAt, requests: 0, startedAt: 0, elapsedMs: 0 };
  }

  async #publishNow(key: string, input: PublishInput): Promise<Outcome> {
    const { clock } = this.#opts;
    // The caller keeps the publication (it records the outcome's ETag itself): no store at all.
    const store = input.publication === undefined ? this.#opts.store : undefined;
    const startedAt = clock.now();
    const current = store ? await store.get(key) : (input.publication ?? undefined);
    // A lapsed publication is gone at the server: start again with an initial PUBLISH.
    let etag = current && current.expiresAt > startedAt ? current.etag : undefined;
    let expiresSec = this.#opts.expiresSec;
    let requests = 0;
    let recovered412 = false;
    /** The ETag a 412 refused: a record that still holds it is stale (the caller forgets it unless this delivery brings a new one). */
    let refusedEtag: string | undefined;
    let adopted423 = false;
    /** What came before the final answer (a 412 or 423 answered by another request), for the reason. */
    let history: string[] | undefined;

    for (;;) {
      const result = await this.#send(input, etag, expiresSec);
      requests++;
      const overload = result.kind === 'response' ? parseOverloadControl(result.header('Via')) : undefined;

      if (result.kind === 'response') {
        const { status } = result;
        if (status === 412 && etag !== undefined && !recovered412) {
          // RFC 3903 6: never retry the same request; the ETag is gone, so publish afresh once.
          recovered412 = true;
          refusedEtag = etag;
          etag = undefined;
          await store?.delete(key);
          (history ??= []).push(`${status} ${result.reason}`);
          const refused = await this.#admitAnother(input);
          if (refused) return finish(refused, requests, startedAt, clock.now(), overload, history, refusedEtag);
          continue;
        }
        if (status === 423 && !adopted423) {
          const min = Number.parseInt(result.header('Min-Expires') ?? '', 10);
          if (Number.isInteger(min) && min > expiresSec && min <= MAX_MIN_EXPIRES_SEC) {
            adopted423 = true;
            expiresSec = min;
            (history ??= []).push(`${status} ${result.reason} (Min-Expires ${min})`);
            const refused = await this.#admitAnother(input);
            if (refused) return finish(refused, requests, startedAt, clock.now(), overload, history, refusedEtag);
            continue;
          }
        }
        if (status >= 200 && status < 300) {
          // A copy, not a slice: a slice would keep the whole response text alive for as long as the ETag is stored.
          const header = result.header('SIP-ETag')?.trim();
          const newEtag = header === undefined ? undefined : Buffer.from(header, 'utf8').toString('utf8');
          const granted = Number.parseInt(result.header('Expires') ?? '', 10);
          const grantedExpiresSec = Number.isInteger(granted) && granted > 0 ? Math.min(granted, expiresSec) : expiresSec;
          const expiresAt = clock.now() + grantedExpiresSec * 1000;
          if (store) {
            if (newEtag) await store.set(key, { etag: newEtag, expiresAt });
            else await store.delete(key); // RFC 3903 requires SIP-ETag in a 2xx; without it we can only start over next time
          }
          const delivered: Outcome = { kind: 'delivered', status, cause: 'response', reason: `${status} ${result.reason}`.trim(), requests: 0, startedAt: 0, elapsedMs: 0, grantedExpiresSec, expiresAt };
          if (newEtag) delivered.etag = newEtag;
          return finish(delivered, requests, startedAt, clock.now(), overload, history, refusedEtag);
        }
      }
      const c = classify('PUBLISH', result, this.#opts.transactionTimeoutMs);
      if (c.kind === 'permanent' && c.status === 412) await store?.delete(key);
      return finish({ ...c, requests: 0, startedAt: 0, elapsedMs: 0 }, requests, startedAt, clock.now(), overload, history, refusedEtag);
    }
  }
}
