// The listening calendar in Debian's chromium. <spotify-history> draws a year of day squares
// from the statistics (answered here by page.route() with fixture JSON in the shape of
// GET /api/spotify/history/stats, see docs/api.md, "The listening history"), with a tooltip per
// day; the calendar card GET /api/spotify/history.svg of a running `serve --demo`
// (NOWPLAYING_URL_LISTS_ON, the history on) loads as an image in both themes without errors.

import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { json, launch, screenshotPath, startStaticServer } from './harness.mjs';

let browser;
let server;

before(async () => {
  server = await startStaticServer();
  browser = await launch();
});

after(async () => {
  await browser?.close();
  await server?.close();
});

/** Statistics of the 365 days to 2026-12-02, with plays on three of them. */
const stats = (over = {}) => ({
  from: '2025-12-03',
  to: '2026-12-02',
  complete: true,
  stale: false,
  days: [
    { date: '2026-01-15', plays: 3, timedPlays: 3, minutesPlayed: 9.5 },
    { date: '2026-11-30', plays: 12, timedPlays: 12, minutesPlayed: 34.5 },
    { date: '2026-12-02', plays: 1, timedPlays: 1, minutesPlayed: 3.2 },
  ],
  totals: { plays: 16, timedPlays: 16, minutesPlayed: 47.2, tracks: 5, artists: 3, albums: 2, days: 3, firstPlay: '2026-01-15T10:00:00Z', lastPlay: '2026-12-02T08:00:00Z' },
  topTracks: [],
  topArtists: [],
  topAlbums: [],
  ...over,
});

async function historyPage(t, body, attrs = '') {
  const page = await browser.context.newPage();
  t.after(() => page.close());
  const errors = [];
  page.on('pageerror', (e) => errors.push(String(e)));
  page.on('console', (m) => m.type() === 'error' && errors.push(m.text()));
  await page.route('**/api/spotify/history/stats', (route) => route.fulfill(json(body)));
  await page.goto(`${server.base}/page?tag=spotify-history&src=${encodeURIComponent(`${server.base}/api/spotify/history/stats`)}${attrs}`);
  const el = page.locator('spotify-history');
  await page.waitForFunction(() => {
    const s = document.querySelector('spotify-history')?.getAttribute('data-state');
    return s === 'ready' || s === 'idle';
  });
  return { page, el, errors };
}

describe('<spotify-history>', () => {
  test('draws one square per day, shaded, with the seeded day\'s numbers as its tooltip', async (t) => {
    const { page, el, errors } = await historyPage(t, stats());
    assert.equal(await el.getAttribute('data-days'), '365');
    const days = el.locator('[data-testid="day"]');
    assert.equal(await days.count(), 365);
    const seeded = el.locator('[data-date="2026-11-30"]');
    assert.equal(await seeded.getAttribute('title'), '2026-11-30: 12 plays, 34.5 min');
    assert.equal(await seeded.getAttribute('data-level'), '4');
    assert.equal(await el.locator('[data-date="2026-01-15"]').getAttribute('data-level'), '2');
    assert.equal(await el.locator('[data-date="2026-12-02"]').getAttribute('data-level'), '1');
    assert.equal(await el.locator('[data-date="2026-06-01"]').getAttribute('title'), '2026-06-01: 0 plays');
    assert.equal(await el.locator('[data-date="2026-06-01"]').getAttribute('data-level'), '0');
    // The first day is a Wednesday: three hidden pads above it in the first week's column.
    const first = await days.first().boundingBox();
    const seventh = await el.locator('[data-date="2025-12-06"]').boundingBox();
    assert.equal(Math.round(first.x), Math.round(seventh.x), 'Wednesday to Saturday share the first column');
    assert.ok(seventh.y > first.y);
    // Shaded squares differ from empty ones.
    const bg = (sel) => el.locator(sel).evaluate((n) => getComputedStyle(n).backgroundColor);
    assert.notEqual(await bg('[data-date="2026-11-30"]'), await bg('[data-date="2026-06-01"]'));
    assert.match(await el.locator('[data-testid="totals"]').textContent(), /16 plays · 1 hour · 2025-12-03 to 2026-12-02/);
    await el.screenshot({ path: screenshotPath('history-widget-light.png') });
    assert.deepEqual(errors, []);
  });

  test('by plays when some lengths are unknown, dark, and idle on null', async (t) => {
    const body = stats({
      totals: { plays: 16, timedPlays: 0, minutesPlayed: 0 },
      days: [
        { date: '2026-11-30', plays: 2, timedPlays: 0, minutesPlayed: 0 },
        { date: '2026-12-01', plays: 8, timedPlays: 0, minutesPlayed: 0 },
      ],
    });
    const { page, el } = await historyPage(t, body, '&theme=dark');
    assert.equal(await el.locator('[data-date="2026-12-01"]').getAttribute('title'), '2026-12-01: 8 plays');
    assert.equal(await el.locator('[data-date="2026-12-01"]').getAttribute('data-level'), '4');
    assert.equal(await el.locator('[data-date="2026-11-30"]').getAttribute('data-level'), '1');
    await el.screenshot({ path: screenshotPath('history-widget-dark.png') });
    const idle = await historyPage(t, null);
    assert.equal(await idle.el.getAttribute('data-state'), 'idle');
    assert.equal(await idle.el.locator('[data-testid="empty"]').textContent(), 'Nothing to show yet');
    assert.equal(await idle.el.locator('[data-testid="day"]').count(), 0);
    void page;
  });
});

