//! What one process does when another process or its own table fails it: visitors queued behind
//! a lease holder that never publishes are all answered within one wait, and a table that cannot
//! be read never makes a process ask Spotify on an old "not hidden".

use crate::support;

use std::sync::Arc;
use std::time::{Duration, Instant};

use support::aws::EmulatorApp;
use support::*;

use nowplaying::clock::ManualClock;
use nowplaying::keys::ANSWER_KEY;
use nowplaying::lease::AnswerLease;
use nowplaying::owner::PrivacySwitch;
use nowplaying::store::dynamo::DynamoState;

/// The table as the test (or the owner's laptop) reaches it: straight, not through the
/// service's proxies, so no fault of the service's process touches it.
fn direct_table(app: &EmulatorApp) -> DynamoState {
    DynamoState::new(app.ddb.clone(), app.table.clone())
}

async fn timed_get(http: reqwest::Client, url: String) -> (Duration, serde_json::Value) {
    let started = Instant::now();
    let r = http.get(url).send().await.unwrap();
    assert_eq!(r.status(), 200);
    let v = r.json().await.unwrap();
    (started.elapsed(), v)
}

#[tokio::test]
async fn visitors_queued_behind_a_dead_holder_are_all_answered_within_one_wait() {
    let clock = ManualClock::at(T0);
    let app = EmulatorApp::start(&[], Some(clock.clone()), None).await;
    app.fake.set_current(song());
    let wait = app.app.cache.settings().wait_for_holder;
    // Another process took the answer's lease and died before publishing: nobody will write
    // the answer, and with the clock standing still its lease never lapses.
    let table = direct_table(&app);
    let lease = Duration::from_secs(60);
    let _dead = AnswerLease::acquire(&table, ANSWER_KEY, "dead-holder", lease, T0, "")
        .await
        .unwrap()
        .expect("the lease is free");

    let url = format!("{}/api/spotify", app.url);
    let visitors: Vec<_> = (0..8)
        .map(|_| tokio::spawn(timed_get(app.http.clone(), url.clone())))
        .collect();
    let mut slowest = Duration::ZERO;
    for v in visitors {
        let (took, body) = v.await.unwrap();
        assert!(
            body.is_null(),
            "no copy and no answer from the holder: {body}"
        );
        slowest = slowest.max(took);
    }
    eprintln!("8 visitors behind a dead holder: slowest answer {slowest:?} (wait {wait:?})");
    assert!(
        slowest <= wait.mul_f64(1.5),
        "every visitor within about one wait ({wait:?}), the slowest took {slowest:?}"
    );
    let stats = app.fake.stats();
    assert_eq!(
        (stats.currently_playing, stats.token_calls),
        (0, 0),
        "nobody asks Spotify while another process holds the lease"
    );

    // Once the dead holder's lease lapses, one visitor takes it and asks Spotify once for all.
    clock.advance(lease + Duration::from_millis(1));
    let visitors: Vec<_> = (0..8)
        .map(|_| tokio::spawn(timed_get(app.http.clone(), url.clone())))
        .collect();
    for v in visitors {
        assert_eq!(v.await.unwrap().1["name"], "Song");
    }
    assert_eq!(app.fake.stats().currently_playing, 1);
}

#[tokio::test]
async fn hide_while_the_table_fails_for_one_process_never_calls_spotify() {
    let clock = ManualClock::at(T0);
    let app = EmulatorApp::start(&[], Some(clock.clone()), None).await;
    app.fake.set_current(song());
    assert_eq!(app.now().await["name"], "Song");
    let ttl = cache_window(&app.app);

    // One failed read of this process's next miss, and the owner hides the page meanwhile,
    // through the table (from elsewhere, so the failure does not touch it).
    app.ddb_faults.fail_next("BatchGetItem", ANSWER_KEY);
    PrivacySwitch::Shared(Arc::new(direct_table(&app)))
        .set(true, T0)
        .await
        .unwrap();
    let before = app.fake.stats();
    let mut answers = Vec::new();
    // Through the memory fallback (the table is left alone for 10 s after a failure) and
    // past it, one request a window.
    for _ in 0..5 {
        clock.advance(ttl);
        let v = app.now().await;
        assert!(
            v.is_null() || v["stale"] == true,
            "hidden: null or the last good answer marked stale, never a new one: {v}"
        );
        answers.push(v);
    }
    let after = app.fake.stats();
    assert_eq!(
        (
            after.currently_playing,
            after.recently_played,
            after.token_calls
        ),
        (
            before.currently_playing,
            before.recently_played,
            before.token_calls
        ),
        "no Spotify call while hidden"
    );
    assert_eq!(
        app.ddb_faults.fired("BatchGetItem"),
        2,
        "the read failed (both of the SDK's attempts)"
    );
    assert!(
        answers.last().unwrap().is_null(),
        "once the table is read again, the switch hides the page: {answers:?}"
    );
}
