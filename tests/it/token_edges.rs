//! The upstream-driven token edges, through the real HTTP surface against the AWS emulator
//! (Secrets Manager credentials, DynamoDB shared state) and the fake Spotify with reuse detection
//! on: a token answer that arrives seconds after Spotify rotated, a rotation without an access
//! token, huge and quota `Retry-After`s, album art redirecting to another host, and a stray
//! callback during `nowplaying authorize`.
//!
//! Each test ends with the fault harness's invariants (`support::fault`), through
//! [`Run::finish_token_edge`]: every page answer is `200` (checked on every single answer); no
//! `invalid_grant` and no reuse detected at the fake; the stores hold the refresh token the fake
//! considers valid; the next forced expiry refreshes fine, without a new `invalid_grant`.

use crate::support;
use nowplaying::clock::Timestamp;

use std::process::Stdio;
use std::time::{Duration, Instant};

use serde_json::{json, Value};
use support::aws::{self, attr_n};
use support::fake_spotify::{CLIENT_ID, CLIENT_SECRET};
use support::fault::Run;
use support::*;
use tokio::io::{AsyncBufReadExt, BufReader};

use nowplaying::clock::Clock;
use nowplaying::keys::COOLDOWN_KEY;
use nowplaying::spotify::{DEFAULT_RETRY_AFTER, MAX_RETRY_AFTER};

fn song_with_art(art: &str) -> Scripted {
    let mut t = bodies::track("t1", "Song");
    t["album"]["images"] = json!([{"url": art, "width": 640, "height": 640}]);
    Scripted::json(bodies::playing(t, true, 1000))
}

/// Asks for `GET /api/spotify.svg`: always `200`, an SVG.
async fn card(edge: &Run) -> String {
    let r = edge
        .app
        .http
        .get(format!("{}/api/spotify.svg", edge.app.url))
        .send()
        .await
        .expect("the service answers");
    assert_eq!(r.status(), 200, "{}: the card", edge.name);
    r.text().await.unwrap()
}

// ---- 1. the token exchange's own time-out -----------------------------------------------

/// Spotify rotates the refresh token as the request arrives and answers 4 s later: longer than an
/// API call may take (2.5 s) and than the answer's deadline (4.5 s with the API call after it),
/// within the token exchange's own time-out. The rotated token lands in the secret; nothing
/// presents the old one again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn spotify_rotates_on_arrival_and_answers_4_s_later() {
    let edge = Run::start("rotates on arrival, answers after 4 s").await;
    assert!(nowplaying::spotify::TOKEN_TIMEOUT > Duration::from_secs(5));
    edge.app.fake.set_token(TokenBehavior {
        answer_delay_ms: 4_000,
        ..Default::default()
    });
    edge.app.fake.expire_access_tokens();
    edge.next_window();
    let before = edge.stats();
    // The page may get stale or null for this window; never an error.
    let (a, b) = tokio::join!(edge.page(), async {
        tokio::time::sleep(Duration::from_millis(500)).await;
        edge.page().await
    });
    eprintln!("answers while the token answer was on its way: {a} / {b}");
    // Spotify rotated at once; the answer arrives 4 s later and is persisted.
    assert_eq!(
        edge.stats().valid_refresh_token.as_deref(),
        Some("refresh-token-2")
    );
    aws::eventually(
        Duration::from_secs(15),
        "the rotated token lands in the secret",
        || async { edge.app.secret_token().await == "refresh-token-2" },
    )
    .await;
    let after = edge.stats();
    assert_eq!(
        after.token_calls,
        before.token_calls + 1,
        "a single refresh"
    );
    assert_eq!(after.invalid_grant, 0);
    // The next window is fresh with the access token that came with it.
    edge.next_window();
    assert_eq!(edge.page().await["stale"], false);
    assert_eq!(edge.stats().token_calls, after.token_calls);
    edge.finish_token_edge().await;
}

