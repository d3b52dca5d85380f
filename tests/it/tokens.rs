//! Access-token refresh, 401 retry, refresh-token rotation into the credentials file, and
//! invalid_grant back-off.
use crate::support;
use std::time::Duration;

use serde_json::Value;
use support::*;

fn playing() -> Scripted {
    Scripted::json(bodies::playing(bodies::track("t1", "Song"), true, 1000))
}

#[tokio::test]
async fn first_request_refreshes_and_rotated_token_lands_in_the_file() {
    let app = TestApp::start(&[]).await;
    app.fake.set_current(playing());
    assert_eq!(app.now().await["name"], "Song");
    let stats = app.fake.stats();
    assert_eq!(stats.token_refreshes, 1);
    let stored = app.stored_credentials();
    assert_eq!(
        stored["refresh_token"].as_str(),
        stats.valid_refresh_token.as_deref(),
        "the rotated refresh token is persisted"
    );
    assert_ne!(stored["refresh_token"], fake_spotify::FIRST_REFRESH_TOKEN);
    // The rest of the document is kept, and no access token is written there.
    assert_eq!(stored["client_id"], fake_spotify::CLIENT_ID);
    assert_eq!(stored["authorized_at"], "2026-11-23T10:00:00Z");
    assert!(!std::fs::read_to_string(&app.creds_path)
        .unwrap()
        .contains("access-"));
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&app.creds_path)
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
    }
}

#[tokio::test]
async fn a_401_refreshes_once_and_retries_once() {
    let app = TestApp::start(&[]).await;
    app.fake.set_current(playing());
    app.now().await;
    assert_eq!(app.fake.stats().token_refreshes, 1);
    // Spotify revokes the access token early.
    app.fake.expire_access_tokens();
    app.expire_cache();
    let v = app.now().await;
    assert_eq!(v["name"], "Song");
    assert_eq!(v["stale"], false);
    let stats = app.fake.stats();
    assert_eq!(stats.token_refreshes, 2, "one refresh on the 401");
    assert_eq!(stats.unauthorized, 1, "one rejected call, then one retry");
    assert_eq!(stats.currently_playing, 2);
    assert_eq!(
        app.stored_credentials()["refresh_token"].as_str(),
        stats.valid_refresh_token.as_deref()
    );
}

#[tokio::test]
async fn a_token_is_reused_until_shortly_before_it_expires() {
    let app = TestApp::start(&[]).await;
    app.fake.set_token(TokenBehavior {
        expires_in: Some(3600),
        ..Default::default()
    });
    app.fake.set_current(playing());
    for _ in 0..20 {
        app.now().await;
        app.clock.advance(Duration::from_secs(60));
    }
    // 20 minutes later: still the first token.
    assert_eq!(app.fake.stats().token_refreshes, 1);
    // 59.5 minutes in: within the margin, refreshed before it expires (no 401 seen).
    app.clock
        .advance(Duration::from_millis(39 * 60_000 + 30_000));
    app.now().await;
    let stats = app.fake.stats();
    assert_eq!(stats.token_refreshes, 2);
    assert_eq!(stats.unauthorized, 0);
}

#[tokio::test]
async fn old_refresh_token_is_kept_when_none_is_returned() {
    let app = TestApp::start(&[]).await;
    app.fake.set_token(TokenBehavior {
        no_rotation: true,
        ..Default::default()
    });
    app.fake.set_current(playing());
    app.now().await;
    assert_eq!(
        app.stored_credentials()["refresh_token"],
        fake_spotify::FIRST_REFRESH_TOKEN
    );
    app.fake.expire_access_tokens();
    app.expire_cache();
    assert_eq!(app.now().await["name"], "Song");
    assert_eq!(app.fake.stats().invalid_grant, 0);
}

#[tokio::test]
async fn invalid_grant_answers_null_and_backs_off() {
    let app = TestApp::start(&[]).await;
    app.fake.set_current(playing());
    // The owner's refresh token was revoked at Spotify.
    app.fake.set_refresh_token(Some("someone-else"));
    assert_eq!(app.now().await, Value::Null);
    let first = app.fake.stats();
    assert_eq!(first.invalid_grant, 1);
    // Many requests over the next minutes: the token endpoint is not called again for the
    // same dead token (the store is re-read after the back-off, and it still holds it).
    for _ in 0..30 {
        app.clock.advance(Duration::from_secs(20));
        assert_eq!(app.now().await, Value::Null);
    }
    let later = app.fake.stats();
    assert_eq!(later.token_calls, first.token_calls);
    assert_eq!(later.currently_playing, 0);
    // The owner signs in again (a new token in the store): picked up after the back-off.
    app.fake.set_refresh_token(Some("fresh-after-authorize"));
    let mut c = app.stored_credentials();
    c["refresh_token"] = "fresh-after-authorize".into();
    std::fs::write(&app.creds_path, c.to_string()).unwrap();
    app.clock.advance(Duration::from_secs(61));
    assert_eq!(app.now().await["name"], "Song");
}

#[tokio::test]
async fn invalid_client_answers_null() {
    let app = TestApp::start(&[]).await;
    let mut c = app.stored_credentials();
    c["client_secret"] = "wrong".into();
    std::fs::write(&app.creds_path, c.to_string()).unwrap();
    app.fake.set_current(playing());
    assert_eq!(app.now().await, Value::Null);
    assert_eq!(app.fake.stats().currently_playing, 0);
}

#[tokio::test]
async fn no_credentials_answers_null() {
    let app = TestApp::start(&[]).await;
    std::fs::remove_file(&app.creds_path).unwrap();
    app.fake.set_current(playing());
    assert_eq!(app.now().await, Value::Null);
    assert_eq!(app.fake.stats().token_calls, 0);
}

#[tokio::test]
async fn token_endpoint_failure_serves_stale() {
    let app = TestApp::start(&[]).await;
    app.fake.set_current(playing());
    app.now().await;
    app.fake.expire_access_tokens();
    app.fake.set_token(TokenBehavior {
        status: Some(503),
        ..Default::default()
    });
    app.expire_cache();
    let v = app.now().await;
    assert_eq!(v["stale"], true);
    assert_eq!(v["name"], "Song");
}
