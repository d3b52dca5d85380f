//! The owner's console at `/owner`: sign in with Spotify (the only way in: the `GET /v1/me` id
//! must be `OWNER_SPOTIFY_ID`), then see the status report and hide, show, renew, disconnect or
//! sign out from any browser. On only with `OWNER_SPOTIFY_ID`; the same Router on Lambda and in
//! `serve`. docs/architecture.md ("The owner's console") has the flow and its rules:
//!
//! - before the owner is proven nothing is written and nothing is called but Spotify's authorize
//!   page: a callback is checked against its sealed, unexpired, cookie-bound sign-in (and refused
//!   when that sign-in was already used) before the code is exchanged;
//! - the sign-in is stored through [`crate::owner::store_sign_in`], the path of `nowplaying
//!   authorize`; disconnect through [`crate::owner::disconnect`];
//! - a session is an HMAC-signed cookie naming the sign-in's `authorized_at`: a new sign-in or a
//!   disconnect ends every session; every POST checks the session, `Origin` and a CSRF token.

mod actions;
mod cookies;
pub mod keys;
mod page;
mod sign_in;

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::{DefaultBodyLimit, Query, State};
use axum::http::{header, request::Parts, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::Router;
use serde::Deserialize;

use crate::clock::{SharedClock, Timestamp};
use crate::owner::PrivacySwitch;
use crate::report::{self, Report};
use crate::secret::Secret;
use crate::spotify::SpotifyClient;
use crate::store::{CredentialStore, Credentials, SharedState, StoreError};
use crate::tokens::TokenKeeper;

use keys::{Keys, SessionClaims, CONSOLE_KEY_FIELD};

/// How long a sign-in in progress lasts.
pub const SIGN_IN_TTL: Duration = Duration::from_secs(10 * 60);
/// How long an owner session lasts at most.
pub const SESSION_TTL: Duration = Duration::from_secs(12 * 3600);

/// How long a process trusts its read of the stored app for visitors without a session.
const STORED_APP_RECHECK: Duration = Duration::from_secs(30);
const SESSION_PURPOSE: &str = "owner-session";
const SIGN_IN_PURPOSE: &str = "owner-sign-in";

/// Everything the console needs, built once per process (`crate::app::build`).
pub struct Console {
    owner_id: String,
    /// `PUBLIC_URL` (or `serve`'s own address); `None` on Lambda without it: the request
    /// context's domain (set by API Gateway, never a client's header).
    public_url: Option<String>,
    accounts_base: String,
    scopes: Vec<&'static str>,
    spotify: SpotifyClient,
    credentials: Arc<dyn CredentialStore>,
    key_store: Arc<dyn CredentialStore>,
    /// The shared table, when there is one (the sign-in's lease and generation live there).
    shared: Option<Arc<dyn SharedState>>,
    privacy: PrivacySwitch,
    tokens: TokenKeeper,
    clock: SharedClock,
    report: report::Inputs,
    keys: tokio::sync::OnceCell<Keys>,
    /// This process's last read of the stored app's client id, and when (see [`STORED_APP_RECHECK`]).
    stored_app: tokio::sync::Mutex<Option<(Timestamp, Option<String>)>>,
}

/// What [`Console::new`] takes.
pub struct ConsoleParts {
    pub owner_id: String,
    pub public_url: Option<String>,
    pub accounts_base: String,
    pub scopes: Vec<&'static str>,
    pub spotify: SpotifyClient,
    pub shared: Option<Arc<dyn SharedState>>,
    pub tokens: TokenKeeper,
    /// The store whose document holds `console_key`: the credentials, or its own secret.
    pub key_store: Arc<dyn CredentialStore>,
    pub report: report::Inputs,
}

impl Console {
    pub fn new(p: ConsoleParts) -> Console {
        Console {
            owner_id: p.owner_id,
            public_url: p.public_url.map(|u| u.trim_end_matches('/').to_string()),
            accounts_base: p.accounts_base,
            scopes: p.scopes,
            spotify: p.spotify,
            credentials: p.report.credentials.clone(),
            key_store: p.key_store,
            shared: p.shared,
            privacy: p.report.privacy.clone(),
            tokens: p.tokens,
            clock: p.report.clock.clone(),
            report: p.report,
            keys: tokio::sync::OnceCell::new(),
            stored_app: tokio::sync::Mutex::new(None),
        }
    }
}

/// Creates the `console_key` in the stored document when it has none (`nowplaying serve`, before
/// it serves; on AWS the template creates it with the secret). Returns whether it wrote.
pub async fn ensure_console_key(store: &dyn CredentialStore) -> Result<bool, StoreError> {
    let existing = store.load().await?;
    if existing
        .as_ref()
        .and_then(|c| c.extra.get(CONSOLE_KEY_FIELD))
        .and_then(|v| v.as_str())
        .is_some_and(|k| k.len() >= keys::MIN_KEY_LEN)
    {
        return Ok(false);
    }
    let mut doc = existing.unwrap_or_default();
    doc.extra.insert(
        CONSOLE_KEY_FIELD.into(),
        serde_json::Value::String(keys::new_console_key().expose().to_string()),
    );
    store.save(&doc).await?;
    Ok(true)
}

/// The console's routes, with their own headers; merged into the Router when the console is on.
pub fn router(console: Arc<Console>) -> Router {
    Router::new()
        .route("/owner", get(home))
        .route("/owner/", get(home))
        .route("/owner/console.css", get(css))
        .route(
            "/owner/signin",
            get(sign_in::signin_get).post(sign_in::signin_post),
        )
        .route("/owner/callback", get(sign_in::callback))
        .route("/owner/hide", post(actions::hide))
        .route("/owner/show", post(actions::show))
        .route("/owner/disconnect", post(actions::disconnect))
        .route("/owner/signout", post(actions::signout))
        .route("/owner/status.json", get(actions::status_json))
        .layer(DefaultBodyLimit::max(8 * 1024))
        .layer(axum::middleware::map_response_with_state(
            console.clone(),
            security_headers,
        ))
        .with_state(console)
}

/// Every answer: never cached, never framed, nothing from elsewhere.
async fn security_headers(State(c): State<Arc<Console>>, mut resp: Response) -> Response {
    let h = resp.headers_mut();
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    // The sign-in form's POST answers with a redirect to Spotify, which `form-action` covers.
    let accounts = origin_of(&c.accounts_base).unwrap_or_default();
    let csp = format!(
        "default-src 'none'; style-src 'self'; img-src 'self'; base-uri 'none'; form-action 'self' {accounts}; frame-ancestors 'none'"
    );
    if let Ok(v) = HeaderValue::from_str(csp.trim()) {
        h.insert(header::CONTENT_SECURITY_POLICY, v);
    }
    h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    h.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("same-origin"),
    );
    resp
}

