/*
 * <spotify-now-playing src="https://example.com/api/spotify"></spotify-now-playing>
 *
 * A dependency-free custom element that shows what the owner of a `nowplaying` service is
 * listening to on Spotify. It polls the JSON of `GET /api/spotify` (see the project's README for
 * the contract) and renders it in a shadow root.
 *
 * Attributes
 *   src             the API URL (required)
 *   interval        seconds between polls, default 10 (minimum 1)
 *   theme           light | dark | auto (default: auto, follows prefers-color-scheme)
 *   hide-when-idle  hide the element entirely when nothing is playing
 *
 * Styling: CSS custom properties --np-bg, --np-fg, --np-muted, --np-accent, --np-radius,
 * --np-font, --np-width, --np-height on the element; shadow parts card, art, title, artist,
 * album, label, progress.
 *
 * Host attributes for tests and styling: data-state = loading | playing | paused | recent |
 * idle | hidden, data-kind = track | episode, data-stale when the service serves a stale answer.
 * Every interesting node inside the shadow root carries a data-testid.
 *
 * Safety: data from the API only ever reaches the DOM through textContent and attribute
 * setters; URLs are accepted only as http(s). The element requests nothing but `src` and the
 * album art.
 */

const SVG_NS = 'http://www.w3.org/2000/svg';
const DEFAULT_INTERVAL_S = 10;
const FETCH_TIMEOUT_MS = 8000;
const FAILURES_BEFORE_IDLE = 3;
const TICK_MS = 1000;

