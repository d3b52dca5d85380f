//! The list card: one renderer for every card that shows a list (`top.svg`, `recent.svg`, and
//! later a playlists card). A heading with the source mark on its right, then one row per entry:
//! an optional small art on the left (a checked `data:` URI, clipped to a rounded square), a
//! title, a detail line under it, and a short note on the right ("5 min ago", "#1",
//! "12 tracks").
//!
//! The renderer knows nothing of where the rows come from: the caller builds [`ListRow`]s (and
//! fetches their art) and passes a [`ListCard`] with the [`CardStyle`].

use std::fmt::Write as _;

use super::now_playing::is_safe_data_uri;
use super::{
    background, char_width, escape, truncate, ArtColors, CardStyle, Palette, A11Y_BUDGET, FONT,
};
use crate::clock::Timestamp;
use crate::model::{Image, Source};

/// The art's side as drawn, in pixels.
pub const LIST_ART: u32 = 40;
/// The art's side on a 2x (high-density) screen: the size worth embedding.
pub const LIST_ART_DEVICE_PX: u32 = LIST_ART * 2;
/// The most bytes of art one card embeds: rows after the budget is spent are drawn without art,
/// so a card with ten rows stays under 40 KB whatever sizes the source serves.
pub const ART_BUDGET_BYTES: usize = 30 * 1024;

// Layout (pixels).
const HEAD: u32 = 50;
/// A row's height with art, and without.
const ROW_ART: u32 = 48;
const ROW_TEXT: u32 = 40;
const PAD: u32 = 16;
/// Average advance of one narrow character, in tenths of a pixel, at the title's and the
/// detail's sizes (14 px semibold, 12 px regular).
const TITLE_CHAR: u32 = 85;
const DETAIL_CHAR: u32 = 70;
const NOTE_CHAR: u32 = 65;
/// The longest note drawn, in narrow characters.
const NOTE_BUDGET: usize = 14;
/// The heading's budget on a 400 px card, less room for the source mark.
const HEADING_BUDGET: usize = 36;

/// One row of a list card.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ListRow {
    /// The first line (a track's or artist's or playlist's name).
    pub title: String,
    /// The line under it (artists, genres, "N tracks"); empty for none.
    pub detail: String,
    /// The right-aligned note on the title's line ("5 min ago", "#1"); empty for none.
    pub note: String,
    /// The row's art as a `data:image/…;base64,…` URI; anything else is not drawn.
    pub art: Option<String>,
}

/// What a list card shows.
#[derive(Debug, Clone, Copy)]
pub struct ListCard<'a> {
    /// The heading, such as "Top tracks · last 4 weeks".
    pub heading: &'a str,
    /// The rows; `None` or empty draws the empty state (`idle_text`, else "Nothing to show yet").
    pub rows: Option<&'a [ListRow]>,
    /// The service the list was read from, for the mark and the accessible name.
    pub source: Source,
    /// The colours of the first row's art that has them (the caller's pick), for `theme=art`;
    /// light without them.
    pub colors: Option<ArtColors>,
}