fn origin_of(url: &str) -> Option<String> {
    let u = url::Url::parse(url).ok()?;
    Some(u.origin().ascii_serialization())
}

/// Where this console is, as the browser sees it.
struct Base {
    url: String,
    origin: String,
    /// Cookies carry `Secure` (everything but plain http on loopback).
    secure: bool,
}

impl Base {
    fn callback(&self) -> String {
        format!("{}/owner/callback", self.url)
    }
}

/// An answer that ends the request early: an HTML page (or JSON for `status.json`).
struct Refusal {
    status: StatusCode,
    title: &'static str,
    reason: String,
}

fn refuse(status: StatusCode, title: &'static str, reason: impl Into<String>) -> Refusal {
    Refusal {
        status,
        title,
        reason: reason.into(),
    }
}

impl IntoResponse for Refusal {
    fn into_response(self) -> Response {
        html(self.status, page::refusal(self.title, &self.reason))
    }
}

impl Refusal {
    fn json(self) -> Response {
        (
            self.status,
            axum::Json(serde_json::json!({"error": self.reason})),
        )
            .into_response()
    }
}

fn html(status: StatusCode, body: String) -> Response {
    (
        status,
        [(header::CONTENT_TYPE, "text/html; charset=utf-8")],
        body,
    )
        .into_response()
}

fn see_other(to: &str) -> Response {
    let mut r = StatusCode::SEE_OTHER.into_response();
    if let Ok(v) = HeaderValue::from_str(to) {
        r.headers_mut().insert(header::LOCATION, v);
    }
    r
}

fn unavailable(e: impl std::fmt::Display) -> Refusal {
    tracing::warn!(error = %e, "owner console: a store is unavailable");
    refuse(
        StatusCode::SERVICE_UNAVAILABLE,
        "Try again",
        format!("The credentials store could not be read or written ({e}); nothing was changed. Try again in a minute."),
    )
}

impl Console {
    fn now(&self) -> Timestamp {
        self.clock.now()
    }