const STYLE = `
:host {
  /* Theme defaults (light); the --np-* properties set by the page win over them. */
  --_bg: #ffffff;
  --_fg: #16181d;
  --_muted: #4b5360;
  --_accent: #0a6630;
  --_bar: #1db954;
  --_track: rgba(0, 0, 0, 0.14);
  --_skeleton: rgba(0, 0, 0, 0.08);
  --_border: rgba(0, 0, 0, 0.12);
  --bg: var(--np-bg, var(--_bg));
  --fg: var(--np-fg, var(--_fg));
  --muted: var(--np-muted, var(--_muted));
  --accent: var(--np-accent, var(--_accent));
  --radius: var(--np-radius, 14px);
  --font: var(--np-font, system-ui, -apple-system, 'Segoe UI', Roboto, Helvetica, Arial, sans-serif);

  display: inline-block;
  box-sizing: border-box;
  width: var(--np-width, 380px);
  max-width: 100%;
  height: var(--np-height, 120px);
  vertical-align: top;
  contain: layout paint;
  color-scheme: light;
}
:host([theme="dark"]) {
  --_bg: #121418;
  --_fg: #f3f4f6;
  --_muted: #b4bac4;
  --_accent: #1ed760;
  --_bar: #1ed760;
  --_track: rgba(255, 255, 255, 0.2);
  --_skeleton: rgba(255, 255, 255, 0.1);
  --_border: rgba(255, 255, 255, 0.12);
  color-scheme: dark;
}
@media (prefers-color-scheme: dark) {
  :host(:not([theme="light"]):not([theme="dark"])) {
    --_bg: #121418;
    --_fg: #f3f4f6;
    --_muted: #b4bac4;
    --_accent: #1ed760;
    --_bar: #1ed760;
    --_track: rgba(255, 255, 255, 0.2);
    --_skeleton: rgba(255, 255, 255, 0.1);
    --_border: rgba(255, 255, 255, 0.12);
    color-scheme: dark;
  }
}
:host([hidden]), :host([data-state="hidden"]) { display: none !important; }

* { box-sizing: border-box; }

.root { position: relative; width: 100%; height: 100%; }

.sr-only {
  position: absolute; width: 1px; height: 1px; margin: -1px; padding: 0; border: 0;
  overflow: hidden; clip: rect(0 0 0 0); white-space: nowrap;
}

.card {
  position: relative;
  display: flex;
  align-items: center;
  gap: 14px;
  width: 100%;
  height: 100%;
  padding: 10px 14px 10px 10px;
  overflow: hidden;
  border-radius: var(--radius);
  border: 1px solid var(--_border);
  background: var(--bg);
  color: var(--fg);
  font-family: var(--font);
  font-size: 13px;
  line-height: 1.3;
  text-decoration: none;
  isolation: isolate;
}
a.card { cursor: pointer; transition: transform 120ms ease, box-shadow 120ms ease; }
a.card:hover { box-shadow: 0 4px 18px rgba(0, 0, 0, 0.18); transform: translateY(-1px); }
a.card:focus { outline: none; }
a.card:focus-visible { outline: 3px solid var(--accent); outline-offset: 2px; }

/* The blurred copy of the art, under a veil of the background colour to keep text legible. */
.backdrop { position: absolute; inset: 0; z-index: -1; overflow: hidden; border-radius: inherit; }
.backdrop img {
  position: absolute; inset: -30px; width: calc(100% + 60px); height: calc(100% + 60px);
  object-fit: cover; filter: blur(28px) saturate(1.4);
}
.backdrop::after { content: ''; position: absolute; inset: 0; background: var(--bg); opacity: 0.85; }

.art {
  flex: 0 0 auto;
  width: 98px; height: 98px;
  border-radius: calc(var(--radius) * 0.6);
  overflow: hidden;
  background: var(--_skeleton);
  display: grid; place-items: center;
  box-shadow: 0 2px 8px rgba(0, 0, 0, 0.2);
}
.art img { width: 100%; height: 100%; object-fit: cover; display: block; }
.art svg { width: 44px; height: 44px; fill: var(--muted); }

.body { flex: 1 1 auto; min-width: 0; display: flex; flex-direction: column; gap: 2px; }

.line { white-space: nowrap; overflow: hidden; text-overflow: ellipsis; }
.label {
  display: flex; align-items: center; gap: 6px;
  font-size: 11px; font-weight: 700; letter-spacing: 0.04em; text-transform: uppercase;
  color: var(--accent);
}
.label-text { white-space: nowrap; overflow: hidden; text-overflow: ellipsis; }
.ago { font-weight: 500; text-transform: none; letter-spacing: 0; color: var(--muted); white-space: nowrap; }
.title { font-size: 15px; font-weight: 700; }
.artist { color: var(--fg); }
.album { color: var(--muted); font-size: 12px; }
.badge {
  flex: 0 0 auto; padding: 0 5px; border-radius: 4px; border: 1px solid currentColor;
  font-size: 9.5px; line-height: 14px; letter-spacing: 0.06em;
}
.stale { font-size: 10.5px; color: var(--muted); font-weight: 500; letter-spacing: 0; text-transform: none; white-space: nowrap; }

.progress-row { display: flex; align-items: center; gap: 8px; margin-top: 5px; font-size: 11px; color: var(--muted); font-variant-numeric: tabular-nums; }
.progress { position: relative; flex: 1 1 auto; height: 4px; border-radius: 2px; background: var(--_track); overflow: hidden; }
.fill { position: absolute; left: 0; top: 0; bottom: 0; width: 0; border-radius: inherit; background: var(--_bar); }
.times { white-space: nowrap; }

/* A small equaliser next to "Now playing". */
.eq { display: inline-flex; align-items: flex-end; gap: 2px; height: 10px; }
.eq i { display: block; width: 2px; height: 100%; background: currentColor; transform-origin: bottom; animation: eq 900ms ease-in-out infinite alternate; }
.eq i:nth-child(2) { animation-delay: -300ms; }
.eq i:nth-child(3) { animation-delay: -600ms; }
@keyframes eq { from { transform: scaleY(0.25); } to { transform: scaleY(1); } }

/* Loading skeleton: same geometry as a filled card, so nothing moves when data arrives. */
.skel { display: block; height: 10px; border-radius: 4px; background: var(--_skeleton); }
.skel.w1 { width: 35%; } .skel.w2 { width: 80%; height: 14px; } .skel.w3 { width: 55%; } .skel.w4 { width: 100%; height: 4px; margin-top: 10px; }
.skeleton .body { gap: 8px; }
.skeleton .skel, .skeleton .art { animation: pulse 1.2s ease-in-out infinite alternate; }
@keyframes pulse { from { opacity: 1; } to { opacity: 0.45; } }

@media (prefers-reduced-motion: reduce) {
  *, *::before, *::after { animation: none !important; transition: none !important; }
  a.card:hover { transform: none; }
}
`;

/** Only http(s) URLs are used as link targets or image sources. */
function safeUrl(value) {
  if (typeof value !== 'string' || value === '') return null;
  try {
    const u = new URL(value, document.baseURI);
    return u.protocol === 'https:' || u.protocol === 'http:' ? u.href : null;
  } catch {
    return null;
  }
}

/** m:ss (minutes may exceed 59 for long episodes). */
function clock(ms) {
  const s = Math.max(0, Math.floor(ms / 1000));
  return `${Math.floor(s / 60)}:${String(s % 60).padStart(2, '0')}`;
}

