// Shared set-up for the browser tests: Debian's chromium through playwright-core, a fresh
// profile, a guard that refuses every request leaving this machine, and a tiny static server
// for the widget's own tests.

import { createServer } from 'node:http';
import { mkdtempSync, mkdirSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { deflateSync } from 'node:zlib';
import { chromium } from 'playwright-core';

const here = dirname(fileURLToPath(import.meta.url));
export const repoRoot = resolve(here, '..', '..');
// Screenshots go to target/screenshots unless SCREENSHOT_DIR says otherwise (e.g. docs/screenshots
// to refresh the README's pictures), so a test run leaves the tree clean.
export const screenshotDir = process.env.SCREENSHOT_DIR
  ? process.env.SCREENSHOT_DIR
  : join(repoRoot, 'target', 'screenshots');

export const CHROMIUM = '/usr/bin/chromium';
export const CHROMIUM_ARGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-background-networking',
  '--disable-component-update',
  '--no-first-run',
  '--disable-quic',
  '--disable-sync',
];

/**
 * Launches chromium with a fresh temporary profile. Every request to a host other than
 * 127.0.0.1/localhost/[::1] is aborted and recorded in `offsite`, so a test can assert the
 * page never tried to leave the machine.
 */
export async function launch() {
  const profile = mkdtempSync(join(tmpdir(), 'nowplaying-chromium-'));
  const context = await chromium.launchPersistentContext(profile, {
    executablePath: CHROMIUM,
    headless: true,
    args: CHROMIUM_ARGS,
    viewport: { width: 900, height: 700 },
    deviceScaleFactor: 1,
    locale: 'en-US',
  });
  const offsite = [];
  await context.route('**/*', (route) => {
    const url = new URL(route.request().url());
    if (['127.0.0.1', 'localhost', '[::1]'].includes(url.hostname)) return route.fallback();
    offsite.push(url.href);
    return route.abort('blockedbyclient');
  });
  return {
    context,
    offsite,
    async close() {
      await context.close();
      rmSync(profile, { recursive: true, force: true });
    },
  };
}

export function screenshotPath(name) {
  mkdirSync(screenshotDir, { recursive: true });
  return join(screenshotDir, name);
}

// --- A small PNG for album art, made here so the tests need no network. -------------------

const CRC_TABLE = Array.from({ length: 256 }, (_, n) => {
  let c = n;
  for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
  return c >>> 0;
});
function crc32(buf) {
  let c = 0xffffffff;
  for (const b of buf) c = CRC_TABLE[(c ^ b) & 0xff] ^ (c >>> 8);
  return (c ^ 0xffffffff) >>> 0;
}
function chunk(type, data) {
  const len = Buffer.alloc(4);
  len.writeUInt32BE(data.length);
  const td = Buffer.concat([Buffer.from(type, 'ascii'), data]);
  const crc = Buffer.alloc(4);
  crc.writeUInt32BE(crc32(td));
  return Buffer.concat([len, td, crc]);
}

/** A size×size RGB PNG: a diagonal gradient with a few circles, like a record sleeve. */
export function makePng(size = 240, [r0, g0, b0] = [236, 72, 153], [r1, g1, b1] = [59, 130, 246]) {
  const raw = Buffer.alloc((size * 3 + 1) * size);
  for (let y = 0; y < size; y++) {
    raw[y * (size * 3 + 1)] = 0; // filter: none
    for (let x = 0; x < size; x++) {
      const t = (x + y) / (2 * size);
      const dx = x - size / 2;
      const dy = y - size / 2;
      const ring = Math.floor(Math.sqrt(dx * dx + dy * dy) / (size / 10)) % 2 ? 0.82 : 1;
      const o = y * (size * 3 + 1) + 1 + x * 3;
      raw[o] = Math.round((r0 + (r1 - r0) * t) * ring);
      raw[o + 1] = Math.round((g0 + (g1 - g0) * t) * ring);
      raw[o + 2] = Math.round((b0 + (b1 - b0) * t) * ring);
    }
  }
  const ihdr = Buffer.alloc(13);
  ihdr.writeUInt32BE(size, 0);
  ihdr.writeUInt32BE(size, 4);
  ihdr[8] = 8; // bit depth
  ihdr[9] = 2; // colour type RGB
  return Buffer.concat([
    Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]),
    chunk('IHDR', ihdr),
    chunk('IDAT', deflateSync(raw)),
    chunk('IEND', Buffer.alloc(0)),
  ]);
}

