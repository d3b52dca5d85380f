//! The Last.fm API client (reqwest with rustls, the same time-outs and body cap as the Spotify
//! client). Last.fm needs only an API key and a user name: no OAuth. The wire format's quirks
//! stay in [`wire`]; [`map`] turns it into the public model. Callers see [`LastFmError`].
//!
//! Last.fm answers errors as `{"error": N, "message": "..."}`, with any HTTP status (often 200 or
//! 403), so the body decides, not the status.

pub mod map;
pub mod wire;

use std::time::Duration;

use serde_json::Value;

use crate::clock::Timestamp;
use crate::model::{ListTrack, NowPlaying, TopArtist};
use crate::secret::Secret;

pub const CONNECT_TIMEOUT: Duration = Duration::from_millis(1500);
/// One API call, headers and body.
pub const REQUEST_TIMEOUT: Duration = Duration::from_millis(2500);
/// The largest body read; a bigger one is an upstream failure, never buffered whole.
pub const MAX_BODY_BYTES: usize = 1024 * 1024;
/// Last.fm's rate limit (error 29) says nothing about when to come back: no process asks for
/// this long.
pub const RATE_LIMIT_PAUSE: Duration = Duration::from_secs(60);
/// The most entries Last.fm is asked for in a list (the profile lists keep 50, like Spotify's).
pub const MAX_LIMIT: u8 = 50;
/// The most scrobbles Last.fm gives in one page of `user.getRecentTracks`.
pub const MAX_PAGE: u32 = 200;

/// One scrobble of a page of [`LastFmClient::recent_tracks_page`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Scrobble {
    /// When it was scrobbled (`date.uts`, whole seconds).
    pub played_at: Timestamp,
    pub name: String,
    /// The artist's name; empty when Last.fm gives none.
    pub artist: String,
    /// The album's name; empty when Last.fm gives none.
    pub album: String,
    /// The largest cover that is not the placeholder star.
    pub image: Option<String>,
    /// The track's Last.fm page.
    pub url: Option<String>,
}

/// One page of scrobbles (see [`LastFmClient::recent_tracks_page`]).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct RecentPage {
    /// The scrobbles of the page, newest first, without the track playing now.
    pub scrobbles: Vec<Scrobble>,
    /// Entries left out because they had no title or no date (the track playing now excluded).
    pub unusable: usize,
    /// How many pages the range has (`@attr.totalPages`; 0 when it is empty).
    pub total_pages: u32,
}

/// What only the owner can fix; each has its `reason` for the `owner_must_act` alert.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OwnerAction {
    /// No API key: neither `LASTFM_API_KEY` nor `lastfm_api_key` in the credentials.
    NoKey,
    /// Error 10.
    InvalidKey,
    /// Error 26.
    SuspendedKey,
    /// Error 6.
    NoSuchUser,
    /// Error 17: the user hides their recent listening.
    PrivateListening,
}

impl OwnerAction {
    /// Last.fm's error code for it, if it is one.
    pub fn from_code(code: i64) -> Option<OwnerAction> {
        match code {
            10 => Some(OwnerAction::InvalidKey),
            26 => Some(OwnerAction::SuspendedKey),
            6 => Some(OwnerAction::NoSuchUser),
            17 => Some(OwnerAction::PrivateListening),
            _ => None,
        }
    }

