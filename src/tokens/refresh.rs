//! Refreshing the access token under the refresh lease, one process at a time.

use super::access::use_until;
use super::credentials::AuthFailure;
use super::rotation::{Pending, Persisted, Rotation};
use super::{
    sealing_context, AuthWatch, InUse, Keeper, Refreshed, OWNER_PATIENCE, OWNER_STUCK_AFTER,
    REFRESH_LEASE,
};
use crate::error::Error;
use crate::keys::{AUTH_GENERATION_KEY, PENDING_REFRESH_KEY, TOKEN_KEY, TOKEN_LEASE_KEY};
use crate::lease::Lease;
use crate::seal::Sealer;
use crate::secret::Secret;
use crate::spotify::{SpotifyError, TokenGrant};
use crate::store::{is_owner_holder, Credentials, Record, StoreError, Versioned};

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
        let acquired = self.take_refresh_lease().await;
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

    /// The refresh lease: by the clock among the service's processes (their clocks agree), by
    /// version for the owner's commands and for a lease one of them holds (a laptop's clock may
    /// be far off either way). `Ok(None)`: someone else holds it.
    async fn take_refresh_lease(&self) -> Result<Option<Lease<'_>>, StoreError> {
        let state = &*self.state;
        let now = || self.clock.now();
        if self.owner_command {
            return Lease::acquire_by_version(
                state,
                TOKEN_LEASE_KEY,
                &self.instance,
                REFRESH_LEASE,
                now,
                OWNER_STUCK_AFTER,
                OWNER_PATIENCE,
            )
            .await;
        }
        if let Some(lease) =
            Lease::acquire(state, TOKEN_LEASE_KEY, &self.instance, REFRESH_LEASE, now()).await?
        {
            return Ok(Some(lease));
        }
        let current = state.get(TOKEN_LEASE_KEY).await?.and_then(|r| r.holder);
        match current {
            Some(h)
                if is_owner_holder(&h)
                    && self.owner_lease.lock().unwrap().free_or_stuck(Some(&h)) =>
            {
                tracing::warn!(
                    "taking over the refresh lease of an owner's command that stopped renewing it"
                );
                Lease::take_over(
                    state,
                    TOKEN_LEASE_KEY,
                    &self.instance,
                    REFRESH_LEASE,
                    now(),
                    Some(&h),
                )
                .await
            }
            _ => Ok(None),
        }
    }

    async fn refresh_under_lease(
        &self,
        lease: &mut Lease<'_>,
        credentials: Credentials,
        rejected: Option<&Secret>,
        force: bool,
    ) -> Result<Secret, Error> {
        // Everything the refresh needs from the table, in one read under the lease (a failed
        // read: no refresh).
        let shared_watch = matches!(self.watch, AuthWatch::Shared);
        let mut keys = vec![TOKEN_KEY, PENDING_REFRESH_KEY];
        if shared_watch {
            keys.push(AUTH_GENERATION_KEY);
        }
        let mut items = self.state.get_many(&keys).await?;
        if shared_watch {
            self.apply_generation(items.remove(AUTH_GENERATION_KEY).map(|r| r.value));
        } else {
            self.notice_owner_changes().await;
        }
        // Someone may have published a token between our read and our lease.
        if !force {
            let sealer = &Sealer::from_client_secret(&credentials.client_secret);
            if let Some(t) = items
                .remove(TOKEN_KEY)
                .and_then(|r| self.open_access(r, sealer, &credentials, rejected))
            {
                return Ok(t);
            }
        }
        // The credential store with its version, read under the lease every time: the durable
        // copy, and what every write of a rotated token compares with.
        let mut stored = self.load_versioned_credentials().await?;
        let sealer = &Sealer::from_client_secret(&stored.credentials.client_secret);
        // A rotated token whose store write failed: its pending copy names the store's version
        // it supersedes, and counts only while the store is still at that version.
        let mut refresh_token = items
            .get(PENDING_REFRESH_KEY)
            .and_then(|r| Pending::open(r, sealer, &stored.credentials))
            .and_then(|p| p.token_over(&stored.version))
            .or_else(|| stored.credentials.refresh_token.clone())
            .ok_or(Error::NotAuthorized)?;

        let grant = self.ask_spotify(&mut stored, &mut refresh_token).await?;
        self.absorb_grant(lease, stored, refresh_token, grant, sealer)
            .await
    }

    /// The token request with `refresh_token`. When Spotify answers `invalid_grant`, the store is
    /// read once more (the owner may have signed in again just now) and, when it holds another
    /// token, the request is made with that one: `stored` and `refresh_token` then name it.
    async fn ask_spotify(
        &self,
        stored: &mut Versioned,
        refresh_token: &mut Secret,
    ) -> Result<TokenGrant, Error> {
        let mut reread = false;
        loop {
            let answer = self
                .spotify
                .refresh(
                    &stored.credentials.client_id,
                    &stored.credentials.client_secret,
                    refresh_token,
                )
                .await;
            match answer {
                Ok(grant) => return Ok(grant),
                Err(SpotifyError::InvalidGrant) if !reread => {
                    // The owner may have signed in again just now: read the store once more.
                    reread = true;
                    let fresh = self.load_versioned_credentials().await?;
                    match fresh.credentials.refresh_token.clone() {
                        Some(t) if t != *refresh_token => {
                            tracing::info!("the stored refresh token changed; retrying with it");
                            *refresh_token = t;
                            *stored = fresh;
                        }
                        _ => {
                            return Err(self.auth_failed(
                                Some(refresh_token.clone()),
                                AuthFailure::InvalidGrant,
                            ))
                        }
                    }
                }
                Err(SpotifyError::InvalidGrant) => {
                    return Err(
                        self.auth_failed(Some(refresh_token.clone()), AuthFailure::InvalidGrant)
                    )
                }
                Err(SpotifyError::InvalidClient) => {
                    return Err(
                        self.auth_failed(Some(refresh_token.clone()), AuthFailure::InvalidClient)
                    )
                }
                Err(e) => return Err(e.into()),
            }
        }
    }

    /// Persists a rotated refresh token (if any), then publishes the access token, but only while
    /// this acquisition still holds the lease (fencing).
    async fn absorb_grant(
        &self,
        lease: &mut Lease<'_>,
        stored: Versioned,
        used: Secret,
        grant: TokenGrant,
        sealer: &Sealer,
    ) -> Result<Secret, Error> {
        // Spotify may or may not rotate; the token used stays valid when it does not.
        let newest = grant.refresh_token.clone().unwrap_or_else(|| used.clone());
        let mut credentials = stored.credentials;
        let mut persisted = Persisted::Stored;
        if credentials.refresh_token.as_ref() != Some(&newest) {
            credentials.refresh_token = Some(newest.clone());
            if let Some(scope) = &grant.scope {
                credentials.scope = Some(scope.clone());
            }
            let rotation = Rotation {
                credentials: credentials.clone(),
                base: stored.version,
                rotated_from: used,
                newest,
            };
            persisted = self
                .persist_refresh_token(lease, rotation, sealer, false)
                .await;
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

        let now = self.clock.now();
        let until = use_until(now, grant.expires_in);
        {
            let mut l = self.local.lock().unwrap();
            l.access = Some(InUse {
                token: access_token.clone(),
                until,
            });
            l.last_refresh = Some(Refreshed {
                token: access_token.clone(),
                at: now,
            });
        }
        tracing::info!(
            expires_in_s = grant.expires_in.as_secs(),
            rotated = grant.refresh_token.is_some(),
            "refreshed the Spotify access token"
        );
        if persisted == Persisted::OnlyHere {
            // Nobody else may refresh while the newest token is only here: the lease is kept
            // (it lapses by itself) and nothing is published.
            lease.keep();
            return Ok(access_token);
        }
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
        Ok(access_token)
    }
}
