//! The SVG cards: now playing (`/api/spotify.svg`), a top list (`/api/spotify/top.svg`) and the
//! last plays (`/api/spotify/recent.svg`).

use axum::extract::{RawQuery, State};
use axum::http::{header, HeaderMap, HeaderValue};
use axum::response::Response;
use serde_json::Value;

use super::params::{self, RANGE_ACCEPTED};
use super::respond::{cache_control, cacheable_keyed, ApiError};
use super::SharedApp;
use crate::clock::Timestamp;
use crate::lists::{self, ProfileList, TopKind};
use crate::model::{NowPlaying, Source};
use crate::source::Sources;

const SVG: &str = "image/svg+xml; charset=utf-8";
/// The cards' policy, for a card opened on its own: no script, nothing loaded but the album art
/// inlined as `data:`, and inline styles.
pub const CARD_POLICY: &str = "default-src 'none'; img-src data:; style-src 'unsafe-inline'";
const TOP_SVG_LIMIT_ACCEPTED: &str = "a whole number from 1 to 10 (default 5)";
const RECENT_SVG_LIMIT_ACCEPTED: &str = "a whole number from 1 to 10 (default 5)";
const PLAYLISTS_SVG_LIMIT_ACCEPTED: &str = "a whole number from 1 to 10 (default 5)";
/// How many art fetches one list card runs at once.
const ART_FETCHES_AT_ONCE: usize = 5;

/// `GET /api/spotify.svg` with the card parameters ([`params::CARD_PARAMETERS`]): the README
/// card, from the same cached answer. A bad or unknown parameter is a `400` error card.
pub async fn now_playing(
    State(app): State<SharedApp>,
    headers: HeaderMap,
    RawQuery(query): RawQuery,
) -> Result<Response, ApiError> {
    let p = params::parse_query(query.as_deref(), params::CARD_PARAMETERS)
        .map_err(ApiError::CardParam)?;
    let style = params::card_style(&p).map_err(ApiError::CardParam)?;
    let answer = app.shown_answer().await;
    let np: Option<NowPlaying> = serde_json::from_value(answer.value).ok();
    let art = match np.as_ref().and_then(crate::svg::card_art_url) {
        Some(url) if !style.hide_art && art_allowed(&app.art_hosts, url) => {
            app.art.data_uri(url).await
        }
        _ => None,
    };
    let svg = crate::svg::render_card_with(
        np.as_ref(),
        &style,
        art.as_ref().and_then(|a| a.card_uri()),
        art.as_ref().and_then(|a| a.colors),
        answer.served_at,
    );
    // GitHub's image proxy honours these: it asks again on every view instead of keeping a copy.
    Ok(with_card_policy(cacheable_keyed(
        &headers,
        svg.into_bytes(),
        SVG,
        "no-cache, no-store, max-age=0, must-revalidate",
        &params::canonical(&p),
    )))
}

/// `GET /api/spotify/top.svg?kind=tracks|artists&range=R&limit=N` with the card parameters:
/// the top list as a card for a README. It reads the same cached list as the JSON.
pub async fn top(
    State(app): State<SharedApp>,
    headers: HeaderMap,
    RawQuery(query): RawQuery,
) -> Result<Response, ApiError> {
    app.profile
        .enabled(ProfileList::Top(TopKind::Tracks, Default::default()))
        .map_err(ApiError::NotFound)?;
    let p = params::parse_query(
        query.as_deref(),
        &params::with_card(&[
            ("kind", "tracks or artists (default tracks)"),
            ("range", RANGE_ACCEPTED),
            ("limit", TOP_SVG_LIMIT_ACCEPTED),
        ]),
    )
    .map_err(ApiError::CardParam)?;
    let kind = params::kind(&p).map_err(ApiError::CardParam)?;
    let style = params::card_style(&p).map_err(ApiError::CardParam)?;
    let range = params::range(&p).map_err(ApiError::CardParam)?;
    let limit = params::limit(&p, 10, 5, TOP_SVG_LIMIT_ACCEPTED).map_err(ApiError::CardParam)?;

    let artists = kind == TopKind::Artists;
    let heading = format!("Top {} · {}", kind.as_str(), range.describe());
    let card = ListCardRequest {
        list: ProfileList::Top(kind, range),
        heading: &heading,
        limit: limit as usize,
        art_of_artists: artists,
    };
    Ok(list_card(&app, &headers, &p, &style, card, |items, _| {
        crate::svg::rows_from_items(items, artists, limit as usize)
    })
    .await)
}

