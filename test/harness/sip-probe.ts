/**
 * A tiny one-shot SIP-over-UDP client for harness readiness probes and smoke tests: build a
 * request by hand, send it from an ephemeral socket, wait (bounded) for the final response.
 * Deliberately independent of src/ so the harness can check servers without the code under test.
 */
import { randomBytes } from 'node:crypto';
import dgram from 'node:dgram';
import net from 'node:net';

export interface SipResponse {
  status: number;
  reason: string;
  raw: string;
  /** First value of a header (case-insensitive name), trimmed. */
  header(name: string): string | undefined;
}

export function parseResponse(raw: string): SipResponse | undefined {
  const m = /^SIP\/2\.0 (\d{3}) ?([^\r\n]*)\r\n/.exec(raw);
  if (!m) return undefined;
  const headEnd = raw.indexOf('\r\n\r\n');
  const lines = raw.slice(0, headEnd === -1 ? undefined : headEnd).split('\r\n').slice(1);
  return {
    status: Number(m[1]),
    reason: m[2] ?? '',
    raw,
    header(name) {
      const lower = name.toLowerCase();
      for (const line of lines) {
        const colon = line.indexOf(':');
        if (colon > 0 && line.slice(0, colon).trim().toLowerCase() === lower) return line.slice(colon + 1).trim();
      }
      return undefined;
    },
  };
}

export interface RequestSpec {
  method: string;
  /** Request-URI, e.g. sip:alice@mwi.test */
  uri: string;
  /** Local address for Via (the socket's, filled in by the sender). */
  via: { host: string; port: number; transport?: 'UDP' | 'TCP' };
  from?: string;
  to?: string;
  callId?: string;
  cseq?: number;
  /** Extra headers, in order, e.g. [['Event', 'message-summary']]. */
  headers?: ReadonlyArray<readonly [string, string]>;
  body?: string;
}

function token(): string {
  return randomBytes(8).toString('hex');
}

function hostPort(host: string, port: number): string {
  return `${net.isIPv6(host) ? `[${host}]` : host}:${port}`;
}

export function buildRequest(spec: RequestSpec): string {
  const body = spec.body ?? '';
  const lines = [
    `${spec.method} ${spec.uri} SIP/2.0`,
    `Via: SIP/2.0/${spec.via.transport ?? 'UDP'} ${hostPort(spec.via.host, spec.via.port)};branch=z9hG4bK${token()};rport`,
    'Max-Forwards: 70',
    `From: ${spec.from ?? `<${spec.uri}>`};tag=${token()}`,
    `To: ${spec.to ?? `<${spec.uri}>`}`,
    `Call-ID: ${spec.callId ?? `${token()}@harness`}`,
    `CSeq: ${spec.cseq ?? 1} ${spec.method}`,
    ...(spec.headers ?? []).map(([name, value]) => `${name}: ${value}`),
    `Content-Length: ${Buffer.byteLength(body)}`,
    '',
    body,
  ];
  return lines.join('\r\n');
}

export interface UdpRequestOptions {
  host: string;
  port: number;
  /** Builds the message once the local port is known. */
  build: (local: { host: string; port: number }) => string;
  timeoutMs?: number;
}

export interface UdpSipClient {
  /** The socket's address, for Via. */
  readonly local: { host: string; port: number };
  /**
   * Send a request and resolve with the first final (>= 200) response with the same Call-ID and
   * CSeq, or undefined after `timeoutMs`. No retransmissions: loopback does not lose datagrams
   * unless the server is stopped or overloaded, which is what probes want to see.
   */
  request(message: string, to: { host: string; port: number }, timeoutMs?: number): Promise<SipResponse | undefined>;
  close(): void;
}

function transactionKey(text: string): string {
  const head = text.slice(0, text.indexOf('\r\n\r\n') + 2);
  const callId = /\r\n(?:call-id|i)\s*:\s*([^\r\n]+)/i.exec(head)?.[1]?.trim() ?? '';
  const cseq = /\r\ncseq\s*:\s*([^\r\n]+)/i.exec(head)?.[1]?.trim().replace(/\s+/g, ' ') ?? '';
  return `${callId}|${cseq}`;
}

/**
 * One UDP socket for several requests. Needed for multi-step SIPp scenarios (401, 423): SIPp
 * answers every message of a call at the source address of the call's FIRST message, so a
 * retry sent from another socket gets its answer sent elsewhere.
 */
