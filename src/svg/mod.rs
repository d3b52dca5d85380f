//! SVG cards for a README: [`render_card`] (what is playing, `GET /api/spotify.svg`) and
//! [`render_list_card`] (every list: `top.svg`, `recent.svg`), one file each, and the history
//! calendar.
//!
//! What both share lives here: the [`Theme`], XML escaping and width-aware truncation. The cards
//! are pure (no I/O, no clock): the caller passes the data, the theme and the time.
//!
//! GitHub shows README images through its image proxy, which serves an SVG as an image: it
//! loads nothing the SVG refers to (no remote `href`, no web fonts, no CSS imports) and runs no
//! script. So everything is inline and every piece of text from Spotify is XML-escaped.

use std::str::FromStr;

pub use crate::color::{ArtColors, Rgb};

pub mod calendar;
pub mod list_card;
mod now_playing;
mod top;

pub use list_card::{ago, render_list_card, ListCard, ListRow};
pub use now_playing::{
    card_art_url, pick_image, render_card, render_card_with, ART_DEVICE_PX, HEIGHT,
};
pub use top::{art_urls, render_top_card, render_top_card_from, rows_from_items};

/// Card width in pixels (both cards), when `width` is not given.
pub const WIDTH: u32 = 400;
/// The narrowest and widest card `width` accepts.
pub const WIDTH_RANGE: std::ops::RangeInclusive<u32> = 300..=600;
/// The corner radius when `radius` is not given, and the largest accepted.
pub const RADIUS: u32 = 12;
pub const RADIUS_MAX: u32 = 30;
/// The longest `idle_text`, in characters.
pub const IDLE_TEXT_MAX: usize = 60;

/// Colour scheme of the card (`?theme=light|dark|art`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Theme {
    #[default]
    Light,
    Dark,
    /// The album art's own colours (see [`ArtColors`]); light when there is no art.
    Art,
}

impl Theme {
    /// The values `FromStr` accepts, in the order they are documented.
    pub const ACCEPTED: &'static [&'static str] = &["light", "dark", "art"];

    fn palette(self) -> Palette {
        match self {
            // Text colours keep at least 4.5:1 against the background (WCAG AA).
            Theme::Light | Theme::Art => Palette {
                bg: Rgb(0xff, 0xff, 0xff),
                border: Rgb(0xd0, 0xd7, 0xde),
                fg: Rgb(0x1f, 0x23, 0x28),
                muted: Rgb(0x59, 0x63, 0x6e),
                accent: Rgb(0x0f, 0x7a, 0x35),
                track: Rgb(0xd0, 0xd7, 0xde),
                bar: Rgb(0x1d, 0xb9, 0x54),
                placeholder_bg: Rgb(0xea, 0xee, 0xf2),
                placeholder_fg: Rgb(0x59, 0x63, 0x6e),
            },
            Theme::Dark => Palette {
                bg: Rgb(0x0d, 0x11, 0x17),
                border: Rgb(0x30, 0x36, 0x3d),
                fg: Rgb(0xe6, 0xed, 0xf3),
                muted: Rgb(0x91, 0x98, 0xa1),
                accent: Rgb(0x1e, 0xd7, 0x60),
                track: Rgb(0x30, 0x36, 0x3d),
                bar: Rgb(0x1e, 0xd7, 0x60),
                placeholder_bg: Rgb(0x21, 0x26, 0x2d),
                placeholder_fg: Rgb(0x91, 0x98, 0xa1),
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
            "art" => Ok(Theme::Art),
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
            Theme::Art => "art",
        })
    }
}

/// How a card is drawn: the card parameters every card takes (`bg`, `text`, `accent`,
/// `radius`, `width`, `hide_art`, `hide_progress`, `hide_source`, `transparent`, `idle_text`,
/// `theme`). Explicit colours override the theme's.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CardStyle {
    pub theme: Theme,
    pub bg: Option<Rgb>,
    pub text: Option<Rgb>,
    pub accent: Option<Rgb>,
    /// Corner radius, 0 to [`RADIUS_MAX`].
    pub radius: u32,
    /// Card width, within [`WIDTH_RANGE`].
    pub width: u32,
    pub hide_art: bool,
    pub hide_progress: bool,
    pub hide_source: bool,
    /// No background rectangle (and no border).
    pub transparent: bool,
    /// The now-playing card's line when nothing plays (at most [`IDLE_TEXT_MAX`] characters).
    pub idle_text: Option<String>,
}

impl Default for CardStyle {
    fn default() -> Self {
        CardStyle {
            theme: Theme::default(),
            bg: None,
            text: None,
            accent: None,
            radius: RADIUS,
            width: WIDTH,
            hide_art: false,
            hide_progress: false,
            hide_source: false,
            transparent: false,
            idle_text: None,
        }
    }
}

