//! Every mapping case, through the real Spotify client (HTTP to the fake) and the real Router.
use crate::support;

use serde_json::{json, Value};
use support::*;

#[tokio::test]
async fn track_playing() {
    let app = TestApp::start(&[]).await;
    app.fake.set_current(Scripted::json(bodies::playing(
        bodies::track("t1", "Song"),
        true,
        1234,
    )));
    let v = app.now().await;
    assert_eq!(
        v,
        json!({
            "isPlaying": true, "status": "playing", "type": "track", "name": "Song",
            "artists": "Artist One, Artist Two", "album": "The Album",
            "albumImage": "https://i.scdn.co/image/large",
            "albumImages": [
                {"url": "https://i.scdn.co/image/small", "width": 64, "height": 64},
                {"url": "https://i.scdn.co/image/large", "width": 640, "height": 640},
                {"url": "https://i.scdn.co/image/medium", "width": 300, "height": 300}
            ],
            "songUrl": "https://open.spotify.com/track/t1", "trackId": "t1", "previewUrl": null,
            "progressMs": 1234, "durationMs": 200000, "timestamp": T0.as_millis(), "playedAt": null,
            "stale": false, "source": "spotify"
        })
    );
    let stats = app.fake.stats();
    assert_eq!((stats.currently_playing, stats.recently_played), (1, 0));
}

#[tokio::test]
async fn paused() {
    let app = TestApp::start(&[]).await;
    app.fake.set_current(Scripted::json(bodies::playing(
        bodies::track("t1", "Song"),
        false,
        5000,
    )));
    let v = app.now().await;
    assert_eq!(v["status"], "paused");
    assert_eq!(v["isPlaying"], false);
    assert_eq!(v["progressMs"], 5000);
}

/// The older, fuller shape (before development-mode apps lost `show.publisher` and the rest):
/// the publisher is the episode's `artists`, and the other removed fields change nothing.
#[tokio::test]
async fn episode_in_the_older_fuller_shape_uses_show_and_publisher() {
    let app = TestApp::start(&[]).await;
    app.fake.set_current(Scripted::json(bodies::playing(
        bodies::full(bodies::episode()),
        true,
        10,
    )));
    let v = app.now().await;
    assert_eq!(v["type"], "episode");
    assert_eq!(v["name"], "Episode Title");
    assert_eq!(v["album"], "The Show");
    assert_eq!(v["artists"], "The Publisher");
    assert_eq!(v["albumImage"], "https://i.scdn.co/image/episode");
    assert_eq!(v["songUrl"], "https://open.spotify.com/episode/ep1");
    // A track in the fuller shape maps exactly as in today's shape.
    app.fake.set_current(Scripted::json(bodies::playing(
        bodies::full(bodies::track("t1", "Song")),
        true,
        1234,
    )));
    app.expire_cache();
    let full = app.now().await;
    app.fake.set_current(Scripted::json(bodies::playing(
        bodies::track("t1", "Song"),
        true,
        1234,
    )));
    app.expire_cache();
    let mut today = app.now().await;
    today["timestamp"] = full["timestamp"].clone();
    assert_eq!(full, today);
}

/// Today's development-mode shape: no `show.publisher` (or an empty one): the show's name.
#[tokio::test]
async fn episode_without_a_publisher_is_by_its_show() {
    let app = TestApp::start(&[]).await;
    assert!(bodies::episode()["show"].get("publisher").is_none());
    app.fake
        .set_current(Scripted::json(bodies::playing(bodies::episode(), true, 10)));
    let v = app.now().await;
    assert_eq!(v["type"], "episode");
    assert_eq!(v["album"], "The Show");
    assert_eq!(v["artists"], "The Show");
    for publisher in [json!(""), json!("  "), json!(null), json!(7)] {
        let mut ep = bodies::episode();
        ep["show"]["publisher"] = publisher.clone();
        app.fake
            .set_current(Scripted::json(bodies::playing(ep, true, 10)));
        app.expire_cache();
        assert_eq!(
            app.now().await["artists"],
            "The Show",
            "publisher {publisher}"
        );
    }
    // Recently played, too.
    app.fake.set_current(Scripted::status(204));
    app.fake.set_recent(Scripted::json(bodies::recent(
        bodies::episode(),
        "2026-11-23T10:00:00.000Z",
    )));
    app.expire_cache();
    let v = app.now().await;
    assert_eq!(
        (v["status"].as_str(), v["artists"].as_str()),
        (Some("recent"), Some("The Show"))
    );
}

#[tokio::test]
async fn episode_without_own_images_uses_show_art() {
    let app = TestApp::start(&[]).await;
    let mut ep = bodies::episode();
    ep["images"] = json!([]);
    app.fake
        .set_current(Scripted::json(bodies::playing(ep, true, 10)));
    assert_eq!(
        app.now().await["albumImage"],
        "https://i.scdn.co/image/show"
    );
}

