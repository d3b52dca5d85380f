//! What the owner's commands change in the stores, in one place: replacing or removing the
//! sign-in (`authorize`, `disconnect`), dropping every cached answer, and the privacy switch
//! (`hide` / `show`), which the answer cache reads from here too. `nowplaying authorize` and the
//! browser console (`crate::console`) store a sign-in through the same [`store_sign_in`], and
//! `nowplaying disconnect` and the console's disconnect through the same [`disconnect`].

use std::path::{Path, PathBuf};
use std::sync::Arc;

use crate::clock::Timestamp;
use crate::error::Error;
use crate::keys::{all_answer_keys, AUTH_GENERATION_KEY, HIDDEN_KEY, TOKEN_ITEMS, TOKEN_LEASE_KEY};
use crate::lease::Lease;
use crate::secret::Secret;
use crate::store::{CredentialStore, Credentials, OwnerMark, Record, SharedState, StoreError};
use crate::tokens::{OWNER_PATIENCE, OWNER_STUCK_AFTER, REFRESH_LEASE};

/// Where the privacy switch lives: the shared table's `hidden` item, or a local file next to
/// the credentials file (without a table).
#[derive(Clone)]
pub enum PrivacySwitch {
    Shared(Arc<dyn SharedState>),
    File(PathBuf),
}

/// The local switch's file: `hidden` next to the credentials file.
pub fn hidden_file(credentials_path: &Path) -> PathBuf {
    credentials_path.with_file_name("hidden")
}

impl PrivacySwitch {
    /// Whether the page is hidden.
    pub async fn is_hidden(&self) -> bool {
        match self {
            PrivacySwitch::Shared(state) => {
                matches!(state.get(HIDDEN_KEY).await, Ok(Some(r)) if r.value == "true")
            }
            PrivacySwitch::File(path) => path.exists(),
        }
    }

    /// Whether the page is hidden, for an answer that does not go through the answer cache:
    /// a switch that cannot be read counts as on (hidden), so a failing table never shows what
    /// `hide` meant to hide.
    pub async fn is_hidden_or_unreadable(&self) -> bool {
        match self {
            PrivacySwitch::Shared(state) => match state.get(HIDDEN_KEY).await {
                Ok(Some(r)) => r.value == "true",
                Ok(None) => false,
                Err(e) => {
                    tracing::warn!(error = %e, "the privacy switch cannot be read: answering as if hidden");
                    true
                }
            },
            PrivacySwitch::File(path) => path.exists(),
        }
    }

    /// The local switch, checked on every request: `hide` cannot drop the answers held in a
    /// running process's memory, and a `stat` is cheap. The shared switch is read on misses.
    pub fn hidden_locally(&self) -> bool {
        matches!(self, PrivacySwitch::File(path) if path.exists())
    }

    /// Turns the switch on or off; with a table, also drops every cached answer. Returns where
    /// the switch lives, for the owner.
    pub async fn set(&self, hide: bool, now: Timestamp) -> Result<String, String> {
        match self {
            PrivacySwitch::Shared(state) => {
                let result = if hide {
                    state.put(HIDDEN_KEY, &Record::permanent("true", now)).await
                } else {
                    state.delete(HIDDEN_KEY).await
                };
                result.map_err(|e| format!("could not change the privacy switch: {e}"))?;
                // Hidden: every answer item is marked (its answer and lease gone), so no holder
                // publishes and no miss takes a lease; shown: the marks go with the answers.
                let cleared = if hide {
                    mark_answers(state.as_ref(), &OwnerMark::Hidden, now).await
                } else {
                    clear_answers(state.as_ref()).await
                };
                cleared
                    .map_err(|e| format!("switched, but could not drop the cached answers: {e}"))?;
                Ok(format!("the {}", state.describe()))
            }
            PrivacySwitch::File(path) => {
                if hide {
                    crate::store::file::write_atomic(path, b"true\n")
                        .map_err(|e| format!("could not write {}: {e}", path.display()))?;
                } else {
                    match std::fs::remove_file(path) {
                        Ok(()) => {}
                        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                        Err(e) => return Err(format!("could not remove {}: {e}", path.display())),
                    }
                }
                Ok(path.display().to_string())
            }
        }
    }
}

