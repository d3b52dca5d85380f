//! Responses: cacheable answers (ETag, `304`, `Cache-Control` from the cache window) and the one
//! error type every handler returns.

use std::time::Duration;

use axum::http::{header, HeaderMap, HeaderValue, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::json;
use sha2::Digest;

use super::params::ParamError;
use crate::cache::Answer;

/// A browser or CDN may keep serving an old answer this long while Spotify or we fail.
const STALE_IF_ERROR: Duration = Duration::from_secs(300);
/// The methods of the API paths (the CORS preflight is answered there).
pub(super) const ALLOW: &str = "GET, HEAD, OPTIONS";
/// The methods of the page and the script (`/`, `/widget.js`): no preflight is ever needed for
/// them (a module script's `GET` is a simple request), so `OPTIONS` is not offered.
pub(super) const ALLOW_PAGE: &str = "GET, HEAD";

/// Every error the HTTP surface answers: a JSON body `{"error": ...}`, never cached.
#[derive(Debug)]
pub enum ApiError {
    /// A query parameter that cannot be used: `400` naming it and what it accepts.
    Param(ParamError),
    /// The same for an image (a card): `400` with an SVG error card that says it, so a README
    /// author sees what is wrong where the card should be.
    CardParam(ParamError),
    BadRequest(String),
    NotFound(String),
    /// `403`: the request may not be answered here (it did not come through the CDN).
    Forbidden(String),
    /// Another method than the path's: `405` with its `Allow` ([`ALLOW`] or [`ALLOW_PAGE`]).
    MethodNotAllowed(Method, &'static str),
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let (status, body) = match self {
            ApiError::Param(e) => (StatusCode::BAD_REQUEST, e.to_json()),
            ApiError::CardParam(e) => {
                let svg = crate::svg::render_error_card(&e.parameter, &e.message);
                let mut resp = (
                    StatusCode::BAD_REQUEST,
                    [(
                        header::CONTENT_TYPE,
                        HeaderValue::from_static("image/svg+xml; charset=utf-8"),
                    )],
                    svg,
                )
                    .into_response();
                resp.headers_mut()
                    .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
                resp.headers_mut().insert(
                    header::CONTENT_SECURITY_POLICY,
                    HeaderValue::from_static(super::cards::CARD_POLICY),
                );
                return resp;
            }
            ApiError::BadRequest(m) => (StatusCode::BAD_REQUEST, json!({ "error": m })),
            ApiError::NotFound(m) => (StatusCode::NOT_FOUND, json!({ "error": m })),
            ApiError::Forbidden(m) => (StatusCode::FORBIDDEN, json!({ "error": m })),
            ApiError::MethodNotAllowed(method, allow) => {
                let mut resp = ApiError::status_body(
                    StatusCode::METHOD_NOT_ALLOWED,
                    json!({ "error": format!("method {method} is not allowed here; use {allow}") }),
                );
                resp.headers_mut()
                    .insert(header::ALLOW, HeaderValue::from_static(allow));
                return resp;
            }
        };
        ApiError::status_body(status, body)
    }
}

impl ApiError {
    fn status_body(status: StatusCode, body: serde_json::Value) -> Response {
        let mut resp = (status, axum::Json(body)).into_response();
        resp.headers_mut()
            .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
        resp
    }
}

impl From<ParamError> for ApiError {
    fn from(e: ParamError) -> Self {
        ApiError::Param(e)
    }
}

/// A cacheable JSON answer: `Cache-Control` matched to what is left of its window, an `ETag`
/// over the body, and `304` when the client already has it.
pub fn json_answer(headers: &HeaderMap, answer: &Answer) -> Response {
    let body = serde_json::to_vec(&answer.value).expect("JSON value serialises");
    cacheable(headers, body, "application/json", &cache_control(answer))
}

/// `Cache-Control` for an answer: what is left of its window, then `stale-while-revalidate`
/// for one window and `stale-if-error`.
pub fn cache_control(answer: &Answer) -> String {
    let ttl_s = whole_seconds(answer.window);
    let max_age = whole_seconds(answer.served_at.until(answer.fresh_until)).min(ttl_s);
    let stale_if_error = STALE_IF_ERROR.as_secs();
    format!(
        "public, max-age={max_age}, s-maxage={max_age}, stale-while-revalidate={ttl_s}, stale-if-error={stale_if_error}"
    )
}

/// Returns a length in whole seconds for a header; a started second counts as one.
fn whole_seconds(d: Duration) -> u64 {
    u64::try_from(d.as_millis().div_ceil(1000)).unwrap_or(u64::MAX)
}

/// A `200` with `ETag` and `Cache-Control`, or a `304` when `If-None-Match` matches.
pub fn cacheable(
    headers: &HeaderMap,
    body: Vec<u8>,
    content_type: &'static str,
    cache_control: &str,
) -> Response {
    cacheable_keyed(headers, body, content_type, cache_control, "")
}

/// [`cacheable`] with an `ETag` over the body and `key` (a card's canonical parameters), so the
/// same answer drawn with other parameters has another tag.
pub fn cacheable_keyed(
    headers: &HeaderMap,
    body: Vec<u8>,
    content_type: &'static str,
    cache_control: &str,
    key: &str,
) -> Response {
    let mut hasher = sha2::Sha256::new();
    hasher.update(&body);
    if !key.is_empty() {
        hasher.update(b"\0");
        hasher.update(key.as_bytes());
    }
    let digest = hasher.finalize();
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
