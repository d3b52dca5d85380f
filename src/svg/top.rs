//! The top-list card (`GET /api/spotify/top.svg`): a heading such as "Top artists · last 4
//! weeks" and one row per entry with its rank, drawn by the [list card](super::list_card).
//! [`rows_from_items`] turns the cached list's JSON items into its rows and [`art_urls`] picks
//! each row's art.

use serde_json::Value;

use super::list_card::{pick_closest, render_list_card, ListCard, ListRow, LIST_ART_DEVICE_PX};
use super::{CardStyle, Theme};
use crate::model::{Image, Source};

/// How many genres an artist's row lists.
const GENRES_SHOWN: usize = 3;

/// The rows for the first `limit` items of a cached top list (`{"items": [...]}` in the public
/// JSON): the name, under it the artists of a track or, with `artists`, the first genres of an
/// artist, and the rank ("#1") as the note. A missing or mistyped field reads as empty. The
/// rows have no art yet: the caller fetches what [`art_urls`] names.
pub fn rows_from_items(items: &[Value], artists: bool, limit: usize) -> Vec<ListRow> {
    items
        .iter()
        .take(limit)
        .enumerate()
        .map(|(n, i)| ListRow {
            title: i["name"].as_str().unwrap_or_default().to_string(),
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
            note: format!("#{}", i["rank"].as_u64().unwrap_or(n as u64 + 1)),
            art: None,
        })
        .collect()
}

/// The art to fetch for each of the first `limit` items of a list (tracks, or with `artists`
/// top artists): of the sizes listed (`albumImages`, `images`), the one closest to the list
/// card's [`LIST_ART_DEVICE_PX`]; else the single `albumImage` / `image`; else none.
pub fn art_urls(items: &[Value], artists: bool, limit: usize) -> Vec<Option<String>> {
    let (sizes, single) = if artists {
        ("images", "image")
    } else {
        ("albumImages", "albumImage")
    };
    items
        .iter()
        .take(limit)
        .map(|i| {
            let images: Vec<Image> = serde_json::from_value(i[sizes].clone()).unwrap_or_default();
            pick_closest(&images, LIST_ART_DEVICE_PX)
                .map(str::to_string)
                .or_else(|| i[single].as_str().map(str::to_string))
                .filter(|u| !u.trim().is_empty())
        })
        .collect()
}

/// Renders the top list card with the default style and `theme`, read from Spotify.
/// `rows: None` (nothing to show: hidden, not authorized, a scope missing) and an empty list
/// draw the empty state.
pub fn render_top_card(heading: &str, rows: Option<&[ListRow]>, theme: Theme) -> String {
    render_top_card_from(heading, rows, theme, Source::Spotify)
}

/// [`render_top_card`] for a list read from `source`: the mark on the right of the heading
/// ("Spotify", "Last.fm") and the accessible title name it.
pub fn render_top_card_from(
    heading: &str,
    rows: Option<&[ListRow]>,
    theme: Theme,
    source: Source,
) -> String {
    render_list_card(
        &ListCard {
            heading,
            rows,
            source,
            colors: None,
        },
        &CardStyle::from(theme),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::svg::tests::assert_well_formed;

    #[test]
    fn top_card_escapes_truncates_and_sizes_to_the_rows() {
        let rows = vec![
            ListRow {
                title: "<script>alert(1)</script> & \"co\"".into(),
                detail: "x".repeat(300),
                note: "#1".into(),
                art: None,
            },
            ListRow {
                title: "أغنية 🎶".into(),
                note: "#2".into(),
                ..ListRow::default()
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
            assert!(!svg.contains(&"x".repeat(60)), "detail truncated");
            assert!(svg.contains("أغنية 🎶"));
            assert!(svg.contains(r#"height="136""#), "{svg}");
            assert!(svg.contains(">#1<") && svg.contains(">#2<"));
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
        let row = |name: &str, detail: &str| (name.to_string(), detail.to_string());
        let strip = |rows: Vec<ListRow>| -> Vec<(String, String)> {
            rows.into_iter().map(|r| (r.title, r.detail)).collect()
        };
        assert_eq!(
            strip(rows_from_items(tracks, false, 3)),
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
            strip(rows_from_items(artists.as_array().unwrap(), true, 5)),
            vec![
                row("Band", "rock, pop, jazz"),
                row("Solo", ""),
                row("Nobody", "")
            ]
        );
        assert!(rows_from_items(&[], true, 5).is_empty());
    }
}