/// Drops every cached answer (`/api/spotify` and every list).
pub async fn clear_answers(state: &dyn SharedState) -> Result<(), StoreError> {
    for key in all_answer_keys() {
        state.delete(&key).await?;
    }
    Ok(())
}

/// Marks every answer item with `mark` (its answer and its lease gone, the other mark kept).
pub async fn mark_answers(
    state: &dyn SharedState,
    mark: &OwnerMark,
    now: Timestamp,
) -> Result<(), StoreError> {
    for key in all_answer_keys() {
        state.mark_answer(&key, mark, now).await?;
    }
    Ok(())
}

/// Drops every token item, and marks every answer item with the new sign-in `generation`.
pub async fn clear_tokens_and_answers(
    state: &dyn SharedState,
    generation: String,
    now: Timestamp,
) -> Result<(), StoreError> {
    for key in TOKEN_ITEMS {
        state.delete(key).await?;
    }
    mark_answers(state, &OwnerMark::Generation(generation), now).await
}

/// What [`replace_authorization`] did to the shared state.
#[derive(Debug, Default)]
pub struct Replaced {
    /// The token items and cached answers were deleted and every process was told.
    pub cleared_shared: bool,
    /// Why the shared table could not be updated after the credentials were saved.
    pub shared_error: Option<String>,
}

/// Replaces the stored credentials on the owner's behalf (`authorize`, `disconnect`) so that every
/// running process notices and none undoes it (docs/architecture.md, "The owner's commands").
/// With a shared table, under the refresh lease (taken by its version, so this machine's clock
/// does not matter):
/// 1. a new generation, the token items deleted and every answer item marked with it: proves
///    the table can be written
///    before anything changes (an error here changes nothing);
/// 2. the credential store written;
/// 3. a new generation, the deletes and the marks again, for processes that read the old credentials
///    between 1 and 2.
///
/// A running refresh writes the credential store only by compare-and-swap on the version it read,
/// so no refresh, however late its write arrives, can revert the owner's action.
pub async fn replace_authorization(
    store: &dyn CredentialStore,
    state: Option<&dyn SharedState>,
    credentials: &Credentials,
    now: impl Fn() -> Timestamp,
) -> Result<Replaced, Error> {
    let Some(state) = state else {
        store.save(credentials).await?;
        return Ok(Replaced::default());
    };
    let lease = Lease::acquire_by_version(
        state,
        TOKEN_LEASE_KEY,
        crate::store::OWNER_HOLDER,
        REFRESH_LEASE,
        &now,
        // A refresh renews its lease (a new version each time) while it works; one that keeps a
        // version longer than that is dead.
        OWNER_STUCK_AFTER,
        OWNER_PATIENCE,
    )
    .await?;
    let Some(lease) = lease else {
        return Err(Error::Busy);
    };
    let result = replace_under_lease(store, state, credentials, &now).await;
    lease.release().await;
    result
}

async fn replace_under_lease(
    store: &dyn CredentialStore,
    state: &dyn SharedState,
    credentials: &Credentials,
    now: &impl Fn() -> Timestamp,
) -> Result<Replaced, Error> {
    let generation = new_generation(state, now()).await?;
    clear_tokens_and_answers(state, generation, now()).await?;
    store.save(credentials).await?;
    let told = async {
        let generation = new_generation(state, now()).await?;
        clear_tokens_and_answers(state, generation, now()).await
    }
    .await;
    Ok(match told {
        Ok(()) => Replaced {
            cleared_shared: true,
            shared_error: None,
        },
        Err(e) => Replaced {
            cleared_shared: false,
            shared_error: Some(e.to_string()),
        },
    })
}

