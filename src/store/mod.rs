//! The two boundaries with two real implementations each: where the owner's credentials live
//! (Secrets Manager or a local file) and where the shared state lives (DynamoDB or memory).

pub mod dynamo;
pub mod fallback;
pub mod file;
pub mod memory;
pub mod secrets;

use async_trait::async_trait;
use serde::{Deserialize, Serialize};

use std::time::Duration;

use crate::clock::Timestamp;
use crate::secret::Secret;

/// A store could not be read or written.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The store did not answer (network, emulator down, throttled): callers may degrade.
    #[error("{store} is unreachable: {reason}")]
    Unavailable { store: String, reason: String },
    /// The store answered but the content is unusable.
    #[error("{store} holds unusable data: {reason}")]
    Invalid { store: String, reason: String },
}

/// The credentials JSON, identical in the Secrets Manager secret and in the local file. Fields
/// the service does not know are kept as they are when it rewrites `refresh_token`. Its `Debug`
/// shows no secret: the client secret and refresh token are [`Secret`]s, and of the other fields
/// (`lastfm_api_key`, `console_key`, whatever the owner adds) only the names.
#[derive(Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Credentials {
    #[serde(default)]
    pub client_id: String,
    #[serde(default)]
    pub client_secret: Secret,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub refresh_token: Option<Secret>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub authorized_at: Option<String>,
    /// The scopes granted at authorization (space-separated), when known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scope: Option<String>,
    #[serde(flatten)]
    pub extra: serde_json::Map<String, serde_json::Value>,
}

impl std::fmt::Debug for Credentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        /// The other fields by name, each value redacted.
        struct Names<'a>(&'a serde_json::Map<String, serde_json::Value>);
        impl std::fmt::Debug for Names<'_> {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.debug_map()
                    .entries(self.0.keys().map(|k| (k, format_args!("[redacted]"))))
                    .finish()
            }
        }
        f.debug_struct("Credentials")
            .field("client_id", &self.client_id)
            .field("client_secret", &self.client_secret)
            .field("refresh_token", &self.refresh_token)
            .field("authorized_at", &self.authorized_at)
            .field("scope", &self.scope)
            .field("extra", &Names(&self.extra))
            .finish()
    }
}

impl Credentials {
    /// Client id, secret and a refresh token are all present.
    pub fn is_complete(&self) -> bool {
        !self.client_id.is_empty()
            && !self.client_secret.is_empty()
            && self.refresh_token.as_ref().is_some_and(|t| !t.is_empty())
    }

    /// Parses the stored document; an empty document (`{}`) is valid and incomplete.
    pub fn from_json(store: &str, text: &str) -> Result<Credentials, StoreError> {
        serde_json::from_str(text).map_err(|e| StoreError::Invalid {
            store: store.to_string(),
            reason: format!("the credentials JSON does not parse ({e})"),
        })
    }

    pub fn to_json(&self) -> String {
        serde_json::to_string_pretty(self).expect("credentials serialise")
    }
}

/// The stored document and its version: Secrets Manager's `VersionId` of `AWSCURRENT`, a digest
/// of the file's bytes. Any write, by anyone, gives a new version.
#[derive(Debug, Clone)]
pub struct Versioned {
    pub credentials: Credentials,
    pub version: String,
}

/// What a conditional write ([`CredentialStore::save_if`]) did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Swap {
    /// Written; the new current version.
    Written(String),
    /// Not written: the current version is no longer the one expected (someone wrote since).
    Changed,
}

/// Where the owner's credentials live.
#[async_trait]
pub trait CredentialStore: Send + Sync {
    /// `Ok(None)` when nothing is stored yet.
    async fn load(&self) -> Result<Option<Credentials>, StoreError> {
        Ok(self.load_versioned().await?.map(|v| v.credentials))
    }
    /// The document with its version, `Ok(None)` when nothing is stored yet.
    async fn load_versioned(&self) -> Result<Option<Versioned>, StoreError>;
    /// Replaces the whole document, atomically, whatever is there (the owner's commands).
    async fn save(&self, credentials: &Credentials) -> Result<(), StoreError>;
    /// Replaces the document only while `expected` is the current version, checked by the store
    /// itself when the write takes effect: a write that arrives late, after the owner's
    /// `disconnect` or a new sign-in, never becomes current (docs/architecture.md, "Refresh-token
    /// rotation").
    async fn save_if(&self, credentials: &Credentials, expected: &str) -> Result<Swap, StoreError>;
    /// Where the credentials live, for messages (never the content).
    fn describe(&self) -> String;
}