    /// The base URL: `PUBLIC_URL`, else (on Lambda) the domain API Gateway names in the request
    /// context.
    fn base(&self, parts: &Parts) -> Result<Base, Refusal> {
        let url = match &self.public_url {
            Some(u) => u.clone(),
            None => lambda_domain(parts)
                .map(|d| format!("https://{d}"))
                .ok_or_else(|| {
                    refuse(
                        StatusCode::INTERNAL_SERVER_ERROR,
                        "Not configured",
                        "PUBLIC_URL is not set and this request did not come through API Gateway: set PUBLIC_URL to the service's public base URL.",
                    )
                })?,
        };
        let parsed = url::Url::parse(&url).map_err(|_| {
            refuse(
                StatusCode::INTERNAL_SERVER_ERROR,
                "Not configured",
                "PUBLIC_URL is not a URL",
            )
        })?;
        let loopback = matches!(
            parsed.host(),
            Some(url::Host::Ipv4(ip)) if ip.is_loopback()
        ) || matches!(parsed.host(), Some(url::Host::Ipv6(ip)) if ip.is_loopback())
            || parsed.host_str() == Some("localhost");
        Ok(Base {
            origin: parsed.origin().ascii_serialization(),
            secure: !(parsed.scheme() == "http" && loopback),
            url,
        })
    }

    /// The stored app's client id (`None`: no app yet), for the pages anyone can load without a
    /// session (the signed-out view, the sign-in link): read at most once per
    /// [`STORED_APP_RECHECK`] by this process, however many visitors ask, since each read of a
    /// secret is billed. A sign-in or a disconnect through this process forgets it.
    async fn stored_client_id(&self) -> Result<Option<String>, Refusal> {
        let mut last = self.stored_app.lock().await;
        let now = self.now();
        if let Some((at, id)) = &*last {
            if now.since(*at) < STORED_APP_RECHECK && *at <= now {
                return Ok(id.clone());
            }
        }
        let stored = self.credentials.load().await.map_err(unavailable)?;
        let id = stored
            .filter(|s| !s.client_id.is_empty() && !s.client_secret.is_empty())
            .map(|s| s.client_id);
        *last = Some((now, id.clone()));
        Ok(id)
    }

    /// Forgets the read of the stored app (the owner just changed it).
    async fn forget_stored_app(&self) {
        *self.stored_app.lock().await = None;
    }

    /// The console's keys, read once from the `console_key` of the key store's document.
    async fn keys(&self) -> Result<&Keys, Refusal> {
        self.keys
            .get_or_try_init(|| async {
                let doc = self.key_store.load().await.map_err(unavailable)?;
                let key = doc
                    .as_ref()
                    .and_then(|c| c.extra.get(CONSOLE_KEY_FIELD))
                    .and_then(|v| v.as_str())
                    .map(Secret::new);
                key.as_ref().and_then(Keys::from_console_key).ok_or_else(|| {
                    refuse(
                        StatusCode::SERVICE_UNAVAILABLE,
                        "Console key missing",
                        format!(
                            "The {} holds no console_key (a random string of at least {} characters), which the console signs and seals with. The template creates it in a secret of its own (CONSOLE_KEY_SECRET_ID); `nowplaying serve` creates it in the local file. Add one, e.g. the output of `openssl rand -base64 32`.",
                            self.key_store.describe(),
                            keys::MIN_KEY_LEN
                        ),
                    )
                })
            })
            .await
    }

    /// The owner session the request carries, checked: signature, lifetime, and that it names the
    /// sign-in stored now (a new sign-in or a disconnect ends it). `Ok(None)`: no valid session.
    async fn session(
        &self,
        headers: &HeaderMap,
    ) -> Result<Option<(SessionClaims, Credentials)>, Refusal> {
        let Some(raw) = cookies::get(headers, cookies::SESSION) else {
            return Ok(None);
        };
        let keys = self.keys().await?;
        let Some(claims) = keys.verify::<SessionClaims>(SESSION_PURPOSE, raw) else {
            return Ok(None);
        };
        let now = self.now();
        // (A session issued up to a minute "ahead" is a clock a little fast, not a forgery.)
        if claims.exp <= now
            || claims.iat > now + Duration::from_secs(60)
            || claims.exp > claims.iat + SESSION_TTL
        {
            return Ok(None);
        }
        let stored = self.credentials.load().await.map_err(unavailable)?;
        match stored {
            Some(c)
                if c.is_complete() && c.authorized_at.as_deref() == Some(claims.at.as_str()) =>
            {
                Ok(Some((claims, c)))
            }
            _ => Ok(None),
        }
    }