// ---- 2. a rotated refresh token without an access token ---------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rotation_without_an_access_token_is_persisted_and_used_next() {
    let edge = Run::start("rotation without access token").await;
    edge.app.fake.set_token(TokenBehavior {
        omit_access_token: true,
        ..Default::default()
    });
    edge.app.fake.expire_access_tokens();
    edge.next_window();
    let v = edge.page().await;
    assert_ne!(v["stale"], false, "no access token, no fresh answer: {v}");
    assert_eq!(
        edge.stats().valid_refresh_token.as_deref(),
        Some("refresh-token-2")
    );
    aws::eventually(
        Duration::from_secs(10),
        "the rotated token is persisted",
        || async { edge.app.secret_token().await == "refresh-token-2" },
    )
    .await;
    assert!(
        aws::captured_logs().contains("token answer held no access token"),
        "logged"
    );
    // Spotify healthy again: the next refresh presents the rotated token (finish checks that
    // nothing got invalid_grant and no reuse was detected).
    edge.finish_token_edge().await;
    assert_eq!(edge.stats().token_refreshes, 3);
}

// ---- 3. Retry-After: saturation, the cap, QUOTA_EXCEEDED --------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_huge_retry_after_is_capped_and_a_quota_429_is_told_apart() {
    let edge = Run::start("huge Retry-After, quota").await;
    let cap_ms = MAX_RETRY_AFTER.as_millis() as u64;
    assert_eq!(cap_ms, 15 * 60_000);

    // u64::MAX seconds: no overflow anywhere, one cooldown of 15 minutes.
    edge.next_window();
    edge.app
        .fake
        .set_current(Scripted::status(429).retry_after_raw("18446744073709551615"));
    let limited_at = edge.clock.now().as_millis();
    assert_eq!(edge.page().await["stale"], true);
    let cooldown = edge.app.item(COOLDOWN_KEY).await.expect("cooldown item");
    assert_eq!(attr_n(&cooldown, "exp"), limited_at + cap_ms);
    let calls = edge.stats().currently_playing;
    edge.clock.advance(Duration::from_millis(cap_ms - 1_000));
    assert_ne!(edge.page().await["stale"], false, "stale or null");
    assert_eq!(
        edge.stats().currently_playing,
        calls,
        "no call in the cooldown"
    );

    // Past the cap: Spotify is asked once more; this time it names the app's quota, with
    // Retry-After past u64::MAX.
    edge.clock
        .set(Timestamp::from_millis(limited_at + cap_ms + 1));
    edge.app.fake.set_current(
        Scripted::status_json(429, bodies::quota_exceeded())
            .retry_after_raw("99999999999999999999999999"),
    );
    let quota_at = edge.clock.now().as_millis();
    let v = edge.page().await;
    assert!(v.is_null() || v["stale"] == true, "{v}");
    assert_eq!(edge.stats().currently_playing, calls + 1);
    let cooldown = edge.app.item(COOLDOWN_KEY).await.expect("cooldown item");
    assert_eq!(attr_n(&cooldown, "exp"), quota_at + cap_ms);
    let logs = aws::captured_logs();
    assert!(
        logs.lines()
            .any(|l| l.contains("rate limit") && l.contains("quota_exceeded=true")),
        "the quota is told apart in the log"
    );

    // A Retry-After that is not a number: the default (30 s).
    edge.clock
        .set(Timestamp::from_millis(quota_at + cap_ms + 1));
    edge.app
        .fake
        .set_current(Scripted::status(429).retry_after_raw("soon"));
    let soon_at = edge.clock.now().as_millis();
    edge.page().await;
    let cooldown = edge.app.item(COOLDOWN_KEY).await.expect("cooldown item");
    assert_eq!(
        attr_n(&cooldown, "exp"),
        soon_at + DEFAULT_RETRY_AFTER.as_millis() as u64
    );

    // The token endpoint's own 429 with a huge Retry-After: capped the same way.
    edge.clock
        .advance(DEFAULT_RETRY_AFTER + Duration::from_millis(1));
    edge.app.fake.set_current(song());
    edge.app.fake.set_token(TokenBehavior {
        status: Some(429),
        retry_after: Some("18446744073709551616".into()),
        ..Default::default()
    });
    edge.app.fake.expire_access_tokens();
    let token_limited_at = edge.clock.now().as_millis();
    edge.page().await;
    let cooldown = edge.app.item(COOLDOWN_KEY).await.expect("cooldown item");
    assert_eq!(attr_n(&cooldown, "exp"), token_limited_at + cap_ms);
    edge.clock
        .set(Timestamp::from_millis(token_limited_at + cap_ms + 1));
    edge.finish_token_edge().await;
}

