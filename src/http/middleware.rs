//! What every answer gets: with `CDN_ORIGIN_SECRET`, the check that it came through the CDN; CORS
//! from `ALLOWED_ORIGINS`, `nosniff`, the preflight, `405`/`404`, and, on Lambda, no answer while
//! a refresh in this process may hold a new refresh token.

use std::time::Duration;

use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{header, HeaderMap, HeaderValue, Method, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use super::respond::{ApiError, ALLOW, ALLOW_PAGE};
use super::SharedApp;
use crate::clock::{Clock, SystemClock, Timestamp};
use crate::config::{AllowedOrigins, ORIGIN_SECRET_HEADER};
use sha2::Digest as _;

/// Kept free before the invocation's deadline for sending the answer.
const DEADLINE_MARGIN: Duration = Duration::from_millis(500);

/// CORS and `X-Content-Type-Options: nosniff` on every answer.
pub async fn headers(State(app): State<SharedApp>, req: Request, next: Next) -> Response {
    let origin = req
        .headers()
        .get(header::ORIGIN)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    let mut resp: Response<Body> = next.run(req).await;
    let h = resp.headers_mut();
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
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

/// With `CDN_ORIGIN_SECRET` set (the template sets it with its CDN), a request without the
/// secret in [`ORIGIN_SECRET_HEADER`], which CloudFront adds to every request it forwards and
/// replaces when a visitor sends one, is answered `403` before anything else runs: no cache, no
/// table, no Spotify. The owner's console (`/owner` and below) is exempt: it is opened at the
/// API's own address and guards itself (Spotify sign-in, session, `Origin`, CSRF).
pub async fn through_cdn_only(State(app): State<SharedApp>, req: Request, next: Next) -> Response {
    let Some(secret) = &app.cdn_origin_secret else {
        return next.run(req).await;
    };
    let path = req.uri().path();
    if path == "/owner" || path.starts_with("/owner/") {
        return next.run(req).await;
    }
    // Digests of equal length compared: the time taken says nothing about the secret.
    let digest = |b: &[u8]| sha2::Sha256::digest(b);
    let presented = req
        .headers()
        .get(ORIGIN_SECRET_HEADER)
        .map(|v| v.as_bytes());
    if presented.is_some_and(|p| digest(p) == digest(secret.expose().as_bytes())) {
        return next.run(req).await;
    }
    let mut refused = ApiError::Forbidden(
        "this API answers only through its CDN: use the stack's CdnUrl / CdnBaseUrl".to_string(),
    )
    .into_response();
    refused.headers_mut().insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    refused
}

/// On Lambda (the request carries the invocation's context), nothing runs after the answer is
/// sent: wait for a refresh running in this process, up to the invocation's deadline minus a
/// margin, so a rotated refresh token reaches the stores first. `serve` does not wait (its
/// refresh tasks go on by themselves).
pub async fn settle_before_answering(
    State(app): State<SharedApp>,
    req: Request,
    next: Next,
) -> Response {
    // The context's deadline is epoch milliseconds by the wall clock.
    let deadline = req
        .extensions()
        .get::<lambda_http::Context>()
        .map(|c| Timestamp::from_millis(c.deadline));
    let resp = next.run(req).await;
    if let Some(deadline) = deadline {
        let left = SystemClock
            .now()
            .until(deadline)
            .saturating_sub(DEADLINE_MARGIN);
        if !app.tokens.settle(tokio::time::Instant::now() + left).await {
            tracing::error!(
                "the invocation's deadline came while a token refresh was still running; raise the function's Timeout (see docs/deploy-aws.md)"
            );
        }
    }
    resp
}

/// The request headers a cross-origin caller may send: the only one the API reads beyond the
/// CORS-safelisted ones.
pub const PREFLIGHT_HEADERS: &str = "if-none-match";

/// `OPTIONS`: the CORS preflight, `204`.
pub async fn preflight(State(app): State<SharedApp>, headers: HeaderMap) -> Response {
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
        // Only what the API reads, whatever the request asks for (never an echo).
        h.insert(
            header::ACCESS_CONTROL_ALLOW_HEADERS,
            HeaderValue::from_static(PREFLIGHT_HEADERS),
        );
        h.insert(
            header::ACCESS_CONTROL_MAX_AGE,
            HeaderValue::from_static("86400"),
        );
    }
    resp
}

/// Another method on an API path.
pub async fn method_not_allowed(method: Method) -> ApiError {
    ApiError::MethodNotAllowed(method, ALLOW)
}

/// Another method on the page or the script, `OPTIONS` included.
pub async fn page_method_not_allowed(method: Method) -> ApiError {
    ApiError::MethodNotAllowed(method, ALLOW_PAGE)
}

pub async fn not_found(req: Request) -> ApiError {
    let path: String = req.uri().path().chars().take(200).collect();
    ApiError::NotFound(format!("no such endpoint: {path}; try GET /api/spotify"))
}
