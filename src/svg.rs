//! The README card: `GET /api/spotify.svg` renders the current answer as a standalone SVG.
//!
//! Pure: no I/O, no clock. The caller passes the answer, the theme, the album art already
//! fetched and turned into a `data:` URI (see [`crate::art`]) and the current time.
//!
//! GitHub shows README images through its image proxy, which serves an SVG as an image: it
//! loads nothing the SVG refers to (no remote `href`, no web fonts, no CSS imports) and runs no
//! script. So everything is inline and every piece of text from Spotify is XML-escaped.

use std::fmt::Write as _;
use std::str::FromStr;

use crate::model::{ItemType, NowPlaying, Status};

/// Card width in pixels.
pub const WIDTH: u32 = 400;
/// Card height in pixels.
pub const HEIGHT: u32 = 120;

/// Colour scheme of the card (`?theme=light|dark`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Theme {
    #[default]
    Light,
    Dark,
}

impl Theme {
    /// The values `FromStr` accepts, in the order they are documented.
    pub const ACCEPTED: &'static [&'static str] = &["light", "dark"];

    fn palette(self) -> Palette {
        match self {
            // Text colours keep at least 4.5:1 against the background (WCAG AA).
            Theme::Light => Palette {
                bg: "#ffffff",
                border: "#d0d7de",
                fg: "#1f2328",
                muted: "#59636e",
                accent: "#0f7a35",
                track: "#d0d7de",
                bar: "#1db954",
                placeholder_bg: "#eaeef2",
                placeholder_fg: "#59636e",
            },
            Theme::Dark => Palette {
                bg: "#0d1117",
                border: "#30363d",
                fg: "#e6edf3",
                muted: "#9198a1",
                accent: "#1ed760",
                track: "#30363d",
                bar: "#1ed760",
                placeholder_bg: "#21262d",
                placeholder_fg: "#9198a1",
            },
        }
    }
}

impl FromStr for Theme {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.trim().to_ascii_lowercase().as_str() {
            "light" => Ok(Theme::Light),
            "dark" => Ok(Theme::Dark),
            _ => Err(format!(
                "unknown theme {:?}: accepted values are {}",
                s,
                Theme::ACCEPTED.join(", ")
            )),
        }
    }
}

impl std::fmt::Display for Theme {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Theme::Light => "light",
            Theme::Dark => "dark",
        })
    }
}

struct Palette {
    bg: &'static str,
    border: &'static str,
    fg: &'static str,
    muted: &'static str,
    accent: &'static str,
    track: &'static str,
    bar: &'static str,
    placeholder_bg: &'static str,
    placeholder_fg: &'static str,
}

// Layout (pixels). Art on the left, text column on the right.
const PAD: u32 = 10;
const ART: u32 = 100;
const TEXT_X: u32 = PAD + ART + 14;
const TEXT_RIGHT: u32 = WIDTH - 14;
const BAR_RIGHT: u32 = 300;

/// Width budgets, in "narrow character" units (see [`char_width`]), for each line.
const LABEL_BUDGET: usize = 44;
const TITLE_BUDGET: usize = 28;
const ARTIST_BUDGET: usize = 36;
const ALBUM_BUDGET: usize = 40;
/// The accessible `<title>` may be longer but is still bounded.
const A11Y_BUDGET: usize = 240;

const FONT: &str = "-apple-system, BlinkMacSystemFont, 'Segoe UI', Helvetica, Arial, sans-serif";

