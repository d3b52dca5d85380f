//! A fake Spotify (accounts service and Web API) speaking HTTP on 127.0.0.1, scriptable per test:
//! status codes, bodies, delays, `Retry-After`, single-use rotating refresh tokens, an
//! authorization page that approves or denies, and call counts.
//!
//! Refresh tokens are single-use, with reuse detection (on by default, as OAuth 2.1 recommends;
//! Spotify says only that a refresh answer *might* carry a new refresh token, so the service
//! assumes this strictest server, and `no_rotation` is the other behaviour it may meet):
//! presenting a refresh token that was rotated away revokes the whole grant, the current refresh
//! token and every access token, and is answered `invalid_grant` (counted in
//! [`Stats::reuse_detected`]). The token endpoint can also rotate as the request arrives and
//! answer only later ([`TokenBehavior::answer_delay_ms`]; a client that gave up meanwhile has lost
//! the rotated token), answer a rotation without an access token, or answer any status with a
//! body and `Retry-After`.
//!
//! Used in-process by the Rust tests and as a process (`cargo run --example fake_spotify`) by
//! the multi-process, browser and benchmark runs, which script it through `/_admin/*`.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::extract::{Query, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum::{Form, Json, Router};
use base64::Engine;
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use sha2::Digest;

pub const CLIENT_ID: &str = "test-client-id";
pub const CLIENT_SECRET: &str = "test-client-secret-do-not-log";
pub const FIRST_REFRESH_TOKEN: &str = "refresh-token-0";
/// The Spotify user id `GET /v1/me` answers unless told otherwise.
pub const OWNER_ID: &str = "the-owner";

/// One scripted answer of an endpoint.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Scripted {
    #[serde(default = "ok")]
    pub status: u16,
    /// JSON body; ignored when `raw` is set.
    #[serde(default)]
    pub body: Value,
    /// A raw body (HTML, truncated JSON, ...).
    #[serde(default)]
    pub raw: Option<String>,
    #[serde(default)]
    pub delay_ms: u64,
    #[serde(default)]
    pub retry_after: Option<u64>,
    /// A `Retry-After` sent as it is (an HTTP date, garbage, a number past `u64::MAX`); wins
    /// over `retry_after`.
    #[serde(default)]
    pub retry_after_raw: Option<String>,
}

fn ok() -> u16 {
    200
}

impl Scripted {
    pub fn json(body: Value) -> Self {
        Scripted {
            status: 200,
            body,
            raw: None,
            delay_ms: 0,
            retry_after: None,
            retry_after_raw: None,
        }
    }
    pub fn status(status: u16) -> Self {
        Scripted {
            status,
            body: Value::Null,
            raw: None,
            delay_ms: 0,
            retry_after: None,
            retry_after_raw: None,
        }
    }
    /// A status with a JSON body.
    pub fn status_json(status: u16, body: Value) -> Self {
        Scripted {
            body,
            ..Scripted::status(status)
        }
    }
    pub fn raw(status: u16, raw: &str) -> Self {
        Scripted {
            raw: Some(raw.to_string()),
            ..Scripted::status(status)
        }
    }
    pub fn delayed(mut self, ms: u64) -> Self {
        self.delay_ms = ms;
        self
    }
    pub fn retry_after(mut self, s: u64) -> Self {
        self.retry_after = Some(s);
        self
    }
    pub fn retry_after_raw(mut self, v: &str) -> Self {
        self.retry_after_raw = Some(v.to_string());
        self
    }
}

/// How the token endpoint behaves.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct TokenBehavior {
    #[serde(default)]
    pub delay_ms: u64,
    /// Answer every refresh with this OAuth error (`invalid_grant`, `invalid_client`, ...).
    #[serde(default)]
    pub error: Option<String>,
    /// Answer with this HTTP status (and no token) instead, e.g. 500, with `body` (JSON) and
    /// `retry_after` (sent as it is) when given.
    #[serde(default)]
    pub status: Option<u16>,
    #[serde(default)]
    pub body: Option<Value>,
    #[serde(default)]
    pub retry_after: Option<String>,
    /// Rotate (and issue the tokens) as the request arrives, but answer only this much later.
    /// A client that gives up before has lost the rotated refresh token.
    #[serde(default)]
    pub answer_delay_ms: u64,
    /// A successful refresh answers `200` with the rotated refresh token but no access token
    /// (none is issued).
    #[serde(default)]
    pub omit_access_token: bool,
    /// Turns reuse detection off: a rotated-away refresh token is then only `invalid_grant`.
    #[serde(default)]
    pub no_reuse_detection: bool,
    /// Spotify returns a new refresh token on each refresh and the old one dies. Default true.
    #[serde(default)]
    pub no_rotation: bool,
    /// Lifetime of access tokens in seconds (default 3600).
    #[serde(default)]
    pub expires_in: Option<u64>,
}

/// Call counts, as `/_admin/stats` reports them.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct Stats {
    pub currently_playing: u64,
    /// `GET /v1/me/player` calls (those answered are in `currently_playing` too).
    #[serde(default)]
    pub player: u64,
    pub recently_played: u64,
    pub top: u64,
    pub saved: u64,
    pub token_refreshes: u64,
    pub token_calls: u64,
    pub code_exchanges: u64,
    pub invalid_grant: u64,
    pub unauthorized: u64,
    /// The refresh token Spotify considers valid now.
    pub valid_refresh_token: Option<String>,
    pub scopes_granted: Option<String>,
    /// Path and query of every recently-played, top and saved-tracks call, in order.
    #[serde(default)]
    pub list_calls: Vec<String>,
    /// Rotated-away refresh tokens presented again (each revoked the grant).
    #[serde(default)]
    pub reuse_detected: u64,
    /// Path and query of every image request (`/img/...`), in order.
    #[serde(default)]
    pub image_calls: Vec<String>,
    /// `GET /v1/me` calls.
    #[serde(default)]
    pub me: u64,
    /// `GET /v1/me/playlists` calls (each page counts).
    #[serde(default)]
    pub playlists: u64,
    /// `GET /authorize` requests (the consent page or its redirect).
    #[serde(default)]
    pub authorize_pages: u64,
}

