//! The Spotify Web API client (reqwest with rustls): timeouts, body caps, `Retry-After`. The wire
//! format stays in [`wire`] and [`map`]; callers see the model ([`NowPlaying`], [`ListTrack`],
//! [`TopArtist`]), [`TokenGrant`] and [`SpotifyError`].

pub mod map;
pub mod playlists;
pub mod wire;

use std::time::Duration;

use base64::Engine;
use reqwest::StatusCode;

use crate::clock::Timestamp;
use crate::model::{ListTrack, NowPlaying, TopArtist};
use crate::secret::Secret;

/// What can go wrong when asking Spotify. Which layer acts on which variant: the token keeper
/// handles `Unauthorized`, `InvalidGrant` and `InvalidClient`; the answer cache handles
/// `RateLimited`, `PremiumRequired` and `Upstream`; the lists turn `Forbidden` into a missing
/// scope.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum SpotifyError {
    #[error("Spotify rejected the access token (401)")]
    Unauthorized,
    /// `retry_after` is Spotify's `Retry-After`, parsed with saturation and capped at
    /// [`MAX_RETRY_AFTER`]. `quota_exceeded`: the 429's body named the app's quota
    /// (`QUOTA_EXCEEDED`, e.g. an app in development mode past its allowance), which waiting out
    /// one `Retry-After` does not fix: the owner may have to act on the dashboard.
    #[error("Spotify {} (429), retry after {} s", rate_limit_kind(*.quota_exceeded), .retry_after.as_secs())]
    RateLimited {
        retry_after: Duration,
        quota_exceeded: bool,
    },
    /// A `403` whose `error.message` names Premium: since 2026 a development-mode app works only
    /// while the Spotify account that owns it has an active Premium subscription. Only the owner
    /// can fix it (renew Premium); asking again soon does not help.
    #[error("Spotify refused the request (403): the Spotify account that owns the app has no active Premium subscription")]
    PremiumRequired,
    /// Any other `403` (for the lists: the sign-in lacks the list's scope).
    #[error("Spotify refused the request (403): {0}")]
    Forbidden(String),
    #[error("the refresh token is no longer valid (invalid_grant)")]
    InvalidGrant,
    #[error("Spotify rejected the client id or secret (invalid_client)")]
    InvalidClient,
    #[error("Spotify failed: {0}")]
    Upstream(String),
}

fn rate_limit_kind(quota_exceeded: bool) -> &'static str {
    if quota_exceeded {
        "app quota exceeded (QUOTA_EXCEEDED)"
    } else {
        "rate limit"
    }
}

/// A token from the accounts service: a 2xx answer that carried at least one of the two tokens.
/// A rotated `refresh_token` is returned even when `access_token` is missing, so the caller can
/// persist it before judging the rest of the answer.
#[derive(Debug, Clone)]
pub struct TokenGrant {
    /// `None` when the answer had no (or an empty) `access_token`.
    pub access_token: Option<Secret>,
    /// The access token is valid this long (`expires_in`; an hour when Spotify does not say).
    pub expires_in: Duration,
    /// Present when Spotify rotated the refresh token. Spotify says a refresh answer *might*
    /// carry one (keep the old token otherwise); callers treat the old one as dead once a new one
    /// came, as the strictest server (single-use tokens, reuse detection) would, so either
    /// behaviour is safe.
    pub refresh_token: Option<Secret>,
    pub scope: Option<String>,
}

/// Timeouts for every upstream call.
pub const CONNECT_TIMEOUT: Duration = Duration::from_millis(1500);
/// A Web API call (`GET /v1/...`), headers and body.
pub const REQUEST_TIMEOUT: Duration = Duration::from_millis(2500);
/// A token request (`POST /api/token`), body read included. Longer than an API call: Spotify
/// may rotate the refresh token as the request arrives, and an answer given up on is a rotated
/// token lost, so the token exchange waits for a slow answer rather than presenting the old
/// token again later.
pub const TOKEN_TIMEOUT: Duration = Duration::from_secs(10);
/// The largest Web API body read; a bigger one is an upstream failure, never buffered whole.
pub const MAX_API_BODY_BYTES: usize = 1024 * 1024;
/// The largest token endpoint body read (a token answer is a few hundred bytes).
pub const MAX_TOKEN_BODY_BYTES: usize = 64 * 1024;
/// Spotify's 429 means this pause when it has no `Retry-After`, or one that is not a number of
/// seconds.
pub const DEFAULT_RETRY_AFTER: Duration = Duration::from_secs(30);
/// The longest one cooldown lasts, whatever `Retry-After` says (`2592000` would silence every
/// process for 30 days; `18446744073709551615` would overflow a deadline). After it, one call
/// asks Spotify again and its answer (possibly another 429) is honoured the same way.
pub const MAX_RETRY_AFTER: Duration = Duration::from_secs(15 * 60);