impl From<Theme> for CardStyle {
    fn from(theme: Theme) -> Self {
        CardStyle {
            theme,
            ..CardStyle::default()
        }
    }
}

impl CardStyle {
    /// The colours to draw with: the theme's (for `art`, the cover's `art` colours, or light
    /// without them), then the explicit `bg`, `text` and `accent` over them.
    fn palette(&self, art: Option<ArtColors>) -> Palette {
        let mut p = self.theme.palette();
        if let (Theme::Art, Some(a)) = (self.theme, art) {
            p.bg = a.bg;
            p.fg = a.text;
            p.muted = a
                .text
                .mix(a.bg, 0.25)
                .readable_on(a.bg, crate::color::AA_BODY);
            p.accent = a.accent;
            p.bar = a.accent;
            p.border = a.bg.mix(a.text, 0.2);
            p.track = a.bg.mix(a.text, 0.25);
            p.placeholder_bg = a.bg.mix(a.text, 0.1);
            p.placeholder_fg = p.muted;
        }
        if let Some(bg) = self.bg {
            p.bg = bg;
        }
        if let Some(text) = self.text {
            p.fg = text;
            p.muted = text;
        }
        if self.bg.is_some() || self.text.is_some() {
            // The lines and the placeholder follow the colours given.
            p.border = p.bg.mix(p.fg, 0.2);
            p.track = p.bg.mix(p.fg, 0.25);
            p.placeholder_bg = p.bg.mix(p.fg, 0.1);
            p.placeholder_fg = p.muted;
        }
        if let Some(accent) = self.accent {
            p.accent = accent;
            p.bar = accent;
        }
        p
    }
}

/// The colours of one card.
struct Palette {
    bg: Rgb,
    border: Rgb,
    fg: Rgb,
    muted: Rgb,
    accent: Rgb,
    track: Rgb,
    bar: Rgb,
    placeholder_bg: Rgb,
    placeholder_fg: Rgb,
}

/// Writes the card's background (unless `transparent`): a rectangle with the style's radius.
fn background(out: &mut String, style: &CardStyle, p: &Palette, height: u32) {
    if style.transparent {
        return;
    }
    use std::fmt::Write as _;
    let _ = write!(
        out,
        r##"<rect class="np-bg" x="0.5" y="0.5" width="{w}" height="{h}" rx="{r}" ry="{r}" fill="{bg}" stroke="{border}"/>"##,
        w = style.width - 1,
        h = height - 1,
        r = style.radius,
        bg = p.bg,
        border = p.border,
    );
}

/// The card answered for a bad card parameter (with status `400`): a red-bordered card naming
/// the parameter, with `message` (which says what it accepts) wrapped over a few lines. Every
/// string is escaped; the message is bounded by its maker (values are cut at 60 characters).
pub fn render_error_card(parameter: &str, message: &str) -> String {
    use std::fmt::Write as _;
    const LINE: usize = 60;
    let mut lines: Vec<String> = Vec::new();
    for word in message.split_whitespace() {
        match lines.last_mut() {
            Some(l) if l.chars().count() + 1 + word.chars().count() <= LINE => {
                l.push(' ');
                l.push_str(word);
            }
            _ => lines.push(truncate(word, LINE)),
        }
    }
    lines.truncate(5);
    let height = 50 + 18 * lines.len().max(1) as u32;
    let heading = truncate(&format!("Card parameter error: {parameter}"), LINE);
    let mut out = String::with_capacity(1024);
    let _ = write!(
        out,
        r##"<svg xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="{height}" viewBox="0 0 {WIDTH} {height}" role="img" aria-labelledby="np-error-title"><title id="np-error-title">{title}</title><rect x="0.5" y="0.5" width="{w}" height="{h}" rx="12" ry="12" fill="#fff8f8" stroke="#cf222e"/><g font-family="{font}"><text x="16" y="28" font-size="14" font-weight="700" fill="#a40e26">{heading}</text>"##,
        title = escape(&truncate(message, A11Y_BUDGET)),
        w = WIDTH - 1,
        h = height - 1,
        font = escape(FONT),
        heading = escape(&heading),
    );
    for (i, line) in lines.iter().enumerate() {
        let _ = write!(
            out,
            r##"<text x="16" y="{y}" font-size="11" fill="#1f2328">{}</text>"##,
            escape(line),
            y = 50 + 18 * i as u32,
        );
    }
    out.push_str("</g></svg>");
    out
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
        assert_eq!("ART".parse::<Theme>(), Ok(Theme::Art));
        assert_eq!(Theme::ACCEPTED, &["light", "dark", "art"]);
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
