import assert from 'node:assert/strict';
import fsp from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';

import { ErrorCodes, isMwiError } from '../../src/errors.ts';
import type { SourceMailbox } from '../../src/sources/mailbox-source.ts';
import { createSpoolSource, isMessageMetadataName } from '../../src/sources/spool-source.ts';

const TEMPLATE = 'sip:{mailbox}@{context}.pbx.example';

/** context -> mailbox -> folder -> file names (a mailbox given as {} is an empty directory). */
type Tree = Record<string, Record<string, Record<string, string[]>>>;

async function makeSpool(tree: Tree): Promise<string> {
  const root = await fsp.mkdtemp(path.join(os.tmpdir(), 'mwi-spool-'));
  for (const [context, mailboxes] of Object.entries(tree)) {
    for (const [mailbox, folders] of Object.entries(mailboxes)) {
      await fsp.mkdir(path.join(root, context, mailbox), { recursive: true });
      for (const [folder, files] of Object.entries(folders)) {
        await fsp.mkdir(path.join(root, context, mailbox, folder), { recursive: true });
        for (const file of files) await fsp.writeFile(path.join(root, context, mailbox, folder, file), '[message]\n');
      }
    }
  }
  return root;
}

/** The files Asterisk writes for message N: metadata plus audio in several formats. */
function message(n: number): string[] {
  const base = `msg${String(n).padStart(4, '0')}`;
  return [`${base}.txt`, `${base}.wav`, `${base}.WAV`, `${base}.gsm`];
}

async function readAll(root: string, pageSize: number, signal = new AbortController().signal): Promise<SourceMailbox[][]> {
  const pages: SourceMailbox[][] = [];
  for await (const page of createSpoolSource({ root, mailboxUriTemplate: TEMPLATE }).pages(pageSize, signal)) pages.push(page);
  return pages;
}

function counts(m: SourceMailbox | undefined) {
  return m?.summary.counts['voice-message'];
}

async function assertUnavailable(root: string, pathPart: string): Promise<void> {
  await assert.rejects(readAll(root, 100), (err: unknown) => {
    assert.ok(isMwiError(err, ErrorCodes.SOURCE_UNAVAILABLE), `expected SOURCE_UNAVAILABLE, got ${String(err)}`);
    assert.equal(err.retryable, true);
    assert.ok(String(err.details?.path).includes(pathPart), `details.path ${String(err.details?.path)} names ${pathPart}`);
    assert.ok(err.message.includes(pathPart), `message names the path: ${err.message}`);
    return true;
  });
}

const roots: string[] = [];
after(async () => {
  for (const root of roots) await fsp.rm(root, { recursive: true, force: true });
});
async function spool(tree: Tree): Promise<string> {
  const root = await makeSpool(tree);
  roots.push(root);
  return root;
}

describe('spool source: counting like app_voicemail', () => {
  it('recognises message metadata files by app_voicemail\'s rule ("msg" + "txt" at offset 8, any case)', () => {
    for (const name of ['msg0000.txt', 'MSG0042.TXT', 'msg9999.Txt']) assert.equal(isMessageMetadataName(name), true, name);
    for (const name of ['msg0000.wav', 'msg0000.WAV', 'msg0000.gsm', 'msg0000-bak.txt', 'greet.txt', 'msg.txt', 'msg0000', 'xmsg0000.txt', 'busy.txt']) {
      assert.equal(isMessageMetadataName(name), false, name);
    }
  });

  it('counts INBOX + Urgent as new, Urgent as urgent new, Old as old, one per msgNNNN.txt (audio files and other folders do not count)', async () => {
    const root = await spool({
      default: {
        '1000': {
          INBOX: [...message(0), ...message(1), 'MSG0002.TXT', 'msg0003-bak.txt', 'msg0003.wav'],
          Urgent: message(0),
          Old: [...message(0), ...message(1), ...message(2)],
          Work: [...message(0), ...message(1)],
          Family: message(0),
          Cust1: message(0),
          tmp: ['abc.txt'],
        },
      },
    });
    const [page] = await readAll(root, 10);
    assert.equal(page?.length, 1);
    assert.equal(page?.[0]?.mailbox, 'sip:1000@default.pbx.example');
    assert.deepEqual(counts(page?.[0]), { new: 4, old: 3, urgentNew: 1 });
    assert.deepEqual(Object.keys(page?.[0]?.summary.counts ?? {}), ['voice-message'], 'only voice-message is reported');
  });

  it('reports mailboxes without messages as 0/0 (so their lamps go off), whether folders are missing or empty', async () => {
    const root = await spool({ default: { '2000': {}, '2001': { INBOX: [], Old: [], Urgent: [] }, '2002': { Old: message(0) }, '2003': { Urgent: message(0) } } });
    const [page] = await readAll(root, 10);
    assert.deepEqual(
      page?.map((m) => [m.mailbox, counts(m)]),
      [
        ['sip:2000@default.pbx.example', { new: 0, old: 0, urgentNew: 0 }],
        ['sip:2001@default.pbx.example', { new: 0, old: 0, urgentNew: 0 }],
        ['sip:2002@default.pbx.example', { new: 0, old: 1, urgentNew: 0 }],
        ['sip:2003@default.pbx.example', { new: 1, old: 0, urgentNew: 1 }],
      ],
    );
  });
});

