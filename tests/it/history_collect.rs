//! Collection into the history: a day of continuous listening to 30-second tracks, collected
//! only on the schedule, stores every play exactly once, with parallel and overlapping runs and
//! through token expiry and rotation; the Lambda schedule event runs the same collection.
use std::collections::BTreeSet;
use std::num::NonZeroUsize;
use std::sync::Arc;
use std::time::Duration;

use nowplaying::clock::Timestamp;
use nowplaying::collect::SCHEDULE;
use nowplaying::history::memory::MemoryHistory;
use nowplaying::history::HistoryStore;
use nowplaying::store::memory::MemoryState;

use crate::support::{self, *};

/// A day of back-to-back 30-second tracks from `start`: (end of the play, track id).
fn continuous_day(start: Timestamp) -> Vec<(u64, String)> {
    (0..2_880u64)
        .map(|k| (start.as_millis() + 30_000 * (k + 1), format!("t{}", k % 97)))
        .collect()
}

/// The service with a fresh fake Spotify and a history in memory.
async fn with_history() -> (FakeSpotify, Arc<MemoryHistory>, TestApp) {
    let fake = FakeSpotify::start().await;
    let history = Arc::new(MemoryHistory::new());
    let app = TestApp::start_with_history(
        fake.clone(),
        &[],
        Arc::new(MemoryState::new()),
        history.clone(),
    )
    .await;
    (fake, history, app)
}

/// Every stored play's identity, read back page by page.
async fn stored(history: &dyn HistoryStore) -> BTreeSet<(u64, String)> {
    let mut out = BTreeSet::new();
    let mut cursor = None;
    loop {
        let page = history
            .range(
                Timestamp::EPOCH,
                nowplaying::history::LATEST,
                NonZeroUsize::new(500).unwrap(),
                cursor.as_ref(),
            )
            .await
            .unwrap();
        for p in &page.plays {
            assert!(
                out.insert((p.played_at.as_millis(), p.key.clone())),
                "stored twice: {p:?}"
            );
        }
        match page.next {
            Some(next) => cursor = Some(next),
            None => return out,
        }
    }
}

fn expected(plays: &[(u64, String)]) -> BTreeSet<(u64, String)> {
    plays
        .iter()
        .map(|(at, id)| (*at, format!("spotify:track:{id}")))
        .collect()
}

#[tokio::test]
async fn a_day_of_thirty_second_tracks_collected_on_the_schedule_stores_every_play_once() {
    let (fake, history, app) = with_history().await;
    let plays = continuous_day(T0);
    fake.set_timeline(plays.clone(), T0.as_millis());
    let ticks = (24 * 3600) / SCHEDULE.as_secs() + 1;
    let mut busy = 0;
    for tick in 1..=ticks {
        let now = T0 + SCHEDULE * tick as u32;
        app.clock.set(now);
        fake.set_timeline_now(now.as_millis());
        if tick % 37 == 0 {
            // Spotify revokes the access tokens early: the next call gets a 401.
            fake.expire_access_tokens();
        }
        // Three runs at once (the schedule retried, a cron run): one asks, the others see the lease.
        let (a, b, c) = tokio::join!(app.app.collect(), app.app.collect(), app.app.collect());
        for run in [a, b, c] {
            let run = run.expect("the history is on").expect("collected");
            busy += usize::from(run.busy);
        }
    }
    assert_eq!(stored(history.as_ref()).await, expected(&plays));
    assert!(
        busy >= ticks as usize,
        "parallel runs took the lease: {busy}"
    );
    let stats = fake.stats();
    // The keeper's clock crossed 24 token lifetimes and the fake revoked tokens early: every
    // refresh rotated, none was refused, none reused.
    assert!(stats.token_refreshes >= 24, "{stats:?}");
    assert_eq!(stats.invalid_grant, 0, "{stats:?}");
    assert_eq!(stats.reuse_detected, 0, "{stats:?}");
    assert_eq!(
        app.stored_credentials()["refresh_token"].as_str(),
        stats.valid_refresh_token.as_deref(),
        "the rotated refresh token is the stored one"
    );
    // One page a run: the schedule never lets 50 plays pile up.
    assert!(
        stats.recently_played <= 2 * ticks,
        "{} calls for {ticks} runs",
        stats.recently_played
    );
}

