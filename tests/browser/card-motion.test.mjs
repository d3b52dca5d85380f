// The README card moves while a track plays: its progress bar grows between two readings a
// second apart, and stands still under reduced motion. Against NOWPLAYING_URL, whose fake Spotify
// plays "Browser Test Song" at 42 s of 200 s (scripts/test.d/30-browser.sh), so the bar has about
// 158 s left to grow (about 1.1 px a second on the default card).
//
// Two measures per reading: the bar's drawn width (getBoundingClientRect of the `.np-progress`
// rect, the card opened as a document), and a screenshot of the bar's row.

import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { launch, sleep } from './harness.mjs';

const BASE = (process.env.NOWPLAYING_URL ?? '').replace(/\/+$/, '');
if (!BASE) throw new Error('NOWPLAYING_URL is not set: start `nowplaying serve` and export its base URL');

let browser;
before(async () => {
  browser = await launch();
});
after(async () => {
  await browser?.close();
});

/** Opens the card with `reducedMotion` emulated as given; returns the page. */
async function openCard(t, reducedMotion) {
  const page = await browser.context.newPage();
  t.after(() => page.close());
  await page.setViewportSize({ width: 440, height: 160 });
  await page.emulateMedia({ reducedMotion });
  const resp = await page.goto(`${BASE}/api/spotify.svg`);
  assert.equal(resp.status(), 200);
  const live = await page.evaluate(() => document.querySelectorAll('.np-progress.np-live').length);
  assert.equal(live, 1, 'the playing card has its moving bar');
  return page;
}

/** The bar's drawn width and a screenshot of its row. */
async function reading(page) {
  const box = await page.evaluate(() => {
    const r = document.querySelector('.np-progress').getBoundingClientRect();
    const track = document.querySelector('.np-progress').previousElementSibling.getBoundingClientRect();
    return { x: r.x, y: r.y, width: r.width, height: r.height, trackWidth: track.width };
  });
  const shot = await page.screenshot({
    clip: { x: box.x - 2, y: box.y - 2, width: box.trackWidth + 4, height: box.height + 4 },
  });
  return { ...box, shot };
}

describe('README card motion', () => {
  test('the progress bar of a playing card grows between two readings a second apart', async (t) => {
    const page = await openCard(t, 'no-preference');
    const first = await reading(page);
    await sleep(1000);
    const second = await reading(page);
    const grown = second.width - first.width;
    t.diagnostic(`bar width ${first.width} px → ${second.width} px of ${second.trackWidth} px`);
    // About 1.1 px a second: more than nothing, less than a jump to the end.
    assert.ok(grown > 0.5 && grown < 5, `the bar grew by ${grown} px (${first.width} → ${second.width})`);
    assert.ok(second.width < second.trackWidth, 'the bar has not reached the end');
    assert.ok(!first.shot.equals(second.shot), 'the screenshots of the bar differ');
  });

  test('under reduced motion the bar stands still at the position', async (t) => {
    const page = await openCard(t, 'reduce');
    const first = await reading(page);
    await sleep(1000);
    const second = await reading(page);
    t.diagnostic(`bar width ${first.width} px → ${second.width} px of ${second.trackWidth} px`);
    assert.equal(second.width, first.width, 'the bar did not move');
    assert.ok(first.width > 0 && first.width < first.trackWidth / 2, `drawn at 42 s of 200 s: ${first.width}`);
    assert.ok(first.shot.equals(second.shot), 'the screenshots of the bar are the same');
    const stopped = await page.evaluate(() => getComputedStyle(document.querySelector('.np-progress')).animationName);
    assert.equal(stopped, 'none');
  });
});
