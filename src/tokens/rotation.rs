//! Persisting a rotated refresh token: a write-ahead copy in the table that names the version of
//! the credential store it supersedes, then a compare-and-swap of the credential store on that
//! version (docs/architecture.md, "Refresh-token rotation").

use std::sync::Arc;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::{fingerprint, sealing_context, Keeper, REFRESH_LEASE};
use crate::clock::Timestamp;
use crate::keys::{PENDING_REFRESH_KEY, TOKEN_LEASE_KEY};
use crate::lease::Lease;
use crate::seal::Sealer;
use crate::secret::Secret;
use crate::store::{Credentials, Record, Swap, Versioned};

/// Attempts and first delay for persisting a rotated refresh token.
const PERSIST_ATTEMPTS: u32 = 4;
const PERSIST_FIRST_DELAY: Duration = Duration::from_millis(100);
/// How long the shared state keeps a rotated refresh token's pending copy.
const PENDING_KEEP: Duration = Duration::from_secs(200 * 24 * 3600);
/// After a rotated refresh token could not be persisted: how long before a cache miss tries the
/// write again (in the background), rather than waiting for the next refresh.
const PERSIST_RETRY: Duration = Duration::from_secs(30);

/// One rotation to persist: the credentials with the new token, the credential store's version
/// the rotation started from, the token presented to Spotify and the one it gave back.
#[derive(Clone)]
pub(super) struct Rotation {
    pub credentials: Credentials,
    pub base: String,
    pub rotated_from: Secret,
    pub newest: Secret,
}

/// A rotation whose write to the credential store was given up, and when to try again.
#[derive(Clone)]
pub(super) struct Unpersisted {
    rotation: Rotation,
    retry_at: Timestamp,
}

/// Where a rotated refresh token ended up.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Persisted {
    /// In the credential store (or it already was, or the owner's sign-in replaced it).
    Stored,
    /// In the table's pending copy only: every process uses it; the store write is retried.
    Pending,
    /// Only in this process's memory: nobody else may refresh until the lease lapses.
    OnlyHere,
}

/// The pending copy as sealed in the table: the token and the credential store's version it
/// supersedes. It applies only while the store is still at that version; any later write of the
/// store, by anyone, makes it stale, so a stale copy can never be preferred to the store.
#[derive(Serialize, Deserialize)]
pub(super) struct Pending {
    /// `None`: a copy written before copies named their version; it applies unconditionally.
    #[serde(default)]
    base: Option<String>,
    token: Secret,
}

impl Pending {
    /// The pending copy under `record`, when it belongs to this sign-in.
    pub(super) fn open(
        record: &Record,
        sealer: &Sealer,
        credentials: &Credentials,
    ) -> Option<Self> {
        let plain = sealer.open(
            &sealing_context(PENDING_REFRESH_KEY, credentials),
            &record.value,
        )?;
        Some(serde_json::from_str(&plain).unwrap_or(Pending {
            base: None,
            token: Secret::new(plain),
        }))
    }

    /// The token, when this copy supersedes the store at `version`.
    pub(super) fn token_over(self, version: &str) -> Option<Secret> {
        match &self.base {
            Some(base) if base != version => None,
            _ => Some(self.token),
        }
    }
}

/// What to do with a rotation, given the store and the pending copy as read now.
enum Next {
    /// Write it over the store's version `0`.
    Write(String),
    /// The store holds it already.
    Done,
    /// A newer rotation (another process's, from this token) is the newest: never write over it.
    Superseded,
    /// The owner replaced or removed the sign-in, and that stands.
    SignInReplaced,
}

/// The rule every write of a rotated token follows: write only over the state the rotation
/// started from (the newest token, store or applicable pending copy, is the one presented, or
/// this rotation's own pending copy), and only into the same sign-in.
fn decide(rotation: &Rotation, stored: Option<&Versioned>, pending: Option<Pending>) -> Next {
    let Some(stored) = stored else {
        return Next::SignInReplaced;
    };
    let (now, ours) = (&stored.credentials, &rotation.credentials);
    let Some(token) = now.refresh_token.as_ref().filter(|t| !t.is_empty()) else {
        return Next::SignInReplaced;
    };
    if now.client_id != ours.client_id || now.authorized_at != ours.authorized_at {
        return Next::SignInReplaced;
    }
    if *token == rotation.newest {
        return Next::Done;
    }
    let newest = pending
        .and_then(|p| p.token_over(&stored.version))
        .unwrap_or_else(|| token.clone());
    if newest == rotation.rotated_from || newest == rotation.newest {
        Next::Write(stored.version.clone())
    } else {
        Next::Superseded
    }
}

