//! The Lambda function's events: HTTP requests (API Gateway, the function URL, CloudFront's
//! origin) go through lambda_http's own adapter to the Router; the history's schedule (an
//! EventBridge event) runs one collection. Both share the process's state, so a collection
//! uses the same token keeper, and a rotated refresh token is persisted like on any request.

use std::time::Duration;

use lambda_http::lambda_runtime::LambdaEvent;
use lambda_http::request::LambdaRequest;
use lambda_http::tower::ServiceExt;
use serde_json::{json, Value};

use crate::http::SharedApp;

/// What the template's schedule sends (its `Input`).
pub const COLLECT_EVENT: &str = "collect";

/// How long a collection waits, after its last call, for a refresh still persisting a rotated
/// refresh token: Lambda freezes the process once the handler returns.
pub const SETTLE: Duration = Duration::from_secs(5);

/// Whether `event` is the history's schedule: the template's `{"nowplaying": "collect"}`, or
/// any EventBridge scheduled event.
pub fn is_collection(event: &Value) -> bool {
    event.get("nowplaying").and_then(Value::as_str) == Some(COLLECT_EVENT)
        || (event.get("source").and_then(Value::as_str) == Some("aws.events")
            && event.get("detail-type").and_then(Value::as_str) == Some("Scheduled Event"))
}

/// Handles one event. A collection answers its summary (`{"collected": ...}`) and never fails
/// the invocation for an upstream or store error (the schedule would retry at once, and the next
/// run catches up anyway): the error is logged and answered.
/// `router` is [`crate::http::router`] of `app`, built once per process.
pub async fn handle(
    app: SharedApp,
    router: axum::Router,
    event: LambdaEvent<Value>,
) -> Result<Value, lambda_http::Error> {
    if is_collection(&event.payload) {
        return Ok(collect(&app).await);
    }
    let request: LambdaRequest = serde_json::from_value(event.payload)?;
    let adapter = lambda_http::Adapter::from(router);
    let response = adapter
        .oneshot(LambdaEvent::new(request, event.context))
        .await?;
    Ok(serde_json::to_value(response)?)
}

/// One scheduled collection, its outcome as the invocation's answer.
pub async fn collect(app: &SharedApp) -> Value {
    let outcome = app.collect().await;
    app.tokens
        .settle(tokio::time::Instant::now() + SETTLE)
        .await;
    match outcome {
        None => {
            tracing::warn!("a collection event came, but PROFILE_ENDPOINTS has no history: nothing collected (remove the schedule or turn the history on)");
            json!({"collected": null, "reason": "the history is off (PROFILE_ENDPOINTS has no history)"})
        }
        Some(Ok(done)) => {
            tracing::info!(
                pages = done.pages,
                new = done.new,
                already = done.already,
                busy = done.busy,
                "collected"
            );
            json!({"collected": done})
        }
        Some(Err(e)) => {
            tracing::warn!(error = %e, "collection failed; the next run catches up");
            json!({"collected": null, "reason": e.to_string()})
        }
    }
}
