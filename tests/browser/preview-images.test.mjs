// The preview page (GET /) never shows a broken image: every <img> on it, in the page and inside
// the widgets' shadow roots, either loads (naturalWidth > 0) or is not rendered, whichever lists
// the owner turned on. scripts/test.d/30-browser.sh starts one server per case:
//   NOWPLAYING_URL            the history on, the top lists and saved tracks off (the defaults)
//   NOWPLAYING_URL_LISTS_ON   every list on (`serve --demo`)
//   NOWPLAYING_URL_LISTS_OFF  every list off (SHOW_RECENT=false, no PROFILE_ENDPOINTS)

import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { launch, sleep } from './harness.mjs';

const cases = [
  ['the default lists (history on, top off)', process.env.NOWPLAYING_URL],
  ['every list on', process.env.NOWPLAYING_URL_LISTS_ON],
  ['every list off', process.env.NOWPLAYING_URL_LISTS_OFF],
].filter(([, url]) => url);

let browser;
before(async () => {
  if (cases.length) browser = await launch();
});
after(async () => {
  await browser?.close();
});

/** Every <img> of the page, shadow roots included, with whether it is rendered and loaded. */
function images({ scroll = false } = {}) {
  const found = [];
  const walk = (root) => {
    for (const el of root.querySelectorAll('*')) {
      if (el.tagName === 'IMG') found.push(el);
      if (el.shadowRoot) walk(el.shadowRoot);
    }
  };
  walk(document);
  // Lazy images load only near the viewport: bring each one there once.
  if (scroll) for (const img of found) if (!img.complete) img.scrollIntoView({ block: 'center' });
  return found.map((img) => ({
    src: img.getAttribute('src'),
    testid: img.dataset.testid ?? null,
    rendered: img.checkVisibility(),
    complete: img.complete,
    loaded: img.complete && img.naturalWidth > 0,
  }));
}

describe('preview page images', { skip: cases.length ? false : 'NOWPLAYING_URL is not set' }, () => {
  for (const [name, url] of cases) {
    test(`every image loads or is hidden: ${name}`, async (t) => {
      const base = url.replace(/\/+$/, '');
      const page = await browser.context.newPage();
      t.after(() => page.close());
      await page.goto(`${base}/`);
      await page.waitForFunction(() => customElements.get('spotify-now-playing'));
      // The endpoint probes, the widgets' first answers and their images (up to 10 s).
      let imgs = [];
      for (let i = 0; i < 50; i++) {
        await page.evaluate(images, { scroll: true });
        await sleep(200);
        imgs = await page.evaluate(images);
        const settled = imgs.every((img) => !img.rendered || img.complete);
        if (i >= 5 && settled) break;
      }
      const broken = imgs.filter((img) => img.rendered && !img.loaded);
      assert.deepEqual(broken, [], `${name}: rendered images that did not load`);
      // The now-playing cards are always there and load.
      const cards = imgs.filter((img) => img.testid === 'card-light' || img.testid === 'card-dark');
      assert.equal(cards.length, 2);
      assert.ok(cards.every((img) => img.loaded), JSON.stringify(cards));
      // The top list card: shown and loaded exactly when the top lists are on.
      const topOn = (await fetch(`${base}/api/spotify/top/artists`)).status !== 404;
      const top = imgs.find((img) => img.testid === 'top-card');
      assert.ok(top, 'the page has its top list card');
      assert.equal(top.rendered && top.loaded, topOn, JSON.stringify(top));
      // The listening calendar card: likewise with the history.
      const historyOn = (await fetch(`${base}/api/spotify/history/stats`)).status !== 404;
      const calendar = imgs.find((img) => img.testid === 'history-card');
      assert.ok(calendar, 'the page has its calendar card');
      assert.equal(calendar.rendered && calendar.loaded, historyOn, JSON.stringify(calendar));
    });
  }
});
