//! What the service logs: one ERROR line telling the owner to run `authorize` on invalid_grant,
//! and never a secret (client secret, refresh tokens, access tokens).
mod support;

use std::io::Write;
use std::sync::{Arc, Mutex};

use serde_json::Value;
use support::*;

#[derive(Clone, Default)]
struct Buffer(Arc<Mutex<Vec<u8>>>);

impl Write for Buffer {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[tokio::test]
async fn invalid_grant_logs_one_error_and_no_secret_is_ever_logged() {
    let buffer = Buffer::default();
    let writer = buffer.clone();
    tracing_subscriber::fmt()
        .with_env_filter("debug")
        .json()
        .with_writer(move || writer.clone())
        .init();

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

    let text = String::from_utf8(buffer.0.lock().unwrap().clone()).unwrap();
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