// ---- 4. album art redirecting to another host -------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn album_art_redirects_are_not_followed() {
    let edge = Run::start("art redirect").await;
    let fake = edge.app.fake.base.clone();
    // Control: art from the configured (plain-http) API host is inlined.
    edge.next_window();
    edge.app
        .fake
        .set_current(song_with_art(&format!("{fake}/img/cover.png")));
    let svg = card(&edge).await;
    assert!(svg.contains("data:image/png;base64,"), "the control works");

    // The same allowed host redirects to another one (`localhost` is not the configured host):
    // not followed, the card renders with its placeholder.
    let port = url::Url::parse(&fake).unwrap().port().unwrap();
    let elsewhere = format!("http://localhost:{port}/img/cover.png?via=redirect");
    let art = format!(
        "{fake}/img/redirect?to={}",
        url::form_urlencoded::byte_serialize(elsewhere.as_bytes()).collect::<String>()
    );
    edge.next_window();
    edge.app.fake.set_current(song_with_art(&art));
    let before = edge.stats().image_calls.len();
    let svg = card(&edge).await;
    assert!(svg.contains("Song"), "the card renders");
    assert!(!svg.contains("data:image/png"), "no art from a redirect");
    assert!(
        !svg.contains(&art) && !svg.contains(&elsewhere),
        "no reference"
    );
    let calls = edge.stats().image_calls[before..].to_vec();
    assert_eq!(calls.len(), 1, "only the first URL was fetched: {calls:?}");
    assert!(calls[0].starts_with("/img/redirect"), "{calls:?}");
    assert_eq!(edge.page().await["name"], "Song");
    edge.finish_token_edge().await;
}

// ---- 5. a stray callback during `nowplaying authorize` ----------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn authorize_survives_a_stray_callback() {
    let edge = Run::start("authorize after a stray callback").await;
    let fake = edge.app.fake.clone();
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let mut child = tokio::process::Command::new(env!("CARGO_BIN_EXE_nowplaying"))
        .args(["authorize", "--no-browser", "--port", &port.to_string()])
        .args(["--timeout", "60"])
        .env_remove("CACHE_TTL_SECONDS")
        .env_remove("NOWPLAYING_CREDENTIALS")
        .env_remove("AWS_LAMBDA_LOG_FORMAT")
        .env("TOKEN_SECRET_ID", &edge.app.secret_id)
        .env("CACHE_TABLE", &edge.app.table)
        .env("SPOTIFY_API_BASE_URL", &fake.base)
        .env("SPOTIFY_ACCOUNTS_BASE_URL", &fake.base)
        .env("SPOTIFY_CLIENT_ID", CLIENT_ID)
        .env("SPOTIFY_CLIENT_SECRET", CLIENT_SECRET)
        .env("RUST_LOG", "warn")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let mut stdout = BufReader::new(child.stdout.take().unwrap()).lines();
    let prefix = format!("{}/authorize?", fake.base);
    let url = tokio::time::timeout(Duration::from_secs(30), async {
        while let Some(line) = stdout.next_line().await.unwrap() {
            if line.starts_with(&prefix) {
                return line;
            }
        }
        panic!("authorize printed no URL");
    })
    .await
    .expect("the authorization URL within 30 s");

    let browser = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let callback = format!("http://127.0.0.1:{port}/callback");
    let state: String = url::Url::parse(&url)
        .unwrap()
        .query_pairs()
        .find(|(k, _)| k == "state")
        .map(|(_, v)| v.into_owned())
        .unwrap();
    // Strays: a wrong state with a code, and the right state with neither code nor error.
    for stray in [
        format!("{callback}?code=stray&state=forged"),
        format!("{callback}?state={state}"),
    ] {
        let page = browser
            .get(&stray)
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        assert!(page.contains("Not connected"), "{page}");
    }
    assert_eq!(fake.stats().code_exchanges, 0, "no stray code is exchanged");

    // The real one: Spotify's page redirects back; authorize completes.
    let r = browser.get(&url).send().await.unwrap();
    let location = r.headers()[reqwest::header::LOCATION]
        .to_str()
        .unwrap()
        .to_string();
    let page = browser
        .get(&location)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        page.contains("Connected") && !page.contains("Not connected"),
        "{page}"
    );
    let status = tokio::time::timeout(Duration::from_secs(30), child.wait())
        .await
        .expect("authorize ends")
        .unwrap();
    let mut rest = Vec::new();
    while let Some(line) = stdout.next_line().await.unwrap() {
        rest.push(line);
    }
    assert!(status.success(), "authorize failed: {rest:?}");
    assert!(
        rest.iter().any(|l| l.starts_with("Authorized:")),
        "{rest:?}"
    );
    assert!(
        !rest
            .iter()
            .any(|l| l.contains(CLIENT_SECRET) || l.contains("refresh-token-")),
        "no secret printed"
    );
    let s = fake.stats();
    assert_eq!(s.code_exchanges, 1);
    let signed_in = s.valid_refresh_token.clone().unwrap();
    assert_eq!(edge.app.secret_token().await, signed_in);

    // The running service notices the new sign-in; the invariants hold with it.
    edge.next_window();
    assert_eq!(edge.page().await["name"], "Song");
    edge.finish_token_edge().await;
    assert_ne!(edge.app.secret_token().await, "refresh-token-1");
}