/// A listening timeline: every play (its end, epoch ms, and track id) and the fake's "now".
/// Recently-played then answers as Spotify does: only plays that ended by now, only the newest
/// 50 of them at all, `after` (exclusive) paging forward from the oldest play after it.
#[derive(Debug, Clone, Default)]
pub struct Timeline {
    pub plays: Vec<(u64, String)>,
    pub now_ms: u64,
}

struct Inner {
    /// The device is in a private session (`/v1/me/player`).
    private_session: bool,
    timeline: Option<Timeline>,
    current: Scripted,
    current_once: VecDeque<Scripted>,
    recent: Scripted,
    recent_once: VecDeque<Scripted>,
    other: HashMap<String, Scripted>,
    token: TokenBehavior,
    refresh_token: Option<String>,
    /// The refresh tokens of the current grant that were rotated away.
    retired: std::collections::HashSet<String>,
    generation: u64,
    access: HashMap<String, Instant>,
    codes: HashMap<String, (String, Option<String>, String)>,
    deny_authorization: bool,
    /// `/authorize` shows a consent page with an approve button instead of redirecting at once.
    consent_page: bool,
    /// The id `GET /v1/me` answers.
    me_id: String,
    /// How long each image request waits before its answer.
    image_delay: std::time::Duration,
    /// Every image request answers `500`.
    images_fail: bool,
    stats: Stats,
}

#[derive(Clone)]
pub struct FakeSpotify {
    pub base: String,
    inner: Arc<Mutex<Inner>>,
}

impl FakeSpotify {
    /// Starts on a free loopback port.
    pub async fn start() -> FakeSpotify {
        FakeSpotify::start_on("127.0.0.1:0").await
    }

    pub async fn start_on(addr: &str) -> FakeSpotify {
        let listener = tokio::net::TcpListener::bind(addr)
            .await
            .expect("bind fake spotify");
        let base = format!("http://{}", listener.local_addr().unwrap());
        let inner = Arc::new(Mutex::new(Inner {
            private_session: false,
            timeline: None,
            current: Scripted::status(204),
            current_once: VecDeque::new(),
            recent: Scripted::json(json!({"items": []})),
            recent_once: VecDeque::new(),
            other: HashMap::new(),
            token: TokenBehavior::default(),
            refresh_token: Some(FIRST_REFRESH_TOKEN.to_string()),
            retired: Default::default(),
            generation: 0,
            access: HashMap::new(),
            codes: HashMap::new(),
            deny_authorization: false,
            consent_page: false,
            me_id: OWNER_ID.to_string(),
            image_delay: std::time::Duration::ZERO,
            images_fail: false,
            stats: Stats::default(),
        }));
        let fake = FakeSpotify { base, inner };
        let app = Router::new()
            .route("/api/token", post(token))
            .route("/authorize", get(authorize))
            .route("/authorize/approve", post(approve))
            .route("/v1/me", get(me))
            .route("/v1/me/player/currently-playing", get(currently_playing))
            .route("/v1/me/player/recently-played", get(recently_played))
            .route("/v1/me/player", get(player))
            .route("/v1/me/top/{kind}", get(top))
            .route("/v1/me/tracks", get(saved))
            .route("/v1/me/playlists", get(playlists))
            .route("/img/{name}", get(image))
            .route("/_admin/current", post(admin_current))
            .route("/_admin/recent", post(admin_recent))
            .route("/_admin/path", post(admin_path))
            .route("/_admin/token", post(admin_token))
            .route("/_admin/expire", post(admin_expire))
            .route("/_admin/refresh-token", post(admin_refresh_token))
            .route("/_admin/stats", get(admin_stats))
            .route("/_admin/consent", post(admin_consent))
            .route("/_admin/me", post(admin_me))
            .route("/_admin/images", post(admin_images))
            .with_state(fake.clone());
        tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        fake
    }

    /// The default answer of currently-playing from now on.
    pub fn set_current(&self, s: Scripted) {
        let mut i = self.inner.lock().unwrap();
        i.current = s;
        i.current_once.clear();
    }
    /// Answers served once each, in order, before the default one.
    pub fn queue_current(&self, s: Scripted) {
        self.inner.lock().unwrap().current_once.push_back(s);
    }
    /// The player's device is in a private session, or not.
    pub fn set_private_session(&self, on: bool) {
        self.inner.lock().unwrap().private_session = on;
    }

    /// Grants these scopes (space-separated) to the current sign-in, as a sign-in asking for
    /// them would.
    pub fn grant_scopes(&self, scopes: &str) {
        self.inner.lock().unwrap().stats.scopes_granted = Some(scopes.to_string());
    }

    /// Recently-played answers from `plays` (see [`Timeline`]) as of `now_ms`.
    pub fn set_timeline(&self, plays: Vec<(u64, String)>, now_ms: u64) {
        self.inner.lock().unwrap().timeline = Some(Timeline { plays, now_ms });
    }

    /// Moves the timeline's "now".
    pub fn set_timeline_now(&self, now_ms: u64) {
        if let Some(t) = self.inner.lock().unwrap().timeline.as_mut() {
            t.now_ms = now_ms;
        }
    }

