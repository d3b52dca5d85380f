//! The fast path: the access token in memory, else the one another process published.

use super::{sealing_context, Keeper, WAIT_FOR_HOLDER};
use crate::cooldown::Cooldown;
use crate::error::Error;
use crate::keys::TOKEN_KEY;
use crate::seal::Sealer;
use crate::secret::Secret;
use crate::spotify::SpotifyError;
use crate::store::{Credentials, Record};

/// Stop using an access token this long before Spotify says it expires.
const EXPIRY_MARGIN_MS: u64 = 60_000;
/// However short a lifetime Spotify announces (`expires_in` of 0 or a few seconds), a token is
/// used this long before the next refresh, so a strange answer cannot cost a refresh per miss.
const MIN_USE_MS: u64 = 30_000;
/// A token this process refreshed less than this ago counts as "refreshed just now".
const JUST_NOW_MS: u64 = 60_000;

/// Until when an access token that Spotify said lasts `expires_in_s` from `now_ms` is used.
pub(super) fn use_until(now_ms: u64, expires_in_s: u64) -> u64 {
    let life = expires_in_s.saturating_mul(1000);
    now_ms.saturating_add(life.saturating_sub(EXPIRY_MARGIN_MS).max(MIN_USE_MS))
}

impl Keeper {
    pub(super) fn local_access(&self, rejected: Option<&Secret>) -> Option<Secret> {
        let now = self.clock.now_ms();
        let local = self.local.lock().unwrap();
        match &local.access {
            Some((t, until)) if now < *until && Some(t) != rejected => Some(t.clone()),
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
        let now = self.clock.now_ms();
        let just_refreshed = matches!(
            &self.local.lock().unwrap().last_refresh,
            Some((t, at)) if t == rejected && now.saturating_sub(*at) < JUST_NOW_MS
        );
        just_refreshed
            && Cooldown::is_storm(Cooldown::read(self.state.as_ref()).await.as_ref(), now)
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
        if self.clock.now_ms() >= record.expires_at_ms {
            return None;
        }
        let token =
            Secret::new(sealer.open(&sealing_context(TOKEN_KEY, credentials), &record.value)?);
        if Some(&token) == rejected {
            return None;
        }
        self.local.lock().unwrap().access = Some((token.clone(), record.expires_at_ms));
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
        assert_eq!(use_until(0, 3600), 3_540_000);
        assert_eq!(use_until(0, 0), MIN_USE_MS);
        assert_eq!(use_until(0, 5), MIN_USE_MS);
        assert!(
            use_until(1_000_000, u64::MAX) > 1_000_000,
            "saturates, no overflow"
        );
    }
}
