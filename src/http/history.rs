//! The listening history's endpoints: `/api/spotify/history` (plays, newest first, in pages),
//! `/api/spotify/history/stats` and the calendar card `/api/spotify/history.svg`. The default
//! views go through the answer cache like a list; a view with parameters is read from the
//! store, bounded in days and plays (docs/architecture.md, "The history's endpoints").

use std::num::NonZeroUsize;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::{RawQuery, State};
use axum::http::HeaderMap;
use axum::response::Response;
use serde_json::{json, Value};

use super::history_params::{
    self as hp, DayRange, CURSOR_ACCEPTED, FROM_ACCEPTED, HISTORY_LIMIT_ACCEPTED, TO_ACCEPTED,
};
use super::params;
use super::respond::{cache_control, cacheable_keyed, json_answer, ApiError};
use super::{AppState, SharedApp};
use crate::cache::Answer;
use crate::error::Error;
use crate::history::stats::{self, day_key, day_of, rfc3339_millis};
use crate::history::{Cursor, HistoryStore, Play};
use crate::keys;

/// The most plays a page holds.
pub const PAGE_MAX: u8 = 200;
/// A page's default size, and the size of the cached first page.
pub const PAGE_DEFAULT: u8 = 50;
/// The cache window of the first page (and the `max-age` of every page).
pub const PAGE_WINDOW: Duration = Duration::from_secs(60);
/// The cache window of the default statistics and the calendar (and the `max-age` of every
/// statistics answer).
pub const STATS_WINDOW: Duration = Duration::from_secs(300);
/// The most plays the cached default statistics read (about 10 MB, 2,500 read units on
/// DynamoDB, once a window for the whole deployment).
pub const STATS_MAX_PLAYS_CACHED: usize = 20_000;
/// The most plays statistics with parameters read (about 2.5 MB, 610 read units): what a
/// request with a made-up range can cost.
pub const STATS_MAX_PLAYS_ASKED: usize = 5_000;
/// Plays read per store call while counting.
const READ_BATCH: usize = 1_000;
/// The `max-age` of a `null` (hidden, or the store failed with no good answer left), so that
/// browsers and the CDN ask again soon.
const FAILURE_WINDOW: Duration = Duration::from_secs(5);

/// The store, or the `404` of a list turned off.
fn store(app: &AppState) -> Result<Arc<dyn HistoryStore>, ApiError> {
    app.profile.history_enabled().map_err(ApiError::NotFound)?;
    app.history.clone().ok_or_else(|| {
        ApiError::NotFound(
            "the listening history is turned off: this process has no history store".into(),
        )
    })
}

/// Today, in UTC, on the app's clock.
fn today(app: &AppState) -> time::Date {
    day_of(app.upstream.now())
}

/// A play as the history answers it.
pub fn item(play: &Play) -> Value {
    let mut o = json!({
        "playedAt": rfc3339_millis(play.played_at),
        "name": play.name,
        "artists": play.artists,
        "album": play.album,
        "albumImage": play.album_image,
        "songUrl": play.song_url,
        "trackId": play.track_id,
        "type": play.kind.as_str(),
        "source": play.source.as_str(),
    });
    if let Some(ms) = play.ms_played {
        o["msPlayed"] = json!(u64::try_from(ms.as_millis()).unwrap_or(u64::MAX));
    }
    o
}

/// An answer made here (not by the cache): fresh for `window` from now.
fn made(app: &AppState, value: Value, window: Duration) -> Answer {
    let now = app.upstream.now();
    Answer {
        value,
        stale: false,
        fresh_until: now + window,
        served_at: now,
        window,
    }
}

/// `null` for a store that failed: logged, and kept briefly.
fn failed(app: &AppState, what: &str, e: &dyn std::fmt::Display) -> Answer {
    // Not a cached answer: the next request asks the store again.
    tracing::warn!(error = %e, view = what, "the listening history could not be read: answering null");
    made(app, Value::Null, FAILURE_WINDOW)
}

