/**
 * A DNS server stand-in on a free 127.0.0.1 port (UDP and TCP) in front of a real one (dnsmasq,
 * test/harness/dnsmasq.ts), with a switchable fault: pass queries through, swallow them, answer
 * NXDOMAIN, or answer with one of several kinds of broken packets. Every UDP query is recorded
 * (time, name, type), so a test can count what reached "the DNS server" while a fault was on.
 *
 * TCP (what a resolver falls back to after a truncated answer) is piped to the upstream in `pass`
 * and closed at once under any fault.
 */
import dgram from 'node:dgram';
import net from 'node:net';

import { freePort } from './ports.ts';

export type DnsFault =
  | 'pass'
  /** No answer at all (a dead or firewalled server): the resolver times out. */
  | 'drop'
  /** A well-formed NXDOMAIN for every name. */
  | 'nxdomain'
  /** The query's ID followed by random bytes. */
  | 'garbage-random'
  /** A TXT record where SRV/A/AAAA was asked. */
  | 'garbage-wrong-type'
  /** TC bit set and no answer: the resolver retries over TCP, which is closed. */
  | 'garbage-truncated'
  /** One answer announced, the packet cut inside it. */
  | 'garbage-cut'
  /** An answer whose name is a compression pointer to itself. */
  | 'garbage-pointer-loop'
  /** An answer claiming 65535 bytes of RDATA, carrying 4. */
  | 'garbage-overlong-rdata'
  /** A valid NXDOMAIN with the wrong ID: ignored, so the resolver times out. */
  | 'garbage-wrong-id';

export const GARBAGE_FAULTS: readonly DnsFault[] = ['garbage-random', 'garbage-wrong-type', 'garbage-truncated', 'garbage-cut', 'garbage-pointer-loop', 'garbage-overlong-rdata', 'garbage-wrong-id'];

export interface DnsQuery {
  atMs: number;
  name: string;
  /** SRV, A, AAAA, NAPTR or the numeric type. */
  type: string;
}

export interface DnsFaultProxy {
  readonly port: number;
  /** "127.0.0.1:PORT", as dns.servers takes it. */
  readonly server: string;
  readonly queries: readonly DnsQuery[];
  setFault(fault: DnsFault): void;
  fault(): DnsFault;
  close(): Promise<void>;
}

const TYPES: Record<number, string> = { 1: 'A', 28: 'AAAA', 33: 'SRV', 35: 'NAPTR' };
const QR = 0x8000;
const AA = 0x0400;
const TC = 0x0200;
const RD = 0x0100;
const RA = 0x0080;

interface Question {
  id: number;
  rd: number;
  name: string;
  type: number;
  /** The question section's bytes (name, type, class). */
  section: Buffer;
}

function parseQuestion(q: Buffer): Question | undefined {
  if (q.length < 17) return undefined;
  const labels: string[] = [];
  let at = 12;
  while (at < q.length) {
    const len = q[at] ?? 0;
    if (len === 0) break;
    if (len > 63 || at + 1 + len > q.length) return undefined;
    labels.push(q.toString('latin1', at + 1, at + 1 + len));
    at += 1 + len;
  }
  if (at + 5 > q.length) return undefined;
  return { id: q.readUInt16BE(0), rd: q.readUInt16BE(2) & RD, name: labels.join('.').toLowerCase(), type: q.readUInt16BE(at + 1), section: q.subarray(12, at + 5) };
}

function header(id: number, flags: number, an: number): Buffer {
  const h = Buffer.alloc(12);
  h.writeUInt16BE(id & 0xffff, 0);
  h.writeUInt16BE(flags, 2);
  h.writeUInt16BE(1, 4);
  h.writeUInt16BE(an, 6);
  return h;
}

/** One resource record: name (a pointer or raw bytes), type, class IN, TTL 60, RDATA. */
function record(name: Buffer, type: number, rdlength: number, rdata: Buffer): Buffer {
  const fixed = Buffer.alloc(10);
  fixed.writeUInt16BE(type, 0);
  fixed.writeUInt16BE(1, 2);
  fixed.writeUInt32BE(60, 4);
  fixed.writeUInt16BE(rdlength, 8);
  return Buffer.concat([name, fixed, rdata]);
}