#[derive(Debug, Clone)]
pub struct SpotifyClient {
    http: reqwest::Client,
    api_base: String,
    accounts_base: String,
}

impl SpotifyClient {
    pub fn new(api_base: &str, accounts_base: &str) -> SpotifyClient {
        let http = reqwest::Client::builder()
            .connect_timeout(CONNECT_TIMEOUT)
            .timeout(REQUEST_TIMEOUT)
            .user_agent(concat!("nowplaying/", env!("CARGO_PKG_VERSION")))
            .build()
            .expect("reqwest client with static settings");
        SpotifyClient::with_http(http, api_base, accounts_base)
    }

    pub fn with_http(http: reqwest::Client, api_base: &str, accounts_base: &str) -> SpotifyClient {
        SpotifyClient {
            http,
            api_base: api_base.trim_end_matches('/').to_string(),
            accounts_base: accounts_base.trim_end_matches('/').to_string(),
        }
    }

    pub fn http(&self) -> &reqwest::Client {
        &self.http
    }

    pub fn accounts_base(&self) -> &str {
        &self.accounts_base
    }

    /// `GET /v1/me/player/currently-playing`. `Ok(None)` on `204` or when there is no item to show.
    pub async fn currently_playing(
        &self,
        token: &Secret,
        now: Timestamp,
    ) -> Result<Option<NowPlaying>, SpotifyError> {
        let url = format!(
            "{}/v1/me/player/currently-playing?additional_types=track,episode",
            self.api_base
        );
        let cp: Option<wire::CurrentlyPlaying> = self.get_object(&url, token).await?;
        Ok(cp.and_then(|cp| map::current(cp, now)))
    }

    /// `GET /v1/me/player` (scope `user-read-playback-state`): what currently-playing says, and
    /// whether the device is in a private session. `Ok(None)` on `204` or with no item to show.
    pub async fn player(
        &self,
        token: &Secret,
        now: Timestamp,
    ) -> Result<Option<NowPlaying>, SpotifyError> {
        let url = format!(
            "{}/v1/me/player?additional_types=track,episode",
            self.api_base
        );
        let cp: Option<wire::CurrentlyPlaying> = self.get_object(&url, token).await?;
        Ok(cp.and_then(|cp| map::current(cp, now)))
    }

    /// `GET /v1/me/player/recently-played?limit=N`, newest first.
    pub async fn recently_played(
        &self,
        token: &Secret,
        limit: u8,
        now: Timestamp,
    ) -> Result<Vec<NowPlaying>, SpotifyError> {
        let rp = self.get_object(&self.recent_url(limit), token).await?;
        Ok(rp.map(|rp| map::recent(rp, now)).unwrap_or_default())
    }

    /// The history: `GET /v1/me/player/recently-played?limit=N`, repeats folded.
    pub async fn history(
        &self,
        token: &Secret,
        limit: u8,
        now: Timestamp,
    ) -> Result<Vec<ListTrack>, SpotifyError> {
        let rp = self.get_object(&self.recent_url(limit), token).await?;
        Ok(rp.map(|rp| map::history(rp, now)).unwrap_or_default())
    }

    /// `GET /v1/me/player/recently-played?limit=50&after=MS`: the plays after `after` (all of
    /// Spotify's last 50 without it), as Spotify sends them, for the history's collection.
    pub async fn recently_played_after(
        &self,
        token: &Secret,
        after: Option<Timestamp>,
    ) -> Result<wire::RecentlyPlayed, SpotifyError> {
        let mut url = self.recent_url(50);
        if let Some(after) = after {
            url.push_str(&format!("&after={}", after.as_millis()));
        }
        let rp: Option<wire::RecentlyPlayed> = self.get_object(&url, token).await?;
        Ok(rp.unwrap_or_default())
    }

    fn recent_url(&self, limit: u8) -> String {
        format!(
            "{}/v1/me/player/recently-played?limit={}",
            self.api_base,
            limit.clamp(1, 50)
        )
    }

