//! What the service logs: one ERROR line telling the owner to run `authorize` on invalid_grant,
//! and never a secret (client secret, refresh tokens, access tokens).
use crate::support;
use nowplaying::clock::Timestamp;
use support::logs::LogBuffer;

use std::sync::Arc;

use serde_json::Value;
use support::*;

#[tokio::test]
async fn invalid_grant_logs_one_error_and_no_secret_is_ever_logged() {
    let buffer = LogBuffer::default();
    let writer = buffer.clone();
    // This test's own subscriber, for this thread (the runtime and the app's tasks run on it):
    // the other tests of the binary log elsewhere.
    let subscriber = tracing_subscriber::fmt()
        .with_env_filter("debug")
        .json()
        .with_writer(move || writer.clone())
        .finish();
    let _guard = tracing::subscriber::set_default(subscriber);

    let app = TestApp::start(&[]).await;
    app.fake.set_current(Scripted::json(bodies::playing(
        bodies::track("t1", "Song"),
        true,
        10,
    )));
    // A refresh with rotation, a 401 with another refresh, a failure, then invalid_grant.
    app.now().await;
    app.fake.expire_access_tokens();
    app.expire_cache();
    app.now().await;
    let rotated = app.fake.stats().valid_refresh_token.unwrap();
    app.fake.set_current(Scripted::status(500));
    app.expire_cache();
    app.now().await;
    app.fake.expire_access_tokens();
    app.fake.set_refresh_token(Some("revoked-elsewhere"));
    for _ in 0..5 {
        app.expire_cache();
        assert_eq!(app.now().await, Value::Null);
    }

    let text = buffer.text();
    for secret in [
        fake_spotify::CLIENT_SECRET,
        fake_spotify::FIRST_REFRESH_TOKEN,
        rotated.as_str(),
        "access-",
    ] {
        assert!(
            !text.contains(secret),
            "a secret ({secret}) reached the logs:\n{text}"
        );
    }
    let errors: Vec<&str> = text
        .lines()
        .filter(|l| l.contains("\"level\":\"ERROR\""))
        .collect();
    assert_eq!(errors.len(), 1, "{errors:#?}");
    assert!(errors[0].contains("nowplaying authorize"), "{}", errors[0]);
}

/// The lines on which the owner must act carry the fields the template's metric filter matches
/// (`{ $.fields.alert = "owner_must_act" }`), in Lambda's JSON format, with a `reason`: the
/// six-month reminder (once per environment and day), a missing scope, `invalid_grant`.
#[tokio::test]
async fn owner_alert_lines_carry_the_fields_the_metric_filter_matches() {
    let buffer = LogBuffer::default();
    let writer = buffer.clone();
    let subscriber =
        nowplaying::app::json_logs(tracing_subscriber::EnvFilter::new("info"), move || {
            writer.clone()
        });
    let _guard = tracing::subscriber::set_default(subscriber);

    let state: Arc<nowplaying::store::memory::MemoryState> =
        Arc::new(nowplaying::store::memory::MemoryState::new());
    let fake = support::fake_spotify::FakeSpotify::start().await;
    let app = TestApp::start_with(fake, &[("PROFILE_ENDPOINTS", "top")], state.clone()).await;
    // 170 days after the sign-in (2026-11-23): Spotify's limit is 12 days away.
    let signed_in = 1_795_428_000_000u64;
    app.clock
        .set(Timestamp::from_millis(signed_in + 170 * 86_400_000));
    app.fake.set_current(Scripted::json(bodies::playing(
        bodies::track("t1", "Song"),
        true,
        10,
    )));
    assert_eq!(app.now().await["name"], "Song");
    // A second process of the same environment, the same day, past the window (so it reads
    // its credentials): no second reminder.
    let second = TestApp::start_with(app.fake.clone(), &[], state).await;
    let later = signed_in + 170 * 86_400_000 + 6_000;
    second.clock.set(Timestamp::from_millis(later));
    assert_eq!(second.now().await["name"], "Song");
    app.clock.set(Timestamp::from_millis(later));

    app.fake.set_path(
        "/v1/me/top/artists",
        Scripted {
            body: serde_json::json!({"error": {"status": 403, "message": "Insufficient client scope"}}),
            ..Scripted::status(403)
        },
    );
    assert_eq!(app.get("/api/spotify/top/artists").await.status(), 200);
    app.fake.expire_access_tokens();
    app.fake.set_refresh_token(Some("revoked-elsewhere"));
    app.expire_cache();
    assert_eq!(app.now().await, Value::Null);

    let text = buffer.text();
    let alerts: Vec<Value> = text
        .lines()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .filter(|v| v["fields"]["alert"] == "owner_must_act")
        .collect();
    let reasons: Vec<&str> = alerts
        .iter()
        .map(|v| v["fields"]["reason"].as_str().unwrap_or_default())
        .collect();
    assert_eq!(
        reasons,
        ["signin_expiring", "missing_scope", "invalid_grant"],
        "{text}"
    );
    let reminder = &alerts[0];
    assert_eq!(reminder["level"], "WARN");
    assert_eq!(reminder["fields"]["expires_on"], "2027-05-24");
    assert_eq!(reminder["fields"]["command"], "nowplaying authorize");
    assert!(reminder["fields"]["message"]
        .as_str()
        .unwrap()
        .contains("2027-05-24"));
    assert_eq!(alerts[2]["level"], "ERROR");
}
