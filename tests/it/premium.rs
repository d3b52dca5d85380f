//! A lapsed Premium subscription: since 2026 a development-mode app works only while
//! the Spotify account that owns it has Premium, and the Web API answers `403` with a message
//! naming Premium when it lapses. Against the whole service on the AWS emulator and the fake
//! Spotify, with a clock the test moves: the page keeps answering `200` (stale, then `null`, or
//! Last.fm with `SOURCE=spotify,lastfm`), Spotify is asked once per cooldown step (10 min doubling
//! to an hour, then hourly), one ERROR line per step carries the owner's alert, the lists never
//! call it a missing scope, and the first good answer after the owner renews clears it.

use crate::support;
use nowplaying::clock::Timestamp;
use std::time::Duration;

use serde_json::{json, Value};
use support::aws::{self, attr_n, attr_s, EmulatorApp};
use support::fake_lastfm::{FakeLastfm, API_KEY, RECENT, USER};
use support::*;

use nowplaying::clock::{Clock, ManualClock};
use nowplaying::keys::COOLDOWN_KEY;

const MIN: u64 = 60_000;
const STALE_MAX_MS: u64 = 15 * MIN;

fn premium() -> Scripted {
    Scripted::status_json(403, bodies::premium_required())
}

async fn start(extra: &[(&str, &str)]) -> (EmulatorApp, ManualClock) {
    let clock = ManualClock::at(T0);
    let app = EmulatorApp::start(extra, Some(clock.clone()), None).await;
    (app, clock)
}

/// This run's log lines (its table is named in the alert) at ERROR level about Premium.
fn premium_errors(app: &EmulatorApp) -> Vec<String> {
    aws::captured_logs()
        .lines()
        .filter(|l| l.contains("ERROR") && l.contains(&app.table) && l.contains("premium"))
        .map(str::to_string)
        .collect()
}

/// The cooldown item as stored: its value and its end.
async fn cooldown(app: &EmulatorApp) -> Option<(Value, u64)> {
    let item = app.item(COOLDOWN_KEY).await?;
    Some((
        serde_json::from_str(&attr_s(&item, "v")).unwrap(),
        attr_n(&item, "exp"),
    ))
}

async fn get(app: &EmulatorApp, path: &str) -> Value {
    get_at(app, &app.url, path).await
}

async fn get_at(app: &EmulatorApp, base: &str, path: &str) -> Value {
    let r = app.http.get(format!("{base}{path}")).send().await.unwrap();
    assert_eq!(r.status(), 200, "GET {path}");
    r.json().await.unwrap()
}

