//! The two boundaries with two real implementations each: where the owner's credentials live
//! (Secrets Manager or a local file) and where the shared state lives (DynamoDB or memory).

pub mod dynamo;
pub mod file;
pub mod memory;
pub mod secrets;

use async_trait::async_trait;
use serde::{Deserialize, Serialize};

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
/// the service does not know are kept as they are when it rewrites `refresh_token`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
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

/// Where the owner's credentials live.
#[async_trait]
pub trait CredentialStore: Send + Sync {
    /// `Ok(None)` when nothing is stored yet.
    async fn load(&self) -> Result<Option<Credentials>, StoreError>;
    /// Replaces the whole document, atomically.
    async fn save(&self, credentials: &Credentials) -> Result<(), StoreError>;
    /// Where the credentials live, for messages (never the content).
    fn describe(&self) -> String;
}

/// One item of shared state: a value with the moment it stops being valid (fresh, held, ...),
/// an optional owner (leases) and a clean-up time for the store's TTL.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Record {
    pub value: String,
    /// Epoch milliseconds at which the value stops being fresh (or the lease lapses).
    pub expires_at_ms: u64,
    pub owner: Option<String>,
    /// Epoch seconds after which the store may delete the item (DynamoDB TTL).
    pub ttl_s: u64,
}

/// Shared state for every process: answers, leases, the cooldown and the sealed access token.
#[async_trait]
pub trait SharedState: Send + Sync {
    async fn get(&self, key: &str) -> Result<Option<Record>, StoreError>;
    async fn put(&self, key: &str, record: &Record) -> Result<(), StoreError>;
    /// Writes `record` only when there is no item under `key`, or the existing one expired
    /// before `now_ms`, or it is owned by `record.owner`. `Ok(false)` when someone else holds it.
    async fn put_if_expired(
        &self,
        key: &str,
        record: &Record,
        now_ms: u64,
    ) -> Result<bool, StoreError>;
    async fn delete(&self, key: &str) -> Result<(), StoreError>;
    /// Deletes the item only when `owner` holds it.
    async fn delete_if_owner(&self, key: &str, owner: &str) -> Result<(), StoreError>;
    fn describe(&self) -> String;
}
