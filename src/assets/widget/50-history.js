/*
 * The listening calendar: a year of days as squares, one column per week (Sunday on top),
 * shaded in five levels by the minutes listened (or by the plays when some plays' lengths are
 * unknown), with a tooltip per day (date, plays, minutes):
 *
 *   <spotify-history src="https://example.com/api/spotify/history/stats"></spotify-history>
 *
 * Attributes: src (required), interval (seconds; default 300, the statistics' cache window),
 * theme (light | dark | auto), hide-when-idle. Host attributes: data-state = loading | ready |
 * idle | hidden, data-stale, data-days (squares drawn). The endpoint answers the statistics
 * ({"from", "to", "days": [...], "totals": {...}, ...}) or null (see docs/api.md, "The
 * listening history").
 */

const HISTORY_STYLE = `
:host { width: auto; height: auto; min-height: 64px; }
.history-card { flex-direction: column; align-items: stretch; gap: 8px; padding: 12px 14px; height: auto; overflow-x: auto; }
.history-grid { display: grid; grid-template-rows: repeat(7, 10px); grid-auto-flow: column; grid-auto-columns: 10px; gap: 2px; }
.day { width: 10px; height: 10px; border-radius: 2px; background: color-mix(in srgb, var(--fg) 10%, var(--bg)); }
.day[data-level="1"] { background: color-mix(in srgb, var(--accent) 35%, var(--bg)); }
.day[data-level="2"] { background: color-mix(in srgb, var(--accent) 55%, var(--bg)); }
.day[data-level="3"] { background: color-mix(in srgb, var(--accent) 78%, var(--bg)); }
.day[data-level="4"] { background: var(--accent); }
.day.pad { visibility: hidden; }
.history-totals { color: var(--muted); font-size: 12px; }
`;

/** `YYYY-MM-DD` of a UTC date. */
function utcDay(date) {
  return date.toISOString().slice(0, 10);
}

/** The tooltip of a day: date, plays and, when some plays are timed, minutes. */
function dayLabel(date, d) {
  const plays = d.plays === 1 ? 'play' : 'plays';
  return d.timedPlays > 0 ? `${date}: ${d.plays} ${plays}, ${d.minutesPlayed} min` : `${date}: ${d.plays} ${plays}`;
}

/** The shade of a value (0 to 4): a quarter of the largest value per step, as the card does. */
function dayLevel(value, max) {
  if (!(value > 0) || !(max > 0)) return 0;
  return Math.min(4, Math.max(1, Math.ceil((value / max) * 4)));
}

export class SpotifyHistory extends PollingElement {
  static get observedAttributes() {
    return ['src', 'interval', 'hide-when-idle'];
  }

  constructor() {
    super(STYLE + HISTORY_STYLE);
    this._card_el = null;
    this._setCard(h('div', { class: 'card history-card skeleton', part: 'card', 'data-testid': 'card', 'aria-busy': 'true' }, h('span', { class: 'sr-only' }, 'Loading the listening history')));
  }

  get _defaultIntervalS() {
    return 300;
  }

  _valid(data) {
    if (data === null) return true;
    return typeof data === 'object' && !Array.isArray(data) && Array.isArray(data.days) && typeof data.from === 'string' && typeof data.to === 'string';
  }

  _apply(data) {
    this._data = data;
    this._render(false);
    this.dispatchEvent(new CustomEvent('nowplaying-update', { detail: this._data }));
  }

  _state() {
    const d = this._data;
    if (d === undefined) return 'loading';
    if (d === null) return this.hasAttribute('hide-when-idle') ? 'hidden' : 'idle';
    return 'ready';
  }

  _render(force) {
    const state = this._state();
    const d = this._data;
    this.setAttribute('data-state', state);
    this.toggleAttribute('data-stale', !!(d && d.stale));
    const signature = JSON.stringify([state, d]);
    if (!force && signature === this._signature) return;
    this._signature = signature;
    const head = h('div', { class: 'list-head', part: 'label', 'data-testid': 'label' }, h('span', { class: 'label-text' }, 'Listening history'));
    const card = h('div', { class: 'card history-card', part: 'card', 'data-testid': 'card' }, head);
    if (state !== 'ready') {
      this.removeAttribute('data-days');
      card.append(h('div', { class: 'empty', 'data-testid': 'empty' }, 'Nothing to show yet'));
      this._setCard(card);
      this._announce.textContent = state === 'idle' ? 'Listening history: nothing to show' : '';
      return;
    }
    const byDate = new Map();
    for (const day of d.days) {
      if (day && typeof day.date === 'string') {
        byDate.set(day.date, {
          plays: Number(day.plays) || 0,
          timedPlays: Number(day.timedPlays) || 0,
          minutesPlayed: Number(day.minutesPlayed) || 0,
        });
      }
    }
    const totals = d.totals && typeof d.totals === 'object' ? d.totals : {};
    const plays = Number(totals.plays) || 0;
    const byMinutes = plays > 0 && Number(totals.timedPlays) === plays;
    const value = (x) => (byMinutes ? x.minutesPlayed : x.plays);
    let max = 0;
    for (const x of byDate.values()) max = Math.max(max, value(x));

    const grid = h('div', { class: 'history-grid', 'data-testid': 'grid', role: 'list' });
    const first = new Date(`${d.from}T00:00:00Z`);
    const last = new Date(`${d.to}T00:00:00Z`);
    let count = 0;
    if (!Number.isNaN(first.getTime()) && !Number.isNaN(last.getTime())) {
      for (let i = 0; i < first.getUTCDay(); i++) grid.append(h('span', { class: 'day pad', 'aria-hidden': 'true' }));
      // At most 366 squares, whatever the answer says.
      for (let t = first.getTime(); t <= last.getTime() && count < 366; t += 86400000) {
        const date = utcDay(new Date(t));
        const x = byDate.get(date) || { plays: 0, timedPlays: 0, minutesPlayed: 0 };
        const label = dayLabel(date, x);
        grid.append(h('span', { class: 'day', role: 'listitem', title: label, 'aria-label': label, 'data-date': date, 'data-level': String(dayLevel(value(x), max)), 'data-testid': 'day' }));
        count += 1;
      }
    }
    this.setAttribute('data-days', String(count));
    const hours = Math.round((Number(totals.minutesPlayed) || 0) / 60);
    const summary = byMinutes ? `${plays} plays · ${hours} ${hours === 1 ? 'hour' : 'hours'} · ${d.from} to ${d.to}` : `${plays} plays · ${d.from} to ${d.to}`;
    if (d.stale) head.append(h('span', { class: 'stale', 'data-testid': 'stale' }, '· may be out of date'));
    card.append(grid, h('div', { class: 'history-totals', 'data-testid': 'totals' }, summary));
    this._setCard(card);
    this._announce.textContent = `Listening history: ${summary}`;
  }

  _setCard(card) {
    if (this._card_el) this._card_el.replaceWith(card);
    else this._slot.append(card);
    this._card_el = card;
  }
}

if (!customElements.get('spotify-history')) {
  customElements.define('spotify-history', SpotifyHistory);
}