const demo = process.env.NOWPLAYING_URL_LISTS_ON;

describe('the calendar card of a running server', { skip: demo ? false : 'NOWPLAYING_URL_LISTS_ON is not set' }, () => {
  test('history.svg loads as an image in both themes, without errors', async (t) => {
    const base = (demo || '').replace(/\/+$/, '');
    const page = await browser.context.newPage();
    t.after(() => page.close());
    const errors = [];
    page.on('pageerror', (e) => errors.push(String(e)));
    page.on('console', (m) => m.type() === 'error' && errors.push(m.text()));
    await page.goto(`${base}/api/spotify`);
    for (const theme of ['light', 'dark']) {
      const loaded = await page.evaluate(async (src) => {
        const img = new Image();
        img.src = src;
        await img.decode();
        return { width: img.naturalWidth, height: img.naturalHeight };
      }, `${base}/api/spotify/history.svg?theme=${theme}`);
      assert.ok(loaded.width > 600 && loaded.height > 100, JSON.stringify(loaded));
      // As a document: well-formed XML, one square per day of the year, nothing external.
      const doc = await page.evaluate(async (src) => {
        const text = await (await fetch(src)).text();
        const xml = new DOMParser().parseFromString(text, 'image/svg+xml');
        return {
          error: xml.getElementsByTagName('parsererror').length,
          days: xml.querySelectorAll('rect.np-day').length,
          titles: xml.querySelectorAll('rect.np-day > title').length,
          external: [...xml.querySelectorAll('*')].some((n) => [...n.attributes].some((a) => /href/i.test(a.name))),
          scripts: xml.getElementsByTagName('script').length,
        };
      }, `${base}/api/spotify/history.svg?theme=${theme}`);
      assert.deepEqual(doc, { error: 0, days: 365, titles: 365, external: false, scripts: 0 });
    }
    const shot = await browser.context.newPage();
    t.after(() => shot.close());
    await shot.goto(`${base}/api/spotify/history.svg?theme=dark`);
    await shot.screenshot({ path: screenshotPath('history-card-dark.png') });
    assert.deepEqual(errors, []);
    assert.deepEqual(browser.offsite, []);
  });

  test('the widget draws the server\'s own statistics', async (t) => {
    const base = (demo || '').replace(/\/+$/, '');
    const page = await browser.context.newPage();
    t.after(() => page.close());
    await page.goto(`${base}/`);
    const el = page.locator('[data-testid="history-widget"]');
    await page.waitForFunction(() => document.querySelector('[data-testid="history-widget"]')?.getAttribute('data-state') === 'ready');
    assert.equal(await el.getAttribute('data-days'), '365');
    const body = await (await fetch(`${base}/api/spotify/history/stats`)).json();
    const today = await el.locator(`[data-date="${body.to}"]`).getAttribute('title');
    const seen = body.days.find((d) => d.date === body.to);
    assert.ok(today.startsWith(`${body.to}: ${seen ? seen.plays : 0} play`), today);
  });
});
