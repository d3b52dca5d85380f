// End to end against a running `nowplaying serve` (with the fake Spotify or --demo):
// the preview page, the widget fed by the real /api/spotify, and the README card.
//
//   NOWPLAYING_URL=http://127.0.0.1:3000 node --test tests/browser/

import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { launch, screenshotPath } from './harness.mjs';

const BASE = (process.env.NOWPLAYING_URL ?? '').replace(/\/+$/, '');

// Fail loudly rather than skip: these tests are the only ones that see the real server, so a
// missing server fails this file as a whole (the runner counts it as a failed test).
if (!BASE) throw new Error('NOWPLAYING_URL is not set: start `nowplaying serve` and export its base URL');
{
  const probe = await fetch(`${BASE}/api/spotify`).catch((e) => e);
  if (probe instanceof Error) throw new Error(`nothing answers at ${BASE}: ${probe.cause?.message ?? probe.message}`);
}

let browser;

before(async () => {
  browser = await launch();
});

after(async () => {
  await browser?.close();
});

/** The answer of /api/spotify as the server gives it now. */
async function answer() {
  const r = await fetch(`${BASE}/api/spotify`);
  assert.equal(r.status, 200);
  assert.match(r.headers.get('content-type') ?? '', /application\/json/);
  return r.json();
}

/** What the widget or card should show for an answer, whitespace collapsed. */
const expectedTitle = (a) => (a === null ? 'Not listening to Spotify' : a.name.split(/\s+/).filter(Boolean).join(' '));

function readWidget(page, testid) {
  return page.evaluate((id) => {
    const host = document.querySelector(`spotify-now-playing[data-testid="${id}"]`);
    const title = host.shadowRoot.querySelector('[data-testid="title"]');
    return { state: host.getAttribute('data-state'), title: title?.textContent ?? null };
  }, testid);
}