describe('spool source: walking the tree', () => {
  let root: string;
  const expectedOrder = [
    'sip:100@alpha.pbx.example',
    'sip:20@alpha.pbx.example',
    'sip:3@alpha.pbx.example',
    'sip:1000@default.pbx.example',
    'sip:1001@default.pbx.example',
    'sip:a%20b@from_internal.pbx.example',
    'sip:x%40y@from_internal.pbx.example',
  ];

  before(async () => {
    // Created out of order: the source sorts each level.
    root = await spool({
      from_internal: { 'x@y': { INBOX: message(0) }, 'a b': {} },
      default: { '1001': { Old: message(0) }, '1000': { INBOX: message(0) } },
      alpha: { '3': {}, '20': {}, '100': {} },
      '.snapshot': { '9999': { INBOX: message(0) } },
    });
    // Not mailboxes or contexts: files beside them, hidden directories, lost+found in the root.
    await fsp.writeFile(path.join(root, 'voicemail.conf.bak'), '');
    await fsp.writeFile(path.join(root, 'default', 'README'), '');
    await fsp.mkdir(path.join(root, 'default', '.trash', 'INBOX'), { recursive: true });
    await fsp.mkdir(path.join(root, 'lost+found'));
    // A symlinked mailbox directory is followed, as opendir() in app_voicemail would.
    const outside = await spool({});
    await fsp.mkdir(path.join(outside, 'INBOX'));
    await fsp.writeFile(path.join(outside, 'INBOX', 'msg0000.txt'), '');
    await fsp.symlink(outside, path.join(root, 'default', '1002'));
    expectedOrder.splice(5, 0, 'sip:1002@default.pbx.example');
  });

  it('yields every mailbox once, contexts then mailboxes in sorted order, URIs from the template with names percent-encoded', async () => {
    const pages = await readAll(root, 100);
    assert.equal(pages.length, 1);
    assert.deepEqual(pages[0]?.map((m) => m.mailbox), expectedOrder);
    assert.deepEqual(counts(pages[0]?.find((m) => m.mailbox === 'sip:1002@default.pbx.example')), { new: 1, old: 0, urgentNew: 0 });
  });

  it('pages at the boundaries: size 1, a size that does not divide, an exact multiple (no empty last page), larger than the spool', async () => {
    const total = expectedOrder.length; // 8
    for (const [size, shape] of [
      [1, Array.from({ length: total }, () => 1)],
      [3, [3, 3, 2]],
      [4, [4, 4]],
      [total, [total]],
      [1000, [total]],
    ] as const) {
      const pages = await readAll(root, size);
      assert.deepEqual(pages.map((p) => p.length), shape, `pageSize ${size}`);
      assert.deepEqual(pages.flat().map((m) => m.mailbox), expectedOrder, `pageSize ${size}: same stable order`);
    }
  });

  it('yields no page for an empty spool', async () => {
    assert.deepEqual(await readAll(await spool({}), 10), []);
  });

  it('stops when the signal is aborted, with the signal\'s reason', async () => {
    const controller = new AbortController();
    const seen: SourceMailbox[][] = [];
    await assert.rejects(
      (async () => {
        for await (const page of createSpoolSource({ root, mailboxUriTemplate: TEMPLATE }).pages(2, controller.signal)) {
          seen.push(page);
          controller.abort();
        }
      })(),
      { name: 'AbortError' },
    );
    assert.equal(seen.length, 1);
  });

  it('refuses a page size that is not a positive integer', async () => {
    await assert.rejects(readAll(root, 0), RangeError);
  });
});

