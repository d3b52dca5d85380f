// The listening-profile elements of widget.js in Debian's chromium: <spotify-recent-tracks> and
// <spotify-top-artists>. Their API is answered by page.route() with fixture JSON (the shape of
// GET /api/spotify/recent and /api/spotify/top/artists, see docs/api.md, "The listening profile"); the page and the
// widget come from the harness's throwaway server. With NOWPLAYING_URL set, the preview page of
// the running server is checked too (lists shown only when their endpoint answers).

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

const minutesAgo = (m) => new Date(Date.now() - m * 60_000 - 5_000).toISOString();

const item = (over = {}) => ({
  isPlaying: false,
  status: 'recent',
  type: 'track',
  name: 'Teardrop',
  artists: 'Massive Attack, Elizabeth Fraser',
  album: 'Mezzanine',
  albumImage: `${server.base}/art.png`,
  songUrl: 'https://open.spotify.com/track/67Hna13dNDkZvBpTXRIaOJ',
  trackId: '67Hna13dNDkZvBpTXRIaOJ',
  previewUrl: null,
  progressMs: null,
  durationMs: 330_000,
  timestamp: Date.now(),
  playedAt: minutesAgo(3),
  stale: false,
  count: 1,
  ...over,
});

const history = (stale = false) => ({
  stale,
  items: [
    item({ count: 3, playedAt: minutesAgo(2) }),
    item({
      name: 'Windowlicker',
      artists: 'Aphex Twin',
      album: 'Windowlicker',
      albumImage: `${server.base}/art2.png`,
      songUrl: 'https://open.spotify.com/track/2',
      trackId: '2',
      playedAt: minutesAgo(14),
    }),
    item({ name: 'Demo (take 3)', artists: 'Me', album: 'Local Files', albumImage: null, songUrl: null, trackId: null, playedAt: minutesAgo(125) }),
  ],
});

const artists = () => ({
  stale: false,
  items: [
    { name: 'Massive Attack', image: `${server.base}/art.png`, url: 'https://open.spotify.com/artist/1', rank: 1, genres: ['trip hop'] },
    { name: 'Aphex Twin', image: `${server.base}/art2.png`, url: 'https://open.spotify.com/artist/2', rank: 2, genres: [] },
    { name: 'Boards of Canada', image: null, url: 'https://open.spotify.com/artist/3', rank: 3, genres: [] },
    { name: 'Portishead', image: `${server.base}/art.png`, url: 'javascript:alert(1)', rank: 4, genres: [] },
  ],
});

// --- Helpers ----------------------------------------------------------------------------------

/**
 * Opens a page holding one `tag` element. `answer(n, request)` gives the route.fulfill options
 * of the n-th API call (or 'hang'). Returns the page, the API call counter and its request URLs.
 */
async function open(t, tag, { attrs = {}, answer, bg, path } = {}) {
  const page = await browser.context.newPage();
  t.after(() => page.close());
  const errors = [];
  page.on('pageerror', (e) => errors.push(e.message));
  t.after(() => assert.deepEqual(errors, [], 'no script errors'));
  const api = { calls: 0, urls: [] };
  const apiPath = path ?? (tag === 'spotify-recent-tracks' ? '/api/spotify/recent' : '/api/spotify/top/artists');
  await page.route(`**${apiPath}*`, async (route) => {
    api.calls += 1;
    api.urls.push(route.request().url());
    const reply = await answer(api.calls, route.request());
    if (reply !== 'hang') await route.fulfill(reply);
  });
  const qs = new URLSearchParams({ tag, src: apiPath, ...attrs });
  if (bg) qs.set('bg', bg);
  await page.goto(`${server.base}/page?${qs}`);
  return { page, api };
}

