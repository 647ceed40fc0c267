/**
 * A million malformed datagrams to a delivery worker's UDP socket and a million malformed
 * messages (plus a few framing breakers) down its TCP connection, from the presence server it is
 * publishing to, while real PUBLISHes for 2,000 mailboxes keep flowing over both transports.
 *
 * The worker runs in this process (test/support/in-process-worker.ts) so that its transport and
 * stack counters can be read: an uncaught exception in it reaches the runner and fails the
 * scenario. The peer (test/harness/publish-peer.ts) counts the real answers it sends, so every
 * message the worker saw can be accounted for: real answer, or garbage it dropped.
 */
import fs from 'node:fs';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';

import { ErrorCodes, isMwiError } from '../../../src/errors.ts';
import type { SipTransport, TransportStats } from '../../../src/sip/transport/transport.ts';
import { startPublishPeer } from '../../harness/publish-peer.ts';
import { startRedis } from '../../harness/redis.ts';
import { startInProcessWorker } from '../../support/in-process-worker.ts';
import { prng } from '../../support/prng.ts';
import { framingBreaker, garbageDatagram, garbageFrame } from '../../support/sip-garbage.ts';
import { pollUntil, sleep } from '../../support/wait-for.ts';
import { UpdateLedger, summaryOf } from '../load.ts';
import type { ChaosContext, ScenarioResult } from '../types.ts';
import { verifyLatest, type PresenceHoldings } from '../verify.ts';

export const timeLimitMs = 240_000;

const PER_TRANSPORT = 1_000_000;
const RATE_PER_SEC = 12_500;
const FLOOD_LIMIT_MS = 150_000;
const BREAKERS = 10;
const POOL = 2_048;
const MAX_MESSAGE_BYTES = 4_096;
const MAILBOXES_PER_TRANSPORT = 1_000;
/**
 * The leak check: the JS heap in use after a full GC, after the flood against before it. The
 * worker keeps nothing of the junk, so what stays is the ledger and the peer's publications.
 */
const HEAP_RETAINED_LIMIT_MB = 32;
/**
 * RSS growth over the flood, from a baseline taken right after a full GC (the leak check's). V8
 * lets collectable garbage reach up to 4x the live old generation before a full GC at the heap
 * limit it derives from this machine's memory (heap-controller.cc, MaxGrowingFactor); measured
 * from a baseline without that GC, the same flood grew RSS by 174-326 MB (2026-11-22).
 */
const RSS_GROWTH_LIMIT_MB = 200;
/** A connection whose unread bytes pass this gets no more junk this round: the flood must not buffer without bound. */
const TCP_BACKLOG_BYTES = 1 << 20;

/** Datagrams the kernel dropped on the loopback UDP socket bound to `port` (its receive buffer was full). */
function kernelDrops(port: number): number {
  const local = `0100007F:${port.toString(16).toUpperCase().padStart(4, '0')}`;
  for (const line of fs.readFileSync('/proc/net/udp', 'utf8').split('\n').slice(1)) {
    const cols = line.trim().split(/\s+/);
    if (cols[1] === local) return Number(cols[12] ?? 0);
  }
  return 0;
}

/** A full GC, without starting Node with --expose-gc. */
function fullGc(): void {
  setFlagsFromString('--expose-gc');
  (runInNewContext('gc') as () => void)();
}

/** The JS heap in use after a full GC, in MB. */
function retainedHeapMb(): number {
  fullGc();
  return process.memoryUsage().heapUsed / 2 ** 20;
}

function seen(s: TransportStats): number {
  return s.oversized + s.malformed + s.received;
}