    /// The `reason` field of the ERROR log.
    pub fn reason(self) -> &'static str {
        match self {
            OwnerAction::NoKey => "lastfm_no_api_key",
            OwnerAction::InvalidKey => "lastfm_invalid_api_key",
            OwnerAction::SuspendedKey => "lastfm_suspended_api_key",
            OwnerAction::NoSuchUser => "lastfm_user_not_found",
            OwnerAction::PrivateListening => "lastfm_private_listening",
        }
    }

    /// What to do, for the log and `nowplaying status`.
    pub fn advice(self) -> &'static str {
        match self {
            OwnerAction::NoKey => "no Last.fm API key: put it into the credentials secret as lastfm_api_key (on AWS) or set LASTFM_API_KEY (locally); get one at https://www.last.fm/api/account/create",
            OwnerAction::InvalidKey => "Last.fm rejected the API key (error 10): check lastfm_api_key in the credentials secret or LASTFM_API_KEY (https://www.last.fm/api/accounts)",
            OwnerAction::SuspendedKey => "Last.fm suspended the API key (error 26): create a new one at https://www.last.fm/api/account/create and store it as lastfm_api_key or LASTFM_API_KEY",
            OwnerAction::NoSuchUser => "Last.fm has no such user (error 6): check LASTFM_USER",
            OwnerAction::PrivateListening => "Last.fm hides this user's recent listening (error 17): turn off \"Hide recent listening information\" in the Last.fm privacy settings",
        }
    }
}

/// What can go wrong when asking Last.fm. The answer cache handles `RateLimited` (as a shared
/// cooldown) and `Upstream` (stale, then `null`); `OwnerMustAct` answers `null`.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum LastFmError {
    #[error("{}", .0.advice())]
    OwnerMustAct(OwnerAction),
    #[error("Last.fm rate limit (error 29), pausing {} s", .retry_after.as_secs())]
    RateLimited { retry_after: Duration },
    /// Temporary (errors 8, 11, 16), a 5xx, a time-out, a body that is not what was asked for.
    #[error("Last.fm failed: {0}")]
    Upstream(String),
}

impl LastFmError {
    pub fn owner_must_act(&self) -> bool {
        matches!(self, LastFmError::OwnerMustAct(_))
    }
}

/// The `period` of `user.getTopTracks` / `user.getTopArtists`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Period {
    OneMonth,
    SixMonths,
    TwelveMonths,
}

impl Period {
    pub fn as_str(self) -> &'static str {
        match self {
            Period::OneMonth => "1month",
            Period::SixMonths => "6month",
            Period::TwelveMonths => "12month",
        }
    }
}

#[derive(Debug, Clone)]
pub struct LastFmClient {
    http: reqwest::Client,
    base: String,
}

impl LastFmClient {
    /// `base` is the API root (`https://ws.audioscrobbler.com/2.0`, with or without the `/`).
    pub fn new(base: &str) -> LastFmClient {
        let http = reqwest::Client::builder()
            .connect_timeout(CONNECT_TIMEOUT)
            .timeout(REQUEST_TIMEOUT)
            .user_agent(concat!("nowplaying/", env!("CARGO_PKG_VERSION")))
            .build()
            .expect("reqwest client with static settings");
        LastFmClient {
            http,
            base: base.trim_end_matches('/').to_string(),
        }
    }

    /// `user.getRecentTracks`: the track playing now (when Last.fm marks one) and the newest
    /// scrobbles, newest first.
    pub async fn recent_tracks(
        &self,
        key: &Secret,
        user: &str,
        limit: u8,
        read_at: Timestamp,
    ) -> Result<Vec<NowPlaying>, LastFmError> {
        let limit = limit.clamp(1, MAX_LIMIT).to_string();
        let v = self
            .call(
                key,
                &[
                    ("method", "user.getrecenttracks"),
                    ("user", user),
                    ("limit", &limit),
                    ("extended", "1"),
                ],
            )
            .await?;
        let root = wire::root(&v, "recenttracks")?;
        Ok(map::recent(root, read_at))
    }

    /// One page of `user.getRecentTracks` for the history: the scrobbles with `from <= uts <=
    /// to` (Last.fm's bounds, in whole seconds), `limit` a page (at most [`MAX_PAGE`]), newest
    /// first (the track playing now left out), with the number of pages Last.fm says the range
    /// has.
    pub async fn recent_tracks_page(
        &self,
        key: &Secret,
        user: &str,
        page: u32,
        limit: u32,
        from: Option<Timestamp>,
        to: Timestamp,
    ) -> Result<RecentPage, LastFmError> {
        let page = page.max(1).to_string();
        let limit = limit.clamp(1, MAX_PAGE).to_string();
        let to = to.as_secs().to_string();
        let from = from.map(|f| f.as_secs().to_string());
        let mut params = vec![
            ("method", "user.getrecenttracks"),
            ("user", user),
            ("limit", limit.as_str()),
            ("page", page.as_str()),
            ("to", to.as_str()),
            ("extended", "1"),
        ];
        if let Some(from) = &from {
            params.push(("from", from.as_str()));
        }
        let v = self.call(key, &params).await?;
        let root = wire::root(&v, "recenttracks")?;
        Ok(map::recent_page(root))
    }