/// `GET /api/spotify/history?from=&to=&limit=&cursor=`.
pub async fn page(
    State(app): State<SharedApp>,
    headers: HeaderMap,
    RawQuery(query): RawQuery,
) -> Result<Response, ApiError> {
    let store = store(&app)?;
    let p = params::parse_query(
        query.as_deref(),
        &[
            ("from", FROM_ACCEPTED),
            ("to", TO_ACCEPTED),
            ("limit", HISTORY_LIMIT_ACCEPTED),
            ("cursor", CURSOR_ACCEPTED),
        ],
    )?;
    let range = hp::day_range(&p, today(&app))?;
    let limit = params::limit(&p, PAGE_MAX, PAGE_DEFAULT, HISTORY_LIMIT_ACCEPTED)?;
    let cursor = hp::cursor(&p)?;
    let default_view = !p.contains_key("from")
        && !p.contains_key("to")
        && cursor.is_none()
        && limit <= PAGE_DEFAULT;
    let answer = if default_view {
        let cached = app
            .cache
            .get_or_fetch_with_fallback(
                keys::HISTORY_KEY,
                PAGE_WINDOW,
                || read_page(store.clone(), range, PAGE_DEFAULT, None),
                || read_page(store.clone(), range, PAGE_DEFAULT, None),
            )
            .await;
        let body = cut_page(&cached, limit);
        cached.with_value(body)
    } else if app.cache.hidden_now().await {
        made(&app, Value::Null, PAGE_WINDOW)
    } else {
        match read_page(store, range, limit, cursor).await {
            Ok(v) => {
                let body = cut_page(&made(&app, v, PAGE_WINDOW), limit);
                made(&app, body, PAGE_WINDOW)
            }
            Err(e) => failed(&app, "page", &e),
        }
    };
    let mut answer = answer;
    app.urls.scrub(&mut answer.value);
    Ok(json_answer(&headers, &briefly_if_null(answer)))
}

/// One page from the store, with each play's cursor (for cutting the page shorter).
async fn read_page(
    store: Arc<dyn HistoryStore>,
    range: DayRange,
    limit: u8,
    cursor: Option<Cursor>,
) -> Result<Value, Error> {
    let limit = NonZeroUsize::new(usize::from(limit)).unwrap_or(NonZeroUsize::MIN);
    let page = store
        .range(range.from(), range.to(), limit, cursor.as_ref())
        .await?;
    let items: Vec<Value> = page.plays.iter().map(item).collect();
    let cursors: Vec<String> = page
        .plays
        .iter()
        .map(|p| Cursor::after(p).to_string())
        .collect();
    Ok(json!({
        "items": items,
        "cursors": cursors,
        "next": page.next.map(|c| c.to_string()),
    }))
}

/// The answer for a request: the page cut to `limit` (its `next` then the last play shown),
/// without the cursors of the plays, with `stale`.
fn cut_page(page: &Answer, limit: u8) -> Value {
    let Value::Object(map) = &page.value else {
        return Value::Null;
    };
    let items = map.get("items").and_then(Value::as_array);
    let cursors = map.get("cursors").and_then(Value::as_array);
    let (Some(items), Some(cursors)) = (items, cursors) else {
        return Value::Null;
    };
    let n = usize::from(limit).min(items.len());
    let next = if n < items.len() {
        cursors
            .get(n.wrapping_sub(1))
            .cloned()
            .unwrap_or(Value::Null)
    } else {
        map.get("next").cloned().unwrap_or(Value::Null)
    };
    json!({ "items": items[..n], "next": next, "stale": page.stale })
}

/// `GET /api/spotify/history/stats?from=&to=`.
pub async fn stats(
    State(app): State<SharedApp>,
    headers: HeaderMap,
    RawQuery(query): RawQuery,
) -> Result<Response, ApiError> {
    let store = store(&app)?;
    let p = params::parse_query(
        query.as_deref(),
        &[("from", FROM_ACCEPTED), ("to", TO_ACCEPTED)],
    )?;
    let range = hp::day_range(&p, today(&app))?;
    let mut answer = if p.is_empty() {
        default_stats(&app, store).await
    } else if app.cache.hidden_now().await {
        made(&app, Value::Null, STATS_WINDOW)
    } else {
        match read_stats(store, range, STATS_MAX_PLAYS_ASKED).await {
            Ok(v) => made(&app, v, STATS_WINDOW),
            Err(e) => failed(&app, "stats", &e),
        }
    };
    if let Value::Object(o) = &mut answer.value {
        o.insert("stale".into(), Value::Bool(answer.stale));
    }
    app.urls.scrub(&mut answer.value);
    Ok(json_answer(&headers, &briefly_if_null(answer)))
}