/** "just now", "1 minute ago", "3 hours ago", "2 days ago". */
function relativeTime(iso, now = Date.now()) {
  const at = Date.parse(iso);
  if (Number.isNaN(at)) return '';
  const s = Math.max(0, Math.floor((now - at) / 1000));
  const unit = (n, word) => `${n} ${word}${n === 1 ? '' : 's'} ago`;
  if (s < 60) return 'just now';
  if (s < 3600) return unit(Math.floor(s / 60), 'minute');
  if (s < 86400) return unit(Math.floor(s / 3600), 'hour');
  return unit(Math.floor(s / 86400), 'day');
}

/** Element helper: tag, attributes (set with setAttribute), children (nodes or plain text). */
function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (v !== null && v !== undefined && v !== false) el.setAttribute(k, v === true ? '' : String(v));
  }
  for (const c of children) {
    if (c === null || c === undefined) continue;
    el.append(typeof c === 'string' ? document.createTextNode(c) : c);
  }
  return el;
}

/** A line of text that ellipsises and carries its full value as a tooltip. */
function textLine(cls, testid, text, part = testid) {
  return h('div', { class: `line ${cls}`, part, 'data-testid': testid, title: text, dir: 'auto' }, text);
}

/** The music-note placeholder, drawn inline (no request). */
function notePlaceholder(label) {
  const svg = document.createElementNS(SVG_NS, 'svg');
  svg.setAttribute('viewBox', '0 0 24 24');
  svg.setAttribute('role', 'img');
  svg.setAttribute('aria-label', label);
  svg.setAttribute('data-testid', 'art-placeholder');
  const path = document.createElementNS(SVG_NS, 'path');
  path.setAttribute('d', 'M19 3v11.5a3.5 3.5 0 1 1-2-3.16V7h-7v9.5a3.5 3.5 0 1 1-2-3.16V3h11z');
  svg.append(path);
  return svg;
}

/** Checks the shape of an answer; `null` is valid (nothing to show). */
function isValidAnswer(data) {
  if (data === null) return true;
  return (
    typeof data === 'object' &&
    !Array.isArray(data) &&
    typeof data.name === 'string' &&
    ['playing', 'paused', 'recent'].includes(data.status)
  );
}

/**
 * What every element here shares: polling `_url` every `interval` seconds, only while the tab is
 * visible; a poll that fails (non-2xx, not JSON, `_valid` says no, time-out) keeps the last state,
 * and only FAILURES_BEFORE_IDLE failures in a row turn the element idle. Subclasses render.
 */
class PollingElement extends HTMLElement {
  constructor(style) {
    super();
    this._data = undefined; // undefined: nothing received yet; null: idle
    this._failures = 0;
    this._connected = false;
    this._pollTimer = null;
    this._clockTimer = null; // the progress tick or the "x minutes ago" refresh
    this._inflight = null;
    this._signature = null;
    this._onVisibility = () => this._visibilityChanged();
    const root = this.attachShadow({ mode: 'open' });
    const css = document.createElement('style');
    css.textContent = style;
    this._announce = h('div', { class: 'sr-only', 'aria-live': 'polite', role: 'status', 'data-testid': 'announce' });
    this._slot = h('div', { class: 'root', part: 'root', 'data-testid': 'root' });
    this._slot.append(this._announce);
    root.append(css, this._slot);
  }

  /** Attributes whose change means a new request at once. */
  get _refetchAttributes() {
    return ['src'];
  }

  get _defaultIntervalS() {
    return DEFAULT_INTERVAL_S;
  }

  /** The URL to poll; `null` when there is none. */
  get _url() {
    return this.getAttribute('src');
  }

  connectedCallback() {
    this._connected = true;
    if (!this.hasAttribute('data-state')) this.setAttribute('data-state', 'loading');
    document.addEventListener('visibilitychange', this._onVisibility);
    if (this._visible()) this._poll();
  }

  disconnectedCallback() {
    this._connected = false;
    document.removeEventListener('visibilitychange', this._onVisibility);
    this._stopTimers();
    const inflight = this._inflight;
    this._inflight = null; // so the aborted poll neither counts as a failure nor reschedules
    if (inflight) inflight.abort();
  }

  attributeChangedCallback(name, oldValue, newValue) {
    if (oldValue === newValue || !this._connected) return;
    if (this._refetchAttributes.includes(name)) {
      this._failures = 0;
      if (this._visible()) this._poll();
    } else if (name === 'interval') {
      this._schedule();
    } else if (name === 'hide-when-idle') {
      if (this._data !== undefined) this._render(true);
    }
  }