/// Renders a list card in `style`. Every string is escaped and cut to a budget that scales with
/// `width`; `hide_art` draws no art and the shorter rows; `hide_source` drops the mark;
/// `transparent` drops the background; `hide_progress` changes nothing (a list has no bar).
/// Art over [`ART_BUDGET_BYTES`] in total is left out row by row.
pub fn render_list_card(card: &ListCard<'_>, style: &CardStyle) -> String {
    let p = style.palette(card.colors);
    let rows = card.rows.unwrap_or_default();
    let (arts, spent) = art_within_budget(rows, style);
    let art_shown = arts.iter().any(Option::is_some);
    let layout = RowLayout {
        row_h: if art_shown { ROW_ART } else { ROW_TEXT },
        text_x: if art_shown { PAD + LIST_ART + 12 } else { PAD },
        right: style.width - PAD,
    };
    let (width, height) = (
        style.width,
        HEAD + rows.len().max(1) as u32 * layout.row_h + 6,
    );

    let mut out = String::with_capacity(2048 + rows.len() * 400 + spent);
    let _ = write!(
        out,
        r##"<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" viewBox="0 0 {width} {height}" role="img" aria-labelledby="np-list-title"><title id="np-list-title">{title}</title>"##,
        title = escape(&truncate(&accessible_name(card), A11Y_BUDGET)),
    );
    if art_shown {
        // One clip for every row's art, in the art's own units: the card's radius scaled to
        // the art as the now-playing card's 100 px art takes 8 of its 12.
        let rx = f64::from(style.radius) * 2.0 / 3.0 / f64::from(LIST_ART);
        let _ = write!(
            out,
            r##"<defs><clipPath id="np-list-art" clipPathUnits="objectBoundingBox"><rect width="1" height="1" rx="{rx:.3}" ry="{rx:.3}"/></clipPath></defs>"##
        );
    }
    background(&mut out, style, &p, height);
    let _ = write!(out, r##"<g font-family="{}">"##, escape(FONT));
    write_heading(&mut out, card, style, &p);
    if rows.is_empty() {
        let idle = style
            .idle_text
            .as_deref()
            .filter(|t| !t.trim().is_empty())
            .unwrap_or("Nothing to show yet");
        let _ = write!(
            out,
            r##"<text x="{PAD}" y="{y}" font-size="13" fill="{muted}">{}</text>"##,
            escape(&truncate(idle, scaled(50, width))),
            y = HEAD + 20,
            muted = p.muted,
        );
    }
    for (i, (row, art)) in rows.iter().zip(&arts).enumerate() {
        write_row(
            &mut out,
            row,
            *art,
            HEAD + i as u32 * layout.row_h,
            &layout,
            &p,
        );
    }
    out.push_str("</g></svg>");
    out
}

/// Where every row's parts go: its height, the text's left edge and the right edge.
struct RowLayout {
    row_h: u32,
    text_x: u32,
    right: u32,
}

/// A text budget given for a 400 px card, scaled to `width`.
fn scaled(base: usize, width: u32) -> usize {
    (base as u64 * u64::from(width) / u64::from(super::WIDTH)) as usize
}

/// Each row's art that is drawn (a checked `data:` URI, none under `hide_art`), in order until
/// [`ART_BUDGET_BYTES`] is spent, and the bytes spent.
fn art_within_budget<'r>(rows: &'r [ListRow], style: &CardStyle) -> (Vec<Option<&'r str>>, usize) {
    let mut spent = 0usize;
    let arts = rows
        .iter()
        .map(|r| {
            let uri = r
                .art
                .as_deref()
                .filter(|u| !style.hide_art && is_safe_data_uri(u))?;
            (spent + uri.len() <= ART_BUDGET_BYTES).then(|| {
                spent += uri.len();
                uri
            })
        })
        .collect();
    (arts, spent)
}

/// The card's accessible name: the heading, the service and every row with its note.
fn accessible_name(card: &ListCard<'_>) -> String {
    let service = card.source.display_name();
    let rows = card.rows.unwrap_or_default();
    if rows.is_empty() {
        return format!("{} on {service}: nothing to show yet", card.heading);
    }
    let list: Vec<String> = rows
        .iter()
        .enumerate()
        .map(|(i, r)| match r.note.trim() {
            "" => format!("{}. {}", i + 1, r.title),
            note => format!("{}. {} ({note})", i + 1, r.title),
        })
        .collect();
    format!("{} on {service}: {}", card.heading, list.join(", "))
}