/// Renders the card. `answer: None` is the "Not listening to Spotify" card.
///
/// `art_data_uri` is used only when it is a `data:image/…` URI; anything else (or `None`)
/// draws the placeholder, so the card never refers to anything outside itself.
pub fn render_card(
    answer: Option<&NowPlaying>,
    theme: Theme,
    art_data_uri: Option<&str>,
    now_ms: u64,
) -> String {
    let p = theme.palette();
    let mut out = String::with_capacity(4096 + art_data_uri.map_or(0, str::len));

    let a11y = match answer {
        None => "Not listening to Spotify".to_string(),
        Some(np) => format!("{}: {} by {}", label(np, now_ms), np.name, np.artists),
    };

    let _ = write!(
        out,
        r##"<svg xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="{HEIGHT}" viewBox="0 0 {WIDTH} {HEIGHT}" role="img" aria-labelledby="np-title"><title id="np-title">{title}</title>"##,
        title = escape(&truncate(&a11y, A11Y_BUDGET)),
    );
    let _ = write!(
        out,
        r##"<defs><clipPath id="np-art-clip"><rect x="{PAD}" y="{PAD}" width="{ART}" height="{ART}" rx="8" ry="8"/></clipPath></defs>"##
    );
    let _ = write!(
        out,
        r##"<rect x="0.5" y="0.5" width="{w}" height="{h}" rx="12" ry="12" fill="{bg}" stroke="{border}"/>"##,
        w = WIDTH - 1,
        h = HEIGHT - 1,
        bg = p.bg,
        border = p.border,
    );

    // Album art, or the placeholder note.
    match art_data_uri.filter(|u| is_safe_data_uri(u)) {
        Some(uri) if answer.is_some() => {
            let _ = write!(
                out,
                r##"<image x="{PAD}" y="{PAD}" width="{ART}" height="{ART}" preserveAspectRatio="xMidYMid slice" clip-path="url(#np-art-clip)" href="{href}"/>"##,
                href = escape(uri),
            );
        }
        _ => placeholder(&mut out, &p),
    }

    let _ = write!(out, r##"<g font-family="{}">"##, escape(FONT));
    match answer {
        None => {
            text(&mut out, 36, 12, "600", p.accent, "Spotify");
            text(&mut out, 62, 16, "700", p.fg, "Not listening to Spotify");
            text(&mut out, 84, 13, "400", p.muted, "Check back later");
        }
        Some(np) => {
            text(
                &mut out,
                30,
                12,
                "600",
                p.accent,
                &truncate(&label(np, now_ms), LABEL_BUDGET),
            );
            text(
                &mut out,
                54,
                16,
                "700",
                p.fg,
                &truncate(&np.name, TITLE_BUDGET),
            );
            text(
                &mut out,
                74,
                13,
                "400",
                p.muted,
                &truncate(&np.artists, ARTIST_BUDGET),
            );
            match progress(np, now_ms) {
                Some((pos, dur)) => progress_bar(&mut out, &p, pos, dur),
                // No position for a recent track: show the album instead.
                None => text(
                    &mut out,
                    94,
                    12,
                    "400",
                    p.muted,
                    &truncate(&np.album, ALBUM_BUDGET),
                ),
            }
        }
    }
    out.push_str("</g></svg>");
    out
}

/// One row of the top list card: the name and a line under it (artists of a track, genres of
/// an artist; empty for none).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TopRow {
    pub name: String,
    pub detail: String,
}

/// The first `limit` rows of a cached top list (`items` of `/api/spotify/top/{kind}`): the
/// artists for a track, up to three genres for an artist.
pub fn rows_from_items(items: &[serde_json::Value], artists: bool, limit: usize) -> Vec<TopRow> {
    use serde_json::Value;
    items
        .iter()
        .take(limit)
        .map(|i| TopRow {
            name: i["name"].as_str().unwrap_or_default().to_string(),
            detail: if artists {
                i["genres"]
                    .as_array()
                    .map(|g| {
                        g.iter()
                            .filter_map(Value::as_str)
                            .take(3)
                            .collect::<Vec<_>>()
                            .join(", ")
                    })
                    .unwrap_or_default()
            } else {
                i["artists"].as_str().unwrap_or_default().to_string()
            },
        })
        .collect()
}

// Top list card layout (pixels).
const TOP_HEAD: u32 = 50;
const TOP_ROW: u32 = 40;
const TOP_NAME_BUDGET: usize = 40;
const TOP_DETAIL_BUDGET: usize = 50;

