//! The Lambda path: API Gateway HTTP API (v2) and Function URL events, fed through
//! lambda_http's own adapter to the Router, asserting the response Lambda would return.
use crate::support;

use lambda_http::lambda_runtime::{Context, LambdaEvent};
use lambda_http::request::LambdaRequest;
use lambda_http::tower::ServiceExt;
use lambda_http::Adapter;
use serde_json::{json, Value};
use support::*;

const FIXTURES: [&str; 2] = ["apigw-http-v2.json", "function-url.json"];

fn event(fixture: &str, method: &str, path: &str, headers: &[(&str, &str)]) -> LambdaRequest {
    let text = std::fs::read_to_string(format!(
        "{}/tests/fixtures/{fixture}",
        env!("CARGO_MANIFEST_DIR")
    ))
    .unwrap();
    let mut v: Value = serde_json::from_str(&text).unwrap();
    v["rawPath"] = json!(path);
    v["requestContext"]["http"]["method"] = json!(method);
    v["requestContext"]["http"]["path"] = json!(path);
    for (k, val) in headers {
        v["headers"][*k] = json!(val);
    }
    serde_json::from_value(v).unwrap()
}

/// Runs one event through the adapter; returns the Lambda response as JSON.
async fn invoke(app: &TestApp, req: LambdaRequest) -> Value {
    let router = nowplaying::http::router(app.app.clone());
    let adapter = Adapter::from(router);
    let resp = adapter
        .oneshot(LambdaEvent::new(req, Context::default()))
        .await
        .unwrap();
    serde_json::to_value(resp).unwrap()
}

fn body(resp: &Value) -> Value {
    serde_json::from_str(resp["body"].as_str().unwrap_or("null")).unwrap()
}

#[tokio::test]
async fn get_through_both_event_shapes() {
    let app = TestApp::start(&[("ALLOWED_ORIGINS", "https://me.example")]).await;
    app.fake.set_current(Scripted::json(bodies::playing(
        bodies::track("t1", "Lambda Song"),
        true,
        10,
    )));
    for fixture in FIXTURES {
        let resp = invoke(&app, event(fixture, "GET", "/api/spotify", &[])).await;
        assert_eq!(resp["statusCode"], 200, "{fixture}: {resp}");
        let h = &resp["headers"];
        assert_eq!(h["content-type"], "application/json");
        assert_eq!(h["access-control-allow-origin"], "https://me.example");
        assert!(h["cache-control"]
            .as_str()
            .unwrap()
            .contains("stale-while-revalidate"));
        assert!(h["etag"].as_str().unwrap().starts_with('"'));
        let b = body(&resp);
        assert_eq!(b["name"], "Lambda Song", "{fixture}");
        assert_eq!(b["status"], "playing");
    }
    assert_eq!(
        app.fake.stats().currently_playing,
        1,
        "the second event was a cache hit"
    );
}

#[tokio::test]
async fn etag_304_head_preflight_405_404() {
    let app = TestApp::start(&[("ALLOWED_ORIGINS", "https://me.example")]).await;
    app.fake.set_current(Scripted::json(bodies::playing(
        bodies::track("t1", "Song"),
        true,
        10,
    )));
    for fixture in FIXTURES {
        let first = invoke(&app, event(fixture, "GET", "/api/spotify", &[])).await;
        let etag = first["headers"]["etag"].as_str().unwrap().to_string();

        let again = invoke(
            &app,
            event(fixture, "GET", "/api/spotify", &[("if-none-match", &etag)]),
        )
        .await;
        assert_eq!(again["statusCode"], 304, "{again}");
        assert!(again["body"].is_null() || again["body"] == "");

        let head = invoke(&app, event(fixture, "HEAD", "/api/spotify", &[])).await;
        assert_eq!(head["statusCode"], 200);
        assert!(head["body"].is_null() || head["body"] == "", "{head}");

        let pre = invoke(
            &app,
            event(
                fixture,
                "OPTIONS",
                "/api/spotify",
                &[("access-control-request-method", "GET")],
            ),
        )
        .await;
        assert_eq!(pre["statusCode"], 204);
        assert_eq!(
            pre["headers"]["access-control-allow-origin"],
            "https://me.example"
        );

        let post = invoke(&app, event(fixture, "POST", "/api/spotify", &[])).await;
        assert_eq!(post["statusCode"], 405);
        assert_eq!(post["headers"]["allow"], "GET, HEAD, OPTIONS");
        assert!(body(&post)["error"].is_string());

        let missing = invoke(&app, event(fixture, "GET", "/api/nope", &[])).await;
        assert_eq!(missing["statusCode"], 404);
        assert!(body(&missing)["error"]
            .as_str()
            .unwrap()
            .contains("/api/nope"));
    }
}