  /** Polls now (e.g. after the page knows something changed). */
  refresh() {
    return this._poll();
  }

  /** The last answer received (`null` when idle, `undefined` before the first). */
  get data() {
    return this._data;
  }

  get _intervalMs() {
    const s = parseFloat(this.getAttribute('interval'));
    return (Number.isFinite(s) && s > 0 ? Math.max(1, s) : this._defaultIntervalS) * 1000;
  }

  _visible() {
    return document.visibilityState !== 'hidden';
  }

  _visibilityChanged() {
    if (this._visible()) {
      if (this._data !== undefined) this._render(false); // restart the clock
      this._poll(); // catch up at once, then resume the schedule
    } else {
      this._stopTimers();
    }
  }

  _stopTimers() {
    clearTimeout(this._pollTimer);
    this._pollTimer = null;
    clearInterval(this._clockTimer);
    this._clockTimer = null;
  }

  _schedule() {
    clearTimeout(this._pollTimer);
    this._pollTimer = null;
    if (!this.isConnected || !this._visible()) return;
    this._pollTimer = setTimeout(() => this._poll(), this._intervalMs);
  }

  async _poll() {
    clearTimeout(this._pollTimer);
    this._pollTimer = null;
    const url = this._url;
    if (!url) return;
    if (this._inflight) this._inflight.abort();
    const controller = new AbortController();
    this._inflight = controller;
    const timeout = setTimeout(() => controller.abort(), FETCH_TIMEOUT_MS);
    let data;
    let ok = false;
    try {
      const resp = await fetch(url, {
        signal: controller.signal,
        headers: { Accept: 'application/json' },
        credentials: 'omit',
      });
      if (!resp.ok) throw new Error(`HTTP ${resp.status}`);
      data = await resp.json(); // throws on an HTML error page
      if (!this._valid(data)) throw new Error('unexpected JSON');
      ok = true;
    } catch {
      // A newer poll replaced this one: let it decide.
      if (this._inflight !== controller) return;
    } finally {
      clearTimeout(timeout);
    }
    if (this._inflight !== controller) return;
    this._inflight = null;

    if (ok) {
      this._failures = 0;
      this._apply(data);
    } else {
      this._failures += 1;
      // Keep showing the last state through short outages.
      if (this._failures >= FAILURES_BEFORE_IDLE && this._data !== null) this._apply(null);
    }
    this._schedule();
  }
}

export class SpotifyNowPlaying extends PollingElement {
  static get observedAttributes() {
    return ['src', 'interval', 'hide-when-idle'];
  }

  constructor() {
    super(STYLE);
    this._anchor = null; // { progressMs, at (performance.now() at which progressMs held), durationMs }
    this._refs = {};
    this._renderSkeleton();
  }

  _valid(data) {
    return isValidAnswer(data);
  }

  _apply(data) {
    this._data = data;
    if (data && typeof data.progressMs === 'number') {
      // Where the track is now: progressMs was true at `timestamp` (server clock). A negative
      // lag means the clocks disagree; then trust the moment of arrival instead.
      const lag = typeof data.timestamp === 'number' ? Math.max(0, Date.now() - data.timestamp) : 0;
      this._anchor = {
        progressMs: data.progressMs + (data.isPlaying ? lag : 0),
        at: performance.now(),
        durationMs: Math.max(0, Number(data.durationMs) || 0),
        playing: !!data.isPlaying,
      };
    } else {
      this._anchor = null;
    }
    this._render(false);
    this.dispatchEvent(new CustomEvent('nowplaying-update', { detail: data }));
  }

  _state() {
    const d = this._data;
    if (d === undefined) return 'loading';
    if (d === null) return this.hasAttribute('hide-when-idle') ? 'hidden' : 'idle';
    return d.status; // playing | paused | recent
  }

  /** Rebuilds the card only when what it shows changed; otherwise just moves the bar. */
  _render(force) {
    const state = this._state();
    const d = this._data;
    this.setAttribute('data-state', state);
    if (d && d.type === 'episode') this.setAttribute('data-kind', 'episode');
    else if (d) this.setAttribute('data-kind', 'track');
    else this.removeAttribute('data-kind');
    this.toggleAttribute('data-stale', !!(d && d.stale));

    const signature = JSON.stringify([
      state,
      d && [d.type, d.name, d.artists, d.album, d.albumImage, d.songUrl, d.playedAt, d.stale, d.durationMs],
    ]);
    if (force || signature !== this._signature) {
      this._signature = signature;
      this._build(state, d);
    }
    this._tick();
    clearInterval(this._clockTimer);
    this._clockTimer = null;
    if (this._visible() && (state === 'playing' || state === 'recent')) {
      // Playing: advance the bar every second. Recent: refresh "x minutes ago" now and then.
      this._clockTimer = setInterval(() => this._tick(), state === 'playing' ? TICK_MS : 30000);
    }
  }

