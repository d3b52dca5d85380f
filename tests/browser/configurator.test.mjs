// The card configurator on the preview page (GET /): what it previews is what its snippets ask
// for, and the snippets render the card it previews. And `theme=art` on two album arts gives two
// different backgrounds with readable text. scripts/test.d/30-browser.sh starts:
//   NOWPLAYING_URL_LISTS_ON   `serve --demo`: every list and card on, raster demo art
//   NOWPLAYING_URL_ART_RED    a fake Spotify playing a track with a red cover (640, 300, 64 px)
//   NOWPLAYING_URL_ART_BLUE   the same with a blue cover

import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { launch, screenshotPath } from './harness.mjs';

const trim = (u) => (u ?? '').replace(/\/+$/, '');
const BASE = trim(process.env.NOWPLAYING_URL_LISTS_ON);
const RED = trim(process.env.NOWPLAYING_URL_ART_RED);
const BLUE = trim(process.env.NOWPLAYING_URL_ART_BLUE);
if (!BASE || !RED || !BLUE) {
  throw new Error('NOWPLAYING_URL_LISTS_ON, NOWPLAYING_URL_ART_RED and NOWPLAYING_URL_ART_BLUE must be set');
}

let browser;
before(async () => {
  browser = await launch();
});
after(async () => {
  await browser?.close();
});

/** Opens the preview page and waits until the configurator's card probes have answered. */
async function openConfigurator(t) {
  const page = await browser.context.newPage();
  t.after(() => page.close());
  const errors = [];
  page.on('pageerror', (e) => errors.push(String(e)));
  t.after(() => assert.deepEqual(errors, [], 'no script errors'));
  await page.goto(`${BASE}/`);
  await page.waitForFunction(
    () => [...document.querySelectorAll('[data-testid="config-card"] option')].filter((o) => !o.disabled).length >= 4,
    null,
    { timeout: 10_000 },
  );
  return page;
}

/** The configurator's outputs: the preview's URL and the URLs each snippet asks for. */
async function outputs(page) {
  return page.evaluate(() => {
    const text = (id) => document.querySelector(`[data-testid="${id}"]`).textContent;
    const md = text('config-markdown');
    const m = md.match(/^\[!\[[^\]]*\]\(([^)]+)\)\]\(([^)]+)\)$/);
    const html = new DOMParser().parseFromString(text('config-html'), 'text/html');
    const picture = new DOMParser().parseFromString(text('config-picture'), 'text/html');
    return {
      preview: document.querySelector('[data-testid="config-preview"]').src,
      markdown: m && { image: m[1], link: m[2] },
      html: { image: html.querySelector('a > img')?.getAttribute('src'), link: html.querySelector('a')?.getAttribute('href') },
      picture: {
        dark: picture.querySelector('picture > source[media="(prefers-color-scheme: dark)"]')?.getAttribute('srcset'),
        light: picture.querySelector('picture > img')?.getAttribute('src'),
      },
      htmlSnippet: text('config-html'),
      pictureSnippet: text('config-picture'),
    };
  });
}

/** The image `selector` drawn at its natural size, as a PNG data URL (run in the page). */
function pixels(selector) {
  const img = document.querySelector(selector);
  const canvas = document.createElement('canvas');
  canvas.width = img.naturalWidth;
  canvas.height = img.naturalHeight;
  canvas.getContext('2d').drawImage(img, 0, 0);
  return canvas.toDataURL('image/png');
}

/** Waits until the preview image has loaded its current src; returns its natural size. */
async function previewLoaded(page) {
  await page.waitForFunction(() => {
    const img = document.querySelector('[data-testid="config-preview"]');
    return img.complete && img.naturalWidth > 0;
  });
  return page.evaluate(() => {
    const img = document.querySelector('[data-testid="config-preview"]');
    return { width: img.naturalWidth, height: img.naturalHeight };
  });
}

