//! Serving the widget script and the preview page (compiled in, see `crate::assets`), the page
//! with a Content-Security-Policy that allows exactly what it loads.

use std::sync::LazyLock;

use axum::extract::State;
use axum::http::{header, HeaderMap, HeaderValue};
use axum::response::Response;
use base64::Engine;
use sha2::Digest;

use super::respond::cacheable;
use super::SharedApp;
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
pub async fn index(State(app): State<SharedApp>, headers: HeaderMap) -> Response {
    let mut resp = cacheable(
        &headers,
        INDEX_HTML.as_bytes().to_vec(),
        "text/html; charset=utf-8",
        "public, max-age=300",
    );
    let policy = page_policy(app.urls.plain_http_origins());
    if let Ok(v) = HeaderValue::from_str(&policy) {
        resp.headers_mut()
            .insert(header::CONTENT_SECURITY_POLICY, v);
    }
    resp
}

/// The preview page's policy: its own scripts (`/widget.js` and its one inline module, by
/// hash), its own and inline styles (the widget's shadow roots), images from this server, as
/// `data:` and over https (album art on Spotify's and Last.fm's CDNs; `plain_http_origins` for
/// the emulators and the demo), requests to this server only, and nothing else.
pub fn page_policy(plain_http_origins: impl Iterator<Item = String>) -> String {
    let mut img = String::from("'self' data: https:");
    for origin in plain_http_origins {
        img.push(' ');
        img.push_str(&origin);
    }
    format!(
        "default-src 'none'; script-src 'self' {}; style-src 'self' 'unsafe-inline'; img-src {img}; connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'",
        INLINE_SCRIPT_HASHES.as_str()
    )
}

/// The CSP hash sources (`'sha256-…'`) of the page's inline scripts, computed from the page
/// compiled in, so an edit of the script can never be blocked by a stale hash.
static INLINE_SCRIPT_HASHES: LazyLock<String> = LazyLock::new(|| {
    inline_scripts(INDEX_HTML)
        .map(|body| {
            let digest = sha2::Sha256::digest(body.as_bytes());
            format!(
                "'sha256-{}'",
                base64::engine::general_purpose::STANDARD.encode(digest)
            )
        })
        .collect::<Vec<_>>()
        .join(" ")
});

/// The text of every `<script>` element without a `src`, exactly as the browser hashes it.
fn inline_scripts(html: &str) -> impl Iterator<Item = &str> {
    html.split("<script").skip(1).filter_map(|rest| {
        let (tag, after) = rest.split_once('>')?;
        if tag.contains("src=") {
            return None;
        }
        after.split_once("</script>").map(|(body, _)| body)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_inline_module_is_hashed_and_the_page_has_no_inline_handlers() {
        let scripts: Vec<&str> = inline_scripts(INDEX_HTML).collect();
        assert_eq!(scripts.len(), 1, "one inline module on the preview page");
        assert!(scripts[0].contains("data-profile-endpoint"));
        assert!(
            INLINE_SCRIPT_HASHES.starts_with("'sha256-") && !INLINE_SCRIPT_HASHES.contains(' ')
        );
        // An inline handler (onclick=...) or a javascript: link would need 'unsafe-inline'.
        let lower = INDEX_HTML.to_ascii_lowercase();
        for bad in [" onclick=", " onload=", " onerror=", "javascript:"] {
            assert!(!lower.contains(bad), "{bad}");
        }
    }

    #[test]
    fn the_policy_names_the_plain_http_hosts_only_when_given() {
        let p = page_policy(std::iter::empty());
        assert!(p.starts_with("default-src 'none'; script-src 'self' 'sha256-"));
        assert!(p.contains("img-src 'self' data: https:;"));
        let p = page_policy(["http://127.0.0.1:9000".to_string()].into_iter());
        assert!(p.contains("img-src 'self' data: https: http://127.0.0.1:9000;"));
    }
}
