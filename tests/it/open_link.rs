//! `GET /api/spotify/open`: a `302` to the link of what the page shows (playing, paused, an
//! episode, the last played track), else to `OPEN_FALLBACK_URL`, else a `404`; never stored.
//! The client here follows no redirect, so nothing leaves 127.0.0.1.

use crate::support;

use reqwest::header;
use serde_json::Value;
use support::{bodies, Scripted, TestApp, T0};

/// Asks for `/api/spotify/open` without following it: the status and the `Location`.
async fn open(app: &TestApp) -> (u16, Option<String>, reqwest::Response) {
    let client = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let r = client
        .get(format!("{}/api/spotify/open", app.url))
        .send()
        .await
        .unwrap();
    assert_eq!(r.headers()[header::CACHE_CONTROL], "no-store");
    let to = r
        .headers()
        .get(header::LOCATION)
        .map(|v| v.to_str().unwrap().to_string());
    (r.status().as_u16(), to, r)
}

const FALLBACK: &str = "https://open.spotify.com/user/the-owner";

#[tokio::test]
async fn it_opens_the_track_playing_or_paused_and_the_episode() {
    let app = TestApp::start(&[]).await;
    app.fake.set_current(Scripted::json(bodies::playing(
        bodies::track("t1", "Song"),
        true,
        1_000,
    )));
    let (status, to, _) = open(&app).await;
    assert_eq!(status, 302);
    assert_eq!(to.as_deref(), Some("https://open.spotify.com/track/t1"));

    for (item, link) in [
        (
            bodies::track("t2", "Paused"),
            "https://open.spotify.com/track/t2",
        ),
        (bodies::episode(), "https://open.spotify.com/episode/ep1"),
    ] {
        let app = TestApp::start(&[]).await;
        let playing = item["type"] == "episode";
        app.fake
            .set_current(Scripted::json(bodies::playing(item, playing, 1_000)));
        let (status, to, _) = open(&app).await;
        assert_eq!((status, to.as_deref()), (302, Some(link)));
    }
}

#[tokio::test]
async fn when_nothing_plays_it_opens_the_last_played_track() {
    let app = TestApp::start(&[]).await;
    app.fake.set_current(Scripted::status(204));
    app.fake.set_recent(Scripted::json(bodies::recent(
        bodies::track("r1", "Earlier"),
        "2026-11-18T10:00:00Z",
    )));
    let (status, to, _) = open(&app).await;
    assert_eq!(
        (status, to.as_deref()),
        (302, Some("https://open.spotify.com/track/r1"))
    );
}

#[tokio::test]
async fn a_local_file_or_nothing_goes_to_the_fallback_or_is_a_404() {
    // A local file has no link: the fallback, when set.
    let app = TestApp::start(&[("OPEN_FALLBACK_URL", FALLBACK)]).await;
    app.fake.set_current(Scripted::json(bodies::playing(
        bodies::local_file(),
        true,
        1_000,
    )));
    let (status, to, _) = open(&app).await;
    assert_eq!((status, to.as_deref()), (302, Some(FALLBACK)));

    // Nothing played at all, and no fallback: a 404 with a JSON reason.
    let app = TestApp::start(&[]).await;
    app.fake.set_current(Scripted::status(204));
    app.fake.set_recent(Scripted::json(bodies::page(vec![])));
    let (status, to, r) = open(&app).await;
    assert_eq!((status, to), (404, None));
    let v: Value = r.json().await.unwrap();
    assert!(
        v["error"].as_str().unwrap().contains("OPEN_FALLBACK_URL"),
        "{v}"
    );
}

#[tokio::test]
async fn while_hidden_it_opens_only_the_fallback() {
    let app = TestApp::start(&[("OPEN_FALLBACK_URL", FALLBACK)]).await;
    app.fake.set_current(Scripted::json(bodies::playing(
        bodies::track("t1", "Secret Song"),
        true,
        1_000,
    )));
    let stores = nowplaying::app::Stores::local(
        std::sync::Arc::new(nowplaying::store::file::FileCredentials::new(
            app.creds_path.clone(),
        )),
        std::sync::Arc::new(nowplaying::store::memory::MemoryState::new()),
        &app.creds_path,
    );
    stores
        .deployment
        .privacy_switch()
        .set(true, T0)
        .await
        .unwrap();
    let (status, to, _) = open(&app).await;
    assert_eq!((status, to.as_deref()), (302, Some(FALLBACK)));
    assert_eq!(
        app.fake.stats().currently_playing,
        0,
        "hidden: Spotify is not asked"
    );
}

#[test]
fn a_fallback_that_is_not_a_url_stops_start_up_naming_it() {
    let err = nowplaying::config::Config::from_lookup(|k| {
        (k == "OPEN_FALLBACK_URL").then(|| "javascript:alert(1)".to_string())
    })
    .unwrap_err();
    assert!(err.to_string().contains("OPEN_FALLBACK_URL"), "{err}");
}