  _renderSkeleton() {
    const card = h(
      'div',
      { class: 'card skeleton', part: 'card', 'data-testid': 'card', 'aria-busy': 'true' },
      h('div', { class: 'art', part: 'art', 'data-testid': 'art' }),
      h(
        'div',
        { class: 'body', 'aria-hidden': 'true' },
        h('span', { class: 'skel w1' }),
        h('span', { class: 'skel w2' }),
        h('span', { class: 'skel w3' }),
        h('span', { class: 'skel w4' }),
      ),
      h('span', { class: 'sr-only' }, 'Loading what is playing on Spotify'),
    );
    this._setCard(card);
  }

  _setCard(card) {
    if (this._card) this._card.replaceWith(card);
    else this._slot.append(card);
    this._card = card;
  }

  _build(state, d) {
    const refs = (this._refs = {});
    if (state === 'loading') return this._renderSkeleton();
    if (state === 'hidden' || state === 'idle' || !d) {
      const card = h(
        'div',
        { class: 'card idle', part: 'card', 'data-testid': 'card' },
        h('div', { class: 'art', part: 'art', 'data-testid': 'art' }, notePlaceholder('Spotify')),
        h(
          'div',
          { class: 'body' },
          h('div', { class: 'label', part: 'label', 'data-testid': 'label' }, h('span', { class: 'label-text' }, 'Spotify')),
          textLine('title', 'title', 'Not listening to Spotify'),
          textLine('album', 'subtitle', 'Check back later', 'album'),
        ),
      );
      this._setCard(card);
      this._say(state === 'idle' ? 'Not listening to Spotify' : '');
      return;
    }

    const episode = d.type === 'episode';
    const statusText = { playing: 'Now playing', paused: 'Paused', recent: 'Recently played' }[state];
    const href = safeUrl(d.songUrl);
    const img = safeUrl(d.albumImage);
    const artAlt = `${episode ? 'Cover of the show' : 'Album art for'} ${d.album || d.name}`;

    const card = href
      ? h('a', {
          class: 'card',
          part: 'card',
          'data-testid': 'card',
          href,
          target: '_blank',
          rel: 'noopener noreferrer',
          'aria-label': `${statusText}${episode ? ' episode' : ''}: ${d.name} by ${d.artists}. Open in Spotify`,
        })
      : h('div', { class: 'card', part: 'card', 'data-testid': 'card' });

    if (img) {
      const backdrop = h('div', { class: 'backdrop', 'aria-hidden': 'true', 'data-testid': 'backdrop' });
      backdrop.append(h('img', { src: img, alt: '', decoding: 'async', referrerpolicy: 'no-referrer' }));
      card.append(backdrop);
    }

    const art = h('div', { class: 'art', part: 'art', 'data-testid': 'art' });
    if (img) {
      const artImg = h('img', { src: img, alt: artAlt, 'data-testid': 'art-img', decoding: 'async', referrerpolicy: 'no-referrer' });
      // A broken image URL falls back to the placeholder (and drops the blurred copy).
      artImg.addEventListener('error', () => {
        artImg.replaceWith(notePlaceholder(artAlt));
        card.querySelector('.backdrop')?.remove();
      });
      art.append(artImg);
    } else {
      art.append(notePlaceholder(episode ? 'Podcast episode' : 'No album art'));
    }

    const label = h(
      'div',
      { class: 'label', part: 'label', 'data-testid': 'label' },
      state === 'playing' ? h('span', { class: 'eq', 'aria-hidden': 'true' }, h('i'), h('i'), h('i')) : null,
      h('span', { class: 'label-text', 'data-testid': 'status' }, statusText),
      episode ? h('span', { class: 'badge', 'data-testid': 'episode-badge' }, 'Episode') : null,
    );
    if (state === 'recent') {
      refs.ago = h('span', { class: 'ago', 'data-testid': 'ago' });
      label.append(refs.ago);
    }
    if (d.stale) {
      label.append(
        h(
          'span',
          { class: 'stale', 'data-testid': 'stale', title: 'Spotify could not be reached; this is the last known answer' },
          '· may be out of date',
        ),
      );
    }

    const body = h(
      'div',
      { class: 'body' },
      label,
      textLine('title', 'title', d.name),
      textLine('artist', 'artist', d.artists || ''),
      textLine('album', 'album', episode ? `Podcast · ${d.album || ''}` : d.album || ''),
    );

    if (this._anchor && state !== 'recent') {
      refs.fill = h('div', { class: 'fill', 'data-testid': 'progress-fill' });
      refs.bar = h(
        'div',
        {
          class: 'progress',
          part: 'progress',
          role: 'progressbar',
          'aria-label': 'Playback position',
          'aria-valuemin': 0,
          'aria-valuemax': Math.round(this._anchor.durationMs / 1000),
          'data-testid': 'progress',
        },
        refs.fill,
      );
      refs.elapsed = h('span', { 'data-testid': 'elapsed' });
      refs.duration = h('span', { 'data-testid': 'duration' }, clock(this._anchor.durationMs));
      body.append(
        h('div', { class: 'progress-row', 'aria-hidden': 'false' }, refs.bar, h('span', { class: 'times' }, refs.elapsed, ' / ', refs.duration)),
      );
    }

    card.append(art, body);
    this._setCard(card);
    this._say(`${statusText}${episode ? ' episode' : ''}: ${d.name} by ${d.artists}`);
  }