impl Keeper {
    /// Persists a rotated refresh token: the pending copy, then the credential store by
    /// compare-and-swap, with retries. The store write does not wait for the table: when the
    /// table cannot take the pending copy, the store (the durable copy) is written all the same,
    /// and the copy that failed is tried again.
    pub(super) async fn persist_refresh_token(
        &self,
        lease: &mut Lease<'_>,
        mut rotation: Rotation,
        sealer: &Sealer,
        retrying: bool,
    ) -> Persisted {
        let mut kept = self.write_pending(&rotation, sealer).await;
        let mut delay = PERSIST_FIRST_DELAY;
        let mut last_error = String::new();
        let attempts = if retrying { 1 } else { PERSIST_ATTEMPTS };
        for attempt in 1..=attempts {
            if attempt > 1 {
                tokio::time::sleep(delay).await;
                delay *= 3;
                // A heartbeat the owner's commands can see; its failure stops nothing.
                let _ = lease.renew(self.clock.now()).await;
                if !kept {
                    kept = self.write_pending(&rotation, sealer).await;
                }
            }
            let swapped = self
                .credentials
                .save_if(&rotation.credentials, &rotation.base)
                .await;
            let next = match swapped {
                Ok(Swap::Written(_)) => Next::Done,
                Ok(Swap::Changed) => match self.read_state_of(&rotation, sealer).await {
                    Ok(next) => next,
                    Err(e) => {
                        last_error = e;
                        continue;
                    }
                },
                Err(e) => {
                    tracing::warn!(attempt, error = %e, "could not persist the rotated refresh token; retrying");
                    last_error = e.to_string();
                    continue;
                }
            };
            match next {
                Next::Done => return self.persisted(&rotation).await,
                Next::Write(version) => {
                    // Someone wrote the store since (the token presented, a late copy of it):
                    // the copy must name the version it now supersedes.
                    rotation.base = version;
                    kept = self.write_pending(&rotation, sealer).await;
                    last_error = "the credential store changed during the write".into();
                }
                Next::Superseded => {
                    tracing::warn!(
                        "not writing the rotated refresh token: another process rotated it since, and its token is the newest"
                    );
                    self.local.lock().unwrap().unpersisted = None;
                    return Persisted::Stored;
                }
                Next::SignInReplaced => {
                    tracing::warn!(
                        "not writing the rotated refresh token to the credential store: the owner signed in again or disconnected while this refresh ran, and that sign-in stands"
                    );
                    self.local.lock().unwrap().unpersisted = None;
                    return Persisted::Stored;
                }
            }
        }
        self.give_up(rotation, kept, retrying, &last_error)
    }

    /// The credential store and the pending copy as they are now, and what that means for
    /// `rotation`. Either read failing means "don't know": no write.
    async fn read_state_of(&self, rotation: &Rotation, sealer: &Sealer) -> Result<Next, String> {
        let stored = self
            .credentials
            .load_versioned()
            .await
            .map_err(|e| e.to_string())?;
        let pending = self
            .state
            .get(PENDING_REFRESH_KEY)
            .await
            .map_err(|e| e.to_string())?
            .and_then(|r| Pending::open(&r, sealer, &rotation.credentials));
        Ok(decide(rotation, stored.as_ref(), pending))
    }

    async fn persisted(&self, rotation: &Rotation) -> Persisted {
        self.local.lock().unwrap().unpersisted = None;
        // The pending copy is stale now (it names the store's old version): clearing ours is
        // housekeeping, and a failure harmless.
        let _ = self
            .state
            .release(PENDING_REFRESH_KEY, &self.instance)
            .await;
        tracing::info!(
            store = %self.credentials.describe(),
            fingerprint = %fingerprint(&rotation.newest),
            "persisted the rotated refresh token"
        );
        Persisted::Stored
    }

    /// The write-ahead copy, straight to the table (never to memory), naming the store's version
    /// it supersedes. Returns whether it was written.
    async fn write_pending(&self, rotation: &Rotation, sealer: &Sealer) -> bool {
        let plain = serde_json::to_string(&Pending {
            base: Some(rotation.base.clone()),
            token: rotation.newest.clone(),
        })
        .expect("the pending copy serialises");
        let record = Record::until(
            sealer.seal(
                &sealing_context(PENDING_REFRESH_KEY, &rotation.credentials),
                &plain,
            ),
            self.clock.now() + PENDING_KEEP,
        )
        // Whoever wrote it clears it: a later rotation by another process is not undone.
        .held_by(self.instance.clone());
        match self.state.put(PENDING_REFRESH_KEY, &record).await {
            Ok(()) => true,
            Err(e) => {
                tracing::warn!(
                    store = %self.state.describe(),
                    error = %e,
                    "could not write the rotated refresh token's pending copy to the shared state; writing the credential store directly"
                );
                false
            }
        }
    }

