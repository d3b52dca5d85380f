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
 * idle | hidden, data-kind = track | episode, data-stale when the service serves a stale answer,
 * data-source = spotify | lastfm (where the answer came from; the card shows "on Spotify" or
 * "on Last.fm", shadow part source).
 * Every interesting node inside the shadow root carries a data-testid.
 *
 * Safety: data from the API only ever reaches the DOM through textContent and attribute
 * setters; URLs are accepted only as http(s). The element requests nothing but `src` and the
 * album art.
 */

// What every element shares: constants, DOM helpers and the polling base class.
// (Sources: src/assets/widget/*.js, joined in name order into /widget.js.)

const SVG_NS = 'http://www.w3.org/2000/svg';
const DEFAULT_INTERVAL_S = 10;
const FETCH_TIMEOUT_MS = 8000;
const FAILURES_BEFORE_IDLE = 3;
const TICK_MS = 1000;

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

/** The service an answer came from (its `source`), for people: "Spotify" or "Last.fm". */
function sourceName(data) {
  return data && data.source === 'lastfm' ? 'Last.fm' : 'Spotify';
}

/** The end of a link's label: where the link goes. */
function openLabel(data) {
  return data && data.source === 'lastfm' ? 'Open on Last.fm' : 'Open in Spotify';
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

/**
 * Who an item is by: its artists, or for an episode without them (development-mode apps get no
 * `show.publisher`; an older server answered "") the show's name; '' when neither is known.
 */
function byline(d) {
  const artists = typeof d.artists === 'string' ? d.artists.trim() : '';
  if (artists || d.type !== 'episode') return artists;
  return typeof d.album === 'string' ? d.album.trim() : '';
}

/** " by …" for a label, or nothing at all when nobody is known (never an empty "by"). */
function byPart(d) {
  const by = byline(d);
  return by ? ` by ${by}` : '';
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