  /** Updates the moving parts: progress bar, elapsed time, "x minutes ago". */
  _tick() {
    const r = this._refs;
    const a = this._anchor;
    if (r.fill && a) {
      const advanced = a.playing ? performance.now() - a.at : 0;
      const pos = Math.min(a.durationMs, Math.max(0, a.progressMs + advanced));
      const pct = a.durationMs > 0 ? (pos / a.durationMs) * 100 : 0;
      r.fill.style.width = `${pct.toFixed(3)}%`;
      r.bar.setAttribute('aria-valuenow', String(Math.floor(pos / 1000)));
      r.bar.setAttribute('aria-valuetext', `${clock(pos)} of ${clock(a.durationMs)}`);
      r.elapsed.textContent = clock(pos);
    }
    if (r.ago && this._data) {
      const ago = relativeTime(this._data.playedAt);
      r.ago.textContent = ago ? `· ${ago}` : '';
    }
  }

  /** Announces to screen readers, only when the sentence changes. */
  _say(text) {
    if (this._announce.textContent !== text) this._announce.textContent = text;
  }
}

if (!customElements.get('spotify-now-playing')) {
  customElements.define('spotify-now-playing', SpotifyNowPlaying);
}

/*
 * The listening profile, same themes, polling, visibility and failure handling as
 * <spotify-now-playing>:
 *
 *   <spotify-recent-tracks src="https://example.com/api/spotify/recent" limit="5"></spotify-recent-tracks>
 *   <spotify-top-artists src="https://example.com/api/spotify/top/artists" limit="6" range="short_term"></spotify-top-artists>
 *
 * Attributes: src (required), limit (sets the `limit` query parameter), range (top artists:
 * short_term | medium_term | long_term), interval (seconds; default 30 for the history, 600 for
 * the top artists), theme (light | dark | auto), hide-when-idle.
 *
 * Host attributes: data-state = loading | ready | idle | hidden, data-stale, data-count (entries
 * shown). The endpoints answer {"items": [...], "stale": bool} or null (see the README, "The listening profile").
 */