/// Renders the top list card (`GET /api/spotify/top.svg`): a heading such as
/// "Top artists · last 4 weeks" and one numbered row per entry. `rows: None` (nothing to show:
/// hidden, not authorized, a scope missing) and an empty list draw a "Nothing to show yet" row.
/// Text only: nothing is fetched or referred to, and every string is escaped and truncated like
/// the now-playing card's.
pub fn render_top_card(heading: &str, rows: Option<&[TopRow]>, theme: Theme) -> String {
    let p = theme.palette();
    let rows = rows.unwrap_or_default();
    let shown = rows.len().max(1) as u32;
    let height = TOP_HEAD + shown * TOP_ROW + 6;
    let a11y = if rows.is_empty() {
        format!("{heading} on Spotify: nothing to show yet")
    } else {
        let list: Vec<String> = rows
            .iter()
            .enumerate()
            .map(|(i, r)| format!("{}. {}", i + 1, r.name))
            .collect();
        format!("{heading} on Spotify: {}", list.join(", "))
    };
    let mut out = String::with_capacity(2048 + rows.len() * 300);
    let _ = write!(
        out,
        r##"<svg xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="{height}" viewBox="0 0 {WIDTH} {height}" role="img" aria-labelledby="np-top-title"><title id="np-top-title">{title}</title>"##,
        title = escape(&truncate(&a11y, A11Y_BUDGET)),
    );
    let _ = write!(
        out,
        r##"<rect x="0.5" y="0.5" width="{w}" height="{h}" rx="12" ry="12" fill="{bg}" stroke="{border}"/>"##,
        w = WIDTH - 1,
        h = height - 1,
        bg = p.bg,
        border = p.border,
    );
    let _ = write!(out, r##"<g font-family="{}">"##, escape(FONT));
    let _ = write!(
        out,
        r##"<text x="16" y="30" font-size="15" font-weight="700" fill="{fg}">{}</text><text x="{right}" y="30" font-size="12" font-weight="600" fill="{accent}" text-anchor="end">Spotify</text>"##,
        escape(&truncate(heading, LABEL_BUDGET - 8)),
        fg = p.fg,
        accent = p.accent,
        right = WIDTH - 16,
    );
    if rows.is_empty() {
        let _ = write!(
            out,
            r##"<text x="16" y="{y}" font-size="13" fill="{muted}">Nothing to show yet</text>"##,
            y = TOP_HEAD + 20,
            muted = p.muted,
        );
    }
    for (i, row) in rows.iter().enumerate() {
        let top = TOP_HEAD + i as u32 * TOP_ROW;
        let (name_y, detail_y) = if row.detail.trim().is_empty() {
            (top + 22, 0)
        } else {
            (top + 14, top + 31)
        };
        let _ = write!(
            out,
            r##"<text x="30" y="{name_y}" font-size="13" font-weight="700" fill="{accent}" text-anchor="end">{n}</text><text x="42" y="{name_y}" font-size="14" font-weight="600" fill="{fg}">{name}</text>"##,
            n = i + 1,
            name = escape(&truncate(&row.name, TOP_NAME_BUDGET)),
            accent = p.accent,
            fg = p.fg,
        );
        if detail_y > 0 {
            let _ = write!(
                out,
                r##"<text x="42" y="{detail_y}" font-size="12" fill="{muted}">{}</text>"##,
                escape(&truncate(&row.detail, TOP_DETAIL_BUDGET)),
                muted = p.muted,
            );
        }
    }
    out.push_str("</g></svg>");
    out
}

/// "Now playing", "Paused", "Recently played · 5 minutes ago", with " · Episode" for episodes.
fn label(np: &NowPlaying, now_ms: u64) -> String {
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
        if let Some(ago) = np
            .played_at
            .as_deref()
            .and_then(|t| relative_time(t, now_ms))
        {
            s.push_str(" · ");
            s.push_str(&ago);
        }
    }
    s
}

/// "just now", "1 minute ago", "3 hours ago", "2 days ago" from an RFC 3339 timestamp.
fn relative_time(rfc3339: &str, now_ms: u64) -> Option<String> {
    let at = time::OffsetDateTime::parse(rfc3339, &time::format_description::well_known::Rfc3339)
        .ok()?;
    let at_ms = at.unix_timestamp_nanos() / 1_000_000;
    let secs = ((now_ms as i128 - at_ms) / 1000).max(0) as u64;
    let unit = |n: u64, one: &str| format!("{n} {one}{} ago", if n == 1 { "" } else { "s" });
    Some(match secs {
        0..=59 => "just now".to_string(),
        60..=3_599 => unit(secs / 60, "minute"),
        3_600..=86_399 => unit(secs / 3_600, "hour"),
        _ => unit(secs / 86_400, "day"),
    })
}

