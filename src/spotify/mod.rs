//! The Spotify Web API client (reqwest with rustls). The wire format stays in [`wire`]; callers
//! see only [`NowPlaying`] and [`SpotifyError`].

pub mod map;
pub mod wire;

use std::time::Duration;

use base64::Engine;
use reqwest::StatusCode;

use crate::model::{ListTrack, NowPlaying, TopArtist};
use crate::secret::Secret;

/// What can go wrong when asking Spotify. Which layer acts on which variant: the token keeper
/// handles `Unauthorized`, `InvalidGrant` and `InvalidClient`; the answer cache handles
/// `RateLimited` and `Upstream`.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum SpotifyError {
    #[error("Spotify rejected the access token (401)")]
    Unauthorized,
    #[error("Spotify rate limit (429), retry after {retry_after_s} s")]
    RateLimited { retry_after_s: u64 },
    #[error("Spotify refused the request (403): {0}")]
    Forbidden(String),
    #[error("the refresh token is no longer valid (invalid_grant)")]
    InvalidGrant,
    #[error("Spotify rejected the client id or secret (invalid_client)")]
    InvalidClient,
    #[error("Spotify failed: {0}")]
    Upstream(String),
}

/// A token from the accounts service.
#[derive(Debug, Clone)]
pub struct TokenGrant {
    pub access_token: Secret,
    pub expires_in_s: u64,
    /// Present when Spotify rotated the refresh token.
    pub refresh_token: Option<Secret>,
    pub scope: Option<String>,
}

/// Timeouts for every upstream call.
pub const CONNECT_TIMEOUT: Duration = Duration::from_millis(1500);
pub const REQUEST_TIMEOUT: Duration = Duration::from_millis(2500);
/// Retry-After when Spotify sends a 429 without one.
const DEFAULT_RETRY_AFTER_S: u64 = 30;

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
        now_ms: u64,
    ) -> Result<Option<NowPlaying>, SpotifyError> {
        let url = format!(
            "{}/v1/me/player/currently-playing?additional_types=track,episode",
            self.api_base
        );
        let cp: Option<wire::CurrentlyPlaying> = self.get_object(&url, token).await?;
        Ok(cp.and_then(|cp| map::current(cp, now_ms)))
    }

    /// `GET /v1/me/player/recently-played?limit=N`, newest first.
    pub async fn recently_played(
        &self,
        token: &Secret,
        limit: u8,
        now_ms: u64,
    ) -> Result<Vec<NowPlaying>, SpotifyError> {
        let rp = self.get_object(&self.recent_url(limit), token).await?;
        Ok(rp.map(|rp| map::recent(rp, now_ms)).unwrap_or_default())
    }

    /// The history: `GET /v1/me/player/recently-played?limit=N`, repeats folded.
    pub async fn history(
        &self,
        token: &Secret,
        limit: u8,
        now_ms: u64,
    ) -> Result<Vec<ListTrack>, SpotifyError> {
        let rp = self.get_object(&self.recent_url(limit), token).await?;
        Ok(rp.map(|rp| map::history(rp, now_ms)).unwrap_or_default())
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
        now_ms: u64,
    ) -> Result<Vec<ListTrack>, SpotifyError> {
        let t = self
            .get_object(&self.top_url("tracks", time_range, limit), token)
            .await?;
        Ok(t.map(|t| map::top_tracks(t, now_ms)).unwrap_or_default())
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
        now_ms: u64,
    ) -> Result<Vec<ListTrack>, SpotifyError> {
        let url = format!(
            "{}/v1/me/tracks?limit={}",
            self.api_base,
            limit.clamp(1, 50)
        );
        let saved = self.get_object(&url, token).await?;
        Ok(saved.map(|s| map::saved(s, now_ms)).unwrap_or_default())
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
        let resp = self
            .http
            .get(url)
            .bearer_auth(token.expose())
            .send()
            .await
            .map_err(transport)?;
        let status = resp.status();
        let retry_after = retry_after(&resp);
        let body = resp.bytes().await.map_err(transport)?;
        match status {
            StatusCode::NO_CONTENT => Ok(None),
            s if s.is_success() && body.iter().all(u8::is_ascii_whitespace) => Ok(None),
            s if s.is_success() => Ok(Some(body.to_vec())),
            StatusCode::UNAUTHORIZED => Err(SpotifyError::Unauthorized),
            StatusCode::TOO_MANY_REQUESTS => Err(SpotifyError::RateLimited {
                retry_after_s: retry_after.unwrap_or(DEFAULT_RETRY_AFTER_S),
            }),
            StatusCode::FORBIDDEN => Err(SpotifyError::Forbidden(short(&body))),
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
        let resp = self
            .http
            .post(format!("{}/api/token", self.accounts_base))
            .header(reqwest::header::AUTHORIZATION, format!("Basic {basic}"))
            .form(form)
            .send()
            .await
            .map_err(transport)?;
        let status = resp.status();
        let retry_after = retry_after(&resp);
        let body = resp.bytes().await.map_err(transport)?;
        if status.is_success() {
            let t: wire::TokenResponse = parse_object(&body)?;
            let access_token = t.access_token.filter(|t| !t.is_empty()).ok_or_else(|| {
                SpotifyError::Upstream("token response without access_token".into())
            })?;
            return Ok(TokenGrant {
                access_token: Secret::new(access_token),
                expires_in_s: t.expires_in.unwrap_or(3600),
                refresh_token: t.refresh_token.filter(|t| !t.is_empty()).map(Secret::new),
                scope: t.scope,
            });
        }
        let err: wire::TokenError = serde_json::from_slice(&body).unwrap_or_default();
        match (status, err.error.as_deref()) {
            (_, Some("invalid_grant")) => Err(SpotifyError::InvalidGrant),
            (_, Some("invalid_client")) | (StatusCode::UNAUTHORIZED, _) => {
                Err(SpotifyError::InvalidClient)
            }
            (StatusCode::TOO_MANY_REQUESTS, _) => Err(SpotifyError::RateLimited {
                retry_after_s: retry_after.unwrap_or(DEFAULT_RETRY_AFTER_S),
            }),
            (s, e) => Err(SpotifyError::Upstream(format!(
                "token endpoint HTTP {}{}",
                s.as_u16(),
                e.map(|e| format!(" ({})", short(e.as_bytes())))
                    .unwrap_or_default()
            ))),
        }
    }
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

fn retry_after(resp: &reqwest::Response) -> Option<u64> {
    resp.headers()
        .get(reqwest::header::RETRY_AFTER)?
        .to_str()
        .ok()?
        .trim()
        .parse::<u64>()
        .ok()
}

/// A short, single-line, printable excerpt of an upstream body, for error messages.
fn short(body: &[u8]) -> String {
    String::from_utf8_lossy(body)
        .chars()
        .filter(|c| !c.is_control())
        .take(120)
        .collect()
}
