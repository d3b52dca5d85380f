//! Calling Spotify with the shared access token, including the `401` → new token → retry rule,
//! so the now-playing answer and the lists don't carry it.

use std::future::Future;

use crate::clock::{SharedClock, Timestamp};
use crate::error::Error;
use crate::secret::Secret;
use crate::spotify::{SpotifyClient, SpotifyError};
use crate::tokens::TokenKeeper;

/// Spotify, with a token.
pub struct Upstream {
    spotify: SpotifyClient,
    tokens: TokenKeeper,
    clock: SharedClock,
}

impl Upstream {
    pub fn new(spotify: SpotifyClient, tokens: TokenKeeper, clock: SharedClock) -> Self {
        Upstream {
            spotify,
            tokens,
            clock,
        }
    }

    /// The client, for the calls handed to [`Upstream::with_token`].
    pub fn spotify(&self) -> &SpotifyClient {
        &self.spotify
    }

    /// Returns the current moment, for the answers' `timestamp`.
    pub fn now(&self) -> Timestamp {
        self.clock.now()
    }

    /// Runs `call` with the access token; on `401`, gets another token and retries. The next
    /// token may be the shared copy, which another process published but Spotify has revoked as
    /// well: a second `401` rejects that one too, and the third try has a token refreshed just
    /// now. At most three calls.
    pub async fn with_token<T, F, Fut>(&self, call: F) -> Result<T, Error>
    where
        F: Fn(Secret) -> Fut,
        Fut: Future<Output = Result<T, SpotifyError>>,
    {
        let mut token = self.tokens.access_token(None).await?;
        for _ in 0..2 {
            match call(token.clone()).await {
                Err(SpotifyError::Unauthorized) => {
                    token = self.tokens.access_token(Some(&token)).await?;
                }
                other => return Ok(other?),
            }
        }
        Ok(call(token).await?)
    }
}