    /// `GET /v1/me/top/tracks?time_range=R&limit=N` (scope `user-top-read`).
    pub async fn top_tracks(
        &self,
        token: &Secret,
        time_range: &str,
        limit: u8,
        now: Timestamp,
    ) -> Result<Vec<ListTrack>, SpotifyError> {
        let t = self
            .get_object(&self.top_url("tracks", time_range, limit), token)
            .await?;
        Ok(t.map(|t| map::top_tracks(t, now)).unwrap_or_default())
    }

    /// `GET /v1/me/top/artists?time_range=R&limit=N` (scope `user-top-read`).
    pub async fn top_artists(
        &self,
        token: &Secret,
        time_range: &str,
        limit: u8,
    ) -> Result<Vec<TopArtist>, SpotifyError> {
        let a = self
            .get_object(&self.top_url("artists", time_range, limit), token)
            .await?;
        Ok(a.map(map::top_artists).unwrap_or_default())
    }

    fn top_url(&self, kind: &str, time_range: &str, limit: u8) -> String {
        format!(
            "{}/v1/me/top/{kind}?time_range={time_range}&limit={}",
            self.api_base,
            limit.clamp(1, 50)
        )
    }

    /// `GET /v1/me/tracks?limit=N`, most recently saved first (scope `user-library-read`).
    pub async fn saved_tracks(
        &self,
        token: &Secret,
        limit: u8,
        now: Timestamp,
    ) -> Result<Vec<ListTrack>, SpotifyError> {
        let url = format!(
            "{}/v1/me/tracks?limit={}",
            self.api_base,
            limit.clamp(1, 50)
        );
        let saved = self.get_object(&url, token).await?;
        Ok(saved.map(|s| map::saved(s, now)).unwrap_or_default())
    }

    /// The owner's own public playlists, in Spotify's order: `GET /v1/me` for the owner's id,
    /// then `GET /v1/me/playlists` 50 at a time while Spotify says there is a next page, at most
    /// `pages` pages (scope `playlist-read-private`). The pages are asked by offset here rather
    /// than by following Spotify's `next` URL, so the token only ever goes to the API base.
    pub async fn own_public_playlists(
        &self,
        token: &Secret,
        pages: usize,
    ) -> Result<Vec<crate::model::Playlist>, SpotifyError> {
        let owner = self.me(token).await?;
        let mut out = Vec::new();
        for n in 0..pages {
            let url = format!(
                "{}/v1/me/playlists?limit=50&offset={}",
                self.api_base,
                n * 50
            );
            let Some(page) = self.get_object::<playlists::Page>(&url, token).await? else {
                break;
            };
            let more = page.next.is_some() && !page.items.is_empty();
            out.extend(playlists::own_public(page, &owner));
            if !more {
                break;
            }
        }
        Ok(out)
    }

    /// `GET /v1/me`: the signed-in user's Spotify id (no scope needed), as the console checks who
    /// signed in.
    pub async fn me(&self, token: &Secret) -> Result<String, SpotifyError> {
        #[derive(serde::Deserialize)]
        struct Me {
            #[serde(default)]
            id: Option<String>,
        }
        let url = format!("{}/v1/me", self.api_base);
        match self.get_object::<Me>(&url, token).await? {
            Some(Me { id: Some(id) }) if !id.is_empty() => Ok(id),
            _ => Err(SpotifyError::Upstream("GET /v1/me held no user id".into())),
        }
    }

    /// A GET parsed as a JSON object of Spotify's wire type; `Ok(None)` on `204`.
    async fn get_object<T: serde::de::DeserializeOwned>(
        &self,
        url: &str,
        token: &Secret,
    ) -> Result<Option<T>, SpotifyError> {
        match self.get(url, token).await? {
            Some(body) => parse_object(&body).map(Some),
            None => Ok(None),
        }
    }

