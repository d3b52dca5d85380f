//! SVG cards for a README: [`render_card`] (what is playing, `GET /api/spotify.svg`) and
//! [`render_top_card`] (a top list, `GET /api/spotify/top.svg`), one file each.
//!
//! What both share lives here: the [`Theme`], XML escaping and width-aware truncation. The cards
//! are pure (no I/O, no clock): the caller passes the data, the theme and the time.
//!
//! GitHub shows README images through its image proxy, which serves an SVG as an image: it
//! loads nothing the SVG refers to (no remote `href`, no web fonts, no CSS imports) and runs no
//! script. So everything is inline and every piece of text from Spotify is XML-escaped.

use std::str::FromStr;

mod now_playing;
mod top;

pub use now_playing::{card_art_url, render_card, ART_DEVICE_PX, HEIGHT};
pub use top::{render_top_card, render_top_card_from, rows_from_items, TopRow};

/// Card width in pixels (both cards).
pub const WIDTH: u32 = 400;

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
                s.chars().take(60).collect::<String>(),
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

/// The colours of one theme.
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

/// The accessible `<title>` may be longer than a drawn line but is still bounded.
const A11Y_BUDGET: usize = 240;

const FONT: &str = "-apple-system, BlinkMacSystemFont, 'Segoe UI', Helvetica, Arial, sans-serif";

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

    /// A minimal well-formedness check: tags balance, attributes are quoted, no raw `<`/`&`
    /// in text, entities are the five predefined or numeric ones.
    pub(super) fn assert_well_formed(svg: &str) {
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
    fn truncate_cuts_on_char_boundaries() {
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
}