/// How the owner's commands name their lease holders: such a lease is taken over only by its
/// version (seen unchanged for longer than a lease lasts), never by comparing clocks.
pub const OWNER_HOLDER: &str = "owner-command";

/// Whether a lease holder is one of the owner's commands.
pub fn is_owner_holder(holder: &str) -> bool {
    holder.starts_with(OWNER_HOLDER)
}

/// One item of shared state: a value, the moment it stops being valid (fresh, held, ...), the
/// lease holder (leases only) and the moment the store may delete it. Build one with the
/// constructors below, which derive the clean-up moment; nobody sets `delete_after` by hand.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Record {
    pub value: String,
    /// The moment the value stops being fresh (or the lease lapses).
    pub expires_at: Timestamp,
    /// Who holds the lease (a unique id per acquisition: the lease's version).
    pub holder: Option<String>,
    /// The moment after which the store may delete the item (DynamoDB's TTL attribute, stored in
    /// epoch seconds). A deadline for clean-up only: readers decide from `expires_at`.
    pub delete_after: Timestamp,
    /// What the answer cache keeps on an answer's own item besides the answer (nothing on any
    /// other item).
    pub marks: Marks,
}

/// The marks on an answer's own item: its fetch lease, and what the owner's last action said
/// there (docs/architecture.md, "The answer cache"). An item whose writer did not know them
/// (an older version, a plain [`SharedState::put`]) carries no stamp, and a reader then reads
/// the privacy switch and the sign-in generation from their own items.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Marks {
    /// The fetch lease: who holds it and the moment it lapses.
    pub lease: Option<(String, Timestamp)>,
    /// `hide` marked the item: the page is hidden (the answer and the lease are gone).
    pub hidden: bool,
    /// The sign-in generation the item was written under, as the `auth-generation` item held
    /// it (`Some("")`: no such item yet); `None`: not stamped.
    pub generation: Option<String>,
}

impl Marks {
    /// Tells whether the item says by itself whether the page is hidden and which sign-in is
    /// current.
    pub fn stamped(&self) -> bool {
        self.hidden || self.generation.is_some()
    }
}

/// What the owner's commands mark on every answer item (see [`SharedState::mark_answer`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum OwnerMark {
    /// `hide`: the page is hidden; the sign-in stamp stays.
    Hidden,
    /// `authorize` or `disconnect`: a new sign-in generation; a `hidden` mark stays.
    Generation(String),
}

/// What a conditional write on an answer item did ([`SharedState::acquire_answer`],
/// [`SharedState::publish_answer`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Conditional {
    /// It was written.
    Done,
    /// Nothing was written: the item as it is (`None`: there is none), which tells why (a live
    /// lease, a fresh answer, the `hidden` mark, another sign-in generation, another holder).
    Refused(Option<Record>),
}

/// How long past its own deadline an item is kept before the store may clean it up.
pub(crate) const CLEAN_UP_AFTER: Duration = Duration::from_secs(3600);
/// How long items that must never be cleaned up are kept (the sign-in generation, the privacy
/// switch): ten years.
pub(crate) const KEEP_FOR_GOOD: Duration = Duration::from_secs(10 * 365 * 24 * 3600);

impl Record {
    /// A value valid until `until`, cleaned up an hour after that.
    pub fn until(value: impl Into<String>, until: Timestamp) -> Record {
        Record {
            value: value.into(),
            expires_at: until,
            holder: None,
            delete_after: until + CLEAN_UP_AFTER,
            marks: Marks::default(),
        }
    }

    /// A value fresh until `fresh_until` but kept for `keep` from `now` (an answer that may still
    /// be served stale).
    pub fn kept(
        value: impl Into<String>,
        fresh_until: Timestamp,
        now: Timestamp,
        keep: Duration,
    ) -> Record {
        Record {
            value: value.into(),
            expires_at: fresh_until,
            holder: None,
            delete_after: now + keep,
            marks: Marks::default(),
        }
    }

