//! The sign-in: `GET|POST /owner/signin` (sealed into its cookie, nothing written) and
//! `GET /owner/callback` (checked before Spotify is asked; stored through
//! [`crate::owner::store_sign_in`]; the session opened).

use std::sync::Arc;

use axum::extract::{Query, State};
use axum::http::{header, request::Parts, StatusCode};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;

use crate::secret::Secret;
use crate::spotify::SpotifyError;
use crate::store::Credentials;

use super::keys::{self, App, Pending, SessionClaims};
use super::{
    authorized_at_secs, check_origin, cookies, form, html, page, refuse, see_other, unavailable,
    via_cdn, Base, Console, Refusal, SESSION_PURPOSE, SESSION_TTL, SIGN_IN_PURPOSE, SIGN_IN_TTL,
};

/// Starts a sign-in with the stored app (the "Sign in" and "Renew" links).
pub(super) async fn signin_get(
    State(c): State<Arc<Console>>,
    parts: Parts,
) -> Result<Response, Refusal> {
    let base = c.base(&parts)?;
    if let Some(r) = via_cdn(&c, &parts, &base) {
        return Ok(r);
    }
    c.keys().await?;
    let Some(client_id) = c.stored_client_id().await? else {
        return Err(refuse(
            StatusCode::CONFLICT,
            "No Spotify app yet",
            "No client id and secret are stored yet: enter them in the console's first-setup form.",
        ));
    };
    c.start(&base, &client_id, None).await
}

/// The first-setup form (or "use another app"): the app's credentials travel sealed in the
/// sign-in cookie and are stored only after the owner's sign-in with them.
pub(super) async fn signin_post(
    State(c): State<Arc<Console>>,
    parts: Parts,
    body: String,
) -> Result<Response, Refusal> {
    let base = c.base(&parts)?;
    check_origin(&parts, &base)?;
    let f = form(&body);
    let client_id = f.get("client_id").map(|s| s.trim()).unwrap_or("");
    let client_secret = f.get("client_secret").map(|s| s.trim()).unwrap_or("");
    let plausible = |s: &str, max: usize| {
        !s.is_empty()
            && s.len() <= max
            && s.chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
    };
    if !plausible(client_id, 128) || !plausible(client_secret, 256) {
        return Err(refuse(
            StatusCode::BAD_REQUEST,
            "Check the form",
            "The client id and the client secret are both needed, as the Spotify developer dashboard shows them (letters and digits). Nothing was stored.",
        ));
    }
    c.keys().await?;
    let app = App {
        client_id: client_id.to_string(),
        client_secret: Secret::new(client_secret),
    };
    c.start(&base, &app.client_id.clone(), Some(app)).await
}

impl Console {
    /// 303 to Spotify's authorize page for the app `client_id`, the sign-in sealed into its
    /// cookie (with `carry`, the app entered in the form, on first setup). Writes nothing.
    async fn start(
        &self,
        base: &Base,
        client_id: &str,
        carry: Option<App>,
    ) -> Result<Response, Refusal> {
        let keys = self.keys().await?;
        let (verifier, challenge) = crate::signin::pkce();
        let state = crate::signin::random_state();
        let now = self.now();
        let pending = Pending {
            state: state.clone(),
            verifier,
            redirect_uri: base.callback(),
            iat: now,
            exp: now + SIGN_IN_TTL,
            app: carry,
        };
        let url = crate::signin::authorization_url(
            &self.accounts_base,
            client_id,
            &pending.redirect_uri,
            &self.scopes,
            &state,
            &challenge,
        );
        let mut r = see_other(&url);
        r.headers_mut().append(
            header::SET_COOKIE,
            cookies::set(
                cookies::SIGN_IN,
                &keys.seal(SIGN_IN_PURPOSE, &pending),
                SIGN_IN_TTL,
                "Lax",
                base.secure,
            ),
        );
        Ok(r)
    }
}

#[derive(Deserialize)]
struct CallbackQuery {
    code: Option<String>,
    state: Option<String>,
    error: Option<String>,
}