export async function openUdpClient(host = '127.0.0.1'): Promise<UdpSipClient> {
  const socket = dgram.createSocket(net.isIPv6(host) ? 'udp6' : 'udp4');
  const pending = new Map<string, (response: SipResponse) => void>();
  socket.on('message', (buf) => {
    const text = buf.toString('utf8');
    const response = parseResponse(text);
    if (!response || response.status < 200) return;
    pending.get(transactionKey(text))?.(response);
  });
  await new Promise<void>((resolve, reject) => {
    socket.once('error', reject);
    socket.bind(0, host, () => {
      socket.removeListener('error', reject);
      resolve();
    });
  });
  socket.on('error', () => {
    // ICMP errors on an unconnected socket: the request simply times out
  });
  let closed = false;
  return {
    local: { host, port: socket.address().port },
    request(message, to, timeoutMs = 1000) {
      const key = transactionKey(message);
      return new Promise((resolve, reject) => {
        const timer = setTimeout(() => {
          pending.delete(key);
          resolve(undefined);
        }, timeoutMs);
        pending.set(key, (response) => {
          clearTimeout(timer);
          pending.delete(key);
          resolve(response);
        });
        socket.send(message, to.port, to.host, (err) => {
          if (!err) return;
          clearTimeout(timer);
          pending.delete(key);
          reject(err);
        });
      });
    },
    close() {
      if (closed) return;
      closed = true;
      socket.close();
    },
  };
}

/** Send one request from a fresh UDP socket; see UdpSipClient.request. */
export async function sendUdpRequest(options: UdpRequestOptions): Promise<SipResponse | undefined> {
  const client = await openUdpClient(options.host);
  try {
    return await client.request(options.build(client.local), options, options.timeoutMs);
  } finally {
    client.close();
  }
}

/**
 * Send one request over a fresh TCP connection and resolve with the first final response
 * (framed by Content-Length), or undefined on timeout. The connection is closed afterwards.
 */
export function sendTcpRequest(options: UdpRequestOptions): Promise<SipResponse | undefined> {
  const timeoutMs = options.timeoutMs ?? 1000;
  return new Promise((resolve, reject) => {
    const socket = net.connect({ host: options.host, port: options.port });
    let buffer = '';
    let settled = false;
    const finish = (value: SipResponse | undefined, err?: Error): void => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      socket.destroy();
      if (err) reject(err);
      else resolve(value);
    };
    const timer = setTimeout(() => finish(undefined), timeoutMs);
    socket.once('error', (err) => finish(undefined, err));
    socket.once('connect', () => {
      socket.write(options.build({ host: options.host, port: socket.localPort ?? 0 }));
    });
    socket.on('data', (chunk) => {
      buffer += chunk.toString('utf8');
      for (;;) {
        buffer = buffer.replace(/^(\r\n)+/, ''); // keep-alive CRLFs
        const headEnd = buffer.indexOf('\r\n\r\n');
        if (headEnd === -1) return;
        const length = Number(/\r\n(?:content-length|l)\s*:\s*(\d+)/i.exec(buffer.slice(0, headEnd + 2))?.[1] ?? 0);
        const total = headEnd + 4 + length;
        if (buffer.length < total) return;
        const response = parseResponse(buffer.slice(0, total));
        buffer = buffer.slice(total);
        if (response && response.status >= 200) {
          finish(response);
          return;
        }
      }
    });
  });
}

/** OPTIONS probe: the final status code, or undefined on timeout. */
export async function optionsPing(host: string, port: number, timeoutMs = 500): Promise<number | undefined> {
  const response = await sendUdpRequest({
    host,
    port,
    timeoutMs,
    build: (local) => buildRequest({ method: 'OPTIONS', uri: `sip:ping@${hostPort(host, port)}`, via: local }),
  });
  return response?.status;
}

export interface PublishSpec {
  host: string;
  port: number;
  user: string;
  domain: string;
  body?: string;
  etag?: string;
  expiresSec?: number;
  event?: string;
  callId?: string;
  cseq?: number;
  timeoutMs?: number;
}

/** One PUBLISH of application/simple-message-summary over UDP (initial without etag, modify with). */
export function publishUdp(spec: PublishSpec): Promise<SipResponse | undefined> {
  const headers: Array<[string, string]> = [
    ['Event', spec.event ?? 'message-summary'],
    ['Expires', String(spec.expiresSec ?? 3600)],
  ];
  if (spec.etag !== undefined) headers.push(['SIP-If-Match', spec.etag]);
  if (spec.body !== undefined) headers.push(['Content-Type', 'application/simple-message-summary']);
  return sendUdpRequest({
    host: spec.host,
    port: spec.port,
    timeoutMs: spec.timeoutMs,
    build: (local) =>
      buildRequest({
        method: 'PUBLISH',
        uri: `sip:${spec.user}@${spec.domain}`,
        via: local,
        callId: spec.callId,
        cseq: spec.cseq,
        headers,
        body: spec.body,
      }),
  });
}
