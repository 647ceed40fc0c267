/**
 * The SIP stack: sip.js's UserAgentCore (transactions, message building, digest auth) over our
 * own transports, one core per transport protocol. This is the only module above the transports
 * that talks to sip.js; everything above it sees SipRequest in, SipResult out.
 */
import { DigestAuthentication, LoggerFactory, UserAgentClient, UserAgentCore, type IncomingResponseMessage, type OutgoingRequestMessage } from 'sip.js/lib/core/index.js';
import type { Logger as PinoLogger } from 'pino';
import type { Clock } from '../clock.ts';
import { ErrorCodes, MwiError } from '../errors.ts';
import { installStrongBranchIds } from './branch.ts';
import { PromptNonInviteClientTransaction, type FactsAwareTransport } from './client-transaction.ts';
import { DeadlineList } from './deadline-list.ts';
import { InFlightRequest, type InFlightContext } from './in-flight-request.ts';
import { parseInbound } from './parse.ts';
import { isSipUri, parseSipUri } from './uri.ts';
import { WireRequest } from './wire-request.ts';
import type { ExplicitHop, SipTransport, TransportProtocol } from './transport/transport.ts';
import type { AdmitAnother } from '../delivery/sender.ts';

export interface SipRequest {
  method: 'PUBLISH' | 'NOTIFY' | 'OPTIONS';
  requestUri: string;
  fromUri: string;
  toUri: string;
  /** Transport used to reach the next hop. */
  protocol: TransportProtocol;
  /** Preloaded route (the presence server as outbound proxy); without it the Request-URI is the next hop. */
  route?: string;
  /** Whole header lines, e.g. "Event: message-summary". */
  headers: string[];
  body?: { contentType: string; content: string };
  /** Adds our Contact header (NOTIFY needs one; PUBLISH must not carry one). */
  withContact?: boolean;
  /** Send here instead of resolving the Route / Request-URI (the hop RFC 3263 location chose). */
  hop?: ExplicitHop;
  /**
   * Asked before a digest retry (a 401/407 answered again with our credentials): that is another
   * request on the wire, so it takes a send slot like any other (MwiDelivery.admitAnother).
   * Refused: the request settles as 'not-admitted' and the retry is not sent.
   */
  admitRetry?: AdmitAnother;
}

interface Timing {
  startedAt: number;
  elapsedMs: number;
}

export type SipResult =
  | (Timing & { kind: 'response'; status: number; reason: string; header(name: string): string | undefined })
  | (Timing & { kind: 'timeout' })
  | (Timing & { kind: 'transport-error'; error: MwiError })
  /** A challenge came and its digest retry was refused a send slot (SipRequest.admitRetry): nothing more was sent. */
  | (Timing & { kind: 'not-admitted'; reason: string; retryAt: number });

export interface SipStackStats {
  requests: number;
  responses: number;
  timeouts: number;
  transportErrors: number;
  malformedInbound: number;
  unexpectedRequests: number;
}

export interface SipStackOptions {
  transports: Partial<Record<TransportProtocol, SipTransport>>;
  clock: Clock;
  log: PinoLogger;
  userAgent: string;
  transactionTimeoutMs: number;
  /** Host to put in Via and Contact instead of the bound address (NAT). */
  publicHost?: string;
  auth?: { username: string; password: string };
}

interface Flow {
  transport: SipTransport;
  core: UserAgentCore;
  contact: string;
  viaHost: string;
}

/** The Call-ID of a request we serialised (WireRequest writes it as `Call-ID: `). */
function peekCallId(message: string): string {
  const at = message.indexOf('\r\nCall-ID: ');
  if (at === -1) return '';
  const end = message.indexOf('\r\n', at + 11);
  return message.slice(at + 11, end === -1 ? undefined : end);
}

function hostForUri(host: string): string {
  return host.includes(':') && !host.startsWith('[') ? `[${host}]` : host;
}

/**
 * sip.js's UserAgentClient whose digest retry waits for a send slot. sip.js answers a 401/407
 * within receiveResponse (its authenticationGuard builds the credentials and sends the request
 * again at once); here a challenge first asks `admitRetry`, and only an admitted retry goes on
 * through sip.js's own path. Meanwhile the first transaction ends as usual (the retry is a new
 * one, as in sip.js). A refusal, or the request's deadline passing first, settles the request
 * without a retry.
 */
class GatedUserAgentClient extends UserAgentClient {
  admitRetry: AdmitAnother | undefined;

