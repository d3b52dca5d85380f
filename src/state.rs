//! Shared state that degrades: when the primary store (DynamoDB) fails, the process carries on
//! with its own memory and logs a WARN, so the page keeps getting answers.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use async_trait::async_trait;

use crate::clock::SharedClock;
use crate::store::memory::MemoryState;
use crate::store::{Record, SharedState, StoreError};

/// How often the "falling back to memory" warning repeats while the primary is down.
const WARN_EVERY_MS: u64 = 30_000;

pub struct FallbackState {
    primary: Arc<dyn SharedState>,
    local: MemoryState,
    clock: SharedClock,
    last_warn_ms: AtomicU64,
}

impl FallbackState {
    pub fn new(primary: Arc<dyn SharedState>, clock: SharedClock) -> Self {
        FallbackState {
            primary,
            local: MemoryState::new(),
            clock,
            last_warn_ms: AtomicU64::new(0),
        }
    }

    fn warn(&self, op: &str, err: &StoreError) {
        let now = self.clock.now_ms();
        let last = self.last_warn_ms.load(Ordering::Relaxed);
        if last == 0 || now.saturating_sub(last) >= WARN_EVERY_MS {
            self.last_warn_ms.store(now.max(1), Ordering::Relaxed);
            tracing::warn!(
                store = %self.primary.describe(),
                op,
                error = %err,
                "shared state unavailable; serving from this instance's memory"
            );
        }
    }
}

#[async_trait]
impl SharedState for FallbackState {
    async fn get(&self, key: &str) -> Result<Option<Record>, StoreError> {
        match self.primary.get(key).await {
            Ok(r) => Ok(r),
            Err(e) => {
                self.warn("get", &e);
                self.local.get(key).await
            }
        }
    }

    async fn put(&self, key: &str, record: &Record) -> Result<(), StoreError> {
        // Keep the local twin current too, so a failover starts from the latest answer.
        self.local.put(key, record).await?;
        if let Err(e) = self.primary.put(key, record).await {
            self.warn("put", &e);
        }
        Ok(())
    }

    async fn put_if_expired(
        &self,
        key: &str,
        record: &Record,
        now_ms: u64,
    ) -> Result<bool, StoreError> {
        match self.primary.put_if_expired(key, record, now_ms).await {
            Ok(taken) => Ok(taken),
            Err(e) => {
                self.warn("lease", &e);
                self.local.put_if_expired(key, record, now_ms).await
            }
        }
    }

    async fn delete(&self, key: &str) -> Result<(), StoreError> {
        self.local.delete(key).await?;
        if let Err(e) = self.primary.delete(key).await {
            self.warn("delete", &e);
        }
        Ok(())
    }

    async fn delete_if_owner(&self, key: &str, owner: &str) -> Result<(), StoreError> {
        self.local.delete_if_owner(key, owner).await?;
        if let Err(e) = self.primary.delete_if_owner(key, owner).await {
            self.warn("release", &e);
        }
        Ok(())
    }

    fn describe(&self) -> String {
        self.primary.describe()
    }
}
