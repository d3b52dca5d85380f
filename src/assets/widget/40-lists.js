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
      const artists = byline(it);
      const count = Number.isInteger(it.count) && it.count > 1 ? it.count : 1;
      const row = linkOr('div', { class: 'row', 'data-testid': 'row' }, it.songUrl, `${name}${byPart(it)}${count > 1 ? `, played ${count} times` : ''}. ${openLabel(it)}`);
      const ago = h('span', { 'data-testid': 'ago' });
      if (typeof it.playedAt === 'string') this._refs.push({ el: ago, at: it.playedAt });
      row.append(
        artBox('thumb', it.albumImage, `Album art for ${typeof it.album === 'string' && it.album ? it.album : name}`),
        h('div', { class: 'text' }, textLine('title', 'title', name), artists ? textLine('artist', 'artist', artists) : null),
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
      const tile = linkOr('div', { class: 'tile', 'data-testid': 'row', title: it.name }, it.url, `${rank}. ${it.name}. ${openLabel(it)}`);
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