    pub fn set_recent(&self, s: Scripted) {
        let mut i = self.inner.lock().unwrap();
        i.recent = s;
        i.recent_once.clear();
    }
    /// The answer of another API path, e.g. `/v1/me/top/artists`.
    pub fn set_path(&self, path: &str, s: Scripted) {
        self.inner.lock().unwrap().other.insert(path.to_string(), s);
    }
    pub fn set_token(&self, t: TokenBehavior) {
        self.inner.lock().unwrap().token = t;
    }
    /// Every access token handed out so far stops working (a forced expiry).
    pub fn expire_access_tokens(&self) {
        self.inner.lock().unwrap().access.clear();
    }
    /// Sets the one valid refresh token: a new grant (earlier tokens are unknown from now on,
    /// not rotated-away ones of this grant).
    pub fn set_refresh_token(&self, t: Option<&str>) {
        let mut i = self.inner.lock().unwrap();
        i.refresh_token = t.map(str::to_string);
        i.retired.clear();
    }
    /// `/authorize` shows a consent page with an "Agree" button (as Spotify's does).
    pub fn consent_page(&self, on: bool) {
        self.inner.lock().unwrap().consent_page = on;
    }
    /// The user id `GET /v1/me` answers from now on.
    pub fn set_me(&self, id: &str) {
        self.inner.lock().unwrap().me_id = id.to_string();
    }
    pub fn deny_authorization(&self, deny: bool) {
        self.inner.lock().unwrap().deny_authorization = deny;
    }
    /// Each image request from now on waits `delay` before its answer.
    pub fn set_image_delay(&self, delay: std::time::Duration) {
        self.inner.lock().unwrap().image_delay = delay;
    }
    /// From now on every image request answers `500` (`false`: served again).
    pub fn fail_images(&self, fail: bool) {
        self.inner.lock().unwrap().images_fail = fail;
    }
    /// How many image requests asked for `path` (its query ignored).
    pub fn image_calls_to(&self, path: &str) -> usize {
        let i = self.inner.lock().unwrap();
        i.stats
            .image_calls
            .iter()
            .filter(|c| c.split('?').next() == Some(path))
            .count()
    }
    pub fn stats(&self) -> Stats {
        let i = self.inner.lock().unwrap();
        let mut s = i.stats.clone();
        s.valid_refresh_token = i.refresh_token.clone();
        s
    }

    fn check_bearer(&self, headers: &HeaderMap) -> bool {
        let token = headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "))
            .unwrap_or("");
        let mut i = self.inner.lock().unwrap();
        let valid = i.access.get(token).is_some_and(|exp| Instant::now() < *exp);
        if !valid {
            i.stats.unauthorized += 1;
        }
        valid
    }
}

/// A scripted answer as the fakes send it (the fake Last.fm uses it too).
pub async fn respond_scripted(s: Scripted) -> Response {
    respond(s).await
}