describe('card configurator', () => {
  test('every card and parameter: the snippets ask for exactly the previewed card', async (t) => {
    const page = await openConfigurator(t);
    const cards = await page.$$eval('[data-testid="config-card"] option:not([disabled])', (os) => os.map((o) => o.value));
    // The demo turns every list on: at least now playing, recent, both top lists and the calendar.
    for (const c of ['now', 'recent', 'top-tracks', 'top-artists', 'playlists', 'history']) assert.ok(cards.includes(c), `${c} offered (${cards})`);
    const settings = [
      {},
      { theme: 'dark' },
      { theme: 'art', width: '520', radius: '0' },
      { use_accent: true, accent: '#ff0088', hide_source: true },
      { hide_art: true, hide_progress: true, transparent: true, idle_text: 'Offline <for now> & "quiet"' },
    ];
    for (const card of cards) {
      await page.selectOption('[data-testid="config-card"]', card);
      for (const s of settings) {
        await page.evaluate((s) => {
          const f = document.getElementById('config');
          f.reset();
          for (const [k, v] of Object.entries(s)) {
            const el = f.elements[k];
            if (el.type === 'checkbox') el.checked = v;
            else el.value = v;
          }
          f.dispatchEvent(new Event('input'));
        }, s);
        await page.selectOption('[data-testid="config-card"]', card);
        const o = await outputs(page);
        const what = `${card} ${JSON.stringify(s)}`;
        assert.ok(o.markdown, `${what}: the Markdown is an image in a link`);
        assert.equal(o.markdown.image, o.preview, `${what}: Markdown image`);
        assert.equal(o.html.image, o.preview, `${what}: HTML image`);
        assert.equal(o.markdown.link, o.html.link, `${what}: one link`);
        const q = new URL(o.preview).searchParams;
        if (s.theme && card !== 'history') assert.equal(q.get('theme'), s.theme, what);
        if (s.hide_source && card !== 'history') assert.equal(q.get('hide_source'), 'true', what);
        // The <picture> form: the same card in dark and light.
        for (const [theme, url] of Object.entries(o.picture)) {
          const p = new URL(url).searchParams;
          assert.equal(p.get('theme'), theme, `${what}: <picture> ${theme}`);
          p.delete('theme');
          q.delete('theme');
          assert.equal(p.toString(), q.toString(), `${what}: <picture> ${theme} has the other parameters`);
        }
        // The server accepts every URL the configurator makes (an invalid one is a 400).
        const resp = await page.request.get(o.preview);
        assert.equal(resp.status(), 200, `${what}: ${o.preview} → ${resp.status()} ${(await resp.text()).slice(0, 300)}`);
        assert.match(resp.headers()['content-type'], /^image\/svg\+xml/, what);
        await previewLoaded(page);
      }
    }
  });

  test('the HTML and <picture> snippets render the card the preview shows', async (t) => {
    const page = await openConfigurator(t);
    // The top artists: a card that does not move, so two renderings can be compared pixel for pixel.
    await page.selectOption('[data-testid="config-card"]', 'top-artists');
    await page.fill('input[name="width"]', '500');
    await page.fill('input[name="radius"]', '4');
    await page.check('input[name="use_accent"]');
    await page.evaluate(() => {
      const el = document.querySelector('input[name="accent"]');
      el.value = '#ff0088';
      el.dispatchEvent(new Event('input', { bubbles: true }));
    });
    await page.selectOption('[data-testid="config-theme"]', 'dark');
    const o = await outputs(page);
    assert.match(o.preview, /theme=dark/);
    assert.match(o.preview, /accent=ff0088/);
    const size = await previewLoaded(page);
    assert.equal(size.width, 500, 'the preview is 500 px wide');
    const previewPixels = await page.evaluate(pixels, '[data-testid="config-preview"]');

    // The HTML snippet on a page of its own, of this server's origin (so its canvas may be read).
    const other = await browser.context.newPage();
    t.after(() => other.close());
    await other.goto(`${BASE}/api/spotify`);
    await other.setContent(o.htmlSnippet);
    await other.waitForFunction(() => document.querySelector('img').complete && document.querySelector('img').naturalWidth > 0);
    const snippetPixels = await other.evaluate(pixels, 'a > img');
    assert.ok(previewPixels.length > 1000, 'the preview was drawn');
    assert.ok(previewPixels === snippetPixels, 'the HTML snippet renders the previewed card, pixel for pixel');
    await other.locator('img').screenshot({ path: screenshotPath('configurator-card.png') });

    // The <picture> snippet follows the reader's theme.
    for (const scheme of ['dark', 'light']) {
      await other.emulateMedia({ colorScheme: scheme });
      await other.setContent(o.pictureSnippet);
      await other.waitForFunction(() => document.querySelector('img').complete && document.querySelector('img').naturalWidth > 0);
      const src = await other.evaluate(() => document.querySelector('img').currentSrc);
      assert.equal(new URL(src).searchParams.get('theme'), scheme, `${scheme} readers get the ${scheme} card`);
    }
    await page.locator('[data-testid="configurator"]').screenshot({ path: screenshotPath('configurator.png') });
  });
});