    /// A value that never expires and that the store's clean-up never removes.
    pub fn permanent(value: impl Into<String>, now: Timestamp) -> Record {
        Record {
            value: value.into(),
            expires_at: Timestamp::FAR_FUTURE,
            holder: None,
            delete_after: now + KEEP_FOR_GOOD,
            marks: Marks::default(),
        }
    }

    /// A lease held by `holder` until `until`.
    pub fn lease(holder: impl Into<String>, until: Timestamp) -> Record {
        Record {
            holder: Some(holder.into()),
            ..Record::until(String::new(), until)
        }
    }

    /// The same record, stamped with the sign-in `generation` (see [`Marks::generation`]).
    pub fn stamped(self, generation: impl Into<String>) -> Record {
        Record {
            marks: Marks {
                generation: Some(generation.into()),
                ..self.marks
            },
            ..self
        }
    }

    /// The same record, marked as written by `holder` (cleared with [`SharedState::release`]).
    pub fn held_by(self, holder: impl Into<String>) -> Record {
        Record {
            holder: Some(holder.into()),
            ..self
        }
    }
}

/// The shared state the token keeper may lease and publish in: a DynamoDB table every process of
/// the deployment sees, or, for one process alone, its own memory. There is no constructor from
/// any other [`SharedState`]: the answer cache's memory fallback
/// ([`fallback::FallbackState`]) cannot become one, so code that takes a `Table` (the token
/// keeper) fails closed by its signature, not by wiring.
///
/// ```compile_fail
/// use std::sync::Arc;
/// use nowplaying::clock::SystemClock;
/// use nowplaying::store::{fallback::FallbackState, memory::MemoryState, SharedState, Table};
///
/// let answers: Arc<dyn SharedState> =
///     Arc::new(FallbackState::new(Arc::new(MemoryState::new()), Arc::new(SystemClock)));
/// let table: Table = answers.into(); // no such conversion: a Table is DynamoDB or memory
/// ```
#[derive(Clone)]
pub struct Table(std::sync::Arc<dyn SharedState>);

impl Table {
    /// The DynamoDB table every process shares.
    pub fn dynamo(state: dynamo::DynamoState) -> Table {
        Table(std::sync::Arc::new(state))
    }

    /// The memory of a single process that has no table (`serve`, the owner's commands). Several
    /// services built in one test process may share it.
    pub fn memory(state: std::sync::Arc<memory::MemoryState>) -> Table {
        Table(state)
    }

    /// The same state as a plain handle, for readers that may also be given other states (the
    /// answer cache, the privacy switch).
    pub fn state(&self) -> std::sync::Arc<dyn SharedState> {
        self.0.clone()
    }
}

impl AsRef<dyn SharedState> for Table {
    fn as_ref(&self) -> &(dyn SharedState + 'static) {
        self.0.as_ref()
    }
}

impl std::ops::Deref for Table {
    type Target = dyn SharedState;
    fn deref(&self) -> &(dyn SharedState + 'static) {
        self.0.as_ref()
    }
}

/// Where the items of a read came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Origin {
    /// They are the store's own, as every process sees them.
    Store,
    /// The store failed and they come from this process's memory
    /// ([`fallback::FallbackState`]), which never holds what only others write (the privacy
    /// switch, the cooldown, the sign-in generation).
    Fallback,
}