describe('preview page', () => {
  test('GET / shows the live widget, both themes, the snippets and the cards', async (t) => {
    const page = await browser.context.newPage();
    t.after(() => page.close());
    const requests = [];
    page.on('request', (r) => requests.push(r.url()));
    const errors = [];
    page.on('pageerror', (e) => errors.push(e.message));
    // The widget may also load the album art the API names, wherever it lives.
    const art = new Set();
    page.on('response', async (r) => {
      if (new URL(r.url()).pathname !== '/api/spotify') return;
      const body = await r.json().catch(() => null);
      if (body?.albumImage) art.add(body.albumImage);
    });

    const before = await answer();
    const resp = await page.goto(`${BASE}/`);
    assert.equal(resp.status(), 200);
    assert.match(resp.headers()['content-type'] ?? '', /text\/html/);

    for (const id of ['live-widget', 'light-widget', 'dark-widget']) {
      await page.waitForFunction(
        (i) => {
          const s = document.querySelector(`spotify-now-playing[data-testid="${i}"]`)?.getAttribute('data-state');
          return s && s !== 'loading';
        },
        id,
        { timeout: 15_000 },
      );
    }
    const live = await readWidget(page, 'live-widget');
    const afterwards = await answer();
    assert.ok(['playing', 'paused', 'recent', 'idle'].includes(live.state), `state ${live.state}`);
    // The server may move on between two reads; the widget must show one of them.
    const candidates = [before, afterwards].map((a) => [a === null ? 'idle' : a.status, expectedTitle(a)]);
    assert.ok(
      candidates.some(([state, title]) => state === live.state && title === live.title),
      `widget shows ${JSON.stringify(live)}, server said ${JSON.stringify(candidates)}`,
    );
    const light = await readWidget(page, 'light-widget');
    const dark = await readWidget(page, 'dark-widget');
    assert.equal(light.state, live.state);
    assert.equal(dark.state, live.state);
    assert.equal(
      await page.evaluate(() => document.querySelector('[data-testid="dark-widget"]').getAttribute('theme')),
      'dark',
    );

    // The snippets carry this server's address.
    const origin = new URL(BASE).origin;
    const embed = await page.locator('[data-testid="embed-snippet"]').textContent();
    assert.ok(embed.includes(`<script type="module" src="${origin}/widget.js"></script>`), embed);
    assert.ok(embed.includes(`<spotify-now-playing src="${origin}/api/spotify"></spotify-now-playing>`), embed);
    const react = await page.locator('[data-testid="react-snippet"]').textContent();
    for (const part of ['useEffect', 'setInterval', `fetch(API)`, `${origin}/api/spotify`, 'song.albumImage']) {
      assert.ok(react.includes(part), `React example lacks ${part}`);
    }
    assert.ok((await page.locator('[data-testid="swr-snippet"]').textContent()).includes('refreshInterval'));

    // The README cards load as images (an <img> loads nothing an SVG refers to).
    await page.waitForFunction(() =>
      ['card-light', 'card-dark'].every((id) => {
        const img = document.querySelector(`img[data-testid="${id}"]`);
        return img.complete;
      }),
    );
    const sizes = await page.evaluate(() =>
      ['card-light', 'card-dark'].map((id) => document.querySelector(`img[data-testid="${id}"]`).naturalWidth),
    );
    assert.ok(sizes.every((w) => w > 0), `cards as <img>: natural widths ${sizes}`);

    await page.screenshot({ path: screenshotPath('preview.png'), fullPage: true });
    assert.deepEqual(errors, [], 'no script errors');
    for (const url of requests) {
      assert.ok(new URL(url).origin === origin || art.has(url), `request to another origin: ${url}`);
    }
    // Art elsewhere was refused by the harness (no network here); nothing else may have been asked for.
    assert.deepEqual(browser.offsite.filter((u) => !art.has(u)), []);
  });

  test('GET /widget.js is a JavaScript module', async () => {
    const r = await fetch(`${BASE}/widget.js`);
    assert.equal(r.status, 200);
    assert.match(r.headers.get('content-type') ?? '', /javascript/);
    assert.match(await r.text(), /customElements\.define\('spotify-now-playing'/);
  });
});

describe('README card', () => {
  for (const [query, file] of [
    ['', 'card-light.png'],
    ['?theme=light', null],
    ['?theme=dark', 'card-dark.png'],
  ]) {
    test(`GET /api/spotify.svg${query} draws the card`, async (t) => {
      const page = await browser.context.newPage();
      t.after(() => page.close());
      await page.setViewportSize({ width: 440, height: 160 });
      const requests = [];
      page.on('request', (r) => requests.push(r.url()));
      const before = await answer();
      const resp = await page.goto(`${BASE}/api/spotify.svg${query}`);
      assert.equal(resp.status(), 200);
      assert.match(resp.headers()['content-type'] ?? '', /^image\/svg\+xml/);
      const afterwards = await answer();

      const drawn = await page.evaluate(() => {
        const root = document.documentElement;
        const box = root.getBoundingClientRect();
        return {
          root: root.localName,
          ns: root.namespaceURI,
          width: box.width,
          height: box.height,
          text: [...root.querySelectorAll('text')].map((t) => t.textContent).join('\n'),
          scripts: root.querySelectorAll('script').length,
          foreign: root.querySelectorAll('foreignObject').length,
          hrefs: [...root.querySelectorAll('[href]')].map((e) => e.getAttribute('href').slice(0, 11)),
        };
      });
      assert.equal(drawn.root, 'svg');
      assert.equal(drawn.ns, 'http://www.w3.org/2000/svg');
      assert.ok(drawn.width > 0 && drawn.height > 0, `size ${drawn.width}×${drawn.height}`);
      assert.equal(drawn.scripts, 0);
      assert.equal(drawn.foreign, 0);
      for (const h of drawn.hrefs) assert.ok(h.startsWith('data:image/'), `external reference ${h}`);
      // The title, possibly cut with "…": compare its first characters.
      const titles = [before, afterwards].map((a) => [...expectedTitle(a)].slice(0, 12).join(''));
      assert.ok(
        titles.some((prefix) => drawn.text.includes(prefix)),
        `card text ${JSON.stringify(drawn.text)} lacks ${JSON.stringify(titles)}`,
      );
      assert.deepEqual(
        requests.filter((u) => !u.startsWith('data:')),
        [`${BASE}/api/spotify.svg${query}`],
        'the card loads nothing else',
      );
      if (file) await page.locator(':root').screenshot({ path: screenshotPath(file) });
    });
  }

  test('GET /api/spotify.svg?theme=neon answers 400', async () => {
    const r = await fetch(`${BASE}/api/spotify.svg?theme=neon`);
    assert.equal(r.status, 400);
  });
});