/// The lengths of the cooldown steps, in minutes.
const STEPS_MIN: [u64; 7] = [10, 20, 40, 60, 60, 60, 60];

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lapsed_premium_backs_off_alerts_once_per_step_and_clears_on_renewal() {
    let (app, clock) = start(&[]).await;
    app.fake.set_current(song());
    assert_eq!(app.now().await["name"], "Song", "warm-up");
    let good_at = clock.now().as_millis();
    let ttl = cache_window(&app.app);

    clock.advance(ttl + Duration::from_millis(1));
    app.fake.set_current(premium());
    let lapsed_at = clock.now().as_millis();
    let v = app.now().await;
    assert_eq!(
        (v["name"].as_str(), &v["stale"]),
        (Some("Song"), &json!(true))
    );
    let (c, until) = cooldown(&app).await.expect("a cooldown item");
    assert_eq!(c, json!({"reason": "premium_required", "step": 1}));
    assert_eq!(until, lapsed_at + 10 * MIN);

    // Over four hours of traffic, every 30 s (each past the 5 s cache window), a request to
    // this instance and one to another (another Lambda environment on the same table): when
    // Spotify is asked, and how each step's cooldown is written.
    let other = app.sibling(&[], Some(clock.clone())).await;
    let mut asked_at = vec![lapsed_at];
    let mut steps = vec![(1, until - lapsed_at)];
    let mut calls = app.fake.stats().currently_playing;
    let start = clock.now().as_millis();
    let (mut stale, mut null) = (0, 0);
    while clock.now().as_millis() < start + 250 * MIN {
        clock.advance(Duration::from_millis(MIN / 2));
        for base in [&app.url, &other] {
            let v = get_at(&app, base, "/api/spotify").await;
            if clock.now().as_millis() - good_at <= STALE_MAX_MS {
                assert_eq!(
                    (v["name"].as_str(), &v["stale"]),
                    (Some("Song"), &json!(true))
                );
                stale += 1;
            } else {
                assert_eq!(v, Value::Null);
                null += 1;
            }
        }
        let now_calls = app.fake.stats().currently_playing;
        if now_calls != calls {
            assert_eq!(now_calls, calls + 1, "one call at the end of a step");
            calls = now_calls;
            asked_at.push(clock.now().as_millis());
            let (c, until) = cooldown(&app).await.unwrap();
            steps.push((c["step"].as_u64().unwrap(), until - clock.now().as_millis()));
        }
    }
    let windows = (clock.now().as_millis() - lapsed_at) / ttl.as_millis() as u64;
    assert!(windows >= 20, "{windows} cache windows");
    let gaps: Vec<u64> = asked_at.windows(2).map(|w| (w[1] - w[0]) / MIN).collect();
    eprintln!(
        "PREMIUM | {} calls in {windows} cache windows ({} min) | gaps {gaps:?} min | steps {steps:?} | pages stale {stale}, null {null}",
        asked_at.len(),
        (clock.now().as_millis() - lapsed_at) / MIN
    );
    assert_eq!(gaps, STEPS_MIN[..gaps.len()].to_vec(), "one call per step");
    // At 0, 10, 30, 70, 130, 190 and 250 min.
    assert_eq!(asked_at.len(), 7, "{asked_at:?}");
    let expected: Vec<(u64, u64)> = (1..=7)
        .map(|s| (s, STEPS_MIN[s as usize - 1] * MIN))
        .collect();
    assert_eq!(steps, expected);
    // Nothing but currently-playing: no recently-played, and no token call beyond the hourly
    // refresh of the access token.
    assert_eq!(app.fake.stats().recently_played, 0);

    // One ERROR line per step, each with the owner's alert and the reason.
    let errors = premium_errors(&app);
    assert_eq!(errors.len(), 7, "{errors:#?}");
    for (n, line) in errors.iter().enumerate() {
        assert!(line.contains("owner_must_act"), "{line}");
        assert!(line.contains("reason=\"premium_required\""), "{line}");
        assert!(line.contains(&format!("step={}", n + 1)), "{line}");
        assert!(line.contains("Renew Premium"), "{line}");
        assert!(!line.contains(fake_spotify::CLIENT_SECRET) && !line.contains("refresh-token-"));
    }
    assert!(!aws::captured_logs()
        .lines()
        .any(|l| l.contains(&app.table) && l.contains("missing_scope")));

    // The owner renews: the first call after the running step answers, and clears it.
    app.fake.set_current(song());
    let (_, until) = cooldown(&app).await.unwrap();
    clock.set(Timestamp::from_millis(until));
    let v = app.now().await;
    assert_eq!(
        (v["name"].as_str(), &v["stale"]),
        (Some("Song"), &json!(false))
    );
    assert_eq!(
        cooldown(&app).await,
        None,
        "the first success deletes the item"
    );
    clock.advance(ttl + Duration::from_millis(1));
    assert_eq!(app.now().await["stale"], false);
    assert_eq!(
        app.fake.stats().currently_playing,
        calls + 2,
        "every window again"
    );
    // A later lapse starts again at ten minutes.
    clock.advance(ttl + Duration::from_millis(1));
    app.fake.set_current(premium());
    assert_eq!(app.now().await["stale"], true);
    let (c, until) = cooldown(&app).await.unwrap();
    assert_eq!(c["step"], 1);
    assert_eq!(until, clock.now().as_millis() + 10 * MIN);
    assert_eq!(premium_errors(&app).len(), 8);
}

