//! The now-playing card (`GET /api/spotify.svg`): album art on the left, the status line, title,
//! artists and a progress bar (or the album, for a recent track) on the right. The album art
//! arrives already fetched and turned into a `data:` URI (see [`crate::art`]).

use std::fmt::Write as _;
use std::time::Duration;

use super::{
    background, char_width, escape, truncate, ArtColors, CardStyle, Palette, Theme, A11Y_BUDGET,
    FONT,
};
use crate::clock::Timestamp;
use crate::model::{Image, ItemType, NowPlaying, Status};

mod motion;
use motion::Motion;

/// Card height in pixels.
pub const HEIGHT: u32 = 120;

// Layout (pixels). Art on the left, text column on the right.
const PAD: u32 = 10;
const ART: u32 = 100;
/// The art's side in device pixels on a 2x (high-density) screen: the size worth embedding.
pub const ART_DEVICE_PX: u32 = ART * 2;
/// The text column's width on a 400 px card with art, for which the budgets below are set.
const BASE_COLUMN: u32 = 400 - 14 - (PAD + ART + 14);

/// Width budgets, in "narrow character" units (see [`truncate`]), for each line of a 400 px
/// card with art; a wider or narrower column scales them.
const LABEL_BUDGET: usize = 31;
/// The source mark ("on Spotify", "on Last.fm") on the right of the label line.
const MARK_BUDGET: usize = 12;
const TITLE_BUDGET: usize = 28;
const ARTIST_BUDGET: usize = 36;
const ALBUM_BUDGET: usize = 40;
/// The room the equalizer takes before a playing or paused track's status, in pixels.
const EQ_WIDTH: u32 = 16;

/// Where the text column sits on a card of a given width, with or without art.
struct Layout {
    text_x: u32,
    text_right: u32,
    bar_right: u32,
}

impl Layout {
    fn new(style: &CardStyle, art_shown: bool) -> Layout {
        let text_x = if art_shown { PAD + ART + 14 } else { 16 };
        let text_right = style.width - 14;
        Layout {
            text_x,
            text_right,
            // The time stands right of the bar, in the last 86 px.
            bar_right: text_right - 86,
        }
    }

    /// A budget set for the 400 px card, scaled to this column.
    fn budget(&self, base: usize) -> usize {
        let column = self.text_right - self.text_x;
        (base as u64 * u64::from(column) / u64::from(BASE_COLUMN)) as usize
    }
}

/// Renders the card with the default style and `theme`. `answer: None` is the "Not listening
/// to Spotify" card. See [`render_card_with`].
pub fn render_card(
    answer: Option<&NowPlaying>,
    theme: Theme,
    art_data_uri: Option<&str>,
    now: Timestamp,
) -> String {
    render_card_with(answer, &CardStyle::from(theme), art_data_uri, None, now)
}

