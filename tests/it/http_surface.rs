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

/// The base64 SHA-256 a browser compares a CSP hash source with.
fn csp_hash(text: &str) -> String {
    use base64::Engine;
    use sha2::Digest;
    base64::engine::general_purpose::STANDARD.encode(sha2::Sha256::digest(text.as_bytes()))
}

#[tokio::test]
async fn the_preview_page_and_the_cards_carry_a_content_security_policy() {
    let app = app(&[("PROFILE_ENDPOINTS", "top")]).await;
    let r = app.get("/").await;
    assert_eq!(r.status(), 200);
    let policy = r.headers()[header::CONTENT_SECURITY_POLICY]
        .to_str()
        .unwrap()
        .to_string();
    let page = r.text().await.unwrap();
    let directives: std::collections::HashMap<&str, &str> = policy
        .split(';')
        .filter_map(|d| d.trim().split_once(' '))
        .collect();
    assert_eq!(directives["default-src"], "'none'", "{policy}");
    assert_eq!(directives["connect-src"], "'self'", "{policy}");
    assert_eq!(directives["frame-ancestors"], "'none'", "{policy}");
    // The page's one inline module is allowed by its hash, nothing inline otherwise.
    let inline = page
        .split("<script type=\"module\">")
        .nth(1)
        .and_then(|rest| rest.split("</script>").next())
        .expect("the inline module");
    assert_eq!(
        directives["script-src"],
        format!("'self' 'sha256-{}'", csp_hash(inline)),
        "{policy}"
    );
    // Art over https (Spotify's CDN) and from the configured plain-http API host (the fake).
    let fake_origin = app.fake.base.trim_end_matches('/');
    assert_eq!(
        directives["img-src"],
        format!("'self' data: https: {fake_origin}"),
        "{policy}"
    );
    assert!(!policy.contains("unsafe-eval"), "{policy}");

    // The list card without art: the fake lists Spotify CDN URLs, which a test never fetches.
    for path in ["/api/spotify.svg", "/api/spotify/top.svg?hide_art=1"] {
        let r = app.get(path).await;
        assert_eq!(r.status(), 200, "{path}");
        assert_eq!(
            r.headers()[header::CONTENT_SECURITY_POLICY],
            "default-src 'none'; img-src data:; style-src 'unsafe-inline'",
            "{path}"
        );
        let svg = r.text().await.unwrap();
        assert!(!svg.contains("<script"), "{path}");
        for href in svg.split("href=\"").skip(1) {
            assert!(
                href.starts_with("data:"),
                "{path}: only data: is loaded: {href:.40}"
            );
        }
    }
}

#[tokio::test]
async fn the_preflight_answers_only_the_headers_the_api_reads() {
    let app = app(&[("ALLOWED_ORIGINS", "https://me.example")]).await;
    // A 48 KB list of requested headers.
    let asked: Vec<String> = (0..6000).map(|i| format!("x-h{i:05}")).collect();
    let asked = format!("if-none-match, {}", asked.join(","));
    assert!(asked.len() > 48_000);
    let r = app
        .http
        .request(reqwest::Method::OPTIONS, format!("{}/api/spotify", app.url))
        .header(header::ORIGIN, "https://me.example")
        .header(header::ACCESS_CONTROL_REQUEST_METHOD, "GET")
        .header(header::ACCESS_CONTROL_REQUEST_HEADERS, &asked)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 204);
    assert_eq!(
        r.headers()[header::ACCESS_CONTROL_ALLOW_HEADERS],
        "if-none-match"
    );
    let echoed: usize = r
        .headers()
        .iter()
        .map(|(k, v)| k.as_str().len() + v.len())
        .sum();
    assert!(echoed < 1024, "{echoed} bytes of headers");
    // Asking for a header the API does not read gets the same answer: the browser refuses.
    let r = app
        .http
        .request(reqwest::Method::OPTIONS, format!("{}/api/spotify", app.url))
        .header(header::ORIGIN, "https://me.example")
        .header(header::ACCESS_CONTROL_REQUEST_METHOD, "GET")
        .header(header::ACCESS_CONTROL_REQUEST_HEADERS, "authorization")
        .send()
        .await
        .unwrap();
    assert_eq!(
        r.headers()[header::ACCESS_CONTROL_ALLOW_HEADERS],
        "if-none-match"
    );
}

