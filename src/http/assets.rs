//! Serving the widget script and the preview page (compiled in, see `crate::assets`).

use axum::http::HeaderMap;
use axum::response::Response;

use super::respond::cacheable;
use crate::assets::{INDEX_HTML, WIDGET_JS};

/// `GET /widget.js`: the web components.
pub async fn widget(headers: HeaderMap) -> Response {
    cacheable(
        &headers,
        WIDGET_JS.as_bytes().to_vec(),
        "text/javascript; charset=utf-8",
        "public, max-age=3600",
    )
}

/// `GET /`: the preview page.
pub async fn index(headers: HeaderMap) -> Response {
    cacheable(
        &headers,
        INDEX_HTML.as_bytes().to_vec(),
        "text/html; charset=utf-8",
        "public, max-age=300",
    )
}