pub(super) async fn callback(State(c): State<Arc<Console>>, parts: Parts) -> Response {
    let base = match c.base(&parts) {
        Ok(b) => b,
        Err(r) => return r.into_response(),
    };
    let mut r = match c.complete(&base, &parts).await {
        Ok(r) => r,
        Err(refusal) => refusal.into_response(),
    };
    // Whatever happened, this sign-in is over.
    r.headers_mut().append(
        header::SET_COOKIE,
        cookies::clear(cookies::SIGN_IN, "Lax", base.secure),
    );
    r
}

impl Console {
    /// Checks the callback against its sign-in, then (only then) asks Spotify, checks who signed
    /// in, stores the sign-in and opens a session.
    async fn complete(&self, base: &Base, parts: &Parts) -> Result<Response, Refusal> {
        let q: CallbackQuery = Query::try_from_uri(&parts.uri)
            .map(|Query(q)| q)
            .map_err(|_| {
                refuse(
                    StatusCode::BAD_REQUEST,
                    "Sign-in refused",
                    "This callback's query cannot be read. Nothing was stored.",
                )
            })?;
        let keys = self.keys().await?;
        let refused = |reason: &str| {
            refuse(
                StatusCode::BAD_REQUEST,
                "Sign-in refused",
                format!("{reason} Nothing was stored and Spotify was not asked; start again from the console."),
            )
        };
        let Some(raw) = cookies::get(&parts.headers, cookies::SIGN_IN) else {
            return Err(refused(
                "No sign-in was started in this browser (its cookie is missing or expired).",
            ));
        };
        let Some(pending) = keys.open::<Pending>(SIGN_IN_PURPOSE, raw) else {
            return Err(refused(
                "The sign-in cookie is damaged or was not made by this console.",
            ));
        };
        let now = self.now();
        if pending.exp <= now {
            return Err(refused("This sign-in expired (it lasts 10 minutes)."));
        }
        if !q
            .state
            .as_deref()
            .is_some_and(|s| keys::same(s, &pending.state))
        {
            return Err(refused("The state in Spotify's redirect does not match the sign-in started in this browser."));
        }
        if pending.redirect_uri != base.callback() {
            return Err(refused("This sign-in was started under another address."));
        }
        if let Some(error) = q.error.as_deref() {
            return Err(spotify_refusal(error));
        }
        let Some(code) = q.code.as_deref().filter(|c| !c.is_empty()) else {
            return Err(refused(
                "Spotify's redirect carried neither a code nor an error.",
            ));
        };
        // A sign-in that was already used (its cookie replayed): a newer sign-in is stored.
        let stored = self.credentials.load().await.map_err(unavailable)?;
        let stored_at = stored.as_ref().and_then(authorized_at_secs);
        // (A stored moment ahead of this clock, from a machine whose clock runs fast, is not held
        // against the owner: Spotify spends each code once anyway.)
        if stored_at.is_some_and(|at| pending.iat.as_secs() <= at && at <= now.as_secs()) {
            return Err(refused(
                "This sign-in was already used: a sign-in at least as new is stored.",
            ));
        }
        let Some(app) = pending.app.clone().or_else(|| stored_app(stored.as_ref())) else {
            return Err(refused(
                "No Spotify app is stored and this sign-in carried none.",
            ));
        };
        self.finish(base, &pending, app, code, stored).await
    }

    async fn finish(
        &self,
        base: &Base,
        pending: &Pending,
        app: App,
        code: &str,
        stored: Option<Credentials>,
    ) -> Result<Response, Refusal> {
        let sign_in = self.owner_sign_in(pending, app, code).await?;
        let failed = |status: StatusCode, reason: String| refuse(status, "Not signed in", reason);
        let clock = self.clock.clone();
        let (saved, replaced) = crate::owner::store_sign_in(
            self.credentials.as_ref(),
            self.shared.as_deref(),
            stored,
            &sign_in,
            move || clock.now(),
        )
        .await
        .map_err(|e| {
            failed(
                StatusCode::SERVICE_UNAVAILABLE,
                format!("{e}. Nothing was stored; try again."),
            )
        })?;
        if let Some(e) = replaced.shared_error {
            tracing::warn!(error = %e, "owner console: stored the sign-in, but could not clear the shared token items");
        }
        self.tokens.forget();
        self.forget_stored_app().await;
        tracing::info!("owner console: the owner signed in; the new sign-in is stored");
        self.session_page(base, saved).await
    }

