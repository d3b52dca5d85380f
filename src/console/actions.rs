//! What a signed-in owner does: `POST /owner/hide|show|disconnect|signout` (each behind
//! [`Console::guard`]) and `GET /owner/status.json`.

use std::sync::Arc;

use axum::extract::State;
use axum::http::{header, request::Parts, StatusCode};
use axum::response::{IntoResponse, Response};

use super::{cookies, refuse, see_other, Console, Refusal};

pub(super) async fn hide(
    State(c): State<Arc<Console>>,
    parts: Parts,
    body: String,
) -> Result<Response, Refusal> {
    c.switch(&parts, &body, true).await
}

pub(super) async fn show(
    State(c): State<Arc<Console>>,
    parts: Parts,
    body: String,
) -> Result<Response, Refusal> {
    c.switch(&parts, &body, false).await
}

impl Console {
    async fn switch(&self, parts: &Parts, body: &str, hide: bool) -> Result<Response, Refusal> {
        self.guard(parts, body).await?;
        self.privacy
            .set(hide, self.now())
            .await
            .map_err(|e| refuse(StatusCode::SERVICE_UNAVAILABLE, "Try again", e))?;
        tracing::info!(hidden = hide, "owner console: privacy switch changed");
        Ok(see_other(if hide {
            "/owner?done=hidden"
        } else {
            "/owner?done=shown"
        }))
    }
}

pub(super) async fn disconnect(
    State(c): State<Arc<Console>>,
    parts: Parts,
    body: String,
) -> Result<Response, Refusal> {
    let (base, _) = c.guard(&parts, &body).await?;
    let clock = c.clock.clone();
    let done = crate::owner::disconnect(c.credentials.as_ref(), c.shared.as_deref(), move || {
        clock.now()
    })
    .await
    .map_err(|e| {
        refuse(
            StatusCode::SERVICE_UNAVAILABLE,
            "Try again",
            format!("Could not remove the refresh token ({e}); nothing was changed."),
        )
    })?;
    if let Some(e) = done
        .replaced
        .and_then(|r| r.shared_error)
        .or(done.clear_error)
    {
        tracing::warn!(error = %e, "owner console: disconnected, but could not clear the shared token items");
    }
    c.tokens.forget();
    tracing::info!("owner console: disconnected");
    let mut r = see_other("/owner?done=disconnected");
    r.headers_mut().append(
        header::SET_COOKIE,
        cookies::clear(cookies::SESSION, "Strict", base.secure),
    );
    Ok(r)
}

pub(super) async fn signout(
    State(c): State<Arc<Console>>,
    parts: Parts,
    body: String,
) -> Result<Response, Refusal> {
    let (base, _) = c.guard(&parts, &body).await?;
    let mut r = see_other("/owner?done=signedout");
    r.headers_mut().append(
        header::SET_COOKIE,
        cookies::clear(cookies::SESSION, "Strict", base.secure),
    );
    Ok(r)
}

/// The report as JSON, for scripts (with the session cookie).
pub(super) async fn status_json(State(c): State<Arc<Console>>, parts: Parts) -> Response {
    let signed_in = match c.keys().await {
        Ok(_) => c.session(&parts.headers).await,
        Err(e) => Err(e),
    };
    match signed_in {
        Ok(Some(_)) => {
            let report = c.report().await;
            let mut v = serde_json::to_value(&report).unwrap_or_default();
            v["verdict"] = serde_json::Value::String(report.verdict());
            v["ownerSpotifyId"] = serde_json::Value::String(c.owner_id.clone());
            axum::Json(v).into_response()
        }
        Ok(None) => refuse(
            StatusCode::UNAUTHORIZED,
            "Not signed in",
            "this needs the owner's session cookie: sign in at /owner",
        )
        .json(),
        Err(e) => e.json(),
    }
}