    /// A GET with the bearer token; `Ok(None)` on `204`.
    pub async fn get(&self, url: &str, token: &Secret) -> Result<Option<Vec<u8>>, SpotifyError> {
        let read = async {
            let resp = self
                .http
                .get(url)
                .timeout(REQUEST_TIMEOUT)
                .bearer_auth(token.expose())
                .send()
                .await
                .map_err(transport)?;
            let status = resp.status();
            let retry_after = retry_after(&resp);
            let body = read_limited(resp, MAX_API_BODY_BYTES).await?;
            Ok::<_, SpotifyError>((status, retry_after, body))
        };
        let (status, retry_after, body) = tokio::time::timeout(REQUEST_TIMEOUT, read)
            .await
            .map_err(|_| SpotifyError::Upstream("timed out".into()))??;
        match status {
            StatusCode::NO_CONTENT => Ok(None),
            s if s.is_success() && body.iter().all(u8::is_ascii_whitespace) => Ok(None),
            s if s.is_success() => Ok(Some(body.to_vec())),
            StatusCode::UNAUTHORIZED => Err(SpotifyError::Unauthorized),
            StatusCode::TOO_MANY_REQUESTS => Err(rate_limited(retry_after, &body)),
            StatusCode::FORBIDDEN => Err(forbidden(&body)),
            s => Err(SpotifyError::Upstream(format!("HTTP {}", s.as_u16()))),
        }
    }

    /// Refreshes the access token (`grant_type=refresh_token`, HTTP Basic client auth).
    pub async fn refresh(
        &self,
        client_id: &str,
        client_secret: &Secret,
        refresh_token: &Secret,
    ) -> Result<TokenGrant, SpotifyError> {
        self.token_request(
            client_id,
            client_secret,
            &[
                ("grant_type", "refresh_token"),
                ("refresh_token", refresh_token.expose()),
            ],
        )
        .await
    }

    /// Exchanges an authorization code (with its PKCE verifier) for tokens.
    pub async fn exchange_code(
        &self,
        client_id: &str,
        client_secret: &Secret,
        code: &str,
        redirect_uri: &str,
        code_verifier: &str,
    ) -> Result<TokenGrant, SpotifyError> {
        self.token_request(
            client_id,
            client_secret,
            &[
                ("grant_type", "authorization_code"),
                ("code", code),
                ("redirect_uri", redirect_uri),
                ("code_verifier", code_verifier),
            ],
        )
        .await
    }

    async fn token_request(
        &self,
        client_id: &str,
        client_secret: &Secret,
        form: &[(&str, &str)],
    ) -> Result<TokenGrant, SpotifyError> {
        let basic = base64::engine::general_purpose::STANDARD
            .encode(format!("{client_id}:{}", client_secret.expose()));
        let read = async {
            let resp = self
                .http
                .post(format!("{}/api/token", self.accounts_base))
                .timeout(TOKEN_TIMEOUT)
                .header(reqwest::header::AUTHORIZATION, format!("Basic {basic}"))
                .form(form)
                .send()
                .await
                .map_err(transport)?;
            let status = resp.status();
            let retry_after = retry_after(&resp);
            let body = read_limited(resp, MAX_TOKEN_BODY_BYTES).await?;
            Ok::<_, SpotifyError>((status, retry_after, body))
        };
        let (status, retry_after, body) = tokio::time::timeout(TOKEN_TIMEOUT, read)
            .await
            .map_err(|_| SpotifyError::Upstream("token endpoint timed out".into()))??;
        if status.is_success() {
            return token_grant(&body);
        }
        let err: wire::TokenError = serde_json::from_slice(&body).unwrap_or_default();
        match (status, err.error.as_deref()) {
            (_, Some("invalid_grant")) => Err(SpotifyError::InvalidGrant),
            (_, Some("invalid_client")) | (StatusCode::UNAUTHORIZED, _) => {
                Err(SpotifyError::InvalidClient)
            }
            (StatusCode::TOO_MANY_REQUESTS, _) => Err(rate_limited(retry_after, &body)),
            (s, e) => Err(SpotifyError::Upstream(format!(
                "token endpoint HTTP {}{}",
                s.as_u16(),
                e.map(|e| format!(" ({})", short(e.as_bytes())))
                    .unwrap_or_default()
            ))),
        }
    }
}

/// A 2xx token answer: a grant when it is a JSON object with at least one non-empty token.
fn token_grant(body: &[u8]) -> Result<TokenGrant, SpotifyError> {
    let t: wire::TokenResponse = parse_object(body)?;
    let access_token = t.access_token.filter(|t| !t.is_empty()).map(Secret::new);
    let refresh_token = t.refresh_token.filter(|t| !t.is_empty()).map(Secret::new);
    if access_token.is_none() && refresh_token.is_none() {
        return Err(SpotifyError::Upstream(
            "token response without access_token or refresh_token".into(),
        ));
    }
    Ok(TokenGrant {
        access_token,
        expires_in: Duration::from_secs(t.expires_in.unwrap_or(3600)),
        refresh_token,
        scope: t.scope,
    })
}