#[tokio::test]
async fn a_collection_too_rare_loses_plays_so_the_schedule_test_can_fail() {
    // The same day collected every 30 minutes: 60 plays between runs, more than Spotify keeps.
    let (fake, history, app) = with_history().await;
    let plays = continuous_day(T0);
    fake.set_timeline(plays.clone(), T0.as_millis());
    for tick in 1..=6u32 {
        let now = T0 + Duration::from_secs(1800) * tick;
        app.clock.set(now);
        fake.set_timeline_now(now.as_millis());
        app.app.collect().await.unwrap().unwrap();
    }
    let got = stored(history.as_ref()).await;
    assert!(got.len() < 360 && got.len() >= 6 * 50 - 50, "{}", got.len());
}

#[tokio::test]
async fn overlapping_collections_from_two_processes_on_one_history_store_nothing_twice() {
    // Two processes with leases of their own (a laptop's `serve` and a cron run on another
    // credentials copy) write the same history: the store keeps each play once.
    let (fake, history, a) = with_history().await;
    let plays = continuous_day(T0);
    let hours = 3u32;
    fake.set_timeline(plays.clone(), T0.as_millis());
    for tick in 1..=(hours * 6) {
        let now = T0 + SCHEDULE * tick;
        a.clock.set(now);
        fake.set_timeline_now(now.as_millis());
        // The second collector: the same store, its own lease, the same Spotify session.
        let other = nowplaying::collect::Collector {
            store: history.clone(),
            leases: Arc::new(MemoryState::new()),
            instance: "other".into(),
            rules: Default::default(),
        };
        let (x, y) = tokio::join!(a.app.collect(), other.spotify(&a.app.upstream));
        let (x, y) = (x.unwrap().unwrap(), y.unwrap());
        assert!(!x.busy && !y.busy);
    }
    let until = (T0 + SCHEDULE * (hours * 6)).as_millis();
    let want: Vec<_> = plays.into_iter().filter(|(at, _)| *at <= until).collect();
    assert_eq!(stored(history.as_ref()).await, expected(&want));
}

#[tokio::test]
async fn parallel_lambda_instances_collect_into_dynamodb_once_through_a_rotation() {
    let history_table = {
        let sdk = support::aws::sdk_config().await;
        support::aws::create_history_table(&support::aws::dynamo(&sdk, None)).await
    };
    let extra = [
        ("PROFILE_ENDPOINTS", "history"),
        ("HISTORY_TABLE", history_table.as_str()),
    ];
    let clock = nowplaying::clock::ManualClock::at(T0);
    let emu = support::aws::EmulatorApp::start(&extra, Some(clock.clone()), None).await;
    let sdk = support::aws::sdk_config().await;
    let proxy = support::aws::FaultProxy::start(&support::aws_endpoint()).await;
    // Patient time-outs for the history: this test checks what is stored, not how fast.
    let store = |_: ()| -> Arc<dyn HistoryStore> {
        Arc::new(nowplaying::history::dynamo::DynamoHistory::new(
            support::aws::patient_dynamo(&sdk, Some(&proxy.url)),
            history_table.clone(),
        ))
    };
    let one = emu.sibling_app(&extra, Some(clock.clone()), Some(store(())));
    let two = emu.sibling_app(&extra, Some(clock.clone()), Some(store(())));
    let plays = continuous_day(T0);
    emu.fake.set_timeline(plays.clone(), T0.as_millis());
    let runs = 8u32;
    for tick in 1..=runs {
        let now = T0 + SCHEDULE * tick;
        clock.set(now);
        emu.fake.set_timeline_now(now.as_millis());
        if tick == 4 {
            // Past the token's lifetime: the next run refreshes, and Spotify rotates.
            clock.advance(Duration::from_secs(3600));
            emu.fake.expire_access_tokens();
        }
        let (x, y) = tokio::join!(
            nowplaying::lambda::collect(&one),
            nowplaying::lambda::collect(&two)
        );
        // A run may fail on a loaded emulator (the next one catches up): at least one each tick.
        assert!(
            !x["collected"].is_null() || !y["collected"].is_null(),
            "{x} {y}"
        );
    }
    let until = clock_now(&emu).as_millis();
    let want: Vec<_> = plays.into_iter().filter(|(at, _)| *at <= until).collect();
    assert_eq!(stored(store(()).as_ref()).await, expected(&want));
    let stats = emu.fake.stats();
    assert_eq!(stats.invalid_grant, 0, "{stats:?}");
    assert_eq!(stats.reuse_detected, 0, "{stats:?}");
    assert!(stats.token_refreshes >= 2, "{stats:?}");
    assert_eq!(
        Some(emu.secret_token().await),
        stats.valid_refresh_token,
        "the rotated refresh token reached the secret"
    );
    let ops = proxy.take_ops();
    assert!(ops.iter().any(|o| o == "Query"), "{ops:?}");
    assert!(
        !ops.iter().any(|o| o == "Scan"),
        "the history never scans: {ops:?}"
    );
}

