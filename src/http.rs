//! The whole HTTP surface: one axum Router, served by `lambda_http::run` on Lambda and by
//! `axum::serve` locally. No handler knows which door a request came through.

use std::sync::Arc;

use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{header, HeaderMap, HeaderValue, Method, StatusCode};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use serde_json::{json, Value};
use sha2::Digest;

use crate::art::ArtCache;
use crate::assets::{INDEX_HTML, WIDGET_JS};
use crate::config::AllowedOrigins;
use crate::model::NowPlaying;
use crate::nowplaying::{Cached, NowPlayingService};
use crate::profile::{self, List, ParamError, ProfileSettings, TopKind};
use crate::svg::Theme;

/// Everything the handlers share; built once per process.
pub struct AppState {
    pub service: Arc<NowPlayingService>,
    pub allowed_origins: AllowedOrigins,
    /// Album art for the SVG card, fetched server side.
    pub art: ArtCache,
    /// Hosts album art may be fetched from (Spotify's image CDN, plus the configured API host
    /// for emulators and the demo).
    pub art_hosts: Vec<String>,
    /// The listening profile endpoints: which are on, and their cache windows.
    pub profile: ProfileSettings,
}

/// The largest album image the SVG card will inline.
pub const ART_MAX_BYTES: usize = 256 * 1024;

pub type SharedApp = Arc<AppState>;

const ALLOW: &str = "GET, HEAD, OPTIONS";
/// How long a browser or CDN may keep serving an old answer while Spotify or we fail.
const STALE_IF_ERROR_S: u64 = 300;

/// The Router for both front doors.
pub fn router(app: SharedApp) -> Router {
    Router::new()
        .route(
            "/api/spotify",
            get(now_playing)
                .options(preflight)
                .fallback(method_not_allowed),
        )
        .route(
            "/api/spotify.svg",
            get(card).options(preflight).fallback(method_not_allowed),
        )
        .route(
            "/api/spotify/recent",
            get(recent).options(preflight).fallback(method_not_allowed),
        )
        .route(
            "/api/spotify/top/{kind}",
            get(top).options(preflight).fallback(method_not_allowed),
        )
        .route(
            "/api/spotify/top.svg",
            get(top_card)
                .options(preflight)
                .fallback(method_not_allowed),
        )
        .route(
            "/api/spotify/saved",
            get(saved).options(preflight).fallback(method_not_allowed),
        )
        .route("/widget.js", get(widget).fallback(method_not_allowed))
        .route("/", get(index).fallback(method_not_allowed))
        .fallback(not_found)
        .layer(middleware::from_fn_with_state(app.clone(), cors))
        .with_state(app)
}

async fn now_playing(State(app): State<SharedApp>, headers: HeaderMap) -> Response {
    let answer = app.service.now_playing().await;
    let ttl_s = app.service.settings().ttl_ms.div_ceil(1000);
    let now = app.service.clock().now_ms();
    json_answer(&headers, &answer, now, ttl_s)
}

type Query = axum::extract::RawQuery;

/// `GET /api/spotify/recent?limit=N`: the history, repeats folded.
async fn recent(
    State(app): State<SharedApp>,
    headers: HeaderMap,
    axum::extract::RawQuery(query): Query,
) -> Response {
    limit_only_list(&app, &headers, query.as_deref(), List::Recent).await
}

/// `GET /api/spotify/top/{tracks,artists}?range=R&limit=N`.
async fn top(
    State(app): State<SharedApp>,
    axum::extract::Path(kind): axum::extract::Path<String>,
    headers: HeaderMap,
    axum::extract::RawQuery(query): Query,
) -> Response {
    let Ok(kind) = kind.parse::<TopKind>() else {
        let shown: String = kind.chars().take(60).collect();
        return error_json(
            StatusCode::NOT_FOUND,
            &format!(
                "no such top list: {shown:?}; try /api/spotify/top/tracks or /api/spotify/top/artists"
            ),
        );
    };
    if let Err(reason) = app.profile.enabled(List::Top(kind, Default::default())) {
        return error_json(StatusCode::NOT_FOUND, &reason);
    }
    let parsed = profile::parse_query(
        query.as_deref(),
        &[
            ("limit", profile::LIMIT_ACCEPTED),
            ("range", profile::RANGE_ACCEPTED),
        ],
    )
    .and_then(|p| {
        Ok((
            profile::range(&p)?,
            profile::limit(&p, 50, profile::DEFAULT_LIMIT, profile::LIMIT_ACCEPTED)?,
        ))
    });
    match parsed {
        Ok((range, limit)) => list_answer(&app, &headers, List::Top(kind, range), limit).await,
        Err(e) => bad_request(&e),
    }
}

