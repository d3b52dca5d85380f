//! The listening profile endpoints against the fake Spotify: `/api/spotify/recent`,
//! `/api/spotify/top/{tracks,artists}`, `/api/spotify/saved` and `/api/spotify/top.svg`. Every
//! parameter edge case, the fold of repeats, a missing scope, off until turned on, and one
//! upstream call per list and window under 50 concurrent clients.
use crate::support;
use std::time::Duration;
use support::logs::LogBuffer;

use reqwest::header;
use serde_json::{json, Value};
use support::*;

const ON: &[(&str, &str)] = &[("PROFILE_ENDPOINTS", "top,saved")];

fn history_body() -> Value {
    let a = bodies::track("a", "Song A");
    let b = bodies::track("b", "Song B");
    let c = bodies::track("c", "Song C");
    bodies::history(&[
        (a.clone(), "2026-11-23T10:09:00Z"),
        (a.clone(), "2026-11-23T10:06:00Z"),
        (a.clone(), "2026-11-23T10:03:00Z"),
        (b.clone(), "2026-11-23T10:00:00Z"),
        (a.clone(), "2026-11-23T09:57:00Z"),
        (bodies::local_file(), "2026-11-23T09:54:00Z"),
        (bodies::local_file(), "2026-11-23T09:51:00Z"),
        (c, "2026-11-23T09:48:00Z"),
    ])
}

fn top_tracks_body(n: usize) -> Value {
    bodies::page(
        (1..=n)
            .map(|i| bodies::track(&format!("t{i}"), &format!("Top {i}")))
            .collect(),
    )
}

fn top_artists_body(n: usize) -> Value {
    bodies::page(
        (1..=n)
            .map(|i| bodies::artist(&format!("ar{i}"), &format!("Artist {i}")))
            .collect(),
    )
}

async fn get_json(app: &TestApp, path: &str) -> (u16, Value) {
    let r = app.get(path).await;
    let status = r.status().as_u16();
    (status, r.json().await.unwrap())
}

async fn ok_json(app: &TestApp, path: &str) -> Value {
    let (status, v) = get_json(app, path).await;
    assert_eq!(status, 200, "{path}: {v}");
    v
}

// --- recent -----------------------------------------------------------------------------------