/// Position and duration for the bar: advanced to `now_ms` while playing, clamped.
fn progress(np: &NowPlaying, now_ms: u64) -> Option<(u64, u64)> {
    let pos = np.progress_ms?;
    if np.status == Status::Recent {
        return None;
    }
    let dur = np.duration_ms;
    let pos = if np.is_playing {
        pos.saturating_add(now_ms.saturating_sub(np.timestamp))
    } else {
        pos
    };
    Some((pos.min(dur), dur))
}

fn progress_bar(out: &mut String, p: &Palette, pos: u64, dur: u64) {
    let full = BAR_RIGHT - TEXT_X;
    let filled = if dur == 0 {
        0.0
    } else {
        full as f64 * pos as f64 / dur as f64
    };
    let _ = write!(
        out,
        r##"<rect x="{TEXT_X}" y="92" width="{full}" height="4" rx="2" ry="2" fill="{track}"/><rect class="np-progress" x="{TEXT_X}" y="92" width="{filled:.1}" height="4" rx="2" ry="2" fill="{bar}"/>"##,
        track = p.track,
        bar = p.bar,
    );
    let _ = write!(
        out,
        r##"<text x="{TEXT_RIGHT}" y="97" font-size="11" fill="{muted}" text-anchor="end">{} / {}</text>"##,
        clock(pos),
        clock(dur),
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

fn text(out: &mut String, y: u32, size: u32, weight: &str, fill: &str, content: &str) {
    let _ = write!(
        out,
        r##"<text x="{TEXT_X}" y="{y}" font-size="{size}" font-weight="{weight}" fill="{fill}">{}</text>"##,
        escape(content)
    );
}

/// `m:ss` (minutes may exceed 59: podcasts are long).
fn clock(ms: u64) -> String {
    let s = ms / 1000;
    format!("{}:{:02}", s / 60, s % 60)
}

/// Only `data:image/<type>;base64,<payload>` with a plain base64 payload is embedded.
fn is_safe_data_uri(uri: &str) -> bool {
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

/// XML-escapes text for element content and double- or single-quoted attributes, and drops
/// characters XML 1.0 does not allow at all (most C0 controls, U+FFFE, U+FFFF).
pub fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 16);
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            '\t' | '\n' | '\r' => out.push(' '),
            c if (c as u32) < 0x20 || c == '\u{FFFE}' || c == '\u{FFFF}' => {}
            c => out.push(c),
        }
    }
    out
}

/// Rough rendered width of a character in "narrow character" units: wide (CJK, Hangul,
/// fullwidth forms, most emoji) count 2, combining marks and joiners 0, the rest 1.
fn char_width(c: char) -> usize {
    let u = c as u32;
    match u {
        0x0300..=0x036F | 0x200B..=0x200F | 0xFE00..=0xFE0F | 0x20D0..=0x20FF => 0,
        0x1100..=0x115F
        | 0x2E80..=0xA4CF
        | 0xAC00..=0xD7A3
        | 0xF900..=0xFAFF
        | 0xFE30..=0xFE4F
        | 0xFF00..=0xFF60
        | 0xFFE0..=0xFFE6
        | 0x1F300..=0x1FAFF
        | 0x20000..=0x3FFFD => 2,
        _ => 1,
    }
}

