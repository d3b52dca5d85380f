//! The fault matrix: one test per fault, each against the whole service on the AWS
//! emulator (Secrets Manager credentials, DynamoDB shared state, each behind a fault proxy) and
//! the fake Spotify, with a clock the test moves. Every test asserts the same four invariants
//! through [`Run::finish`]:
//!
//! - (a) the page always gets `200` with the last good answer (possibly `stale: true`) or `null`,
//!   never a 5xx ([`Run::page_at`] checks every single answer);
//! - (b) no lost refresh token: the secret or the sealed `pending-refresh-token` item holds the
//!   token the fake considers valid, and a later refresh works without a new `invalid_grant`;
//! - (c) no spike of upstream calls: currently-playing (and recently-played) calls at most the
//!   cache windows elapsed + 2, token calls within the bound stated per fault (all counts from the
//!   start of the test, its warm-up and its final refresh included);
//! - (d) no secret in the logs: every log line of this test binary (captured to a buffer) is
//!   searched for the client secret, every refresh token the fake issued and access tokens.
//!
//! Faults already covered at length elsewhere are referenced where they are: the Blackhole
//! (time-out) variants of the store outages in `tests/it/emulator_service.rs`, and a real SIGKILL of
//! a `nowplaying serve` process mid-refresh in `tests/it/parallel_processes.rs`.

use crate::support;
use nowplaying::clock::Timestamp;

use std::time::{Duration, Instant};

use serde_json::Value;
use support::aws::{self, attr_n, attr_s};
use support::fault::Run;
use support::*;

use nowplaying::clock::{Clock, ManualClock};
use nowplaying::keys::{ANSWER_KEY, COOLDOWN_KEY};
use nowplaying::keys::{PENDING_REFRESH_KEY, TOKEN_LEASE_KEY};

// ---- Spotify's API misbehaving ------------------------------------------------------------

#[tokio::test]
async fn spotify_429_with_a_long_retry_after() {
    let run = Run::start("429 Retry-After 3600").await;
    run.next_window();
    run.app
        .fake
        .set_current(Scripted::status(429).retry_after(3600));
    let v = run.page().await;
    assert_eq!(v["stale"], true, "{v}");
    let limited_at = run.clock.now().as_millis();
    let calls = run.stats().currently_playing;
    // Every process sees the cooldown: it is in the table.
    // One cooldown is capped at 15 minutes, whatever Retry-After says.
    let cap_ms = nowplaying::spotify::MAX_RETRY_AFTER.as_millis() as u64;
    let cooldown = run.app.item(COOLDOWN_KEY).await.expect("cooldown item");
    assert_eq!(attr_n(&cooldown, "exp"), limited_at + cap_ms);

    // Fifty-nine minutes of traffic: Spotify is asked once per capped cooldown (and answers 429
    // again); stale for 15 minutes from the last good read, then null.
    for _ in 0..59 {
        run.clock.advance(Duration::from_secs(60));
        let since_good = run.clock.now().since(run.t0);
        for v in run.pages(2).await {
            if since_good <= Duration::from_secs(15 * 60) {
                assert_eq!(v["stale"], true, "{v}");
            } else {
                assert_eq!(v, Value::Null);
            }
        }
    }
    let asked = run.stats().currently_playing - calls;
    assert!(
        (3..=4).contains(&asked),
        "one call per capped cooldown, not per request: {asked} calls in 59 minutes"
    );

    // Retry-After has passed: one call, a fresh answer.
    run.clock
        .set(Timestamp::from_millis(limited_at + 3_600_000 + 1));
    run.app.fake.set_current(song());
    let v = run.page().await;
    assert_eq!(v["stale"], false);
    assert_eq!(run.stats().currently_playing, calls + asked + 1);
    // Tokens: the warm-up's, one because the hour outlived the access token, the final check's.
    run.finish(3).await;
    assert!(run.errors().is_empty(), "{:#?}", run.errors());
}

