//! Last.fm as a source (`SOURCE=lastfm`) and as the fallback (`SOURCE=spotify,lastfm`), against
//! the fake Last.fm and the fake Spotify over HTTP, with the clock moved by the test.

use crate::support;
use support::logs::LogBuffer;

use std::time::Duration;

use serde_json::{json, Value};

use nowplaying::store::file::FileCredentials;
use nowplaying::store::CredentialStore;
use support::fake_lastfm::{
    self, bodies, FakeLastfm, API_KEY, LOVED, RECENT, TOP_ARTISTS, TOP_TRACKS, USER,
};
use support::{bodies as spotify, credentials, Scripted, TestApp, TokenBehavior, SIGN_INS};

const STALE_MAX_MS: u64 = 15 * 60 * 1000;

/// The service with `SOURCE=source`, the fake Last.fm, and `extra` variables.
async fn start(source: &str, extra: &[(&str, &str)]) -> (TestApp, FakeLastfm) {
    let lf = FakeLastfm::start().await;
    let mut vars = vec![
        ("SOURCE", source),
        ("LASTFM_USER", USER),
        ("LASTFM_API_KEY", API_KEY),
        ("LASTFM_API_BASE_URL", lf.base.as_str()),
    ];
    vars.extend_from_slice(extra);
    let app = TestApp::start(&vars).await;
    (app, lf)
}

fn spotify_playing() -> Scripted {
    Scripted::json(spotify::playing(
        spotify::track("t1", "Spotify Song"),
        true,
        1_000,
    ))
}

/// Nothing of Spotify was asked.
fn assert_spotify_untouched(app: &TestApp) {
    let s = app.fake.stats();
    assert_eq!(
        (
            s.currently_playing,
            s.recently_played,
            s.token_calls,
            s.top,
            s.saved
        ),
        (0, 0, 0, 0, 0),
        "{s:?}"
    );
}