export async function run(ctx: ChaosContext): Promise<ScenarioResult> {
  const started = performance.now();
  const random = prng(ctx.seed);
  const redis = await startRedis({ label: 'chaos-malformed-sip' });
  ctx.defer(() => redis.dispose());
  const peer = await startPublishPeer();
  ctx.defer(() => peer.close());
  const w = await startInProcessWorker(redis.url, {
    'redis.keyPrefix': '{chaos-malformed}',
    'sip.maxMessageBytes': MAX_MESSAGE_BYTES,
    'sip.transactionTimeoutMs': 2_000,
    'delivery.leaseMs': 6_000,
    'delivery.retryBaseMs': 200,
    'delivery.retryMaxMs': 2_000,
    'delivery.concurrency': 100,
    'rate.initialPerSec': 500,
  });
  ctx.defer(() => w.close());
  const transports = w.built.stack.transports;
  const udp = transports.find((t) => t.protocol === 'UDP') as SipTransport;
  const tcp = transports.find((t) => t.protocol === 'TCP') as SipTransport;

  const ledger = new UpdateLedger();
  const udpBoxes = Array.from({ length: MAILBOXES_PER_TRANSPORT }, (_, i) => `sip:${300_000 + i}@chaos.test`);
  const tcpBoxes = Array.from({ length: MAILBOXES_PER_TRANSPORT }, (_, i) => `sip:${400_000 + i}@chaos.test`);
  /** One batch of newer versions, straight into the store; false when Redis did not take it (not accepted then). */
  const feed = async (boxes: readonly string[], target: string): Promise<boolean> => {
    const updates = boxes.map((mailbox) => {
      const version = ledger.next(mailbox);
      return { mailbox, route: { mode: 'publish' as const, target }, summary: summaryOf(version), version };
    });
    try {
      await w.runtime.store.applyUpdates(updates);
    } catch (err) {
      if (isMwiError(err, ErrorCodes.REDIS_UNAVAILABLE)) return false;
      throw err;
    }
    for (const u of updates) ledger.accept(u.mailbox, u.version);
    await w.runtime.scheduler.schedule(boxes).catch(() => undefined); // the periodic kick wakes a drain anyway
    return true;
  };
  for (let i = 0; i < MAILBOXES_PER_TRANSPORT; i += 500) {
    for (const [boxes, target] of [[udpBoxes, peer.udpUri], [tcpBoxes, peer.tcpUri]] as const) {
      for (let attempt = 1; !(await feed(boxes.slice(i, i + 500), target)); attempt++) {
        if (attempt >= 10) throw new Error('Redis did not take the first versions');
        await sleep(500);
      }
    }
  }
  await pollUntil(30_000, async () => (await w.runtime.store.dirtyCount().catch(() => -1)) === 0, 100);

  const datagrams = Array.from({ length: POOL }, () => garbageDatagram(random, MAX_MESSAGE_BYTES));
  const frames = Array.from({ length: POOL }, () => garbageFrame(random, MAX_MESSAGE_BYTES));
  const udpTo = { address: '127.0.0.1', port: udp.localPort };
  const before = { udp: seen(udp.stats), tcp: seen(tcp.stats), answered: { ...peer.answered }, stack: { ...w.built.stack.stats }, drops: kernelDrops(udp.localPort) };
  const heapBeforeMb = retainedHeapMb();
  const rssBeforeMb = process.memoryUsage().rss / 2 ** 20;

  // Real updates keep coming while the junk flows: 40 mailboxes every 100 ms, both transports.
  let feeding = true;
  const feeder = (async () => {
    while (feeding) {
      const pickOf = (boxes: readonly string[]) => [...new Set(Array.from({ length: 20 }, () => boxes[Math.floor(random() * boxes.length)] ?? ''))];
      await feed(pickOf(udpBoxes), peer.udpUri);
      await feed(pickOf(tcpBoxes), peer.tcpUri);
      await sleep(100);
    }
  })();

  let udpSent = 0;
  let tcpSent = 0;
  let breakers = 0;
  let next = 0;
  const floodFrom = performance.now();
  const floodLimitMs = Math.min(FLOOD_LIMIT_MS, started + ctx.timeLimitMs - 80_000 - floodFrom);
  try {
    while ((udpSent < PER_TRANSPORT || tcpSent < PER_TRANSPORT) && !ctx.signal.aborted && performance.now() - floodFrom < floodLimitMs) {
      const due = Math.min(PER_TRANSPORT, Math.floor(((performance.now() - floodFrom) * RATE_PER_SEC) / 1000));
      const nUdp = Math.min(due - udpSent, 500);
      if (nUdp > 0) {
        const batch: Buffer[] = [];
        for (let i = 0; i < nUdp; i++) batch.push(datagrams[(next + i) % POOL] as Buffer);
        peer.sendUdp(batch, udpTo);
        udpSent += nUdp;
      }
      const conn = peer.tcpClients()[0];
      const nTcp = Math.min(due - tcpSent, 500);
      if (conn !== undefined && nTcp > 0 && conn.writableLength < TCP_BACKLOG_BYTES) {
        const batch: Buffer[] = [];
        for (let i = 0; i < nTcp; i++) batch.push(frames[(next + 7 * i) % POOL] as Buffer);
        tcpSent += nTcp;
        // A framing breaker every PER_TRANSPORT / BREAKERS frames, last in its write: the worker must drop the connection.
        if (breakers < BREAKERS && tcpSent >= ((breakers + 1) * PER_TRANSPORT) / (BREAKERS + 1)) {
          batch.push(framingBreaker(random, MAX_MESSAGE_BYTES));
          breakers++;
          peer.poison(conn);
        }
        conn.write(Buffer.concat(batch));
      }
      next = (next + 1) % POOL;
      await sleep(2);
    }
  } finally {
    feeding = false;
    await feeder;
  }
  const floodMs = performance.now() - floodFrom;
  const rssAfterMb = process.memoryUsage().rss / 2 ** 20;
  ctx.note(`flood done in ${(floodMs / 1000).toFixed(1)} s: ${udpSent} datagrams, ${tcpSent} frames, ${breakers} breakers`);
  const drainMs = await pollUntil(Math.max(1_000, Math.min(60_000, started + ctx.timeLimitMs - 20_000 - performance.now())), async () => (await w.runtime.store.dirtyCount().catch(() => -1)) === 0, 100);
  await sleep(1_000); // the last junk still in socket buffers is read
  const heapAfterMb = retainedHeapMb();

  const answeredUdp = peer.answered.udp - before.answered.udp;
  const answeredTcp = peer.answered.tcp - before.answered.tcp;
  const drops = kernelDrops(udp.localPort) - before.drops;
  // Everything the worker read that was not a real answer is junk it dropped (at the transport, or in the stack).
  const droppedUdp = seen(udp.stats) - before.udp - answeredUdp;
  const droppedTcp = seen(tcp.stats) - before.tcp - answeredTcp;
  const stack = w.built.stack.stats;
  const strays = stack.responses - before.stack.responses - answeredUdp - answeredTcp;

  const holdings: PresenceHoldings = new Map([...peer.publications].map(([aor, list]) => [aor, list.map((p) => ({ etag: p.etag, body: p.body }))]));
  const report = await verifyLatest({ ledger, store: w.runtime.store, holdings });
  const failures: string[] = [];
  const bound = (ok: boolean, why: string): void => {
    if (!ok) failures.push(why);
  };
  bound(udpSent === PER_TRANSPORT && tcpSent === PER_TRANSPORT, `sent ${udpSent} datagrams and ${tcpSent} frames of ${PER_TRANSPORT} each within ${Math.round(floodLimitMs / 1000)} s`);
  bound(droppedUdp + drops === udpSent, `UDP: sent ${udpSent} junk datagrams, the worker dropped ${droppedUdp} and the kernel ${drops}`);
  bound(droppedTcp === tcpSent + breakers, `TCP: wrote ${tcpSent} junk frames and ${breakers} breakers, the worker dropped ${droppedTcp}`);
  bound(drainMs !== undefined, 'mailboxes still dirty 60 s after the flood');
  bound(heapAfterMb - heapBeforeMb < HEAP_RETAINED_LIMIT_MB, `the JS heap after a full GC grew ${Math.round(heapAfterMb - heapBeforeMb)} MB over the flood (limit ${HEAP_RETAINED_LIMIT_MB})`);
  bound(rssAfterMb - rssBeforeMb < RSS_GROWTH_LIMIT_MB, `RSS grew ${Math.round(rssAfterMb - rssBeforeMb)} MB during the flood (limit ${RSS_GROWTH_LIMIT_MB})`);
  return {
    name: 'malformed-sip',
    tried: `${PER_TRANSPORT.toLocaleString('en')} malformed UDP datagrams + ${PER_TRANSPORT.toLocaleString('en')} malformed TCP messages and ${BREAKERS} framing breakers from the presence server, while ${2 * MAILBOXES_PER_TRANSPORT} mailboxes publish over UDP and TCP`,
    trials: udpSent + tcpSent + breakers,
    lost: report.lost + failures.length,
    lostMeans:
      `a mailbox whose latest accepted version is not what the peer holds under the runner's ETag after the flood; or a bound broken: all junk sent, every junk message accounted as dropped by the worker (or by the kernel, UDP), queue drained, the JS heap after a full GC within ${HEAP_RETAINED_LIMIT_MB} MB of its size before the flood (no leak), RSS growth under ${RSS_GROWTH_LIMIT_MB} MB from a baseline taken after a full GC`,
    failures: [...failures, ...report.failures],
    figures: {
      'flood time': `${(floodMs / 1000).toFixed(1)} s`,
      'dropped by worker UDP/TCP': `${droppedUdp}/${droppedTcp}`,
      'kernel drops': drops,
      'in stack: malformed/requests/stray': `${stack.malformedInbound - before.stack.malformedInbound}/${stack.unexpectedRequests - before.stack.unexpectedRequests}/${strays}`,
      'real answers UDP/TCP': `${answeredUdp}/${answeredTcp}`,
      'RSS before/after': `${Math.round(rssBeforeMb)}/${Math.round(rssAfterMb)} MB`,
      'JS heap after a full GC, before/after': `${Math.round(heapBeforeMb)}/${Math.round(heapAfterMb)} MB`,
      'updates accepted': ledger.acceptedUpdates(),
    },
    durationMs: performance.now() - started,
  };
}
