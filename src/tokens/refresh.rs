//! Refreshing the access token under the refresh lease, one process at a time.

use super::access::use_until;
use super::credentials::AuthFailure;
use super::rotation::open_token;
use super::{sealing_context, AuthWatch, Keeper, REFRESH_LEASE_MS};
use crate::error::Error;
use crate::keys::{
    AUTH_GENERATION_KEY, LATEST_REFRESH_KEY, PENDING_REFRESH_KEY, TOKEN_KEY, TOKEN_LEASE_KEY,
};
use crate::lease::Lease;
use crate::seal::Sealer;
use crate::secret::Secret;
use crate::spotify::{SpotifyError, TokenGrant};
use crate::store::{Credentials, Record};

impl Keeper {
    /// Refreshes now, even when a cached access token is still valid (`nowplaying status`).
    pub(super) async fn refresh_now(&self) -> Result<Secret, Error> {
        let _flight = self.refresh_flight.lock().await;
        let credentials = self.credentials_for_refresh().await?;
        let sealer = Sealer::from_client_secret(&credentials.client_secret);
        // When someone else is refreshing right now, their new token proves the same.
        self.refresh_with_lease(credentials, &sealer, None, true)
            .await
    }

    /// Takes the refresh lease and refreshes, or, when another process holds it, waits for the
    /// token it publishes. Without the table there is no lease, and no refresh (fail closed).
    pub(super) async fn refresh_with_lease(
        &self,
        credentials: Credentials,
        sealer: &Sealer,
        rejected: Option<&Secret>,
        force: bool,
    ) -> Result<Secret, Error> {
        let now = self.clock.now_ms();
        let acquired = Lease::acquire(
            self.state.as_ref(),
            TOKEN_LEASE_KEY,
            &self.instance,
            REFRESH_LEASE_MS,
            now,
        )
        .await;
        let mut lease = match acquired {
            Ok(Some(lease)) => lease,
            Ok(None) => return self.wait_for_refresh(sealer, &credentials, rejected).await,
            Err(e) => {
                tracing::warn!(
                    store = %self.state.describe(),
                    error = %e,
                    "the refresh lease cannot be taken (shared state unreachable): not refreshing; serving the last answer or null until it is back"
                );
                return Err(e.into());
            }
        };
        let result = self
            .refresh_under_lease(&mut lease, credentials, rejected, force)
            .await;
        lease.release().await;
        result
    }