/// `GET /api/spotify/saved?limit=N`: the most recently saved tracks.
async fn saved(
    State(app): State<SharedApp>,
    headers: HeaderMap,
    axum::extract::RawQuery(query): Query,
) -> Response {
    limit_only_list(&app, &headers, query.as_deref(), List::Saved).await
}

/// A list whose only parameter is `limit`.
async fn limit_only_list(
    app: &AppState,
    headers: &HeaderMap,
    query: Option<&str>,
    list: List,
) -> Response {
    if let Err(reason) = app.profile.enabled(list) {
        return error_json(StatusCode::NOT_FOUND, &reason);
    }
    let limit = profile::parse_query(query, &[("limit", profile::LIMIT_ACCEPTED)])
        .and_then(|p| profile::limit(&p, 50, profile::DEFAULT_LIMIT, profile::LIMIT_ACCEPTED));
    match limit {
        Ok(limit) => list_answer(app, headers, list, limit).await,
        Err(e) => bad_request(&e),
    }
}

/// One profile list, cut to `limit`, with the list's own cache window in `Cache-Control`.
async fn list_answer(app: &AppState, headers: &HeaderMap, list: List, limit: u8) -> Response {
    let answer = profile::fetch_list(&app.service, &app.profile, list).await;
    let ttl_s = app.profile.ttl_ms(list).div_ceil(1000);
    let now = app.service.clock().now_ms();
    let body = Cached {
        value: profile::cut(&answer, limit),
        ..answer
    };
    json_answer(headers, &body, now, ttl_s)
}

const TOP_SVG_LIMIT_ACCEPTED: &str = "a whole number from 1 to 10 (default 5)";

/// `GET /api/spotify/top.svg?kind=tracks|artists&theme=light|dark&range=R&limit=N`: the top list
/// as a card for a README. It reads the same cached list as the JSON.
async fn top_card(
    State(app): State<SharedApp>,
    headers: HeaderMap,
    axum::extract::RawQuery(query): Query,
) -> Response {
    if let Err(reason) = app
        .profile
        .enabled(List::Top(TopKind::Tracks, Default::default()))
    {
        return error_json(StatusCode::NOT_FOUND, &reason);
    }
    let theme_accepted = "light or dark (default light)";
    let parsed = profile::parse_query(
        query.as_deref(),
        &[
            ("kind", "tracks or artists (default tracks)"),
            ("theme", theme_accepted),
            ("range", profile::RANGE_ACCEPTED),
            ("limit", TOP_SVG_LIMIT_ACCEPTED),
        ],
    )
    .and_then(|p| {
        let kind = match p.get("kind") {
            None => TopKind::Tracks,
            Some(v) => v
                .parse::<TopKind>()
                .map_err(|_| profile::bad_value("kind", v, TopKind::ACCEPTED))?,
        };
        let theme = match p.get("theme") {
            None => Theme::default(),
            Some(v) => v
                .parse::<Theme>()
                .map_err(|_| profile::bad_value("theme", v, theme_accepted))?,
        };
        Ok((
            kind,
            theme,
            profile::range(&p)?,
            profile::limit(&p, 10, 5, TOP_SVG_LIMIT_ACCEPTED)?,
        ))
    });
    let (kind, theme, range, limit) = match parsed {
        Ok(v) => v,
        Err(e) => return bad_request(&e),
    };
    let list = List::Top(kind, range);
    let answer = profile::fetch_list(&app.service, &app.profile, list).await;
    let artists = kind == TopKind::Artists;
    let items = answer.value.get("items").and_then(Value::as_array);
    let rows = items.map(|i| crate::svg::rows_from_items(i, artists, limit.into()));
    let heading = format!("Top {} · {}", kind.as_str(), range.describe());
    let svg = crate::svg::render_top_card(&heading, rows.as_deref(), theme);
    let ttl_s = app.profile.ttl_ms(list).div_ceil(1000);
    let now = app.service.clock().now_ms();
    cacheable(
        &headers,
        svg.into_bytes(),
        "image/svg+xml; charset=utf-8",
        &cache_control(&answer, now, ttl_s),
    )
}