/// The heading, and the source mark on its right unless `hide_source`.
fn write_heading(out: &mut String, card: &ListCard<'_>, style: &CardStyle, p: &Palette) {
    let _ = write!(
        out,
        r##"<text x="{PAD}" y="30" font-size="15" font-weight="700" fill="{fg}">{}</text>"##,
        escape(&truncate(
            card.heading,
            scaled(
                HEADING_BUDGET + if style.hide_source { 8 } else { 0 },
                style.width
            )
        )),
        fg = p.fg,
    );
    if !style.hide_source {
        let _ = write!(
            out,
            r##"<text x="{right}" y="30" font-size="12" font-weight="600" fill="{accent}" text-anchor="end" class="np-source" data-source="{source}">{service}</text>"##,
            source = card.source.as_str(),
            service = card.source.display_name(),
            accent = p.accent,
            right = style.width - PAD,
        );
    }
}

/// One row at `top`: its art, the title cut to leave room for the note, the note, the detail.
fn write_row(
    out: &mut String,
    row: &ListRow,
    art: Option<&str>,
    top: u32,
    l: &RowLayout,
    p: &Palette,
) {
    let (row_h, text_x, right) = (l.row_h, l.text_x, l.right);
    if let Some(uri) = art {
        let _ = write!(
            out,
            r##"<image x="{PAD}" y="{y}" width="{LIST_ART}" height="{LIST_ART}" preserveAspectRatio="xMidYMid slice" clip-path="url(#np-list-art)" href="{href}"/>"##,
            y = top + (row_h - LIST_ART) / 2,
            href = escape(uri),
        );
    }
    let note = truncate(&row.note, NOTE_BUDGET);
    let note_px = if note.is_empty() {
        0
    } else {
        note.chars().map(char_width).sum::<usize>() as u32 * NOTE_CHAR / 10 + 10
    };
    let title_budget = (right.saturating_sub(text_x + note_px) * 10 / TITLE_CHAR) as usize;
    let detail_budget = (right.saturating_sub(text_x) * 10 / DETAIL_CHAR) as usize;
    let has_detail = !row.detail.trim().is_empty();
    let (title_y, detail_y) = if has_detail {
        (top + row_h / 2 - 4, top + row_h / 2 + 13)
    } else {
        (top + row_h / 2 + 5, 0)
    };
    let _ = write!(
        out,
        r##"<text x="{text_x}" y="{title_y}" font-size="14" font-weight="600" fill="{fg}">{}</text>"##,
        escape(&truncate(&row.title, title_budget)),
        fg = p.fg,
    );
    if !note.is_empty() {
        let _ = write!(
            out,
            r##"<text x="{right}" y="{title_y}" font-size="12" font-weight="600" fill="{accent}" text-anchor="end">{}</text>"##,
            escape(&note),
            accent = p.accent,
        );
    }
    if has_detail {
        let _ = write!(
            out,
            r##"<text x="{text_x}" y="{detail_y}" font-size="12" fill="{muted}">{}</text>"##,
            escape(&truncate(&row.detail, detail_budget)),
            muted = p.muted,
        );
    }
}

/// Of the images with both sizes, the one whose shorter side is closest to `px` (the larger on
/// a tie, so a row is never blurrier than it must be); `None` when no image has both sizes.
pub fn pick_closest(images: &[Image], px: u32) -> Option<&str> {
    images
        .iter()
        .filter_map(|i| match (i.width, i.height) {
            (Some(w), Some(h)) if w > 0 && h > 0 && !i.url.trim().is_empty() => {
                let side = w.min(h);
                Some((side.abs_diff(px), std::cmp::Reverse(side), i.url.as_str()))
            }
            _ => None,
        })
        .min_by_key(|(d, s, _)| (*d, *s))
        .map(|(_, _, url)| url)
}