    /// `user.getTopTracks` over `period`, ranked from 1.
    pub async fn top_tracks(
        &self,
        key: &Secret,
        user: &str,
        period: Period,
        read_at: Timestamp,
    ) -> Result<Vec<ListTrack>, LastFmError> {
        let limit = MAX_LIMIT.to_string();
        let v = self
            .call(
                key,
                &[
                    ("method", "user.gettoptracks"),
                    ("user", user),
                    ("period", period.as_str()),
                    ("limit", &limit),
                ],
            )
            .await?;
        Ok(map::top_tracks(wire::root(&v, "toptracks")?, read_at))
    }

    /// `user.getTopArtists` over `period`, ranked from 1.
    pub async fn top_artists(
        &self,
        key: &Secret,
        user: &str,
        period: Period,
    ) -> Result<Vec<TopArtist>, LastFmError> {
        let limit = MAX_LIMIT.to_string();
        let v = self
            .call(
                key,
                &[
                    ("method", "user.gettopartists"),
                    ("user", user),
                    ("period", period.as_str()),
                    ("limit", &limit),
                ],
            )
            .await?;
        Ok(map::top_artists(wire::root(&v, "topartists")?))
    }

    /// `user.getLovedTracks`, most recently loved first.
    pub async fn loved_tracks(
        &self,
        key: &Secret,
        user: &str,
        read_at: Timestamp,
    ) -> Result<Vec<ListTrack>, LastFmError> {
        let limit = MAX_LIMIT.to_string();
        let v = self
            .call(
                key,
                &[
                    ("method", "user.getlovedtracks"),
                    ("user", user),
                    ("limit", &limit),
                ],
            )
            .await?;
        Ok(map::loved(wire::root(&v, "lovedtracks")?, read_at))
    }

    /// One GET with `api_key` and `format=json`; the parsed JSON object, or the error it holds.
    /// The URL carries the key, so no error message here ever includes it.
    async fn call(&self, key: &Secret, params: &[(&str, &str)]) -> Result<Value, LastFmError> {
        let read = async {
            let resp = self
                .http
                .get(format!("{}/", self.base))
                .query(params)
                .query(&[("api_key", key.expose()), ("format", "json")])
                .timeout(REQUEST_TIMEOUT)
                .send()
                .await
                .map_err(transport)?;
            let status = resp.status();
            let body = read_limited(resp).await?;
            Ok::<_, LastFmError>((status, body))
        };
        let (status, body) = tokio::time::timeout(REQUEST_TIMEOUT, read)
            .await
            .map_err(|_| LastFmError::Upstream("timed out".into()))??;
        judge(status.as_u16(), &body)
    }
}

/// Decides an answer from its status and body: Last.fm's error body wins over the status.
pub fn judge(status: u16, body: &[u8]) -> Result<Value, LastFmError> {
    let parsed: Option<Value> = serde_json::from_slice(body).ok();
    if let Some(code) = parsed.as_ref().and_then(wire::error_code) {
        let message = parsed
            .as_ref()
            .and_then(|v| wire::text(&v["message"]))
            .unwrap_or_default();
        return Err(from_code(code, &message));
    }
    match (status, parsed) {
        (429, _) => Err(LastFmError::RateLimited {
            retry_after: RATE_LIMIT_PAUSE,
        }),
        (200..=299, Some(v)) if v.is_object() => Ok(v),
        (200..=299, _) => Err(LastFmError::Upstream(
            "response is not a JSON object".into(),
        )),
        (s, _) => Err(LastFmError::Upstream(format!("HTTP {s}"))),
    }
}

