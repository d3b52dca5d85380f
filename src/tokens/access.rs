//! The fast path: the access token in memory, else the one another process published.

use std::time::Duration;

use super::{sealing_context, InUse, Keeper, WAIT_FOR_HOLDER};
use crate::clock::Timestamp;
use crate::cooldown::Cooldown;
use crate::error::Error;
use crate::keys::TOKEN_KEY;
use crate::seal::Sealer;
use crate::secret::Secret;
use crate::spotify::SpotifyError;
use crate::store::{Credentials, Record};

/// Stop using an access token this long before Spotify says it expires.
const EXPIRY_MARGIN: Duration = Duration::from_secs(60);
/// However short a lifetime Spotify announces (`expires_in` of 0 or a few seconds), a token is
/// used this long before the next refresh, so a strange answer cannot cost a refresh per miss.
const MIN_USE: Duration = Duration::from_secs(30);
/// A token this process refreshed less than this ago counts as "refreshed just now".
const JUST_NOW: Duration = Duration::from_secs(60);

/// Until when an access token that Spotify said lasts `expires_in` from `now` is used.
pub(super) fn use_until(now: Timestamp, expires_in: Duration) -> Timestamp {
    now + expires_in.saturating_sub(EXPIRY_MARGIN).max(MIN_USE)
}

impl Keeper {
    pub(super) fn local_access(&self, rejected: Option<&Secret>) -> Option<Secret> {
        let now = self.clock.now();
        let local = self.local.lock().unwrap();
        match &local.access {
            Some(a) if now < a.until && Some(&a.token) != rejected => Some(a.token.clone()),
            _ => None,
        }
    }

    /// The slow path, one at a time in this process: the shared copy, else a refresh.
    pub(super) async fn access_token(&self, rejected: Option<&Secret>) -> Result<Secret, Error> {
        let _flight = self.refresh_flight.lock().await;
        if let Some(t) = self.local_access(rejected) {
            return Ok(t);
        }
        if let Some(r) = rejected {
            if self.storm_goes_on(r).await {
                tracing::info!(
                    "Spotify answered 401 to a token refreshed just now, again (a 401 storm): not refreshing again until the cooldown ends"
                );
                return Err(Error::Spotify(SpotifyError::Unauthorized));
            }
            tracing::info!("Spotify answered 401; refreshing the access token once");
        }
        let credentials = self.credentials_for_refresh().await?;
        let sealer = Sealer::from_client_secret(&credentials.client_secret);
        if let Some(t) = self.shared_access(&sealer, &credentials, rejected).await {
            return Ok(t);
        }
        self.refresh_with_lease(credentials, &sealer, rejected, false)
            .await
    }

    /// Spotify rejected a token this process refreshed just now while a `401` storm goes on:
    /// another refresh would only rotate the refresh token once more.
    async fn storm_goes_on(&self, rejected: &Secret) -> bool {
        let now = self.clock.now();
        let just_refreshed = matches!(
            &self.local.lock().unwrap().last_refresh,
            Some(r) if r.token == *rejected && now.since(r.at) < JUST_NOW
        );
        just_refreshed && Cooldown::is_storm(Cooldown::read(&*self.state).await.as_ref(), now)
    }

    /// The access token in the shared state, when it is valid, of this sign-in, and not the
    /// rejected one.
    pub(super) async fn shared_access(
        &self,
        sealer: &Sealer,
        credentials: &Credentials,
        rejected: Option<&Secret>,
    ) -> Option<Secret> {
        let record = self.state.get(TOKEN_KEY).await.ok()??;
        self.open_access(record, sealer, credentials, rejected)
    }

    /// The access token in `record` (the `token` item as read), on the same conditions.
    pub(super) fn open_access(
        &self,
        record: Record,
        sealer: &Sealer,
        credentials: &Credentials,
        rejected: Option<&Secret>,
    ) -> Option<Secret> {
        if self.clock.now() >= record.expires_at {
            return None;
        }
        let token =
            Secret::new(sealer.open(&sealing_context(TOKEN_KEY, credentials), &record.value)?);
        if Some(&token) == rejected {
            return None;
        }
        self.local.lock().unwrap().access = Some(InUse {
            token: token.clone(),
            until: record.expires_at,
        });
        Some(token)
    }

    /// Another process holds the refresh lease: wait briefly for the token it publishes.
    pub(super) async fn wait_for_refresh(
        &self,
        sealer: &Sealer,
        credentials: &Credentials,
        rejected: Option<&Secret>,
    ) -> Result<Secret, Error> {
        crate::lease::wait_for_holder(WAIT_FOR_HOLDER, || {
            self.shared_access(sealer, credentials, rejected)
        })
        .await
        .ok_or(Error::Busy)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn odd_lifetimes_still_leave_time_between_refreshes() {
        let start = Timestamp::EPOCH;
        let secs = Duration::from_secs;
        assert_eq!(use_until(start, secs(3600)), start + secs(3540));
        assert_eq!(use_until(start, secs(0)), start + MIN_USE);
        assert_eq!(use_until(start, secs(5)), start + MIN_USE);
        let later = Timestamp::from_secs(1_000);
        assert!(
            use_until(later, Duration::MAX) > later,
            "saturates, no overflow"
        );
    }
}
