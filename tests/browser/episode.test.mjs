// An episode as a development-mode app receives it (no `show.publisher`), end to end: the fake
// Spotify answers it to a running `nowplaying serve`, whose /api/spotify, widget and card must
// name the show where the publisher used to be, and never say an empty "by".
//
//   NOWPLAYING_URL_EPISODE=http://127.0.0.1:3001 node --test tests/browser/

import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { launch, screenshotPath } from './harness.mjs';

const BASE = (process.env.NOWPLAYING_URL_EPISODE ?? '').replace(/\/+$/, '');
// Fail loudly rather than skip (scripts/test.d/30-browser.sh starts this server).
if (!BASE) throw new Error('NOWPLAYING_URL_EPISODE is not set: start `nowplaying serve` on a fake Spotify playing an episode without a publisher');

const SHOW = 'The Development Mode Show';
const EPISODE = 'Episode 7: Fields That Went Away';

let browser;
before(async () => {
  browser = await launch();
});
after(async () => {
  await browser?.close();
});

test('the JSON names the show as artists', async () => {
  const r = await fetch(`${BASE}/api/spotify`);
  assert.equal(r.status, 200);
  const a = await r.json();
  assert.equal(a.type, 'episode');
  assert.equal(a.name, EPISODE);
  assert.equal(a.artists, SHOW);
  assert.equal(a.album, SHOW);
});

test('the widget shows the show on the artist line and in its accessible label', async (t) => {
  const page = await browser.context.newPage();
  t.after(() => page.close());
  const errors = [];
  page.on('pageerror', (e) => errors.push(e.message));
  await page.goto(`${BASE}/`);
  await page.waitForFunction(
    () => document.querySelector('spotify-now-playing[data-testid="live-widget"]')?.getAttribute('data-state') === 'playing',
    null,
    { timeout: 15_000 },
  );
  const seen = await page.evaluate(() => {
    const root = document.querySelector('spotify-now-playing[data-testid="live-widget"]').shadowRoot;
    const $ = (id) => root.querySelector(`[data-testid="${id}"]`);
    return {
      kind: root.host.getAttribute('data-kind'),
      title: $('title')?.textContent ?? null,
      artist: $('artist')?.textContent ?? null,
      album: $('album')?.textContent ?? null,
      cardLabel: $('card')?.getAttribute('aria-label') ?? null,
      announce: $('announce')?.textContent ?? null,
      text: root.textContent,
    };
  });
  assert.equal(seen.kind, 'episode');
  assert.equal(seen.title, EPISODE);
  assert.equal(seen.artist, SHOW, JSON.stringify(seen));
  assert.equal(seen.album, `Podcast · ${SHOW}`);
  assert.match(seen.cardLabel, new RegExp(`^Now playing episode: ${EPISODE} by ${SHOW}\\. `), seen.cardLabel);
  for (const said of [seen.cardLabel, seen.announce]) {
    assert.doesNotMatch(said, /\bby\s*[.,]|\bby\s*$/, `an empty "by": ${said}`);
  }
  assert.match(seen.announce, new RegExp(`by ${SHOW}`));
  await page.screenshot({ path: screenshotPath('episode-no-publisher.png') });
  assert.deepEqual(errors, []);
});

test('the card draws the show on the artist line and in its title', async (t) => {
  const page = await browser.context.newPage();
  t.after(() => page.close());
  const resp = await page.goto(`${BASE}/api/spotify.svg`);
  assert.equal(resp.status(), 200);
  const drawn = await page.evaluate(() => ({
    title: document.querySelector('title')?.textContent ?? '',
    lines: [...document.documentElement.querySelectorAll('text')].map((t) => t.textContent),
  }));
  assert.ok(drawn.title.includes(`by ${SHOW}`), drawn.title);
  assert.ok(drawn.lines.includes(SHOW), JSON.stringify(drawn.lines));
  assert.ok(drawn.lines.every((l) => l.trim() !== ''), `an empty line: ${JSON.stringify(drawn.lines)}`);
});
