/**
 * A presence server stand-in on one free loopback port, UDP and TCP, that answers PUBLISH the way
 * Kamailio does (see /work/shared/notes/kamailio-presence.md): an initial PUBLISH adds a
 * publication with a new ETag (a second initial one for the same AOR coexists with the first), a
 * modify with a known SIP-If-Match replaces that publication under a new ETag, an unknown one gets
 * 412; OPTIONS gets 200. Every answer is counted per transport, so a test that also writes junk
 * into the same sockets (`sendUdp`, `writeTcp`) knows exactly how many real responses went out.
 *
 * TCP requests are framed with the product's StreamFramer; a connection the test `poison`ed (it
 * wrote bytes that break framing) gets no more answers, since the runner will not read them.
 */
import dgram from 'node:dgram';
import net from 'node:net';

import { parseSipRequest } from '../../src/demo/presence-simulator.ts';
import { StreamFramer } from '../../src/sip/transport/framer.ts';
import { freePort } from './ports.ts';

export interface PeerPublication {
  etag: string;
  body: string;
}

export interface PublishPeer {
  readonly port: number;
  readonly udpUri: string;
  readonly tcpUri: string;
  /** Publications per Request-URI (the mailbox). */
  readonly publications: ReadonlyMap<string, readonly PeerPublication[]>;
  /** Responses sent, per transport. */
  readonly answered: { udp: number; tcp: number };
  /** Requests that could not be parsed (nothing is answered). */
  readonly unreadable: number;
  /** Where the runner's UDP requests come from (the last one seen). */
  udpClient(): { address: string; port: number } | undefined;
  /** Open TCP connections from the runner that are not poisoned. */
  tcpClients(): net.Socket[];
  sendUdp(datagrams: readonly Buffer[], to: { address: string; port: number }): void;
  /** Marks a connection as about to break: no more answers on it. */
  poison(socket: net.Socket): void;
  close(): Promise<void>;
}

let etagSeq = 0;
const MAX_TRANSACTIONS = 50_000;

function header(req: NonNullable<ReturnType<typeof parseSipRequest>>, name: string): string | undefined {
  return req.headers.get(name)?.[0];
}

export async function startPublishPeer(): Promise<PublishPeer> {
  const host = '127.0.0.1';
  const port = await freePort({ host });
  const publications = new Map<string, PeerPublication[]>();
  const answered = { udp: 0, tcp: 0 };
  let unreadable = 0;
  let lastUdpClient: { address: string; port: number } | undefined;
  const connections = new Set<net.Socket>();
  const transactions = new Map<string, string>();
  const poisoned = new WeakSet<net.Socket>();

  const respond = (req: NonNullable<ReturnType<typeof parseSipRequest>>, status: number, extra: string[]): string => {
    const to = header(req, 'to') ?? '';
    const lines = [`SIP/2.0 ${status} ${status === 200 ? 'OK' : status === 412 ? 'Conditional Request Failed' : 'Bad Request'}`];
    for (const via of req.headers.get('via') ?? []) lines.push(`Via: ${via}`);
    lines.push(`From: ${header(req, 'from') ?? ''}`, /;\s*tag=/i.test(to) ? `To: ${to}` : `To: ${to};tag=peer`);
    lines.push(`Call-ID: ${header(req, 'call-id') ?? ''}`, `CSeq: ${header(req, 'cseq') ?? ''}`, ...extra, 'Content-Length: 0', '', '');
    return lines.join('\r\n');
  };

  const answer = (buf: Buffer): string | undefined => {
    const req = parseSipRequest(buf);
    if (req === undefined || !req.headers.get('via')) {
      unreadable++;
      return undefined;
    }
    // A retransmission gets the first answer again, as from a server transaction (RFC 3261 17.2.2).
    const key = `${/;branch=([^;,\s]+)/.exec(req.headers.get('via')?.[0] ?? '')?.[1] ?? ''}|${req.method}`;
    const seen = transactions.get(key);
    if (seen !== undefined) return seen;
    const response = answerNew(req);
    transactions.set(key, response);
    if (transactions.size > MAX_TRANSACTIONS) transactions.delete(transactions.keys().next().value ?? '');
    return response;
  };

  const answerNew = (req: NonNullable<ReturnType<typeof parseSipRequest>>): string => {
    if (req.method === 'OPTIONS') return respond(req, 200, []);
    if (req.method !== 'PUBLISH') return respond(req, 400, []);
    const list = publications.get(req.uri) ?? [];
    const ifMatch = header(req, 'sip-if-match');
    const etag = `peer${(++etagSeq).toString(36)}`;
    if (ifMatch === undefined) {
      list.push({ etag, body: req.body });
    } else {
      const i = list.findIndex((p) => p.etag === ifMatch);
      if (i === -1) return respond(req, 412, []);
      list[i] = { etag, body: req.body.length > 0 ? req.body : (list[i]?.body ?? '') };
    }
    publications.set(req.uri, list);
    return respond(req, 200, [`SIP-ETag: ${etag}`, `Expires: ${header(req, 'expires') ?? '3600'}`]);
  };

  const udp = dgram.createSocket('udp4');
  udp.on('error', () => {});
  udp.on('message', (buf, rinfo) => {
    lastUdpClient = { address: rinfo.address, port: rinfo.port };
    const response = answer(buf);
    if (response === undefined) return;
    answered.udp++;
    udp.send(response, rinfo.port, rinfo.address);
  });
  await new Promise<void>((resolve) => udp.bind(port, host, resolve));
  udp.setSendBufferSize(4 * 1024 * 1024);

  const server = net.createServer((socket) => {
    connections.add(socket);
    const framer = new StreamFramer(65_535);
    socket.on('data', (chunk) => {
      for (const frame of framer.feed(chunk)) {
        if (frame.kind !== 'message') continue;
        const response = answer(Buffer.from(frame.text, 'utf8'));
        if (response === undefined || poisoned.has(socket) || socket.destroyed) continue;
        answered.tcp++;
        socket.write(response);
      }
    });
    socket.on('error', () => {});
    socket.on('close', () => connections.delete(socket));
  });
  await new Promise<void>((resolve) => server.listen(port, host, resolve));

  return {
    port,
    udpUri: `sip:${host}:${port};transport=udp`,
    tcpUri: `sip:${host}:${port};transport=tcp`,
    publications,
    answered,
    get unreadable() {
      return unreadable;
    },
    udpClient: () => lastUdpClient,
    tcpClients: () => [...connections].filter((s) => !poisoned.has(s) && !s.destroyed),
    sendUdp(datagrams, to) {
      for (const d of datagrams) udp.send(d, to.port, to.address);
    },
    poison(socket) {
      poisoned.add(socket);
    },
    async close() {
      for (const s of connections) s.destroy();
      await Promise.all([new Promise<void>((resolve) => server.close(() => resolve())), new Promise<void>((resolve) => udp.close(() => resolve()))]);
    },
  };
}