#[tokio::test]
async fn the_page_and_the_script_offer_only_the_methods_they_answer() {
    let app = app(&[]).await;
    for path in ["/", "/widget.js"] {
        for m in ["OPTIONS", "POST", "DELETE"] {
            let r = app
                .http
                .request(
                    reqwest::Method::from_bytes(m.as_bytes()).unwrap(),
                    format!("{}{path}", app.url),
                )
                .send()
                .await
                .unwrap();
            assert_eq!(r.status(), 405, "{m} {path}");
            // What Allow lists is what the path answers: no OPTIONS here.
            assert_eq!(r.headers()[header::ALLOW], "GET, HEAD", "{m} {path}");
            let v: Value = r.json().await.unwrap();
            assert!(
                v["error"].as_str().unwrap().contains("GET or HEAD")
                    || v["error"].as_str().unwrap().contains("GET, HEAD"),
                "{v}"
            );
        }
        let head = app
            .http
            .head(format!("{}{path}", app.url))
            .send()
            .await
            .unwrap();
        assert_eq!(head.status(), 200, "HEAD {path}");
    }
    // An API path answers the OPTIONS it lists.
    let r = app
        .http
        .request(reqwest::Method::OPTIONS, format!("{}/api/spotify", app.url))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 204);
    assert_eq!(r.headers()[header::ALLOW], "GET, HEAD, OPTIONS");
}

#[tokio::test]
async fn only_https_links_and_images_leave_the_service() {
    let app = app(&[("PROFILE_ENDPOINTS", "top")]).await;
    let mut track = bodies::track("t1", "Song");
    track["external_urls"]["spotify"] = "javascript:alert(document.domain)".into();
    track["album"]["images"] = serde_json::json!([
        {"url": "JavaScript:alert(1)", "width": 640, "height": 640}
    ]);
    track["preview_url"] = "data:text/html,<script>alert(1)</script>".into();
    app.fake
        .set_current(Scripted::json(bodies::playing(track.clone(), true, 10)));
    let v = app.now().await;
    assert_eq!(v["name"], "Song", "{v}");
    // Missing values, as the contract has them: present and null.
    assert_eq!(v["songUrl"], Value::Null, "{v}");
    assert_eq!(v["albumImage"], Value::Null, "{v}");
    assert_eq!(v["previewUrl"], Value::Null, "{v}");
    let card = app.get("/api/spotify.svg").await.text().await.unwrap();
    assert!(!card.to_ascii_lowercase().contains("javascript:"), "{card}");

    // https passes, and so does the configured API host over plain http (emulators, the demo).
    let mut track = bodies::track("t2", "Other");
    let on_the_fake = format!("{}/image/cover", app.fake.base.trim_end_matches('/'));
    track["album"]["images"] =
        serde_json::json!([{"url": on_the_fake, "width": 640, "height": 640}]);
    track["external_urls"]["spotify"] = "http://open.spotify.com/track/t2".into();
    app.fake
        .set_current(Scripted::json(bodies::playing(track, true, 10)));
    app.expire_cache();
    let v = app.now().await;
    assert_eq!(v["albumImage"], on_the_fake.as_str(), "{v}");
    assert_eq!(v["songUrl"], Value::Null, "plain http elsewhere: {v}");

    // The lists' items too.
    let mut top = bodies::track("t3", "Top");
    top["external_urls"]["spotify"] = "javascript:alert(2)".into();
    app.fake.set_path(
        "/v1/me/top/tracks",
        Scripted::json(serde_json::json!({"items": [top], "total": 1, "limit": 10, "offset": 0})),
    );
    let list: Value = app
        .get("/api/spotify/top/tracks")
        .await
        .json()
        .await
        .unwrap();
    let item = &list["items"][0];
    assert_eq!(item["name"], "Top", "{list}");
    assert_eq!(item["songUrl"], Value::Null, "{list}");
    assert_eq!(
        item["albumImage"], "https://i.scdn.co/image/large",
        "{list}"
    );
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
