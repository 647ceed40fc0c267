/**
 * The floor reference for the end-to-end benchmark: the least a Node process must do to deliver
 * mailboxes from Redis to a UAS with ioredis and dgram, and nothing more. A yardstick, not a
 * product: what ours costs above it is what ours does that this does not.
 *
 * Per batch of due mailboxes: one ZPOPMIN takes them (no lease: a crash would lose them), one
 * pipeline of HMGET reads their desired state and ETag. Per mailbox: one PUBLISH written as one
 * template string (no transaction layer: no retransmission, no Timer F, no URI checks), sent on
 * one dgram socket; the final response is matched by Call-ID and its SIP-ETag read by indexOf.
 * Per event-loop turn: one pipeline of plain HSETs records the delivered version and ETag (no
 * fence against a newer update, no outcome, no attempt count, no Lua). No rate gate, no breaker,
 * no BullMQ. A request whose response is lost is not retried: the run ends once nothing has
 * moved for a second and counts it as lost.
 */
import dgram from 'node:dgram';
import { performance } from 'node:perf_hooks';
import { Redis } from 'ioredis';
import { encodeMessageSummary, type MessageSummary } from '../../src/mwi/message-summary.ts';

export interface FloorOptions {
  redisUrl: string;
  target: { host: string; port: number };
  /** Deliveries in flight at most (ours: delivery.concurrency). */
  concurrency: number;
  /** Key prefix of this run's hashes and dirty set. */
  prefix: string;
}

export interface FloorRun {
  delivered: number;
  /** Requests without a final response when the run ended. */
  lost: number;
  elapsedMs: number;
  /** CPU (user + system) of this process during the run. */
  cpuMs: number;
}

const SEED_BATCH = 1_000;
/** The run ends when nothing was delivered for this long and nothing is being taken. */
const QUIET_MS = 1_000;

function mailboxKey(prefix: string, mailbox: string): string {
  return `${prefix}:mb:${mailbox}`;
}

/** Writes `mailboxes` as dirty, with the same desired-state JSON ours stores. Not timed. */
export async function seedFloor(opts: FloorOptions, mailboxes: ReadonlyArray<{ mailbox: string; summary: MessageSummary }>): Promise<void> {
  const redis = new Redis(opts.redisUrl);
  try {
    for (let b = 0; b < mailboxes.length; b += SEED_BATCH) {
      const pipeline = redis.pipeline();
      const members: Array<string | number> = [];
      for (const { mailbox, summary } of mailboxes.slice(b, b + SEED_BATCH)) {
        pipeline.hset(mailboxKey(opts.prefix, mailbox), 'dv', '1', 'ds', JSON.stringify({ summary }));
        members.push(0, mailbox);
      }
      pipeline.zadd(`${opts.prefix}:dirty`, ...members);
      await pipeline.exec();
    }
  } finally {
    await redis.quit();
  }
}