// --- The static server for the widget's own tests. -----------------------------------------

const escapeAttr = (s) => String(s).replace(/&/g, '&amp;').replace(/"/g, '&quot;').replace(/</g, '&lt;');

/**
 * Serves `/widget.js` (src/assets/widget/*.js joined in name order, as src/assets/mod.rs does),
 * `/art.png`, `/art2.png`, `/missing.png` (404) and
 * `/page?attr=value…`: a page holding one <spotify-now-playing> (or the element named by `tag=`)
 * whose attributes are the query parameters (`bg=` sets the page background instead). `/api/spotify` is left to each test's
 * `page.route()`; unrouted it answers 503.
 */
export async function startStaticServer() {
  const parts = join(repoRoot, 'src', 'assets', 'widget');
  const widget = Buffer.concat(
    readdirSync(parts)
      .filter((name) => name.endsWith('.js'))
      .sort()
      .map((name) => readFileSync(join(parts, name))),
  );
  const art = makePng(240);
  const art2 = makePng(240, [250, 204, 21], [22, 163, 74]);
  const server = createServer((req, res) => {
    const url = new URL(req.url, 'http://127.0.0.1');
    if (url.pathname === '/widget.js') {
      res.writeHead(200, { 'content-type': 'text/javascript; charset=utf-8', 'cache-control': 'no-store' });
      return res.end(widget);
    }
    if (url.pathname === '/art.png' || url.pathname === '/art2.png') {
      res.writeHead(200, { 'content-type': 'image/png', 'cache-control': 'max-age=3600' });
      return res.end(url.pathname === '/art.png' ? art : art2);
    }
    if (url.pathname === '/page') {
      const bg = url.searchParams.get('bg') || '#f1f2f4';
      // `tag=` picks another element of widget.js (the profile lists); default the now-playing card.
      const tags = ['spotify-now-playing', 'spotify-recent-tracks', 'spotify-top-artists', 'spotify-playlists', 'spotify-history'];
      const tag = tags.includes(url.searchParams.get('tag')) ? url.searchParams.get('tag') : tags[0];
      const attrs = [...url.searchParams]
        .filter(([k]) => k !== 'bg' && k !== 'tag')
        .map(([k, v]) => (v === '' ? ` ${k}` : ` ${k}="${escapeAttr(v)}"`))
        .join('');
      res.writeHead(200, { 'content-type': 'text/html; charset=utf-8' });
      return res.end(`<!doctype html><html lang="en"><head><meta charset="utf-8"><title>widget test</title>
<style>body{margin:0;background:${escapeAttr(bg)}} #wrap{display:inline-block;padding:16px}</style></head>
<body><div id="wrap"><${tag}${attrs}></${tag}></div>
<script type="module" src="/widget.js"></script></body></html>`);
    }
    res.writeHead(url.pathname === '/api/spotify' ? 503 : 404, { 'content-type': 'text/plain' });
    res.end('not here');
  });
  await new Promise((ok) => server.listen(0, '127.0.0.1', ok));
  const { port } = server.address();
  return { base: `http://127.0.0.1:${port}`, close: () => new Promise((ok) => server.close(ok)) };
}

/** A `route.fulfill` answer carrying JSON. */
export const json = (body, status = 200) => ({
  status,
  contentType: 'application/json',
  body: JSON.stringify(body),
});

export const sleep = (ms) => new Promise((ok) => setTimeout(ok, ms));