async fn respond(s: Scripted) -> Response {
    if s.delay_ms > 0 {
        tokio::time::sleep(Duration::from_millis(s.delay_ms)).await;
    }
    let status = StatusCode::from_u16(s.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let mut resp = match (&s.raw, status) {
        (Some(raw), _) => {
            (status, [(header::CONTENT_TYPE, "text/html")], raw.clone()).into_response()
        }
        (None, StatusCode::NO_CONTENT) => status.into_response(),
        (None, _) if s.body.is_null() => status.into_response(),
        (None, _) => (status, Json(s.body.clone())).into_response(),
    };
    let retry_after = s
        .retry_after_raw
        .clone()
        .or(s.retry_after.map(|r| r.to_string()));
    if let Some(r) = retry_after {
        resp.headers_mut()
            .insert(header::RETRY_AFTER, r.parse().unwrap());
    }
    resp
}

async fn currently_playing(State(f): State<FakeSpotify>, headers: HeaderMap) -> Response {
    if !f.check_bearer(&headers) {
        return (
            StatusCode::UNAUTHORIZED,
            Json(json!({"error": {"status": 401, "message": "The access token expired"}})),
        )
            .into_response();
    }
    let s = {
        let mut i = f.inner.lock().unwrap();
        i.stats.currently_playing += 1;
        i.current_once
            .pop_front()
            .unwrap_or_else(|| i.current.clone())
    };
    respond(s).await
}

/// Spotify's `403` when the current sign-in was not granted `scope`.
fn lacks_scope(i: &Inner, scope: &str) -> Option<Response> {
    let granted = i.stats.scopes_granted.as_deref().unwrap_or_default();
    (!granted.split_whitespace().any(|g| g == scope)).then(|| {
        (
            StatusCode::FORBIDDEN,
            Json(json!({"error": {"status": 403, "message": "Insufficient client scope"}})),
        )
            .into_response()
    })
}

/// `GET /v1/me/player`: `403` without the scope `user-read-playback-state` (as Spotify), else the
/// currently-playing script with the device's private session added. Counted in
/// `currently_playing` too (both are a read of what plays) and in `player`.
async fn player(State(f): State<FakeSpotify>, headers: HeaderMap) -> Response {
    if !f.check_bearer(&headers) {
        return StatusCode::UNAUTHORIZED.into_response();
    }
    let (s, private) = {
        let mut i = f.inner.lock().unwrap();
        i.stats.player += 1;
        if let Some(refused) = lacks_scope(&i, "user-read-playback-state") {
            return refused;
        }
        i.stats.currently_playing += 1;
        let s = i
            .current_once
            .pop_front()
            .unwrap_or_else(|| i.current.clone());
        (s, i.private_session)
    };
    let mut s = s;
    if let Some(obj) = s.body.as_object_mut() {
        obj.insert(
            "device".into(),
            json!({"id": "d1", "is_active": true, "is_private_session": private,
                   "name": "Phone", "type": "Smartphone"}),
        );
    }
    respond(s).await
}

async fn recently_played(
    State(f): State<FakeSpotify>,
    uri: axum::http::Uri,
    headers: HeaderMap,
) -> Response {
    if !f.check_bearer(&headers) {
        return StatusCode::UNAUTHORIZED.into_response();
    }
    let s = {
        let mut i = f.inner.lock().unwrap();
        i.stats.recently_played += 1;
        i.stats.list_calls.push(uri.to_string());
        if let Some(t) = &i.timeline {
            if i.recent_once.is_empty() {
                return Json(timeline_page(t, uri.query().unwrap_or(""))).into_response();
            }
        }
        i.recent_once
            .pop_front()
            .unwrap_or_else(|| i.recent.clone())
    };
    respond(s).await
}

/// One recently-played page of the timeline for `query` (`limit`, `after`, `before`).
fn timeline_page(t: &Timeline, query: &str) -> Value {
    let q: HashMap<String, String> = url::form_urlencoded::parse(query.as_bytes())
        .into_owned()
        .collect();
    let num = |k: &str| q.get(k).and_then(|v| v.parse::<u64>().ok());
    let limit = num("limit").unwrap_or(20).clamp(1, 50) as usize;
    // Newest first, only what ended by now, and Spotify keeps only the last 50.
    let mut kept: Vec<&(u64, String)> = t.plays.iter().filter(|(at, _)| *at <= t.now_ms).collect();
    kept.sort_by_key(|p| std::cmp::Reverse(p.0));
    kept.truncate(50);
    let page: Vec<&(u64, String)> = match (num("after"), num("before")) {
        (Some(after), _) => {
            let mut newer: Vec<_> = kept.into_iter().filter(|(at, _)| *at > after).collect();
            // Forward from the cursor: the oldest `limit` plays after it, sent newest first.
            let skip = newer.len().saturating_sub(limit);
            newer.drain(..skip);
            newer
        }
        (None, Some(before)) => kept
            .into_iter()
            .filter(|(at, _)| *at < before)
            .take(limit)
            .collect(),
        (None, None) => kept.into_iter().take(limit).collect(),
    };
    let text = |ms: u64| {
        time::OffsetDateTime::from_unix_timestamp_nanos(ms as i128 * 1_000_000)
            .unwrap()
            .format(&time::format_description::well_known::Rfc3339)
            .unwrap()
    };
    let items: Vec<Value> = page
        .iter()
        .map(|(at, id)| {
            let mut track = bodies::track(id, &format!("Track {id}"));
            track["uri"] = json!(format!("spotify:track:{id}"));
            json!({"played_at": text(*at), "track": track})
        })
        .collect();
    let cursors = match (page.first(), page.last()) {
        (Some(newest), Some(oldest)) => {
            json!({"after": newest.0.to_string(), "before": oldest.0.to_string()})
        }
        _ => Value::Null,
    };
    json!({"items": items, "limit": limit, "cursors": cursors})
}

async fn top(
    State(f): State<FakeSpotify>,
    axum::extract::Path(kind): axum::extract::Path<String>,
    uri: axum::http::Uri,
    headers: HeaderMap,
) -> Response {
    if !f.check_bearer(&headers) {
        return StatusCode::UNAUTHORIZED.into_response();
    }
    let s = {
        let mut i = f.inner.lock().unwrap();
        i.stats.top += 1;
        i.stats.list_calls.push(uri.to_string());
        i.other
            .get(&format!("/v1/me/top/{kind}"))
            .cloned()
            .unwrap_or_else(|| Scripted::json(json!({"items": []})))
    };
    respond(s).await
}

async fn saved(State(f): State<FakeSpotify>, uri: axum::http::Uri, headers: HeaderMap) -> Response {
    if !f.check_bearer(&headers) {
        return StatusCode::UNAUTHORIZED.into_response();
    }
    let s = {
        let mut i = f.inner.lock().unwrap();
        i.stats.saved += 1;
        i.stats.list_calls.push(uri.to_string());
        i.other
            .get("/v1/me/tracks")
            .cloned()
            .unwrap_or_else(|| Scripted::json(json!({"items": []})))
    };
    respond(s).await
}

/// `GET /v1/me/playlists?limit=50&offset=N`: `403` without the scope `playlist-read-private`
/// (as Spotify), else the page scripted for `/v1/me/playlists?offset=N`, else the one for
/// `/v1/me/playlists` at offset 0 and an empty last page after it (`set_path`).
async fn playlists(
    State(f): State<FakeSpotify>,
    uri: axum::http::Uri,
    headers: HeaderMap,
) -> Response {
    if !f.check_bearer(&headers) {
        return StatusCode::UNAUTHORIZED.into_response();
    }
    let offset = uri
        .query()
        .and_then(|q| {
            url::form_urlencoded::parse(q.as_bytes())
                .find(|(k, _)| k == "offset")
                .map(|(_, v)| v.into_owned())
        })
        .unwrap_or_else(|| "0".into());
    let s = {
        let mut i = f.inner.lock().unwrap();
        i.stats.playlists += 1;
        i.stats.list_calls.push(uri.to_string());
        if let Some(refused) = lacks_scope(&i, "playlist-read-private") {
            return refused;
        }
        i.other
            .get(&format!("/v1/me/playlists?offset={offset}"))
            .or_else(|| {
                (offset == "0")
                    .then(|| i.other.get("/v1/me/playlists"))
                    .flatten()
            })
            .cloned()
            .unwrap_or_else(|| Scripted::json(json!({"items": [], "next": null})))
    };
    respond(s).await
}

#[derive(Deserialize)]
struct AuthorizeQuery {
    client_id: String,
    redirect_uri: String,
    state: Option<String>,
    scope: Option<String>,
    code_challenge: Option<String>,
    code_challenge_method: Option<String>,
    response_type: String,
}

/// The consent page: approving (or denying) at once, redirecting to `redirect_uri`; or, with
/// [`FakeSpotify::consent_page`], a page whose "Agree" button does that.
async fn authorize(
    State(f): State<FakeSpotify>,
    uri: axum::http::Uri,
    Query(q): Query<AuthorizeQuery>,
) -> Response {
    let consent = {
        let mut i = f.inner.lock().unwrap();
        i.stats.authorize_pages += 1;
        i.consent_page
    };
    if consent && q.client_id == CLIENT_ID {
        let query = uri.query().unwrap_or_default();
        let esc = |s: &str| {
            s.replace('&', "&amp;")
                .replace('"', "&quot;")
                .replace('<', "&lt;")
        };
        return axum::response::Html(format!(
            "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>Fake Spotify: consent</title></head>\
<body><h1>Fake Spotify</h1><p>nowplaying wants to read what you play ({}).</p>\
<form method=\"post\" action=\"/authorize/approve\"><input type=\"hidden\" name=\"query\" value=\"{}\">\
<button type=\"submit\" data-testid=\"approve\">Agree</button></form></body></html>",
            esc(q.scope.as_deref().unwrap_or_default()),
            esc(query)
        ))
        .into_response();
    }
    authorize_now(f, q)
}

/// The consent page's "Agree": the redirect `/authorize` gives without the page.
async fn approve(
    State(f): State<FakeSpotify>,
    Form(form): Form<HashMap<String, String>>,
) -> Response {
    let query = form.get("query").cloned().unwrap_or_default();
    match serde_urlencoded_query(&query) {
        Some(q) => authorize_now(f, q),
        None => (StatusCode::BAD_REQUEST, "bad consent form").into_response(),
    }
}

fn serde_urlencoded_query(query: &str) -> Option<AuthorizeQuery> {
    let uri: axum::http::Uri = format!("/authorize?{query}").parse().ok()?;
    Query::<AuthorizeQuery>::try_from_uri(&uri)
        .ok()
        .map(|Query(q)| q)
}

/// `GET /v1/me`: the configured user id.
async fn me(State(f): State<FakeSpotify>, headers: HeaderMap) -> Response {
    if !f.check_bearer(&headers) {
        return StatusCode::UNAUTHORIZED.into_response();
    }
    let mut i = f.inner.lock().unwrap();
    i.stats.me += 1;
    Json(json!({"id": i.me_id.clone(), "display_name": "Fake User", "type": "user"}))
        .into_response()
}

async fn admin_consent(State(f): State<FakeSpotify>, Json(on): Json<bool>) -> StatusCode {
    f.consent_page(on);
    StatusCode::NO_CONTENT
}

async fn admin_me(State(f): State<FakeSpotify>, Json(id): Json<String>) -> StatusCode {
    f.set_me(&id);
    StatusCode::NO_CONTENT
}

fn authorize_now(f: FakeSpotify, q: AuthorizeQuery) -> Response {
    if q.client_id != CLIENT_ID || q.response_type != "code" {
        return (StatusCode::BAD_REQUEST, "INVALID_CLIENT: Invalid client").into_response();
    }
    if q.redirect_uri.contains("localhost") {
        return (
            StatusCode::BAD_REQUEST,
            "INVALID_CLIENT: Insecure redirect URI",
        )
            .into_response();
    }
    let state = q.state.clone().unwrap_or_default();
    let sep = if q.redirect_uri.contains('?') {
        '&'
    } else {
        '?'
    };
    let mut i = f.inner.lock().unwrap();
    if i.deny_authorization {
        return Redirect::to(&format!(
            "{}{sep}error=access_denied&state={}",
            q.redirect_uri,
            urlencode(&state)
        ))
        .into_response();
    }
    if q.code_challenge_method.as_deref() != Some("S256") || q.code_challenge.is_none() {
        return (StatusCode::BAD_REQUEST, "PKCE required by this fake").into_response();
    }
    let code = format!("code-{}", rand::random::<u64>());
    i.codes.insert(
        code.clone(),
        (
            q.redirect_uri.clone(),
            q.scope.clone(),
            q.code_challenge.clone().unwrap(),
        ),
    );
    Redirect::to(&format!(
        "{}{sep}code={code}&state={}",
        q.redirect_uri,
        urlencode(&state)
    ))
    .into_response()
}

fn urlencode(s: &str) -> String {
    url::form_urlencoded::byte_serialize(s.as_bytes()).collect()
}

fn oauth_error(status: StatusCode, error: &str) -> Response {
    (
        status,
        Json(json!({"error": error, "error_description": format!("fake: {error}")})),
    )
        .into_response()
}

async fn token(
    State(f): State<FakeSpotify>,
    headers: HeaderMap,
    Form(form): Form<HashMap<String, String>>,
) -> Response {
    let behavior = {
        let mut i = f.inner.lock().unwrap();
        i.stats.token_calls += 1;
        i.token.clone()
    };
    if behavior.delay_ms > 0 {
        tokio::time::sleep(Duration::from_millis(behavior.delay_ms)).await;
    }
    let basic = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Basic "))
        .and_then(|b| base64::engine::general_purpose::STANDARD.decode(b).ok())
        .and_then(|b| String::from_utf8(b).ok())
        .unwrap_or_default();
    if basic != format!("{CLIENT_ID}:{CLIENT_SECRET}") {
        return oauth_error(StatusCode::BAD_REQUEST, "invalid_client");
    }
    if let Some(status) = behavior.status {
        let mut resp = match &behavior.body {
            Some(body) => {
                (StatusCode::from_u16(status).unwrap(), Json(body.clone())).into_response()
            }
            None => StatusCode::from_u16(status).unwrap().into_response(),
        };
        if let Some(r) = &behavior.retry_after {
            resp.headers_mut()
                .insert(header::RETRY_AFTER, r.parse().unwrap());
        }
        return resp;
    }
    if let Some(error) = &behavior.error {
        if error == "invalid_grant" {
            f.inner.lock().unwrap().stats.invalid_grant += 1;
        }
        return oauth_error(StatusCode::BAD_REQUEST, error);
    }
    // Everything happens now, as the request arrives; only the answer may wait.
    let resp = grant(&f, &behavior, &form);
    if behavior.answer_delay_ms > 0 {
        tokio::time::sleep(Duration::from_millis(behavior.answer_delay_ms)).await;
    }
    resp
}

/// Handles a token request (already authenticated) and updates the fake's state.
fn grant(f: &FakeSpotify, behavior: &TokenBehavior, form: &HashMap<String, String>) -> Response {
    let mut i = f.inner.lock().unwrap();
    let expires_in = behavior.expires_in.unwrap_or(3600);
    match form.get("grant_type").map(String::as_str) {
        Some("refresh_token") => {
            let presented = form.get("refresh_token").cloned().unwrap_or_default();
            if i.refresh_token.as_deref() != Some(presented.as_str()) {
                i.stats.invalid_grant += 1;
                if !behavior.no_reuse_detection && i.retired.contains(&presented) {
                    // A rotated-away token came back: someone holds a copy. Revoke the grant.
                    i.stats.reuse_detected += 1;
                    eprintln!("fake spotify: REUSE DETECTED: a rotated-away refresh token came back; the grant is revoked");
                    i.refresh_token = None;
                    i.access.clear();
                }
                return oauth_error(StatusCode::BAD_REQUEST, "invalid_grant");
            }
            i.stats.token_refreshes += 1;
            i.generation += 1;
            let mut body = json!({"token_type": "Bearer",
                "expires_in": expires_in, "scope": i.stats.scopes_granted.clone().unwrap_or_else(|| "user-read-currently-playing user-read-recently-played".into())});
            if !behavior.omit_access_token {
                let access = format!("access-{}-{}", i.generation, rand::random::<u32>());
                i.access.insert(
                    access.clone(),
                    Instant::now() + Duration::from_secs(expires_in),
                );
                body["access_token"] = json!(access);
            }
            if !behavior.no_rotation {
                let next = format!("refresh-token-{}", i.generation);
                i.retired.insert(presented);
                i.refresh_token = Some(next.clone());
                body["refresh_token"] = json!(next);
            }
            Json(body).into_response()
        }
        Some("authorization_code") => {
            let code = form.get("code").cloned().unwrap_or_default();
            let Some((redirect, scope, challenge)) = i.codes.remove(&code) else {
                return oauth_error(StatusCode::BAD_REQUEST, "invalid_grant");
            };
            let verifier = form.get("code_verifier").cloned().unwrap_or_default();
            let computed = base64::engine::general_purpose::URL_SAFE_NO_PAD
                .encode(sha2::Sha256::digest(verifier.as_bytes()));
            if form.get("redirect_uri") != Some(&redirect) || computed != challenge {
                return oauth_error(StatusCode::BAD_REQUEST, "invalid_grant");
            }
            i.stats.code_exchanges += 1;
            i.generation += 1;
            let access = format!("access-{}-{}", i.generation, rand::random::<u32>());
            i.access.insert(
                access.clone(),
                Instant::now() + Duration::from_secs(expires_in),
            );
            let refresh = format!("refresh-token-{}", i.generation);
            // A new grant: the old one's tokens are unknown from now on.
            i.refresh_token = Some(refresh.clone());
            i.retired.clear();
            i.stats.scopes_granted = scope.clone();
            Json(
                json!({"access_token": access, "token_type": "Bearer", "expires_in": expires_in,
                "refresh_token": refresh, "scope": scope.unwrap_or_default()}),
            )
            .into_response()
        }
        _ => oauth_error(StatusCode::BAD_REQUEST, "unsupported_grant_type"),
    }
}

/// A tiny PNG (`/img/cover.png`), one over the card's size limit (`/img/huge.png`), one
/// with a type the card refuses (`/img/page.html`), a redirect to anywhere
/// (`/img/redirect?to=URL`, `302`), and album covers of Spotify's three sizes and their usual
/// weight (`/img/NAME-640.jpg`, `-300.jpg`, `-64.jpg`: see [`cover_jpeg_bytes`]).
pub const COVER_PNG_BASE64: &str = "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9awAAAABJRU5ErkJggg==";

async fn image(
    State(f): State<FakeSpotify>,
    axum::extract::Path(name): axum::extract::Path<String>,
    uri: axum::http::Uri,
    Query(q): Query<HashMap<String, String>>,
) -> Response {
    let (delay, fail) = {
        let mut i = f.inner.lock().unwrap();
        i.stats.image_calls.push(uri.to_string());
        (i.image_delay, i.images_fail)
    };
    tokio::time::sleep(delay).await;
    if fail {
        return StatusCode::INTERNAL_SERVER_ERROR.into_response();
    }
    if let Some(bytes) = sized_cover(&name) {
        return ([(header::CONTENT_TYPE, "image/jpeg")], bytes).into_response();
    }
    if name == "redirect" {
        let to = q.get("to").cloned().unwrap_or_default();
        return (StatusCode::FOUND, [(header::LOCATION, to)]).into_response();
    }
    let png = base64::engine::general_purpose::STANDARD
        .decode(COVER_PNG_BASE64)
        .unwrap();
    match name.as_str() {
        "cover.png" => ([(header::CONTENT_TYPE, "image/png")], png).into_response(),
        "huge.png" => {
            let mut big = png;
            big.resize(2 * 1024 * 1024, 0);
            ([(header::CONTENT_TYPE, "image/png")], big).into_response()
        }
        "page.html" => ([(header::CONTENT_TYPE, "text/html")], "<h1>hi</h1>").into_response(),
        _ => StatusCode::NOT_FOUND.into_response(),
    }
}

/// How much a Spotify cover of each size weighs, in bytes: the 640 px one 100 to 250 KB, the
/// 300 px one 20 to 40 KB, an artist's 160 px image 9 to 20 KB, the 64 px one 2 to 4 KB. The
/// fake serves the middle of each range.
pub fn cover_jpeg_bytes(side: u32) -> Option<usize> {
    match side {
        640 => Some(150_000),
        300 => Some(26_000),
        160 => Some(12_000),
        64 => Some(3_000),
        _ => None,
    }
}

/// The body of `/img/NAME-640.jpg` (`-300`, `-64`): a real JPEG of that side in the colours of
/// NAME ([`cover_colors`]: a background with a stripe of a second colour), padded with comment
/// segments of noise (which, like a real cover's detail, does not compress) to as long as
/// [`cover_jpeg_bytes`] says.
fn sized_cover(name: &str) -> Option<Vec<u8>> {
    let stem = name.strip_suffix(".jpg")?;
    let (art, side) = stem.rsplit_once('-')?;
    let side: u32 = side.parse().ok()?;
    let len = cover_jpeg_bytes(side)?;
    let (bg, stripe) = cover_colors(art);
    let img = image::RgbImage::from_fn(side, side, |_, y| {
        image::Rgb(if y * 5 >= side * 4 { stripe } else { bg })
    });
    let mut jpeg = Vec::new();
    image::codecs::jpeg::JpegEncoder::new_with_quality(&mut jpeg, 90)
        .encode_image(&img)
        .expect("a JPEG of a plain image");
    // Comment segments (FF FE, a two-byte length that counts itself) right after the start
    // marker, filled with xorshift32 noise.
    let mut pad = Vec::new();
    let mut x: u32 = 0x9E37_79B9 ^ side;
    while jpeg.len() + pad.len() + 4 < len {
        let room = (len - jpeg.len() - pad.len() - 4).min(65_533);
        pad.extend_from_slice(&[0xFF, 0xFE]);
        pad.extend_from_slice(&((room + 2) as u16).to_be_bytes());
        for _ in 0..room {
            x ^= x << 13;
            x ^= x >> 17;
            x ^= x << 5;
            pad.push(x as u8);
        }
    }
    let mut body = jpeg[..2].to_vec();
    body.extend_from_slice(&pad);
    body.extend_from_slice(&jpeg[2..]);
    Some(body)
}

/// The two colours of the covers named `art` (background, stripe): for names starting with
/// `red`, `blue`, `white` or `black` those, else two taken from the name's hash.
pub fn cover_colors(art: &str) -> ([u8; 3], [u8; 3]) {
    let named = [
        ("red", [200, 30, 40]),
        ("blue", [20, 40, 160]),
        ("white", [245, 245, 240]),
        ("black", [10, 10, 12]),
    ];
    if let Some((_, c)) = named.iter().find(|(n, _)| art.starts_with(n)) {
        return (*c, [240, 200, 40]);
    }
    let h = art.bytes().fold(0xcbf2_9ce4_8422_2325_u64, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x100_0000_01b3)
    });
    let b = h.to_le_bytes();
    ([b[0], b[1], b[2]], [b[3], b[4], b[5]])
}

