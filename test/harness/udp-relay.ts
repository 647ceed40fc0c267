/**
 * A SIP-unaware UDP relay on a free loopback port in front of a presence server, recording what
 * the runner sends it: the arrival time, method and top-Via branch of every request. Tests use it
 * to see exactly what reached the server while it was hung (a SIGSTOPped Kamailio cannot tell),
 * how many new transactions started per second, and which were retransmissions.
 *
 * Requests go to the upstream from one relay socket; responses come back to it and are returned
 * to whoever sent the request with that branch (the server answers the relay, per rport).
 */
import dgram from 'node:dgram';

export interface RelayedRequest {
  atMs: number;
  method: string;
  branch: string;
  /** False for a retransmission (a branch seen before). */
  first: boolean;
}

export interface UdpRelay {
  readonly port: number;
  /** sip:127.0.0.1:PORT;transport=udp */
  readonly uri: string;
  readonly requests: readonly RelayedRequest[];
  /** New transactions (first transmissions) of `method` per whole second in [fromMs, toMs). */
  perSecond(method: string, fromMs: number, toMs: number): number[];
  close(): Promise<void>;
}

function branchOf(text: string): string {
  return /\r\n(?:Via|v):[^\r\n]*?;branch=([^;\r\n,]+)/i.exec(text)?.[1] ?? '';
}

export async function startUdpRelay(upstream: { host: string; port: number }): Promise<UdpRelay> {
  const front = dgram.createSocket('udp4');
  const back = dgram.createSocket('udp4');
  const requests: RelayedRequest[] = [];
  const seen = new Set<string>();
  const clients = new Map<string, { address: string; port: number }>();

  front.on('message', (msg, rinfo) => {
    const text = msg.toString('latin1');
    if (text.startsWith('SIP/2.0 ')) return; // a response sent to the front: not ours to relay
    const method = text.slice(0, text.indexOf(' '));
    const branch = branchOf(text);
    const first = !seen.has(branch);
    seen.add(branch);
    requests.push({ atMs: Date.now(), method, branch, first });
    clients.set(branch, { address: rinfo.address, port: rinfo.port });
    back.send(msg, upstream.port, upstream.host);
  });
  back.on('message', (msg) => {
    const client = clients.get(branchOf(msg.toString('latin1')));
    if (client) front.send(msg, client.port, client.address);
  });
  front.on('error', () => {});
  back.on('error', () => {});
  await new Promise<void>((resolve) => front.bind(0, '127.0.0.1', resolve));
  await new Promise<void>((resolve) => back.bind(0, '127.0.0.1', resolve));
  for (const s of [front, back]) {
    s.setRecvBufferSize(4 * 1024 * 1024);
    s.setSendBufferSize(4 * 1024 * 1024);
  }
  const port = front.address().port;
  return {
    port,
    uri: `sip:127.0.0.1:${port};transport=udp`,
    requests,
    perSecond(method, fromMs, toMs) {
      const out = new Array<number>(Math.max(0, Math.ceil((toMs - fromMs) / 1000))).fill(0);
      for (const r of requests) {
        if (r.first && r.method === method && r.atMs >= fromMs && r.atMs < toMs) {
          const i = Math.floor((r.atMs - fromMs) / 1000);
          out[i] = (out[i] ?? 0) + 1;
        }
      }
      return out;
    },
    close: () =>
      Promise.all([new Promise<void>((resolve) => front.close(() => resolve())), new Promise<void>((resolve) => back.close(() => resolve()))]).then(() => undefined),
  };
}