    /// Exchanges the code and asks Spotify who signed in: the owner's sign-in, or a refusal that
    /// says why (nothing is stored either way).
    async fn owner_sign_in(
        &self,
        pending: &Pending,
        app: App,
        code: &str,
    ) -> Result<crate::owner::SignIn, Refusal> {
        let failed = |status: StatusCode, reason: String| refuse(status, "Not signed in", reason);
        let grant = self
            .spotify
            .exchange_code(
                &app.client_id,
                &app.client_secret,
                code,
                &pending.redirect_uri,
                pending.verifier.expose(),
            )
            .await
            .map_err(|e| match e {
                SpotifyError::InvalidClient => failed(StatusCode::BAD_REQUEST, "Spotify rejected the client id or secret (invalid_client): check them in the Spotify developer dashboard. Nothing was stored.".into()),
                SpotifyError::InvalidGrant => failed(StatusCode::BAD_REQUEST, format!("Spotify did not accept the authorization code (invalid_grant): check that the redirect URI {} is registered exactly so, then sign in again. Nothing was stored.", pending.redirect_uri)),
                e => failed(StatusCode::BAD_GATEWAY, format!("Could not exchange the authorization code ({e}). Nothing was stored.")),
            })?;
        let (Some(refresh_token), Some(access_token)) = (grant.refresh_token, grant.access_token)
        else {
            return Err(failed(
                StatusCode::BAD_GATEWAY,
                "Spotify's answer held no refresh or access token. Nothing was stored.".into(),
            ));
        };
        let id = self.spotify.me(&access_token).await.map_err(|e| {
            failed(
                StatusCode::BAD_GATEWAY,
                format!("Could not ask Spotify who signed in ({e}). Nothing was stored."),
            )
        })?;
        if id != self.owner_id {
            tracing::warn!(
                alert = "owner_console_refused",
                "owner console: a sign-in by another Spotify account was refused"
            );
            return Err(refuse(
                StatusCode::FORBIDDEN,
                "Not the owner",
                format!(
                    "You signed in with the Spotify account \"{id}\", which is not this service's owner. Nothing was stored."
                ),
            ));
        }
        Ok(crate::owner::SignIn {
            client_id: app.client_id,
            client_secret: app.client_secret,
            refresh_token,
            scope: grant.scope.unwrap_or_else(|| self.scopes.join(" ")),
        })
    }

    /// The page after a sign-in: a new session cookie, and a link (and a navigation) to `/owner`.
    async fn session_page(&self, base: &Base, saved: Credentials) -> Result<Response, Refusal> {
        let keys = self.keys().await?;
        let now = self.now();
        let claims = SessionClaims {
            at: saved.authorized_at.unwrap_or_default(),
            iat: now,
            exp: now + SESSION_TTL,
            csrf: keys::random_token(),
        };
        // A page that navigates to /owner itself: after Spotify's cross-site redirect, a
        // `SameSite=Strict` cookie is sent only with a navigation this site starts.
        let mut r = html(
            StatusCode::OK,
            page::document(
                "Signed in",
                "<h1>Signed in</h1><p><a class=\"button primary\" href=\"/owner?done=signedin\">Open the console</a></p>",
                Some("/owner?done=signedin"),
            ),
        );
        r.headers_mut().append(
            header::SET_COOKIE,
            cookies::set(
                cookies::SESSION,
                &keys.sign(SESSION_PURPOSE, &claims),
                SESSION_TTL,
                "Strict",
                base.secure,
            ),
        );
        Ok(r)
    }
}

/// The refusal for Spotify's `error` in the redirect (the owner declined, or Spotify refused).
fn spotify_refusal(error: &str) -> Refusal {
    let text: String = error
        .chars()
        .filter(|c| c.is_ascii_graphic())
        .take(60)
        .collect();
    refuse(
        StatusCode::FORBIDDEN,
        "Not signed in",
        if text == "access_denied" {
            "You declined the access on Spotify's page. Nothing was stored.".to_string()
        } else {
            format!("Spotify refused the sign-in ({text}). Nothing was stored.")
        },
    )
}

/// The Spotify app of the stored sign-in, when it has one.
fn stored_app(stored: Option<&Credentials>) -> Option<App> {
    stored
        .filter(|s| !s.client_id.is_empty() && !s.client_secret.is_empty())
        .map(|s| App {
            client_id: s.client_id.clone(),
            client_secret: s.client_secret.clone(),
        })
}
