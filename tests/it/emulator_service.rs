//! The whole service (`nowplaying::app::build` with Secrets Manager credentials and DynamoDB
//! shared state, `shared: true`) against the AWS emulator over HTTP and the fake Spotify:
//! rotation, store outages, a dead lease holder, and `invalid_grant` after another environment
//! rotated the token.

use crate::support;

use std::time::{Duration, Instant};

use support::aws::{self, attr_s, EmulatorApp, Mode};
use support::*;

use nowplaying::clock::{Clock, ManualClock, SystemClock};
use nowplaying::keys::{PENDING_REFRESH_KEY, TOKEN_LEASE_KEY};

fn playing(app: &EmulatorApp) {
    app.fake.set_current(Scripted::json(bodies::playing(
        bodies::track("t1", "Song"),
        true,
        1000,
    )));
}

fn valid_refresh_token(app: &EmulatorApp) -> String {
    app.fake
        .stats()
        .valid_refresh_token
        .expect("the fake has a valid refresh token")
}

/// No log line of this test binary carries a credential.
fn assert_logs_clean() {
    let logs = aws::captured_logs();
    for needle in [
        fake_spotify::CLIENT_SECRET,
        "refresh-token-",
        "access-",
        "other-env-",
    ] {
        assert!(
            !logs.contains(needle),
            "a log line contains {needle:?}:\n{}",
            logs.lines()
                .filter(|l| l.contains(needle))
                .collect::<Vec<_>>()
                .join("\n")
        );
    }
}

/// Moves past the cache window.
fn next_window(app: &EmulatorApp, clock: &ManualClock) {
    clock.advance(cache_window(&app.app) + Duration::from_millis(1));
}

#[tokio::test]
async fn rotation_lands_in_the_secret() {
    let clock = ManualClock::at(T0);
    let doc = serde_json::json!({
        "client_id": fake_spotify::CLIENT_ID,
        "client_secret": fake_spotify::CLIENT_SECRET,
        "refresh_token": fake_spotify::FIRST_REFRESH_TOKEN,
        "authorized_at": "2026-11-23T10:00:00Z",
        "kept": {"by": "hand"}
    });
    let app = EmulatorApp::start(&[], Some(clock.clone()), Some(&doc.to_string())).await;
    playing(&app);

    assert_eq!(app.now().await["name"], "Song");
    assert_eq!(app.secret_token().await, valid_refresh_token(&app));
    assert_eq!(app.secret_token().await, "refresh-token-1");

    for round in 2..=4u64 {
        app.fake.expire_access_tokens();
        next_window(&app, &clock);
        assert_eq!(app.now().await["name"], "Song");
        assert_eq!(app.fake.stats().token_refreshes, round);
        assert_eq!(app.secret_token().await, valid_refresh_token(&app));
    }
    let stored = aws::secret_json(&app.sm, &app.secret_id).await;
    assert_eq!(stored["client_id"], fake_spotify::CLIENT_ID);
    assert_eq!(stored["client_secret"], fake_spotify::CLIENT_SECRET);
    assert_eq!(stored["authorized_at"], "2026-11-23T10:00:00Z");
    assert_eq!(stored["kept"], serde_json::json!({"by": "hand"}));
    assert!(stored.get("access_token").is_none());
    // One version per rotation, plus the first.
    assert_eq!(aws::secret_versions(&app.sm, &app.secret_id).await, 5);
    assert_eq!(app.fake.stats().invalid_grant, 0);
    assert!(app.item(PENDING_REFRESH_KEY).await.is_none());
    assert_logs_clean();
}

/// How many times the service gave up writing this secret (its ERROR line).
fn persist_gave_up(secret_id: &str) -> usize {
    aws::captured_logs()
        .lines()
        .filter(|l| {
            l.contains("ERROR")
                && l.contains(secret_id)
                && l.contains("could not persist the rotated refresh token")
        })
        .count()
}