/// A `null` is kept by browsers and the CDN for [`FAILURE_WINDOW`] at most, whatever the
/// cache's window: it may stand for a store that failed (the cache then serves it for its own
/// window, and a stale good answer before that).
fn briefly_if_null(answer: Answer) -> Answer {
    if !answer.value.is_null() {
        return answer;
    }
    let fresh_until = answer.fresh_until.min(answer.served_at + FAILURE_WINDOW);
    Answer {
        fresh_until,
        window: answer.window.min(FAILURE_WINDOW),
        ..answer
    }
}

/// The statistics of the default range (the last 365 days), cached.
pub async fn default_stats(app: &AppState, store: Arc<dyn HistoryStore>) -> Answer {
    let range = DayRange::ending(today(app));
    app.cache
        .get_or_fetch_with_fallback(
            keys::HISTORY_STATS_KEY,
            STATS_WINDOW,
            || read_stats(store.clone(), range, STATS_MAX_PLAYS_CACHED),
            || read_stats(store.clone(), range, STATS_MAX_PLAYS_CACHED),
        )
        .await
}

/// The statistics of `range` from at most `cap` plays (the newest; `complete` says whether
/// they were all).
async fn read_stats(
    store: Arc<dyn HistoryStore>,
    range: DayRange,
    cap: usize,
) -> Result<Value, Error> {
    let mut plays: Vec<Play> = Vec::new();
    let mut cursor: Option<Cursor> = None;
    let complete = loop {
        let Some(want) = NonZeroUsize::new(cap.saturating_sub(plays.len()).min(READ_BATCH)) else {
            break false;
        };
        let page = store
            .range(range.from(), range.to(), want, cursor.as_ref())
            .await?;
        plays.extend(page.plays);
        match page.next {
            None => break true,
            next => cursor = next,
        }
    };
    let mut v = serde_json::to_value(stats::compute(&plays)).expect("stats serialise");
    v["from"] = json!(day_key(range.first));
    v["to"] = json!(day_key(range.last));
    v["complete"] = json!(complete);
    Ok(v)
}

/// `GET /api/spotify/history.svg?theme=light|dark` (and `bg`, `text`, `accent`, `radius`,
/// `transparent`): the listening calendar of the default range, from the cached statistics.
pub async fn calendar(
    State(app): State<SharedApp>,
    headers: HeaderMap,
    RawQuery(query): RawQuery,
) -> Result<Response, ApiError> {
    let store = store(&app)?;
    let p =
        params::parse_query(query.as_deref(), CALENDAR_PARAMETERS).map_err(ApiError::CardParam)?;
    if let Some(v) = p
        .get("theme")
        .filter(|v| !matches!(v.as_str(), "light" | "dark"))
    {
        return Err(ApiError::CardParam(params::bad_value(
            "theme",
            v,
            CALENDAR_THEME_ACCEPTED,
        )));
    }
    let style = params::card_style(&p).map_err(ApiError::CardParam)?;
    let answer = briefly_if_null(default_stats(&app, store).await);
    let range = DayRange::ending(today(&app));
    let stats = (!answer.value.is_null()).then_some(&answer.value);
    let svg = crate::svg::calendar::render(stats, range.days(), &style);
    Ok(super::cards::with_card_policy(cacheable_keyed(
        &headers,
        svg.into_bytes(),
        "image/svg+xml; charset=utf-8",
        &cache_control(&answer),
        &params::canonical(&p),
    )))
}

const CALENDAR_THEME_ACCEPTED: &str = "light or dark (default light)";

/// The calendar card's parameters: those of the card parameters that apply to it.
const CALENDAR_PARAMETERS: &[(&str, &str)] = &[
    ("theme", CALENDAR_THEME_ACCEPTED),
    ("bg", crate::color::HEX_ACCEPTED),
    ("text", crate::color::HEX_ACCEPTED),
    ("accent", crate::color::HEX_ACCEPTED),
    ("radius", "a whole number from 0 to 30 (default 12)"),
    ("transparent", "true, false, 1 or 0 (default false)"),
];