/// A `400` naming the parameter and what it accepts.
fn bad_request(e: &ParamError) -> Response {
    let mut resp = (StatusCode::BAD_REQUEST, axum::Json(e.to_json())).into_response();
    resp.headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    resp
}

/// `GET /api/spotify.svg?theme=light|dark`: the README card, from the same cached answer.
async fn card(
    State(app): State<SharedApp>,
    headers: HeaderMap,
    axum::extract::RawQuery(query): axum::extract::RawQuery,
) -> Response {
    let mut theme = Theme::default();
    for (k, v) in url::form_urlencoded::parse(query.unwrap_or_default().as_bytes()) {
        if k == "theme" {
            match v.parse::<Theme>() {
                Ok(t) => theme = t,
                Err(message) => return error_json(StatusCode::BAD_REQUEST, &message),
            }
        }
    }
    let answer = app.service.now_playing().await;
    let np: Option<NowPlaying> = serde_json::from_value(answer.value).ok();
    let art = match np.as_ref().and_then(|n| n.album_image.as_deref()) {
        Some(url) if art_allowed(&app.art_hosts, url) => app.art.data_uri(url).await,
        _ => None,
    };
    let now = app.service.clock().now_ms();
    let svg = crate::svg::render_card(np.as_ref(), theme, art.as_deref(), now);
    // GitHub's image proxy honours these: it asks again on every view instead of keeping a copy.
    cacheable(
        &headers,
        svg.into_bytes(),
        "image/svg+xml; charset=utf-8",
        "no-cache, no-store, max-age=0, must-revalidate",
    )
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

/// `GET /widget.js`: the web component.
async fn widget(headers: HeaderMap) -> Response {
    cacheable(
        &headers,
        WIDGET_JS.as_bytes().to_vec(),
        "text/javascript; charset=utf-8",
        "public, max-age=3600",
    )
}

/// `GET /`: the preview page.
async fn index(headers: HeaderMap) -> Response {
    cacheable(
        &headers,
        INDEX_HTML.as_bytes().to_vec(),
        "text/html; charset=utf-8",
        "public, max-age=300",
    )
}

/// A cacheable JSON answer: `Cache-Control` matched to what is left of the window, an `ETag`
/// over the body, and `304` when the client already has it.
pub fn json_answer(headers: &HeaderMap, answer: &Cached, now_ms: u64, ttl_s: u64) -> Response {
    let body = serde_json::to_vec(&answer.value).expect("JSON value serialises");
    cacheable(
        headers,
        body,
        "application/json",
        &cache_control(answer, now_ms, ttl_s),
    )
}

/// `Cache-Control` for an answer of a window of `ttl_s`: what is left of the window, then
/// `stale-while-revalidate` for one window and `stale-if-error`.
pub fn cache_control(answer: &Cached, now_ms: u64, ttl_s: u64) -> String {
    let max_age = answer
        .fresh_until_ms
        .saturating_sub(now_ms)
        .div_ceil(1000)
        .min(ttl_s);
    format!(
        "public, max-age={max_age}, s-maxage={max_age}, stale-while-revalidate={ttl_s}, stale-if-error={STALE_IF_ERROR_S}"
    )
}

/// A `200` with `ETag` and `Cache-Control`, or a `304` when `If-None-Match` matches.
pub fn cacheable(
    headers: &HeaderMap,
    body: Vec<u8>,
    content_type: &'static str,
    cache_control: &str,
) -> Response {
    let digest = sha2::Sha256::digest(&body);
    let etag = format!(
        "\"{}\"",
        digest
            .iter()
            .take(12)
            .map(|b| format!("{b:02x}"))
            .collect::<String>()
    );
    let cache_control = HeaderValue::from_str(cache_control).expect("ASCII header");
    let etag_value = HeaderValue::from_str(&etag).expect("ASCII header");
    if if_none_match(headers, &etag) {
        return (
            StatusCode::NOT_MODIFIED,
            [
                (header::ETAG, etag_value),
                (header::CACHE_CONTROL, cache_control),
            ],
        )
            .into_response();
    }
    (
        StatusCode::OK,
        [
            (header::CONTENT_TYPE, HeaderValue::from_static(content_type)),
            (header::ETAG, etag_value),
            (header::CACHE_CONTROL, cache_control),
        ],
        body,
    )
        .into_response()
}

/// `If-None-Match` holds `*` or a list of (possibly weak) tags; any match counts.
fn if_none_match(headers: &HeaderMap, etag: &str) -> bool {
    headers
        .get_all(header::IF_NONE_MATCH)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(|t| t.trim().trim_start_matches("W/"))
        .any(|t| t == "*" || t == etag)
}

async fn preflight(State(app): State<SharedApp>, headers: HeaderMap) -> Response {
    let mut resp = StatusCode::NO_CONTENT.into_response();
    let h = resp.headers_mut();
    h.insert(header::ALLOW, HeaderValue::from_static(ALLOW));
    if app
        .allowed_origins
        .allow(headers.get(header::ORIGIN).and_then(|v| v.to_str().ok()))
        .is_some()
    {
        h.insert(
            header::ACCESS_CONTROL_ALLOW_METHODS,
            HeaderValue::from_static(ALLOW),
        );
        let requested = headers
            .get(header::ACCESS_CONTROL_REQUEST_HEADERS)
            .cloned()
            .unwrap_or_else(|| HeaderValue::from_static("if-none-match"));
        h.insert(header::ACCESS_CONTROL_ALLOW_HEADERS, requested);
        h.insert(
            header::ACCESS_CONTROL_MAX_AGE,
            HeaderValue::from_static("86400"),
        );
    }
    resp
}

async fn method_not_allowed(method: Method) -> Response {
    let mut resp = error_json(
        StatusCode::METHOD_NOT_ALLOWED,
        &format!("method {method} is not allowed here; use GET, HEAD or OPTIONS"),
    );
    resp.headers_mut()
        .insert(header::ALLOW, HeaderValue::from_static(ALLOW));
    resp
}

async fn not_found(req: Request) -> Response {
    let path: String = req.uri().path().chars().take(200).collect();
    error_json(
        StatusCode::NOT_FOUND,
        &format!("no such endpoint: {path}; try GET /api/spotify"),
    )
}

/// A JSON error body: `{"error": "..."}`.
pub fn error_json(status: StatusCode, message: &str) -> Response {
    let mut resp = (status, axum::Json(json!({ "error": message }))).into_response();
    resp.headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    resp
}

/// CORS for every answer, from `ALLOWED_ORIGINS`.
async fn cors(State(app): State<SharedApp>, req: Request, next: Next) -> Response {
    let origin = req
        .headers()
        .get(header::ORIGIN)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    let mut resp: Response<Body> = next.run(req).await;
    let h = resp.headers_mut();
    if let Some(allowed) = app.allowed_origins.allow(origin.as_deref()) {
        if let Ok(v) = HeaderValue::from_str(&allowed) {
            h.insert(header::ACCESS_CONTROL_ALLOW_ORIGIN, v);
        }
        h.insert(
            header::ACCESS_CONTROL_EXPOSE_HEADERS,
            HeaderValue::from_static("etag"),
        );
    }
    if matches!(app.allowed_origins, AllowedOrigins::List(_)) {
        h.append(header::VARY, HeaderValue::from_static("origin"));
    }
    resp
}