/// Renders the card in `style`. `answer: None` is the "Not listening to Spotify" card (its
/// second line is `idle_text` when given).
///
/// `art_data_uri` is used only when it is a `data:image/…` URI; anything else (or `None`)
/// draws the placeholder, so the card never refers to anything outside itself. `art_colors`
/// are the cover's colours, for `theme=art` (without them, or with `hide_art`, art is light).
/// `now` is the moment the answer was served, from which a playing track's position is advanced.
pub fn render_card_with(
    answer: Option<&NowPlaying>,
    style: &CardStyle,
    art_data_uri: Option<&str>,
    art_colors: Option<ArtColors>,
    now: Timestamp,
) -> String {
    let art = art_data_uri
        .filter(|u| is_safe_data_uri(u))
        .filter(|_| answer.is_some() && !style.hide_art);
    let p = style.palette(art.and(art_colors));
    let l = Layout::new(style, !style.hide_art);
    let motion = answer
        .map(|np| motion_of(&l, style, np, now))
        .unwrap_or_default();
    let mut out = String::with_capacity(4096 + art.map_or(0, str::len));
    frame(&mut out, style, &p, &a11y_title(answer, now));
    motion.write_style(&mut out);
    if !style.hide_art {
        match art {
            Some(uri) => album_art(&mut out, uri),
            None => placeholder(&mut out, &p),
        }
    }
    let _ = write!(out, r##"<g font-family="{}">"##, escape(FONT));
    match answer {
        None => idle_lines(&mut out, &l, &p, style.idle_text.as_deref()),
        Some(np) => item_lines(&mut out, &l, style, &p, np, now, &motion),
    }
    out.push_str("</g></svg>");
    out
}

/// The URL of the art the card should embed: of the sizes the answer lists, the smallest whose
/// shorter side is at least [`ART_DEVICE_PX`], else the largest; `albumImage` when it lists none
/// with sizes. Spotify's 300 px image (about 20 to 40 KB) instead of its 640 px one (100 to
/// 250 KB) keeps a card with art under about 40 KB.
pub fn card_art_url(np: &NowPlaying) -> Option<&str> {
    pick_image(&np.album_images, ART_DEVICE_PX).or(np.album_image.as_deref())
}

/// The smallest image whose shorter side is at least `px`, else the largest; `None` when no
/// image has both sizes.
pub fn pick_image(images: &[Image], px: u32) -> Option<&str> {
    let sized = || {
        images.iter().filter_map(|i| match (i.width, i.height) {
            (Some(w), Some(h)) if w > 0 && h > 0 && !i.url.trim().is_empty() => {
                Some((w.min(h), u64::from(w) * u64::from(h), i.url.as_str()))
            }
            _ => None,
        })
    };
    sized()
        .filter(|(side, _, _)| *side >= px)
        .min_by_key(|(_, area, _)| *area)
        .or_else(|| sized().max_by_key(|(_, area, _)| *area))
        .map(|(_, _, url)| url)
}

/// Writes the opening tag with the accessible name, the art's clip path and the background.
fn frame(out: &mut String, style: &CardStyle, p: &Palette, a11y: &str) {
    let _ = write!(
        out,
        r##"<svg xmlns="http://www.w3.org/2000/svg" width="{w}" height="{HEIGHT}" viewBox="0 0 {w} {HEIGHT}" role="img" aria-labelledby="np-title"><title id="np-title">{title}</title>"##,
        w = style.width,
        title = escape(&truncate(a11y, A11Y_BUDGET)),
    );
    if !style.hide_art {
        let _ = write!(
            out,
            r##"<defs><clipPath id="np-art-clip"><rect x="{PAD}" y="{PAD}" width="{ART}" height="{ART}" rx="8" ry="8"/></clipPath></defs>"##
        );
    }
    background(out, style, p, HEIGHT);
}

/// Draws the album art, clipped to the rounded square (`uri` is a checked `data:` URI).
fn album_art(out: &mut String, uri: &str) {
    let _ = write!(
        out,
        r##"<image x="{PAD}" y="{PAD}" width="{ART}" height="{ART}" preserveAspectRatio="xMidYMid slice" clip-path="url(#np-art-clip)" href="{href}"/>"##,
        href = escape(uri),
    );
}

/// Writes the text of the card when nothing is shown: `idle_text` as its second line when given.
fn idle_lines(out: &mut String, l: &Layout, p: &Palette, idle_text: Option<&str>) {
    text(out, l, 36, 12, "600", p.accent, "Spotify");
    text(
        out,
        l,
        62,
        16,
        "700",
        p.fg,
        &truncate("Not listening to Spotify", l.budget(TITLE_BUDGET)),
    );
    let line = idle_text.unwrap_or("Check back later");
    text(
        out,
        l,
        84,
        13,
        "400",
        p.muted,
        &truncate(line, l.budget(ARTIST_BUDGET)),
    );
}

/// What moves on the card for `np` (see [`motion`]): the bar and the equalizer while a track
/// plays with a known position and duration, a too-long title while it plays or is paused;
/// nothing with `hide_progress`.
fn motion_of(l: &Layout, style: &CardStyle, np: &NowPlaying, now: Timestamp) -> Motion {
    let live = matches!(np.status, Status::Playing | Status::Paused);
    if style.hide_progress || !live {
        return Motion::default();
    }
    let bar = progress(np, now)
        .filter(|_| np.is_playing && np.status == Status::Playing && np.duration.is_some())
        .and_then(|(pos, dur)| {
            let (full, filled) = bar_geometry(l, pos, dur);
            motion::bar(pos, dur, filled, full)
        });
    let title_units = scrolled_title(np).chars().map(char_width).sum();
    Motion {
        equalizer: bar.is_some(),
        bar,
        marquee: motion::marquee(title_units, l.budget(TITLE_BUDGET)),
    }
}

/// The title as it scrolls: whitespace collapsed, bounded like the accessible name.
fn scrolled_title(np: &NowPlaying) -> String {
    truncate(&np.name, A11Y_BUDGET)
}

/// Writes the status line with the source mark, the title (scrolling when `motion` says so,
/// else cut to the column), who it is by, and the progress bar (or the album, for a track
/// without a position, or with `hide_progress`). A playing or paused track has the equalizer
/// before its status, moving while the bar does.
fn item_lines(
    out: &mut String,
    l: &Layout,
    style: &CardStyle,
    p: &Palette,
    np: &NowPlaying,
    now: Timestamp,
    motion: &Motion,
) {
    let mut label_budget = if style.hide_source {
        LABEL_BUDGET + MARK_BUDGET
    } else {
        LABEL_BUDGET
    };
    let mut label_x = l.text_x;
    if matches!(np.status, Status::Playing | Status::Paused) {
        motion::equalizer(out, l.text_x, 30, p.accent, motion.equalizer);
        label_x += EQ_WIDTH;
        label_budget -= 2;
    }
    let status = truncate(&label(np, now), l.budget(label_budget));
    text_at(out, label_x, 30, 12, "600", p.accent, &status);
    if !style.hide_source {
        source_mark(out, l, p, np);
    }
    match &motion.marquee {
        Some(m) => motion::scrolling_title(
            out,
            l.text_x,
            l.text_right,
            54,
            p.fg,
            &scrolled_title(np),
            m,
        ),
        None => text(
            out,
            l,
            54,
            16,
            "700",
            p.fg,
            &truncate(&np.name, l.budget(TITLE_BUDGET)),
        ),
    }
    if let Some(by) = byline(np) {
        text(
            out,
            l,
            74,
            13,
            "400",
            p.muted,
            &truncate(by, l.budget(ARTIST_BUDGET)),
        );
    }
    match progress(np, now).filter(|_| !style.hide_progress) {
        Some((pos, dur)) => progress_bar(out, l, p, pos, dur, motion.bar.is_some()),
        // No position for a recent track (or no bar wanted): show the album instead.
        None => {
            let album = np.album.as_deref().unwrap_or_default();
            text(
                out,
                l,
                94,
                12,
                "400",
                p.muted,
                &truncate(album, l.budget(ALBUM_BUDGET)),
            );
        }
    }
}

/// The card's accessible name: what plays, by whom (left out when nobody is known), and where.
fn a11y_title(answer: Option<&NowPlaying>, now: Timestamp) -> String {
    let Some(np) = answer else {
        return "Not listening to Spotify".to_string();
    };
    let by = byline(np).map(|b| format!(" by {b}")).unwrap_or_default();
    format!(
        "{}: {}{by} (on {})",
        label(np, now),
        np.name,
        np.source.display_name()
    )
}

/// Who it is by: the artists, or for an episode without them (an answer cached before
/// episodes got the show's name there) the show; `None` when nobody is known, so the card never
/// draws an empty line or an empty "by".
fn byline(np: &NowPlaying) -> Option<&str> {
    let artists = np.artists.trim();
    if !artists.is_empty() {
        return Some(artists);
    }
    match np.kind {
        ItemType::Episode => np.album.as_deref().map(str::trim).filter(|a| !a.is_empty()),
        ItemType::Track => None,
    }
}

/// Where the answer came from, small and muted on the right of the label line. The card is an
/// image (GitHub shows it through its proxy), so the mark is text: the README's link around the
/// card goes to the owner's profile on that service (docs/api.md).
fn source_mark(out: &mut String, l: &Layout, p: &Palette, np: &NowPlaying) {
    let _ = write!(
        out,
        r##"<text class="np-source" data-source="{source}" x="{right}" y="30" font-size="11" fill="{muted}" text-anchor="end">{mark}</text>"##,
        right = l.text_right,
        source = np.source.as_str(),
        muted = p.muted,
        mark = escape(&truncate(
            &format!("on {}", np.source.display_name()),
            MARK_BUDGET
        )),
    );
}

/// "Now playing", "Paused", "Recently played · 5 minutes ago", with " · Episode" for episodes.
fn label(np: &NowPlaying, now: Timestamp) -> String {
    let mut s = match np.status {
        Status::Playing => "Now playing".to_string(),
        Status::Paused => "Paused".to_string(),
        Status::Recent => "Recently played".to_string(),
        Status::Top => "Top track".to_string(),
        Status::Saved => "Saved".to_string(),
    };
    if np.kind == ItemType::Episode {
        s.push_str(" · Episode");
    }
    if np.status == Status::Recent {
        if let Some(ago) = np.played_at.as_deref().and_then(|t| relative_time(t, now)) {
            s.push_str(" · ");
            s.push_str(&ago);
        }
    }
    s
}

/// "just now", "1 minute ago", "3 hours ago", "2 days ago" from an RFC 3339 timestamp.
fn relative_time(rfc3339: &str, now: Timestamp) -> Option<String> {
    let at = time::OffsetDateTime::parse(rfc3339, &time::format_description::well_known::Rfc3339)
        .ok()?;
    let at_ms = at.unix_timestamp_nanos() / 1_000_000;
    let secs = ((i128::from(now.as_millis()) - at_ms) / 1000).max(0) as u64;
    let unit = |n: u64, one: &str| format!("{n} {one}{} ago", if n == 1 { "" } else { "s" });
    Some(match secs {
        0..=59 => "just now".to_string(),
        60..=3_599 => unit(secs / 60, "minute"),
        3_600..=86_399 => unit(secs / 3_600, "hour"),
        _ => unit(secs / 86_400, "day"),
    })
}

/// Returns the position and duration for the bar; the position is advanced to `now` while
/// playing (in whole seconds, so every request within one second draws the same card and gets
/// the same `ETag`) and clamped.
fn progress(np: &NowPlaying, now: Timestamp) -> Option<(Duration, Duration)> {
    let pos = np.progress?;
    if np.status == Status::Recent {
        return None;
    }
    let dur = np.duration.unwrap_or_default();
    let pos = if np.is_playing {
        Duration::from_secs(pos.saturating_add(now.since(np.timestamp)).as_secs())
    } else {
        pos
    };
    Some((pos.min(dur), dur))
}

/// The bar's full width and the width drawn for `pos` of `dur`, in pixels.
fn bar_geometry(l: &Layout, pos: Duration, dur: Duration) -> (u32, f64) {
    let full = l.bar_right - l.text_x;
    let filled = if dur.is_zero() {
        0.0
    } else {
        full as f64 * pos.as_millis() as f64 / dur.as_millis() as f64
    };
    (full, filled)
}

/// Writes the bar at `pos` of `dur` and the time; `live` gives the filled part the class its
/// animation is keyed on.
fn progress_bar(
    out: &mut String,
    l: &Layout,
    p: &Palette,
    pos: Duration,
    dur: Duration,
    live: bool,
) {
    let (full, filled) = bar_geometry(l, pos, dur);
    let _ = write!(
        out,
        r##"<rect x="{x}" y="92" width="{full}" height="4" rx="2" ry="2" fill="{track}"/><rect class="np-progress{live}" x="{x}" y="92" width="{filled:.1}" height="4" rx="2" ry="2" fill="{bar}"/>"##,
        x = l.text_x,
        track = p.track,
        bar = p.bar,
        live = if live { " np-live" } else { "" },
    );
    let _ = write!(
        out,
        r##"<text x="{right}" y="97" font-size="11" fill="{muted}" text-anchor="end">{} / {}</text>"##,
        clock(pos),
        clock(dur),
        right = l.text_right,
        muted = p.muted,
    );
}

fn placeholder(out: &mut String, p: &Palette) {
    let _ = write!(
        out,
        r##"<rect x="{PAD}" y="{PAD}" width="{ART}" height="{ART}" rx="8" ry="8" fill="{bg}"/><path transform="translate(40 38)" fill="{fg}" d="M30 0v30.5A8 8 0 1 1 26 23.6V8H12v26.5A8 8 0 1 1 8 27.6V0z"/>"##,
        bg = p.placeholder_bg,
        fg = p.placeholder_fg,
    );
}

fn text(
    out: &mut String,
    l: &Layout,
    y: u32,
    size: u32,
    weight: &str,
    fill: super::Rgb,
    content: &str,
) {
    text_at(out, l.text_x, y, size, weight, fill, content);
}

fn text_at(
    out: &mut String,
    x: u32,
    y: u32,
    size: u32,
    weight: &str,
    fill: super::Rgb,
    content: &str,
) {
    let _ = write!(
        out,
        r##"<text x="{x}" y="{y}" font-size="{size}" font-weight="{weight}" fill="{fill}">{}</text>"##,
        escape(content),
    );
}

/// `m:ss` (minutes may exceed 59: podcasts are long).
fn clock(d: Duration) -> String {
    let s = d.as_secs();
    format!("{}:{:02}", s / 60, s % 60)
}

/// Only `data:image/<type>;base64,<payload>` with a plain base64 payload is embedded.
pub(super) fn is_safe_data_uri(uri: &str) -> bool {
    let Some(rest) = uri.strip_prefix("data:image/") else {
        return false;
    };
    let Some((mime, payload)) = rest.split_once(";base64,") else {
        return false;
    };
    matches!(mime, "jpeg" | "png" | "webp" | "gif")
        && !payload.is_empty()
        && payload
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'+' | b'/' | b'='))
}

#[cfg(test)]
mod tests;
