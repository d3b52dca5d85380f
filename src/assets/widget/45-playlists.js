/*
 * The owner's public playlists (PROFILE_ENDPOINTS=playlists), same themes, polling, visibility
 * and failure handling as the other lists:
 *
 *   <spotify-playlists src="https://example.com/api/spotify/playlists" limit="6"></spotify-playlists>
 *
 * Attributes: src (required), limit, interval (seconds; default 600), theme, hide-when-idle, and
 * embed: when present, Spotify's own player for the first playlist is shown under the list (an
 * iframe from open.spotify.com; without the attribute nothing is loaded from Spotify).
 * Each entry: {id, name, description, image, images, url, embedUrl, tracks, source}.
 */

/** Spotify's embed player URL, only when it is one (https://open.spotify.com/embed/playlist/ID). */
function embedSrc(url) {
  if (typeof url !== 'string') return null;
  return /^https:\/\/open\.spotify\.com\/embed\/playlist\/[A-Za-z0-9]+$/.test(url) ? url : null;
}

export class SpotifyPlaylists extends SpotifyListElement {
  static get observedAttributes() {
    return [...super.observedAttributes, 'embed'];
  }

  get _heading() {
    return 'Playlists';
  }

  get _defaultIntervalS() {
    return 600;
  }

  attributeChangedCallback(name, old, value) {
    if (name === 'embed') {
      if (old !== value && this._data !== undefined) this._render(true);
      return;
    }
    super.attributeChangedCallback(name, old, value);
  }

  _list(items) {
    const wrap = h('div', {});
    const ol = h('ol', { class: 'rows', 'data-testid': 'rows' });
    for (const it of items) {
      const count = Number.isInteger(it.tracks) ? `${it.tracks} ${it.tracks === 1 ? 'track' : 'tracks'}` : '';
      const row = linkOr('div', { class: 'row', 'data-testid': 'row' }, it.url, `${it.name}${count ? `, ${count}` : ''}. ${openLabel(it)}`);
      row.append(
        artBox('thumb', it.image, `Cover of ${it.name}`),
        h(
          'div',
          { class: 'text' },
          textLine('title', 'title', it.name),
          count ? textLine('artist', 'tracks', count) : null,
        ),
      );
      ol.append(h('li', {}, row));
    }
    wrap.append(ol);
    const src = this.hasAttribute('embed') && items.length ? embedSrc(items[0].embedUrl) : null;
    if (src) {
      wrap.append(
        h('iframe', {
          src,
          title: `Spotify player: ${items[0].name}`,
          width: '100%',
          height: '152',
          loading: 'lazy',
          allow: 'encrypted-media',
          referrerpolicy: 'no-referrer',
          style: 'border:0;border-radius:12px;margin-top:12px',
          'data-testid': 'embed',
        }),
      );
    }
    return wrap;
  }
}

if (!customElements.get('spotify-playlists')) {
  customElements.define('spotify-playlists', SpotifyPlaylists);
}
