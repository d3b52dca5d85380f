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

const ORIGIN_SECRET: &str = "0123456789abcdef-origin";

#[tokio::test]
async fn with_a_cdn_origin_secret_only_requests_carrying_it_are_answered() {
    let app = app(&[("CDN_ORIGIN_SECRET", ORIGIN_SECRET)]).await;
    let art = format!("{}/img/direct-300.jpg", app.fake.base);
    let mut track = bodies::track("t1", "Song");
    track["album"]["images"] = serde_json::json!([{"url": art, "width": 300, "height": 300}]);
    app.fake
        .set_current(Scripted::json(bodies::playing(track, true, 10)));
    let send = |path: &str, secret: Option<&str>| {
        let mut rq = app.http.get(format!("{}{path}", app.url));
        if let Some(s) = secret {
            rq = rq.header("x-origin-verify", s);
        }
        rq.send()
    };
    // The execute-api URL, skipping the CDN: a small 403 with a JSON reason, and nothing asked.
    for path in [
        "/api/spotify",
        "/api/spotify.svg",
        "/api/spotify/recent",
        "/widget.js",
        "/",
        "/nope",
    ] {
        for secret in [None, Some("wrong"), Some(&ORIGIN_SECRET[1..])] {
            let r = send(path, secret).await.unwrap();
            assert_eq!(r.status(), 403, "{path} with {secret:?}");
            assert_eq!(r.headers()["x-content-type-options"], "nosniff");
            let body: Value = r.json().await.unwrap();
            let reason = body["error"].as_str().unwrap();
            assert!(reason.contains("CDN"), "{reason}");
            assert!(!reason.contains(ORIGIN_SECRET), "{reason}");
        }
    }
    let stats = app.fake.stats();
    assert_eq!(stats.currently_playing + stats.recently_played, 0);
    assert!(stats.image_calls.is_empty());

    // Through the CDN (which adds the header): answered as ever.
    let r = send("/api/spotify", Some(ORIGIN_SECRET)).await.unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(r.json::<Value>().await.unwrap()["name"], "Song");
    let r = send("/api/spotify.svg", Some(ORIGIN_SECRET)).await.unwrap();
    assert_eq!(r.status(), 200);
    assert!(r.text().await.unwrap().contains("data:image/jpeg;base64,"));
    assert_eq!(app.fake.image_calls_to("/img/direct-300.jpg"), 1);

    // The owner's console stays at the API's own address (here off: its own 404, not the 403).
    let r = send("/owner", None).await.unwrap();
    assert_eq!(r.status(), 404);
    let r = send("/owner/status.json", None).await.unwrap();
    assert_eq!(r.status(), 404);
}

#[tokio::test]
async fn without_a_cdn_origin_secret_the_header_is_not_needed() {
    let app = app(&[]).await;
    assert_eq!(app.get("/api/spotify").await.status(), 200);
}

#[test]
fn a_short_cdn_origin_secret_is_refused_without_showing_it() {
    for bad in [
        "short",
        "has a space in it, long enough",
        "tab\tseparated-long-value",
    ] {
        let e = nowplaying::config::Config::from_lookup(|k| {
            (k == "CDN_ORIGIN_SECRET").then(|| bad.to_string())
        })
        .unwrap_err();
        assert_eq!(e.variable, "CDN_ORIGIN_SECRET");
        assert!(!e.to_string().contains(bad.trim()), "{e}");
    }
    let ok = nowplaying::config::Config::from_lookup(|k| {
        (k == "CDN_ORIGIN_SECRET").then(|| ORIGIN_SECRET.to_string())
    })
    .unwrap();
    assert!(
        !format!("{ok:?}").contains(ORIGIN_SECRET),
        "redacted in Debug"
    );
}