/// Spotify failing with `fault` for several windows: one call per window however many requests,
/// stale within the bound, null past it, fresh again on recovery.
async fn spotify_failing(name: &'static str, fault: Scripted) {
    let run = Run::start(name).await;
    run.app.fake.set_current(fault);
    for _ in 0..4 {
        run.next_window();
        let before = run.stats().currently_playing;
        for v in run.pages(3).await {
            assert_eq!(v["stale"], true, "{name}: {v}");
        }
        assert_eq!(
            run.stats().currently_playing,
            before + 1,
            "{name}: one call per window"
        );
    }
    // Past the stale bound (15 minutes): null.
    run.clock.advance(Duration::from_secs(16 * 60));
    for v in run.pages(3).await {
        assert_eq!(v, Value::Null, "{name}");
    }
    run.app.fake.set_current(song());
    run.next_window();
    assert_eq!(run.page().await["stale"], false);
    // Tokens: the warm-up's and the final check's; a failing API never costs a refresh.
    run.finish(2).await;
    assert!(run.errors().is_empty(), "{name}: {:#?}", run.errors());
}

#[tokio::test]
async fn spotify_500() {
    spotify_failing("500", Scripted::status(500)).await;
}

#[tokio::test]
async fn spotify_503() {
    spotify_failing("503", Scripted::status(503).retry_after(5)).await;
}

#[tokio::test]
async fn spotify_html_body() {
    spotify_failing(
        "HTML body",
        Scripted::raw(200, "<html><body><h1>502 Bad Gateway</h1></body></html>"),
    )
    .await;
}

#[tokio::test]
async fn spotify_truncated_json() {
    spotify_failing(
        "truncated JSON",
        Scripted::raw(
            200,
            "{\"is_playing\": true, \"progress_ms\": 1000, \"item\": {\"na",
        ),
    )
    .await;
}

#[tokio::test]
async fn spotify_time_out() {
    let run = Run::start("time-out").await;
    let beyond = nowplaying::spotify::REQUEST_TIMEOUT + Duration::from_millis(1_000);
    run.app
        .fake
        .set_current(song().delayed(beyond.as_millis() as u64));
    let deadline = run.app.app.cache.settings().fetch_deadline;
    for _ in 0..2 {
        run.next_window();
        let before = run.stats().currently_playing;
        let t = Instant::now();
        for v in run.pages(3).await {
            assert_eq!(v["stale"], true, "{v}");
        }
        let took = t.elapsed();
        assert!(took < deadline + Duration::from_secs(1), "held {took:?}");
        assert_eq!(
            run.stats().currently_playing,
            before + 1,
            "one call per window"
        );
    }
    run.app.fake.set_current(song());
    run.next_window();
    assert_eq!(run.page().await["stale"], false);
    run.finish(2).await;
    assert!(run.errors().is_empty(), "{:#?}", run.errors());
}

#[tokio::test]
async fn spotify_401_on_a_fresh_token() {
    let run = Run::start("401 on a fresh token").await;
    // The access token expires; right after the refresh, Spotify rejects the fresh token once.
    run.app.fake.expire_access_tokens();
    run.app.fake.queue_current(Scripted::status(401));
    run.next_window();
    let before = run.stats();
    let v = run.page().await;
    assert_eq!(v["stale"], false, "a second refresh and a retry: {v}");
    let after = run.stats();
    // Old token: 401 (counted as unauthorized) → refresh → fresh token: 401 → one more refresh
    // → retry: three calls and two refreshes, the most one answer ever costs.
    assert_eq!(after.unauthorized - before.unauthorized, 1);
    assert_eq!(after.currently_playing - before.currently_playing, 2);
    assert_eq!(after.token_refreshes - before.token_refreshes, 2);
    assert_eq!(after.invalid_grant, 0);
    // The next windows need no refresh at all.
    for _ in 0..3 {
        run.next_window();
        assert_eq!(run.page().await["stale"], false);
    }
    assert_eq!(run.stats().token_refreshes, after.token_refreshes);
    // Tokens: warm-up 1 + 2 in the 401 window + the final check's 1.
    run.finish(4).await;
    assert!(run.errors().is_empty(), "{:#?}", run.errors());
}