#[tokio::test]
async fn recent_is_newest_first_with_repeats_folded() {
    let app = TestApp::start(&[]).await;
    app.fake.set_recent(Scripted::json(history_body()));
    let v = ok_json(&app, "/api/spotify/recent").await;
    assert_eq!(v["stale"], false);
    let items = v["items"].as_array().unwrap();
    let got: Vec<(&str, u64, &str)> = items
        .iter()
        .map(|i| {
            (
                i["name"].as_str().unwrap(),
                i["count"].as_u64().unwrap(),
                i["playedAt"].as_str().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        got,
        vec![
            ("Song A", 3, "2026-11-23T10:09:00Z"),
            ("Song B", 1, "2026-11-23T10:00:00Z"),
            ("Song A", 1, "2026-11-23T09:57:00Z"),
            ("demo.mp3", 2, "2026-11-23T09:54:00Z"),
            ("Song C", 1, "2026-11-23T09:48:00Z"),
        ]
    );
    // The contract's item shape.
    let first = &items[0];
    for (field, want) in [
        ("isPlaying", json!(false)),
        ("status", json!("recent")),
        ("type", json!("track")),
        ("artists", json!("Artist One, Artist Two")),
        ("album", json!("The Album")),
        ("albumImage", json!("https://i.scdn.co/image/large")),
        ("songUrl", json!("https://open.spotify.com/track/a")),
        ("trackId", json!("a")),
        ("previewUrl", Value::Null),
        ("progressMs", Value::Null),
        ("durationMs", json!(200_000)),
        ("timestamp", json!(T0.as_millis())),
        ("stale", json!(false)),
    ] {
        assert_eq!(first[field], want, "{field} in {first}");
    }
    assert!(first.get("rank").is_none() && first.get("addedAt").is_none());
    // The local file: nulls, as in /api/spotify.
    assert_eq!(items[3]["trackId"], Value::Null);
    assert_eq!(items[3]["songUrl"], Value::Null);
    // Spotify is asked once, for the most it gives.
    let stats = app.fake.stats();
    assert_eq!(stats.recently_played, 1);
    assert_eq!(
        stats.list_calls,
        vec!["/v1/me/player/recently-played?limit=50"]
    );
}

#[tokio::test]
async fn recent_limit_cuts_the_folded_list_and_shares_one_call() {
    let app = TestApp::start(&[]).await;
    app.fake.set_recent(Scripted::json(history_body()));
    for (q, n) in [
        ("", 5),
        ("?limit=1", 1),
        ("?limit=2", 2),
        ("?limit=50", 5),
        ("?limit=10", 5),
    ] {
        let v = ok_json(&app, &format!("/api/spotify/recent{q}")).await;
        assert_eq!(v["items"].as_array().unwrap().len(), n, "{q}");
    }
    assert_eq!(app.fake.stats().recently_played, 1);
}

#[tokio::test]
async fn recent_default_limit_is_ten() {
    let app = TestApp::start(&[]).await;
    let plays: Vec<(Value, &str)> = (0..30)
        .map(|i| {
            (
                bodies::track(&format!("x{i}"), &format!("S{i}")),
                "2026-11-23T10:00:00Z",
            )
        })
        .collect();
    app.fake.set_recent(Scripted::json(bodies::history(&plays)));
    let v = ok_json(&app, "/api/spotify/recent").await;
    let items = v["items"].as_array().unwrap();
    assert_eq!(items.len(), 10);
    assert_eq!(items[0]["name"], "S0");
    assert_eq!(items[9]["name"], "S9");
    let v = ok_json(&app, "/api/spotify/recent?limit=25").await;
    assert_eq!(v["items"].as_array().unwrap().len(), 25);
}

#[tokio::test]
async fn recent_is_off_when_show_recent_is_false() {
    let app = TestApp::start(&[("SHOW_RECENT", "false")]).await;
    let (status, v) = get_json(&app, "/api/spotify/recent").await;
    assert_eq!(status, 404);
    assert!(v["error"].as_str().unwrap().contains("SHOW_RECENT"), "{v}");
    // Bad parameters do not reveal more than "off".
    let (status, _) = get_json(&app, "/api/spotify/recent?limit=0").await;
    assert_eq!(status, 404);
    assert_eq!(app.fake.stats().recently_played, 0);
}

#[tokio::test]
async fn recent_window_and_cache_control() {
    let app = TestApp::start(&[]).await;
    app.fake.set_recent(Scripted::json(history_body()));
    let r = app.get("/api/spotify/recent").await;
    assert_eq!(
        r.headers()[header::CACHE_CONTROL],
        "public, max-age=30, s-maxage=30, stale-while-revalidate=30, stale-if-error=300"
    );
    assert_eq!(r.headers()[header::CONTENT_TYPE], "application/json");
    let etag = r.headers()[header::ETAG].to_str().unwrap().to_string();
    let r = app
        .http
        .get(format!("{}/api/spotify/recent", app.url))
        .header(header::IF_NONE_MATCH, &etag)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 304);
    app.clock.advance(Duration::from_secs(29));
    ok_json(&app, "/api/spotify/recent").await;
    assert_eq!(app.fake.stats().recently_played, 1);
    app.clock.advance(Duration::from_millis(1_001));
    ok_json(&app, "/api/spotify/recent").await;
    assert_eq!(app.fake.stats().recently_played, 2);
}

#[tokio::test]
async fn recent_window_is_configurable() {
    let app = TestApp::start(&[("RECENT_TTL_SECONDS", "5")]).await;
    let r = app.get("/api/spotify/recent").await;
    assert!(r.headers()[header::CACHE_CONTROL]
        .to_str()
        .unwrap()
        .starts_with("public, max-age=5,"));
    app.clock.advance(Duration::from_millis(5_001));
    ok_json(&app, "/api/spotify/recent").await;
    assert_eq!(app.fake.stats().recently_played, 2);
}

// --- bad parameters ---------------------------------------------------------------------------

#[tokio::test]
async fn bad_parameters_are_400_naming_the_parameter() {
    let app = TestApp::start(ON).await;
    for (path, param, must) in [
        ("/api/spotify/recent?limit=0", "limit", "1 to 50"),
        ("/api/spotify/recent?limit=abc", "limit", "1 to 50"),
        ("/api/spotify/recent?limit=51", "limit", "1 to 50"),
        ("/api/spotify/recent?limit=", "limit", "1 to 50"),
        ("/api/spotify/recent?limit=-3", "limit", "1 to 50"),
        (
            "/api/spotify/recent?limit=5&limit=6",
            "limit",
            "more than once",
        ),
        ("/api/spotify/recent?range=short_term", "range", "limit"),
        ("/api/spotify/recent?foo=1", "foo", "limit"),
        (
            "/api/spotify/top/tracks?range=forever",
            "range",
            "medium_term",
        ),
        (
            "/api/spotify/top/tracks?range=SHORT_TERM",
            "range",
            "short_term",
        ),
        ("/api/spotify/top/artists?limit=0", "limit", "1 to 50"),
        ("/api/spotify/top/artists?limit=1e1", "limit", "1 to 50"),
        (
            "/api/spotify/top/artists?time_range=long_term",
            "time_range",
            "range",
        ),
        ("/api/spotify/saved?limit=abc", "limit", "1 to 50"),
        ("/api/spotify/saved?offset=10", "offset", "limit"),
    ] {
        let r = app.get(path).await;
        assert_eq!(r.status(), 400, "{path}");
        assert_eq!(r.headers()[header::CACHE_CONTROL], "no-store", "{path}");
        let v: Value = r.json().await.unwrap();
        assert_eq!(v["parameter"], param, "{path}: {v}");
        let msg = v["error"].as_str().unwrap();
        assert!(msg.contains(param), "{path}: {msg}");
        assert!(
            msg.contains(must) || v["accepted"].as_str().unwrap().contains(must),
            "{path}: {v}"
        );
        assert!(v["accepted"].as_str().is_some_and(|a| !a.is_empty()));
    }
    // The card answers an image: the same error as an SVG error card (its title is the message).
    for (path, param, must) in [
        (
            "/api/spotify/top.svg?kind=albums",
            "kind",
            "tracks or artists",
        ),
        (
            "/api/spotify/top.svg?theme=neon",
            "theme",
            "light, dark or art",
        ),
        ("/api/spotify/top.svg?limit=11", "limit", "1 to 10"),
        ("/api/spotify/top.svg?range=forever", "range", "long_term"),
        (
            "/api/spotify/top.svg?size=big",
            "size",
            "kind, range, limit, theme",
        ),
    ] {
        let r = app.get(path).await;
        assert_eq!(r.status(), 400, "{path}");
        assert_eq!(r.headers()[header::CACHE_CONTROL], "no-store", "{path}");
        assert_eq!(
            r.headers()[header::CONTENT_TYPE],
            "image/svg+xml; charset=utf-8"
        );
        let svg = r.text().await.unwrap();
        let doc = roxmltree::Document::parse(&svg).unwrap();
        let title = doc
            .descendants()
            .find(|n| n.has_tag_name("title"))
            .and_then(|n| n.text())
            .unwrap_or_default()
            .to_string();
        assert!(
            title.contains(param) && title.contains(must),
            "{path}: {title}"
        );
    }
    let s = app.fake.stats();
    assert_eq!((s.recently_played, s.top, s.saved), (0, 0, 0));
}

#[tokio::test]
async fn an_echoed_value_is_bounded() {
    let app = TestApp::start(&[]).await;
    let long = "9".repeat(5_000);
    let (status, v) = get_json(&app, &format!("/api/spotify/recent?limit={long}")).await;
    assert_eq!(status, 400);
    assert!(v["error"].as_str().unwrap().len() < 300, "{v}");
}

#[tokio::test]
async fn api_spotify_itself_still_ignores_unknown_parameters() {
    let app = TestApp::start(ON).await;
    let r = app.get("/api/spotify?foo=1&limit=0").await;
    assert_eq!(r.status(), 200);
}

// --- off until turned on ----------------------------------------------------------------------

#[tokio::test]
async fn top_and_saved_are_404_until_turned_on() {
    let app = TestApp::start(&[]).await;
    for path in [
        "/api/spotify/top/tracks",
        "/api/spotify/top/artists?range=long_term",
        "/api/spotify/top/tracks?limit=0",
        "/api/spotify/top.svg",
        "/api/spotify/top.svg?kind=artists&theme=dark",
        "/api/spotify/saved",
    ] {
        let r = app.get(path).await;
        assert_eq!(r.status(), 404, "{path}");
        assert_eq!(r.headers()[header::CONTENT_TYPE], "application/json");
        let v: Value = r.json().await.unwrap();
        let msg = v["error"].as_str().unwrap();
        assert!(msg.contains("PROFILE_ENDPOINTS"), "{path}: {msg}");
    }
    // Only top: saved stays off, naming its own value.
    let app2 = TestApp::start(&[("PROFILE_ENDPOINTS", "top")]).await;
    assert_eq!(app2.get("/api/spotify/top/tracks").await.status(), 200);
    let (status, v) = get_json(&app2, "/api/spotify/saved").await;
    assert_eq!(status, 404);
    assert!(v["error"]
        .as_str()
        .unwrap()
        .contains("PROFILE_ENDPOINTS=saved"));
    let s = app.fake.stats();
    assert_eq!((s.top, s.saved), (0, 0));
}

#[tokio::test]
async fn unknown_top_lists_are_404() {
    let app = TestApp::start(ON).await;
    for path in [
        "/api/spotify/top/albums",
        "/api/spotify/top/",
        "/api/spotify/top",
        "/api/spotify/recent/",
    ] {
        let r = app.get(path).await;
        assert_eq!(r.status(), 404, "{path}");
        let v: Value = r.json().await.unwrap();
        assert!(v["error"].is_string(), "{path}");
    }
}

// --- top lists --------------------------------------------------------------------------------

#[tokio::test]
async fn top_tracks_are_ranked_in_the_item_shape() {
    let app = TestApp::start(ON).await;
    app.fake
        .set_path("/v1/me/top/tracks", Scripted::json(top_tracks_body(30)));
    let v = ok_json(&app, "/api/spotify/top/tracks").await;
    let items = v["items"].as_array().unwrap();
    assert_eq!(items.len(), 10);
    for (i, item) in items.iter().enumerate() {
        assert_eq!(item["rank"], i as u64 + 1);
        assert_eq!(item["name"], format!("Top {}", i + 1));
        assert_eq!(item["status"], "top");
        assert_eq!(item["isPlaying"], false);
        assert_eq!(item["type"], "track");
        assert_eq!(item["albumImage"], "https://i.scdn.co/image/large");
        assert_eq!(item["playedAt"], Value::Null);
        assert!(item.get("count").is_none());
    }
    let v = ok_json(&app, "/api/spotify/top/tracks?limit=3&range=short_term").await;
    assert_eq!(v["items"].as_array().unwrap().len(), 3);
    let r = app.get("/api/spotify/top/tracks").await;
    assert_eq!(
        r.headers()[header::CACHE_CONTROL],
        "public, max-age=3600, s-maxage=3600, stale-while-revalidate=3600, stale-if-error=300"
    );
    let stats = app.fake.stats();
    assert_eq!(stats.top, 1);
    assert_eq!(
        stats.list_calls,
        vec!["/v1/me/top/tracks?time_range=short_term&limit=50"]
    );
}

#[tokio::test]
async fn each_range_is_its_own_list() {
    let app = TestApp::start(ON).await;
    app.fake
        .set_path("/v1/me/top/artists", Scripted::json(top_artists_body(5)));
    for q in [
        "",
        "?range=short_term",
        "?range=medium_term",
        "?range=long_term",
        "?range=long_term&limit=2",
    ] {
        ok_json(&app, &format!("/api/spotify/top/artists{q}")).await;
    }
    let stats = app.fake.stats();
    assert_eq!(
        stats.list_calls,
        vec![
            "/v1/me/top/artists?time_range=short_term&limit=50",
            "/v1/me/top/artists?time_range=medium_term&limit=50",
            "/v1/me/top/artists?time_range=long_term&limit=50",
        ]
    );
}

#[tokio::test]
async fn top_artists_have_name_image_url_rank_genres() {
    let app = TestApp::start(&[("PROFILE_ENDPOINTS", "top")]).await;
    let mut body = top_artists_body(3);
    body["items"][2]["images"] = json!([]);
    body["items"][2]["genres"] = Value::Null;
    body["items"]
        .as_array_mut()
        .unwrap()
        .insert(1, json!({"name": null}));
    app.fake
        .set_path("/v1/me/top/artists", Scripted::json(body));
    let v = ok_json(&app, "/api/spotify/top/artists?limit=50").await;
    let items = v["items"].as_array().unwrap();
    assert_eq!(items.len(), 3, "the entry without a name is skipped: {v}");
    assert_eq!(
        items[0],
        json!({
            "name": "Artist 1",
            "image": "https://i.scdn.co/image/ar1-640",
            "images": [
                {"url": "https://i.scdn.co/image/ar1-160", "width": 160, "height": 160},
                {"url": "https://i.scdn.co/image/ar1-640", "width": 640, "height": 640}
            ],
            "url": "https://open.spotify.com/artist/ar1",
            "rank": 1,
            "genres": ["trip hop", "electronica"],
            "source": "spotify",
        })
    );
    assert_eq!(items[1]["rank"], 2);
    assert_eq!(items[2]["image"], Value::Null);
    assert_eq!(items[2].get("images"), None, "no sizes, no field: {v}");
    assert_eq!(items[2]["genres"], json!([]));
}

#[tokio::test]
async fn a_missing_scope_answers_null_and_warns_to_authorize() {
    let (buffer, _guard) = LogBuffer::capture_info();

    let app = TestApp::start(ON).await;
    let forbidden = Scripted {
        body: json!({"error": {"status": 403, "message": "Insufficient client scope"}}),
        ..Scripted::status(403)
    };
    app.fake.set_path("/v1/me/top/artists", forbidden.clone());
    app.fake.set_path("/v1/me/tracks", forbidden);
    let r = app.get("/api/spotify/top/artists").await;
    assert_eq!(r.status(), 200);
    assert_eq!(r.json::<Value>().await.unwrap(), Value::Null);
    let (status, v) = get_json(&app, "/api/spotify/saved").await;
    assert_eq!((status, v), (200, Value::Null));
    // Cached for the window like any answer: no call per request.
    for _ in 0..5 {
        assert_eq!(ok_json(&app, "/api/spotify/top/artists").await, Value::Null);
    }
    assert_eq!(app.fake.stats().top, 1);

    let text = buffer.text();
    let warns: Vec<&str> = text.lines().filter(|l| l.contains("WARN")).collect();
    let top = warns
        .iter()
        .find(|l| l.contains("user-top-read"))
        .unwrap_or_else(|| panic!("no WARN naming user-top-read:\n{text}"));
    assert!(top.contains("nowplaying authorize"), "{top}");
    assert!(
        warns
            .iter()
            .any(|l| l.contains("user-library-read") && l.contains("nowplaying authorize")),
        "{text}"
    );
    assert_eq!(
        warns.iter().filter(|l| l.contains("user-top-read")).count(),
        1,
        "one warning per window: {text}"
    );
}

#[tokio::test]
async fn rate_limit_serves_the_last_list_as_stale_and_cools_down() {
    let app = TestApp::start(&[("PROFILE_ENDPOINTS", "top"), ("TOP_TTL_SECONDS", "60")]).await;
    app.fake
        .set_path("/v1/me/top/tracks", Scripted::json(top_tracks_body(3)));
    ok_json(&app, "/api/spotify/top/tracks").await;
    app.clock.advance(Duration::from_millis(60_001));
    app.fake
        .set_path("/v1/me/top/tracks", Scripted::status(429).retry_after(120));
    let v = ok_json(&app, "/api/spotify/top/tracks").await;
    assert_eq!(v["stale"], true);
    assert_eq!(v["items"][0]["name"], "Top 1");
    assert_eq!(v["items"][0]["stale"], true);
    let calls = app.fake.stats().top;
    // The cooldown holds every list (and /api/spotify) until Retry-After has passed.
    for _ in 0..5 {
        app.clock.advance(Duration::from_secs(20));
        assert_eq!(
            ok_json(&app, "/api/spotify/top/tracks").await["stale"],
            true
        );
        ok_json(&app, "/api/spotify/top/tracks?range=long_term").await;
        ok_json(&app, "/api/spotify/recent").await;
    }
    let s = app.fake.stats();
    assert_eq!((s.top, s.recently_played), (calls, 0));
    app.fake
        .set_path("/v1/me/top/tracks", Scripted::json(top_tracks_body(2)));
    app.clock.advance(Duration::from_millis(20_001));
    let v = ok_json(&app, "/api/spotify/top/tracks").await;
    assert_eq!(v["stale"], false);
    assert_eq!(v["items"].as_array().unwrap().len(), 2);
}

#[tokio::test]
async fn failures_serve_stale_then_null() {
    let app = TestApp::start(&[("PROFILE_ENDPOINTS", "saved")]).await;
    app.fake.set_path(
        "/v1/me/tracks",
        Scripted::json(bodies::saved(&[(
            bodies::track("s1", "Saved One"),
            "2026-11-20T08:00:00Z",
        )])),
    );
    ok_json(&app, "/api/spotify/saved").await;
    app.clock.advance(Duration::from_millis(300_001));
    app.fake.set_path("/v1/me/tracks", Scripted::status(500));
    let v = ok_json(&app, "/api/spotify/saved").await;
    assert_eq!(
        (v["stale"].clone(), v["items"][0]["name"].clone()),
        (json!(true), json!("Saved One"))
    );
    app.clock.advance(Duration::from_millis(16 * 60 * 1000));
    assert_eq!(ok_json(&app, "/api/spotify/saved").await, Value::Null);
}

// --- saved ------------------------------------------------------------------------------------

#[tokio::test]
async fn saved_tracks_carry_added_at() {
    let app = TestApp::start(&[("PROFILE_ENDPOINTS", "saved")]).await;
    app.fake.set_path(
        "/v1/me/tracks",
        Scripted::json(bodies::saved(&[
            (bodies::track("s1", "Newest save"), "2026-11-20T08:00:00Z"),
            (bodies::track("s2", "Older save"), "2026-10-01T08:00:00Z"),
            (bodies::local_file(), "2026-09-01T08:00:00Z"),
        ])),
    );
    let v = ok_json(&app, "/api/spotify/saved").await;
    let items = v["items"].as_array().unwrap();
    assert_eq!(items.len(), 3);
    assert_eq!(items[0]["name"], "Newest save");
    assert_eq!(items[0]["addedAt"], "2026-11-20T08:00:00Z");
    assert_eq!(items[0]["status"], "saved");
    assert_eq!(items[0]["trackId"], "s1");
    assert!(items[0].get("rank").is_none());
    assert_eq!(items[2]["trackId"], Value::Null);
    let v = ok_json(&app, "/api/spotify/saved?limit=1").await;
    assert_eq!(v["items"].as_array().unwrap().len(), 1);
    let r = app.get("/api/spotify/saved").await;
    assert!(r.headers()[header::CACHE_CONTROL]
        .to_str()
        .unwrap()
        .starts_with("public, max-age=300,"));
    let stats = app.fake.stats();
    assert_eq!(stats.saved, 1);
    assert_eq!(stats.list_calls, vec!["/v1/me/tracks?limit=50"]);
}

// --- bounds on upstream calls -----------------------------------------------------------------

async fn burst(app: &TestApp, paths: &[String]) {
    let mut tasks = Vec::new();
    for i in 0..50 {
        let http = app.http.clone();
        let url = format!("{}{}", app.url, paths[i % paths.len()]);
        tasks.push(tokio::spawn(async move {
            let r = http.get(url).send().await.unwrap();
            (r.status().as_u16(), r.json::<Value>().await.unwrap())
        }));
    }
    for t in tasks {
        let (status, v) = t.await.unwrap();
        assert_eq!(status, 200, "{v}");
        assert!(v["items"].is_array(), "{v}");
    }
}

#[tokio::test]
async fn fifty_concurrent_clients_cost_one_call_per_list_and_window() {
    let app = TestApp::start(ON).await;
    app.fake
        .set_recent(Scripted::json(history_body()).delayed(300));
    app.fake.set_path(
        "/v1/me/top/tracks",
        Scripted::json(top_tracks_body(20)).delayed(300),
    );
    app.fake.set_path(
        "/v1/me/top/artists",
        Scripted::json(top_artists_body(20)).delayed(300),
    );
    app.fake.set_path(
        "/v1/me/tracks",
        Scripted::json(bodies::saved(&[(
            bodies::track("s", "S"),
            "2026-11-20T08:00:00Z",
        )]))
        .delayed(300),
    );
    let lists: [(&str, &str, u64); 4] = [
        ("/api/spotify/recent", "recent", 30_000),
        ("/api/spotify/top/tracks", "top", 3_600_000),
        ("/api/spotify/top/artists", "top", 3_600_000),
        ("/api/spotify/saved", "saved", 300_000),
    ];
    let count = |s: &fake_spotify::Stats, which: &str| match which {
        "recent" => s.recently_played,
        "top" => s.top,
        _ => s.saved,
    };
    for (path, which, ttl) in lists {
        // Mixed limits: they all share the one cached list.
        let paths: Vec<String> = ["", "?limit=1", "?limit=5", "?limit=50"]
            .iter()
            .map(|q| format!("{path}{q}"))
            .collect();
        let before = count(&app.fake.stats(), which);
        burst(&app, &paths).await;
        assert_eq!(
            count(&app.fake.stats(), which) - before,
            1,
            "{path}: no copy at all"
        );
        // Expired: again one call for the next burst.
        app.clock.advance(Duration::from_millis(ttl + 1));
        burst(&app, &paths).await;
        assert_eq!(
            count(&app.fake.stats(), which) - before,
            2,
            "{path}: an expired copy"
        );
    }
}

// --- the privacy switch, HEAD, OPTIONS, methods -----------------------------------------------

#[tokio::test]
async fn hidden_means_null_at_once_without_asking_spotify() {
    let app = TestApp::start(ON).await;
    app.fake
        .set_path("/v1/me/top/tracks", Scripted::json(top_tracks_body(3)));
    ok_json(&app, "/api/spotify/top/tracks").await;
    std::fs::write(app.creds_path.with_file_name("hidden"), "true\n").unwrap();
    for path in [
        "/api/spotify/top/tracks",
        "/api/spotify/recent",
        "/api/spotify/saved",
    ] {
        assert_eq!(ok_json(&app, path).await, Value::Null, "{path}");
    }
    let s = app.fake.stats();
    assert_eq!((s.top, s.recently_played, s.saved), (1, 0, 0));
    std::fs::remove_file(app.creds_path.with_file_name("hidden")).unwrap();
    assert_eq!(
        ok_json(&app, "/api/spotify/top/tracks").await["items"][0]["name"],
        "Top 1"
    );
}

#[tokio::test]
async fn head_options_and_other_methods() {
    let app = TestApp::start(ON).await;
    for path in [
        "/api/spotify/recent",
        "/api/spotify/top/tracks",
        "/api/spotify/top/artists",
        "/api/spotify/saved",
        "/api/spotify/top.svg",
    ] {
        let r = app
            .http
            .head(format!("{}{path}", app.url))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200, "{path}");
        assert!(r.headers().contains_key(header::ETAG));
        let r = app
            .http
            .request(reqwest::Method::OPTIONS, format!("{}{path}", app.url))
            .header(header::ORIGIN, "https://me.dev")
            .header(header::ACCESS_CONTROL_REQUEST_METHOD, "GET")
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 204, "{path}");
        assert_eq!(r.headers()[header::ACCESS_CONTROL_ALLOW_ORIGIN], "*");
        let r = app
            .http
            .post(format!("{}{path}", app.url))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 405, "{path}");
        assert_eq!(r.headers()[header::ALLOW], "GET, HEAD, OPTIONS");
    }
}