/// How long ago `at` was, seen at `now`, in a card's few characters: "just now" under a
/// minute, then "N min ago", "N h ago", "N d ago" (rounded down). A moment after `now` (clocks
/// a little apart) is "just now".
pub fn ago(at: Timestamp, now: Timestamp) -> String {
    let secs = now.since(at).as_secs();
    match secs {
        0..=59 => "just now".to_string(),
        60..=3_599 => format!("{} min ago", secs / 60),
        3_600..=86_399 => format!("{} h ago", secs / 3_600),
        _ => format!("{} d ago", secs / 86_400),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::svg::tests::assert_well_formed;
    use crate::svg::{Rgb, Theme};

    const PNG: &str = "data:image/png;base64,iVBORw0KGgo=";

    fn row(title: &str, detail: &str, note: &str, art: Option<&str>) -> ListRow {
        ListRow {
            title: title.into(),
            detail: detail.into(),
            note: note.into(),
            art: art.map(str::to_string),
        }
    }

    fn card<'a>(rows: Option<&'a [ListRow]>) -> ListCard<'a> {
        ListCard {
            heading: "Recently played",
            rows,
            source: Source::Spotify,
            colors: None,
        }
    }

    #[test]
    fn pick_closest_takes_the_nearest_size_and_skips_unsized() {
        let img = |url: &str, w: Option<u32>, h: Option<u32>| Image {
            url: url.into(),
            width: w,
            height: h,
        };
        let spotify = [
            img("640", Some(640), Some(640)),
            img("300", Some(300), Some(300)),
            img("64", Some(64), Some(64)),
        ];
        assert_eq!(pick_closest(&spotify, 80), Some("64"));
        assert_eq!(pick_closest(&spotify, 250), Some("300"));
        let artist = [
            img("640", Some(640), Some(640)),
            img("160", Some(160), Some(160)),
            img("wide", Some(320), Some(100)),
        ];
        assert_eq!(pick_closest(&artist, 80), Some("wide"));
        let tie = [
            img("60", Some(60), Some(60)),
            img("100", Some(100), Some(100)),
        ];
        assert_eq!(pick_closest(&tie, 80), Some("100"));
        assert_eq!(pick_closest(&[img("x", None, Some(64))], 80), None);
        assert_eq!(pick_closest(&[], 80), None);
    }

    #[test]
    fn ago_words_each_unit_and_rounds_down() {
        let now = Timestamp::from_millis(1_800_000_000_000);
        let before = |s: u64| Timestamp::from_millis(now.as_millis() - s * 1000);
        assert_eq!(ago(before(0), now), "just now");
        assert_eq!(ago(before(59), now), "just now");
        assert_eq!(ago(before(60), now), "1 min ago");
        assert_eq!(ago(before(3_599), now), "59 min ago");
        assert_eq!(ago(before(3_600), now), "1 h ago");
        assert_eq!(ago(before(86_399), now), "23 h ago");
        assert_eq!(ago(before(86_400), now), "1 d ago");
        assert_eq!(ago(before(40 * 86_400), now), "40 d ago");
        assert_eq!(
            ago(Timestamp::from_millis(now.as_millis() + 30_000), now),
            "just now"
        );
    }

    #[test]
    fn rows_draw_art_title_detail_and_note_escaped() {
        let rows = vec![
            row("<b>&\"'", "A, B", "5 min ago", Some(PNG)),
            row("No art", "", "#2", None),
            row("Remote", "x", "", Some("https://evil.example/a.png")),
        ];
        let svg = render_list_card(&card(Some(&rows)), &CardStyle::default());
        assert_well_formed(&svg);
        assert_eq!(svg.matches("<image ").count(), 1, "{svg}");
        assert!(svg.contains(&format!(r#"href="{PNG}""#)));
        assert!(!svg.contains("evil.example"));
        assert!(svg.contains("&lt;b&gt;&amp;&quot;&#39;"));
        assert!(svg.contains(">5 min ago<") && svg.contains(">#2<"));
        assert!(svg.contains(r#"clip-path="url(#np-list-art)""#));
        assert!(svg.contains(&format!(r#"height="{}""#, HEAD + 3 * ROW_ART + 6)));
        assert!(svg.contains(">Spotify</text>"));
    }

    #[test]
    fn every_style_parameter_changes_what_it_names() {
        let rows = vec![row("Song", "Artist", "just now", Some(PNG))];
        let base = render_list_card(&card(Some(&rows)), &CardStyle::default());

        let no_art = render_list_card(
            &card(Some(&rows)),
            &CardStyle {
                hide_art: true,
                ..CardStyle::default()
            },
        );
        assert!(!no_art.contains("<image") && !no_art.contains("clipPath"));
        assert!(no_art.contains(&format!(r#"height="{}""#, HEAD + ROW_TEXT + 6)));

        let no_source = render_list_card(
            &card(Some(&rows)),
            &CardStyle {
                hide_source: true,
                ..CardStyle::default()
            },
        );
        assert!(!no_source.contains("np-source"));

        let clear = render_list_card(
            &card(Some(&rows)),
            &CardStyle {
                transparent: true,
                ..CardStyle::default()
            },
        );
        assert!(base.contains("np-bg") && !clear.contains("np-bg"));

        let colours = render_list_card(
            &card(Some(&rows)),
            &CardStyle {
                bg: Some(Rgb(1, 2, 3)),
                text: Some(Rgb(0xfa, 0xfb, 0xfc)),
                accent: Some(Rgb(0xaa, 0, 0xbb)),
                radius: 0,
                width: 600,
                ..CardStyle::default()
            },
        );
        assert!(colours.contains(r##"fill="#010203""##), "{colours}");
        assert!(colours.contains(r##"fill="#fafbfc""##));
        assert!(colours.contains(r##"fill="#aa00bb""##));
        assert!(colours.contains(r#"rx="0.000""#) && colours.contains(r#"width="600""#));

        let progress = render_list_card(
            &card(Some(&rows)),
            &CardStyle {
                hide_progress: true,
                ..CardStyle::default()
            },
        );
        assert_eq!(progress, base);

        let dark = render_list_card(&card(Some(&rows)), &CardStyle::from(Theme::Dark));
        assert!(dark.contains(r##"fill="#0d1117""##));
        let art = render_list_card(
            &ListCard {
                colors: Some(ArtColors {
                    bg: Rgb(0x20, 0x10, 0x40),
                    text: Rgb(0xff, 0xff, 0xff),
                    accent: Rgb(0xff, 0xcc, 0x00),
                }),
                ..card(Some(&rows))
            },
            &CardStyle::from(Theme::Art),
        );
        assert!(art.contains(r##"fill="#201040""##), "{art}");
    }

    #[test]
    fn empty_lists_show_the_idle_text_or_the_default() {
        let empty = render_list_card(&card(None), &CardStyle::default());
        assert_well_formed(&empty);
        assert!(empty.contains("Nothing to show yet"));
        let idle = render_list_card(
            &card(Some(&[])),
            &CardStyle {
                idle_text: Some("Quiet <today>".into()),
                ..CardStyle::default()
            },
        );
        assert!(idle.contains("Quiet &lt;today&gt;"), "{idle}");
    }

    #[test]
    fn budgets_scale_with_the_width_and_the_art_budget_bounds_the_size() {
        let long = "ü".repeat(300);
        let rows = vec![row(&long, &long, &long, None)];
        let narrow = render_list_card(
            &card(Some(&rows)),
            &CardStyle {
                width: 300,
                ..CardStyle::default()
            },
        );
        let wide = render_list_card(
            &card(Some(&rows)),
            &CardStyle {
                width: 600,
                ..CardStyle::default()
            },
        );
        assert!(narrow.len() < wide.len());
        for drawn in wide.split("<text").skip(1) {
            let line = &drawn[..drawn.find("</text>").unwrap()];
            assert!(line.matches('ü').count() <= 82, "{line}");
        }

        let big = format!("data:image/jpeg;base64,{}", "A".repeat(12 * 1024));
        let rows: Vec<ListRow> = (0..10)
            .map(|i| row(&format!("t{i}"), "d", "#1", Some(&big)))
            .collect();
        let svg = render_list_card(&card(Some(&rows)), &CardStyle::default());
        assert_eq!(svg.matches("<image ").count(), 2);
        assert!(svg.len() < 40 * 1024, "{}", svg.len());
    }
}
