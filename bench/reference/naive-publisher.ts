/**
 * The naive reference for the end-to-end benchmark: what a first implementation would do.
 * One BullMQ job per event, each calling a sip.js `Publisher` (one per mailbox, its own refresh,
 * ETag and 412 handling) through a sip.js `UserAgent`. No coalescing, no per-mailbox
 * serialisation, no completion signal: `Publisher.publish()` resolves when the request is handed
 * to the transport. It runs over our UDP transport, since sip.js ships none for Node.
 */
import { Queue, Worker } from 'bullmq';
import { Redis } from 'ioredis';
import { EmitterImpl, Publisher, TransportState, UserAgent } from 'sip.js/lib/api/index.js';
import type { Transport } from 'sip.js/lib/api/index.js';
import { systemClock } from '../../src/clock.ts';
import { encodeMessageSummary, type MessageSummary } from '../../src/mwi/message-summary.ts';
import { UdpTransport } from '../../src/sip/transport/udp.ts';

/** sip.js's API-level Transport over an already bound UdpTransport. */
class UdpApiTransport implements Transport {
  readonly protocol = 'UDP';
  state = TransportState.Disconnected;
  readonly stateChange = new EmitterImpl<TransportState>();
  onConnect: (() => void) | undefined;
  onDisconnect: ((error?: Error) => void) | undefined;
  onMessage: ((message: string) => void) | undefined;
  readonly #udp: UdpTransport;

  constructor(_logger: unknown, options: { udp: UdpTransport }) {
    this.#udp = options.udp;
    this.#udp.onMessage = (m) => this.onMessage?.(m);
  }
  connect(): Promise<void> {
    this.state = TransportState.Connected;
    this.stateChange.emit(this.state);
    this.onConnect?.();
    return Promise.resolve();
  }
  disconnect(): Promise<void> {
    this.state = TransportState.Disconnected;
    this.stateChange.emit(this.state);
    return Promise.resolve();
  }
  dispose(): Promise<void> {
    return this.#udp.close();
  }
  isConnected(): boolean {
    return this.state === TransportState.Connected;
  }
  send(message: string): Promise<void> {
    return this.#udp.send(message);
  }
}

export interface NaiveEvent {
  mailbox: string;
  summary: MessageSummary;
}

export interface NaiveRunner {
  queue: Queue;
  /** Jobs completed so far. */
  completed(): number;
  /** Starts taking jobs (the worker waits until then, so a backlog can be queued first). */
  start(): void;
  close(): Promise<void>;
}

export async function startNaive(opts: { redisUrl: string; queueName: string; target: { host: string; port: number }; concurrency: number }): Promise<NaiveRunner> {
  const udp = await UdpTransport.open({ clock: systemClock, resolver: { resolve: (h) => Promise.resolve(h) }, bindHost: '127.0.0.1', bindPort: 0, maxMessageBytes: 65_535, t1Ms: 500, t2Ms: 4000, transactionTimeoutMs: 32_000 });
  const ua = new UserAgent({
    uri: UserAgent.makeURI('sip:naive@127.0.0.1'),
    transportConstructor: UdpApiTransport,
    transportOptions: { udp },
    // No port in the Via: sip.js's UserAgent drops responses whose Via has one (SIP.js #408).
    viaHost: '127.0.0.1',
    forceRport: true,
    preloadedRouteSet: [`<sip:${opts.target.host}:${opts.target.port};lr>`],
    logLevel: 'error',
    logBuiltinEnabled: false,
    userAgentString: 'naive-reference',
  });
  await ua.start();
  const publishers = new Map<string, Publisher>();
  const connection = new Redis(opts.redisUrl, { maxRetriesPerRequest: null });
  const queue = new Queue(opts.queueName, { connection });
  const workerConnection = new Redis(opts.redisUrl, { maxRetriesPerRequest: null });
  let done = 0;
  const worker = new Worker(
    opts.queueName,
    async (job) => {
      const { mailbox, summary } = job.data as NaiveEvent;
      let publisher = publishers.get(mailbox);
      if (!publisher) {
        const uri = UserAgent.makeURI(mailbox);
        if (!uri) throw new Error(`bad mailbox ${mailbox}`);
        publisher = new Publisher(ua, uri, 'message-summary', { contentType: 'application/simple-message-summary', expires: 3600 });
        publishers.set(mailbox, publisher);
      }
      await publisher.publish(encodeMessageSummary({ ...summary, account: mailbox }));
      done++;
    },
    { connection: workerConnection, concurrency: opts.concurrency, autorun: false },
  );
  await worker.waitUntilReady();
  let running: Promise<void> | undefined;
  return {
    queue,
    completed: () => done,
    start() {
      running ??= worker.run().catch((err: unknown) => {
        process.stderr.write(`naive worker stopped: ${err instanceof Error ? err.message : String(err)}\n`);
      });
    },
    async close() {
      await worker.close();
      await running;
      await queue.close();
      await Promise.all([connection.quit(), workerConnection.quit()]);
      // ua.stop() disposes the core and with it every pending transaction timer. (Publisher.dispose()
      // is not called: on a publisher whose last PUBLISH failed it throws "Invalid state transition".)
      await ua.stop();
    },
  };
}