    /// A POST's guard: a valid session (else `401`), the console's own `Origin` (else `403`;
    /// a missing one too) and the session's CSRF token (else `403`).
    async fn guard(&self, parts: &Parts, body: &str) -> Result<(Base, SessionClaims), Refusal> {
        let base = self.base(parts)?;
        let Some((claims, _)) = self.session(&parts.headers).await? else {
            return Err(refuse(
                StatusCode::UNAUTHORIZED,
                "Not signed in",
                "This needs the owner's session: sign in with Spotify first. Nothing was changed.",
            ));
        };
        check_origin(parts, &base)?;
        let form = form(body);
        if !form
            .get("csrf")
            .is_some_and(|t| keys::same(t, &claims.csrf))
        {
            return Err(refuse(
                StatusCode::FORBIDDEN,
                "Refused",
                "The form's CSRF token is missing or does not belong to this session: reload the console and try again. Nothing was changed.",
            ));
        }
        Ok((base, claims))
    }

    async fn report(&self) -> Report {
        report::build(&self.report).await
    }
}

fn lambda_domain(parts: &Parts) -> Option<String> {
    use lambda_http::request::RequestContext;
    match parts.extensions.get::<RequestContext>()? {
        RequestContext::ApiGatewayV2(ctx) => ctx.domain_name.clone(),
        RequestContext::ApiGatewayV1(ctx) => ctx.domain_name.clone(),
        _ => None,
    }
    .filter(|d| {
        !d.is_empty()
            && d.chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-'))
    })
}

/// The stored sign-in's moment, epoch seconds.
fn authorized_at_secs(c: &Credentials) -> Option<u64> {
    let at = time::OffsetDateTime::parse(
        c.authorized_at.as_deref()?,
        &time::format_description::well_known::Rfc3339,
    )
    .ok()?;
    u64::try_from(at.unix_timestamp()).ok()
}

fn check_origin(parts: &Parts, base: &Base) -> Result<(), Refusal> {
    let origin = parts
        .headers
        .get(header::ORIGIN)
        .and_then(|v| v.to_str().ok());
    match origin {
        Some(o) if o.eq_ignore_ascii_case(&base.origin) => Ok(()),
        Some(_) => Err(refuse(
            StatusCode::FORBIDDEN,
            "Refused",
            "This request comes from another site (Origin): refused; nothing was changed.",
        )),
        None => Err(refuse(
            StatusCode::FORBIDDEN,
            "Refused",
            "This request carries no Origin header: refused; nothing was changed.",
        )),
    }
}

fn form(body: &str) -> HashMap<String, String> {
    url::form_urlencoded::parse(body.as_bytes())
        .into_owned()
        .collect()
}

/// The fixed notices the console shows after a redirect (`/owner?done=…`): nothing echoed.
fn notice(done: Option<&str>) -> Option<&'static str> {
    Some(match done? {
        "signedin" => "Signed in: the new sign-in is stored and every earlier session has ended.",
        "hidden" => "Hidden: /api/spotify answers null within one cache window.",
        "shown" => "Shown: /api/spotify shows what you play again within one cache window.",
        "disconnected" => "Disconnected: the refresh token is removed and every session has ended; /api/spotify answers null within one cache window. Sign in again to reconnect.",
        "signedout" => "Signed out.",
        _ => return None,
    })
}

#[derive(Deserialize)]
struct HomeQuery {
    done: Option<String>,
}

async fn css() -> Response {
    (
        [(header::CONTENT_TYPE, "text/css; charset=utf-8")],
        page::CSS,
    )
        .into_response()
}

/// Through the CDN (which forwards no cookies), on Lambda: the console's own address instead, where
/// its callback and cookies are.
fn via_cdn(c: &Console, parts: &Parts, base: &Base) -> Option<Response> {
    (c.public_url.is_none() && parts.headers.contains_key("x-amz-cf-id"))
        .then(|| see_other(&format!("{}{}", base.url, parts.uri.path())))
}

async fn home(State(c): State<Arc<Console>>, parts: Parts) -> Result<Response, Refusal> {
    let base = c.base(&parts)?;
    if let Some(r) = via_cdn(&c, &parts, &base) {
        return Ok(r);
    }
    let q: HomeQuery = Query::try_from_uri(&parts.uri)
        .map(|Query(q)| q)
        .unwrap_or(HomeQuery { done: None });
    let notice = notice(q.done.as_deref());
    c.keys().await?;
    if let Some((claims, _)) = c.session(&parts.headers).await? {
        let report = c.report().await;
        return Ok(html(
            StatusCode::OK,
            page::signed_in(&report, &claims.csrf, &c.owner_id, notice),
        ));
    }
    let has_app = c.stored_client_id().await?.is_some();
    Ok(html(
        StatusCode::OK,
        page::signed_out(&page::SignedOut {
            owner_id: &c.owner_id,
            callback_url: &base.callback(),
            has_app,
            notice,
        }),
    ))
}