/// Last.fm's error codes: <https://www.last.fm/api/errorcodes>.
pub fn from_code(code: i64, message: &str) -> LastFmError {
    if let Some(action) = OwnerAction::from_code(code) {
        return LastFmError::OwnerMustAct(action);
    }
    let message: String = message
        .chars()
        .filter(|c| !c.is_control())
        .take(120)
        .collect();
    match code {
        29 => LastFmError::RateLimited {
            retry_after: RATE_LIMIT_PAUSE,
        },
        8 | 11 | 16 => LastFmError::Upstream(format!("temporary error {code}: {message}")),
        _ => LastFmError::Upstream(format!("error {code}: {message}")),
    }
}

async fn read_limited(mut resp: reqwest::Response) -> Result<Vec<u8>, LastFmError> {
    let too_big = || LastFmError::Upstream(format!("response body over {MAX_BODY_BYTES} bytes"));
    if resp
        .content_length()
        .is_some_and(|n| n > MAX_BODY_BYTES as u64)
    {
        return Err(too_big());
    }
    let mut body = Vec::new();
    while let Some(chunk) = resp.chunk().await.map_err(transport)? {
        if body.len() + chunk.len() > MAX_BODY_BYTES {
            return Err(too_big());
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body)
}

/// A transport failure, described without the URL (it holds the API key).
fn transport(e: reqwest::Error) -> LastFmError {
    LastFmError::Upstream(
        if e.is_timeout() {
            "timed out"
        } else if e.is_connect() {
            "could not connect"
        } else {
            "connection failed"
        }
        .into(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn errors_are_judged_by_the_body_first() {
        let e = |status: u16, body: &str| judge(status, body.as_bytes()).unwrap_err();
        for (code, action) in [
            (10, OwnerAction::InvalidKey),
            (26, OwnerAction::SuspendedKey),
            (6, OwnerAction::NoSuchUser),
            (17, OwnerAction::PrivateListening),
        ] {
            for status in [200, 403, 400] {
                let body = format!(r#"{{"error": {code}, "message": "x", "links": []}}"#);
                assert_eq!(e(status, &body), LastFmError::OwnerMustAct(action));
            }
        }
        // Numbers as strings too.
        assert_eq!(
            e(200, r#"{"error": "6", "message": "User not found"}"#),
            LastFmError::OwnerMustAct(OwnerAction::NoSuchUser)
        );
        assert_eq!(
            e(200, r#"{"error": 29, "message": "Rate Limit Exceeded"}"#),
            LastFmError::RateLimited {
                retry_after: RATE_LIMIT_PAUSE
            }
        );
        assert_eq!(
            e(429, "slow down"),
            LastFmError::RateLimited {
                retry_after: RATE_LIMIT_PAUSE
            }
        );
        for code in [8, 11, 16, 3, 99] {
            let body = format!(r#"{{"error": {code}, "message": "try again"}}"#);
            assert!(matches!(e(500, &body), LastFmError::Upstream(_)), "{code}");
        }
        for (status, body) in [
            (502, "<html>Bad Gateway</html>"),
            (200, "<html>"),
            (200, "[1, 2]"),
            (200, r#"{"recenttracks": {"track": [{"na"#),
            (200, ""),
            (503, r#"{"recenttracks": {}}"#),
        ] {
            assert!(
                matches!(e(status, body), LastFmError::Upstream(_)),
                "{status} {body}"
            );
        }
        assert!(judge(200, br#"{"recenttracks": {"track": []}}"#).is_ok());
    }

    #[test]
    fn owner_actions_have_reasons_and_advice() {
        for a in [
            OwnerAction::NoKey,
            OwnerAction::InvalidKey,
            OwnerAction::SuspendedKey,
            OwnerAction::NoSuchUser,
            OwnerAction::PrivateListening,
        ] {
            assert!(a.reason().starts_with("lastfm_"));
            assert!(!a.advice().contains('\n'));
            assert!(LastFmError::OwnerMustAct(a).owner_must_act());
        }
    }
}