// --- the top list card ------------------------------------------------------------------------

#[tokio::test]
async fn top_card_renders_the_cached_list() {
    let app = TestApp::start(&[("PROFILE_ENDPOINTS", "top")]).await;
    let mut tracks = top_tracks_body(8);
    tracks["items"][0]["name"] = json!(format!(
        "<script>alert(1)</script> & \"q\" {}",
        "x".repeat(300)
    ));
    app.fake
        .set_path("/v1/me/top/tracks", Scripted::json(tracks));
    app.fake
        .set_path("/v1/me/top/artists", Scripted::json(top_artists_body(8)));
    let r = app.get("/api/spotify/top.svg").await;
    assert_eq!(r.status(), 200);
    assert_eq!(
        r.headers()[header::CONTENT_TYPE],
        "image/svg+xml; charset=utf-8"
    );
    assert!(r.headers()[header::CACHE_CONTROL]
        .to_str()
        .unwrap()
        .starts_with("public, max-age=3600,"));
    let svg = r.text().await.unwrap();
    assert!(svg.starts_with("<svg"), "{svg}");
    assert!(svg.contains("Top tracks · last 4 weeks"), "{svg}");
    assert!(svg.contains("&lt;script&gt;") && !svg.contains("<script"));
    assert!(!svg.contains(&"x".repeat(240)), "truncated");
    assert!(
        svg.contains(">Top 5<") && !svg.contains(">Top 6<"),
        "5 rows by default"
    );
    assert!(svg.contains(">Artist One, Artist Two<"));
    assert!(!svg.contains("https://i.scdn.co"), "no external reference");

    let dark = app
        .get("/api/spotify/top.svg?kind=artists&theme=dark&range=short_term&limit=3")
        .await
        .text()
        .await
        .unwrap();
    assert!(dark.contains("Top artists · last 4 weeks"));
    assert!(dark.contains(">Artist 3<") && !dark.contains(">Artist 4<"));
    assert!(dark.contains(">trip hop, electronica<"));
    assert!(dark.contains("#0d1117"), "dark palette");
    // The card and the JSON share the cached lists.
    ok_json(&app, "/api/spotify/top/tracks").await;
    ok_json(&app, "/api/spotify/top/artists").await;
    assert_eq!(app.fake.stats().top, 2);

    let long = app
        .get("/api/spotify/top.svg?range=long_term")
        .await
        .text()
        .await
        .unwrap();
    assert!(long.contains("Top tracks · last year"));
}

#[tokio::test]
async fn top_card_without_an_answer_says_nothing_to_show() {
    let app = TestApp::start(&[("PROFILE_ENDPOINTS", "top")]).await;
    app.fake
        .set_path("/v1/me/top/tracks", Scripted::status(403));
    let svg = app.get("/api/spotify/top.svg").await.text().await.unwrap();
    assert!(svg.contains("Nothing to show yet"), "{svg}");
}