describe('spool source: failures abort the whole read (never a mailbox marked 0 because it could not be read)', () => {
  // Tests run as root in CI, where chmod 000 stops nothing: each case makes the path unreadable
  // for everyone instead (a file where a directory belongs, a symlink loop, a dangling symlink).
  it('a missing spool root', async () => {
    await assertUnavailable(path.join(os.tmpdir(), `mwi-no-such-spool-${process.pid}`), 'mwi-no-such-spool');
  });

  it('a spool root that is a file', async () => {
    const root = await spool({});
    await fsp.writeFile(path.join(root, 'file-root'), '');
    await assertUnavailable(path.join(root, 'file-root'), 'file-root');
  });

  it('a context that is a symlink loop', async () => {
    const root = await spool({ default: { '1000': { INBOX: message(0) } } });
    await fsp.symlink(path.join(root, 'loop'), path.join(root, 'loop'));
    await assertUnavailable(root, path.join(root, 'loop'));
  });

  it('a mailbox folder that is a file (ENOTDIR), after mailboxes already read', async () => {
    const root = await spool({ default: { '1000': { INBOX: message(0) }, '1001': {}, '1002': { Old: message(0) } } });
    await fsp.writeFile(path.join(root, 'default', '1001', 'INBOX'), 'not a directory');
    await assertUnavailable(root, path.join('default', '1001', 'INBOX'));
    // Streamed: the page before the failure may already be out, but the read ends in the error.
    const seen: SourceMailbox[][] = [];
    await assert.rejects(
      (async () => {
        for await (const page of createSpoolSource({ root, mailboxUriTemplate: TEMPLATE }).pages(1, new AbortController().signal)) seen.push(page);
      })(),
      (err: unknown) => isMwiError(err, ErrorCodes.SOURCE_UNAVAILABLE),
    );
    assert.deepEqual(seen.flat().map((m) => m.mailbox), ['sip:1000@default.pbx.example']);
  });

  it('a mailbox directory that is a symlink loop or dangling symlink', async () => {
    const looped = await spool({ default: { '1000': {} } });
    await fsp.symlink(path.join(looped, 'default', '1001'), path.join(looped, 'default', '1001'));
    await assertUnavailable(looped, path.join('default', '1001'));
    const dangling = await spool({ default: { '1000': {} } });
    await fsp.symlink(path.join(dangling, 'nowhere'), path.join(dangling, 'default', '1001'));
    await assertUnavailable(dangling, path.join('default', '1001'));
  });

  it('a mailbox name the template cannot turn into an acceptable URI (longer than 512 characters)', async () => {
    const root = await spool({ default: { ['9'.repeat(250)]: {} } });
    const source = createSpoolSource({ root, mailboxUriTemplate: `sip:{mailbox}{mailbox}{mailbox}@{context}.pbx.example` });
    await assert.rejects(
      (async () => {
        for await (const _ of source.pages(10, new AbortController().signal)) assert.fail('no page expected');
      })(),
      (err: unknown) => isMwiError(err, ErrorCodes.SOURCE_UNAVAILABLE),
    );
  });

  it('refuses a bad template when created', () => {
    assert.throws(() => createSpoolSource({ root: '/nonexistent', mailboxUriTemplate: 'http://{mailbox}' }), (err: unknown) => isMwiError(err, ErrorCodes.CONFIG_INVALID));
    assert.throws(() => createSpoolSource({ root: '/nonexistent', mailboxUriTemplate: 'sip:{user}@x' }), (err: unknown) => isMwiError(err, ErrorCodes.CONFIG_INVALID));
  });
});