/// `{"delay_ms": N, "fail": bool}`: how image requests are answered from now on.
async fn admin_images(State(f): State<FakeSpotify>, Json(v): Json<Value>) -> StatusCode {
    let delay = v.get("delay_ms").and_then(Value::as_u64).unwrap_or(0);
    f.set_image_delay(std::time::Duration::from_millis(delay));
    f.fail_images(v.get("fail").and_then(Value::as_bool).unwrap_or(false));
    StatusCode::NO_CONTENT
}

async fn admin_current(State(f): State<FakeSpotify>, Json(v): Json<Value>) -> StatusCode {
    let once = v.get("once").and_then(Value::as_bool).unwrap_or(false);
    let s: Scripted = serde_json::from_value(v).unwrap_or(Scripted::status(500));
    if once {
        f.queue_current(s)
    } else {
        f.set_current(s)
    }
    StatusCode::NO_CONTENT
}

async fn admin_recent(State(f): State<FakeSpotify>, Json(s): Json<Scripted>) -> StatusCode {
    f.set_recent(s);
    StatusCode::NO_CONTENT
}

/// `{"path": "/v1/me/top/artists", ...Scripted}`: the answer of another API path.
async fn admin_path(State(f): State<FakeSpotify>, Json(v): Json<Value>) -> StatusCode {
    let Some(path) = v.get("path").and_then(Value::as_str).map(str::to_string) else {
        return StatusCode::BAD_REQUEST;
    };
    let s: Scripted = serde_json::from_value(v).unwrap_or(Scripted::status(500));
    f.set_path(&path, s);
    StatusCode::NO_CONTENT
}