#[tokio::test]
async fn episodes_are_requested_with_additional_types() {
    // The fake answers like Spotify: without additional_types an episode comes back as item null.
    // Here we check the request itself carries it, through a raw listener.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let seen = std::sync::Arc::new(std::sync::Mutex::new(Vec::<String>::new()));
    let seen2 = seen.clone();
    let router = axum::Router::new().fallback(move |req: axum::extract::Request| {
        let seen = seen2.clone();
        async move {
            seen.lock().unwrap().push(req.uri().to_string());
            axum::http::StatusCode::NO_CONTENT
        }
    });
    tokio::spawn(async move { axum::serve(listener, router).await.unwrap() });
    let client = nowplaying::spotify::SpotifyClient::new(&base, &base);
    let got = client
        .currently_playing(&"tok".into(), nowplaying::clock::Timestamp::from_millis(1))
        .await
        .unwrap();
    assert!(got.is_none());
    let seen = seen.lock().unwrap();
    assert_eq!(
        seen[0],
        "/v1/me/player/currently-playing?additional_types=track,episode"
    );
}

#[tokio::test]
async fn local_file_has_null_ids_links_and_art() {
    let app = TestApp::start(&[]).await;
    app.fake.set_current(Scripted::json(bodies::playing(
        bodies::local_file(),
        true,
        3,
    )));
    let v = app.now().await;
    assert_eq!(v["name"], "demo.mp3");
    assert_eq!(v["artists"], "Me");
    assert_eq!(v["trackId"], Value::Null);
    assert_eq!(v["songUrl"], Value::Null);
    assert_eq!(v["albumImage"], Value::Null);
    assert_eq!(v["status"], "playing");
}

#[tokio::test]
async fn nothing_playing_falls_back_to_recent() {
    let app = TestApp::start(&[]).await;
    app.fake.set_current(Scripted::status(204));
    app.fake.set_recent(Scripted::json(bodies::recent(
        bodies::track("r1", "Earlier"),
        "2026-11-23T09:00:00.000Z",
    )));
    let v = app.now().await;
    assert_eq!(v["status"], "recent");
    assert_eq!(v["isPlaying"], false);
    assert_eq!(v["name"], "Earlier");
    assert_eq!(v["progressMs"], Value::Null);
    assert_eq!(v["playedAt"], "2026-11-23T09:00:00.000Z");
    let stats = app.fake.stats();
    assert_eq!((stats.currently_playing, stats.recently_played), (1, 1));
}

#[tokio::test]
async fn ads_and_unknown_types_fall_back_to_recent() {
    let app = TestApp::start(&[]).await;
    app.fake.set_current(Scripted::json(
        json!({"is_playing": true, "currently_playing_type": "ad", "item": null}),
    ));
    app.fake.set_recent(Scripted::json(bodies::recent(
        bodies::track("r1", "Earlier"),
        "2026-11-23T09:00:00Z",
    )));
    assert_eq!(app.now().await["status"], "recent");
    app.expire_cache();
    app.fake.set_current(Scripted::json(
        json!({"is_playing": true, "currently_playing_type": "unknown", "item": {"type": "audiobook-chapter"}}),
    ));
    assert_eq!(app.now().await["status"], "recent");
}

#[tokio::test]
async fn no_recent_item_is_null() {
    let app = TestApp::start(&[]).await;
    app.fake.set_current(Scripted::status(204));
    app.fake
        .set_recent(Scripted::json(json!({"items": [], "next": null})));
    assert_eq!(app.now().await, Value::Null);
}

#[tokio::test]
async fn show_recent_false_is_null_without_asking() {
    let app = TestApp::start(&[("SHOW_RECENT", "false")]).await;
    app.fake.set_current(Scripted::status(204));
    app.fake.set_recent(Scripted::json(bodies::recent(
        bodies::track("r1", "Earlier"),
        "2026-11-23T09:00:00Z",
    )));
    assert_eq!(app.now().await, Value::Null);
    assert_eq!(app.fake.stats().recently_played, 0);
}

#[tokio::test]
async fn missing_optional_fields_do_not_fail_the_answer() {
    let app = TestApp::start(&[]).await;
    app.fake.set_current(Scripted::json(json!({
        "is_playing": true,
        "item": {"type": "track", "name": "Bare", "artists": [{"name": "X"}], "surprise": {"a": 1}}
    })));
    let v = app.now().await;
    assert_eq!(v["name"], "Bare");
    assert_eq!(v["album"], Value::Null);
    assert_eq!(v["albumImage"], Value::Null);
    assert_eq!(v["durationMs"], 0);
    assert_eq!(v["progressMs"], 0);
}

#[tokio::test]
async fn garbage_bodies_are_upstream_failures_not_panics() {
    for raw in [
        "<html>oops</html>",
        "{\"is_playing\": tr",
        "[1,2,3]",
        "\"just a string\"",
    ] {
        let app = TestApp::start(&[]).await;
        app.fake.set_current(Scripted::raw(200, raw));
        let r = app.get("/api/spotify").await;
        assert_eq!(r.status(), 200, "{raw}");
        // No earlier answer: nothing to show.
        assert_eq!(r.json::<Value>().await.unwrap(), Value::Null, "{raw}");
    }
}