/** WCAG's relative luminance of `rgb(r, g, b)`. */
function luminance(rgb) {
  const [r, g, b] = rgb.match(/\d+(\.\d+)?/g).slice(0, 3).map(Number).map((v) => {
    const c = v / 255;
    return c <= 0.03928 ? c / 12.92 : ((c + 0.055) / 1.055) ** 2.4;
  });
  return 0.2126 * r + 0.7152 * g + 0.0722 * b;
}
const contrast = (a, b) => {
  const [hi, lo] = [luminance(a), luminance(b)].sort((x, y) => y - x);
  return (hi + 0.05) / (lo + 0.05);
};

describe('theme=art', () => {
  test('two album arts give two different backgrounds, each with readable text', async (t) => {
    const found = [];
    for (const [name, base] of [['red', RED], ['blue', BLUE]]) {
      const page = await browser.context.newPage();
      t.after(() => page.close());
      await page.setViewportSize({ width: 440, height: 160 });
      await page.emulateMedia({ reducedMotion: 'reduce' });
      const resp = await page.goto(`${base}/api/spotify.svg?theme=art`);
      assert.equal(resp.status(), 200);
      const card = await page.evaluate(() => ({
        art: document.querySelectorAll('image[href^="data:image/"]').length,
        bg: getComputedStyle(document.querySelector('.np-bg')).fill,
        texts: [...document.querySelectorAll('text')].map((el) => ({ text: el.textContent, fill: getComputedStyle(el).fill })),
      }));
      assert.equal(card.art, 1, `${name}: the card embeds the art`);
      for (const { text, fill } of card.texts) {
        const ratio = contrast(fill, card.bg);
        t.diagnostic(`${name}: "${text}" ${fill} on ${card.bg}: ${ratio.toFixed(2)}:1`);
        assert.ok(ratio >= 4.5, `${name}: "${text}" ${fill} on ${card.bg} is ${ratio.toFixed(2)}:1, under WCAG AA`);
      }
      found.push({ name, bg: card.bg, shot: await page.screenshot({ clip: { x: 300, y: 100, width: 80, height: 12 } }) });
      await page.screenshot({ path: screenshotPath(`card-art-${name}.png`) });
    }
    // The README's configured card.
    const readme = await browser.context.newPage();
    t.after(() => readme.close());
    await readme.setViewportSize({ width: 480, height: 120 });
    await readme.emulateMedia({ reducedMotion: 'reduce' });
    const shown = await readme.goto(`${RED}/api/spotify.svg?theme=art&width=480&radius=6&hide_source=true`);
    assert.equal(shown.status(), 200);
    await readme.screenshot({ path: screenshotPath('card-configured.png'), omitBackground: true });
    assert.notEqual(found[0].bg, found[1].bg, 'the two backgrounds differ');
    assert.ok(!found[0].shot.equals(found[1].shot), 'the two rendered backgrounds differ');
    // The red cover's background is reddish, the blue one's bluish.
    const rgb = (s) => s.match(/\d+/g).map(Number);
    const [r1, , b1] = rgb(found[0].bg);
    const [r2, , b2] = rgb(found[1].bg);
    assert.ok(r1 > b1, `red art: ${found[0].bg}`);
    assert.ok(b2 > r2, `blue art: ${found[1].bg}`);
  });
});
