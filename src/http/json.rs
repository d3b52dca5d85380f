//! The JSON answers: `/api/spotify` and the profile lists.

use axum::extract::{Path, RawQuery, State};
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response};

use super::params::{self, LIMIT_ACCEPTED, RANGE_ACCEPTED};
use super::respond::{json_answer, ApiError};
use super::{AppState, SharedApp};
use crate::lists::{self, ProfileList, TopKind};

/// `GET /api/spotify`.
pub async fn now_playing(State(app): State<SharedApp>, headers: HeaderMap) -> Response {
    let answer = app.shown_answer().await;
    json_answer(&headers, &answer)
}

/// `GET /api/spotify/open`: `302` to the link of what `/api/spotify` shows (the track or episode
/// playing or paused, else the last played one when `SHOW_RECENT` is on), else to
/// `OPEN_FALLBACK_URL`, else `404`. Never cached: the target changes with every song. The same
/// answer as `/api/spotify` (its cache, its privacy switch), so it reveals nothing the page
/// does not show.
pub async fn open(State(app): State<SharedApp>) -> Response {
    let answer = app.shown_answer().await;
    let song = answer
        .value
        .get("songUrl")
        .and_then(serde_json::Value::as_str)
        .map(str::to_string);
    match song.or_else(|| app.open_fallback_url.clone()) {
        Some(to) => redirect_no_store(&to),
        None => ApiError::NotFound(
            "nothing to open: nothing plays or was played that has a link, and OPEN_FALLBACK_URL is not set"
                .into(),
        )
        .into_response(),
    }
}

/// `302 Found` to `to`, never stored by a browser or a CDN.
fn redirect_no_store(to: &str) -> Response {
    use axum::http::{header, HeaderValue, StatusCode};
    match HeaderValue::from_str(to) {
        Ok(location) => {
            let mut r = StatusCode::FOUND.into_response();
            r.headers_mut().insert(header::LOCATION, location);
            r.headers_mut()
                .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
            r
        }
        Err(_) => {
            ApiError::NotFound("the song's link cannot be sent as a header".into()).into_response()
        }
    }
}

/// `GET /api/spotify/recent?limit=N`: the history, repeats folded.
pub async fn recent(
    State(app): State<SharedApp>,
    headers: HeaderMap,
    RawQuery(query): RawQuery,
) -> Result<Response, ApiError> {
    limit_only_list(&app, &headers, query.as_deref(), ProfileList::Recent).await
}

/// `GET /api/spotify/saved?limit=N`: the most recently saved tracks.
pub async fn saved(
    State(app): State<SharedApp>,
    headers: HeaderMap,
    RawQuery(query): RawQuery,
) -> Result<Response, ApiError> {
    limit_only_list(&app, &headers, query.as_deref(), ProfileList::Saved).await
}

/// `GET /api/spotify/playlists?limit=N`: the owner's own public playlists.
pub async fn playlists(
    State(app): State<SharedApp>,
    headers: HeaderMap,
    RawQuery(query): RawQuery,
) -> Result<Response, ApiError> {
    limit_only_list(&app, &headers, query.as_deref(), ProfileList::Playlists).await
}

/// `GET /api/spotify/top/{tracks,artists}?range=R&limit=N`.
pub async fn top(
    State(app): State<SharedApp>,
    Path(kind): Path<String>,
    headers: HeaderMap,
    RawQuery(query): RawQuery,
) -> Result<Response, ApiError> {
    let Ok(kind) = kind.parse::<TopKind>() else {
        let shown: String = kind.chars().take(60).collect();
        return Err(ApiError::NotFound(format!(
            "no such top list: {shown:?}; try /api/spotify/top/tracks or /api/spotify/top/artists"
        )));
    };
    app.profile
        .enabled(ProfileList::Top(kind, Default::default()))
        .map_err(ApiError::NotFound)?;
    let p = params::parse_query(
        query.as_deref(),
        &[("limit", LIMIT_ACCEPTED), ("range", RANGE_ACCEPTED)],
    )?;
    let range = params::range(&p)?;
    let limit = params::limit(&p, 50, lists::DEFAULT_LIMIT, LIMIT_ACCEPTED)?;
    Ok(list_answer(&app, &headers, ProfileList::Top(kind, range), limit).await)
}

/// A list whose only parameter is `limit`.
async fn limit_only_list(
    app: &AppState,
    headers: &HeaderMap,
    query: Option<&str>,
    list: ProfileList,
) -> Result<Response, ApiError> {
    app.profile.enabled(list).map_err(ApiError::NotFound)?;
    let p = params::parse_query(query, &[("limit", LIMIT_ACCEPTED)])?;
    let limit = params::limit(&p, 50, lists::DEFAULT_LIMIT, LIMIT_ACCEPTED)?;
    Ok(list_answer(app, headers, list, limit).await)
}

/// One profile list, cut to `limit`, with the list's own window in `Cache-Control`.
async fn list_answer(
    app: &AppState,
    headers: &HeaderMap,
    list: ProfileList,
    limit: u8,
) -> Response {
    let answer = lists::fetch_list(
        &app.cache,
        &app.upstream,
        &app.sources,
        &app.profile,
        list,
        &app.privacy.rules,
    )
    .await;
    let mut body = lists::cut(&answer, limit);
    app.urls.scrub(&mut body);
    json_answer(headers, &answer.with_value(body))
}
