// <spotify-now-playing>: the card documented at the top of this script.

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
    if (d) this.setAttribute('data-source', d.source === 'lastfm' ? 'lastfm' : 'spotify');
    else this.removeAttribute('data-source');

    const signature = JSON.stringify([
      state,
      d && [d.type, d.name, d.artists, d.album, d.albumImage, d.songUrl, d.playedAt, d.stale, d.durationMs, d.source],
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
    const by = byline(d);
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
          'aria-label': `${statusText}${episode ? ' episode' : ''}: ${d.name}${byPart(d)}. ${openLabel(d)}`,
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
          { class: 'stale', 'data-testid': 'stale', title: `${sourceName(d)} could not be reached; this is the last known answer` },
          '· may be out of date',
        ),
      );
    }
    // Where the answer came from: a small mark at the end of the album's line (the link's own
    // label says where it goes).
    const mark = h(
      'span',
      { class: 'source', part: 'source', 'data-testid': 'source', 'data-source': d.source === 'lastfm' ? 'lastfm' : 'spotify' },
      `on ${sourceName(d)}`,
    );

    const body = h(
      'div',
      { class: 'body' },
      label,
      textLine('title', 'title', d.name),
      by ? textLine('artist', 'artist', by) : null,
      h('div', { class: 'meta' }, textLine('album', 'album', episode ? `Podcast · ${d.album || ''}` : d.album || ''), mark),
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
    this._say(`${statusText}${episode ? ' episode' : ''}: ${d.name}${byPart(d)}`);
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
