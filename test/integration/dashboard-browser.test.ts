// The dashboard in a real browser (Debian's Chromium driven by playwright-core) against the real
// service: `mwi start --demo` as a process (its presence simulator as the SIP peer, its PBX
// stand-in posting updates) on a private redis-server, with producer, viewer and operator tokens.
// An operator signs in through the login form, watches live state arrive, pauses delivery from
// the page (new updates stay undelivered), resumes it (they are delivered), and uses bull-board,
// whose own writes pass our CSRF check; a viewer sees no action buttons and is refused if it
// posts anyway. Screenshots go to test-results/dashboard/.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import fsp from 'node:fs/promises';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';

import { chromium, type BrowserContext, type Page } from 'playwright-core';

import type { WireMailboxState, WireStatus } from '../../src/api/wire-types.ts';
import { startRedis, type RedisHandle } from '../harness/redis.ts';
import { makeWorkDir, REPO_ROOT, spawnManaged, type ManagedProcess } from '../harness/process.ts';
import { MWI_BIN } from '../support/run-mwi.ts';

const CHROMIUM = '/usr/bin/chromium';
const CHROMIUM_PACKAGE = 'chromium';
const CHROMIUM_ARGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--disable-quic', '--no-first-run', '--disable-sync'];
const SCREENSHOTS = path.join(REPO_ROOT, 'test-results', 'dashboard');

const PRODUCER = 'dash-test-producer-token';
const VIEWER = 'dash-test-viewer-token';
const OPERATOR = 'dash-test-operator-token';
const MAILBOX = 'sip:dash-1@demo.invalid';
/** Markup in a reason must show as text: the page renders every value as a text node. */
const PAUSE_REASON = 'browser test: PBX <b>maintenance</b>';
/** How long a paused mailbox must stay undelivered. */
const HELD_MS = 2_500;

function requireChromium(): void {
  if (!fs.existsSync(CHROMIUM)) throw new Error(`${CHROMIUM} is missing: install the Debian package ${CHROMIUM_PACKAGE} (apt-get install -y ${CHROMIUM_PACKAGE})`);
}

function runnerEnv(redisUrl: string): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [k, v] of Object.entries(process.env)) if (!k.startsWith('MWI_')) env[k] = v;
  return {
    ...env,
    MWI_REDIS__URL: redisUrl,
    MWI_API__PORT: '0',
    MWI_API__PRODUCER_TOKEN: PRODUCER,
    MWI_API__VIEWER_TOKEN: VIEWER,
    MWI_API__OPERATOR_TOKEN: OPERATOR,
    MWI_SWEEP__ENABLED: 'true',
    MWI_SWEEP__INTERVAL_SEC: '3',
    MWI_DELIVERY__SHUTDOWN_DEADLINE_MS: '3000',
  };
}

async function until<T>(what: string, timeoutMs: number, probe: () => Promise<T | undefined>): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (value !== undefined) return value;
    if (Date.now() >= deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 150));
  }
}

async function shot(page: Page, name: string): Promise<void> {
  await page.screenshot({ path: path.join(SCREENSHOTS, `${name}.png`), fullPage: true });
}