  override receiveResponse(message: IncomingResponseMessage): void {
    const status = message.statusCode;
    const admit = this.admitRetry;
    // sip.js answers only the first challenge (a second one is final): only that one is gated.
    if ((status !== 401 && status !== 407) || admit === undefined || (this as unknown as { challenged?: boolean }).challenged === true) {
      super.receiveResponse(message);
      return;
    }
    const flight = this.delegate as InFlightRequest;
    admit().then(
      (slot) => {
        if (flight.settled) return; // the deadline passed while waiting
        if (!slot.ok) {
          flight.refuse(slot.reason, slot.retryAt);
          return;
        }
        // Out of the transport's guarded receive path now: whatever sip.js throws settles this request, never the process.
        try {
          super.receiveResponse(message);
        } catch (err) {
          flight.fail(new MwiError(ErrorCodes.SIP_TRANSPORT, `digest retry could not be sent: ${err instanceof Error ? err.message : String(err)}`, { retryable: true, cause: err }));
        }
      },
      (err: unknown) => {
        if (!flight.settled) flight.refuse(`send slot unavailable: ${err instanceof Error ? err.message : String(err)}`);
      },
    );
  }
}

export class SipStack {
  readonly stats: SipStackStats = { requests: 0, responses: 0, timeouts: 0, transportErrors: 0, malformedInbound: 0, unexpectedRequests: 0 };
  readonly #opts: SipStackOptions;
  readonly #flows = new Map<TransportProtocol, Flow>();
  readonly #validUris = new Set<string>();
  /** The route of the last request, checked (one target carries almost every request). */
  #lastRoute: string | undefined;
  readonly #loggerFactory = new LoggerFactory();
  /** Transport errors waiting for the synthetic 503 that sip.js raises for them, by branch. */
  readonly #transportErrors = new Map<string, unknown>();
  /** Explicit hops of requests in flight, by Call-ID (digest retries keep the Call-ID and the hop). */
  readonly #hops = new Map<string, ExplicitHop>();
  readonly #inFlight: InFlightContext;
  #closed = false;