/// Asks for an answer window after window (each must be the song, never null) until `done`.
async fn answers_until(
    app: &EmulatorApp,
    clock: &ManualClock,
    within: Duration,
    done: impl Fn() -> bool,
) {
    let started = Instant::now();
    loop {
        next_window(app, clock);
        assert_eq!(app.now().await["name"], "Song");
        if done() {
            return;
        }
        assert!(started.elapsed() < within, "not within {within:?}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

async fn secret_write_failing_during_rotation(mode: aws::Action) {
    let clock = ManualClock::at(T0);
    let app = EmulatorApp::start(&[], Some(clock.clone()), None).await;
    playing(&app);
    assert_eq!(app.now().await["name"], "Song");
    assert_eq!(app.secret_token().await, "refresh-token-1");

    // Secrets Manager stops taking writes (it is still read: no refresh without that read);
    // Spotify rotates on the next refresh. The answer keeps coming (stale while the write is
    // being retried, at worst).
    match mode {
        aws::Action::Fail => app.sm_faults.fail_all_of("PutSecretValue"),
        aws::Action::HoldThenForward => app.sm_faults.hold("PutSecretValue", "", u32::MAX),
    }
    app.fake.expire_access_tokens();
    next_window(&app, &clock);
    let started = Instant::now();
    let v = app.now().await;
    let took = started.elapsed();
    assert_eq!(
        v["name"], "Song",
        "the answer keeps coming ({mode:?}, took {took:?})"
    );
    aws::eventually(Duration::from_secs(20), "the write is given up", || async {
        persist_gave_up(&app.secret_id) == 1
    })
    .await;
    assert_eq!(app.fake.stats().token_refreshes, 2);

    // The rotated token is kept sealed in the table.
    let pending = app
        .item(PENDING_REFRESH_KEY)
        .await
        .expect("pending-refresh-token item");
    assert!(!attr_s(&pending, "v").contains("refresh-token"));
    let opened = open_token_item(&sealer(), PENDING_REFRESH_KEY, &attr_s(&pending, "v"));
    assert_eq!(opened.as_deref(), Some(valid_refresh_token(&app).as_str()));
    assert_eq!(
        app.secret_token().await,
        "refresh-token-1",
        "the secret could not be written"
    );

    // Answers keep coming while it is down, fresh ones (the access token is valid).
    for _ in 0..3 {
        next_window(&app, &clock);
        let v = app.now().await;
        assert_eq!(v["name"], "Song");
        assert_eq!(v["stale"], false);
    }

    // A second rotation while it is still down starts from the pending token and is kept too.
    app.fake.expire_access_tokens();
    answers_until(&app, &clock, Duration::from_secs(30), || {
        app.fake.stats().token_refreshes == 3 && persist_gave_up(&app.secret_id) == 2
    })
    .await;
    let pending = app.item(PENDING_REFRESH_KEY).await.expect("still pending");
    assert_eq!(
        open_token_item(&sealer(), PENDING_REFRESH_KEY, &attr_s(&pending, "v")).as_deref(),
        Some(valid_refresh_token(&app).as_str())
    );
    assert_eq!(app.fake.stats().invalid_grant, 0);

    // Recovery: the next refresh uses the pending token and the secret catches up (the held
    // writes land now too, as staged versions that never become current).
    app.sm_faults.heal();
    app.sm_faults.release_held();
    app.fake.expire_access_tokens();
    answers_until(&app, &clock, Duration::from_secs(30), || {
        app.fake.stats().token_refreshes == 4
    })
    .await;
    aws::eventually(Duration::from_secs(10), "the secret catches up", || async {
        app.secret_token().await == valid_refresh_token(&app)
            && app.item(PENDING_REFRESH_KEY).await.is_none()
    })
    .await;
    let stats = app.fake.stats();
    assert_eq!(stats.token_refreshes, 4);
    assert_eq!(stats.invalid_grant, 0, "no refresh token was lost");
    next_window(&app, &clock);
    assert_eq!(app.now().await["stale"], false);
    let logs = aws::captured_logs();
    assert!(
        logs.lines().any(|l| l.contains("ERROR")
            && l.contains(&app.secret_id)
            && l.contains("kept_sealed_in_shared_state=true")
            && l.contains("alert=\"owner_must_act\"")
            && l.contains("reason=\"refresh_token_not_persisted\"")),
        "an ERROR names the secret:\n{logs}"
    );
    assert_logs_clean();
}

#[tokio::test]
async fn secret_write_refused_during_rotation_keeps_the_token_pending() {
    secret_write_failing_during_rotation(aws::Action::Fail).await;
}

/// The writes time out (held past the SDK's deadline) and reach Secrets Manager later: as
/// staged versions, never current.
#[tokio::test]
async fn secret_write_timing_out_during_rotation_keeps_the_token_pending() {
    secret_write_failing_during_rotation(aws::Action::HoldThenForward).await;
}

async fn dynamodb_stopped_mid_run(mode: Mode) {
    let clock = ManualClock::at(T0);
    let app = EmulatorApp::start(&[], Some(clock.clone()), None).await;
    playing(&app);
    assert_eq!(app.now().await["name"], "Song");

    app.ddb_proxy.set(mode);
    let refreshes = app.fake.stats().token_refreshes;
    let asked = app.fake.stats().currently_playing;
    let mut slowest = Duration::ZERO;
    for i in 0..4 {
        next_window(&app, &clock);
        if i == 2 {
            // The access token dies while the table is down: no refresh without the lease
            // (tokens fail closed) either.
            app.fake.expire_access_tokens();
        }
        let started = Instant::now();
        let v = app.now().await;
        slowest = slowest.max(started.elapsed());
        // The privacy switch lives in the table: past the window in which it was last read
        // off, Spotify is not asked, and the last good answer is served, marked stale.
        assert_eq!(v["name"], "Song", "{mode:?}: request {i}");
        assert_eq!(v["stale"], true, "{mode:?}: request {i}");
    }
    assert_eq!(
        app.fake.stats().currently_playing,
        asked,
        "no Spotify call while the switch cannot be read"
    );
    assert_eq!(
        app.fake.stats().token_refreshes,
        refreshes,
        "no refresh while the refresh lease cannot be taken"
    );
    eprintln!("{mode:?}: slowest answer with DynamoDB down: {slowest:?}");
    let logs = aws::captured_logs();
    assert!(
        logs.lines().any(|l| l.contains("WARN")
            && l.contains(&app.table)
            && l.contains("serving from this instance's memory")),
        "a WARN names the table:\n{logs}"
    );
    assert_eq!(app.secret_token().await, valid_refresh_token(&app));

    // The table comes back: once the process tries it again (10 s after the last failure),
    // answers are shared through it again, and the refresh happens.
    app.ddb_proxy.pass();
    clock.advance(Duration::from_millis(10_001));
    let v = app.now().await;
    assert_eq!(v["name"], "Song");
    assert_eq!(v["stale"], false, "refreshed once the table is back");
    assert_eq!(app.fake.stats().token_refreshes, refreshes + 1);
    let answer = app
        .item(nowplaying::keys::ANSWER_KEY)
        .await
        .expect("answer");
    assert!(
        aws::attr_n(&answer, "exp") > clock.now().as_millis(),
        "written to the table again"
    );
    assert_eq!(app.fake.stats().invalid_grant, 0);
    assert_logs_clean();
}

#[tokio::test]
async fn dynamodb_refusing_mid_run_answers_keep_coming() {
    dynamodb_stopped_mid_run(Mode::Refuse).await;
}

#[tokio::test]
async fn dynamodb_timing_out_mid_run_answers_keep_coming() {
    dynamodb_stopped_mid_run(Mode::Blackhole).await;
}

#[tokio::test]
async fn a_dead_lease_holder_blocks_nobody_past_its_lease() {
    let app = EmulatorApp::start(&[("CACHE_TTL_SECONDS", "1")], None, None).await;
    playing(&app);
    // A process took the token lease and died: nobody deletes it, it lapses in 4 s.
    let now = SystemClock.now().as_millis();
    let lapses_at = now + 4_000;
    aws::put_raw_item(
        &app.ddb,
        &app.table,
        TOKEN_LEASE_KEY,
        "",
        lapses_at,
        Some("4242-dead"),
        lapses_at / 1000 + 3600,
    )
    .await;

    let started = Instant::now();
    let mut tasks = Vec::new();
    for _ in 0..4 {
        let http = app.http.clone();
        let url = format!("{}/api/spotify", app.url);
        tasks.push(tokio::spawn(async move {
            let mut slowest = Duration::ZERO;
            let mut first_answer = None;
            let mut count = 0;
            // Until an answer shows up, and a little beyond; bounded either way.
            while started.elapsed() < Duration::from_secs(15) {
                let t = Instant::now();
                let r = http.get(&url).send().await.unwrap();
                assert_eq!(r.status(), 200);
                let v: serde_json::Value = r.json().await.unwrap();
                slowest = slowest.max(t.elapsed());
                count += 1;
                if !v.is_null() {
                    assert_eq!(v["name"], "Song");
                    first_answer.get_or_insert(started.elapsed());
                }
                if first_answer.is_some_and(|f| started.elapsed() > f + Duration::from_secs(1)) {
                    break;
                }
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            (slowest, first_answer, count)
        }));
    }
    let mut slowest = Duration::ZERO;
    let mut last_first = Duration::ZERO;
    for t in tasks {
        let (s, first, count) = t.await.unwrap();
        slowest = slowest.max(s);
        let first = first.unwrap_or_else(|| panic!("no answer within 15 s ({count} requests)"));
        last_first = last_first.max(first);
    }
    eprintln!("dead lease: slowest request {slowest:?}, every client answered by {last_first:?}");
    // Nobody waits longer than the token wait (3 s) within the fetch deadline (4.5 s).
    assert!(
        slowest < Duration::from_millis(4_500 + 1_000),
        "{slowest:?}"
    );
    // Answers come once the lease lapses: lease (4 s) + one wait (3 s) + the window (1 s).
    assert!(
        last_first < Duration::from_millis(4_000 + 3_000 + 1_000 + 1_500),
        "{last_first:?}"
    );
    let stats = app.fake.stats();
    assert_eq!(stats.token_refreshes, 1);
    assert_eq!(stats.invalid_grant, 0);
    assert_eq!(app.secret_token().await, valid_refresh_token(&app));
    assert_logs_clean();
}

#[tokio::test]
async fn invalid_grant_rereads_the_secret_after_another_environment_rotated() {
    let clock = ManualClock::at(T0);
    let app = EmulatorApp::start(&[], Some(clock.clone()), None).await;
    playing(&app);
    assert_eq!(app.now().await["name"], "Song");
    assert_eq!(app.secret_token().await, "refresh-token-1");

    // Another environment (say, `nowplaying serve` on a laptop with the same secret) refreshed:
    // Spotify rotated the token and that environment wrote the new one to the secret.
    app.fake.set_refresh_token(Some("other-env-refresh"));
    let mut doc = aws::secret_json(&app.sm, &app.secret_id).await;
    doc["refresh_token"] = "other-env-refresh".into();
    aws::put_secret(&app.sm, &app.secret_id, &doc.to_string()).await;

    app.fake.expire_access_tokens();
    next_window(&app, &clock);
    assert_eq!(
        app.now().await["name"],
        "Song",
        "recovers without the owner"
    );
    let stats = app.fake.stats();
    assert_eq!(stats.token_refreshes, 2);
    // The other environment shares the secret but not the table: the refresh reads the secret
    // under the lease (the durable copy decides which token is the newest), so this process
    // never presents its cold-start copy at all.
    assert_eq!(stats.invalid_grant, 0);
    assert_eq!(app.secret_token().await, valid_refresh_token(&app));
    next_window(&app, &clock);
    assert_eq!(app.now().await["name"], "Song");
    assert_logs_clean();
}

#[tokio::test]
async fn invalid_grant_mid_refresh_rereads_the_secret_once() {
    // The other environment rotates while this one's refresh is on its way to Spotify: the
    // refresh gets invalid_grant, reads the secret once more and succeeds with the new token.
    let clock = ManualClock::at(T0);
    let app = EmulatorApp::start(&[], Some(clock.clone()), None).await;
    playing(&app);
    assert_eq!(app.now().await["name"], "Song");

    app.fake.set_token(TokenBehavior {
        delay_ms: 700,
        ..Default::default()
    });
    app.fake.expire_access_tokens();
    next_window(&app, &clock);
    let calls_before = app.fake.stats().token_calls;
    let request = tokio::spawn({
        let http = app.http.clone();
        let url = format!("{}/api/spotify", app.url);
        async move { http.get(url).send().await.unwrap() }
    });
    // The refresh request has reached Spotify (which is slow): now the other environment rotates.
    aws::eventually(
        Duration::from_secs(5),
        "the refresh reaches Spotify",
        || async { app.fake.stats().token_calls > calls_before },
    )
    .await;
    app.fake.set_refresh_token(Some("other-env-refresh"));
    let mut doc = aws::secret_json(&app.sm, &app.secret_id).await;
    doc["refresh_token"] = "other-env-refresh".into();
    aws::put_secret(&app.sm, &app.secret_id, &doc.to_string()).await;

    let r = request.await.unwrap();
    assert_eq!(r.status(), 200);
    let v: serde_json::Value = r.json().await.unwrap();
    assert_eq!(v["name"], "Song", "recovered without the owner");
    let stats = app.fake.stats();
    assert_eq!(
        stats.invalid_grant, 1,
        "one invalid_grant, then the re-read token worked"
    );
    assert_eq!(stats.token_refreshes, 2);
    assert_eq!(app.secret_token().await, valid_refresh_token(&app));
    assert_logs_clean();
}

#[tokio::test]
async fn a_revoked_shared_token_is_refreshed_not_served_stale() {
    // This process's token was revoked, and so was the one another process published to the
    // table: the second 401 leads to a real refresh, and the answer is fresh.
    let clock = ManualClock::at(T0);
    let app = EmulatorApp::start(&[], Some(clock.clone()), None).await;
    playing(&app);
    assert_eq!(app.now().await["name"], "Song");

    let expires = clock.now().as_millis() + 3_600_000;
    aws::put_raw_item(
        &app.ddb,
        &app.table,
        nowplaying::keys::TOKEN_KEY,
        &sealer().seal(
            &sealing_context(nowplaying::keys::TOKEN_KEY),
            "published-elsewhere-then-revoked",
        ),
        expires,
        None,
        expires / 1000 + 3600,
    )
    .await;
    app.fake.expire_access_tokens();
    next_window(&app, &clock);
    let v = app.now().await;
    assert_eq!(v["name"], "Song");
    assert_eq!(
        v["stale"], false,
        "Spotify was fine: the answer is not stale"
    );
    let stats = app.fake.stats();
    assert_eq!(stats.unauthorized, 2);
    assert_eq!(stats.token_refreshes, 2);
    assert_eq!(app.secret_token().await, valid_refresh_token(&app));
    assert_logs_clean();
}
