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

mod cookies;
pub mod keys;
mod page;

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::{DefaultBodyLimit, Query, State};
use axum::http::{header, request::Parts, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use serde::Deserialize;

use crate::clock::{SharedClock, Timestamp};
use crate::owner::PrivacySwitch;
use crate::report::{self, Report};
use crate::secret::Secret;
use crate::spotify::{SpotifyClient, SpotifyError};
use crate::store::{CredentialStore, Credentials, SharedState, StoreError};
use crate::tokens::TokenKeeper;

use keys::{App, Keys, Pending, SessionClaims, CONSOLE_KEY_FIELD};

/// How long a sign-in in progress lasts.
pub const SIGN_IN_TTL: Duration = Duration::from_secs(10 * 60);
/// How long an owner session lasts at most.
pub const SESSION_TTL: Duration = Duration::from_secs(12 * 3600);

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
    /// The shared table, when there is one (the sign-in's lease and generation live there).
    shared: Option<Arc<dyn SharedState>>,
    privacy: PrivacySwitch,
    tokens: TokenKeeper,
    clock: SharedClock,
    report: report::Inputs,
    keys: tokio::sync::OnceCell<Keys>,
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
            shared: p.shared,
            privacy: p.report.privacy.clone(),
            tokens: p.tokens,
            clock: p.report.clock.clone(),
            report: p.report,
            keys: tokio::sync::OnceCell::new(),
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
        .route("/owner/signin", get(signin_get).post(signin_post))
        .route("/owner/callback", get(callback))
        .route("/owner/hide", axum::routing::post(hide))
        .route("/owner/show", axum::routing::post(show))
        .route("/owner/disconnect", axum::routing::post(disconnect))
        .route("/owner/signout", axum::routing::post(signout))
        .route("/owner/status.json", get(status_json))
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

    /// The console's keys, read once from the stored document's `console_key`.
    async fn keys(&self) -> Result<&Keys, Refusal> {
        self.keys
            .get_or_try_init(|| async {
                let doc = self.credentials.load().await.map_err(unavailable)?;
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
                            "The {} holds no console_key (a random string of at least {} characters), which the console signs and seals with. The template creates it with the secret; `nowplaying serve` creates it in the local file. Add one, e.g. the output of `openssl rand -base64 32`.",
                            self.credentials.describe(),
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
        let now = self.now().as_millis();
        let ttl = SESSION_TTL.as_millis() as u64;
        if claims.exp <= now || claims.iat > now + 60_000 || claims.exp > claims.iat + ttl {
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
    let stored = c.credentials.load().await.map_err(unavailable)?;
    let has_app = stored
        .as_ref()
        .is_some_and(|s| !s.client_id.is_empty() && !s.client_secret.is_empty());
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

/// Starts a sign-in with the stored app (the "Sign in" and "Renew" links).
async fn signin_get(State(c): State<Arc<Console>>, parts: Parts) -> Result<Response, Refusal> {
    let base = c.base(&parts)?;
    if let Some(r) = via_cdn(&c, &parts, &base) {
        return Ok(r);
    }
    c.keys().await?;
    let stored = c.credentials.load().await.map_err(unavailable)?;
    let Some(app) = stored
        .filter(|s| !s.client_id.is_empty() && !s.client_secret.is_empty())
        .map(|s| App {
            client_id: s.client_id,
            client_secret: s.client_secret,
        })
    else {
        return Err(refuse(
            StatusCode::CONFLICT,
            "No Spotify app yet",
            "No client id and secret are stored yet: enter them in the console's first-setup form.",
        ));
    };
    c.start(&base, app, false).await
}

/// The first-setup form (or "use another app"): the app's credentials travel sealed in the
/// sign-in cookie and are stored only after the owner's sign-in with them.
async fn signin_post(
    State(c): State<Arc<Console>>,
    parts: Parts,
    body: String,
) -> Result<Response, Refusal> {
    let base = c.base(&parts)?;
    check_origin(&parts, &base)?;
    let f = form(&body);
    let client_id = f.get("client_id").map(|s| s.trim()).unwrap_or("");
    let client_secret = f.get("client_secret").map(|s| s.trim()).unwrap_or("");
    let plausible = |s: &str, max: usize| {
        !s.is_empty()
            && s.len() <= max
            && s.chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
    };
    if !plausible(client_id, 128) || !plausible(client_secret, 256) {
        return Err(refuse(
            StatusCode::BAD_REQUEST,
            "Check the form",
            "The client id and the client secret are both needed, as the Spotify developer dashboard shows them (letters and digits). Nothing was stored.",
        ));
    }
    c.keys().await?;
    let app = App {
        client_id: client_id.to_string(),
        client_secret: Secret::new(client_secret),
    };
    c.start(&base, app, true).await
}

impl Console {
    /// 303 to Spotify's authorize page, the sign-in sealed into its cookie. Writes nothing.
    async fn start(&self, base: &Base, app: App, carry_app: bool) -> Result<Response, Refusal> {
        let keys = self.keys().await?;
        let (verifier, challenge) = crate::signin::pkce();
        let state = crate::signin::random_state();
        let now = self.now();
        let pending = Pending {
            state: state.clone(),
            verifier,
            redirect_uri: base.callback(),
            iat: now.as_millis(),
            exp: (now + SIGN_IN_TTL).as_millis(),
            app: carry_app.then(|| app.clone()),
        };
        let url = crate::signin::authorization_url(
            &self.accounts_base,
            &app.client_id,
            &pending.redirect_uri,
            &self.scopes,
            &state,
            &challenge,
        );
        let mut r = see_other(&url);
        r.headers_mut().append(
            header::SET_COOKIE,
            cookies::set(
                cookies::SIGN_IN,
                &keys.seal(SIGN_IN_PURPOSE, &pending),
                SIGN_IN_TTL.as_secs(),
                "Lax",
                base.secure,
            ),
        );
        Ok(r)
    }
}

#[derive(Deserialize)]
struct CallbackQuery {
    code: Option<String>,
    state: Option<String>,
    error: Option<String>,
}

async fn callback(State(c): State<Arc<Console>>, parts: Parts) -> Response {
    let base = match c.base(&parts) {
        Ok(b) => b,
        Err(r) => return r.into_response(),
    };
    let mut r = match c.complete(&base, &parts).await {
        Ok(r) => r,
        Err(refusal) => refusal.into_response(),
    };
    // Whatever happened, this sign-in is over.
    r.headers_mut().append(
        header::SET_COOKIE,
        cookies::clear(cookies::SIGN_IN, "Lax", base.secure),
    );
    r
}

impl Console {
    /// Checks the callback against its sign-in, then (only then) asks Spotify, checks who signed
    /// in, stores the sign-in and opens a session.
    async fn complete(&self, base: &Base, parts: &Parts) -> Result<Response, Refusal> {
        let q: CallbackQuery = Query::try_from_uri(&parts.uri)
            .map(|Query(q)| q)
            .map_err(|_| {
                refuse(
                    StatusCode::BAD_REQUEST,
                    "Sign-in refused",
                    "This callback's query cannot be read. Nothing was stored.",
                )
            })?;
        let keys = self.keys().await?;
        let refused = |reason: &str| {
            refuse(
                StatusCode::BAD_REQUEST,
                "Sign-in refused",
                format!("{reason} Nothing was stored and Spotify was not asked; start again from the console."),
            )
        };
        let Some(raw) = cookies::get(&parts.headers, cookies::SIGN_IN) else {
            return Err(refused(
                "No sign-in was started in this browser (its cookie is missing or expired).",
            ));
        };
        let Some(pending) = keys.open::<Pending>(SIGN_IN_PURPOSE, raw) else {
            return Err(refused(
                "The sign-in cookie is damaged or was not made by this console.",
            ));
        };
        let now = self.now();
        if pending.exp <= now.as_millis() {
            return Err(refused("This sign-in expired (it lasts 10 minutes)."));
        }
        if !q
            .state
            .as_deref()
            .is_some_and(|s| keys::same(s, &pending.state))
        {
            return Err(refused("The state in Spotify's redirect does not match the sign-in started in this browser."));
        }
        if pending.redirect_uri != base.callback() {
            return Err(refused("This sign-in was started under another address."));
        }
        if let Some(error) = q.error.as_deref() {
            let text: String = error
                .chars()
                .filter(|c| c.is_ascii_graphic())
                .take(60)
                .collect();
            return Err(refuse(
                StatusCode::FORBIDDEN,
                "Not signed in",
                if text == "access_denied" {
                    "You declined the access on Spotify's page. Nothing was stored.".to_string()
                } else {
                    format!("Spotify refused the sign-in ({text}). Nothing was stored.")
                },
            ));
        }
        let Some(code) = q.code.as_deref().filter(|c| !c.is_empty()) else {
            return Err(refused(
                "Spotify's redirect carried neither a code nor an error.",
            ));
        };
        // A sign-in that was already used (its cookie replayed): a newer sign-in is stored.
        let stored = self.credentials.load().await.map_err(unavailable)?;
        let stored_at = stored.as_ref().and_then(authorized_at_secs);
        // (A stored moment ahead of this clock, from a machine whose clock runs fast, is not held
        // against the owner: Spotify spends each code once anyway.)
        if stored_at.is_some_and(|at| {
            Timestamp::from_millis(pending.iat).as_secs() <= at && at <= now.as_secs()
        }) {
            return Err(refused(
                "This sign-in was already used: a sign-in at least as new is stored.",
            ));
        }
        let app = match pending.app.clone().or_else(|| {
            stored
                .as_ref()
                .filter(|s| !s.client_id.is_empty() && !s.client_secret.is_empty())
                .map(|s| App {
                    client_id: s.client_id.clone(),
                    client_secret: s.client_secret.clone(),
                })
        }) {
            Some(app) => app,
            None => {
                return Err(refused(
                    "No Spotify app is stored and this sign-in carried none.",
                ))
            }
        };
        self.finish(base, &pending, app, code, stored).await
    }

    async fn finish(
        &self,
        base: &Base,
        pending: &Pending,
        app: App,
        code: &str,
        stored: Option<Credentials>,
    ) -> Result<Response, Refusal> {
        let failed = |status: StatusCode, reason: String| refuse(status, "Not signed in", reason);
        let grant = self
            .spotify
            .exchange_code(
                &app.client_id,
                &app.client_secret,
                code,
                &pending.redirect_uri,
                pending.verifier.expose(),
            )
            .await
            .map_err(|e| match e {
                SpotifyError::InvalidClient => failed(StatusCode::BAD_REQUEST, "Spotify rejected the client id or secret (invalid_client): check them in the Spotify developer dashboard. Nothing was stored.".into()),
                SpotifyError::InvalidGrant => failed(StatusCode::BAD_REQUEST, format!("Spotify did not accept the authorization code (invalid_grant): check that the redirect URI {} is registered exactly so, then sign in again. Nothing was stored.", pending.redirect_uri)),
                e => failed(StatusCode::BAD_GATEWAY, format!("Could not exchange the authorization code ({e}). Nothing was stored.")),
            })?;
        let (Some(refresh_token), Some(access_token)) = (grant.refresh_token, grant.access_token)
        else {
            return Err(failed(
                StatusCode::BAD_GATEWAY,
                "Spotify's answer held no refresh or access token. Nothing was stored.".into(),
            ));
        };
        let id = self.spotify.me(&access_token).await.map_err(|e| {
            failed(
                StatusCode::BAD_GATEWAY,
                format!("Could not ask Spotify who signed in ({e}). Nothing was stored."),
            )
        })?;
        if id != self.owner_id {
            tracing::warn!(
                alert = "owner_console_refused",
                "owner console: a sign-in by another Spotify account was refused"
            );
            return Err(refuse(
                StatusCode::FORBIDDEN,
                "Not the owner",
                format!(
                    "You signed in with the Spotify account \"{id}\", which is not this service's owner. Nothing was stored."
                ),
            ));
        }
        let sign_in = crate::owner::SignIn {
            client_id: app.client_id,
            client_secret: app.client_secret,
            refresh_token,
            scope: grant.scope.unwrap_or_else(|| self.scopes.join(" ")),
        };
        let clock = self.clock.clone();
        let (saved, replaced) = crate::owner::store_sign_in(
            self.credentials.as_ref(),
            self.shared.as_deref(),
            stored,
            &sign_in,
            move || clock.now(),
        )
        .await
        .map_err(|e| {
            failed(
                StatusCode::SERVICE_UNAVAILABLE,
                format!("{e}. Nothing was stored; try again."),
            )
        })?;
        if let Some(e) = replaced.shared_error {
            tracing::warn!(error = %e, "owner console: stored the sign-in, but could not clear the shared token items");
        }
        self.tokens.forget();
        tracing::info!("owner console: the owner signed in; the new sign-in is stored");
        let keys = self.keys().await?;
        let now = self.now();
        let claims = SessionClaims {
            at: saved.authorized_at.unwrap_or_default(),
            iat: now.as_millis(),
            exp: (now + SESSION_TTL).as_millis(),
            csrf: keys::random_token(),
        };
        // A page that navigates to /owner itself: after Spotify's cross-site redirect, a
        // `SameSite=Strict` cookie is sent only with a navigation this site starts.
        let mut r = html(
            StatusCode::OK,
            page::document(
                "Signed in",
                "<h1>Signed in</h1><p><a class=\"button primary\" href=\"/owner?done=signedin\">Open the console</a></p>",
                Some("/owner?done=signedin"),
            ),
        );
        r.headers_mut().append(
            header::SET_COOKIE,
            cookies::set(
                cookies::SESSION,
                &keys.sign(SESSION_PURPOSE, &claims),
                SESSION_TTL.as_secs(),
                "Strict",
                base.secure,
            ),
        );
        Ok(r)
    }
}

async fn hide(
    State(c): State<Arc<Console>>,
    parts: Parts,
    body: String,
) -> Result<Response, Refusal> {
    c.switch(&parts, &body, true).await
}

async fn show(
    State(c): State<Arc<Console>>,
    parts: Parts,
    body: String,
) -> Result<Response, Refusal> {
    c.switch(&parts, &body, false).await
}

impl Console {
    async fn switch(&self, parts: &Parts, body: &str, hide: bool) -> Result<Response, Refusal> {
        self.guard(parts, body).await?;
        self.privacy
            .set(hide, self.now())
            .await
            .map_err(|e| refuse(StatusCode::SERVICE_UNAVAILABLE, "Try again", e))?;
        tracing::info!(hidden = hide, "owner console: privacy switch changed");
        Ok(see_other(if hide {
            "/owner?done=hidden"
        } else {
            "/owner?done=shown"
        }))
    }
}

async fn disconnect(
    State(c): State<Arc<Console>>,
    parts: Parts,
    body: String,
) -> Result<Response, Refusal> {
    let (base, _) = c.guard(&parts, &body).await?;
    let clock = c.clock.clone();
    let done = crate::owner::disconnect(c.credentials.as_ref(), c.shared.as_deref(), move || {
        clock.now()
    })
    .await
    .map_err(|e| {
        refuse(
            StatusCode::SERVICE_UNAVAILABLE,
            "Try again",
            format!("Could not remove the refresh token ({e}); nothing was changed."),
        )
    })?;
    if let Some(e) = done
        .replaced
        .and_then(|r| r.shared_error)
        .or(done.clear_error)
    {
        tracing::warn!(error = %e, "owner console: disconnected, but could not clear the shared token items");
    }
    c.tokens.forget();
    tracing::info!("owner console: disconnected");
    let mut r = see_other("/owner?done=disconnected");
    r.headers_mut().append(
        header::SET_COOKIE,
        cookies::clear(cookies::SESSION, "Strict", base.secure),
    );
    Ok(r)
}

async fn signout(
    State(c): State<Arc<Console>>,
    parts: Parts,
    body: String,
) -> Result<Response, Refusal> {
    let (base, _) = c.guard(&parts, &body).await?;
    let mut r = see_other("/owner?done=signedout");
    r.headers_mut().append(
        header::SET_COOKIE,
        cookies::clear(cookies::SESSION, "Strict", base.secure),
    );
    Ok(r)
}

/// The report as JSON, for scripts (with the session cookie).
async fn status_json(State(c): State<Arc<Console>>, parts: Parts) -> Response {
    let signed_in = match c.keys().await {
        Ok(_) => c.session(&parts.headers).await,
        Err(e) => Err(e),
    };
    match signed_in {
        Ok(Some(_)) => {
            let report = c.report().await;
            let mut v = serde_json::to_value(&report).unwrap_or_default();
            v["verdict"] = serde_json::Value::String(report.verdict());
            v["ownerSpotifyId"] = serde_json::Value::String(c.owner_id.clone());
            axum::Json(v).into_response()
        }
        Ok(None) => refuse(
            StatusCode::UNAUTHORIZED,
            "Not signed in",
            "this needs the owner's session cookie: sign in at /owner",
        )
        .json(),
        Err(e) => e.json(),
    }
}