/// Writes a new sign-in generation and returns it.
async fn new_generation(state: &dyn SharedState, now: Timestamp) -> Result<String, StoreError> {
    let value = format!("{}-{:016x}", now.as_millis(), rand::random::<u64>());
    state
        .put(AUTH_GENERATION_KEY, &Record::permanent(value.clone(), now))
        .await?;
    Ok(value)
}

/// A completed sign-in: what Spotify granted for the app `client_id`.
#[derive(Debug, Clone)]
pub struct SignIn {
    pub client_id: String,
    pub client_secret: Secret,
    pub refresh_token: Secret,
    /// The scopes granted (space-separated).
    pub scope: String,
}

/// The credentials document a sign-in stores: what was stored before (fields the service does not
/// know, such as `lastfm_api_key` and `console_key`, kept), with the app, the new refresh token,
/// the moment and the scopes.
pub fn signed_in_document(
    existing: Option<Credentials>,
    sign_in: &SignIn,
    now: Timestamp,
) -> Credentials {
    let mut credentials = existing.unwrap_or_default();
    credentials.client_id = sign_in.client_id.clone();
    credentials.client_secret = sign_in.client_secret.clone();
    credentials.refresh_token = Some(sign_in.refresh_token.clone());
    credentials.authorized_at = Some(rfc3339(now));
    credentials.scope = Some(sign_in.scope.clone());
    credentials
}

/// Stores a new sign-in in place of the old one: [`signed_in_document`] written through
/// [`replace_authorization`] (the lease, the generation, the write order). The one path of
/// `nowplaying authorize` and of the console's callback.
pub async fn store_sign_in(
    store: &dyn CredentialStore,
    state: Option<&dyn SharedState>,
    existing: Option<Credentials>,
    sign_in: &SignIn,
    now: impl Fn() -> Timestamp,
) -> Result<(Credentials, Replaced), Error> {
    let credentials = signed_in_document(existing, sign_in, now());
    let replaced = replace_authorization(store, state, &credentials, now).await?;
    Ok((credentials, replaced))
}

/// What [`disconnect`] found and did.
#[derive(Debug)]
pub struct Disconnected {
    /// A refresh token was stored (and is gone now).
    pub had_token: bool,
    /// What replacing the document did to the shared state (`None`: nothing was stored at all;
    /// the shared token items and answers were then cleared directly, with a table).
    pub replaced: Option<Replaced>,
    /// Clearing the shared state without a stored document failed.
    pub clear_error: Option<String>,
}

/// Removes the refresh token (the client id and secret stay) through [`replace_authorization`];
/// with nothing stored, still clears the shared token items and answers. `Err`: nothing changed.
pub async fn disconnect(
    store: &dyn CredentialStore,
    state: Option<&dyn SharedState>,
    now: impl Fn() -> Timestamp,
) -> Result<Disconnected, Error> {
    let existing = store.load().await?;
    let had_token = existing
        .as_ref()
        .is_some_and(|c| c.refresh_token.as_ref().is_some_and(|t| !t.is_empty()));
    match existing {
        Some(mut credentials) => {
            credentials.refresh_token = None;
            let replaced = replace_authorization(store, state, &credentials, now).await?;
            Ok(Disconnected {
                had_token,
                replaced: Some(replaced),
                clear_error: None,
            })
        }
        None => {
            let clear_error = match state {
                Some(state) => async {
                    for key in TOKEN_ITEMS {
                        state.delete(key).await?;
                    }
                    clear_answers(state).await
                }
                .await
                .err()
                .map(|e: StoreError| e.to_string()),
                None => None,
            };
            Ok(Disconnected {
                had_token,
                replaced: None,
                clear_error,
            })
        }
    }
}

/// A moment as RFC 3339 (UTC, whole seconds), as `authorized_at` is stored.
pub fn rfc3339(at: Timestamp) -> String {
    let t = time::OffsetDateTime::from_unix_timestamp(at.as_secs() as i64)
        .unwrap_or(time::OffsetDateTime::UNIX_EPOCH);
    t.format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_default()
}