/// Cuts `s` (whitespace collapsed) on a `char` boundary so it fits `budget` width units,
/// appending "…" when anything was cut. A cut never leaves a dangling joiner or variation
/// selector at the end.
pub fn truncate(s: &str, budget: usize) -> String {
    let collapsed: String = s.split_whitespace().collect::<Vec<_>>().join(" ");
    let total: usize = collapsed.chars().map(char_width).sum();
    if total <= budget {
        return collapsed;
    }
    let mut out = String::new();
    let mut used = 0;
    for c in collapsed.chars() {
        let w = char_width(c);
        // Keep one unit for the ellipsis.
        if used + w > budget.saturating_sub(1) {
            break;
        }
        used += w;
        out.push(c);
    }
    while out
        .ends_with(|c: char| c.is_whitespace() || matches!(c, '\u{200D}' | '\u{FE0F}' | '\u{FE0E}'))
    {
        out.pop();
    }
    out.push('…');
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: u64 = 1_764_000_000_000;

    fn np(name: &str) -> NowPlaying {
        NowPlaying {
            is_playing: true,
            status: Status::Playing,
            kind: ItemType::Track,
            name: name.to_string(),
            artists: "Artist One, Artist Two".to_string(),
            album: "An Album".to_string(),
            album_image: Some("https://i.scdn.co/image/abc".to_string()),
            song_url: Some("https://open.spotify.com/track/abc".to_string()),
            track_id: Some("abc".to_string()),
            preview_url: None,
            progress_ms: Some(60_000),
            duration_ms: 180_000,
            timestamp: NOW - 30_000,
            played_at: None,
            stale: false,
        }
    }

    /// A minimal well-formedness check: tags balance, attributes are quoted, no raw `<`/`&`
    /// in text, entities are the five predefined or numeric ones.
    fn assert_well_formed(svg: &str) {
        assert!(svg.starts_with("<svg "), "{svg}");
        let mut stack: Vec<String> = Vec::new();
        let mut rest = svg;
        while let Some(i) = rest.find(['<', '&']) {
            let text = &rest[..i];
            assert!(!text.contains('>'), "raw > in text: {text:?}");
            rest = &rest[i..];
            if rest.starts_with('&') {
                let end = rest.find(';').expect("unterminated entity");
                let ent = &rest[1..end];
                assert!(
                    matches!(ent, "amp" | "lt" | "gt" | "quot" | "apos")
                        || (ent.starts_with('#') && ent[1..].chars().all(|c| c.is_ascii_digit())),
                    "bad entity {ent}"
                );
                rest = &rest[end + 1..];
                continue;
            }
            let end = rest.find('>').expect("unterminated tag");
            let tag = &rest[1..end];
            assert!(!tag.contains('<'), "< inside tag: {tag}");
            // Attribute values: every '=' must be followed by a quote, and quotes balance.
            assert_eq!(
                tag.matches('"').count() % 2,
                0,
                "unbalanced quotes in {tag}"
            );
            if let Some(name) = tag.strip_prefix('/') {
                assert_eq!(stack.pop().as_deref(), Some(name), "mismatched </{name}>");
            } else if !tag.ends_with('/') {
                let name = tag.split_whitespace().next().unwrap().to_string();
                stack.push(name);
            }
            rest = &rest[end + 1..];
        }
        assert!(rest.is_empty(), "trailing text {rest:?}");
        assert!(stack.is_empty(), "unclosed {stack:?}");
        assert!(!svg.to_ascii_lowercase().contains("<script"));
        // Nothing outside the document except the namespace name.
        assert_eq!(
            svg.matches("http").count(),
            1,
            "external reference in {svg}"
        );
    }

    #[test]
    fn theme_parses_and_rejects_with_the_accepted_values() {
        assert_eq!("light".parse::<Theme>(), Ok(Theme::Light));
        assert_eq!("dark".parse::<Theme>(), Ok(Theme::Dark));
        assert_eq!(" Dark ".parse::<Theme>(), Ok(Theme::Dark));
        let err = "neon".parse::<Theme>().unwrap_err();
        assert!(
            err.contains("neon") && err.contains("light") && err.contains("dark"),
            "{err}"
        );
        assert_eq!(Theme::ACCEPTED, &["light", "dark"]);
        for t in Theme::ACCEPTED {
            assert_eq!(t.parse::<Theme>().unwrap().to_string(), *t);
        }
    }

    #[test]
    fn escapes_script_quotes_and_ampersands() {
        let mut n = np("<script>alert(1)</script>");
        n.artists = r#""Quoted" & 'single' <b>"#.to_string();
        let svg = render_card(Some(&n), Theme::Light, None, NOW);
        assert_well_formed(&svg);
        assert!(
            svg.contains("&lt;script&gt;alert(1)&lt;/script&gt;"),
            "{svg}"
        );
        assert!(
            svg.contains("&quot;Quoted&quot; &amp; &#39;single&#39; &lt;b&gt;"),
            "{svg}"
        );
        assert!(!svg.contains("<script"));
        assert!(!svg.contains("<b>"));
    }

    #[test]
    fn control_characters_are_dropped() {
        let svg = render_card(Some(&np("a\u{0}b\u{1b}c\u{FFFF}d")), Theme::Dark, None, NOW);
        assert_well_formed(&svg);
        assert!(svg.contains(">abcd<"), "{svg}");
    }

    #[test]
    fn truncates_a_300_char_title() {
        let long = "x".repeat(300);
        let svg = render_card(Some(&np(&long)), Theme::Light, None, NOW);
        assert_well_formed(&svg);
        let shown = format!(">{}…<", "x".repeat(TITLE_BUDGET - 1));
        assert!(svg.contains(&shown), "{svg}");
        // Every drawn line fits; the accessible <title> is bounded too.
        for drawn in svg.split("<text ").skip(1) {
            let content = &drawn[drawn.find('>').unwrap() + 1..drawn.find("</text>").unwrap()];
            assert!(content.chars().count() <= LABEL_BUDGET, "{content}");
        }
        assert!(!svg.contains(&"x".repeat(A11Y_BUDGET)));
        // Also on multibyte characters: cut on char boundaries (would panic otherwise).
        let t = truncate(&"é🎵".repeat(150), 20);
        assert!(t.ends_with('…'));
        assert!(t.chars().map(char_width).sum::<usize>() <= 20);
        assert_eq!(truncate("short", 20), "short");
        assert_eq!(truncate("  spaced \n  out ", 20), "spaced out");
        // No dangling zero-width joiner before the ellipsis.
        let zwj = truncate(&"👩\u{200D}🎤".repeat(20), 9);
        assert!(!zwj.contains("\u{200D}…"), "{zwj:?}");
    }

    #[test]
    fn rtl_and_emoji_survive() {
        let mut n = np("أغنية عربية 🎶");
        n.artists = "זמר עברי 🎸".to_string();
        let svg = render_card(Some(&n), Theme::Dark, None, NOW);
        assert_well_formed(&svg);
        assert!(svg.contains("أغنية عربية 🎶"), "{svg}");
        assert!(svg.contains("זמר עברי 🎸"), "{svg}");
    }

    #[test]
    fn none_is_the_not_listening_card() {
        for theme in [Theme::Light, Theme::Dark] {
            let svg = render_card(None, theme, Some("data:image/png;base64,AAAA"), NOW);
            assert_well_formed(&svg);
            assert!(svg.contains("Not listening to Spotify"));
            assert!(svg.contains("Check back later"));
            assert!(!svg.contains("<image"), "no art without an answer");
            assert!(svg.contains(r#"width="400" height="120""#));
        }
    }

    #[test]
    fn labels_for_each_state() {
        let playing = render_card(Some(&np("T")), Theme::Light, None, NOW);
        assert!(playing.contains(">Now playing<"));

        let mut paused = np("T");
        paused.is_playing = false;
        paused.status = Status::Paused;
        let svg = render_card(Some(&paused), Theme::Light, None, NOW);
        assert!(svg.contains(">Paused<"));
        // Paused: the bar does not advance.
        assert!(svg.contains(">1:00 / 3:00<"), "{svg}");

        let mut recent = np("T");
        recent.is_playing = false;
        recent.status = Status::Recent;
        recent.progress_ms = None;
        recent.played_at = Some("2025-11-24T15:55:00Z".to_string()); // NOW is 16:00:00Z
        let svg = render_card(Some(&recent), Theme::Light, None, NOW);
        assert_well_formed(&svg);
        assert!(svg.contains(">Recently played · 5 minutes ago<"), "{svg}");
        assert!(svg.contains(">An Album<"), "album replaces the bar: {svg}");
        assert!(!svg.contains("np-progress"));

        let mut ep = np("Episode 12");
        ep.kind = ItemType::Episode;
        let svg = render_card(Some(&ep), Theme::Dark, None, NOW);
        assert!(svg.contains(">Now playing · Episode<"), "{svg}");
    }

    #[test]
    fn progress_advances_while_playing_and_clamps() {
        // 60 s read 30 s ago → 1:30 of 3:00, half the bar.
        let svg = render_card(Some(&np("T")), Theme::Light, None, NOW);
        assert!(svg.contains(">1:30 / 3:00<"), "{svg}");
        let full = BAR_RIGHT - TEXT_X;
        assert!(
            svg.contains(&format!(r#"width="{:.1}""#, full as f64 / 2.0)),
            "{svg}"
        );
        let mut late = np("T");
        late.timestamp = NOW - 3_600_000;
        let svg = render_card(Some(&late), Theme::Light, None, NOW);
        assert!(svg.contains(">3:00 / 3:00<"), "{svg}");
        let mut zero = np("T");
        zero.duration_ms = 0;
        assert_well_formed(&render_card(Some(&zero), Theme::Light, None, NOW));
    }

    #[test]
    fn art_is_embedded_only_as_a_data_uri() {
        let svg = render_card(
            Some(&np("T")),
            Theme::Light,
            Some("data:image/jpeg;base64,/9j/4AAQ+Zg=="),
            NOW,
        );
        assert_well_formed(&svg);
        assert!(
            svg.contains(r#"href="data:image/jpeg;base64,/9j/4AAQ+Zg==""#),
            "{svg}"
        );
        for bad in [
            "https://i.scdn.co/image/abc",
            "data:image/svg+xml;base64,PHN2Zz4=",
            "data:image/png;base64,AA\"onload=\"x",
            "data:text/html;base64,AAAA",
            "data:image/png;base64,",
        ] {
            let svg = render_card(Some(&np("T")), Theme::Light, Some(bad), NOW);
            assert_well_formed(&svg);
            assert!(!svg.contains("<image"), "{bad} must not be embedded");
            assert!(svg.contains("<path"), "placeholder drawn for {bad}");
        }
    }

    #[test]
    fn top_card_escapes_truncates_and_sizes_to_the_rows() {
        let rows = vec![
            TopRow {
                name: "<script>alert(1)</script> & \"co\"".into(),
                detail: "x".repeat(300),
            },
            TopRow {
                name: "أغنية 🎶".into(),
                detail: String::new(),
            },
        ];
        for theme in [Theme::Light, Theme::Dark] {
            let svg = render_top_card("Top tracks · last 4 weeks", Some(&rows), theme);
            assert_well_formed(&svg);
            assert!(
                svg.contains("&lt;script&gt;alert(1)&lt;/script&gt; &amp; &quot;co&quot;"),
                "{svg}"
            );
            assert!(!svg.contains("<script"));
            assert!(
                !svg.contains(&"x".repeat(TOP_DETAIL_BUDGET)),
                "detail truncated"
            );
            assert!(svg.contains("أغنية 🎶"));
            assert!(svg.contains(&format!(r#"height="{}""#, TOP_HEAD + 2 * TOP_ROW + 6)));
            assert!(svg.contains(">Top tracks · last 4 weeks<"));
        }
        let empty = render_top_card("Top artists · last year", None, Theme::Light);
        assert_well_formed(&empty);
        assert!(empty.contains("Nothing to show yet"));
        let empty2 = render_top_card("Top artists · last year", Some(&[]), Theme::Dark);
        assert!(empty2.contains("Nothing to show yet"));
    }

    #[test]
    fn relative_times() {
        let at = "2025-11-24T16:00:00Z";
        assert_eq!(relative_time(at, NOW).as_deref(), Some("just now"));
        assert_eq!(
            relative_time(at, NOW + 61_000).as_deref(),
            Some("1 minute ago")
        );
        assert_eq!(
            relative_time(at, NOW + 2 * 3_600_000).as_deref(),
            Some("2 hours ago")
        );
        assert_eq!(
            relative_time(at, NOW + 86_400_000).as_deref(),
            Some("1 day ago")
        );
        assert_eq!(relative_time(at, NOW - 10_000).as_deref(), Some("just now"));
        assert_eq!(relative_time("yesterday", NOW), None);
        assert_eq!(clock(3_725_000), "62:05");
    }
}
