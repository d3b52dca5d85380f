//! Persisting a rotated refresh token: write-ahead copies in the table, then the credential
//! store, with the lease's version and the sign-in checked before the store is written.

use std::sync::Arc;
use std::time::Duration;

use super::{fingerprint, sealing_context, Keeper, REFRESH_LEASE_MS};
use crate::keys::{LATEST_REFRESH_KEY, PENDING_REFRESH_KEY, TOKEN_LEASE_KEY};
use crate::lease::Lease;
use crate::seal::Sealer;
use crate::secret::Secret;
use crate::store::{Credentials, Record};

/// Attempts and first delay for persisting a rotated refresh token.
const PERSIST_ATTEMPTS: u32 = 4;
const PERSIST_FIRST_DELAY: Duration = Duration::from_millis(100);
/// How long the shared state keeps a rotated refresh token's copies.
const PENDING_KEEP_MS: u64 = 200 * 24 * 3600 * 1000;
/// After a rotated refresh token could not be persisted: how long before a cache miss tries the
/// write again (in the background), rather than waiting for the next refresh.
const PERSIST_RETRY_MS: u64 = 30_000;

/// A rotated refresh token whose write to the credential store was given up: the credentials
/// to write, the token it was rotated from, and when to try again.
#[derive(Clone)]
pub(super) struct Unpersisted {
    credentials: Credentials,
    rotated_from: Secret,
    newest: Secret,
    retry_at_ms: u64,
}

/// Whether the credential store may take the rotated token now.
enum MayWrite {
    Yes,
    /// Not now: the lease lapsed and changed hands. The token stays recoverable (the sealed
    /// copy, and this process's memory) for a later write under a new lease.
    LeaseLost,
    /// Never: the owner replaced or removed the sign-in, and that stands.
    SignInReplaced,
    /// Could not tell (a store unreachable): counts as a failed attempt.
    Unknown(String),
}

impl Keeper {
    /// Writes the credentials with a new refresh token: the write-ahead copies first, then the
    /// credential store, with retries, each attempt only while this acquisition holds the lease
    /// and the stored sign-in is still the one refreshed.
    pub(super) async fn persist_refresh_token(
        &self,
        lease: &mut Lease<'_>,
        credentials: &Credentials,
        rotated_from: &Secret,
        newest: &Secret,
        sealer: &Sealer,
        retrying: bool,
    ) {
        let kept = self.write_ahead(credentials, newest, sealer).await;

        let mut delay = PERSIST_FIRST_DELAY;
        let mut last_error = String::new();
        let attempts = if retrying { 1 } else { PERSIST_ATTEMPTS };
        for attempt in 1..=attempts {
            let outcome = match self.may_write(lease, credentials).await {
                MayWrite::Yes => self
                    .credentials
                    .save(credentials)
                    .await
                    .map_err(|e| e.to_string()),
                MayWrite::SignInReplaced => {
                    tracing::warn!(
                        "not writing the rotated refresh token to the credential store: the owner signed in again or disconnected while this refresh ran, and that sign-in stands"
                    );
                    self.local.lock().unwrap().unpersisted = None;
                    return;
                }
                MayWrite::LeaseLost => {
                    last_error =
                        "the refresh lease lapsed and changed hands before the write".into();
                    break;
                }
                MayWrite::Unknown(e) => Err(e),
            };
            match outcome {
                Ok(()) => {
                    self.local.lock().unwrap().unpersisted = None;
                    let _ = self
                        .state
                        .release(PENDING_REFRESH_KEY, &self.instance)
                        .await;
                    tracing::info!(
                        store = %self.credentials.describe(),
                        fingerprint = %fingerprint(newest),
                        "persisted the rotated refresh token"
                    );
                    return;
                }
                Err(e) => {
                    tracing::warn!(attempt, error = %e, "could not persist the rotated refresh token; retrying");
                    last_error = e;
                    if attempt < attempts {
                        tokio::time::sleep(delay).await;
                        delay *= 3;
                    }
                }
            }
        }
        self.give_up(
            credentials,
            rotated_from,
            newest,
            kept,
            retrying,
            &last_error,
        );
    }

    /// The write-ahead copies, straight to the table (never to memory): the pending copy, which
    /// the next refresh in any process uses, and the newest copy. Returns whether the pending
    /// copy was written.
    async fn write_ahead(
        &self,
        credentials: &Credentials,
        newest: &Secret,
        sealer: &Sealer,
    ) -> bool {
        let keep_until = self.clock.now_ms() + PENDING_KEEP_MS;
        let pending = Record::until(
            sealer.seal(
                &sealing_context(PENDING_REFRESH_KEY, credentials),
                newest.expose(),
            ),
            keep_until,
        )
        // Whoever wrote it clears it: a later rotation by another process is not undone.
        .held_by(self.instance.clone());
        let kept = match self.state.put(PENDING_REFRESH_KEY, &pending).await {
            Ok(()) => true,
            Err(e) => {
                tracing::error!(
                    store = %self.state.describe(),
                    error = %e,
                    "could not write the rotated refresh token's safety copy to the shared state: until the credential store takes it, it is only in this process's memory"
                );
                false
            }
        };
        let latest = Record::until(
            sealer.seal(
                &sealing_context(LATEST_REFRESH_KEY, credentials),
                newest.expose(),
            ),
            keep_until,
        );
        let _ = self.state.put(LATEST_REFRESH_KEY, &latest).await;
        kept
    }