#[tokio::test]
async fn spotify_401_on_every_token() {
    let run = Run::start("401 on every token").await;
    // Spotify rejects every access token, fresh ones too (an incident on its side).
    run.app.fake.set_current(Scripted::status(401));
    run.next_window();
    let before = run.stats();
    assert_eq!(run.page().await["stale"], true);
    let after = run.stats();
    // The most one answer costs: three calls, two refreshes...
    assert_eq!(after.currently_playing - before.currently_playing, 3);
    assert_eq!(after.token_refreshes - before.token_refreshes, 2);
    // ...and then no process asks for a minute (the cool-down is in the table).
    assert!(run.app.item(COOLDOWN_KEY).await.is_some());
    for _ in 0..11 {
        run.next_window();
        for v in run.pages(2).await {
            assert_eq!(v["stale"], true, "{v}");
        }
    }
    assert_eq!(run.stats().currently_playing, after.currently_playing);
    assert_eq!(run.stats().token_calls, after.token_calls);
    // Spotify recovers: after the cool-down, one call with the token refreshed last.
    run.app.fake.set_current(song());
    run.clock.advance(Duration::from_secs(5));
    assert_eq!(run.page().await["stale"], false);
    assert_eq!(run.stats().currently_playing, after.currently_playing + 1);
    // Tokens: warm-up 1 + 2 in the failing window + the final check's 1.
    run.finish(4).await;
    assert!(run.errors().is_empty(), "{:#?}", run.errors());
}

/// The token endpoint answering after the client's time-out. (The fake drops a refresh whose
/// client went away before rotating anything; a real Spotify that rotated without the answer
/// arriving would leave a token nobody knows, which only a new sign-in can replace.)
#[tokio::test]
async fn token_endpoint_time_out() {
    let run = Run::start("token endpoint time-out").await;
    let beyond = nowplaying::spotify::TOKEN_TIMEOUT + Duration::from_millis(1_000);
    run.app.fake.set_token(TokenBehavior {
        delay_ms: beyond.as_millis() as u64,
        ..Default::default()
    });
    run.app.fake.expire_access_tokens();
    for _ in 0..2 {
        run.next_window();
        let before = run.stats().token_calls;
        for v in run.pages(3).await {
            assert_eq!(v["stale"], true, "{v}");
        }
        assert_eq!(
            run.stats().token_calls,
            before + 1,
            "one refresh per window"
        );
        // The refresh runs on (detached) until the token exchange's own time-out.
        aws::eventually(
            nowplaying::spotify::TOKEN_TIMEOUT + Duration::from_secs(5),
            "the refresh gives up and releases the lease",
            || async { run.app.item(TOKEN_LEASE_KEY).await.is_none() },
        )
        .await;
    }
    assert_eq!(run.stats().token_refreshes, 1, "no refresh completed");
    assert_eq!(run.app.secret_token().await, "refresh-token-1");
    // Tokens: warm-up 1 + one per failing window + the final check's 1 (the recovery).
    run.finish(4).await;
    assert!(run.errors().is_empty(), "{:#?}", run.errors());
}

// ---- Spotify's accounts service rejecting the credentials ---------------------------------

async fn owner_must_act(name: &'static str, error: &str, logged: &str) {
    let run = Run::start(name).await;
    run.app.fake.set_token(TokenBehavior {
        error: Some(error.into()),
        ..Default::default()
    });
    run.app.fake.expire_access_tokens();
    run.next_window();
    assert_eq!(run.page().await, Value::Null, "{name}: null, not stale");
    let first = run.stats();
    assert_eq!(first.token_calls, 2, "{name}: one rejected refresh");
    // Further requests, over several minutes: null, with no token call and no API call (the
    // secret is read again after the back-off, holds the same credentials, and that is all).
    for _ in 0..12 {
        run.clock.advance(Duration::from_secs(15));
        for v in run.pages(2).await {
            assert_eq!(v, Value::Null, "{name}");
        }
    }
    let later = run.stats();
    assert_eq!(later.token_calls, first.token_calls, "{name}: back-off");
    assert_eq!(later.currently_playing, first.currently_playing);
    assert_eq!(later.unauthorized, first.unauthorized);
    // One ERROR line, telling the owner what to run.
    let errors = run.errors();
    assert_eq!(errors.len(), 1, "{name}: {errors:#?}");
    assert!(errors[0].contains("nowplaying authorize"), "{}", errors[0]);
    assert!(errors[0].contains(logged), "{}", errors[0]);
    // Nothing was wiped: the secret still holds the token Spotify last issued.
    run.assert_no_lost_refresh_token().await;
    // The owner signs in again; the running service notices at its next cache miss.
    run.reauthorize("refresh-token-reauthorized").await;
    // Tokens: warm-up 1 + the rejected one + the final check's 1.
    run.finish(3).await;
}

