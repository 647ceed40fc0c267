/** An in-memory SipTransport for stack tests: records what is sent, lets the test inject replies. */
import type { ExplicitHop, RequestFacts, SipTransport, TransportProtocol, TransportStats } from '../../src/sip/transport/transport.ts';
import { peekFirstRoute, peekHeader, peekMethod, peekRequestUri, peekTopViaBranch } from '../../src/sip/wire.ts';

export class FakeTransport implements SipTransport {
  readonly protocol: TransportProtocol;
  readonly localHost = '127.0.0.1';
  readonly localPort = 5099;
  readonly stats: TransportStats = { sent: 0, received: 0, retransmissions: 0, malformed: 0, oversized: 0, connects: 0, connectFailures: 0 };
  onMessage: ((message: string) => void) | undefined;
  readonly sent: string[] = [];
  /** The explicit hop of each sent message (undefined: the transport would resolve the message's own next hop). */
  readonly hops: Array<ExplicitHop | undefined> = [];
  /** The facts the stack handed over with each sent message (each checked against the text). */
  readonly facts: Array<RequestFacts | undefined> = [];
  failWith: Error | undefined;

  constructor(protocol: TransportProtocol = 'UDP') {
    this.protocol = protocol;
  }

  send(message: string, hop?: ExplicitHop, facts?: RequestFacts): Promise<void> {
    if (facts !== undefined) {
      const read = { method: peekMethod(message), branch: peekTopViaBranch(message), nextHopUri: peekFirstRoute(message) ?? peekRequestUri(message) };
      const given = { method: facts.method, branch: facts.branch, nextHopUri: facts.nextHopUri };
      if (JSON.stringify(read) !== JSON.stringify(given)) return Promise.reject(new Error(`facts ${JSON.stringify(given)} do not describe the message (${JSON.stringify(read)})`));
    }
    this.facts.push(facts && { method: facts.method, branch: facts.branch, nextHopUri: facts.nextHopUri });
    if (this.failWith) return Promise.reject(this.failWith);
    this.sent.push(message);
    this.hops.push(hop);
    this.stats.sent++;
    return Promise.resolve();
  }

  deliver(text: string): void {
    this.stats.received++;
    this.onMessage?.(text);
  }

  close(): Promise<void> {
    return Promise.resolve();
  }
}

/** Builds a response to a request as a UAS would (Via, From, To with tag, Call-ID, CSeq copied). */
export function responseTo(request: string, status: number, reason: string, extraHeaders: string[] = [], body = ''): string {
  const h = (n: string) => peekHeader(request, n) ?? '';
  const to = h('To');
  const lines = [
    `SIP/2.0 ${status} ${reason}`,
    `Via: ${h('Via')}`,
    `From: ${h('From')}`,
    `To: ${to.includes(';tag=') ? to : `${to};tag=uas1`}`,
    `Call-ID: ${h('Call-ID')}`,
    `CSeq: ${h('CSeq')}`,
    ...extraHeaders,
    `Content-Length: ${Buffer.byteLength(body)}`,
    '',
    body,
  ];
  return lines.join('\r\n');
}