// ---- 7. a 401 storm -------------------------------------------------------------------------

/// Spotify rejects every access token, fresh ones too, for an hour. Each attempt after a cooldown
/// refreshes (rotates) once, and the cooldowns double from one minute to ten: the refresh token
/// rotates at most about every ten minutes, so the secret never piles up versions.
#[tokio::test]
async fn a_401_storm_rotates_the_refresh_token_at_most_about_every_ten_minutes() {
    let edge = Run::start("401 storm").await;
    edge.app.fake.set_current(Scripted::status(401));
    let mut refreshed_at_s: Vec<u64> = vec![];
    for step in 1..=120u64 {
        edge.clock.advance(Duration::from_secs(30));
        let before = edge.stats().token_refreshes;
        edge.page().await;
        let after = edge.stats().token_refreshes;
        refreshed_at_s.extend(std::iter::repeat_n(step * 30, (after - before) as usize));
    }
    eprintln!("refreshes at (s): {refreshed_at_s:?}");
    // The first attempt: two refreshes (the shared copy may have been the revoked one); then one
    // per attempt, at 1, 2, 4, 8 and then 10 minutes apart.
    assert!(refreshed_at_s.len() <= 10, "{refreshed_at_s:?}");
    let late: Vec<u64> = refreshed_at_s
        .iter()
        .copied()
        .filter(|s| *s > 900)
        .collect();
    for pair in late.windows(2) {
        assert!(
            pair[1] - pair[0] >= 570,
            "two rotations within 10 min: {late:?}"
        );
    }
    assert!(
        !late.is_empty(),
        "it keeps trying, every ten minutes: {refreshed_at_s:?}"
    );
    // Spotify recovers: past the last cooldown, the page is good again.
    edge.clock.advance(Duration::from_secs(601));
    edge.finish_token_edge().await;
}

// ---- 5. late lease holders and the owner's commands -------------------------------------------

/// Sends one page request in the background and waits until its refresh has reached Spotify.
async fn refresh_in_flight(edge: &Run) -> tokio::task::JoinHandle<Value> {
    let calls = edge.stats().token_calls;
    edge.app.fake.expire_access_tokens();
    edge.next_window();
    let http = edge.app.http.clone();
    let url = format!("{}/api/spotify", edge.app.url);
    let page = tokio::spawn(async move {
        let r = http.get(url).send().await.expect("the service answers");
        assert_eq!(r.status(), 200);
        r.json::<Value>().await.unwrap()
    });
    aws::eventually(
        Duration::from_secs(5),
        "the refresh reaches Spotify",
        || async { edge.stats().token_calls > calls },
    )
    .await;
    page
}

/// The disconnected credentials: the client stays, the refresh token goes.
fn disconnected() -> nowplaying::store::Credentials {
    let mut c = credentials("");
    c.refresh_token = None;
    c
}