#[tokio::test]
async fn token_invalid_grant() {
    owner_must_act("invalid_grant", "invalid_grant", "invalid_grant").await;
}

#[tokio::test]
async fn token_invalid_client() {
    owner_must_act("invalid_client", "invalid_client", "invalid_client").await;
}

/// The token endpoint takes 2 s (under the client's 2.5 s time-out: a slower answer is a
/// time-out, and then Spotify may have rotated a token the service never saw) while a second
/// instance on the same table and secret comes to need a token too: the clock passes the answer
/// lease (5 s) mid-refresh, so the second instance takes the next window's lease, finds the token
/// lease (10 s) held and waits for the holder. The token lease itself cannot run out during the
/// Spotify call: that call is cut at 2.5 s, a quarter of the lease.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn token_endpoint_slow_while_the_answer_lease_runs_out() {
    let run = Run::start("slow token endpoint, lease running out").await;
    let other = run.app.sibling(&[], Some(run.clock.clone())).await;
    let both = [run.url(), other.clone()];
    assert_eq!(run.page_at(&other).await["name"], "Song");

    run.app.fake.set_token(TokenBehavior {
        delay_ms: 2_000,
        ..Default::default()
    });
    run.app.fake.expire_access_tokens();
    run.next_window();
    let before = run.stats();
    let first = tokio::join!(run.pages_at(&both, 8), async {
        // The refresh is on its way to Spotify: the answer lease runs out.
        aws::eventually(
            Duration::from_secs(5),
            "the refresh reaches Spotify",
            || async { run.stats().token_calls > before.token_calls },
        )
        .await;
        run.clock
            .advance(run.app.app.cache.settings().lease + Duration::from_millis(500));
        assert!(
            run.app.item(TOKEN_LEASE_KEY).await.is_some(),
            "token lease held"
        );
        run.pages_at(&both, 8).await
    });
    for v in first.0.iter().chain(first.1.iter()) {
        assert_eq!(v["name"], "Song", "{v}");
    }
    let after = run.stats();
    assert_eq!(
        after.token_calls - before.token_calls,
        1,
        "a single refresh"
    );
    assert_eq!(after.invalid_grant, 0);
    for _ in 0..2 {
        run.next_window();
        for v in run.pages_at(&both, 4).await {
            assert_eq!(v["stale"], false, "{v}");
        }
    }
    assert_eq!(run.stats().token_calls, after.token_calls);
    // Tokens: warm-up 1 + the slow one + the final check's 1.
    run.finish(3).await;
    assert!(run.errors().is_empty(), "{:#?}", run.errors());
}

// ---- The AWS stores failing -------------------------------------------------------------

