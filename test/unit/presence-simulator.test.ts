import assert from 'node:assert/strict';
import dgram from 'node:dgram';
import { after, before, describe, it } from 'node:test';

import { FakeClock } from '../../src/clock.ts';
import { parseSipRequest, startPresenceSimulator, type PresenceSimulator } from '../../src/demo/presence-simulator.ts';
import { prng } from '../support/prng.ts';

const BODY = 'Messages-Waiting: yes\r\nMessage-Account: sip:1000@demo.invalid\r\nVoice-Message: 2/8 (0/2)\r\n';

interface Answer {
  status: number;
  headers: Map<string, string>;
  text: string;
}

function parseAnswer(text: string): Answer {
  const [statusLine = '', ...lines] = text.split('\r\n\r\n')[0]?.split('\r\n') ?? [];
  const headers = new Map<string, string>();
  for (const line of lines) {
    const colon = line.indexOf(':');
    headers.set(line.slice(0, colon).toLowerCase(), line.slice(colon + 1).trim());
  }
  return { status: Number(statusLine.split(' ')[1]), headers, text };
}

/** A UDP client on loopback that sends raw datagrams and collects answers in order. */
class Client {
  readonly socket = dgram.createSocket('udp4');
  readonly #waiting: Array<(a: Answer) => void> = [];
  readonly #queued: Answer[] = [];
  #branch = 0;

  async open(): Promise<void> {
    this.socket.on('message', (buf) => {
      const a = parseAnswer(buf.toString('utf8'));
      const w = this.#waiting.shift();
      if (w) w(a);
      else this.#queued.push(a);
    });
    await new Promise<void>((resolve) => this.socket.bind({ address: '127.0.0.1', port: 0 }, resolve));
  }

  send(port: number, data: string | Buffer): void {
    this.socket.send(data, port, '127.0.0.1');
  }

  next(timeoutMs = 1000): Promise<Answer | 'timeout'> {
    const q = this.#queued.shift();
    if (q) return Promise.resolve(q);
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        const i = this.#waiting.indexOf(w);
        if (i !== -1) this.#waiting.splice(i, 1);
        resolve('timeout');
      }, timeoutMs);
      const w = (a: Answer): void => {
        clearTimeout(timer);
        resolve(a);
      };
      this.#waiting.push(w);
    });
  }

  async request(port: number, data: string): Promise<Answer> {
    this.send(port, data);
    const a = await this.next();
    assert.notEqual(a, 'timeout', 'the simulator did not answer');
    return a as Answer;
  }

  newBranch(): string {
    return `z9hG4bK-test-${++this.#branch}`;
  }

  close(): void {
    this.socket.close();
  }
}

interface RequestSpec {
  method?: string;
  aor?: string;
  event?: string | null;
  expires?: number;
  ifMatch?: string;
  body?: string;
  contentType?: string;
  branch: string;
  cseqMethod?: string;
}

function request(r: RequestSpec): string {
  const method = r.method ?? 'PUBLISH';
  const aor = r.aor ?? 'sip:1000@demo.invalid';
  const body = r.body ?? '';
  const lines = [
    `${method} ${aor} SIP/2.0`,
    `Via: SIP/2.0/UDP 127.0.0.1:5999;branch=${r.branch};rport`,
    'Max-Forwards: 70',
    `From: <${aor}>;tag=abc`,
    `To: <${aor}>`,
    `Call-ID: ${r.branch}@test`,
    `CSeq: 1 ${r.cseqMethod ?? method}`,
  ];
  if (r.event !== null && method === 'PUBLISH') lines.push(`Event: ${r.event ?? 'message-summary'}`);
  if (r.expires !== undefined) lines.push(`Expires: ${r.expires}`);
  if (r.ifMatch !== undefined) lines.push(`SIP-If-Match: ${r.ifMatch}`);
  if (body !== '') lines.push(`Content-Type: ${r.contentType ?? 'application/simple-message-summary'}`);
  lines.push(`Content-Length: ${Buffer.byteLength(body)}`, '', body);
  return lines.join('\r\n');
}

