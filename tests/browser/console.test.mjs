// The owner's console through the real page, against `nowplaying serve` with OWNER_SPOTIFY_ID and
// the fake Spotify's consent page (scripts/test.d/30-browser.sh starts both, with no credentials
// at all and a 2-second cache window): first setup with the app's client id and secret in the
// form, sign-in, the status, hide, show, renew, disconnect, sign out.
//
//   NOWPLAYING_CONSOLE_URL=… CONSOLE_FAKE_URL=… CONSOLE_CREDENTIALS=… node --test tests/browser/

import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { launch, screenshotPath, sleep } from './harness.mjs';

const BASE = (process.env.NOWPLAYING_CONSOLE_URL ?? '').replace(/\/+$/, '');
const FAKE = (process.env.CONSOLE_FAKE_URL ?? '').replace(/\/+$/, '');
const CREDENTIALS = process.env.CONSOLE_CREDENTIALS ?? '';
if (!BASE || !FAKE || !CREDENTIALS) {
  throw new Error('NOWPLAYING_CONSOLE_URL, CONSOLE_FAKE_URL and CONSOLE_CREDENTIALS must be set (scripts/test.d/30-browser.sh)');
}
const CLIENT_ID = 'test-client-id';
const CLIENT_SECRET = 'test-client-secret-do-not-log';
const CACHE_WINDOW_MS = 2000;

let browser;
before(async () => {
  browser = await launch();
});
after(async () => {
  await browser?.close();
});

const stored = () => (existsSync(CREDENTIALS) ? JSON.parse(readFileSync(CREDENTIALS, 'utf8')) : {});
const api = async () => (await fetch(`${BASE}/api/spotify`)).json();

/** Polls /api/spotify until `ok(answer)`; returns the milliseconds it took. */
async function apiUntil(ok, what, within = 15_000) {
  const t0 = Date.now();
  let last;
  while (Date.now() - t0 < within) {
    last = await api();
    if (ok(last)) return Date.now() - t0;
    await sleep(200);
  }
  throw new Error(`/api/spotify: ${what} not reached within ${within} ms; last ${JSON.stringify(last)}`);
}

/** On the fake Spotify's consent page: approve, then land on the signed-in console. */
async function approve(page) {
  await page.waitForURL((u) => u.href.startsWith(`${FAKE}/authorize`));
  await page.click('[data-testid="approve"]');
  await page.waitForURL((u) => u.pathname === '/owner' && u.search.includes('done=signedin'));
  await page.waitForSelector('[data-testid="deadline"]');
}

test('the whole console flow: first setup, sign in, hide, show, renew, disconnect, sign out', async (t) => {
  const page = await browser.context.newPage();
  t.after(() => page.close());
  const errors = [];
  page.on('pageerror', (e) => errors.push(e.message));

  // Signed out, nothing stored but the console key serve created.
  assert.equal(stored().refresh_token, undefined);
  assert.ok(stored().console_key, 'serve created the console key');
  const resp = await page.goto(`${BASE}/owner`);
  assert.equal(resp.status(), 200);
  const h = resp.headers();
  assert.equal(h['cache-control'], 'no-store');
  assert.match(h['content-security-policy'], /frame-ancestors 'none'/);
  assert.equal(await page.textContent('[data-testid="callback-url"]'), `${BASE}/owner/callback`);
  await page.screenshot({ path: screenshotPath('console-signed-out.png'), fullPage: true });

  // First setup: the app's credentials in the form, then Spotify's consent page.
  await page.fill('#client_id', CLIENT_ID);
  await page.fill('#client_secret', CLIENT_SECRET);
  await page.click('[data-testid="setup-submit"]');
  await approve(page);
  const first = stored();
  assert.equal(first.client_id, CLIENT_ID);
  assert.equal(first.client_secret, CLIENT_SECRET);
  assert.match(first.refresh_token, /^refresh-token-/);
  // Six months from now, rounded down to whole days (the stored moment is whole seconds).
  assert.match(await page.textContent('[data-testid="days-left"]'), /^18[12]$/);
  const html = await page.content();
  for (const secret of [CLIENT_SECRET, first.refresh_token, first.console_key]) {
    assert.ok(!html.includes(secret), 'the page shows no secret');
  }
  assert.match(await page.textContent('[data-testid="report"]'), /Configuration[\s\S]*Authorization/);
  await apiUntil((a) => a?.name === 'Console Song', 'the new sign-in serving');
  await page.reload();
  await page.screenshot({ path: screenshotPath('console-signed-in.png'), fullPage: true });
  // (The page's CSP allows it no fetch; the context's request client shares its cookies.)
  const status = await (await page.request.get(`${BASE}/owner/status.json`)).json();
  assert.ok([181, 182].includes(status.deadline.days_left), JSON.stringify(status.deadline));
  assert.equal(status.hidden, false);

  // Hide: null within one cache window; show: back.
  await page.click('[data-testid="hide"]');
  await page.waitForSelector('[data-testid="show"]');
  const hidden = await apiUntil((a) => a === null, 'null after hide', CACHE_WINDOW_MS + 1500);
  console.log(`# hide took effect on /api/spotify after ${hidden} ms (cache window ${CACHE_WINDOW_MS} ms)`);
  await page.click('[data-testid="show"]');
  await page.waitForSelector('[data-testid="hide"]');
  await apiUntil((a) => a?.name === 'Console Song', 'the answer after show', CACHE_WINDOW_MS + 3000);

  // Renew: Spotify again, a new refresh token stored, still signed in.
  await sleep(1100); // a new sign-in is told apart from the last by its second
  await page.click('[data-testid="renew"]');
  await approve(page);
  const renewed = stored();
  assert.notEqual(renewed.refresh_token, first.refresh_token);
  assert.notEqual(renewed.authorized_at, undefined);

  // Disconnect: no refresh token stored, the API answers null, the session is over.
  await page.click('[data-testid="disconnect"]');
  await page.waitForSelector('[data-testid="notice"]');
  assert.match(await page.textContent('[data-testid="notice"]'), /Disconnected/);
  assert.equal(stored().refresh_token, undefined);
  assert.equal(stored().client_id, CLIENT_ID);
  await apiUntil((a) => a === null, 'null after disconnect', CACHE_WINDOW_MS + 1500);
  const after = (await page.request.get(`${BASE}/owner/status.json`)).status();
  assert.equal(after, 401);

  // Sign in again with the stored app, then sign out.
  await sleep(1100);
  await page.click('[data-testid="signin"]');
  await approve(page);
  await page.click('[data-testid="signout"]');
  await page.waitForSelector('[data-testid="signin"]');
  assert.match(await page.textContent('[data-testid="notice"]'), /Signed out/);
  const out = (await page.request.get(`${BASE}/owner/status.json`)).status();
  assert.equal(out, 401);

  assert.deepEqual(browser.offsite, [], 'nothing left this machine');
  assert.deepEqual(errors, []);
});