async fn admin_token(State(f): State<FakeSpotify>, Json(t): Json<TokenBehavior>) -> StatusCode {
    f.set_token(t);
    StatusCode::NO_CONTENT
}

async fn admin_expire(State(f): State<FakeSpotify>) -> StatusCode {
    f.expire_access_tokens();
    StatusCode::NO_CONTENT
}

#[derive(Deserialize)]
struct RefreshTokenBody {
    refresh_token: Option<String>,
}

async fn admin_refresh_token(
    State(f): State<FakeSpotify>,
    Json(b): Json<RefreshTokenBody>,
) -> StatusCode {
    f.set_refresh_token(b.refresh_token.as_deref());
    StatusCode::NO_CONTENT
}

async fn admin_stats(State(f): State<FakeSpotify>) -> Json<Stats> {
    Json(f.stats())
}

/// Spotify-shaped bodies for tests, in today's development-mode shape (February 2026): no track
/// `popularity`, `available_markets` or `linked_from`, no album `label`, no artist `followers`
/// or `popularity`, no `show.publisher`. [`bodies::full`] adds them back (the older shape).
pub mod bodies {
    use serde_json::{json, Value};

    pub fn track(id: &str, name: &str) -> Value {
        json!({
            "type": "track", "id": id, "name": name, "duration_ms": 200_000, "is_local": false,
            "preview_url": null, "explicit": false,
            "external_urls": {"spotify": format!("https://open.spotify.com/track/{id}")},
            "artists": [{"name": "Artist One", "id": "a1"}, {"name": "Artist Two", "id": "a2"}],
            "album": {"name": "The Album", "images": [
                {"url": "https://i.scdn.co/image/small", "width": 64, "height": 64},
                {"url": "https://i.scdn.co/image/large", "width": 640, "height": 640},
                {"url": "https://i.scdn.co/image/medium", "width": 300, "height": 300}
            ]}
        })
    }