fn clock_now(emu: &support::aws::EmulatorApp) -> Timestamp {
    emu.app.upstream.now()
}

#[tokio::test]
async fn the_lambda_schedule_event_collects_and_an_http_event_still_answers() {
    use lambda_http::lambda_runtime::{Context, LambdaEvent};
    let (fake, history, app) = with_history().await;
    let plays = continuous_day(T0);
    fake.set_timeline(plays.clone(), (T0 + Duration::from_secs(300)).as_millis());
    let router = nowplaying::http::router(app.app.clone());
    let scheduled = serde_json::json!({
        "version": "0", "id": "e1", "detail-type": "Scheduled Event", "source": "aws.events",
        "account": "123456789012", "time": "2026-12-01T10:00:00Z", "region": "eu-west-1",
        "resources": ["arn:aws:events:eu-west-1:123456789012:rule/collect"], "detail": {}
    });
    for event in [scheduled, serde_json::json!({"nowplaying": "collect"})] {
        let out = nowplaying::lambda::handle(
            app.app.clone(),
            router.clone(),
            LambdaEvent::new(event, Context::default()),
        )
        .await
        .unwrap();
        assert!(out["collected"].is_object(), "{out}");
    }
    assert_eq!(stored(history.as_ref()).await.len(), 10);
    let http: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(format!(
            "{}/tests/fixtures/apigw-http-v2.json",
            env!("CARGO_MANIFEST_DIR")
        ))
        .unwrap(),
    )
    .unwrap();
    let out = nowplaying::lambda::handle(
        app.app.clone(),
        router,
        LambdaEvent::new(http, Context::default()),
    )
    .await
    .unwrap();
    assert_eq!(out["statusCode"], 200, "{out}");
    // The history off: the event is answered, nothing collected, no error.
    let off = TestApp::start(&[]).await;
    let out = nowplaying::lambda::collect(&off.app).await;
    assert!(
        out["collected"].is_null() && out["reason"].is_string(),
        "{out}"
    );
}