    async fn refresh_under_lease(
        &self,
        lease: &mut Lease<'_>,
        mut credentials: Credentials,
        rejected: Option<&Secret>,
        force: bool,
    ) -> Result<Secret, Error> {
        // Everything the refresh needs, in one read under the lease (a failed read: no refresh).
        let shared_watch = matches!(self.watch, AuthWatch::Shared);
        let mut keys = vec![TOKEN_KEY, PENDING_REFRESH_KEY, LATEST_REFRESH_KEY];
        if shared_watch {
            keys.push(AUTH_GENERATION_KEY);
        }
        let mut items = self.state.get_many(&keys).await?;
        // The owner's commands change the credentials while holding this lease: looking again
        // under it means a removed refresh token is never used (and persisted) again.
        let changed = if shared_watch {
            self.apply_generation(items.remove(AUTH_GENERATION_KEY).map(|r| r.value))
        } else {
            self.notice_owner_changes().await
        };
        if changed {
            credentials = self.load_credentials().await?;
        }
        let sealer = &Sealer::from_client_secret(&credentials.client_secret);
        // Someone may have published a token between our read and our lease.
        if !force {
            if let Some(t) = items
                .remove(TOKEN_KEY)
                .and_then(|r| self.open_access(r, sealer, &credentials, rejected))
            {
                return Ok(t);
            }
        }
        // A rotated refresh token that could not be persisted earlier takes precedence; then the
        // newest one any process saw (the copy of the credentials here is from the cold start).
        let open = |key: &str| {
            items
                .get(key)
                .and_then(|r| open_token(r, key, sealer, &credentials))
        };
        let pending = open(PENDING_REFRESH_KEY);
        let latest = match pending {
            Some(_) => None,
            None => open(LATEST_REFRESH_KEY),
        };
        if let Some(t) = latest {
            credentials.refresh_token = Some(t);
        }
        let mut refresh_token = pending
            .clone()
            .or_else(|| credentials.refresh_token.clone())
            .ok_or(Error::NotAuthorized)?;

        let mut reread = false;
        let grant = loop {
            let answer = self
                .spotify
                .refresh(
                    &credentials.client_id,
                    &credentials.client_secret,
                    &refresh_token,
                )
                .await;
            match answer {
                Ok(grant) => break grant,
                Err(SpotifyError::InvalidGrant) if !reread => {
                    // Another environment may have rotated it: read the store once more.
                    reread = true;
                    let fresh = self.load_credentials().await?;
                    match fresh.refresh_token.clone() {
                        Some(t) if t != refresh_token => {
                            tracing::info!("the stored refresh token changed; retrying with it");
                            refresh_token = t;
                            credentials = fresh;
                        }
                        _ => {
                            return Err(
                                self.auth_failed(Some(refresh_token), AuthFailure::InvalidGrant)
                            )
                        }
                    }
                }
                Err(SpotifyError::InvalidGrant) => {
                    return Err(self.auth_failed(Some(refresh_token), AuthFailure::InvalidGrant))
                }
                Err(SpotifyError::InvalidClient) => {
                    return Err(self.auth_failed(Some(refresh_token), AuthFailure::InvalidClient))
                }
                Err(e) => return Err(e.into()),
            }
        };
        self.absorb_grant(
            lease,
            credentials,
            refresh_token,
            pending.is_some(),
            grant,
            sealer,
        )
        .await
    }

    /// Persists a rotated refresh token (if any), then publishes the access token, but only while
    /// this acquisition still holds the lease (fencing).
    async fn absorb_grant(
        &self,
        lease: &mut Lease<'_>,
        mut credentials: Credentials,
        used: Secret,
        used_pending: bool,
        grant: TokenGrant,
        sealer: &Sealer,
    ) -> Result<Secret, Error> {
        let newest = grant.refresh_token.clone().unwrap_or_else(|| used.clone());
        if credentials.refresh_token.as_ref() != Some(&newest) {
            credentials.refresh_token = Some(newest.clone());
            if let Some(scope) = &grant.scope {
                credentials.scope = Some(scope.clone());
            }
            self.persist_refresh_token(lease, &credentials, &used, &newest, sealer, false)
                .await;
        } else if used_pending {
            let _ = self.state.delete(PENDING_REFRESH_KEY).await;
        }
        self.local.lock().unwrap().credentials = Some(credentials.clone());
        // A rotated refresh token is kept (above) whatever the rest of the answer is.
        let Some(access_token) = grant.access_token.clone() else {
            tracing::warn!(
                rotated = grant.refresh_token.is_some(),
                "Spotify's token answer held no access token"
            );
            return Err(
                SpotifyError::Upstream("token response without access_token".into()).into(),
            );
        };

        let now = self.clock.now_ms();
        let until = use_until(now, grant.expires_in_s);
        // Published and the lease given back in one call, only while this acquisition holds it.
        let sealed = sealer.seal(
            &sealing_context(TOKEN_KEY, &credentials),
            access_token.expose(),
        );
        match lease
            .publish_and_release(TOKEN_KEY, &Record::until(sealed, until))
            .await
        {
            Ok(true) => {}
            Ok(false) => tracing::warn!(
                "the refresh lease lapsed during this refresh: not publishing the access token (this process still uses it)"
            ),
            Err(e) => tracing::warn!(error = %e, "could not publish the access token to the shared state"),
        }
        {
            let mut l = self.local.lock().unwrap();
            l.access = Some((access_token.clone(), until));
            l.last_refresh = Some((access_token.clone(), now));
        }
        tracing::info!(
            expires_in_s = grant.expires_in_s,
            rotated = grant.refresh_token.is_some(),
            "refreshed the Spotify access token"
        );
        Ok(access_token)
    }
}