const LIST_STYLE = `
:host { height: auto; min-height: 64px; }
.list-card { flex-direction: column; align-items: stretch; gap: 8px; padding: 12px 14px; height: auto; }
.list-head { display: flex; align-items: center; gap: 6px; font-size: 11px; font-weight: 700; letter-spacing: 0.04em; text-transform: uppercase; color: var(--accent); }
.rows { list-style: none; margin: 0; padding: 0; display: flex; flex-direction: column; gap: 6px; }
.row { display: flex; align-items: center; gap: 10px; min-width: 0; color: var(--fg); text-decoration: none; border-radius: 8px; }
a.row:hover .title, a.tile:hover .name { text-decoration: underline; }
a.row:focus-visible, a.tile:focus-visible { outline: 3px solid var(--accent); outline-offset: 2px; }
.thumb { flex: 0 0 auto; width: 40px; height: 40px; border-radius: 6px; overflow: hidden; background: var(--_skeleton); display: grid; place-items: center; }
.thumb img { width: 100%; height: 100%; object-fit: cover; display: block; }
.thumb svg { width: 22px; height: 22px; fill: var(--muted); }
.row .text { flex: 1 1 auto; min-width: 0; display: flex; flex-direction: column; }
.row .title { font-size: 13.5px; font-weight: 700; }
.row .artist { font-size: 12px; color: var(--muted); }
.meta { flex: 0 0 auto; display: flex; flex-direction: column; align-items: flex-end; gap: 2px; font-size: 11px; color: var(--muted); white-space: nowrap; }
.count { font-weight: 700; color: var(--accent); }
.tiles { list-style: none; margin: 0; padding: 0 0 2px; display: flex; gap: 12px; overflow-x: auto; }
.tiles > li { flex: 0 0 76px; min-width: 0; }
.tile { width: 100%; display: flex; flex-direction: column; align-items: center; gap: 4px; color: var(--fg); text-decoration: none; min-width: 0; }
.avatar { position: relative; width: 64px; height: 64px; border-radius: 50%; background: var(--_skeleton); display: grid; place-items: center; }
.avatar img { width: 100%; height: 100%; object-fit: cover; display: block; border-radius: 50%; }
.avatar svg { width: 30px; height: 30px; fill: var(--muted); }
.rank { position: absolute; left: -2px; bottom: -2px; min-width: 20px; padding: 0 5px; border-radius: 10px; border: 1px solid var(--_border); background: var(--bg); color: var(--accent); font-size: 11px; line-height: 17px; font-weight: 700; text-align: center; }
.tile .name { width: 100%; font-size: 12px; font-weight: 600; text-align: center; }
.empty { color: var(--muted); font-size: 13px; }
`;

/** Checks a list answer; `null` is valid (nothing to show). */
function isValidList(data) {
  if (data === null) return true;
  return typeof data === 'object' && !Array.isArray(data) && Array.isArray(data.items);
}

/** Polling, themes, visibility and failure handling shared by the list elements. */
class SpotifyListElement extends PollingElement {
  static get observedAttributes() {
    return ['src', 'interval', 'limit', 'range', 'hide-when-idle'];
  }

  constructor() {
    super(STYLE + LIST_STYLE);
    this._refs = [];
    this._setCard(this._skeleton());
  }

  _valid(data) {
    return isValidList(data);
  }

  get _refetchAttributes() {
    return ['src', 'limit', 'range'];
  }

  /** Heading of the card; overridden. */
  get _heading() {
    return 'Spotify';
  }

  get _defaultIntervalS() {
    return 30;
  }

  /** `src` with the `limit` and `range` attributes as query parameters. */
  get _url() {
    const src = this.getAttribute('src');
    if (!src) return null;
    let u;
    try {
      u = new URL(src, document.baseURI);
    } catch {
      return null;
    }
    for (const name of ['limit', 'range']) {
      const v = this.getAttribute(name);
      if (v !== null && v !== '') u.searchParams.set(name, v);
    }
    return u.href;
  }

  _apply(data) {
    // Only objects reach the renderer; anything else in the list is dropped.
    this._data = data && { ...data, items: data.items.filter((i) => i && typeof i === 'object' && typeof i.name === 'string') };
    this._render(false);
    this.dispatchEvent(new CustomEvent('nowplaying-update', { detail: this._data }));
  }

  _state() {
    const d = this._data;
    if (d === undefined) return 'loading';
    if (d === null || d.items.length === 0) return this.hasAttribute('hide-when-idle') ? 'hidden' : 'idle';
    return 'ready';
  }

  _render(force) {
    const state = this._state();
    const d = this._data;
    this.setAttribute('data-state', state);
    this.toggleAttribute('data-stale', !!(d && d.stale));
    if (state === 'ready') this.setAttribute('data-count', String(d.items.length));
    else this.removeAttribute('data-count');
    const signature = JSON.stringify([state, d]);
    if (force || signature !== this._signature) {
      this._signature = signature;
      this._refs = [];
      if (state === 'loading') this._setCard(this._skeleton());
      else this._setCard(this._card(state, d));
      this._say(state === 'ready' ? `${this._heading}: ${d.items.map((i) => i.name).join(', ')}` : state === 'idle' ? `${this._heading}: nothing to show` : '');
    }
    this._tick();
    clearInterval(this._clockTimer);
    this._clockTimer = null;
    if (this._visible() && state === 'ready' && this._refs.length) this._clockTimer = setInterval(() => this._tick(), 30000);
  }

  _skeleton() {
    return h(
      'div',
      { class: 'card list-card skeleton', part: 'card', 'data-testid': 'card', 'aria-busy': 'true' },
      h('span', { class: 'skel w1' }),
      h('span', { class: 'skel w2' }),
      h('span', { class: 'skel w3' }),
      h('span', { class: 'sr-only' }, `Loading ${this._heading}`),
    );
  }