#[tokio::test]
async fn upstream_failure_is_200_null_on_lambda_too() {
    let app = TestApp::start(&[]).await;
    app.fake.set_current(Scripted::status(502));
    for fixture in FIXTURES {
        let resp = invoke(&app, event(fixture, "GET", "/api/spotify", &[])).await;
        assert_eq!(resp["statusCode"], 200);
        assert_eq!(body(&resp), Value::Null);
    }
}

/// The invocation's context with a deadline `ms` from now (wall clock, as Lambda gives it).
fn context_with_deadline(ms: u64) -> Context {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as u64;
    let mut c = Context::default();
    c.deadline = now + ms;
    c
}

/// On Lambda nothing runs after the answer is sent. Spotify rotates the refresh token as the
/// request arrives and answers 6 s later: past the answer's own 4.5 s deadline. The answer must
/// not leave before the rotated token is in the credential store.
#[tokio::test]
async fn the_answer_waits_for_a_refresh_holding_a_rotated_token() {
    let app = TestApp::start(&[]).await;
    app.fake.set_current(Scripted::json(bodies::playing(
        bodies::track("t1", "Lambda Song"),
        true,
        10,
    )));
    app.fake.set_token(TokenBehavior {
        answer_delay_ms: 6_000,
        ..Default::default()
    });
    let router = nowplaying::http::router(app.app.clone());
    let adapter = Adapter::from(router);
    let started = std::time::Instant::now();
    let resp = adapter
        .oneshot(LambdaEvent::new(
            event(FIXTURES[0], "GET", "/api/spotify", &[]),
            context_with_deadline(30_000),
        ))
        .await
        .unwrap();
    let took = started.elapsed();
    let resp = serde_json::to_value(resp).unwrap();
    assert_eq!(resp["statusCode"], 200, "{resp}");
    // The answer itself gave up at its deadline (null: nothing good yet), but it was held back
    // until the refresh had finished and the rotated token was stored.
    assert!(took >= std::time::Duration::from_millis(5_900), "{took:?}");
    let valid = app.fake.stats().valid_refresh_token.unwrap();
    assert_ne!(valid, fake_spotify::FIRST_REFRESH_TOKEN);
    assert_eq!(
        app.stored_credentials()["refresh_token"],
        valid,
        "the rotated token was stored before the answer left"
    );
    assert_eq!(app.fake.stats().reuse_detected, 0);
}

/// The wait is bounded by the invocation's deadline (minus a margin), and says so.
#[tokio::test]
async fn the_wait_stops_before_the_deadline() {
    let app = TestApp::start(&[]).await;
    app.fake.set_token(TokenBehavior {
        answer_delay_ms: 8_000,
        ..Default::default()
    });
    let adapter = Adapter::from(nowplaying::http::router(app.app.clone()));
    let started = std::time::Instant::now();
    let resp = adapter
        .oneshot(LambdaEvent::new(
            event(FIXTURES[0], "GET", "/api/spotify", &[]),
            context_with_deadline(6_000),
        ))
        .await
        .unwrap();
    let took = started.elapsed();
    assert_eq!(serde_json::to_value(resp).unwrap()["statusCode"], 200);
    assert!(
        took >= std::time::Duration::from_millis(5_000)
            && took < std::time::Duration::from_millis(6_000),
        "{took:?}"
    );
}