/// A 429: `Retry-After` (see [`parse_retry_after`]) and whether the body names the app's quota.
fn rate_limited(retry_after: Option<Duration>, body: &[u8]) -> SpotifyError {
    SpotifyError::RateLimited {
        retry_after: retry_after.unwrap_or(DEFAULT_RETRY_AFTER),
        quota_exceeded: quota_exceeded(body),
    }
}

/// Whether a 429's body names a quota (`QUOTA_EXCEEDED`) rather than a plain rate limit. Spotify's
/// Web API errors are `{"error": {"status": 429, "message": "...", "reason": "..."}}`; the accounts
/// service's are `{"error": "...", "error_description": "..."}`. Every string of those is looked at.
pub fn quota_exceeded(body: &[u8]) -> bool {
    let Ok(e) = serde_json::from_slice::<wire::ErrorBody>(body) else {
        return false;
    };
    e.texts().iter().any(|t| {
        t.to_ascii_lowercase()
            .replace([' ', '-'], "_")
            .contains("quota_exceeded")
    })
}

/// A `403`: [`SpotifyError::PremiumRequired`] when the Web API's `error.message` names Premium
/// (`"Active premium subscription required for the owner of the app"`; the wording varies, so
/// "premium" is looked for case-insensitively), else [`SpotifyError::Forbidden`] as before.
pub fn forbidden(body: &[u8]) -> SpotifyError {
    let message = serde_json::from_slice::<serde_json::Value>(body)
        .ok()
        .and_then(|v| v.get("error")?.get("message")?.as_str().map(str::to_owned));
    match message {
        Some(m) if m.to_lowercase().contains("premium") => SpotifyError::PremiumRequired,
        _ => SpotifyError::Forbidden(short(body)),
    }
}

