// The <spotify-now-playing> element in Debian's chromium: every state of the API, polling,
// failures, visibility, escaping, themes and accessibility. The API is answered by
// page.route() with fixture JSON; the page and widget come from a throwaway local server.
//
//   node --test tests/browser/        (see run.sh)

import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { json, launch, screenshotPath, sleep, startStaticServer } from './harness.mjs';

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

// --- Fixtures ---------------------------------------------------------------------------------

const track = (over = {}) => ({
  isPlaying: true,
  status: 'playing',
  type: 'track',
  name: 'Teardrop',
  artists: 'Massive Attack, Elizabeth Fraser',
  album: 'Mezzanine',
  albumImage: `${server.base}/art.png`,
  songUrl: 'https://open.spotify.com/track/67Hna13dNDkZvBpTXRIaOJ',
  trackId: '67Hna13dNDkZvBpTXRIaOJ',
  previewUrl: null,
  progressMs: 83_000,
  durationMs: 330_000,
  timestamp: Date.now(),
  playedAt: null,
  stale: false,
  ...over,
});

const paused = () => track({ isPlaying: false, status: 'paused', progressMs: 125_000 });

const recent = () =>
  track({
    isPlaying: false,
    status: 'recent',
    name: 'Windowlicker',
    artists: 'Aphex Twin',
    album: 'Windowlicker',
    albumImage: `${server.base}/art2.png`,
    progressMs: null,
    durationMs: 367_000,
    playedAt: new Date(Date.now() - 5 * 60_000 - 5_000).toISOString(),
  });

const episode = (over = {}) =>
  track({
    type: 'episode',
    name: 'Episode 112: The Sound of Silence',
    artists: 'Acoustic Media',
    album: 'A Podcast About Sound',
    songUrl: 'https://open.spotify.com/episode/512ojhOuo1ktJprKbVcKyQ',
    trackId: '512ojhOuo1ktJprKbVcKyQ',
    progressMs: 1_500_000,
    durationMs: 3_720_000,
    ...over,
  });

const localFile = () =>
  track({
    name: 'Demo (take 3)',
    artists: 'Me',
    album: 'Local Files',
    albumImage: null,
    songUrl: null,
    trackId: null,
    progressMs: 20_000,
    durationMs: 200_000,
  });

// --- Helpers ----------------------------------------------------------------------------------

/**
 * Opens the widget page. `answer` is a function (call number, request, page) → route.fulfill
 * options, or 'hang' to never answer. When call n arrives, the widget has handled answer n-1
 * (it schedules the next poll only after that), so `answer` can read the state in between. Returns the page, the API call counter and every request URL.
 */
async function open(t, { attrs = {}, answer, bg, media } = {}) {
  const page = await browser.context.newPage();
  t.after(() => page.close());
  if (media) await page.emulateMedia(media);
  const api = { calls: 0 };
  const requests = [];
  page.on('request', (r) => requests.push(r.url()));
  await page.route('**/api/spotify', async (route) => {
    api.calls += 1;
    const reply = await answer(api.calls, route.request(), page);
    if (reply !== 'hang') await route.fulfill(reply);
  });
  const qs = new URLSearchParams({ src: '/api/spotify', ...attrs });
  if (bg) qs.set('bg', bg);
  await page.goto(`${server.base}/page?${qs}`);
  return { page, api, requests };
}

async function waitState(page, state, timeout = 5000) {
  await page.waitForFunction(
    (s) => document.querySelector('spotify-now-playing')?.getAttribute('data-state') === s,
    state,
    { timeout },
  );
}

async function until(predicate, what, timeout = 10_000) {
  const end = Date.now() + timeout;
  while (!predicate()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await sleep(25);
  }
}

/** Waits until the album art (if any) finished loading, so screenshots show it. */
async function artLoaded(page) {
  await page.waitForFunction(() => {
    const img = document.querySelector('spotify-now-playing').shadowRoot.querySelector('[data-testid="art-img"]');
    return !img || (img.complete && img.naturalWidth > 0);
  });
}