/// Runs `nowplaying ARGS` with only `vars` (and PATH/HOME) in its environment.
async fn run_command(args: &[&str], vars: &[(&str, String)]) -> (i32, String, String) {
    let mut c = tokio::process::Command::new(env!("CARGO_BIN_EXE_nowplaying"));
    c.env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("RUST_LOG", "warn")
        .envs(vars.iter().map(|(k, v)| (*k, v.as_str())))
        .args(args)
        .stdin(std::process::Stdio::null())
        .kill_on_drop(true);
    let out = tokio::time::timeout(Duration::from_secs(60), c.output())
        .await
        .expect("the command ends within 60 s")
        .unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[tokio::test]
async fn nowplaying_collect_fills_the_sqlite_history_once_and_never_runs_beside_serve() {
    use nowplaying::store::CredentialStore;
    let fake = FakeSpotify::start().await;
    let dir = tempfile::tempdir().unwrap();
    let creds = dir.path().join("config").join("credentials.json");
    nowplaying::store::file::FileCredentials::new(&creds)
        .save(&support::credentials(
            support::fake_spotify::FIRST_REFRESH_TOKEN,
        ))
        .await
        .unwrap();
    let now = Timestamp::parse_rfc3339("2026-12-01T12:00:00Z").unwrap();
    let plays: Vec<(u64, String)> = (1..=12u64)
        .map(|k| (now.as_millis() - 60_000 * k, format!("c{k}")))
        .collect();
    fake.set_timeline(plays.clone(), now.as_millis());
    let mut vars = vec![
        ("HOME", dir.path().to_string_lossy().into_owned()),
        (
            "NOWPLAYING_CREDENTIALS",
            creds.to_string_lossy().into_owned(),
        ),
        ("SPOTIFY_API_BASE_URL", fake.base.clone()),
        ("SPOTIFY_ACCOUNTS_BASE_URL", fake.base.clone()),
    ];
    // Off: one line saying how to turn it on, nothing written.
    let (code, _, err) = run_command(&["collect"], &vars).await;
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("PROFILE_ENDPOINTS=history"), "{err}");
    vars.push(("PROFILE_ENDPOINTS", "history".into()));
    let (code, out, err) = run_command(&["collect"], &vars).await;
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.contains("collected 12 new plays"), "{out}");
    assert!(out.contains("history.sqlite3"), "{out}");
    let (code, out, _) = run_command(&["collect"], &vars).await;
    assert_eq!(code, 0);
    assert!(out.contains("collected 0 new plays"), "{out}");
    let history = nowplaying::history::sqlite::SqliteHistory::new(
        dir.path().join("config").join("history.sqlite3"),
    );
    assert_eq!(stored(&history).await, expected(&plays));
    // A running `serve` holds the credentials: `collect` asks nothing.
    let calls = fake.stats().recently_played;
    let lock = nowplaying::cli::lone::take(&creds, Duration::ZERO)
        .await
        .unwrap()
        .expect("the lock is free");
    let (code, out, _) = run_command(&["collect"], &vars).await;
    assert_eq!(code, 0);
    assert!(out.contains("collects by itself"), "{out}");
    assert_eq!(fake.stats().recently_played, calls);
    drop(lock);
    // The refresh tokens rotated along the way are the stored ones: nothing lost.
    let stats = fake.stats();
    assert_eq!(stats.invalid_grant, 0);
    let doc: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&creds).unwrap()).unwrap();
    assert_eq!(
        doc["refresh_token"].as_str(),
        stats.valid_refresh_token.as_deref()
    );
}

#[tokio::test]
async fn with_lastfm_alone_a_collection_stores_the_scrobbles_and_asks_spotify_nothing() {
    use crate::support::fake_lastfm::{self, FakeLastfm};
    let lf = FakeLastfm::start().await;
    let fake = FakeSpotify::start().await;
    let history = Arc::new(MemoryHistory::new());
    let app = TestApp::start_with_history(
        fake.clone(),
        &[
            ("SOURCE", "lastfm"),
            ("LASTFM_USER", fake_lastfm::USER),
            ("LASTFM_API_KEY", fake_lastfm::API_KEY),
            ("LASTFM_API_BASE_URL", lf.base.as_str()),
        ],
        Arc::new(MemoryState::new()),
        history.clone(),
    )
    .await;
    // Scrobbles every 4 minutes over the last two hours before the app's clock.
    let now = T0.as_secs();
    let scrobbles: Vec<serde_json::Value> = (1..=30u64)
        .map(|i| fake_lastfm::bodies::scrobble(&format!("Song {i}"), now - i * 240))
        .collect();
    lf.set_scrobbles(scrobbles);
    let run = app.app.collect().await.unwrap().unwrap();
    assert_eq!((run.new, run.busy), (30, false), "{run:?}");
    let again = app.app.collect().await.unwrap().unwrap();
    assert_eq!(again.new, 0, "{again:?}");
    let plays = stored(history.as_ref()).await;
    assert_eq!(plays.len(), 30);
    assert!(plays
        .iter()
        .all(|(_, key)| key.starts_with("scroobius|song ")));
    assert_eq!(fake.stats().recently_played, 0);
    assert_eq!(fake.stats().token_calls, 0);
}