    /// A track whose album lists the three sizes Spotify gives (640, 300 and 64 px, largest
    /// first), served by the fake at `{base}/img/{art}-640.jpg` and so on with their real weight.
    pub fn track_with_covers(base: &str, art: &str, id: &str, name: &str) -> Value {
        let mut t = track(id, name);
        t["album"]["images"] = json!([640, 300, 64].map(|side| json!({
            "url": format!("{base}/img/{art}-{side}.jpg"), "width": side, "height": side
        })));
        t
    }

    /// Where each field removed from development-mode answers lived, as (path of the object,
    /// field): `item` is a track or episode, `album`/`artist`/`show` its parts.
    pub const REMOVED_FIELDS: &[(&str, &str)] = &[
        ("item", "popularity"),
        ("item", "available_markets"),
        ("item", "linked_from"),
        ("album", "label"),
        ("artist", "followers"),
        ("artist", "popularity"),
        ("show", "publisher"),
    ];

    /// `item` (a track, an episode or an artist) in the older, fuller shape: every field
    /// development-mode apps no longer receive, with a value Spotify used to send.
    pub fn full(mut item: Value) -> Value {
        match item["type"].as_str() {
            Some("track") => {
                item["popularity"] = json!(63);
                item["available_markets"] = json!(["DE", "GB", "US"]);
                item["linked_from"] = json!({"id": "linked", "type": "track"});
                item["album"]["label"] = json!("The Label");
                if let Some(artists) = item["artists"].as_array_mut() {
                    for a in artists {
                        a["followers"] = json!({"href": null, "total": 1234});
                        a["popularity"] = json!(40);
                    }
                }
            }
            Some("episode") => item["show"]["publisher"] = json!("The Publisher"),
            Some("artist") => {
                item["followers"] = json!({"href": null, "total": 1234});
                item["popularity"] = json!(70);
            }
            _ => {}
        }
        item
    }

