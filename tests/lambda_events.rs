//! The Lambda path: API Gateway HTTP API (v2) and Function URL events, fed through
//! lambda_http's own adapter to the Router, asserting the response Lambda would return.
mod support;

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