    /// Every attempt failed: this process keeps the token for a later write, and says where it is.
    fn give_up(
        &self,
        rotation: Rotation,
        kept: bool,
        retrying: bool,
        last_error: &str,
    ) -> Persisted {
        self.local.lock().unwrap().unpersisted = Some(Unpersisted {
            rotation,
            retry_at: self.clock.now() + PERSIST_RETRY,
        });
        let where_ = if kept {
            "it is kept sealed in the shared state; the next refresh, in any process, uses it and retries the write"
        } else {
            "it is only in this process's memory; this process keeps the refresh lease until it lapses, and a later request retries the write"
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
        if kept {
            Persisted::Pending
        } else {
            Persisted::OnlyHere
        }
    }

    /// Starts [`Keeper::retry_persist`] in the background when a given-up write is due again.
    pub(super) fn retry_persist_if_due(self: &Arc<Self>) {
        let now = self.clock.now();
        let due = {
            let mut l = self.local.lock().unwrap();
            match &mut l.unpersisted {
                Some(u) if u.retry_at <= now => {
                    u.retry_at = now + PERSIST_RETRY;
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
    /// by the same rule as the first write: only over the state the rotation started from. A
    /// store or a table that cannot be read means "don't know": nothing is written, and a later
    /// request tries again.
    async fn retry_persist(&self) {
        let _flight = self.refresh_flight.lock().await;
        let now = self.clock.now();
        let Ok(Some(mut lease)) = Lease::acquire(
            &*self.state,
            TOKEN_LEASE_KEY,
            &self.instance,
            REFRESH_LEASE,
            now,
        )
        .await
        else {
            return; // someone is refreshing, or the table is away: a later cache miss tries again
        };
        self.notice_owner_changes().await;
        let unpersisted = self.local.lock().unwrap().unpersisted.clone();
        if let Some(u) = unpersisted {
            let mut rotation = u.rotation;
            let sealer = Sealer::from_client_secret(&rotation.credentials.client_secret);
            match self.read_state_of(&rotation, &sealer).await {
                Ok(Next::Write(version)) => {
                    rotation.base = version;
                    if self
                        .persist_refresh_token(&mut lease, rotation, &sealer, true)
                        .await
                        == Persisted::OnlyHere
                    {
                        lease.keep();
                    }
                }
                Ok(_) => self.local.lock().unwrap().unpersisted = None,
                Err(e) => {
                    tracing::warn!(error = %e, "could not tell whether the rotated refresh token is still the newest; not writing it now")
                }
            }
        }
        lease.release().await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn creds(token: &str) -> Credentials {
        Credentials {
            client_id: "id".into(),
            client_secret: Secret::new("cs"),
            refresh_token: Some(Secret::new(token)),
            authorized_at: Some("2026-11-23T10:00:00Z".into()),
            ..Credentials::default()
        }
    }

    fn stored(token: &str, version: &str) -> Versioned {
        Versioned {
            credentials: creds(token),
            version: version.into(),
        }
    }

    fn pending(base: &str, token: &str) -> Option<Pending> {
        Some(Pending {
            base: Some(base.into()),
            token: Secret::new(token),
        })
    }

    /// T1 → T2 from the store at version v1.
    fn rotation() -> Rotation {
        Rotation {
            credentials: creds("T2"),
            base: "v1".into(),
            rotated_from: Secret::new("T1"),
            newest: Secret::new("T2"),
        }
    }

    #[test]
    fn writes_only_over_the_state_the_rotation_started_from() {
        let r = rotation();
        assert!(matches!(decide(&r, Some(&stored("T1", "v1")), None), Next::Write(v) if v == "v1"));
        // Someone wrote the same token again (a late copy): write over the new version.
        assert!(matches!(decide(&r, Some(&stored("T1", "v7")), None), Next::Write(v) if v == "v7"));
        assert!(matches!(
            decide(&r, Some(&stored("T2", "v2")), None),
            Next::Done
        ));
        // Another process rotated T2 → T3 from our pending copy, and its copy names v1.
        assert!(matches!(
            decide(&r, Some(&stored("T1", "v1")), pending("v1", "T3")),
            Next::Superseded
        ));
        // ... or it reached the store already.
        assert!(matches!(
            decide(&r, Some(&stored("T3", "v3")), None),
            Next::Superseded
        ));
        // Our own pending copy.
        assert!(matches!(
            decide(&r, Some(&stored("T1", "v1")), pending("v1", "T2")),
            Next::Write(_)
        ));
        // A stale copy (it names an older version of the store) counts for nothing.
        assert!(matches!(
            decide(&r, Some(&stored("T1", "v1")), pending("v0", "T9")),
            Next::Write(_)
        ));
    }

    #[test]
    fn never_writes_over_another_sign_in_or_a_disconnect() {
        let r = rotation();
        assert!(matches!(decide(&r, None, None), Next::SignInReplaced));
        let mut gone = stored("T1", "v2");
        gone.credentials.refresh_token = None;
        assert!(matches!(
            decide(&r, Some(&gone), None),
            Next::SignInReplaced
        ));
        let mut other = stored("T1", "v2");
        other.credentials.authorized_at = Some("2026-12-01T10:00:00Z".into());
        assert!(matches!(
            decide(&r, Some(&other), None),
            Next::SignInReplaced
        ));
    }

    #[test]
    fn a_copy_applies_only_to_the_version_it_names() {
        let p = pending("v1", "T2").unwrap();
        assert!(p.token_over("v2").is_none());
        let p = pending("v1", "T2").unwrap();
        assert_eq!(p.token_over("v1").unwrap(), Secret::new("T2"));
        let legacy = Pending {
            base: None,
            token: Secret::new("T2"),
        };
        assert!(legacy.token_over("v9").is_some());
    }
}
