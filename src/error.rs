//! The library's error type. Each variant has one layer that acts on it (docs/architecture.md).

use std::time::Duration;

use crate::lastfm::LastFmError;
use crate::spotify::SpotifyError;
use crate::store::StoreError;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// No credentials stored yet: the owner has not run `nowplaying authorize`.
    #[error("no Spotify credentials are stored yet: run `nowplaying authorize`")]
    NotAuthorized,
    /// Spotify rejected the refresh token (`invalid_grant`): the owner must sign in again.
    #[error("Spotify rejected the refresh token (invalid_grant): run `nowplaying authorize` to sign in again")]
    MustReauthorize,
    /// Spotify rejected the client id or secret.
    #[error("Spotify rejected the client id or secret (invalid_client): check the app's credentials and run `nowplaying authorize`")]
    InvalidClient,
    /// Another process is refreshing the token and did not finish in time.
    #[error("another instance is refreshing the access token")]
    Busy,
    #[error(transparent)]
    Spotify(#[from] SpotifyError),
    /// A source other than Spotify asked for a pause (Last.fm's error 29): the answer cache
    /// starts the same shared cooldown as for Spotify's `429`.
    #[error("{origin} rate limit, retry after {} s", .retry_after.as_secs())]
    RateLimited {
        origin: &'static str,
        retry_after: Duration,
    },
    /// Last.fm failed or refused (its rate limit arrives as [`Error::RateLimited`]).
    #[error(transparent)]
    LastFm(LastFmError),
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl Error {
    /// Errors that only the owner can fix: answering `null` is right, serving stale is not.
    pub fn owner_must_act(&self) -> bool {
        match self {
            Error::NotAuthorized | Error::MustReauthorize | Error::InvalidClient => true,
            Error::LastFm(e) => e.owner_must_act(),
            _ => false,
        }
    }
}

impl From<LastFmError> for Error {
    fn from(e: LastFmError) -> Self {
        match e {
            LastFmError::RateLimited { retry_after } => Error::RateLimited {
                origin: "Last.fm",
                retry_after,
            },
            e => Error::LastFm(e),
        }
    }
}
