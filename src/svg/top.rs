//! The top-list card (`GET /api/spotify/top.svg`): a heading such as "Top artists · last 4
//! weeks" and one numbered row per entry, text only. [`rows_from_items`] turns the cached list's
//! JSON items into its rows.

use std::fmt::Write as _;

use serde_json::Value;

use super::{background, escape, truncate, CardStyle, Theme, A11Y_BUDGET, FONT, WIDTH};
use crate::model::Source;

/// One row of the top list card: the name and a line under it (artists of a track, genres of
/// an artist; empty for none).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TopRow {
    pub name: String,
    pub detail: String,
}

/// How many genres an artist's row lists.
const GENRES_SHOWN: usize = 3;

/// The rows for the first `limit` items of a cached top list (`{"items": [...]}` in the public
/// JSON): the name, and under it the artists of a track or, with `artists`, the first genres of
/// an artist. A missing or mistyped field reads as empty.
pub fn rows_from_items(items: &[Value], artists: bool, limit: usize) -> Vec<TopRow> {
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
                            .take(GENRES_SHOWN)
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
/// The heading's budget: the now-playing card's label line (44) less room for "Spotify".
const TOP_HEADING_BUDGET: usize = 36;

/// Renders the top list card (`GET /api/spotify/top.svg`): a heading such as
/// "Top artists · last 4 weeks" and one numbered row per entry. `rows: None` (nothing to show:
/// hidden, not authorized, a scope missing) and an empty list draw a "Nothing to show yet" row.
/// Text only: nothing is fetched or referred to, and every string is escaped and truncated like
/// the now-playing card's.
pub fn render_top_card(heading: &str, rows: Option<&[TopRow]>, theme: Theme) -> String {
    render_top_card_from(heading, rows, theme, Source::Spotify)
}

/// [`render_top_card`] for a list read from `source`: the mark on the right of the heading
/// ("Spotify", "Last.fm") and the accessible title name it.
pub fn render_top_card_from(
    heading: &str,
    rows: Option<&[TopRow]>,
    theme: Theme,
    source: Source,
) -> String {
    render_top_card_with(heading, rows, &CardStyle::from(theme), source)
}

/// [`render_top_card_from`] in `style`. The card has no art, so `hide_art` and `hide_progress`
/// change nothing and `theme=art` is light; `hide_source` drops the mark; the text budgets scale
/// with `width`.
pub fn render_top_card_with(
    heading: &str,
    rows: Option<&[TopRow]>,
    style: &CardStyle,
    source: Source,
) -> String {
    let p = style.palette(None);
    let width = style.width;
    let scale = |base: usize| (base as u64 * u64::from(width) / u64::from(WIDTH)) as usize;
    let service = source.display_name();
    let rows = rows.unwrap_or_default();
    let shown = rows.len().max(1) as u32;
    let height = TOP_HEAD + shown * TOP_ROW + 6;
    let a11y = if rows.is_empty() {
        format!("{heading} on {service}: nothing to show yet")
    } else {
        let list: Vec<String> = rows
            .iter()
            .enumerate()
            .map(|(i, r)| format!("{}. {}", i + 1, r.name))
            .collect();
        format!("{heading} on {service}: {}", list.join(", "))
    };
    let mut out = String::with_capacity(2048 + rows.len() * 300);
    let _ = write!(
        out,
        r##"<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" viewBox="0 0 {width} {height}" role="img" aria-labelledby="np-top-title"><title id="np-top-title">{title}</title>"##,
        title = escape(&truncate(&a11y, A11Y_BUDGET)),
    );
    background(&mut out, style, &p, height);
    let _ = write!(out, r##"<g font-family="{}">"##, escape(FONT));
    let _ = write!(
        out,
        r##"<text x="16" y="30" font-size="15" font-weight="700" fill="{fg}">{}</text>"##,
        escape(&truncate(
            heading,
            scale(TOP_HEADING_BUDGET + if style.hide_source { 8 } else { 0 })
        )),
        fg = p.fg,
    );
    if !style.hide_source {
        let _ = write!(
            out,
            r##"<text x="{right}" y="30" font-size="12" font-weight="600" fill="{accent}" text-anchor="end" class="np-source" data-source="{source}">{service}</text>"##,
            source = source.as_str(),
            accent = p.accent,
            right = width - 16,
        );
    }
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
            name = escape(&truncate(&row.name, scale(TOP_NAME_BUDGET))),
            accent = p.accent,
            fg = p.fg,
        );
        if detail_y > 0 {
            let _ = write!(
                out,
                r##"<text x="42" y="{detail_y}" font-size="12" fill="{muted}">{}</text>"##,
                escape(&truncate(&row.detail, scale(TOP_DETAIL_BUDGET))),
                muted = p.muted,
            );
        }
    }
    out.push_str("</g></svg>");
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::svg::tests::assert_well_formed;

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
        let lastfm = render_top_card_from(
            "Top artists · last year",
            Some(&rows_from_items(
                &[serde_json::json!({"name": "A"})],
                true,
                1,
            )),
            Theme::Light,
            Source::Lastfm,
        );
        assert_well_formed(&lastfm);
        assert!(lastfm.contains(">Last.fm</text>"), "{lastfm}");
        assert!(lastfm.contains("on Last.fm: 1. A"), "{lastfm}");
        let empty = render_top_card("Top artists · last year", None, Theme::Light);
        assert_well_formed(&empty);
        assert!(empty.contains("Nothing to show yet"));
        let empty2 = render_top_card("Top artists · last year", Some(&[]), Theme::Dark);
        assert!(empty2.contains("Nothing to show yet"));
    }

    #[test]
    fn rows_from_items_reads_tracks_and_artists_and_cuts_to_the_limit() {
        let tracks = serde_json::json!([
            {"name": "One", "artists": "A, B"},
            {"name": "Two", "artists": 7},
            {"artists": "C"},
            {"name": "Four", "artists": "D"},
        ]);
        let tracks = tracks.as_array().unwrap();
        let row = |name: &str, detail: &str| TopRow {
            name: name.into(),
            detail: detail.into(),
        };
        assert_eq!(
            rows_from_items(tracks, false, 3),
            vec![row("One", "A, B"), row("Two", ""), row("", "C")]
        );
        assert_eq!(rows_from_items(tracks, false, 10).len(), 4);
        assert!(rows_from_items(tracks, false, 0).is_empty());

        let artists = serde_json::json!([
            {"name": "Band", "genres": ["rock", 1, "pop", "jazz", "folk"]},
            {"name": "Solo", "genres": []},
            {"name": "Nobody", "artists": "ignored for artists"},
        ]);
        assert_eq!(
            rows_from_items(artists.as_array().unwrap(), true, 5),
            vec![
                row("Band", "rock, pop, jazz"),
                row("Solo", ""),
                row("Nobody", "")
            ]
        );
        assert!(rows_from_items(&[], true, 5).is_empty());
    }
}