describe('presence simulator', () => {
  let clock: FakeClock;
  let sim: PresenceSimulator;
  let client: Client;

  before(async () => {
    clock = new FakeClock();
    sim = await startPresenceSimulator({ clock, capacityPerSec: 1000, maxExpiresSec: 3600 });
    client = new Client();
    await client.open();
  });

  after(async () => {
    client.close();
    await sim.close();
  });

  it('answers OPTIONS with 200 and echoes the transaction headers', async () => {
    const branch = client.newBranch();
    const a = await client.request(sim.port, request({ method: 'OPTIONS', branch }));
    assert.equal(a.status, 200);
    assert.match(a.headers.get('via') ?? '', new RegExp(`branch=${branch}`));
    assert.equal(a.headers.get('call-id'), `${branch}@test`);
    assert.equal(a.headers.get('cseq'), '1 OPTIONS');
    assert.match(a.headers.get('to') ?? '', /;tag=/);
    assert.match(a.headers.get('allow') ?? '', /PUBLISH/);
  });

  it('accepts an initial PUBLISH, keeps the body per AOR and clips Expires', async () => {
    const aor = 'sip:initial@demo.invalid';
    const a = await client.request(sim.port, request({ aor, body: BODY, expires: 86_400, branch: client.newBranch() }));
    assert.equal(a.status, 200);
    assert.ok(a.headers.get('sip-etag'));
    assert.equal(a.headers.get('expires'), '3600');
    assert.equal(sim.publication(aor)?.body, BODY);
    assert.equal(sim.publication(aor)?.etag, a.headers.get('sip-etag'));
  });

  it('gives a new ETag for every publish and 412 for a stale or unknown SIP-If-Match', async () => {
    const aor = 'sip:modify@demo.invalid';
    const first = await client.request(sim.port, request({ aor, body: BODY, expires: 600, branch: client.newBranch() }));
    const etag1 = first.headers.get('sip-etag') ?? '';
    const body2 = BODY.replace('2/8', '0/10').replace('yes', 'no');
    const second = await client.request(sim.port, request({ aor, body: body2, expires: 600, ifMatch: etag1, branch: client.newBranch() }));
    assert.equal(second.status, 200);
    const etag2 = second.headers.get('sip-etag') ?? '';
    assert.notEqual(etag2, etag1);
    assert.equal(sim.publication(aor)?.body, body2);

    const stale = await client.request(sim.port, request({ aor, body: BODY, ifMatch: etag1, branch: client.newBranch() }));
    assert.equal(stale.status, 412);
    const unknown = await client.request(sim.port, request({ aor: 'sip:nobody@demo.invalid', body: BODY, ifMatch: 'bogus', branch: client.newBranch() }));
    assert.equal(unknown.status, 412);
    assert.equal(sim.publication(aor)?.body, body2, 'a refused publish changes nothing');

    const refresh = await client.request(sim.port, request({ aor, ifMatch: etag2, expires: 600, branch: client.newBranch() }));
    assert.equal(refresh.status, 200, 'a bodiless refresh with the current ETag');
    assert.equal(sim.publication(aor)?.body, body2, 'a refresh keeps the body');
  });

  it('lets a publication lapse after its Expires and removes one on Expires: 0', async () => {
    const aor = 'sip:lapse@demo.invalid';
    const a = await client.request(sim.port, request({ aor, body: BODY, expires: 60, branch: client.newBranch() }));
    clock.advance(61_000);
    assert.equal(sim.publication(aor), undefined);
    const late = await client.request(sim.port, request({ aor, body: BODY, ifMatch: a.headers.get('sip-etag') ?? '', branch: client.newBranch() }));
    assert.equal(late.status, 412, 'the ETag of a lapsed publication is unknown');

    const b = await client.request(sim.port, request({ aor, body: BODY, expires: 60, branch: client.newBranch() }));
    const removed = await client.request(sim.port, request({ aor, expires: 0, ifMatch: b.headers.get('sip-etag') ?? '', branch: client.newBranch() }));
    assert.equal(removed.status, 200);
    assert.equal(sim.publication(aor), undefined);
  });

  it('answers 489 to another or a missing Event, 415 to another body type, 400 to neither body nor ETag', async () => {
    const presence = await client.request(sim.port, request({ event: 'presence', body: BODY, branch: client.newBranch() }));
    assert.equal(presence.status, 489);
    assert.equal(presence.headers.get('allow-events'), 'message-summary');
    const none = await client.request(sim.port, request({ event: null, body: BODY, branch: client.newBranch() }));
    assert.equal(none.status, 489);
    const pidf = await client.request(sim.port, request({ aor: 'sip:pidf@demo.invalid', body: '<presence/>', contentType: 'application/pidf+xml', branch: client.newBranch() }));
    assert.equal(pidf.status, 415);
    const empty = await client.request(sim.port, request({ aor: 'sip:empty@demo.invalid', branch: client.newBranch() }));
    assert.equal(empty.status, 400);
    assert.equal(sim.publication('sip:pidf@demo.invalid'), undefined);
  });

  it('answers a retransmission with the first answer instead of applying it twice', async () => {
    const aor = 'sip:retrans@demo.invalid';
    const text = request({ aor, body: BODY, branch: client.newBranch() });
    const a = await client.request(sim.port, text);
    const again = await client.request(sim.port, text);
    assert.equal(again.text, a.text);
    assert.equal(sim.publication(aor)?.etag, a.headers.get('sip-etag'));
  });

  it('ignores junk datagrams without crashing and keeps answering', async () => {
    const droppedBefore = sim.state().dropped;
    const junk: Array<string | Buffer> = [
      Buffer.from([0, 1, 2, 3, 255, 254]),
      'hello',
      'PUBLISH sip:x SIP/2.0\r\nVia: SIP/2.0/UDP 1.2.3.4\r\n', // no header end
      'SIP/2.0 200 OK\r\nVia: SIP/2.0/UDP 127.0.0.1;branch=z9hG4bKx\r\n\r\n', // a response
      'PUBLISH sip:x SIP/2.0\r\n\r\n', // no Via, From, To, Call-ID, CSeq
      'PUBLISH sip:x SIP/2.0\r\nno colon here\r\n\r\n',
      request({ body: BODY, branch: client.newBranch() }).replace(/Content-Length: \d+/, 'Content-Length: 9999'), // body shorter than announced
      request({ body: BODY, branch: client.newBranch() }).replace(/CSeq: .*/, 'CSeq: many PUBLISH'),
      `PUBLISH sip:x SIP/2.0\r\n${'X-Pad: a\r\n'.repeat(300)}\r\n`,
      Buffer.alloc(60_000, 0x41),
    ];
    for (const j of junk) client.send(sim.port, j);
    const ok = await client.request(sim.port, request({ method: 'OPTIONS', branch: client.newBranch() }));
    assert.equal(ok.status, 200);
    assert.equal(sim.state().dropped - droppedBefore, junk.length);
  });

  it('answers 400 when the CSeq method differs from the request method', async () => {
    const a = await client.request(sim.port, request({ body: BODY, cseqMethod: 'INVITE', branch: client.newBranch() }));
    assert.equal(a.status, 400);
  });

  it('answers 405 to other methods', async () => {
    const a = await client.request(sim.port, request({ method: 'SUBSCRIBE', branch: client.newBranch() }));
    assert.equal(a.status, 405);
  });

  it('reads compact header names and folded lines', async () => {
    const aor = 'sip:compact@demo.invalid';
    const text = [
      `PUBLISH ${aor} SIP/2.0`,
      'v: SIP/2.0/UDP 127.0.0.1:5999;branch=z9hG4bK-compact',
      `f: <${aor}>;tag=1`,
      `t: <${aor}>`,
      'i: compact@test',
      'CSeq: 7 PUBLISH',
      'o:',
      ' message-summary', // a folded continuation line
      'c: application/simple-message-summary',
      `l: ${Buffer.byteLength(BODY)}`,
      '',
      BODY,
    ].join('\r\n');
    const a = await client.request(sim.port, text);
    assert.equal(a.status, 200);
    assert.equal(sim.publication(aor)?.body, BODY);
  });

  it('counts answers by method and status', () => {
    const s = sim.state();
    assert.ok((s.answers.PUBLISH?.['200'] ?? 0) >= 5);
    assert.equal(s.answers.PUBLISH?.['489'], 2);
    assert.deepEqual(sim.answers(), s.answers);
    assert.ok(s.publications.every((p) => p.aor.startsWith('sip:')));
    assert.equal(sim.holding(), s.publications.length);
  });
});