describe('dashboard in a browser', () => {
  let redis: RedisHandle | undefined;
  let runner: ManagedProcess | undefined;
  const contexts: BrowserContext[] = [];
  let apiUrl = '';

  const post = (url: string, token: string, body: unknown) =>
    fetch(`${apiUrl}${url}`, { method: 'POST', headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' }, body: JSON.stringify(body) });
  const update = async (version: number, newCount: number): Promise<void> => {
    const res = await post('/v1/mwi', PRODUCER, { mailbox: MAILBOX, counts: { new: newCount, old: 1 }, version });
    assert.equal(res.status, 202, await res.text());
  };
  const mailbox = async (): Promise<WireMailboxState> => {
    const res = await fetch(`${apiUrl}/v1/mailboxes/${encodeURIComponent(MAILBOX)}`, { headers: { authorization: `Bearer ${VIEWER}` } });
    assert.equal(res.status, 200, `GET mailbox: ${res.status}`);
    return (await res.json()) as WireMailboxState;
  };
  const deliveredVersion = async (version: number): Promise<true | undefined> => ((await mailbox()).delivered?.version === version ? true : undefined);

  /** A browser with a fresh profile of its own (cookies included). */
  const openBrowser = async (name: string): Promise<Page> => {
    const context = await chromium.launchPersistentContext(await makeWorkDir(`chromium-${name}`), {
      executablePath: CHROMIUM,
      headless: true,
      args: CHROMIUM_ARGS,
      viewport: { width: 1280, height: 900 },
    });
    contexts.push(context);
    context.setDefaultTimeout(10_000);
    return context.pages()[0] ?? (await context.newPage());
  };
  const signIn = async (page: Page, token: string, user?: string): Promise<void> => {
    await page.goto(`${apiUrl}/login`);
    await page.fill('#token', token);
    if (user !== undefined) await page.fill('#user', user);
    await Promise.all([page.waitForURL(`${apiUrl}/dashboard`), page.click('form[action="/login"] button[type=submit]')]);
  };
  const csrfOf = async (page: Page): Promise<string> => {
    const cookie = (await page.context().cookies(apiUrl)).find((c) => c.name === 'XSRF-TOKEN');
    assert.ok(cookie, 'the login set the XSRF-TOKEN cookie');
    return cookie.value;
  };

  before(async () => {
    requireChromium();
    await fsp.mkdir(SCREENSHOTS, { recursive: true });
    redis = await startRedis({ label: 'dashboard-browser' });
    runner = await spawnManaged({
      name: 'mwi-start',
      label: 'dashboard',
      command: process.execPath,
      debPackages: 'nodejs',
      args: [MWI_BIN, 'start', '--demo', '--demo-mailboxes', '3', '--demo-rate', '2'],
      cwd: REPO_ROOT,
      env: runnerEnv(redis.url),
      ready: async (p) => /"msg":"mwi-runner started/.test(await p.logText()),
      readyTimeoutMs: 15_000,
    });
    const started = /"apiUrl":"(http:\/\/[^"]+)"/.exec(await runner.logText());
    assert.ok(started?.[1], 'the start line names the API URL');
    apiUrl = started[1];
  });

  after(async () => {
    for (const c of contexts) await c.close().catch(() => undefined);
    await runner?.stop(4_000);
    await redis?.dispose();
  });

  it('an operator signs in, watches live state, pauses and resumes delivery from the page, and uses bull-board through the CSRF check', { timeout: 45_000 }, async () => {
    const page = await openBrowser('operator');
    // Not signed in: the dashboard and the board refuse.
    assert.equal((await page.request.get(`${apiUrl}/dashboard`)).status(), 401);
    assert.equal((await page.request.get(`${apiUrl}/dashboard/queues/`)).status(), 401);

    await signIn(page, OPERATOR, 'olga');
    await update(1, 2);
    await page.locator('#principal', { hasText: 'operator:olga (operator)' }).waitFor();
    await until('mailbox v1 delivered', 10_000, () => deliveredVersion(1));

    // Live state: the simulator's target with rates above zero, the queue numbers, a sweep run.
    const row = page.locator('#targets tbody tr').first();
    const rates = await until('a target with allowed and actual rates > 0', 10_000, async () => {
      if ((await row.count()) === 0) return undefined;
      const cells = await row.locator('td').allTextContents();
      return Number(cells[3]) > 0 && Number(cells[4]) > 0 ? cells : undefined;
    });
    assert.match(rates[0] ?? '', /^udp:127\.0\.0\.1:\d+$/, 'the target is the simulator hop');
    assert.match(rates[1] ?? '', /^closed/);
    await page.locator('#queue dt', { hasText: 'Undelivered mailboxes' }).waitFor();
    assert.match(await page.locator('#queue').innerText(), /Jobs\s+\d+ waiting, \d+ active, \d+ delayed, \d+ failed/);
    await page.locator('#rate-charts svg polyline.actual').waitFor();
    await page.locator('#sweep-runs tbody td.outcome-completed').first().waitFor();
    assert.match(await page.locator('#dns').innerText(), /DNS breaker: closed|No DNS lookups/);
    await shot(page, 'operator-live');

    // Pause from the page: the banner names reason and actor, and a new update stays undelivered.
    await page.fill('#pause-reason-input', PAUSE_REASON);
    await page.fill('#pause-for-input', '10m');
    await page.click('#pause-button');
    await page.locator('#pause-banner').waitFor({ state: 'visible' });
    assert.equal(await page.locator('#pause-reason').innerText(), PAUSE_REASON);
    assert.equal(await page.locator('#pause-banner b, #audit b').filter({ hasText: /^maintenance$/ }).count(), 0, 'markup in data is not rendered');
    assert.equal(await page.locator('#pause-actor').innerText(), 'operator:olga');
    assert.match(await page.locator('#pause-until').innerText(), /^until /);
    await update(2, 5);
    const heldSince = Date.now();
    while (Date.now() - heldSince < HELD_MS) {
      const m = await mailbox();
      assert.equal(m.desired?.version, 2);
      assert.equal(m.delivered?.version, 1, 'nothing is delivered while paused');
      assert.equal(m.pending, true);
      await new Promise((resolve) => setTimeout(resolve, 250));
    }
    await page.fill('#mailbox-input', MAILBOX);
    await page.click('#mailbox-form button[type=submit]');
    await page.locator('#mailbox dd', { hasText: 'yes: desired state not delivered yet' }).waitFor();
    assert.match(await page.locator('#mailbox').innerText(), /Desired\s+v2: 5 new \/ 1 old/);
    await shot(page, 'operator-paused');

    // Resume: the held update goes out, the banner goes, the audit log shows both actions.
    await page.click('#resume-button');
    await until('mailbox v2 delivered after resume', 10_000, () => deliveredVersion(2));
    await page.locator('#pause-banner').waitFor({ state: 'hidden' });
    await page.locator('#audit tbody tr', { hasText: 'resume' }).filter({ hasText: 'operator:olga' }).waitFor();
    const auditText = await page.locator('#audit').innerText();
    assert.match(auditText, /operator:olga\s+pause until [^\n]*\s+global\s+browser test: PBX <b>maintenance<\/b>\s+dashboard/);
    assert.match(auditText, /operator:olga\s+resume\s+global\s+resumed from the dashboard\s+dashboard/);
    await page.click('#mailbox-form button[type=submit]');
    await page.locator('#mailbox dd', { hasText: /^v2: 5 new \/ 1 old \(at / }).waitFor();
    await shot(page, 'operator-resumed');

    // bull-board behind the same login; its own axios request carries the CSRF token and passes.
    await page.goto(`${apiUrl}/dashboard/queues/`);
    await page.getByRole('link', { name: 'deliver' }).waitFor();
    await page.getByRole('link', { name: 'sweep' }).waitFor();
    await shot(page, 'bull-board');
    await page.goto(`${apiUrl}/dashboard/queues/queue/sweep`);
    const queueMenu = page.locator('button[aria-haspopup=menu]').nth(1);
    const boardAction = async (item: 'Pause' | 'Resume'): Promise<void> => {
      await queueMenu.click();
      await page.getByRole('menuitem', { name: item }).click();
      const [res] = await Promise.all([
        page.waitForResponse((r) => r.request().method() === 'PUT' && r.url().endsWith(`/dashboard/queues/api/queues/sweep/${item.toLowerCase()}`)),
        page.getByRole('button', { name: 'Confirm' }).click(),
      ]);
      assert.equal(res.status(), 200, `bull-board ${item}: ${await res.text()}`);
      assert.equal(res.request().headers()['x-xsrf-token'], await csrfOf(page), 'bull-board sent the session CSRF token from the XSRF-TOKEN cookie');
    };
    await boardAction('Pause');
    await page.getByText('[ Paused ]').waitFor();
    await page.getByRole('button', { name: 'Confirm' }).waitFor({ state: 'detached' });
    await shot(page, 'bull-board-sweep-paused');
    await boardAction('Resume');
    await page.getByText('[ Paused ]').waitFor({ state: 'detached' });
    // The check is real: the same write with the session cookie but without the token is refused.
    const forged = await page.request.put(`${apiUrl}/dashboard/queues/api/queues/sweep/pause`);
    assert.equal(forged.status(), 403);
    assert.equal(((await forged.json()) as { error: { code: string } }).error.code, 'MWI_HTTP_CSRF');
  });

  it('a viewer sees no action buttons and is refused if it posts anyway', { timeout: 20_000 }, async () => {
    const page = await openBrowser('viewer');
    await signIn(page, VIEWER);
    await page.locator('#principal', { hasText: '(viewer)' }).waitFor();
    await page.locator('#targets tbody tr').first().waitFor();
    assert.equal(await page.locator('#operator-controls').isVisible(), false);
    assert.equal(await page.locator('#pause-button').isVisible(), false);
    assert.equal(await page.locator('#resume-button').isVisible(), false);
    assert.equal(await page.locator('.isolate-button:visible, .reset-button:visible').count(), 0);
    await shot(page, 'viewer');

    const csrf = await csrfOf(page);
    const pause = await page.request.post(`${apiUrl}/v1/pause`, { headers: { 'x-csrf-token': csrf }, data: { reason: 'viewer tries' } });
    assert.equal(pause.status(), 403);
    assert.equal(((await pause.json()) as { error: { code: string } }).error.code, 'MWI_HTTP_FORBIDDEN');
    const board = await page.request.put(`${apiUrl}/dashboard/queues/api/queues/deliver/pause`, { headers: { 'x-xsrf-token': csrf } });
    assert.equal(board.status(), 403);
    assert.equal(((await board.json()) as { error: { code: string } }).error.code, 'MWI_HTTP_FORBIDDEN');
    const status = await fetch(`${apiUrl}/v1/status`, { headers: { authorization: `Bearer ${VIEWER}` } });
    assert.deepEqual(((await status.json()) as WireStatus).control.pauses, [], 'the viewer paused nothing');
  });
});