  constructor(opts: SipStackOptions) {
    installStrongBranchIds();
    this.#opts = opts;
    this.#inFlight = {
      clock: opts.clock,
      stats: this.stats,
      transportErrors: this.#transportErrors,
      hops: this.#hops,
      timeouts: new DeadlineList<InFlightRequest>(opts.clock, opts.transactionTimeoutMs, (r) => r.expire()),
    };
    this.#loggerFactory.builtinEnabled = false;
    this.#loggerFactory.level = 1; // warn: sip.js is chatty about every transaction
    this.#loggerFactory.connector = (level, category, _label, content) => {
      // sip.js calls the connector for every level whatever `level` says, and logs several debug
      // lines per transaction: pass on only warnings and errors.
      if (level !== 'warn' && level !== 'error') return;
      opts.log.debug({ sipjs: category, level }, String(content));
    };
    for (const [protocol, transport] of Object.entries(opts.transports) as Array<[TransportProtocol, SipTransport]>) {
      this.#flows.set(protocol, this.#makeFlow(protocol, transport));
    }
  }

  #makeFlow(protocol: TransportProtocol, transport: SipTransport): Flow {
    const host = hostForUri(this.#opts.publicHost ?? transport.localHost);
    const sentBy = transport.localPort > 0 ? `${host}:${transport.localPort}` : host;
    const contactUri = `sip:mwi@${sentBy};transport=${protocol.toLowerCase()}`;
    const contactParsed = parseSipUri(contactUri);
    if (!contactParsed) throw new MwiError(ErrorCodes.URI_INVALID, `not a valid Contact URI: ${contactUri}`);
    const auth = this.#opts.auth;
    const errors = this.#transportErrors;
    const hops = this.#hops;
    // sip.js's transaction layer sees this adapter: it remembers why a send failed so that the
    // synthetic 503 it then produces can be reported as a transport error, not a server 503.
    const adapter: FactsAwareTransport & { protocol: TransportProtocol; send(message: string): Promise<void> } = {
      protocol,
      nextFacts: undefined,
      send: (message: string): Promise<void> => {
        const facts = adapter.nextFacts;
        adapter.nextFacts = undefined;
        return transport.send(message, hops.size === 0 ? undefined : hops.get(peekCallId(message)), facts).catch((err: unknown) => {
          const branch = facts?.branch ?? /;branch=([^;\r\n]+)/.exec(message)?.[1];
          if (branch) errors.set(branch, err);
          throw err;
        });
      },
    };
    const core = new UserAgentCore({
      aor: contactParsed,
      contact: { pubGruu: undefined, tempGruu: undefined, uri: contactParsed, toString: () => `<${contactUri}>` },
      displayName: '',
      loggerFactory: this.#loggerFactory,
      hackViaTcp: false,
      routeSet: [],
      sipjsId: '',
      supportedOptionTags: [],
      supportedOptionTagsResponse: [],
      userAgentHeaderFieldValue: this.#opts.userAgent,
      viaForceRport: true,
      viaHost: sentBy,
      authenticationFactory: () =>
        auth ? new DigestAuthentication(this.#loggerFactory, undefined, auth.username, auth.password) : undefined,
      transportAccessor: () => adapter,
    });
    transport.onMessage = (text, response) => this.#receive(core, text, response);
    return { transport, core, contact: `Contact: <${contactUri}>`, viaHost: sentBy };
  }

  /** `response` is the message already parsed by the transport, when it did. */
  #receive(core: UserAgentCore, text: string, response?: IncomingResponseMessage): void {
    let message = response;
    if (message === undefined) {
      const parsed = parseInbound(text, this.#loggerFactory.getLogger('sip.parser'));
      if (parsed.kind === 'malformed') {
        this.stats.malformedInbound++;
        return;
      }
      if (parsed.kind === 'request') {
        // We are a client only; a stray request (e.g. a NOTIFY for a subscription we never made) is dropped.
        this.stats.unexpectedRequests++;
        return;
      }
      message = parsed.message;
    }
    this.stats.responses++;
    try {
      core.receiveIncomingResponseFromTransport(message);
    } catch (err) {
      this.stats.malformedInbound++;
      this.#opts.log.debug({ err }, 'response rejected by the transaction layer');
    }
  }

  /** Checks a URI once (remembered within a bound); a bad one is an input error, never a crash. */
  #checkUri(text: string): void {
    if (this.#validUris.has(text)) return;
    if (!isSipUri(text)) throw new MwiError(ErrorCodes.URI_INVALID, `not a valid SIP URI: ${JSON.stringify(text)}`);
    if (this.#validUris.size >= 100_000) this.#validUris.clear();
    this.#validUris.add(text);
  }

  /** Client transactions sip.js still holds (a leak shows up here). */
  get inFlightTransactions(): number {
    let n = 0;
    for (const flow of this.#flows.values()) n += flow.core.userAgentClients.size;
    return n;
  }

  /** The transports in use, for counters. */
  get transports(): SipTransport[] {
    return [...this.#flows.values()].map((f) => f.transport);
  }

  /** Sends one non-INVITE request and settles with its final outcome; never rejects for network reasons. */
  request(req: SipRequest): Promise<SipResult> {
    if (this.#closed) return Promise.reject(new MwiError(ErrorCodes.SIP_STACK_CLOSED, 'SIP stack is closed', { retryable: true }));
    const flow = this.#flows.get(req.protocol);
    if (!flow) return Promise.reject(new MwiError(ErrorCodes.SIP_TRANSPORT, `no ${req.protocol} transport configured`));
    // Validate every URI once (cached); the request is then serialised from the checked strings.
    // A PUBLISH carries its AOR three times and every request of a target the same route.
    this.#checkUri(req.requestUri);
    if (req.fromUri !== req.requestUri) this.#checkUri(req.fromUri);
    if (req.toUri !== req.requestUri && req.toUri !== req.fromUri) this.#checkUri(req.toUri);
    if (req.route !== undefined && req.route !== this.#lastRoute) {
      this.#checkUri(req.route);
      this.#lastRoute = req.route;
    }
    const message = new WireRequest({
      method: req.method,
      requestUri: req.requestUri,
      fromUri: req.fromUri,
      toUri: req.toUri,
      route: req.route,
      headers: req.withContact ? [...req.headers, flow.contact] : req.headers,
      body: req.body,
      userAgent: this.#opts.userAgent,
      viaHost: flow.viaHost,
    });
    this.stats.requests++;
    const inFlight = new InFlightRequest(this.#inFlight, flow.transport, req.hop ? message.callId : undefined);
    if (req.hop) this.#hops.set(message.callId, req.hop);
    this.#inFlight.timeouts.add(inFlight);
    try {
      // core.request() is `new UserAgentClient(NonInviteClientTransaction, ...)`; ours ends the transaction without Timer K.
      // Only a stack with credentials answers challenges: only then is there a retry to admit.
      const outgoing = message as unknown as OutgoingRequestMessage;
      if (req.admitRetry !== undefined && this.#opts.auth !== undefined) {
        const uac = new GatedUserAgentClient(PromptNonInviteClientTransaction, flow.core, outgoing, inFlight);
        uac.admitRetry = req.admitRetry;
        inFlight.uac = uac;
      } else {
        inFlight.uac = new UserAgentClient(PromptNonInviteClientTransaction, flow.core, outgoing, inFlight);
      }
    } catch (err) {
      this.#inFlight.timeouts.remove(inFlight);
      this.#hops.delete(message.callId);
      return Promise.reject(err instanceof Error ? err : new Error(String(err)));
    }
    return inFlight.promise;
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    // Requests still in flight keep their deadlines: they settle as timeouts (the list's timer is unref'd).
    for (const flow of this.#flows.values()) flow.core.dispose();
    await Promise.all([...this.#flows.values()].map((f) => f.transport.close()));
  }
}

/** What PUBLISH/NOTIFY/OPTIONS clients need of the stack (tests give them a scripted one). */
export type SipRequester = Pick<SipStack, 'request'>;