    /// The Web API's `403` when the app's owner has no active Premium subscription.
    pub fn premium_required() -> Value {
        json!({"error": {"status": 403, "message": "Active premium subscription required for the owner of the app"}})
    }

    pub fn playing(item: Value, is_playing: bool, progress_ms: u64) -> Value {
        let kind = item["type"].as_str().unwrap_or("track").to_string();
        json!({"timestamp": 1, "progress_ms": progress_ms, "is_playing": is_playing,
               "currently_playing_type": kind, "item": item,
               "actions": {"disallows": {"resuming": true}}, "context": null})
    }

    pub fn episode() -> Value {
        json!({
            "type": "episode", "id": "ep1", "name": "Episode Title", "duration_ms": 3_600_000,
            "external_urls": {"spotify": "https://open.spotify.com/episode/ep1"},
            "images": [{"url": "https://i.scdn.co/image/episode", "width": 640, "height": 640}],
            "show": {"name": "The Show",
                     "images": [{"url": "https://i.scdn.co/image/show", "width": 640, "height": 640}]}
        })
    }

    pub fn local_file() -> Value {
        json!({
            "type": "track", "id": null, "uri": "spotify:local:Me:Demo:demo.mp3:180",
            "name": "demo.mp3", "is_local": true, "duration_ms": 180_000,
            "external_urls": {}, "preview_url": null,
            "artists": [{"name": "Me", "id": null}],
            "album": {"name": "Demo", "images": []}
        })
    }

    /// A recently-played page of several plays, newest first.
    pub fn history(plays: &[(Value, &str)]) -> Value {
        let items: Vec<Value> = plays
            .iter()
            .map(|(t, at)| json!({"track": t, "played_at": at, "context": null}))
            .collect();
        json!({"items": items, "next": null, "limit": 50})
    }

    pub fn artist(id: &str, name: &str) -> Value {
        json!({
            "type": "artist", "id": id, "name": name,
            "genres": ["trip hop", "electronica"],
            "external_urls": {"spotify": format!("https://open.spotify.com/artist/{id}")},
            "images": [
                {"url": format!("https://i.scdn.co/image/{id}-160"), "width": 160, "height": 160},
                {"url": format!("https://i.scdn.co/image/{id}-640"), "width": 640, "height": 640}
            ]
        })
    }

    /// A paging object of `items` (top lists).
    pub fn page(items: Vec<Value>) -> Value {
        json!({"items": items, "total": 50, "limit": 50, "offset": 0, "next": null})
    }

    /// `GET /v1/me/tracks`: saved tracks with the moment each was saved.
    pub fn saved(tracks: &[(Value, &str)]) -> Value {
        let items: Vec<Value> = tracks
            .iter()
            .map(|(t, at)| json!({"added_at": at, "track": t}))
            .collect();
        json!({"items": items, "total": items.len(), "limit": 50, "offset": 0})
    }

    /// The Web API's 429 body when the app's quota (not a plain rate limit) is exceeded.
    pub fn quota_exceeded() -> Value {
        json!({"error": {"status": 429, "message": "QUOTA_EXCEEDED"}})
    }

    pub fn recent(item: Value, played_at: &str) -> Value {
        json!({"items": [{"track": item, "played_at": played_at, "context": null}],
               "next": null, "cursors": {"after": "1", "before": "0"}, "limit": 1})
    }
}