/// Shared state for every process: answers, leases, the cooldown and the sealed tokens.
#[async_trait]
pub trait SharedState: Send + Sync {
    async fn get(&self, key: &str) -> Result<Option<Record>, StoreError>;
    /// Reads several items in one call; missing items are absent from the answer.
    async fn get_many(
        &self,
        keys: &[&str],
    ) -> Result<std::collections::HashMap<String, Record>, StoreError> {
        let mut out = std::collections::HashMap::new();
        for key in keys {
            if let Some(r) = self.get(key).await? {
                out.insert(key.to_string(), r);
            }
        }
        Ok(out)
    }
    /// Reads several items in one call, as [`SharedState::get_many`], and tells where they
    /// came from: a store that degrades to memory says so, so that a reader does not take an
    /// absent item (the privacy switch) for an absent one in the store.
    async fn get_many_with_origin(
        &self,
        keys: &[&str],
    ) -> Result<(std::collections::HashMap<String, Record>, Origin), StoreError> {
        Ok((self.get_many(keys).await?, Origin::Store))
    }
    async fn put(&self, key: &str, record: &Record) -> Result<(), StoreError>;
    /// Writes the lease `record` only when there is no item under `key`, or the existing one
    /// lapsed before `now`, or `record.holder` holds it. `Ok(false)` when someone else does.
    /// A lease held by an owner's command ([`is_owner_holder`]) never lapses by the clock here:
    /// its expiry is a laptop's, and only its version tells whether it is alive.
    async fn acquire(&self, key: &str, record: &Record, now: Timestamp)
        -> Result<bool, StoreError>;
    /// Writes `record` only when the item's holder is `expected` (`None`: no item at all),
    /// whatever the clocks say: renewing one's own lease, or taking over a lease whose version
    /// was seen unchanged for longer than a lease lasts. `Ok(false)` when it changed.
    async fn replace_if_held_by(
        &self,
        key: &str,
        record: &Record,
        expected: Option<&str>,
    ) -> Result<bool, StoreError>;
    async fn delete(&self, key: &str) -> Result<(), StoreError>;
    /// Deletes the item only when `holder` holds it.
    async fn release(&self, key: &str, holder: &str) -> Result<(), StoreError>;
    /// Takes the fetch lease on the answer item under `key` for `holder` until `until`, in one
    /// conditional write: only when the item holds no live lease (none, or one that lapsed
    /// before `now`), is not marked hidden, holds no answer still fresh at `now`, and carries no
    /// sign-in stamp other than `generation`. The answer in the item stays; its stamp becomes
    /// `generation`. Otherwise nothing is written and the item is handed back as it is.
    async fn acquire_answer(
        &self,
        key: &str,
        holder: &str,
        until: Timestamp,
        now: Timestamp,
        generation: &str,
    ) -> Result<Conditional, StoreError>;
    /// Writes `record` (with its stamp) as the answer under `key` and gives its lease back, in
    /// one conditional write that succeeds only while `holder` holds the lease: a lease that
    /// lapsed and was taken, or an owner's mark (which removes the lease), cancels it.
    async fn publish_answer(
        &self,
        key: &str,
        record: &Record,
        holder: &str,
    ) -> Result<Conditional, StoreError>;
    /// Marks the answer item under `key` for the owner: its answer and its lease go, the other
    /// mark stays, so that no holder publishes and no miss takes the lease under the old state.
    async fn mark_answer(
        &self,
        key: &str,
        mark: &OwnerMark,
        now: Timestamp,
    ) -> Result<(), StoreError>;
    /// Writes `record` under `key` and gives back the lease under `lease_key`, only while
    /// `holder` still holds it (DynamoDB: one `TransactWriteItems`): how a token refresh
    /// publishes, fenced by the lease's version. `Ok(false)`: the lease changed hands and
    /// nothing was written.
    async fn put_if_held_and_release(
        &self,
        key: &str,
        record: &Record,
        lease_key: &str,
        holder: &str,
    ) -> Result<bool, StoreError> {
        match self.get(lease_key).await? {
            Some(r) if r.holder.as_deref() == Some(holder) => {
                self.put(key, record).await?;
                self.release(lease_key, holder).await?;
                Ok(true)
            }
            _ => Ok(false),
        }
    }
    fn describe(&self) -> String;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_shows_no_secret_of_the_document() {
        let c = Credentials::from_json(
            "test",
            r#"{"client_id":"the-id","client_secret":"cs-value","refresh_token":"rt-value",
                "lastfm_api_key":"lfm-key-value","console_key":"ck-value","note":"n-value"}"#,
        )
        .unwrap();
        let shown = format!("{c:?} {c:#?}");
        for secret in [
            "cs-value",
            "rt-value",
            "lfm-key-value",
            "ck-value",
            "n-value",
        ] {
            assert!(!shown.contains(secret), "{secret} in {shown}");
        }
        for name in [
            "the-id",
            "lastfm_api_key",
            "console_key",
            "note",
            "[redacted]",
        ] {
            assert!(shown.contains(name), "{name} missing from {shown}");
        }
    }
}