/** A few random edits of a valid request: flipped bytes, cut runs, truncation, dropped lines. */
function mutate(valid: string, rnd: () => number): Buffer {
  let s = valid;
  for (let i = 0, n = 1 + Math.floor(rnd() * 4); i < n; i++) {
    const at = Math.floor(rnd() * (s.length + 1));
    switch (Math.floor(rnd() * 5)) {
      case 0: s = s.slice(0, at) + String.fromCharCode(Math.floor(rnd() * 256)) + s.slice(at + 1); break;
      case 1: s = s.slice(0, at) + s.slice(at + 1 + Math.floor(rnd() * 20)); break;
      case 2: s = s.slice(0, at); break;
      case 3: { const lines = s.split('\r\n'); lines.splice(Math.floor(rnd() * lines.length), 1); s = lines.join('\r\n'); break; }
      default: s = s.slice(0, at) + ['\r\n', ':', ';', '\0', ' ', 'Content-Length: 99999', 'SIP-If-Match: x'][Math.floor(rnd() * 7)] + s.slice(at); break;
    }
  }
  return Buffer.from(s, 'latin1');
}

describe('presence simulator fuzz', () => {
  it('parseSipRequest never throws on 20k mutated requests', () => {
    const rnd = prng(20260421);
    const valid = request({ body: BODY, ifMatch: 'a.1', branch: 'z9hG4bK-fuzz' });
    for (let i = 0; i < 20_000; i++) parseSipRequest(mutate(valid, rnd));
  });

  it('keeps answering after 2000 mutated datagrams over the socket', async () => {
    const sim = await startPresenceSimulator({ capacityPerSec: 1_000_000 });
    const client = new Client();
    await client.open();
    try {
      const rnd = prng(7);
      for (let i = 0; i < 2000; i++) {
        client.send(sim.port, mutate(request({ aor: `sip:${i % 50}@demo.invalid`, body: BODY, branch: `z9hG4bK-m${i}` }), rnd));
        if (i % 50 === 49) await new Promise((resolve) => setTimeout(resolve, 2)); // pace, or the kernel drops datagrams
      }
      // Answers to the mutated requests may still be queued: skip to the probe's (sent again if a full buffer lost it).
      let found = false;
      for (let attempt = 1; attempt <= 3 && !found; attempt++) {
        const probe = `z9hG4bK-probe-${attempt}`;
        client.send(sim.port, request({ method: 'OPTIONS', branch: probe }));
        for (let i = 0; i < 2100 && !found; i++) {
          const a = await client.next(1000);
          if (a === 'timeout') break;
          found = a.headers.get('via')?.includes(probe) === true;
        }
      }
      assert.ok(found, `the simulator answered OPTIONS after the junk: ${JSON.stringify(sim.state().answers)} dropped ${sim.state().dropped}`);
    } finally {
      client.close();
      await sim.close();
    }
  });
});