const POINTER_TO_QUESTION = Buffer.from([0xc0, 0x0c]);

function garbage(fault: DnsFault, q: Question, random: () => number): Buffer | undefined {
  const ok = QR | AA | RA | q.rd;
  switch (fault) {
    case 'nxdomain':
      return Buffer.concat([header(q.id, ok | 3, 0), q.section]);
    case 'garbage-random': {
      const junk = Buffer.alloc(10 + Math.floor(random() * 300));
      for (let i = 0; i < junk.length; i++) junk[i] = Math.floor(random() * 256);
      junk.writeUInt16BE(q.id, 0);
      return junk;
    }
    case 'garbage-wrong-type':
      return Buffer.concat([header(q.id, ok, 1), q.section, record(POINTER_TO_QUESTION, 16, 6, Buffer.from('\x05hello', 'latin1'))]);
    case 'garbage-truncated':
      return Buffer.concat([header(q.id, ok | TC, 0), q.section]);
    case 'garbage-cut': {
      const full = Buffer.concat([header(q.id, ok, 1), q.section, record(POINTER_TO_QUESTION, q.type, 4, Buffer.from([127, 0, 0, 1]))]);
      return full.subarray(0, 12 + q.section.length + 5);
    }
    case 'garbage-pointer-loop': {
      const at = 12 + q.section.length;
      return Buffer.concat([header(q.id, ok, 1), q.section, record(Buffer.from([0xc0 | (at >> 8), at & 0xff]), q.type, 4, Buffer.from([127, 0, 0, 1]))]);
    }
    case 'garbage-overlong-rdata':
      return Buffer.concat([header(q.id, ok, 1), q.section, record(POINTER_TO_QUESTION, q.type, 0xffff, Buffer.from([127, 0, 0, 1]))]);
    case 'garbage-wrong-id':
      return Buffer.concat([header(q.id ^ 0x5a5a, ok | 3, 0), q.section]);
    default:
      return undefined;
  }
}

export async function startDnsFaultProxy(upstream: { host: string; port: number }, random: () => number = Math.random): Promise<DnsFaultProxy> {
  const host = '127.0.0.1';
  const port = await freePort({ host });
  let fault: DnsFault = 'pass';
  const queries: DnsQuery[] = [];
  const waiting = new Map<number, { address: string; port: number }>();

  const front = dgram.createSocket('udp4');
  const back = dgram.createSocket('udp4');
  front.on('error', () => {});
  back.on('error', () => {});
  front.on('message', (msg, rinfo) => {
    const q = parseQuestion(msg);
    queries.push({ atMs: Date.now(), name: q?.name ?? '?', type: q === undefined ? '?' : (TYPES[q.type] ?? String(q.type)) });
    if (q === undefined || fault === 'drop') return;
    if (fault === 'pass') {
      waiting.set(q.id, { address: rinfo.address, port: rinfo.port });
      back.send(msg, upstream.port, upstream.host);
      return;
    }
    const answer = garbage(fault, q, random);
    if (answer !== undefined) front.send(answer, rinfo.port, rinfo.address);
  });
  back.on('message', (msg) => {
    if (msg.length < 2) return;
    const client = waiting.get(msg.readUInt16BE(0));
    if (client === undefined) return;
    waiting.delete(msg.readUInt16BE(0));
    front.send(msg, client.port, client.address);
  });
  await new Promise<void>((resolve) => front.bind(port, host, resolve));
  await new Promise<void>((resolve) => back.bind(0, host, resolve));

  const tcp = net.createServer((socket) => {
    socket.on('error', () => {});
    if (fault !== 'pass') {
      socket.destroy();
      return;
    }
    const up = net.connect({ host: upstream.host, port: upstream.port });
    up.on('error', () => socket.destroy());
    socket.pipe(up).pipe(socket);
  });
  await new Promise<void>((resolve) => tcp.listen(port, host, resolve));

  return {
    port,
    server: `${host}:${port}`,
    queries,
    setFault: (f) => {
      fault = f;
    },
    fault: () => fault,
    close: () =>
      Promise.all([
        new Promise<void>((resolve) => front.close(() => resolve())),
        new Promise<void>((resolve) => back.close(() => resolve())),
        new Promise<void>((resolve) => tcp.close(() => resolve())),
      ]).then(() => undefined),
  };
}