/// Reads a body of at most `limit` bytes, chunk by chunk: a bigger one (by its `Content-Length` or
/// as it arrives) is an upstream failure, and no more than `limit` bytes are ever buffered.
async fn read_limited(mut resp: reqwest::Response, limit: usize) -> Result<Vec<u8>, SpotifyError> {
    let too_big = || SpotifyError::Upstream(format!("response body over {limit} bytes"));
    if resp.content_length().is_some_and(|n| n > limit as u64) {
        return Err(too_big());
    }
    let mut body = Vec::new();
    while let Some(chunk) = resp.chunk().await.map_err(transport)? {
        if body.len() + chunk.len() > limit {
            return Err(too_big());
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body)
}

/// Parses a JSON object; anything else (HTML, truncated JSON, a bare string) is an upstream failure.
fn parse_object<T: serde::de::DeserializeOwned>(body: &[u8]) -> Result<T, SpotifyError> {
    let value: serde_json::Value = serde_json::from_slice(body)
        .map_err(|_| SpotifyError::Upstream("response is not JSON".into()))?;
    if !value.is_object() {
        return Err(SpotifyError::Upstream(
            "response is not a JSON object".into(),
        ));
    }
    serde_json::from_value(value)
        .map_err(|e| SpotifyError::Upstream(format!("unexpected response shape: {e}")))
}

fn transport(e: reqwest::Error) -> SpotifyError {
    if e.is_timeout() {
        SpotifyError::Upstream("timed out".into())
    } else if e.is_connect() {
        SpotifyError::Upstream("could not connect".into())
    } else {
        SpotifyError::Upstream("connection failed".into())
    }
}

fn retry_after(resp: &reqwest::Response) -> Option<Duration> {
    parse_retry_after(
        resp.headers()
            .get(reqwest::header::RETRY_AFTER)?
            .to_str()
            .ok()?,
    )
}

/// Parses `Retry-After` as whole seconds, capped at [`MAX_RETRY_AFTER`]: digits only, saturating
/// (a value past `u64::MAX` is the cap, never an overflow); anything else (an HTTP date, a
/// negative or fractional number, garbage) is `None`, for the caller's default.
pub fn parse_retry_after(value: &str) -> Option<Duration> {
    let v = value.trim();
    if v.is_empty() || !v.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let seconds = v.bytes().fold(0u64, |n, d| {
        n.saturating_mul(10).saturating_add(u64::from(d - b'0'))
    });
    Some(Duration::from_secs(seconds).min(MAX_RETRY_AFTER))
}

/// A short, single-line, printable excerpt of an upstream body, for error messages.
fn short(body: &[u8]) -> String {
    String::from_utf8_lossy(body)
        .chars()
        .filter(|c| !c.is_control())
        .take(120)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retry_after_saturates_and_is_capped() {
        let secs = |s| Some(Duration::from_secs(s));
        assert_eq!(parse_retry_after("30"), secs(30));
        assert_eq!(parse_retry_after(" 0 "), secs(0));
        assert_eq!(parse_retry_after("900"), Some(MAX_RETRY_AFTER));
        assert_eq!(parse_retry_after("2592000"), Some(MAX_RETRY_AFTER));
        assert_eq!(
            parse_retry_after("18446744073709551615"),
            Some(MAX_RETRY_AFTER)
        );
        assert_eq!(
            parse_retry_after("99999999999999999999999999999999"),
            Some(MAX_RETRY_AFTER)
        );
        assert_eq!(MAX_RETRY_AFTER, Duration::from_secs(900));
        for bad in [
            "",
            "soon",
            "-1",
            "1.5",
            "Wed, 21 Oct 2015 07:28:00 GMT",
            "+5",
        ] {
            assert_eq!(parse_retry_after(bad), None, "{bad}");
        }
    }

    #[test]
    fn quota_exceeded_is_told_apart() {
        assert!(quota_exceeded(
            br#"{"error": {"status": 429, "message": "QUOTA_EXCEEDED"}}"#
        ));
        assert!(quota_exceeded(
            br#"{"error": {"status": 429, "message": "API rate limit exceeded", "reason": "QUOTA_EXCEEDED"}}"#
        ));
        assert!(quota_exceeded(
            br#"{"error": "quota_exceeded", "error_description": "x"}"#
        ));
        assert!(!quota_exceeded(
            br#"{"error": {"status": 429, "message": "API rate limit exceeded"}}"#
        ));
        assert!(!quota_exceeded(b""));
        assert!(!quota_exceeded(b"<html>Too Many Requests</html>"));
        let e = rate_limited(
            None,
            br#"{"error": {"status": 429, "message": "QUOTA_EXCEEDED"}}"#,
        );
        assert_eq!(
            e,
            SpotifyError::RateLimited {
                retry_after: DEFAULT_RETRY_AFTER,
                quota_exceeded: true
            }
        );
        assert!(e.to_string().contains("QUOTA_EXCEEDED"), "{e}");
    }

    #[test]
    fn a_premium_403_is_told_apart_from_other_403s() {
        for premium in [
            &br#"{"error":{"status":403,"message":"Active premium subscription required for the owner of the app"}}"#[..],
            br#"{"error":{"status":403,"message":"PREMIUM_REQUIRED"}}"#,
            br#"{"error":{"status":403,"message":"The owner needs Spotify Premium."}}"#,
        ] {
            assert_eq!(forbidden(premium), SpotifyError::PremiumRequired);
        }
        for other in [
            &br#"{"error":{"status":403,"message":"Insufficient client scope"}}"#[..],
            br#"{"error":{"status":403,"message":"Forbidden"}}"#,
            br#"{"error":"premium"}"#,
            br#"{"message":"premium"}"#,
            br#"{"error":{"status":403,"message":7}}"#,
            b"<html>premium</html>",
            b"",
        ] {
            assert!(
                matches!(forbidden(other), SpotifyError::Forbidden(_)),
                "{}",
                String::from_utf8_lossy(other)
            );
        }
    }

    #[test]
    fn a_rotated_refresh_token_without_an_access_token_is_a_grant() {
        let g = token_grant(br#"{"refresh_token": "r2", "access_token": ""}"#).unwrap();
        assert!(g.access_token.is_none());
        assert_eq!(g.refresh_token.unwrap().expose(), "r2");
        let g = token_grant(br#"{"access_token": "a", "expires_in": 60}"#).unwrap();
        assert_eq!(g.access_token.unwrap().expose(), "a");
        assert!(g.refresh_token.is_none());
        assert_eq!(g.expires_in, Duration::from_secs(60));
        for bad in [
            &b"{}"[..],
            b"<html></html>",
            b"[]",
            br#"{"access_token": null, "refresh_token": ""}"#,
        ] {
            assert!(
                matches!(token_grant(bad), Err(SpotifyError::Upstream(_))),
                "{}",
                String::from_utf8_lossy(bad)
            );
        }
    }
}
