//! The answer cache in one process: the window, single flight, 429, stale then null.
use crate::support;
use std::time::Duration;

use serde_json::Value;
use support::*;

fn playing(name: &str) -> Scripted {
    Scripted::json(bodies::playing(bodies::track("t1", name), true, 1000))
}

#[tokio::test]
async fn one_answer_serves_the_whole_window() {
    let app = TestApp::start(&[("CACHE_TTL_SECONDS", "5")]).await;
    app.fake.set_current(playing("One"));
    for _ in 0..10 {
        assert_eq!(app.now().await["name"], "One");
        app.clock.advance(Duration::from_millis(400));
    }
    assert_eq!(app.fake.stats().currently_playing, 1);
    app.fake.set_current(playing("Two"));
    app.clock.advance(Duration::from_secs(1));
    assert_eq!(app.now().await["name"], "Two");
    assert_eq!(app.fake.stats().currently_playing, 2);
}

#[tokio::test]
async fn fifty_concurrent_requests_on_an_expired_entry_make_one_call() {
    let app = TestApp::start(&[]).await;
    // A slow Spotify, so the requests really overlap.
    app.fake.set_current(playing("First").delayed(300));
    assert_eq!(app.now().await["name"], "First");
    app.expire_cache();
    app.fake.set_current(playing("Second").delayed(300));
    let before = app.fake.stats().currently_playing;
    let mut tasks = Vec::new();
    for _ in 0..50 {
        let http = app.http.clone();
        let url = format!("{}/api/spotify", app.url);
        tasks.push(tokio::spawn(async move {
            let r = http.get(url).send().await.unwrap();
            (r.status().as_u16(), r.json::<Value>().await.unwrap())
        }));
    }
    for t in tasks {
        let (status, v) = t.await.unwrap();
        assert_eq!(status, 200);
        assert!(v["name"] == "Second" || v["name"] == "First", "{v}");
    }
    assert_eq!(app.fake.stats().currently_playing - before, 1);
    assert_eq!(app.now().await["name"], "Second");
}

#[tokio::test]
async fn fifty_concurrent_requests_with_no_copy_at_all_make_one_call() {
    let app = TestApp::start(&[]).await;
    app.fake.set_current(playing("Only").delayed(300));
    let mut tasks = Vec::new();
    for _ in 0..50 {
        let http = app.http.clone();
        let url = format!("{}/api/spotify", app.url);
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
    for t in tasks {
        assert_eq!(t.await.unwrap()["name"], "Only");
    }
    assert_eq!(app.fake.stats().currently_playing, 1);
}

#[tokio::test]
async fn rate_limit_is_honoured_until_retry_after() {
    let app = TestApp::start(&[]).await;
    app.fake.set_current(playing("Before"));
    assert_eq!(app.now().await["name"], "Before");
    app.expire_cache();
    app.fake.set_current(Scripted::status(429).retry_after(60));
    let v = app.now().await;
    assert_eq!(v["name"], "Before");
    assert_eq!(v["stale"], true);
    let calls = app.fake.stats().currently_playing;
    // For the next 59 seconds, no call reaches Spotify, and the stale answer is served.
    for _ in 0..11 {
        app.clock.advance(Duration::from_secs(5));
        let v = app.now().await;
        assert_eq!(v["stale"], true);
        assert_eq!(v["name"], "Before");
    }
    assert_eq!(app.fake.stats().currently_playing, calls);
    app.fake.set_current(playing("After"));
    app.clock.advance(Duration::from_millis(5_100));
    let v = app.now().await;
    assert_eq!(v["name"], "After");
    assert_eq!(v["stale"], false);
    assert_eq!(app.fake.stats().currently_playing, calls + 1);
}

#[tokio::test]
async fn rate_limit_without_earlier_answer_is_null() {
    let app = TestApp::start(&[]).await;
    app.fake.set_current(Scripted::status(429).retry_after(30));
    assert_eq!(app.now().await, Value::Null);
    app.clock.advance(Duration::from_secs(10));
    assert_eq!(app.now().await, Value::Null);
    assert_eq!(app.fake.stats().currently_playing, 1);
}

async fn stale_then_null(fault: Scripted) {
    let app = TestApp::start(&[]).await;
    app.fake.set_current(playing("Good"));
    let good = app.now().await;
    app.expire_cache();
    app.fake.set_current(fault);
    let v = app.now().await;
    assert_eq!(v["stale"], true, "{v}");
    assert_eq!(v["name"], "Good");
    assert_eq!(
        v["timestamp"], good["timestamp"],
        "the stale copy keeps its read time"
    );
    // Still failing 10 minutes later: still the last good answer.
    app.clock.advance(Duration::from_millis(10 * 60 * 1000));
    assert_eq!(app.now().await["stale"], true);
    // Past the bound (15 minutes): nothing.
    app.clock.advance(Duration::from_millis(6 * 60 * 1000));
    assert_eq!(app.now().await, Value::Null);
    // Spotify recovers: a fresh answer.
    app.fake.set_current(playing("Back"));
    app.expire_cache();
    let v = app.now().await;
    assert_eq!(v["name"], "Back");
    assert_eq!(v["stale"], false);
}

#[tokio::test]
async fn server_errors_serve_stale_then_null() {
    stale_then_null(Scripted::status(500)).await;
    stale_then_null(Scripted::status(503)).await;
}

#[tokio::test]
async fn html_and_truncated_bodies_serve_stale_then_null() {
    stale_then_null(Scripted::raw(200, "<html><body>Bad gateway</body></html>")).await;
    stale_then_null(Scripted::raw(200, "{\"is_playing\": true, \"item\": {\"na")).await;
}

#[tokio::test]
async fn a_hung_spotify_holds_no_request_for_long() {
    let app = TestApp::start(&[]).await;
    app.fake.set_current(playing("Good"));
    app.now().await;
    app.expire_cache();
    app.fake.set_current(playing("Slow").delayed(20_000));
    let started = std::time::Instant::now();
    let v = app.now().await;
    let took = started.elapsed();
    assert_eq!(v["stale"], true);
    assert!(took < std::time::Duration::from_secs(5), "took {took:?}");
}

#[tokio::test]
async fn failures_are_not_retried_on_every_request() {
    let app = TestApp::start(&[]).await;
    app.fake.set_current(Scripted::status(500));
    for _ in 0..20 {
        assert_eq!(app.now().await, Value::Null);
    }
    assert_eq!(app.fake.stats().currently_playing, 1);
}