/// `serve` (no Lambda context) does not wait: its refresh goes on by itself.
#[tokio::test]
async fn serve_answers_at_its_deadline_and_the_refresh_goes_on() {
    let app = TestApp::start(&[]).await;
    app.fake.set_token(TokenBehavior {
        answer_delay_ms: 6_000,
        ..Default::default()
    });
    let started = std::time::Instant::now();
    assert_eq!(app.now().await, Value::Null);
    assert!(started.elapsed() < std::time::Duration::from_millis(5_500));
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    loop {
        let stored = app.stored_credentials()["refresh_token"].clone();
        if app.fake.stats().valid_refresh_token.as_deref() == stored.as_str()
            && stored != fake_spotify::FIRST_REFRESH_TOKEN
        {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the detached refresh stored its token"
        );
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
}

#[tokio::test]
async fn the_console_names_its_callback_after_the_request_context_not_the_host_header() {
    let app = TestApp::start(&[("OWNER_SPOTIFY_ID", "the-owner")]).await;
    let mut doc = app.stored_credentials();
    doc["console_key"] = json!("console-key-for-tests-0123456789abcdef");
    std::fs::write(&app.creds_path, doc.to_string()).unwrap();
    let fixture = "apigw-http-v2.json";
    let resp = invoke(
        &app,
        event(fixture, "GET", "/owner/signin", &[("host", "evil.example")]),
    )
    .await;
    assert_eq!(resp["statusCode"], 303, "{resp}");
    let location = resp["headers"]["location"].as_str().unwrap();
    let q: std::collections::HashMap<String, String> = url::Url::parse(location)
        .unwrap()
        .query_pairs()
        .into_owned()
        .collect();
    assert_eq!(
        q["redirect_uri"],
        "https://a1b2c3d4e5.execute-api.eu-west-1.amazonaws.com/owner/callback"
    );
    let cookies = resp["multiValueHeaders"]["set-cookie"]
        .as_array()
        .map(|a| {
            a.iter()
                .map(|v| v.as_str().unwrap().to_string())
                .collect::<Vec<_>>()
        })
        .or_else(|| {
            resp["cookies"]
                .as_array()
                .map(|a| a.iter().map(|v| v.as_str().unwrap().to_string()).collect())
        })
        .or_else(|| {
            resp["headers"]["set-cookie"]
                .as_str()
                .map(|s| vec![s.to_string()])
        })
        .unwrap_or_else(|| panic!("no cookie: {resp}"));
    assert!(
        cookies
            .iter()
            .any(|c| c.starts_with("np_owner_signin=") && c.contains("; Secure")),
        "{cookies:?}"
    );
    assert_eq!(resp["headers"]["cache-control"], "no-store");
}

#[tokio::test]
async fn the_console_through_the_cdn_sends_the_browser_to_its_own_address() {
    let app = TestApp::start(&[("OWNER_SPOTIFY_ID", "the-owner")]).await;
    let mut doc = app.stored_credentials();
    doc["console_key"] = json!("console-key-for-tests-0123456789abcdef");
    std::fs::write(&app.creds_path, doc.to_string()).unwrap();
    let resp = invoke(
        &app,
        event(
            "apigw-http-v2.json",
            "GET",
            "/owner",
            &[
                ("x-amz-cf-id", "abc"),
                ("via", "2.0 x.cloudfront.net (CloudFront)"),
            ],
        ),
    )
    .await;
    assert_eq!(resp["statusCode"], 303, "{resp}");
    assert_eq!(
        resp["headers"]["location"],
        "https://a1b2c3d4e5.execute-api.eu-west-1.amazonaws.com/owner"
    );
}