/// `GET /api/spotify/recent.svg?limit=N` with the card parameters: the last plays, each with
/// its art, title, artists and how long ago it was played (seen at the moment the list was
/// read, so one cached answer draws one card). It reads the same cached list as
/// `/api/spotify/recent`, so the same switches and privacy rules apply; `404` when it is off.
pub async fn recent(
    State(app): State<SharedApp>,
    headers: HeaderMap,
    RawQuery(query): RawQuery,
) -> Result<Response, ApiError> {
    app.profile
        .enabled(ProfileList::Recent)
        .map_err(ApiError::NotFound)?;
    let p = params::parse_query(
        query.as_deref(),
        &params::with_card(&[("limit", RECENT_SVG_LIMIT_ACCEPTED)]),
    )
    .map_err(ApiError::CardParam)?;
    let style = params::card_style(&p).map_err(ApiError::CardParam)?;
    let limit = params::limit(&p, 10, 5, RECENT_SVG_LIMIT_ACCEPTED).map_err(ApiError::CardParam)?;
    let card = ListCardRequest {
        list: ProfileList::Recent,
        heading: "Recently played",
        limit: limit as usize,
        art_of_artists: false,
    };
    Ok(
        list_card(&app, &headers, &p, &style, card, |items, served_at| {
            recent_rows(items, limit as usize, served_at)
        })
        .await,
    )
}

/// `GET /api/spotify/playlists.svg?limit=N` with the card parameters: the owner's own public
/// playlists, each with its cover, name and track count. It reads the same cached list as
/// `/api/spotify/playlists`; `404` when it is off.
pub async fn playlists(
    State(app): State<SharedApp>,
    headers: HeaderMap,
    RawQuery(query): RawQuery,
) -> Result<Response, ApiError> {
    app.profile
        .enabled(ProfileList::Playlists)
        .map_err(ApiError::NotFound)?;
    let p = params::parse_query(
        query.as_deref(),
        &params::with_card(&[("limit", PLAYLISTS_SVG_LIMIT_ACCEPTED)]),
    )
    .map_err(ApiError::CardParam)?;
    let style = params::card_style(&p).map_err(ApiError::CardParam)?;
    let limit =
        params::limit(&p, 10, 5, PLAYLISTS_SVG_LIMIT_ACCEPTED).map_err(ApiError::CardParam)?;
    let card = ListCardRequest {
        list: ProfileList::Playlists,
        heading: "Playlists",
        limit: limit as usize,
        art_of_artists: true,
    };
    Ok(list_card(&app, &headers, &p, &style, card, |items, _| {
        playlist_rows(items, limit as usize)
    })
    .await)
}

/// The playlists card's rows: the name and "N tracks".
fn playlist_rows(items: &[Value], limit: usize) -> Vec<crate::svg::ListRow> {
    items
        .iter()
        .take(limit)
        .map(|i| crate::svg::ListRow {
            title: i["name"].as_str().unwrap_or_default().to_string(),
            detail: match i["tracks"].as_u64() {
                Some(1) => "1 track".to_string(),
                Some(n) => format!("{n} tracks"),
                None => String::new(),
            },
            note: String::new(),
            art: None,
        })
        .collect()
}

/// What a list card shows: which cached list, its heading, how many rows, and whether its
/// entries' art is listed as `images`/`image` (artists, playlists) rather than `albumImages`.
struct ListCardRequest<'a> {
    list: ProfileList,
    heading: &'a str,
    limit: usize,
    art_of_artists: bool,
}