/** Everything a test asserts about the rendered element, read in one go. */
function snapshot(page) {
  return page.evaluate(() => {
    const host = document.querySelector('spotify-now-playing');
    const root = host.shadowRoot;
    const $ = (id) => root.querySelector(`[data-testid="${id}"]`);
    const txt = (id) => $(id)?.textContent ?? null;
    const card = $('card');
    const bar = $('progress');
    const rect = host.getBoundingClientRect();
    return {
      state: host.getAttribute('data-state'),
      kind: host.getAttribute('data-kind'),
      stale: host.hasAttribute('data-stale'),
      displayed: getComputedStyle(host).display !== 'none' && rect.width > 0,
      size: [rect.width, rect.height],
      cardTag: card?.tagName.toLowerCase() ?? null,
      href: card?.getAttribute('href') ?? null,
      target: card?.getAttribute('target') ?? null,
      cardLabel: card?.getAttribute('aria-label') ?? null,
      anchors: root.querySelectorAll('a').length,
      scripts: root.querySelectorAll('script').length,
      status: txt('status'),
      label: txt('label'),
      title: txt('title'),
      titleAttr: $('title')?.getAttribute('title') ?? null,
      titleDir: $('title') ? getComputedStyle($('title')).direction : null,
      artist: txt('artist'),
      album: txt('album'),
      subtitle: txt('subtitle'),
      badge: txt('episode-badge'),
      ago: txt('ago'),
      staleHint: txt('stale'),
      staleTitle: $('stale')?.getAttribute('title') ?? null,
      artSrc: $('art-img')?.getAttribute('src') ?? null,
      artAlt: $('art-img')?.getAttribute('alt') ?? null,
      placeholder: !!$('art-placeholder'),
      backdrop: !!$('backdrop'),
      eq: !!root.querySelector('.eq'),
      progressNow: bar ? Number(bar.getAttribute('aria-valuenow')) : null,
      progressMax: bar ? Number(bar.getAttribute('aria-valuemax')) : null,
      fillWidth: $('progress-fill')?.getBoundingClientRect().width ?? null,
      elapsed: txt('elapsed'),
      duration: txt('duration'),
      announce: txt('announce'),
      announceLive: $('announce')?.getAttribute('aria-live') ?? null,
      skeleton: !!root.querySelector('.skeleton'),
    };
  });
}

async function shot(page, name) {
  await artLoaded(page);
  await page.locator('#wrap').screenshot({ path: screenshotPath(name) });
}

/** Only the page, the widget, the API and the album art were requested; nothing left the machine. */
function assertOnlyExpectedRequests(requests, extra = []) {
  const allowed = new Set(['/page', '/widget.js', '/api/spotify', '/art.png', '/art2.png', ...extra]);
  for (const url of requests) {
    const u = new URL(url);
    assert.equal(u.origin, server.base, `request to another origin: ${url}`);
    assert.ok(allowed.has(u.pathname), `unexpected request: ${url}`);
  }
  assert.deepEqual(browser.offsite, [], 'requests that would have left this machine');
}

// --- States -----------------------------------------------------------------------------------