/** Delivers every mailbox seedFloor wrote under `opts.prefix`; resolves once none is left in flight. */
export async function runFloor(opts: FloorOptions): Promise<FloorRun> {
  const redis = new Redis(opts.redisUrl);
  const socket = dgram.createSocket('udp4');
  await new Promise<void>((resolve) => socket.bind(0, '127.0.0.1', resolve));
  const localPort = socket.address().port;
  const dirty = `${opts.prefix}:dirty`;
  const lowWater = Math.max(1, Math.floor(opts.concurrency / 4));
  const inFlight = new Map<string, string>();
  let free = opts.concurrency;
  let taking = false;
  let sequence = 0;
  let delivered = 0;
  let records: string[] = [];
  let recording = 0;
  let lastDeliveredAt = 0;
  const t0 = performance.now();
  const cpu0 = process.cpuUsage();
  /** Ends the run with the error of a Redis call (set once the run's promise exists). */
  let fail: (err: unknown) => void = () => undefined;

  const publish = (mailbox: string, summary: MessageSummary, etag: string | null): void => {
    const id = String(sequence++);
    inFlight.set(id, mailbox);
    const body = encodeMessageSummary(summary, mailbox);
    socket.send(
      `PUBLISH ${mailbox} SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:${localPort};rport;branch=z9hG4bKfloor${id}\r\nMax-Forwards: 70\r\n` +
        `To: <${mailbox}>\r\nFrom: <${mailbox}>;tag=floor${id}\r\nCall-ID: ${id}@floor\r\nCSeq: 1 PUBLISH\r\nEvent: message-summary\r\nExpires: 3600\r\n` +
        `${etag === null ? '' : `SIP-If-Match: ${etag}\r\n`}Content-Type: application/simple-message-summary\r\nContent-Length: ${Buffer.byteLength(body)}\r\n\r\n${body}`,
      opts.target.port,
      opts.target.host,
    );
  };

  const take = (): void => {
    if (taking || free < lowWater) return;
    taking = true;
    const want = free;
    free = 0;
    void (async () => {
      const popped = await redis.zpopmin(dirty, want);
      const mailboxes: string[] = [];
      for (let i = 0; i < popped.length; i += 2) mailboxes.push(popped[i] as string);
      free += want - mailboxes.length;
      if (mailboxes.length > 0) {
        const pipeline = redis.pipeline();
        for (const mailbox of mailboxes) pipeline.hmget(mailboxKey(opts.prefix, mailbox), 'ds', 'etag');
        const replies = (await pipeline.exec()) ?? [];
        for (let i = 0; i < mailboxes.length; i++) {
          const [ds, etag] = (replies[i]?.[1] ?? [null, null]) as [string | null, string | null];
          publish(mailboxes[i] as string, (JSON.parse(ds ?? '{}') as { summary: MessageSummary }).summary, etag);
        }
      }
      taking = false;
    })().catch((err: unknown) => fail(err));
  };

  const record = (): void => {
    const batch = records;
    records = [];
    const pipeline = redis.pipeline();
    for (let i = 0; i < batch.length; i += 2) pipeline.hset(mailboxKey(opts.prefix, batch[i] as string), 'xv', '1', 'etag', batch[i + 1] as string);
    recording++;
    void pipeline.exec().then(() => {
      recording--;
      lastDeliveredAt = performance.now();
      delivered += batch.length / 2;
      free += batch.length / 2;
      take();
    }, fail);
  };

  socket.on('message', (message) => {
    const text = message.toString('latin1');
    if (!text.startsWith('SIP/2.0 2')) return;
    const at = text.indexOf('\r\nCall-ID: ') + 11;
    const id = text.slice(at, text.indexOf('@', at));
    const mailbox = inFlight.get(id);
    if (mailbox === undefined) return;
    inFlight.delete(id);
    const etagAt = text.indexOf('\r\nSIP-ETag: ');
    const etag = etagAt === -1 ? '' : text.slice(etagAt + 12, text.indexOf('\r\n', etagAt + 12));
    if (records.length === 0) setImmediate(record);
    records.push(mailbox, etag);
  });

  try {
    await new Promise<void>((resolve, reject) => {
      let seen = -1;
      let quietSince = performance.now();
      const watch = setInterval(() => {
        if (delivered !== seen || taking || recording > 0) {
          seen = delivered;
          quietSince = performance.now();
          return;
        }
        if (inFlight.size === 0 || performance.now() - quietSince >= QUIET_MS) {
          clearInterval(watch);
          resolve();
        }
      }, 50);
      fail = (err) => {
        clearInterval(watch);
        reject(err instanceof Error ? err : new Error(String(err)));
      };
      take();
    });
    const cpu = process.cpuUsage(cpu0);
    // Until the last record: the quiet time spent waiting for lost responses is not delivery time.
    return { delivered, lost: inFlight.size, elapsedMs: lastDeliveredAt - t0, cpuMs: (cpu.user + cpu.system) / 1000 };
  } finally {
    socket.close();
    await redis.quit();
  }
}
