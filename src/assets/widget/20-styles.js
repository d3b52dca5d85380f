// The shadow-root styles: STYLE for every card, LIST_STYLE added by the list elements.

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
.meta { display: flex; align-items: baseline; gap: 8px; min-width: 0; }
.meta .album { flex: 1 1 auto; min-width: 0; }
.source { margin-left: auto; flex: 0 0 auto; font-size: 10.5px; white-space: nowrap; color: var(--muted); }
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