async function waitState(page, tag, state, timeout = 5000) {
  await page.waitForFunction(
    ([t, s]) => document.querySelector(t)?.getAttribute('data-state') === s,
    [tag, state],
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

/** What a test asserts about the rendered list, read in one go. */
function read(page, tag) {
  return page.evaluate((t) => {
    const host = document.querySelector(t);
    const root = host.shadowRoot;
    const all = (id, el = root) => [...el.querySelectorAll(`[data-testid="${id}"]`)];
    const one = (id, el = root) => el.querySelector(`[data-testid="${id}"]`);
    const rect = host.getBoundingClientRect();
    return {
      state: host.getAttribute('data-state'),
      stale: host.hasAttribute('data-stale'),
      count: host.getAttribute('data-count'),
      displayed: getComputedStyle(host).display !== 'none' && rect.width > 0,
      label: one('label')?.textContent ?? null,
      empty: one('empty')?.textContent ?? null,
      staleHint: one('stale')?.textContent ?? null,
      scripts: root.querySelectorAll('script').length,
      injected: root.querySelectorAll('b, i, [onerror]').length,
      announce: one('announce')?.textContent ?? null,
      rows: all('row').map((r) => ({
        tag: r.tagName.toLowerCase(),
        href: r.getAttribute('href'),
        label: r.getAttribute('aria-label'),
        title: one('title', r)?.textContent ?? null,
        artist: one('artist', r)?.textContent ?? null,
        countBadge: one('count', r)?.textContent ?? null,
        ago: one('ago', r)?.textContent ?? null,
        rank: one('rank', r)?.textContent ?? null,
        img: one('thumb-img', r)?.getAttribute('src') ?? null,
        alt: one('thumb-img', r)?.getAttribute('alt') ?? null,
        placeholder: !!one('art-placeholder', r),
      })),
    };
  }, tag);
}

async function imagesLoaded(page, tag) {
  await page.waitForFunction((t) => {
    const imgs = [...document.querySelector(t).shadowRoot.querySelectorAll('img')];
    return imgs.every((i) => i.complete && i.naturalWidth > 0);
  }, tag);
}

async function shot(page, tag, name) {
  await imagesLoaded(page, tag);
  await page.locator('#wrap').screenshot({ path: screenshotPath(name) });
}

async function colours(page, tag) {
  return page.evaluate((t) => {
    const root = document.querySelector(t).shadowRoot;
    const card = root.querySelector('[data-testid="card"]');
    return { bg: getComputedStyle(card).backgroundColor, fg: getComputedStyle(card).color };
  }, tag);
}

// --- <spotify-recent-tracks> ------------------------------------------------------------------

const RT = 'spotify-recent-tracks';
const TA = 'spotify-top-artists';

describe('<spotify-recent-tracks>', () => {
  test('a short history: newest first, repeats as ×N, links, art, "x minutes ago"', async (t) => {
    const { page, api } = await open(t, RT, { attrs: { limit: 3, interval: 60 }, answer: () => json(history()) });
    await waitState(page, RT, 'ready');
    const s = await read(page, RT);
    assert.equal(new URL(api.urls[0]).searchParams.get('limit'), '3', 'limit sent as a query parameter');
    assert.equal(s.count, '3');
    assert.equal(s.label, 'Recently played');
    assert.deepEqual(
      s.rows.map((r) => [r.title, r.artist, r.countBadge]),
      [
        ['Teardrop', 'Massive Attack, Elizabeth Fraser', '×3'],
        ['Windowlicker', 'Aphex Twin', null],
        ['Demo (take 3)', 'Me', null],
      ],
    );
    assert.deepEqual(s.rows.map((r) => r.ago), ['2 minutes ago', '14 minutes ago', '2 hours ago']);
    assert.equal(s.rows[0].tag, 'a');
    assert.equal(s.rows[0].href, 'https://open.spotify.com/track/67Hna13dNDkZvBpTXRIaOJ');
    assert.match(s.rows[0].label, /played 3 times/);
    assert.equal(s.rows[2].tag, 'div', 'no link for a local file');
    assert.equal(s.rows[2].placeholder, true, 'no art: the placeholder');
    assert.equal(s.rows[1].img, `${server.base}/art2.png`);
    assert.match(s.rows[1].alt, /Windowlicker/);
    assert.match(s.announce, /^Recently played: Teardrop, Windowlicker, Demo/);
    await shot(page, RT, 'recent-tracks.png');
  });

  test('dark theme (screenshot) and light theme colours', async (t) => {
    const dark = await open(t, RT, { attrs: { limit: 3, interval: 60, theme: 'dark' }, bg: '#05070a', answer: () => json(history()) });
    await waitState(dark.page, RT, 'ready');
    assert.equal((await colours(dark.page, RT)).bg, 'rgb(18, 20, 24)');
    await shot(dark.page, RT, 'recent-tracks-dark.png');
    const light = await open(t, RT, { attrs: { interval: 60, theme: 'light' }, answer: () => json(history()) });
    await waitState(light.page, RT, 'ready');
    assert.equal((await colours(light.page, RT)).bg, 'rgb(255, 255, 255)');
  });

  test('null and an empty list: "Nothing to show yet"; hide-when-idle hides it', async (t) => {
    const a = await open(t, RT, { attrs: { interval: 60 }, answer: () => json(null) });
    await waitState(a.page, RT, 'idle');
    const s = await read(a.page, RT);
    assert.equal(s.empty, 'Nothing to show yet');
    assert.equal(s.displayed, true);
    const b = await open(t, RT, { attrs: { interval: 60, 'hide-when-idle': '' }, answer: () => json({ items: [], stale: false }) });
    await waitState(b.page, RT, 'hidden');
    assert.equal((await read(b.page, RT)).displayed, false);
  });

  test('escaping: names are text, never markup; only http(s) links', async (t) => {
    const nasty = '<img src=x onerror="window.pwned=1"><b>bold</b><script>window.pwned=2</script>';
    const body = {
      stale: false,
      items: [item({ name: nasty, artists: '"quoted" & <i>', songUrl: 'javascript:window.pwned=3', albumImage: 'javascript:1' })],
    };
    const { page } = await open(t, RT, { attrs: { interval: 60 }, answer: () => json(body) });
    await waitState(page, RT, 'ready');
    const s = await read(page, RT);
    assert.equal(s.rows[0].title, nasty);
    assert.equal(s.rows[0].artist, '"quoted" & <i>');
    assert.equal(s.rows[0].tag, 'div', 'a javascript: URL is no link');
    assert.equal(s.rows[0].placeholder, true);
    assert.equal(s.scripts, 0);
    assert.equal(s.injected, 0);
    assert.equal(await page.evaluate(() => window.pwned), undefined);
  });

  test('stale answers are marked', async (t) => {
    const { page } = await open(t, RT, { attrs: { interval: 60 }, answer: () => json(history(true)) });
    await waitState(page, RT, 'ready');
    const s = await read(page, RT);
    assert.equal(s.stale, true);
    assert.equal(s.staleHint, '· may be out of date');
  });

  test('failures: the last list stays through short outages, then "nothing to show"', async (t) => {
    const { page, api } = await open(t, RT, {
      attrs: { interval: 1 },
      answer: (n) =>
        n === 1
          ? json(history())
          : n === 2
            ? { status: 500, contentType: 'text/html', body: '<h1>Bad gateway</h1>' }
            : n === 3
              ? json({ unexpected: true })
              : { status: 404, contentType: 'application/json', body: '{"error":"off"}' },
    });
    await waitState(page, RT, 'ready');
    await until(() => api.calls >= 3, '3 calls');
    await sleep(150);
    assert.equal((await read(page, RT)).state, 'ready', 'still the last list after 2 failures');
    await waitState(page, RT, 'idle', 5000);
  });

  test('polls every interval; none while the tab is hidden; at once when visible again', async (t) => {
    const { page, api } = await open(t, RT, { attrs: { interval: 1 }, answer: () => json(history()) });
    await waitState(page, RT, 'ready');
    await until(() => api.calls >= 2, '2 calls');
    const setVisibility = (v) =>
      page.evaluate((value) => {
        Object.defineProperty(document, 'visibilityState', { configurable: true, get: () => value });
        document.dispatchEvent(new Event('visibilitychange'));
      }, v);
    await setVisibility('hidden');
    await sleep(200);
    const hiddenAt = api.calls;
    await sleep(2500);
    assert.equal(api.calls, hiddenAt, 'no request while hidden');
    await setVisibility('visible');
    await until(() => api.calls > hiddenAt, 'a poll on becoming visible', 1500);
  });
});

// --- <spotify-top-artists> --------------------------------------------------------------------

describe('<spotify-top-artists>', () => {
  test('a row of artists: rank, image, name, link; range and limit sent', async (t) => {
    const { page, api } = await open(t, TA, { attrs: { limit: 4, range: 'medium_term', interval: 60 }, answer: () => json(artists()) });
    await waitState(page, TA, 'ready');
    const q = new URL(api.urls[0]).searchParams;
    assert.equal(q.get('limit'), '4');
    assert.equal(q.get('range'), 'medium_term');
    const s = await read(page, TA);
    assert.equal(s.label, 'Top artists');
    assert.deepEqual(
      s.rows.map((r) => [r.rank, r.title]),
      [
        ['1', 'Massive Attack'],
        ['2', 'Aphex Twin'],
        ['3', 'Boards of Canada'],
        ['4', 'Portishead'],
      ],
    );
    assert.equal(s.rows[0].tag, 'a');
    assert.equal(s.rows[0].href, 'https://open.spotify.com/artist/1');
    assert.equal(s.rows[0].img, `${server.base}/art.png`);
    assert.equal(s.rows[2].placeholder, true);
    assert.equal(s.rows[3].tag, 'div', 'a javascript: URL is no link');
    // One row: every tile on the same line.
    const tops = await page.evaluate(() =>
      [...document.querySelector('spotify-top-artists').shadowRoot.querySelectorAll('[data-testid="row"]')].map((r) => Math.round(r.getBoundingClientRect().top)),
    );
    assert.equal(new Set(tops).size, 1, `tiles on one row: ${tops}`);
    await shot(page, TA, 'top-artists.png');
  });

  test('dark theme (screenshot)', async (t) => {
    const { page } = await open(t, TA, { attrs: { interval: 60, theme: 'dark' }, bg: '#05070a', answer: () => json(artists()) });
    await waitState(page, TA, 'ready');
    assert.equal((await colours(page, TA)).bg, 'rgb(18, 20, 24)');
    await shot(page, TA, 'top-artists-dark.png');
  });

  test('escaping and idle', async (t) => {
    const body = { stale: false, items: [{ name: '<script>window.pwned=1</script>', image: 'data:text/html,x', url: null, rank: 1, genres: [] }] };
    const { page } = await open(t, TA, { attrs: { interval: 60 }, answer: (n) => json(n === 1 ? body : null) });
    await waitState(page, TA, 'ready');
    const s = await read(page, TA);
    assert.equal(s.rows[0].title, '<script>window.pwned=1</script>');
    assert.equal(s.rows[0].placeholder, true, 'only http(s) images');
    assert.equal(s.scripts, 0);
    await page.evaluate(() => document.querySelector('spotify-top-artists').refresh());
    await waitState(page, TA, 'idle');
    assert.equal((await read(page, TA)).empty, 'Nothing to show yet');
  });
});

// --- <spotify-playlists> ----------------------------------------------------------------------

const PL = 'spotify-playlists';
const playlists = () => ({
  stale: false,
  items: [
    { id: 'p1', name: 'Morning Commit', description: 'Songs & more', image: `${server.base}/art.png`, images: [], url: 'https://open.spotify.com/playlist/p1', embedUrl: 'https://open.spotify.com/embed/playlist/p1', tracks: 24, source: 'spotify' },
    { id: 'p2', name: '<img src=x onerror=alert(1)>', description: null, image: null, images: [], url: 'javascript:alert(1)', embedUrl: 'https://evil.example/embed', tracks: 1, source: 'spotify' },
  ],
});

describe('<spotify-playlists>', () => {
  test('rows with cover, name, track count and link; limit sent; no player unless asked', async (t) => {
    const { page, api } = await open(t, PL, { path: '/api/spotify/playlists', attrs: { limit: 6, interval: 60 }, answer: () => json(playlists()) });
    await waitState(page, PL, 'ready');
    assert.equal(new URL(api.urls[0]).searchParams.get('limit'), '6');
    const s = await read(page, PL);
    assert.equal(s.label, 'Playlists');
    assert.equal(s.count, '2');
    assert.deepEqual(s.rows.map((r) => [r.tag, r.href, r.title]), [
      ['a', 'https://open.spotify.com/playlist/p1', 'Morning Commit'],
      ['div', null, '<img src=x onerror=alert(1)>'],
    ]);
    assert.equal(s.rows[0].img, `${server.base}/art.png`);
    assert.equal(s.rows[1].placeholder, true);
    assert.equal(s.injected, 0, 'names are text, never markup');
    const tracks = await page.evaluate((t) => [...document.querySelector(t).shadowRoot.querySelectorAll('[data-testid="tracks"]')].map((e) => e.textContent), PL);
    assert.deepEqual(tracks, ['24 tracks', '1 track']);
    assert.equal(await page.evaluate((t) => document.querySelector(t).shadowRoot.querySelectorAll('iframe').length, PL), 0);
    await shot(page, PL, 'playlists.png');
  });

  test('embed shows Spotify\'s player for the first playlist only, and only its embed URL', async (t) => {
    const { page } = await open(t, PL, { path: '/api/spotify/playlists', attrs: { interval: 60, embed: '' }, answer: () => json(playlists()) });
    await waitState(page, PL, 'ready');
    const frames = await page.evaluate((t) => [...document.querySelector(t).shadowRoot.querySelectorAll('iframe')].map((f) => f.getAttribute('src')), PL);
    assert.deepEqual(frames, ['https://open.spotify.com/embed/playlist/p1']);
    const reversed = { stale: false, items: [...playlists().items].reverse() };
    const { page: other } = await open(t, PL, { path: '/api/spotify/playlists', attrs: { interval: 60, embed: '' }, answer: () => json(reversed) });
    await waitState(other, PL, 'ready');
    const none = await other.evaluate((t) => document.querySelector(t).shadowRoot.querySelectorAll('iframe').length, PL);
    assert.equal(none, 0, 'an embed URL that is not Spotify\'s player is never framed');
  });

  test('null: "Nothing to show yet"', async (t) => {
    const { page } = await open(t, PL, { path: '/api/spotify/playlists', attrs: { interval: 60 }, answer: () => json(null) });
    await waitState(page, PL, 'idle');
    assert.equal((await read(page, PL)).empty, 'Nothing to show yet');
  });
});

const LISTS_ON = (process.env.NOWPLAYING_URL_LISTS_ON ?? '').replace(/\/+$/, '');

describe('preview page with every list on', { skip: LISTS_ON ? false : 'NOWPLAYING_URL_LISTS_ON is not set' }, () => {
  test('shows the demo owner\'s public playlists from the server', async (t) => {
    const page = await browser.context.newPage();
    t.after(() => page.close());
    await page.goto(`${LISTS_ON}/`);
    await page.waitForFunction(() => !document.querySelector('[data-testid="playlists-variant"]').hidden, null, { timeout: 10_000 });
    await waitState(page, PL, 'ready', 10_000);
    const s = await read(page, PL);
    // The demo lists five: three public of the owner's, one private, one someone else's.
    assert.deepEqual(s.rows.map((r) => r.title), ['Morning Commit', 'Late Deploys', 'Talks & Tapes']);
    assert.ok(s.rows.every((r) => r.href && r.href.startsWith('https://open.spotify.com/playlist/')));
    await imagesLoaded(page, PL);
    assert.ok(s.rows.every((r) => r.img && r.img.startsWith('http://127.0.0.1')), 'the demo\'s covers');
  });
});

// --- The preview page of a running server ---------------------------------------------------

const BASE = (process.env.NOWPLAYING_URL ?? '').replace(/\/+$/, '');

describe('preview page', { skip: BASE ? false : 'NOWPLAYING_URL is not set' }, () => {
  test('shows a profile list only when its endpoint answers', async (t) => {
    const status = async (p) => (await fetch(`${BASE}${p}`)).status;
    const recentOn = (await status('/api/spotify/recent?limit=5')) !== 404;
    const topOn = (await status('/api/spotify/top/artists?limit=6')) !== 404;
    const historyOn = (await status('/api/spotify/history/stats')) !== 404;
    const page = await browser.context.newPage();
    t.after(() => page.close());
    const requests = [];
    page.on('request', (r) => requests.push(new URL(r.url()).pathname));
    await page.goto(`${BASE}/`);
    await page.waitForFunction(() => customElements.get('spotify-recent-tracks'));
    await sleep(800); // the page's endpoint probes
    const shown = await page.evaluate(() =>
      Object.fromEntries(
        ['profile-section', 'recent-variant', 'top-artists-variant', 'top-card-variant', 'history-variant', 'history-card-variant'].map((id) => [
          id,
          !document.querySelector(`[data-testid="${id}"]`).hidden,
        ]),
      ),
    );
    assert.deepEqual(shown, {
      'profile-section': recentOn || topOn || historyOn,
      'recent-variant': recentOn,
      'top-artists-variant': topOn,
      'top-card-variant': topOn,
      'history-variant': historyOn,
      'history-card-variant': historyOn,
    });
    if (!topOn) {
      // An element that is off never polls: the page's one probe is the only request.
      assert.equal(requests.filter((p) => p === '/api/spotify/top/artists').length, 1);
    }
    if (recentOn) {
      await page.waitForFunction(() => {
        const s = document.querySelector('spotify-recent-tracks').getAttribute('data-state');
        return s === 'ready' || s === 'idle';
      });
      await page.locator('[data-testid="profile-section"]').screenshot({ path: screenshotPath('preview-profile.png') });
    }
  });
});