  _card(state, d) {
    const head = h('div', { class: 'list-head', part: 'label', 'data-testid': 'label' }, h('span', { class: 'label-text' }, this._heading));
    if (d && d.stale) {
      head.append(h('span', { class: 'stale', 'data-testid': 'stale', title: 'Spotify could not be reached; this is the last known answer' }, '· may be out of date'));
    }
    const card = h('div', { class: 'card list-card', part: 'card', 'data-testid': 'card' }, head);
    if (state !== 'ready') {
      card.append(h('div', { class: 'empty', 'data-testid': 'empty' }, 'Nothing to show yet'));
    } else {
      card.append(this._list(d.items));
    }
    return card;
  }

  /** Updates the "x minutes ago" texts. */
  _tick() {
    for (const { el, at } of this._refs || []) {
      el.textContent = relativeTime(at);
    }
  }

  _setCard(card) {
    if (this._card_el) this._card_el.replaceWith(card);
    else this._slot.append(card);
    this._card_el = card;
  }

  _say(text) {
    if (this._announce.textContent !== text) this._announce.textContent = text;
  }
}

/** Art (or the note placeholder) in a box of class `cls`. */
function artBox(cls, url, alt) {
  const box = h('div', { class: cls, 'data-testid': 'thumb' });
  const src = safeUrl(url);
  if (src) {
    const img = h('img', { src, alt, decoding: 'async', loading: 'lazy', referrerpolicy: 'no-referrer', 'data-testid': 'thumb-img' });
    img.addEventListener('error', () => img.replaceWith(notePlaceholder(alt)));
    box.append(img);
  } else {
    box.append(notePlaceholder(alt || 'No image'));
  }
  return box;
}

/** A link when the URL is http(s), else a plain element. */
function linkOr(tag, attrs, url, label) {
  const href = safeUrl(url);
  return href
    ? h('a', { ...attrs, href, target: '_blank', rel: 'noopener noreferrer', 'aria-label': label })
    : h(tag, attrs);
}

export class SpotifyRecentTracks extends SpotifyListElement {
  get _heading() {
    return 'Recently played';
  }

  _list(items) {
    const ol = h('ol', { class: 'rows', 'data-testid': 'rows' });
    for (const it of items) {
      const name = it.name;
      const artists = typeof it.artists === 'string' ? it.artists : '';
      const count = Number.isInteger(it.count) && it.count > 1 ? it.count : 1;
      const row = linkOr('div', { class: 'row', 'data-testid': 'row' }, it.songUrl, `${name} by ${artists}${count > 1 ? `, played ${count} times` : ''}. Open in Spotify`);
      const ago = h('span', { 'data-testid': 'ago' });
      if (typeof it.playedAt === 'string') this._refs.push({ el: ago, at: it.playedAt });
      row.append(
        artBox('thumb', it.albumImage, `Album art for ${typeof it.album === 'string' && it.album ? it.album : name}`),
        h('div', { class: 'text' }, textLine('title', 'title', name), textLine('artist', 'artist', artists)),
        h('div', { class: 'meta' }, count > 1 ? h('span', { class: 'count', 'data-testid': 'count', title: `Played ${count} times in a row` }, `×${count}`) : null, ago),
      );
      ol.append(h('li', {}, row));
    }
    return ol;
  }
}

export class SpotifyTopArtists extends SpotifyListElement {
  get _heading() {
    return 'Top artists';
  }

  get _defaultIntervalS() {
    return 600;
  }

  _list(items) {
    const ol = h('ol', { class: 'tiles', 'data-testid': 'rows' });
    items.forEach((it, n) => {
      const rank = Number.isInteger(it.rank) ? it.rank : n + 1;
      const tile = linkOr('div', { class: 'tile', 'data-testid': 'row', title: it.name }, it.url, `${rank}. ${it.name}. Open in Spotify`);
      const avatar = artBox('avatar', it.image, it.name);
      avatar.append(h('span', { class: 'rank', 'data-testid': 'rank', 'aria-hidden': 'true' }, String(rank)));
      tile.append(avatar, h('div', { class: 'line name', 'data-testid': 'title', dir: 'auto' }, it.name));
      ol.append(h('li', {}, tile));
    });
    return ol;
  }
}

if (!customElements.get('spotify-recent-tracks')) {
  customElements.define('spotify-recent-tracks', SpotifyRecentTracks);
}
if (!customElements.get('spotify-top-artists')) {
  customElements.define('spotify-top-artists', SpotifyTopArtists);
}