describe('presence simulator capacity', () => {
  it('answers 503 with Retry-After: 1 above its capacity, and recovers as time passes', async () => {
    const clock = new FakeClock();
    const sim = await startPresenceSimulator({ clock, capacityPerSec: 5 });
    const client = new Client();
    await client.open();
    try {
      const statuses: number[] = [];
      for (let i = 0; i < 8; i++) {
        const a = await client.request(sim.port, request({ aor: `sip:${1000 + i}@demo.invalid`, body: BODY, branch: client.newBranch() }));
        statuses.push(a.status);
        if (a.status === 503) assert.equal(a.headers.get('retry-after'), '1');
      }
      assert.deepEqual(statuses, [200, 200, 200, 200, 200, 503, 503, 503]);
      assert.equal(sim.holding(), 5, 'a 503 applies nothing');
      clock.advance(1000);
      const again = await client.request(sim.port, request({ aor: 'sip:later@demo.invalid', body: BODY, branch: client.newBranch() }));
      assert.equal(again.status, 200);
      assert.equal(sim.state().answers.PUBLISH?.['503'], 3);
    } finally {
      client.close();
      await sim.close();
    }
  });

  it('refuses to listen on a non-loopback address', async () => {
    await assert.rejects(startPresenceSimulator({ host: '0.0.0.0' }), RangeError);
  });
});