/// The lists share the cooldown, call it Premium (never a missing scope), and a plain `403`
/// still is a missing scope.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_lists_tell_a_lapsed_premium_from_a_missing_scope() {
    let (app, clock) = start(&[("PROFILE_ENDPOINTS", "top,saved")]).await;
    for path in ["/v1/me/top/tracks", "/v1/me/top/artists", "/v1/me/tracks"] {
        app.fake.set_path(path, premium());
    }
    app.fake.set_recent(premium());
    app.fake.set_current(premium());
    let lists = [
        "/api/spotify/recent",
        "/api/spotify/top/tracks",
        "/api/spotify/top/artists",
        "/api/spotify/saved",
    ];
    for _ in 0..3 {
        for path in lists {
            assert_eq!(get(&app, path).await, Value::Null, "{path}");
        }
        assert_eq!(app.now().await, Value::Null);
        clock.advance(Duration::from_millis(2 * MIN));
    }
    let s = app.fake.stats();
    assert_eq!(
        s.recently_played + s.top + s.saved + s.currently_playing,
        1,
        "the first list's 403 starts the cooldown for every key: {s:?}"
    );
    let (c, _) = cooldown(&app).await.unwrap();
    assert_eq!(c, json!({"reason": "premium_required", "step": 1}));
    let errors = premium_errors(&app);
    assert_eq!(errors.len(), 1, "{errors:#?}");
    assert!(errors[0].contains("answer:recent"), "{}", errors[0]);
    let logs = aws::captured_logs();
    let scope_lines = |logs: &str| logs.lines().filter(|l| l.contains("missing_scope")).count();
    assert_eq!(scope_lines(&logs), 0, "never a missing scope for Premium");

    // A 403 that names no Premium is what it was: the list lacks its scope (null, logged so).
    app.fake.set_path(
        "/v1/me/top/tracks",
        Scripted::status_json(
            403,
            json!({"error": {"status": 403, "message": "Insufficient client scope"}}),
        ),
    );
    clock.advance(Duration::from_millis(60 * MIN));
    assert_eq!(get(&app, "/api/spotify/top/tracks").await, Value::Null);
    let logs = aws::captured_logs();
    assert_eq!(scope_lines(&logs), 1, "a plain 403 is a missing scope");
    assert!(
        logs.lines()
            .any(|l| l.contains("missing_scope") && l.contains("user-top-read")),
        "{logs}"
    );
    assert_eq!(premium_errors(&app).len(), 1, "no new Premium step");
    // Spotify answered without naming Premium: the Premium cooldown is over.
    assert_eq!(cooldown(&app).await, None);
}

/// `SOURCE=spotify,lastfm`: Last.fm answers while Premium is lapsed; Spotify is still asked only
/// once per step; Spotify answers again after the renewal.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_the_lastfm_fallback_lastfm_answers_while_premium_is_lapsed() {
    let lf = FakeLastfm::start().await;
    let clock = ManualClock::at(T0);
    // On AWS the Last.fm key lives in the secret, beside the Spotify sign-in.
    let mut doc = credentials(fake_spotify::FIRST_REFRESH_TOKEN);
    doc.extra.insert("lastfm_api_key".into(), json!(API_KEY));
    let app = EmulatorApp::start(
        &[
            ("SOURCE", "spotify,lastfm"),
            ("LASTFM_USER", USER),
            ("LASTFM_API_BASE_URL", lf.base.as_str()),
        ],
        Some(clock.clone()),
        Some(&doc.to_json()),
    )
    .await;
    app.fake.set_current(song());
    assert_eq!(app.now().await["source"], "spotify");
    let ttl = cache_window(&app.app);
    app.fake.set_current(premium());
    clock.advance(ttl + Duration::from_millis(1));
    let v = app.now().await;
    assert_eq!(
        (&v["source"], &v["stale"]),
        (&json!("spotify"), &json!(true)),
        "{v}"
    );
    let calls = app.fake.stats().currently_playing;
    // Thirty-nine minutes of windows: Last.fm, fresh, in every one; Spotify asked once more, at
    // the end of the first ten-minute step.
    let mut lastfm = 0;
    for _ in 0..(39 * MIN / (ttl.as_millis() as u64 + 1)) {
        clock.advance(ttl + Duration::from_millis(1));
        let v = app.now().await;
        if v["stale"] == false {
            assert_eq!(v["source"], "lastfm", "{v}");
            lastfm += 1;
        } else {
            // The window in which Spotify was asked again (and refused): the last answer,
            // Last.fm's, marked stale.
            assert_eq!(
                (&v["source"], &v["name"]),
                (&json!("lastfm"), &json!("Now Song")),
                "{v}"
            );
        }
    }
    let windows = 39 * MIN / (ttl.as_millis() as u64 + 1);
    eprintln!(
        "PREMIUM+LASTFM | {windows} windows: Last.fm answered {lastfm}, Last.fm calls {}, Spotify calls {}",
        lf.calls(RECENT),
        app.fake.stats().currently_playing - calls
    );
    assert!(lastfm >= windows - 2, "{lastfm} of {windows}");
    assert_eq!(
        app.fake.stats().currently_playing,
        calls + 2,
        "at 10 and 30 min"
    );
    assert_eq!(premium_errors(&app).len(), 3, "steps 1, 2 and 3");
    // Renewed: Spotify again at the end of the running step.
    app.fake.set_current(song());
    let (_, until) = cooldown(&app).await.unwrap();
    clock.set(Timestamp::from_millis(until));
    let v = app.now().await;
    assert_eq!(
        (&v["source"], &v["name"]),
        (&json!("spotify"), &json!("Song")),
        "{v}"
    );
    assert_eq!(cooldown(&app).await, None);
}