describe('states', () => {
  test('loading: a skeleton of the final size, so nothing shifts', async (t) => {
    let release;
    const gate = new Promise((ok) => (release = ok));
    const { page } = await open(t, {
      attrs: { interval: 60 },
      answer: async () => {
        await gate;
        return json(track());
      },
    });
    await page.waitForFunction(() => customElements.get('spotify-now-playing'));
    const before = await snapshot(page);
    assert.equal(before.state, 'loading');
    assert.equal(before.skeleton, true);
    assert.ok(before.size[0] > 300 && before.size[1] >= 100, `size ${before.size}`);
    await page.locator('#wrap').screenshot({ path: screenshotPath('loading.png') });
    release();
    await waitState(page, 'playing');
    const afterLoad = await snapshot(page);
    assert.deepEqual(afterLoad.size, before.size, 'no layout shift');
    assert.equal(afterLoad.skeleton, false);
  });

  test('playing: art, texts, link, live progress that snaps to the next answer', async (t) => {
    let current = track();
    const { page, api, requests } = await open(t, { attrs: { interval: 60 }, answer: () => json(current) });
    await waitState(page, 'playing');
    const s = await snapshot(page);
    assert.equal(s.kind, 'track');
    assert.equal(s.stale, false);
    assert.equal(s.status, 'Now playing');
    assert.equal(s.eq, true, 'equaliser shown while playing');
    assert.equal(s.title, 'Teardrop');
    assert.equal(s.titleAttr, 'Teardrop');
    assert.equal(s.artist, 'Massive Attack, Elizabeth Fraser');
    assert.equal(s.album, 'Mezzanine');
    assert.equal(s.cardTag, 'a');
    assert.equal(s.anchors, 1, 'the card is the one link');
    assert.equal(s.href, current.songUrl);
    assert.equal(s.target, '_blank');
    assert.match(s.cardLabel, /Now playing: Teardrop by Massive Attack/);
    assert.equal(s.artSrc, current.albumImage);
    assert.match(s.artAlt, /Mezzanine/);
    assert.equal(s.backdrop, true, 'blurred copy of the art');
    assert.equal(s.placeholder, false);
    assert.equal(s.progressMax, 330);
    assert.ok(s.progressNow >= 83 && s.progressNow <= 86, `progress ${s.progressNow}`);
    assert.match(s.elapsed, /^1:2[3-6]$/);
    assert.equal(s.duration, '5:30');
    assert.equal(s.announceLive, 'polite');
    assert.equal(s.announce, 'Now playing: Teardrop by Massive Attack, Elizabeth Fraser');
    await shot(page, 'playing.png');

    // The bar advances on its own between polls...
    const a = await snapshot(page);
    await sleep(2300);
    const b = await snapshot(page);
    assert.equal(api.calls, 1, 'no poll happened in between');
    assert.ok(b.progressNow >= a.progressNow + 2, `progress ${a.progressNow} → ${b.progressNow}`);
    assert.ok(b.fillWidth > a.fillWidth, `width ${a.fillWidth} → ${b.fillWidth}`);
    assert.notEqual(b.elapsed, a.elapsed);

    // ...and snaps to the truth on the next poll (here: the listener seeked back).
    current = track({ progressMs: 10_000, timestamp: Date.now() });
    await page.evaluate(() => document.querySelector('spotify-now-playing').refresh());
    const c = await snapshot(page);
    assert.equal(api.calls, 2);
    assert.ok(c.progressNow <= 11, `snapped to ${c.progressNow}`);
    assert.match(c.elapsed, /^0:1[01]$/);

    assertOnlyExpectedRequests(requests);
  });

  test('playing, dark theme (screenshot)', async (t) => {
    const { page } = await open(t, { attrs: { interval: 60, theme: 'dark' }, bg: '#05070a', answer: () => json(track()) });
    await waitState(page, 'playing');
    await shot(page, 'playing-dark.png');
  });

  test('paused: label, no equaliser, the bar stands still', async (t) => {
    const { page } = await open(t, { attrs: { interval: 60 }, answer: () => json(paused()) });
    await waitState(page, 'paused');
    const a = await snapshot(page);
    assert.equal(a.status, 'Paused');
    assert.equal(a.eq, false);
    assert.equal(a.cardTag, 'a');
    assert.equal(a.title, 'Teardrop');
    assert.equal(a.progressNow, 125);
    assert.equal(a.elapsed, '2:05');
    assert.equal(a.duration, '5:30');
    assert.match(a.announce, /^Paused: Teardrop/);
    await sleep(1500);
    const b = await snapshot(page);
    assert.equal(b.progressNow, 125);
    assert.equal(b.fillWidth, a.fillWidth);
    await shot(page, 'paused.png');
  });

  test('recent: label with "x minutes ago", no progress bar', async (t) => {
    const { page } = await open(t, { attrs: { interval: 60 }, answer: () => json(recent()) });
    await waitState(page, 'recent');
    const s = await snapshot(page);
    assert.equal(s.status, 'Recently played');
    assert.equal(s.ago, '· 5 minutes ago');
    assert.match(s.label, /Recently played/);
    assert.equal(s.title, 'Windowlicker');
    assert.equal(s.artist, 'Aphex Twin');
    assert.equal(s.progressNow, null);
    assert.equal(s.elapsed, null);
    assert.equal(s.cardTag, 'a');
    assert.equal(s.eq, false);
    await shot(page, 'recent.png');
  });

  test('episode: labelled as a podcast episode', async (t) => {
    const { page } = await open(t, { attrs: { interval: 60 }, answer: () => json(episode()) });
    await waitState(page, 'playing');
    const s = await snapshot(page);
    assert.equal(s.kind, 'episode');
    assert.equal(s.badge, 'Episode');
    assert.equal(s.title, 'Episode 112: The Sound of Silence');
    assert.equal(s.artist, 'Acoustic Media');
    assert.equal(s.album, 'Podcast · A Podcast About Sound');
    assert.equal(s.duration, '62:00');
    assert.match(s.cardLabel, /episode: Episode 112/);
    assert.match(s.announce, /episode/);
    await shot(page, 'episode.png');
  });

  test('no empty "by": an episode without artists names its show, a track without any says nobody', async (t) => {
    // An answer cached by an older server: `artists: ""` for an episode without a publisher.
    const { page } = await open(t, { attrs: { interval: 60 }, answer: () => json(episode({ artists: '' })) });
    await waitState(page, 'playing');
    const s = await snapshot(page);
    assert.equal(s.artist, 'A Podcast About Sound');
    assert.match(s.cardLabel, /^Now playing episode: Episode 112: The Sound of Silence by A Podcast About Sound\. /);
    assert.equal(s.announce, 'Now playing episode: Episode 112: The Sound of Silence by A Podcast About Sound');
    const { page: page2 } = await open(t, { attrs: { interval: 60 }, answer: () => json(track({ artists: '' })) });
    await waitState(page2, 'playing');
    const s2 = await snapshot(page2);
    assert.equal(s2.artist, null, 'no empty artist line');
    assert.match(s2.cardLabel, /^Now playing: Teardrop\. /);
    assert.equal(s2.announce, 'Now playing: Teardrop');
  });

  test('local file: placeholder art, no link, no image request', async (t) => {
    const { page, requests } = await open(t, { attrs: { interval: 60 }, answer: () => json(localFile()) });
    await waitState(page, 'playing');
    const s = await snapshot(page);
    assert.equal(s.placeholder, true);
    assert.equal(s.artSrc, null);
    assert.equal(s.backdrop, false);
    assert.equal(s.cardTag, 'div');
    assert.equal(s.anchors, 0);
    assert.equal(s.href, null);
    assert.equal(s.title, 'Demo (take 3)');
    assert.equal(s.album, 'Local Files');
    assert.ok(!requests.some((u) => u.endsWith('.png')), 'no art requested');
    assertOnlyExpectedRequests(requests);
    await shot(page, 'local-file.png');
  });

  test('null: "Not listening to Spotify"', async (t) => {
    const { page } = await open(t, { attrs: { interval: 60 }, answer: () => json(null) });
    await waitState(page, 'idle');
    const s = await snapshot(page);
    assert.equal(s.displayed, true);
    assert.equal(s.title, 'Not listening to Spotify');
    assert.equal(s.subtitle, 'Check back later');
    assert.equal(s.placeholder, true);
    assert.equal(s.anchors, 0);
    assert.equal(s.kind, null);
    assert.equal(s.announce, 'Not listening to Spotify');
    await shot(page, 'idle.png');
  });

  test('null with hide-when-idle: hidden, and back when something plays', async (t) => {
    let current = null;
    const { page } = await open(t, { attrs: { interval: 60, 'hide-when-idle': '' }, answer: () => json(current) });
    await waitState(page, 'hidden');
    let s = await snapshot(page);
    assert.equal(s.displayed, false);
    assert.equal(await page.locator('spotify-now-playing').isVisible(), false);
    current = track();
    await page.evaluate(() => document.querySelector('spotify-now-playing').refresh());
    await waitState(page, 'playing');
    s = await snapshot(page);
    assert.equal(s.displayed, true);
    assert.equal(s.title, 'Teardrop');
  });

  test('stale: a quiet hint', async (t) => {
    const { page } = await open(t, { attrs: { interval: 60 }, answer: () => json(track({ stale: true })) });
    await waitState(page, 'playing');
    const s = await snapshot(page);
    assert.equal(s.stale, true);
    assert.match(s.staleHint, /out of date/);
    assert.match(s.staleTitle, /last known/);
    assert.equal(s.title, 'Teardrop');
    await shot(page, 'stale.png');
  });

  test('source: a small "on Spotify" / "on Last.fm" mark, and the link says where it goes', async (t) => {
    const lastfm = track({
      source: 'lastfm',
      status: 'recent',
      isPlaying: false,
      trackId: null,
      progressMs: null,
      durationMs: null,
      songUrl: 'https://www.last.fm/music/Massive+Attack/_/Teardrop',
      playedAt: new Date(Date.now() - 120_000).toISOString(),
    });
    const { page } = await open(t, {
      attrs: { interval: 1 },
      answer: (n) => json(n === 1 ? track({ source: 'spotify' }) : lastfm),
    });
    await waitState(page, 'playing');
    const mark = () =>
      page.evaluate(() => {
        const host = document.querySelector('spotify-now-playing');
        const m = host.shadowRoot.querySelector('[data-testid="source"]');
        const card = host.shadowRoot.querySelector('[data-testid="card"]');
        const style = m && getComputedStyle(m);
        return {
          host: host.getAttribute('data-source'),
          text: m?.textContent ?? null,
          source: m?.getAttribute('data-source') ?? null,
          visible: !!m && m.getBoundingClientRect().width > 0 && style.visibility !== 'hidden',
          insideCard: !!m && card.contains(m),
          href: card.getAttribute('href'),
          cardLabel: card.getAttribute('aria-label'),
        };
      });
    let m = await mark();
    assert.deepEqual(
      [m.host, m.text, m.source, m.visible, m.insideCard],
      ['spotify', 'on Spotify', 'spotify', true, true],
    );
    assert.match(m.cardLabel, /Open in Spotify$/);
    assert.match(m.href, /^https:\/\/open\.spotify\.com\//);

    await waitState(page, 'recent');
    m = await mark();
    assert.deepEqual([m.host, m.text, m.source, m.visible], ['lastfm', 'on Last.fm', 'lastfm', true]);
    assert.equal(m.href, 'https://www.last.fm/music/Massive+Attack/_/Teardrop');
    assert.match(m.cardLabel, /^Recently played: Teardrop by .*\. Open on Last\.fm$/);
    // No progress bar without a position or a duration.
    const s = await snapshot(page);
    assert.equal(s.progressNow, null);
    await shot(page, 'lastfm.png');
  });
});

// --- Polling ----------------------------------------------------------------------------------

describe('polling', () => {
  test('failures keep the last state; three in a row mean "not listening"; recovery', async (t) => {
    const replies = [
      json(track()),
      { status: 500, contentType: 'application/json', body: '{"error":"internal"}' },
      { status: 200, contentType: 'text/html', body: '<!doctype html><title>Bad gateway</title><p>oops</p>' },
      { status: 502, contentType: 'text/html', body: '<h1>502</h1>' },
      json(paused()),
    ];
    const seen = []; // seen[n]: state and title when call n arrived, i.e. after answer n-1
    const { page } = await open(t, {
      attrs: { interval: 1 },
      answer: async (n, _req, pg) => {
        const s = await snapshot(pg);
        seen[n] = { state: s.state, title: s.title };
        return replies[Math.min(n, replies.length) - 1];
      },
    });
    await waitState(page, 'paused', 10_000);
    assert.deepEqual(seen[2], { state: 'playing', title: 'Teardrop' });
    assert.deepEqual(seen[3], { state: 'playing', title: 'Teardrop' }, 'after a 500: the last good answer');
    assert.deepEqual(seen[4], { state: 'playing', title: 'Teardrop' }, 'after an HTML body too');
    assert.deepEqual(seen[5], { state: 'idle', title: 'Not listening to Spotify' }, 'idle after 3 failures in a row');
  });

  test('failures before any answer: the skeleton stays until the third', async (t) => {
    const seen = [];
    const { page } = await open(t, {
      attrs: { interval: 1 },
      answer: async (n, _req, pg) => {
        seen[n] = (await snapshot(pg)).state;
        return { status: 503, contentType: 'application/json', body: 'null' };
      },
    });
    await waitState(page, 'idle');
    assert.deepEqual(seen.slice(1, 4), ['loading', 'loading', 'loading']);
  });

  test('a request that never answers is abandoned after ~8 s', async (t) => {
    const times = [];
    const { page } = await open(t, {
      attrs: { interval: 1 },
      answer: (n) => {
        times.push(Date.now());
        return n === 1 ? 'hang' : json(track());
      },
    });
    await waitState(page, 'playing', 15_000);
    const waited = times[1] - times[0];
    assert.ok(waited >= 7500 && waited < 11_500, `second request ${waited} ms after the first`);
  });

  test('interval: 10 s by default, changed by the attribute', async (t) => {
    const { page, api } = await open(t, { answer: () => json(track()) });
    await waitState(page, 'playing');
    await sleep(2500);
    assert.equal(api.calls, 1, 'one poll in 2.5 s at the default 10 s interval');
    await page.evaluate(() => document.querySelector('spotify-now-playing').setAttribute('interval', '1'));
    await sleep(2600);
    assert.ok(api.calls >= 3, `interval=1: ${api.calls} calls`);
  });

  test('no polling while the tab is hidden; an immediate poll when visible again', async (t) => {
    const { page, api } = await open(t, { attrs: { interval: 1 }, answer: () => json(track()) });
    await waitState(page, 'playing');
    await until(() => api.calls >= 2, '2 calls');
    const setVisibility = (v) =>
      page.evaluate((value) => {
        Object.defineProperty(document, 'visibilityState', { configurable: true, get: () => value });
        document.dispatchEvent(new Event('visibilitychange'));
      }, v);

    await setVisibility('hidden');
    await sleep(200); // a request already on its way may still land
    const hiddenAt = api.calls;
    await sleep(3500);
    assert.equal(api.calls, hiddenAt, 'no request while hidden');

    await setVisibility('visible');
    await until(() => api.calls === hiddenAt + 1, 'the immediate poll', 800);
    await until(() => api.calls >= hiddenAt + 2, 'the schedule to resume', 3000);
  });
});

// --- Escaping ---------------------------------------------------------------------------------

describe('untrusted text', () => {
  const nasty = [
    '<script>window.__pwned=1</script>',
    '<img src=x onerror="window.__pwned=2">',
    '"quotes" & ampersands &amp; \'single\'',
    'Emoji 🎧🔥👩🏽‍🎤 and 中文',
    'أغنية عربية طويلة جدا',
    'שיר בעברית',
    'A'.repeat(150) + 'B'.repeat(150),
  ];

  test('titles render literally, nothing executes, long text ellipsises', async (t) => {
    let current = track();
    const { page, requests } = await open(t, { attrs: { interval: 60 }, answer: () => json(current) });
    await waitState(page, 'playing');
    const size = (await snapshot(page)).size;
    for (const name of nasty) {
      current = track({ name, artists: name, album: name });
      await page.evaluate(() => document.querySelector('spotify-now-playing').refresh());
      const s = await snapshot(page);
      assert.equal(s.title, name, 'title text is literal');
      assert.equal(s.titleAttr, name, 'title attribute carries the full text');
      assert.equal(s.artist, name);
      assert.equal(s.scripts, 0, 'no script element was created');
      assert.deepEqual(s.size, size, 'the box keeps its size');
      assert.equal(await page.evaluate(() => window.__pwned), undefined, `executed: ${name}`);
      if (/[\u0590-\u06ff]/.test(name)) assert.equal(s.titleDir, 'rtl', `rtl for ${name}`);
    }
    // The 300-character title is cut visually with an ellipsis, not in the DOM.
    const overflow = await page.evaluate(() => {
      const el = document.querySelector('spotify-now-playing').shadowRoot.querySelector('[data-testid="title"]');
      return { ellipsis: getComputedStyle(el).textOverflow, clipped: el.scrollWidth > el.clientWidth };
    });
    assert.deepEqual(overflow, { ellipsis: 'ellipsis', clipped: true });
    await page.waitForTimeout(300);
    assert.equal(await page.evaluate(() => window.__pwned), undefined);
    assert.ok(!requests.some((u) => new URL(u).pathname === '/x'), 'the <img> in a title was never loaded');

    // Unsafe URLs are neither linked nor loaded.
    current = track({ songUrl: 'javascript:window.__pwned=3', albumImage: 'javascript:window.__pwned=4' });
    await page.evaluate(() => document.querySelector('spotify-now-playing').refresh());
    const s = await snapshot(page);
    assert.equal(s.cardTag, 'div');
    assert.equal(s.placeholder, true);
    await page.keyboard.press('Tab');
    await page.keyboard.press('Enter');
    assert.equal(await page.evaluate(() => window.__pwned), undefined);
    assertOnlyExpectedRequests(requests);
  });

  test('a JSON answer of the wrong shape counts as a failure, not as data', async (t) => {
    const replies = [json(track()), json({ name: 42 }), json([1, 2]), json('hello')];
    const seen = [];
    const { page } = await open(t, {
      attrs: { interval: 1 },
      answer: async (n, _req, pg) => {
        seen[n] = (await snapshot(pg)).title;
        return replies[Math.min(n, 4) - 1];
      },
    });
    await waitState(page, 'idle', 10_000);
    assert.deepEqual(seen.slice(2, 5), ['Teardrop', 'Teardrop', 'Teardrop']);
  });
});

// --- Looks and accessibility -------------------------------------------------------------------

/** WCAG contrast ratio of two `rgb(…)` strings. */
function contrast(a, b) {
  const lum = (c) => {
    const [r, g, bl] = c.match(/[\d.]+/g).slice(0, 3).map((v) => {
      const s = Number(v) / 255;
      return s <= 0.03928 ? s / 12.92 : ((s + 0.055) / 1.055) ** 2.4;
    });
    return 0.2126 * r + 0.7152 * g + 0.0722 * bl;
  };
  const [x, y] = [lum(a), lum(b)].sort((p, q) => q - p);
  return (x + 0.05) / (y + 0.05);
}

function colours(page) {
  return page.evaluate(() => {
    const root = document.querySelector('spotify-now-playing').shadowRoot;
    const c = (id) => getComputedStyle(root.querySelector(`[data-testid="${id}"]`)).color;
    return {
      bg: getComputedStyle(root.querySelector('[data-testid="card"]')).backgroundColor,
      title: c('title'),
      artist: c('artist'),
      album: c('album'),
      label: c('label'),
      elapsed: c('elapsed'),
    };
  });
}

describe('looks and accessibility', () => {
  for (const theme of ['light', 'dark']) {
    test(`theme="${theme}": its colours, with readable contrast`, async (t) => {
      const { page } = await open(t, { attrs: { interval: 60, theme }, answer: () => json(localFile()) });
      await waitState(page, 'playing');
      const c = await colours(page);
      const bgLum = c.bg.match(/\d+/g).slice(0, 3).reduce((s, v) => s + Number(v), 0) / 3;
      assert.ok(theme === 'light' ? bgLum > 200 : bgLum < 60, `${theme} background ${c.bg}`);
      for (const part of ['title', 'artist', 'album', 'label', 'elapsed']) {
        const ratio = contrast(c[part], c.bg);
        assert.ok(ratio >= 4.5, `${theme} ${part} ${c[part]} on ${c.bg}: ${ratio.toFixed(2)}`);
      }
    });
  }

  test('theme="auto" follows prefers-color-scheme; --np-* properties override', async (t) => {
    const { page } = await open(t, { attrs: { interval: 60 }, answer: () => json(track()), media: { colorScheme: 'dark' } });
    await waitState(page, 'playing');
    const dark = await colours(page);
    await page.emulateMedia({ colorScheme: 'light' });
    const light = await colours(page);
    assert.equal(dark.bg, 'rgb(18, 20, 24)');
    assert.equal(light.bg, 'rgb(255, 255, 255)');
    await page.evaluate(() => {
      const el = document.querySelector('spotify-now-playing');
      el.style.setProperty('--np-bg', 'rgb(1, 2, 3)');
      el.style.setProperty('--np-fg', 'rgb(250, 250, 250)');
      el.style.setProperty('--np-accent', 'rgb(255, 0, 128)');
      el.style.setProperty('--np-radius', '3px');
      el.style.setProperty('--np-font', 'monospace');
    });
    const custom = await colours(page);
    assert.equal(custom.bg, 'rgb(1, 2, 3)');
    assert.equal(custom.title, 'rgb(250, 250, 250)');
    assert.equal(custom.label, 'rgb(255, 0, 128)');
    const cardStyle = await page.evaluate(() => {
      const cs = getComputedStyle(document.querySelector('spotify-now-playing').shadowRoot.querySelector('[data-testid="card"]'));
      return { radius: cs.borderTopLeftRadius, font: cs.fontFamily };
    });
    assert.deepEqual(cardStyle, { radius: '3px', font: 'monospace' });
  });

  test('prefers-reduced-motion: no animations or transitions', async (t) => {
    const read = (page) =>
      page.evaluate(() => {
        const root = document.querySelector('spotify-now-playing').shadowRoot;
        return {
          eq: getComputedStyle(root.querySelector('.eq i')).animationName,
          card: getComputedStyle(root.querySelector('[data-testid="card"]')).transitionDuration,
        };
      });
    const { page } = await open(t, { attrs: { interval: 60 }, answer: () => json(track()) });
    await waitState(page, 'playing');
    const normal = await read(page);
    assert.equal(normal.eq, 'eq');
    assert.notEqual(normal.card, '0s');
    await page.emulateMedia({ reducedMotion: 'reduce' });
    const reduced = await read(page);
    assert.equal(reduced.eq, 'none');
    assert.equal(reduced.card, '0s');
  });

  test('keyboard: the card is one focusable link', async (t) => {
    const { page } = await open(t, { attrs: { interval: 60 }, answer: () => json(track()) });
    await waitState(page, 'playing');
    await page.keyboard.press('Tab');
    const focused = await page.evaluate(() => {
      const host = document.querySelector('spotify-now-playing');
      const el = host.shadowRoot.activeElement;
      return { hostFocused: document.activeElement === host, testid: el?.dataset.testid, tag: el?.tagName, outline: el && getComputedStyle(el).outlineStyle };
    });
    assert.deepEqual(focused, { hostFocused: true, testid: 'card', tag: 'A', outline: 'solid' });
    await page.keyboard.press('Tab');
    assert.notEqual(await page.evaluate(() => document.querySelector('spotify-now-playing').shadowRoot.activeElement?.dataset.testid), 'card', 'one tab stop only');
  });
});
