//! The contract's headers over real HTTP: Cache-Control, ETag/304, CORS, HEAD, 405, 404.
use crate::support;
use std::time::Duration;

use reqwest::header;
use serde_json::Value;
use support::*;

async fn app(extra: &[(&str, &str)]) -> TestApp {
    let app = TestApp::start(extra).await;
    app.fake.set_current(Scripted::json(bodies::playing(
        bodies::track("t1", "Song"),
        true,
        10,
    )));
    app
}

#[tokio::test]
async fn cache_control_follows_the_window() {
    let app = app(&[("CACHE_TTL_SECONDS", "5")]).await;
    let r = app.get("/api/spotify").await;
    assert_eq!(
        r.headers()[header::CACHE_CONTROL],
        "public, max-age=5, s-maxage=5, stale-while-revalidate=5, stale-if-error=300"
    );
    app.clock.advance(Duration::from_millis(3_500));
    let r = app.get("/api/spotify").await;
    let cc = r.headers()[header::CACHE_CONTROL]
        .to_str()
        .unwrap()
        .to_string();
    assert!(cc.starts_with("public, max-age=2,"), "{cc}");
}

#[tokio::test]
async fn etag_and_304() {
    let app = app(&[]).await;
    let r = app.get("/api/spotify").await;
    let etag = r.headers()[header::ETAG].to_str().unwrap().to_string();
    let r = app
        .http
        .get(format!("{}/api/spotify", app.url))
        .header(header::IF_NONE_MATCH, format!("W/\"other\", {etag}"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 304);
    assert_eq!(r.headers()[header::ETAG].to_str().unwrap(), etag);
    assert!(r.headers().contains_key(header::CACHE_CONTROL));
    assert!(r.bytes().await.unwrap().is_empty());
    // A different answer gets a different tag.
    app.fake.set_current(Scripted::json(bodies::playing(
        bodies::track("t2", "Other"),
        true,
        10,
    )));
    app.expire_cache();
    let r = app
        .http
        .get(format!("{}/api/spotify", app.url))
        .header(header::IF_NONE_MATCH, &etag)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_ne!(r.headers()[header::ETAG].to_str().unwrap(), etag);
}

#[tokio::test]
async fn cors_any_origin() {
    let app = app(&[]).await;
    let r = app
        .http
        .get(format!("{}/api/spotify", app.url))
        .header(header::ORIGIN, "https://anyone.example")
        .send()
        .await
        .unwrap();
    assert_eq!(r.headers()[header::ACCESS_CONTROL_ALLOW_ORIGIN], "*");
}

#[tokio::test]
async fn cors_origin_list_and_preflight() {
    let app = app(&[(
        "ALLOWED_ORIGINS",
        "https://me.example,https://www.me.example",
    )])
    .await;
    let r = app
        .http
        .get(format!("{}/api/spotify", app.url))
        .header(header::ORIGIN, "https://www.me.example")
        .send()
        .await
        .unwrap();
    assert_eq!(
        r.headers()[header::ACCESS_CONTROL_ALLOW_ORIGIN],
        "https://www.me.example"
    );
    assert!(r
        .headers()
        .get_all(header::VARY)
        .iter()
        .any(|v| v.to_str().unwrap().contains("origin")));
    let r = app
        .http
        .get(format!("{}/api/spotify", app.url))
        .header(header::ORIGIN, "https://evil.example")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert!(!r
        .headers()
        .contains_key(header::ACCESS_CONTROL_ALLOW_ORIGIN));

    let r = app
        .http
        .request(reqwest::Method::OPTIONS, format!("{}/api/spotify", app.url))
        .header(header::ORIGIN, "https://me.example")
        .header(header::ACCESS_CONTROL_REQUEST_METHOD, "GET")
        .header(header::ACCESS_CONTROL_REQUEST_HEADERS, "if-none-match")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 204);
    let h = r.headers();
    assert_eq!(h[header::ACCESS_CONTROL_ALLOW_ORIGIN], "https://me.example");
    assert!(h[header::ACCESS_CONTROL_ALLOW_METHODS]
        .to_str()
        .unwrap()
        .contains("GET"));
    assert_eq!(h[header::ACCESS_CONTROL_ALLOW_HEADERS], "if-none-match");
    assert_eq!(
        app.fake.stats().currently_playing,
        1,
        "a preflight asks nobody"
    );
}

#[tokio::test]
async fn head_is_get_without_a_body() {
    let app = app(&[]).await;
    let get = app.get("/api/spotify").await;
    let get_etag = get.headers()[header::ETAG].clone();
    let r = app
        .http
        .head(format!("{}/api/spotify", app.url))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()[header::CONTENT_TYPE], "application/json");
    assert_eq!(r.headers()[header::ETAG], get_etag);
    assert!(r.bytes().await.unwrap().is_empty());
}

#[tokio::test]
async fn other_methods_get_405_with_allow_and_json() {
    let app = app(&[]).await;
    for m in ["POST", "PUT", "DELETE", "PATCH"] {
        let r = app
            .http
            .request(
                reqwest::Method::from_bytes(m.as_bytes()).unwrap(),
                format!("{}/api/spotify", app.url),
            )
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 405, "{m}");
        assert_eq!(r.headers()[header::ALLOW], "GET, HEAD, OPTIONS");
        let v: Value = r.json().await.unwrap();
        assert!(v["error"].as_str().unwrap().contains(m));
    }
    assert_eq!(app.fake.stats().currently_playing, 0);
}

#[tokio::test]
async fn unknown_paths_get_json_404() {
    let app = app(&[]).await;
    for p in ["/nope", "/api/spotify/", "/api/spotifyx", "/api/%00"] {
        let r = app.get(p).await;
        assert_eq!(r.status(), 404, "{p}");
        assert_eq!(r.headers()[header::CONTENT_TYPE], "application/json");
        let v: Value = r.json().await.unwrap();
        assert!(v["error"].is_string());
    }
}

#[tokio::test]
async fn every_answer_says_nosniff() {
    let app = app(&[]).await;
    for path in [
        "/api/spotify",
        "/api/spotify.svg",
        "/widget.js",
        "/",
        "/nope",
        "/api/spotify/top/tracks",
    ] {
        let r = app.get(path).await;
        assert_eq!(
            r.headers()
                .get("x-content-type-options")
                .map(|v| v.to_str().unwrap()),
            Some("nosniff"),
            "{path} ({})",
            r.status()
        );
    }
}