/// A list card from the cached list (the same as the JSON's, so the same switches and privacy
/// rules apply): the rows `rows_of` makes from its items (and the moment it was served), their
/// art, the list's `Cache-Control`, and an `ETag` keyed on the parameters.
async fn list_card(
    app: &SharedApp,
    headers: &HeaderMap,
    p: &std::collections::HashMap<String, String>,
    style: &crate::svg::CardStyle,
    card: ListCardRequest<'_>,
    rows_of: impl FnOnce(&[Value], Timestamp) -> Vec<crate::svg::ListRow>,
) -> Response {
    let mut answer = lists::fetch_list(
        &app.cache,
        &app.upstream,
        &app.sources,
        &app.profile,
        card.list,
        &app.privacy.rules,
    )
    .await;
    app.urls.scrub(&mut answer.value);
    let rows = match answer.value.get("items").and_then(Value::as_array) {
        Some(items) => {
            let mut rows = rows_of(items, answer.served_at);
            let urls = crate::svg::art_urls(items, card.art_of_artists, card.limit);
            let colors = fill_art(app, style, &mut rows, urls).await;
            Some((colors, rows))
        }
        None => None,
    };
    let svg = crate::svg::render_list_card(
        &crate::svg::ListCard {
            heading: card.heading,
            rows: rows.as_ref().map(|(_, r)| r.as_slice()),
            source: list_source(app, &answer.value),
            colors: rows.as_ref().and_then(|(c, _)| *c),
        },
        style,
    );
    with_card_policy(cacheable_keyed(
        headers,
        svg.into_bytes(),
        SVG,
        &cache_control(&answer),
        &params::canonical(p),
    ))
}

/// The recent card's rows: title, artists and "N min ago", seen at the moment each entry was
/// read from the source (its `timestamp`; `served_at` for an entry without one).
fn recent_rows(items: &[Value], limit: usize, served_at: Timestamp) -> Vec<crate::svg::ListRow> {
    items
        .iter()
        .take(limit)
        .map(|i| {
            let read_at = i["timestamp"]
                .as_u64()
                .map(Timestamp::from_millis)
                .unwrap_or(served_at);
            crate::svg::ListRow {
                title: i["name"].as_str().unwrap_or_default().to_string(),
                detail: i["artists"].as_str().unwrap_or_default().to_string(),
                note: i["playedAt"]
                    .as_str()
                    .and_then(Timestamp::parse_rfc3339)
                    .map(|at| crate::svg::ago(at, read_at))
                    .unwrap_or_default(),
                art: None,
            }
        })
        .collect()
}

/// Fetches each row's art (`urls`, one per row) through the art cache, a few at a time, and
/// sets it on the rows; returns the first art's colours (for `theme=art`). Nothing is fetched
/// with `hide_art`, nor from a host outside [`art_allowed`]; an art that fails leaves its row
/// without one.
async fn fill_art(
    app: &SharedApp,
    style: &crate::svg::CardStyle,
    rows: &mut [crate::svg::ListRow],
    urls: Vec<Option<String>>,
) -> Option<crate::svg::ArtColors> {
    use futures_util::StreamExt as _;
    if style.hide_art {
        return None;
    }
    let fetched: Vec<_> = futures_util::stream::iter(urls)
        .map(|url| async move {
            match url {
                Some(u) if art_allowed(&app.art_hosts, &u) => app.art.data_uri(&u).await,
                _ => None,
            }
        })
        .buffered(ART_FETCHES_AT_ONCE)
        .collect()
        .await;
    let colors = fetched.iter().flatten().find_map(|a| a.colors);
    for (row, art) in rows.iter_mut().zip(fetched) {
        row.art = art.as_ref().and_then(|a| a.row_uri()).map(str::to_string);
    }
    colors
}

/// The service a cached list was read from: its first entry's `source`, else the configured
/// first source.
fn list_source(app: &SharedApp, value: &Value) -> Source {
    value
        .pointer("/items/0/source")
        .cloned()
        .and_then(|s| serde_json::from_value::<Source>(s).ok())
        .unwrap_or(match app.sources {
            Sources::Lastfm(_) => Source::Lastfm,
            Sources::Spotify | Sources::SpotifyThenLastfm(_) => Source::Spotify,
        })
}

/// Adds [`CARD_POLICY`] to a card's answer (a `304` too, so a cache updates it).
pub(super) fn with_card_policy(mut resp: Response) -> Response {
    resp.headers_mut().insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(CARD_POLICY),
    );
    resp
}

/// Only Spotify's image CDN (and the configured API host, for emulators) is fetched.
fn art_allowed(hosts: &[String], url: &str) -> bool {
    let Ok(u) = url::Url::parse(url) else {
        return false;
    };
    let Some(host) = u.host_str() else {
        return false;
    };
    let host = match u.port() {
        Some(p) => format!("{host}:{p}"),
        None => host.to_string(),
    };
    hosts.iter().any(|h| {
        host == *h || (h.starts_with('.') && host.ends_with(h.as_str()) && !host.contains(':'))
    })
}