/// The whole emulator goes away (both DynamoDB and Secrets Manager refuse connections) while the
/// access token dies, then comes back. Tokens fail closed: no refresh (so no rotation that no
/// store could take) until the table is back. The Blackhole (time-out) variants, one store at a time, are
/// in `tests/it/emulator_service.rs`.
#[tokio::test]
async fn aws_emulator_stopped_mid_run_and_restarted() {
    let run = Run::start("AWS emulator stopped and restarted").await;
    run.app.ddb_proxy.refuse();
    run.app.sm_proxy.refuse();
    let asked = run.stats().currently_playing;
    for i in 0..4 {
        run.next_window();
        if i == 1 {
            // The access token dies while neither store can take a rotated refresh token.
            run.app.fake.expire_access_tokens();
        }
        for v in run.pages(2).await {
            assert_eq!(v["name"], "Song", "answers keep coming: {v}");
            // The privacy switch cannot be read either: Spotify is not asked on an old "not
            // hidden", and the last good answer is served, marked stale.
            assert_eq!(v["stale"], true, "the last good answer: {v}");
        }
    }
    assert_eq!(
        run.stats().currently_playing,
        asked,
        "no Spotify call while the switch cannot be read"
    );
    assert_eq!(
        run.stats().token_refreshes,
        1,
        "no refresh without the refresh lease"
    );
    assert_eq!(run.app.secret_token().await, "refresh-token-1");

    // Restarted: once the process tries the table again (10 s after its last failure), the
    // answers are written there again, the refresh happens, and its rotated token reaches the
    // secret.
    run.app.ddb_proxy.pass();
    run.app.sm_proxy.pass();
    run.clock.advance(Duration::from_millis(10_001));
    assert_eq!(run.page().await["name"], "Song");
    let answer = run.app.item(ANSWER_KEY).await.expect("the answer item");
    assert!(
        attr_n(&answer, "exp") > run.clock.now().as_millis(),
        "the answer cache writes to the table again"
    );
    let valid = run.stats().valid_refresh_token.unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    while run.app.secret_token().await != valid {
        assert!(
            Instant::now() < deadline,
            "the rotated refresh token never reached the secret after the restart"
        );
        run.next_window();
        run.page().await;
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    run.assert_no_lost_refresh_token().await;
    assert_eq!(
        run.stats().token_refreshes,
        2,
        "one refresh, after the restart"
    );
    // Tokens: warm-up 1 + the refresh after the restart + the final check's 1.
    run.finish(3).await;
}

/// Secrets Manager refuses writes (and answers reads) during a rotation, then recovers. The time-out variant, and a
/// second rotation during the outage, are in `tests/it/emulator_service.rs`
/// (`secret_write_*_during_rotation_keeps_the_token_pending`).
#[tokio::test]
async fn secret_write_failing_for_a_while() {
    let run = Run::start("secret write failing").await;
    // Writes refused, reads still answered (a refresh needs the read: without it, no refresh).
    run.app.sm_faults.fail_all_of("PutSecretValue");
    run.app.fake.expire_access_tokens();
    run.next_window();
    assert_eq!(run.page().await["name"], "Song");
    aws::eventually(Duration::from_secs(15), "the write is given up", || async {
        run.errors()
            .iter()
            .any(|l| l.contains("could not persist the rotated refresh token"))
    })
    .await;
    assert_eq!(run.stats().token_refreshes, 2);
    // Kept sealed (never in clear) in the table; the secret is behind.
    let pending = run
        .app
        .item(PENDING_REFRESH_KEY)
        .await
        .expect("pending item");
    assert!(!attr_s(&pending, "v").contains("refresh-token"));
    assert_eq!(run.app.secret_token().await, "refresh-token-1");
    run.assert_no_lost_refresh_token().await;
    for _ in 0..3 {
        run.next_window();
        assert_eq!(run.page().await["stale"], false);
    }
    // Secrets Manager is back: the secret catches up.
    run.app.sm_faults.heal();
    let valid = run.stats().valid_refresh_token.unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    while run.app.secret_token().await != valid {
        assert!(Instant::now() < deadline, "the secret never caught up");
        run.next_window();
        run.page().await;
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(run.stats().invalid_grant, 0);
    // Tokens: warm-up 1 + the rotation + the final check's 1.
    run.finish(3).await;
}

/// A process took the token lease, had Spotify rotate the refresh token, wrote it sealed to the
/// table (the write-ahead) and was killed before writing the secret, publishing the access token
/// or releasing the lease. Modelled in-process: the dead holder's refresh is a real call to the
/// fake, its lease and pending items are written as it would have. A real SIGKILL of a
/// `nowplaying serve` process with its refresh in flight, among four, is
/// `tests/it/parallel_processes.rs` (`a_lease_holder_killed_mid_refresh_is_taken_over`, ~20 s).
#[tokio::test]
async fn lease_holder_killed_mid_refresh() {
    let run = Run::start("lease holder killed mid-refresh").await;
    let dead = "4242-killed";
    let now = run.clock.now().as_millis();
    let lease_until = now + 10_000;
    aws::put_raw_item(
        &run.app.ddb,
        &run.app.table,
        TOKEN_LEASE_KEY,
        "",
        lease_until,
        Some(dead),
        lease_until / 1000 + 3600,
    )
    .await;
    let r = run
        .app
        .http
        .post(format!("{}/api/token", run.app.fake.base))
        .basic_auth(fake_spotify::CLIENT_ID, Some(fake_spotify::CLIENT_SECRET))
        .header("content-type", "application/x-www-form-urlencoded")
        .body("grant_type=refresh_token&refresh_token=refresh-token-1")
        .send()
        .await
        .unwrap();
    let grant: Value = r.json().await.unwrap();
    let rotated = grant["refresh_token"].as_str().unwrap().to_string();
    aws::put_raw_item(
        &run.app.ddb,
        &run.app.table,
        PENDING_REFRESH_KEY,
        &sealer().seal(&sealing_context(PENDING_REFRESH_KEY), &rotated),
        now + 200 * 24 * 3_600_000,
        Some(dead),
        now / 1000 + 200 * 24 * 3600,
    )
    .await;
    run.app.fake.expire_access_tokens();

    // While the dead holder's lease runs: the last good answer.
    run.next_window();
    for v in run.pages(3).await {
        assert_eq!(v["name"], "Song", "{v}");
    }
    let refreshes = run.stats().token_refreshes;
    // The lease lapses: one survivor refreshes with the rotated token the dead one left.
    run.clock.set(Timestamp::from_millis(lease_until + 1));
    let v = run.page().await;
    assert_eq!(v["stale"], false, "{v}");
    let s = run.stats();
    assert_eq!(s.token_refreshes, refreshes + 1);
    assert_eq!(s.invalid_grant, 0, "the dead holder's token was not lost");
    assert_eq!(run.app.secret_token().await, s.valid_refresh_token.unwrap());
    assert!(run.app.item(PENDING_REFRESH_KEY).await.is_none());
    // Tokens: warm-up 1 + the dead holder's 1 + the survivor's 1 + the final check's 1.
    run.finish(4).await;
    assert!(run.errors().is_empty(), "{:#?}", run.errors());
}

// ---- Token safety: a rotation interrupted at each step --------------------------------------
//
// Each test fails or holds single AWS requests of one process (its own request-level proxy,
// `aws::RequestFaults`), with the fake's reuse detection on, and ends with the same invariants
// as every row above ([`Run::finish`]: every page answer 200, the valid refresh token in the
// secret or the pending copy, the next forced expiry refreshing without `invalid_grant`).

/// A rotation whose refresh went through the process at `base` (expired token, next window).
async fn rotate_at(run: &Run, base: &str) -> Value {
    run.app.fake.expire_access_tokens();
    run.next_window();
    run.page_at(base).await
}

/// A failed write-ahead copy: rotation T1→T2 goes through; rotation T2→T3 fails its write-ahead copy
/// (one failed `PutItem`, both SDK attempts) but writes the secret. Another process refreshes next: it must
/// present T3, the secret's, never the copy of T2.
#[tokio::test]
async fn a_failed_write_ahead_copy_never_outranks_the_secret() {
    let run = Run::start("failed write-ahead copy").await;
    let other = run.app.process(run.clock.clone()).await;
    assert_eq!(rotate_at(&run, &run.url()).await["stale"], false);
    let t2 = run.stats().valid_refresh_token.unwrap();
    assert_eq!(run.app.secret_token().await, t2);

    run.app.ddb_faults.fail_next("PutItem", PENDING_REFRESH_KEY);
    assert_eq!(rotate_at(&run, &run.url()).await["stale"], false);
    assert_eq!(
        run.app.ddb_faults.fired("PutItem"),
        2,
        "the copy's write failed"
    );
    let t3 = run.stats().valid_refresh_token.unwrap();
    assert_ne!(t3, t2);
    assert_eq!(run.app.secret_token().await, t3, "the secret took T3");

    // The next refresh anywhere presents T3.
    let before = run.stats();
    let v = rotate_at(&run, &other.url).await;
    assert_eq!(v["stale"], false, "{v}");
    let after = run.stats();
    assert_eq!(after.token_refreshes, before.token_refreshes + 1);
    assert_eq!(after.invalid_grant, 0, "a rotated-away token came back");
    run.finish(5).await;
}

/// DynamoDB fails for the refreshing process right after Spotify answers (from the pending
/// copy's `PutItem` on): the secret, still reachable, takes the rotated token directly, and the
/// next holder (another process, once the lease lapses) presents that one.
#[tokio::test]
async fn dynamodb_failing_right_after_spotify_answers_writes_the_secret_directly() {
    let run = Run::start("DynamoDB fails after the token answer").await;
    let refreshing = run.app.process(run.clock.clone()).await;
    refreshing
        .ddb_faults
        .fail_from("PutItem", PENDING_REFRESH_KEY);
    let v = rotate_at(&run, &refreshing.url).await;
    assert_eq!(v["name"], "Song", "{v}");
    let valid = run.stats().valid_refresh_token.unwrap();
    aws::eventually(
        Duration::from_secs(5),
        "the secret takes the token",
        || async { run.app.secret_token().await == valid },
    )
    .await;
    // The refreshing process could not give the lease back: once it lapses, another process
    // refreshes, with the newest token.
    run.clock
        .advance(nowplaying::tokens::REFRESH_LEASE + Duration::from_millis(1));
    let before = run.stats();
    assert_eq!(rotate_at(&run, &run.url()).await["stale"], false);
    assert_eq!(run.stats().token_refreshes, before.token_refreshes + 1);
    assert_eq!(run.stats().invalid_grant, 0);
    refreshing.ddb_faults.heal();
    run.finish(4).await;
}

/// `nowplaying status` on a laptop whose clock is an hour ahead (then one an hour behind)
/// while the service refreshes (its token answer takes 2 s): the command takes the refresh
/// lease by version, so the two never present the same refresh token.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn status_on_a_laptop_with_a_wrong_clock_never_shares_a_refresh() {
    for (name, hour_ahead) in [("ahead", true), ("behind", false)] {
        let run = Run::start("status with a wrong clock").await;
        let hour = Duration::from_secs(3600);
        let laptop = ManualClock::at(if hour_ahead { T0 + hour } else { T0 - hour });
        let status = nowplaying::tokens::TokenKeeper::new(
            nowplaying::spotify::SpotifyClient::new(&run.app.fake.base, &run.app.fake.base),
            run.app.stores.credentials.clone(),
            run.app.stores.table().clone(),
            std::sync::Arc::new(laptop),
            format!("{}-status-test", nowplaying::store::OWNER_HOLDER),
        )
        .as_owner_command();
        run.app.fake.set_token(TokenBehavior {
            delay_ms: 2_000,
            ..Default::default()
        });
        let before = run.stats();
        let url = run.url();
        if hour_ahead {
            // The service refreshes first; status comes while it runs.
            let (page, checked) = tokio::join!(rotate_at(&run, &url), async {
                aws::eventually(
                    Duration::from_secs(5),
                    "the refresh holds the lease",
                    || async { run.app.item(TOKEN_LEASE_KEY).await.is_some() },
                )
                .await;
                status.refresh_now().await
            });
            assert_eq!(page["name"], "Song", "{name}: {page}");
            assert!(
                checked.is_ok(),
                "{name}: status checks once the lease is free"
            );
        } else {
            // Status refreshes first; the service needs a token while it runs.
            let (checked, page) = tokio::join!(status.refresh_now(), async {
                aws::eventually(Duration::from_secs(5), "status holds the lease", || async {
                    run.app.item(TOKEN_LEASE_KEY).await.is_some()
                })
                .await;
                rotate_at(&run, &url).await
            });
            assert!(checked.is_ok(), "{name}");
            assert_eq!(page["name"], "Song", "{name}: {page}");
        }
        let after = run.stats();
        assert_eq!(after.invalid_grant, before.invalid_grant, "{name}");
        assert_eq!(
            after.reuse_detected, 0,
            "{name}: a refresh token presented twice"
        );
        assert!(
            after.token_refreshes - before.token_refreshes <= 2,
            "{name}"
        );
        run.finish(6).await;
    }
}

/// An unreadable newest copy on retry: A gives up writing Ta; B rotates Ta→Tb and gives up too, then dies; A's background retry
/// meets one failed `GetItem` of the pending copy: "don't know" means no write, and the retry
/// after that finds Tb newer and drops Ta.
#[tokio::test]
async fn an_unreadable_pending_copy_never_counts_as_nothing_newer() {
    let run = Run::start("unreadable newest copy on retry").await;
    let a = run.app.process(run.clock.clone()).await;
    let b = run.app.process(run.clock.clone()).await;
    let t0 = run.app.secret_token().await;
    a.sm_faults.fail_all_of("PutSecretValue");
    assert_eq!(rotate_at(&run, &a.url).await["name"], "Song");
    let ta = run.stats().valid_refresh_token.unwrap();
    b.sm_faults.fail_all_of("PutSecretValue");
    assert_eq!(rotate_at(&run, &b.url).await["name"], "Song");
    let tb = run.stats().valid_refresh_token.unwrap();
    assert_ne!(ta, tb);
    assert_eq!(
        run.app.secret_token().await,
        t0,
        "neither could write the secret"
    );
    assert_eq!(run.stats().invalid_grant, 0);
    // B is gone. A's store is back; its retry is due, and reading the pending copy fails once.
    a.sm_faults.heal();
    a.ddb_faults.fail_next("GetItem", PENDING_REFRESH_KEY);
    run.clock.advance(Duration::from_secs(31));
    run.page_at(&a.url).await;
    aws::eventually(
        Duration::from_secs(30),
        "A's retry reads the copy",
        || async { a.ddb_faults.fired("GetItem") >= 2 },
    )
    .await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_ne!(run.app.secret_token().await, ta, "A wrote Ta over Tb");
    // The next retry reads everything, finds Tb newer, and drops Ta for good.
    run.clock.advance(Duration::from_secs(31));
    run.page_at(&a.url).await;
    tokio::time::sleep(Duration::from_millis(1_000)).await;
    assert_ne!(run.app.secret_token().await, ta, "A wrote Ta over Tb");
    run.finish(6).await;
}

/// A late secret write after disconnect: every write of a rotation to Secrets Manager is held past the SDK's deadline, the owner
/// disconnects, and then the held writes arrive: none becomes current, then or a minute later.
async fn a_late_secret_write_after_disconnect(op: &'static str) {
    let run = Run::start("late secret write after disconnect").await;
    run.app.sm_faults.hold(op, "", u32::MAX);
    assert_eq!(rotate_at(&run, &run.url()).await["name"], "Song");
    aws::eventually(Duration::from_secs(30), "the write is given up", || async {
        run.errors()
            .iter()
            .any(|l| l.contains("could not persist the rotated refresh token"))
    })
    .await;
    // The owner disconnects (the command's own code path; its own write is not held), then
    // the held writes land.
    let held = run.app.sm_faults.fired(op);
    assert!(held >= 4, "{op}: {held} held");
    run.app.sm_faults.heal();
    let mut c = credentials("");
    c.refresh_token = None;
    let clock = run.clock.clone();
    nowplaying::owner::replace_authorization(
        run.app.stores.credentials.as_ref(),
        Some(run.app.stores.table().as_ref()),
        &c,
        move || clock.now(),
    )
    .await
    .expect("disconnect");
    run.app.sm_faults.release_held();
    tokio::time::sleep(Duration::from_millis(1_500)).await;
    let gone = || async {
        aws::secret_json(&run.app.sm, &run.app.secret_id).await["refresh_token"].is_null()
    };
    assert!(
        gone().await,
        "{op}: a late write brought the refresh token back"
    );
    // A minute later (background retries due, pages asked), still none.
    for _ in 0..3 {
        run.clock.advance(Duration::from_secs(31));
        assert_eq!(run.page().await, Value::Null);
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert!(gone().await, "{op}: the refresh token came back later");
    // The owner signs in again; everything works as before.
    run.reauthorize("refresh-token-after-disconnect").await;
    run.finish(8).await;
}

#[tokio::test]
async fn a_late_staged_write_after_disconnect_never_becomes_current() {
    a_late_secret_write_after_disconnect("PutSecretValue").await;
}

#[tokio::test]
async fn a_late_label_move_after_disconnect_is_refused() {
    a_late_secret_write_after_disconnect("UpdateSecretVersionStage").await;
}