    /// Every attempt failed: this process keeps the token for a later write, and says where it is.
    fn give_up(
        &self,
        credentials: &Credentials,
        rotated_from: &Secret,
        newest: &Secret,
        kept: bool,
        retrying: bool,
        last_error: &str,
    ) {
        self.local.lock().unwrap().unpersisted = Some(Unpersisted {
            credentials: credentials.clone(),
            rotated_from: rotated_from.clone(),
            newest: newest.clone(),
            retry_at_ms: self.clock.now_ms() + PERSIST_RETRY_MS,
        });
        let where_ = if kept {
            "it is kept sealed in the shared state; the next refresh, in any process, uses it and retries the write"
        } else {
            "it is only in this process's memory; a later request retries the write"
        };
        if retrying {
            tracing::warn!(
                store = %self.credentials.describe(),
                error = %last_error,
                kept_sealed_in_shared_state = kept,
                "still could not persist the rotated refresh token: {where_}"
            );
        } else {
            tracing::error!(
                alert = "owner_must_act",
                reason = "refresh_token_not_persisted",
                store = %self.credentials.describe(),
                error = %last_error,
                kept_sealed_in_shared_state = kept,
                "could not persist the rotated refresh token: {where_}"
            );
        }
    }

    /// The lease is still this acquisition's (renewed, so the write fits in it), and the stored
    /// sign-in is still the one this refresh belongs to: not replaced by `authorize`, not
    /// removed by `disconnect`.
    async fn may_write(&self, lease: &mut Lease<'_>, credentials: &Credentials) -> MayWrite {
        match lease.renew(self.clock.now_ms()).await {
            Ok(true) => {}
            Ok(false) => return MayWrite::LeaseLost,
            Err(e) => return MayWrite::Unknown(e.to_string()),
        }
        match self.credentials.load().await {
            Ok(Some(stored))
                if stored.client_id == credentials.client_id
                    && stored.authorized_at == credentials.authorized_at
                    && stored.refresh_token.as_ref().is_some_and(|t| !t.is_empty()) =>
            {
                MayWrite::Yes
            }
            Ok(_) => MayWrite::SignInReplaced,
            Err(e) => MayWrite::Unknown(e.to_string()),
        }
    }

    /// Starts [`Keeper::retry_persist`] in the background when a given-up write is due again.
    pub(super) fn retry_persist_if_due(self: &Arc<Self>) {
        let now = self.clock.now_ms();
        let due = {
            let mut l = self.local.lock().unwrap();
            match &mut l.unpersisted {
                Some(u) if u.retry_at_ms <= now => {
                    u.retry_at_ms = now + PERSIST_RETRY_MS;
                    true
                }
                _ => false,
            }
        };
        if due {
            let keeper = self.clone();
            let guard = self.track();
            tokio::spawn(async move {
                let _guard = guard;
                keeper.retry_persist().await
            });
        }
    }

    /// Writes a rotated refresh token whose write was given up earlier, under the refresh lease,
    /// unless the owner changed the authorization or another process rotated since (its token,
    /// sealed in the shared state, is then the newer one).
    async fn retry_persist(&self) {
        let _flight = self.refresh_flight.lock().await;
        let now = self.clock.now_ms();
        let Ok(Some(mut lease)) = Lease::acquire(
            self.state.as_ref(),
            TOKEN_LEASE_KEY,
            &self.instance,
            REFRESH_LEASE_MS,
            now,
        )
        .await
        else {
            return; // someone is refreshing, or the table is away: a later cache miss tries again
        };
        self.notice_owner_changes().await;
        let pending = self.local.lock().unwrap().unpersisted.clone();
        if let Some(u) = pending {
            let sealer = Sealer::from_client_secret(&u.credentials.client_secret);
            let latest = self.latest_refresh_token(&sealer, &u.credentials).await;
            let superseded = latest.is_some_and(|t| t != u.newest && t != u.rotated_from);
            if superseded {
                self.local.lock().unwrap().unpersisted = None;
            } else {
                self.persist_refresh_token(
                    &mut lease,
                    &u.credentials,
                    &u.rotated_from,
                    &u.newest,
                    &sealer,
                    true,
                )
                .await;
            }
        }
        lease.release().await;
    }

    /// The newest refresh token in the shared state, when it belongs to this sign-in.
    pub(super) async fn latest_refresh_token(
        &self,
        sealer: &Sealer,
        credentials: &Credentials,
    ) -> Option<Secret> {
        let record = self.state.get(LATEST_REFRESH_KEY).await.ok()??;
        open_token(&record, LATEST_REFRESH_KEY, sealer, credentials)
    }
}

/// The refresh token sealed in `record` (the item under `key`), when it belongs to this sign-in.
pub(super) fn open_token(
    record: &Record,
    key: &str,
    sealer: &Sealer,
    credentials: &Credentials,
) -> Option<Secret> {
    sealer
        .open(&sealing_context(key, credentials), &record.value)
        .map(Secret::new)
}