#[tokio::test]
async fn now_playing_from_lastfm() {
    let (app, lf) = start("lastfm", &[]).await;
    let v = app.now().await;
    assert_eq!(v["source"], "lastfm", "{v}");
    assert_eq!(v["status"], "playing");
    assert_eq!(v["isPlaying"], true);
    assert_eq!(v["type"], "track");
    assert_eq!(v["name"], "Now Song");
    assert_eq!(v["artists"], "Scroobius");
    assert_eq!(v["album"], "Distraction Pieces");
    assert_eq!(v["albumImage"], bodies::COVER);
    assert_eq!(
        v["songUrl"],
        "https://www.last.fm/music/Scroobius/_/Now+Song"
    );
    for k in [
        "trackId",
        "previewUrl",
        "progressMs",
        "durationMs",
        "playedAt",
    ] {
        assert_eq!(v[k], Value::Null, "{k}: {v}");
    }
    assert_eq!(v["stale"], false);
    // Every size Last.fm lists, at its nominal size, so the card can take a small one.
    let sizes: Vec<(String, u64)> = v["albumImages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| {
            assert_eq!(i["width"], i["height"], "{i}");
            (
                i["url"].as_str().unwrap().to_string(),
                i["width"].as_u64().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        sizes,
        [("34s", 34), ("64s", 64), ("174s", 174), ("300x300", 300)]
            .map(|(part, px)| (bodies::COVER.replace("300x300", part), px))
            .to_vec(),
        "{v}"
    );
    assert_eq!(v.as_object().unwrap().len(), 17, "{v}");
    assert_spotify_untouched(&app);
    // The call Last.fm saw: JSON, the user, extended artists; the key never elsewhere.
    let q = &lf.queries()[0];
    assert_eq!(q["method"], RECENT);
    assert_eq!(q["user"], USER);
    assert_eq!(q["format"], "json");
    assert_eq!(q["extended"], "1");
    assert_eq!(lf.bad_requests(), 0);
}

/// The README card of a Last.fm answer carries Last.fm's mark and its cover. The cover is served
/// by the fake Spotify (a loopback host the card may fetch art from), so nothing leaves
/// 127.0.0.1.
#[tokio::test]
async fn the_card_of_a_lastfm_answer_carries_the_mark_and_the_cover() {
    let (app, lf) = start("lastfm", &[]).await;
    let cover = format!("{}/img/cover.png", app.fake.base.trim_end_matches('/'));
    let mut body = bodies::now_playing();
    body["recenttracks"]["track"][0]["image"] = bodies::images(&cover);
    lf.set(RECENT, Scripted::json(body));
    let svg = app.get("/api/spotify.svg").await.text().await.unwrap();
    assert!(svg.contains(r#"data-source="lastfm""#), "{svg}");
    assert!(svg.contains(">on Last.fm<"), "{svg}");
    assert!(svg.contains("data:image/png;base64,"), "{svg}");
    assert_eq!(app.fake.stats().image_calls, vec!["/img/cover.png"]);
}

#[tokio::test]
async fn recent_only_a_single_object_and_the_recent_switch() {
    let (app, lf) = start("lastfm", &[]).await;
    lf.set(RECENT, Scripted::json(bodies::recent_only()));
    let v = app.now().await;
    assert_eq!(
        (&v["status"], &v["isPlaying"], &v["name"], &v["source"]),
        (
            &json!("recent"),
            &json!(false),
            &json!("Last Song"),
            &json!("lastfm")
        )
    );
    assert_eq!(v["playedAt"], "2026-11-18T11:06:40Z");
    assert_eq!(v["progressMs"], Value::Null);

    lf.set(RECENT, Scripted::json(bodies::single_object()));
    app.expire_cache();
    let v = app.now().await;
    assert_eq!(
        (&v["name"], &v["status"]),
        (&json!("Only Song"), &json!("recent"))
    );

    lf.set(RECENT, Scripted::json(bodies::empty()));
    app.expire_cache();
    assert_eq!(app.now().await, Value::Null);

    let (app, lf) = start("lastfm", &[("SHOW_RECENT", "false")]).await;
    lf.set(RECENT, Scripted::json(bodies::recent_only()));
    assert_eq!(app.now().await, Value::Null);
    lf.set(RECENT, Scripted::json(bodies::now_playing()));
    app.expire_cache();
    assert_eq!(app.now().await["name"], "Now Song");
}

#[tokio::test]
async fn placeholder_and_missing_images_are_null() {
    let (app, lf) = start("lastfm", &[]).await;
    lf.set(RECENT, Scripted::json(bodies::placeholder_images()));
    let v = app.now().await;
    assert_eq!(
        (&v["name"], &v["albumImage"]),
        (&json!("Starred"), &Value::Null)
    );
    lf.set(RECENT, Scripted::json(bodies::missing_images()));
    app.expire_cache();
    let v = app.now().await;
    assert_eq!(v["name"], "Bare");
    assert_eq!(v["albumImage"], Value::Null);
    assert_eq!(
        v["album"],
        Value::Null,
        "an empty album is null, not \"\": {v}"
    );
}

#[tokio::test]
async fn owner_must_act_errors_answer_null_and_pause_asking() {
    for code in [10, 26, 6, 17] {
        for status in [200, 403] {
            let (app, lf) = start("lastfm", &[]).await;
            assert_eq!(app.now().await["name"], "Now Song");
            lf.set_error(RECENT, status, code);
            app.expire_cache();
            let r = app.get("/api/spotify").await;
            assert_eq!(r.status(), 200);
            // Not the stale answer: only the owner can fix this.
            assert_eq!(
                r.json::<Value>().await.unwrap(),
                Value::Null,
                "{code}/{status}"
            );
            let calls = lf.calls(RECENT);
            // A minute without asking Last.fm again; then it is asked (and fixed).
            app.expire_cache();
            assert_eq!(app.now().await, Value::Null);
            assert_eq!(lf.calls(RECENT), calls, "{code}: asked again at once");
            lf.set(RECENT, Scripted::json(bodies::now_playing()));
            app.clock.advance(Duration::from_secs(61));
            assert_eq!(app.now().await["name"], "Now Song", "{code}");
            assert_eq!(lf.calls(RECENT), calls + 1);
        }
    }
}

#[tokio::test]
async fn temporary_errors_and_garbage_serve_stale_then_null() {
    let mut failures: Vec<Scripted> = [8, 11, 16]
        .iter()
        .map(|c| fake_lastfm::error(200, *c))
        .collect();
    failures.push(fake_lastfm::error(500, 16));
    failures.push(Scripted::status(503));
    failures.extend(bodies::garbage().iter().map(|g| Scripted::raw(200, g)));
    for failure in failures {
        let (app, lf) = start("lastfm", &[]).await;
        assert_eq!(app.now().await["name"], "Now Song");
        lf.set(RECENT, failure.clone());
        app.expire_cache();
        let v = app.now().await;
        assert_eq!(
            (&v["name"], &v["stale"], &v["source"]),
            (&json!("Now Song"), &json!(true), &json!("lastfm")),
            "{failure:?}"
        );
        app.clock.advance(Duration::from_millis(STALE_MAX_MS + 1));
        assert_eq!(app.now().await, Value::Null, "{failure:?}");
    }
}

#[tokio::test]
async fn a_slow_lastfm_is_cut_off_and_the_answer_is_stale() {
    let (app, lf) = start("lastfm", &[]).await;
    assert_eq!(app.now().await["name"], "Now Song");
    lf.set(RECENT, Scripted::json(bodies::recent_only()).delayed(4_000));
    app.expire_cache();
    let started = std::time::Instant::now();
    let v = app.now().await;
    assert!(
        started.elapsed() < Duration::from_millis(3_500),
        "{:?}",
        started.elapsed()
    );
    assert_eq!(
        (&v["name"], &v["stale"]),
        (&json!("Now Song"), &json!(true))
    );
}

#[tokio::test]
async fn the_rate_limit_is_a_shared_cooldown() {
    let (app, lf) = start("lastfm", &[]).await;
    assert_eq!(app.now().await["name"], "Now Song");
    lf.set_error(RECENT, 200, 29);
    app.expire_cache();
    let v = app.now().await;
    assert_eq!(
        (&v["name"], &v["stale"]),
        (&json!("Now Song"), &json!(true))
    );
    let calls = lf.calls(RECENT);
    for _ in 0..5 {
        app.clock.advance(Duration::from_secs(10));
        assert_eq!(app.now().await["stale"], true);
    }
    assert_eq!(
        lf.calls(RECENT),
        calls,
        "Last.fm was asked during its cooldown"
    );
    lf.set(RECENT, Scripted::json(bodies::recent_only()));
    app.clock.advance(Duration::from_secs(11));
    let v = app.now().await;
    assert_eq!(
        (&v["name"], &v["stale"]),
        (&json!("Last Song"), &json!(false))
    );
    assert_eq!(lf.calls(RECENT), calls + 1);
}

#[tokio::test]
async fn lastfm_is_asked_once_per_window() {
    let (app, lf) = start("lastfm", &[]).await;
    lf.set(RECENT, Scripted::json(bodies::now_playing()).delayed(200));
    let pages = futures_join(&app, 20).await;
    assert!(pages.iter().all(|v| v["name"] == "Now Song"), "{pages:?}");
    assert_eq!(lf.calls(RECENT), 1);
    app.expire_cache();
    futures_join(&app, 20).await;
    assert_eq!(lf.calls(RECENT), 2);
}

async fn futures_join(app: &TestApp, n: usize) -> Vec<Value> {
    let mut tasks = Vec::new();
    for _ in 0..n {
        let (http, url) = (app.http.clone(), format!("{}/api/spotify", app.url));
        tasks.push(tokio::spawn(async move {
            http.get(url)
                .send()
                .await
                .unwrap()
                .json::<Value>()
                .await
                .unwrap()
        }));
    }
    let mut out = Vec::new();
    for t in tasks {
        out.push(t.await.unwrap());
    }
    out
}

#[tokio::test]
async fn the_profile_lists_from_lastfm() {
    let (app, lf) = start("lastfm", &[("PROFILE_ENDPOINTS", "top,saved")]).await;
    lf.set(RECENT, Scripted::json(bodies::now_playing()));
    lf.queue(RECENT, Scripted::json(bodies::now_playing()));
    let v: Value = app
        .get("/api/spotify/recent?limit=5")
        .await
        .json()
        .await
        .unwrap();
    // The playing track is not history yet.
    let items = v["items"].as_array().unwrap();
    assert_eq!(items.len(), 1, "{v}");
    assert_eq!(items[0]["name"], "Earlier Song");
    assert_eq!(items[0]["count"], 1);
    assert_eq!(items[0]["source"], "lastfm");
    assert_eq!(lf.queries().last().unwrap()["limit"], "50");

    // Repeats folded: a separate app, so the history is read again.
    let (app2, lf2) = start("lastfm", &[]).await;
    lf2.set(RECENT, Scripted::json(bodies::recent_only()));
    let v: Value = app2.get("/api/spotify/recent").await.json().await.unwrap();
    let got: Vec<_> = v["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| (i["name"].as_str().unwrap().to_string(), i["count"].as_u64()))
        .collect();
    assert_eq!(
        got,
        vec![
            ("Last Song".into(), Some(2)),
            ("Before That".into(), Some(1))
        ]
    );

    for (range, period) in [
        ("short_term", "1month"),
        ("medium_term", "6month"),
        ("long_term", "12month"),
    ] {
        let v: Value = app
            .get(&format!("/api/spotify/top/tracks?range={range}"))
            .await
            .json()
            .await
            .unwrap();
        assert_eq!(v["items"][0]["name"], "Top One", "{v}");
        assert_eq!(v["items"][0]["rank"], 1);
        assert_eq!(v["items"][0]["durationMs"], 215_000);
        assert_eq!(v["items"][0]["albumImage"], Value::Null);
        assert_eq!(v["items"][1]["durationMs"], Value::Null);
        assert_eq!(v["items"][0]["status"], "top");
        let q = lf.queries().last().unwrap().clone();
        assert_eq!(
            (q["method"].as_str(), q["period"].as_str()),
            (TOP_TRACKS, period)
        );
    }
    let v: Value = app
        .get("/api/spotify/top/artists?range=long_term&limit=5")
        .await
        .json()
        .await
        .unwrap();
    let items = v["items"].as_array().unwrap();
    assert_eq!(items.len(), 2, "the entry without a name is skipped: {v}");
    assert_eq!(
        (&items[0]["name"], &items[0]["image"], &items[0]["rank"]),
        (&json!("Scroobius"), &Value::Null, &json!(1))
    );
    assert_eq!(items[1]["image"], bodies::COVER);
    assert_eq!(items[1]["url"], "https://www.last.fm/music/Pip");
    assert_eq!(items[1]["genres"], json!([]));
    assert_eq!(lf.queries().last().unwrap()["period"], "12month");
    let svg = app
        // No art: the fake lists Last.fm CDN URLs, which a test never fetches.
        .get("/api/spotify/top.svg?kind=artists&range=long_term&hide_art=1")
        .await
        .text()
        .await
        .unwrap();
    assert!(
        svg.contains(">Last.fm</text>") && svg.contains("Scroobius"),
        "{svg}"
    );

    let v: Value = app.get("/api/spotify/saved").await.json().await.unwrap();
    assert_eq!(v["items"][0]["name"], "Loved One");
    assert_eq!(v["items"][0]["status"], "saved");
    assert_eq!(v["items"][0]["addedAt"], "2026-11-06T21:20:00Z");
    assert_eq!(lf.calls(LOVED), 1);
    assert_eq!(lf.calls(TOP_ARTISTS), 1);
    // Each list once per window.
    app.get("/api/spotify/saved?limit=1").await;
    assert_eq!(lf.calls(LOVED), 1);
    assert_spotify_untouched(&app);
}

#[tokio::test]
async fn the_key_can_live_in_the_credentials_and_its_absence_is_null() {
    let lf = FakeLastfm::start().await;
    let vars = [
        ("SOURCE", "lastfm"),
        ("LASTFM_USER", USER),
        ("LASTFM_API_BASE_URL", lf.base.as_str()),
    ];
    let app = TestApp::start(&vars).await;
    // No key anywhere yet: null.
    assert_eq!(app.now().await, Value::Null);
    assert_eq!(lf.total_calls(), 0);
    let mut c = credentials(support::fake_spotify::FIRST_REFRESH_TOKEN);
    c.extra.insert("lastfm_api_key".into(), json!(API_KEY));
    FileCredentials::new(&app.creds_path)
        .save(&c)
        .await
        .unwrap();
    app.clock.advance(Duration::from_secs(61));
    assert_eq!(app.now().await["name"], "Now Song");
    assert_eq!(lf.calls(RECENT), 1);
    assert_spotify_untouched(&app);
}

#[tokio::test]
async fn spotify_first_and_lastfm_untouched_while_spotify_answers() {
    let (app, lf) = start("spotify,lastfm", &[]).await;
    app.fake.set_current(spotify_playing());
    let v = app.now().await;
    assert_eq!(
        (&v["name"], &v["source"]),
        (&json!("Spotify Song"), &json!("spotify"))
    );
    app.expire_cache();
    app.now().await;
    assert_eq!(app.fake.stats().currently_playing, 2);
    assert_eq!(lf.total_calls(), 0);
}

/// The owner's refresh token is revoked: the page answers from Last.fm, then from Spotify again
/// once the owner has signed in again.
#[tokio::test]
async fn fallback_while_the_sign_in_is_revoked_and_back_after_authorize() {
    let (app, lf) = start("spotify,lastfm", &[]).await;
    app.fake.set_current(spotify_playing());
    assert_eq!(app.now().await["source"], "spotify");

    app.fake.set_token(TokenBehavior {
        error: Some("invalid_grant".into()),
        ..Default::default()
    });
    app.fake.expire_access_tokens();
    app.expire_cache();
    let v = app.now().await;
    assert_eq!(
        (&v["name"], &v["source"]),
        (&json!("Now Song"), &json!("lastfm")),
        "{v}"
    );
    assert_eq!(v["stale"], false);
    // Still from Last.fm, once per window; Spotify's keeper backs off meanwhile.
    for _ in 0..3 {
        app.expire_cache();
        assert_eq!(app.now().await["source"], "lastfm");
    }
    assert_eq!(lf.calls(RECENT), 4);

    // `nowplaying authorize`: a new sign-in in the credentials file.
    app.fake.set_token(TokenBehavior::default());
    app.fake
        .set_refresh_token(Some("refresh-token-reauthorized"));
    let mut c = credentials("refresh-token-reauthorized");
    c.authorized_at = Some(SIGN_INS[1].into());
    nowplaying::owner::replace_authorization(
        &FileCredentials::new(&app.creds_path),
        None,
        &c,
        || nowplaying::clock::Timestamp::EPOCH,
    )
    .await
    .unwrap();
    app.expire_cache();
    let v = app.now().await;
    assert_eq!(
        (&v["name"], &v["source"]),
        (&json!("Spotify Song"), &json!("spotify")),
        "{v}"
    );
    assert_eq!(lf.calls(RECENT), 4);
}

/// Spotify's `429` with no stale answer: the window of the `429` is `null`, then Last.fm fills
/// each window of the cooldown (asked once per window), and Spotify is not asked until it ends.
#[tokio::test]
async fn a_spotify_cooldown_without_a_stale_answer_asks_lastfm() {
    let (app, lf) = start("spotify,lastfm", &[]).await;
    app.fake.set_current(Scripted::status(429).retry_after(120));
    assert_eq!(app.now().await, Value::Null);
    assert_eq!(lf.total_calls(), 0);
    for n in 1..=3 {
        app.expire_cache();
        let v = app.now().await;
        assert_eq!(
            (&v["source"], &v["stale"]),
            (&json!("lastfm"), &json!(false)),
            "{v}"
        );
        assert_eq!(lf.calls(RECENT), n);
    }
    assert_eq!(app.fake.stats().currently_playing, 1);
    app.fake.set_current(spotify_playing());
    app.clock.advance(Duration::from_secs(120));
    let v = app.now().await;
    assert_eq!(v["source"], "spotify", "{v}");
    assert_eq!(app.fake.stats().currently_playing, 2);
}

/// With a stale answer from Spotify, the cooldown serves it (as with Spotify alone).
#[tokio::test]
async fn a_spotify_cooldown_with_a_stale_answer_serves_it() {
    let (app, lf) = start("spotify,lastfm", &[]).await;
    app.fake.set_current(spotify_playing());
    assert_eq!(app.now().await["source"], "spotify");
    app.fake.set_current(Scripted::status(429).retry_after(60));
    for _ in 0..3 {
        app.expire_cache();
        let v = app.now().await;
        assert_eq!(
            (&v["source"], &v["stale"]),
            (&json!("spotify"), &json!(true))
        );
    }
    assert_eq!(lf.total_calls(), 0);
    assert_eq!(app.fake.stats().currently_playing, 2);
}

/// Spotify failing (5xx) with a stale answer: Last.fm answers fresh instead.
#[tokio::test]
async fn spotify_failing_falls_back_and_both_failing_is_stale() {
    let (app, lf) = start("spotify,lastfm", &[]).await;
    app.fake.set_current(spotify_playing());
    assert_eq!(app.now().await["source"], "spotify");
    app.fake.set_current(Scripted::status(502));
    app.expire_cache();
    let v = app.now().await;
    assert_eq!(
        (&v["source"], &v["stale"]),
        (&json!("lastfm"), &json!(false))
    );
    // Last.fm rate-limited too: the last answer, stale; and no cooldown stops Spotify.
    lf.set_error(RECENT, 200, 29);
    app.expire_cache();
    let v = app.now().await;
    assert_eq!(
        (&v["source"], &v["stale"]),
        (&json!("lastfm"), &json!(true)),
        "{v}"
    );
    app.fake.set_current(spotify_playing());
    app.expire_cache();
    let v = app.now().await;
    assert_eq!(
        (&v["source"], &v["stale"]),
        (&json!("spotify"), &json!(false)),
        "{v}"
    );
}

/// The profile lists fall back the same way (Spotify not signed in at all).
#[tokio::test]
async fn lists_fall_back_when_spotify_is_not_signed_in() {
    let (app, lf) = start("spotify,lastfm", &[("PROFILE_ENDPOINTS", "top")]).await;
    std::fs::remove_file(&app.creds_path).unwrap();
    let v: Value = app
        .get("/api/spotify/top/tracks")
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(v["items"][0]["source"], "lastfm", "{v}");
    assert_eq!(app.now().await["source"], "lastfm");
    assert_eq!(lf.calls(TOP_TRACKS), 1);
}

/// The owner's problem is logged once as an ERROR with `alert` and `reason`; the key never.
#[tokio::test]
async fn an_owner_problem_is_logged_once_without_the_key() {
    let buffer = LogBuffer::default();
    let writer = buffer.clone();
    let subscriber = tracing_subscriber::fmt()
        .json()
        .with_env_filter("info")
        .with_writer(move || writer.clone())
        .finish();
    let _guard = tracing::subscriber::set_default(subscriber);

    let (app, lf) = start("lastfm", &[]).await;
    lf.set_error(RECENT, 403, 17);
    for _ in 0..4 {
        assert_eq!(app.now().await, Value::Null);
        app.clock.advance(Duration::from_secs(61));
    }
    assert!(lf.calls(RECENT) >= 3);
    let text = buffer.text();
    let errors: Vec<Value> = text
        .lines()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .filter(|v| v["level"] == "ERROR")
        .collect();
    assert_eq!(errors.len(), 1, "{text}");
    assert_eq!(errors[0]["fields"]["alert"], "owner_must_act", "{text}");
    assert_eq!(
        errors[0]["fields"]["reason"], "lastfm_private_listening",
        "{text}"
    );
    assert!(!text.contains(API_KEY), "{text}");
}