/// A holder outlives its lease: while Spotify takes 3 s to answer its refresh, the lease changes
/// hands (it lapsed, and the owner's `disconnect`, from a laptop whose clock runs ahead, took it)
/// and the disconnect is written. The late holder then neither writes its rotated refresh token
/// over the disconnect nor publishes its access token: the disconnect sticks.
#[tokio::test]
async fn a_late_lease_holder_cannot_undo_a_disconnect() {
    use nowplaying::keys::{AUTH_GENERATION_KEY, TOKEN_KEY, TOKEN_LEASE_KEY};
    use nowplaying::store::Record;
    let edge = Run::start("late lease holder vs disconnect").await;
    edge.app.fake.set_token(TokenBehavior {
        answer_delay_ms: 3_000,
        ..Default::default()
    });
    let page = refresh_in_flight(&edge).await;

    // The lease changes hands, and the disconnect's writes land.
    let state = edge.app.stores.table().clone();
    let now = edge.clock.now();
    state
        .put(
            TOKEN_LEASE_KEY,
            &Record::lease("owner-command#laptop", now + Duration::from_secs(60)),
        )
        .await
        .unwrap();
    edge.app
        .stores
        .credentials
        .save(&disconnected())
        .await
        .unwrap();
    state
        .put(AUTH_GENERATION_KEY, &Record::permanent("disconnected", now))
        .await
        .unwrap();
    nowplaying::owner::clear_tokens_and_answers(state.as_ref(), "disconnected".into(), now)
        .await
        .unwrap();
    state
        .release(TOKEN_LEASE_KEY, "owner-command#laptop")
        .await
        .unwrap();

    // The late holder's answer arrives.
    let v = page.await.unwrap();
    assert!(v.is_null() || v["name"] == "Song", "{v}");
    tokio::time::sleep(Duration::from_millis(1_500)).await;
    let stored = edge.app.stores.credentials.load().await.unwrap().unwrap();
    assert_eq!(stored.refresh_token, None, "the disconnect sticks");
    assert!(
        edge.app.item(TOKEN_KEY).await.is_none(),
        "no access token published by the late holder"
    );
    let logs = aws::captured_logs();
    // Its compare-and-swap found the secret changed; the sign-in it read is gone.
    assert!(
        logs.contains("the owner signed in again or disconnected while this refresh ran"),
        "the late holder says why it did not write:\n{logs}"
    );
    edge.next_window();
    assert_eq!(edge.page().await, Value::Null, "disconnected: null");
    assert_eq!(edge.stats().reuse_detected, 0);

    // Signing in again works as usual.
    edge.reauthorize("refresh-token-reauthorized").await;
    edge.next_window();
    assert_eq!(edge.page().await["name"], "Song");
    edge.finish_token_edge().await;
}

/// `disconnect` while a refresh runs: it waits for the holder (by the lease's version, not by
/// the clocks), then wins; the refresh that finished first cannot bring the token back.
#[tokio::test]
async fn a_disconnect_during_a_refresh_waits_for_it_and_sticks() {
    let edge = Run::start("disconnect during a refresh").await;
    edge.app.fake.set_token(TokenBehavior {
        answer_delay_ms: 2_000,
        ..Default::default()
    });
    let page = refresh_in_flight(&edge).await;
    // The owner's laptop is an hour ahead: by the clocks the lease lapsed long ago.
    let laptop = edge.clock.now() + Duration::from_secs(3600);
    let started = Instant::now();
    let replaced = nowplaying::owner::replace_authorization(
        edge.app.stores.credentials.as_ref(),
        Some(edge.app.stores.table().as_ref()),
        &disconnected(),
        move || laptop,
    )
    .await
    .expect("disconnect");
    assert!(replaced.cleared_shared);
    assert!(
        started.elapsed() >= Duration::from_millis(1_000),
        "waited for the refresh in flight ({:?})",
        started.elapsed()
    );
    page.await.unwrap();
    tokio::time::sleep(Duration::from_millis(500)).await;
    let stored = edge.app.stores.credentials.load().await.unwrap().unwrap();
    assert_eq!(stored.refresh_token, None, "the disconnect sticks");
    edge.next_window();
    assert_eq!(edge.page().await, Value::Null);
    assert_eq!(edge.stats().reuse_detected, 0);
    edge.reauthorize("refresh-token-reauthorized").await;
    edge.next_window();
    assert_eq!(edge.page().await["name"], "Song");
    edge.finish_token_edge().await;
}

/// Spotify says its access tokens last 0 s: a token is still used for a while before the next
/// refresh, never refreshed on every miss.
#[tokio::test]
async fn an_expires_in_of_zero_does_not_refresh_on_every_miss() {
    let edge = Run::start("expires_in 0").await;
    edge.app.fake.set_token(TokenBehavior {
        expires_in: Some(0),
        ..Default::default()
    });
    edge.app.fake.expire_access_tokens();
    let before = edge.stats().token_refreshes;
    // Two minutes of misses, one per window.
    for _ in 0..20 {
        edge.next_window();
        edge.page().await;
    }
    let refreshes = edge.stats().token_refreshes - before;
    assert!(
        (1..=5).contains(&refreshes),
        "{refreshes} refreshes in 20 windows"
    );
    edge.finish_token_edge().await;
}
