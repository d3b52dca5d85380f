//! Shared state that degrades, for the answer cache only: when the primary store (DynamoDB)
//! fails, the process carries on with its own memory and logs a WARN, so the page keeps getting
//! answers. Tokens never go through it: they fail closed (see docs/architecture.md).

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;

use std::collections::HashMap;

use crate::clock::{SharedClock, Timestamp};
use crate::store::memory::MemoryState;
use crate::store::{Conditional, Origin, OwnerMark, Record, SharedState, StoreError};

/// How often the "falling back to memory" warning repeats while the primary is down.
const WARN_EVERY: Duration = Duration::from_secs(30);
/// After the primary failed: how long every call goes straight to memory before it is tried again.
const RETRY_PRIMARY_AFTER: Duration = Duration::from_secs(10);

pub struct FallbackState {
    primary: Arc<dyn SharedState>,
    local: MemoryState,
    clock: SharedClock,
    /// When the warning was last logged, in epoch milliseconds (0: never).
    last_warned: AtomicU64,
    /// Until when the primary is not asked, in epoch milliseconds (0: it is asked).
    down_until: AtomicU64,
}

impl FallbackState {
    pub fn new(primary: Arc<dyn SharedState>, clock: SharedClock) -> Self {
        FallbackState {
            primary,
            local: MemoryState::new(),
            clock,
            last_warned: AtomicU64::new(0),
            down_until: AtomicU64::new(0),
        }
    }

    /// Whether to ask the primary now: it has not failed lately.
    fn primary_up(&self) -> bool {
        self.clock.now() >= Timestamp::from_millis(self.down_until.load(Ordering::Relaxed))
    }

    fn warn(&self, op: &str, err: &StoreError) {
        let now = self.clock.now();
        self.down_until
            .store((now + RETRY_PRIMARY_AFTER).as_millis(), Ordering::Relaxed);
        let last = self.last_warned.load(Ordering::Relaxed);
        if last == 0 || now.since(Timestamp::from_millis(last)) >= WARN_EVERY {
            self.last_warned
                .store(now.as_millis().max(1), Ordering::Relaxed);
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
        if !self.primary_up() {
            return self.local.get(key).await;
        }
        match self.primary.get(key).await {
            Ok(r) => Ok(r),
            Err(e) => {
                self.warn("get", &e);
                self.local.get(key).await
            }
        }
    }

    async fn get_many(&self, keys: &[&str]) -> Result<HashMap<String, Record>, StoreError> {
        Ok(self.get_many_with_origin(keys).await?.0)
    }

    async fn get_many_with_origin(
        &self,
        keys: &[&str],
    ) -> Result<(HashMap<String, Record>, Origin), StoreError> {
        if !self.primary_up() {
            return Ok((self.local.get_many(keys).await?, Origin::Fallback));
        }
        match self.primary.get_many(keys).await {
            Ok(r) => Ok((r, Origin::Store)),
            Err(e) => {
                self.warn("get", &e);
                Ok((self.local.get_many(keys).await?, Origin::Fallback))
            }
        }
    }

    async fn put(&self, key: &str, record: &Record) -> Result<(), StoreError> {
        // Keep the local twin current too, so a failover starts from the latest answer.
        self.local.put(key, record).await?;
        if !self.primary_up() {
            return Ok(());
        }
        if let Err(e) = self.primary.put(key, record).await {
            self.warn("put", &e);
        }
        Ok(())
    }

    async fn acquire(
        &self,
        key: &str,
        record: &Record,
        now: Timestamp,
    ) -> Result<bool, StoreError> {
        if !self.primary_up() {
            return self.local.acquire(key, record, now).await;
        }
        match self.primary.acquire(key, record, now).await {
            Ok(taken) => Ok(taken),
            Err(e) => {
                self.warn("lease", &e);
                self.local.acquire(key, record, now).await
            }
        }
    }

    async fn replace_if_held_by(
        &self,
        key: &str,
        record: &Record,
        expected: Option<&str>,
    ) -> Result<bool, StoreError> {
        if !self.primary_up() {
            return self.local.replace_if_held_by(key, record, expected).await;
        }
        match self.primary.replace_if_held_by(key, record, expected).await {
            Ok(done) => Ok(done),
            Err(e) => {
                self.warn("lease", &e);
                self.local.replace_if_held_by(key, record, expected).await
            }
        }
    }

    async fn delete(&self, key: &str) -> Result<(), StoreError> {
        self.local.delete(key).await?;
        if !self.primary_up() {
            return Ok(());
        }
        if let Err(e) = self.primary.delete(key).await {
            self.warn("delete", &e);
        }
        Ok(())
    }

    async fn release(&self, key: &str, holder: &str) -> Result<(), StoreError> {
        self.local.release(key, holder).await?;
        if !self.primary_up() {
            return Ok(());
        }
        if let Err(e) = self.primary.release(key, holder).await {
            self.warn("release", &e);
        }
        Ok(())
    }

    async fn acquire_answer(
        &self,
        key: &str,
        holder: &str,
        until: Timestamp,
        now: Timestamp,
        generation: &str,
    ) -> Result<Conditional, StoreError> {
        if !self.primary_up() {
            return self
                .local
                .acquire_answer(key, holder, until, now, generation)
                .await;
        }
        match self
            .primary
            .acquire_answer(key, holder, until, now, generation)
            .await
        {
            Ok(done) => Ok(done),
            Err(e) => {
                self.warn("lease", &e);
                self.local
                    .acquire_answer(key, holder, until, now, generation)
                    .await
            }
        }
    }

    async fn publish_answer(
        &self,
        key: &str,
        record: &Record,
        holder: &str,
    ) -> Result<Conditional, StoreError> {
        let mut plain = record.clone();
        plain.marks.lease = None;
        if !self.primary_up() {
            // A lease taken on the primary before it failed is not in memory: the answer is
            // kept there all the same (only this process reads it, and only the primary holds
            // the owner's marks).
            return match self.local.publish_answer(key, record, holder).await? {
                Conditional::Done => Ok(Conditional::Done),
                Conditional::Refused(_) => {
                    self.local.put(key, &plain).await?;
                    Ok(Conditional::Done)
                }
            };
        }
        match self.primary.publish_answer(key, record, holder).await {
            Ok(Conditional::Done) => {
                // Keep the local twin current too, so a failover starts from the latest answer.
                self.local.put(key, &plain).await?;
                Ok(Conditional::Done)
            }
            Ok(refused) => Ok(refused),
            Err(e) => {
                self.warn("put", &e);
                self.local.put(key, &plain).await?;
                Ok(Conditional::Done)
            }
        }
    }

    async fn mark_answer(
        &self,
        key: &str,
        mark: &OwnerMark,
        now: Timestamp,
    ) -> Result<(), StoreError> {
        self.local.mark_answer(key, mark, now).await?;
        if !self.primary_up() {
            return Ok(());
        }
        if let Err(e) = self.primary.mark_answer(key, mark, now).await {
            self.warn("put", &e);
        }
        Ok(())
    }

    fn describe(&self) -> String {
        self.primary.describe()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clock::ManualClock;
    use std::sync::atomic::AtomicUsize;

    /// A primary that is down, counting how often it is asked.
    #[derive(Default)]
    struct Down(AtomicUsize);

    #[async_trait]
    impl SharedState for Down {
        async fn get(&self, _: &str) -> Result<Option<Record>, StoreError> {
            Err(self.fail())
        }
        async fn put(&self, _: &str, _: &Record) -> Result<(), StoreError> {
            Err(self.fail())
        }
        async fn acquire(&self, _: &str, _: &Record, _: Timestamp) -> Result<bool, StoreError> {
            Err(self.fail())
        }
        async fn replace_if_held_by(
            &self,
            _: &str,
            _: &Record,
            _: Option<&str>,
        ) -> Result<bool, StoreError> {
            Err(self.fail())
        }
        async fn delete(&self, _: &str) -> Result<(), StoreError> {
            Err(self.fail())
        }
        async fn release(&self, _: &str, _: &str) -> Result<(), StoreError> {
            Err(self.fail())
        }
        async fn acquire_answer(
            &self,
            _: &str,
            _: &str,
            _: Timestamp,
            _: Timestamp,
            _: &str,
        ) -> Result<Conditional, StoreError> {
            Err(self.fail())
        }
        async fn publish_answer(
            &self,
            _: &str,
            _: &Record,
            _: &str,
        ) -> Result<Conditional, StoreError> {
            Err(self.fail())
        }
        async fn mark_answer(
            &self,
            _: &str,
            _: &OwnerMark,
            _: Timestamp,
        ) -> Result<(), StoreError> {
            Err(self.fail())
        }
        fn describe(&self) -> String {
            "down".into()
        }
    }

    impl Down {
        fn fail(&self) -> StoreError {
            self.0.fetch_add(1, Ordering::SeqCst);
            StoreError::Unavailable {
                store: "down".into(),
                reason: "test".into(),
            }
        }
    }

    #[tokio::test]
    async fn reads_say_whether_they_come_from_the_primary_or_from_memory() {
        let clock = ManualClock::at(Timestamp::from_secs(1_000));
        let up = FallbackState::new(Arc::new(MemoryState::new()), Arc::new(clock.clone()));
        assert_eq!(
            up.get_many_with_origin(&["k"]).await.unwrap().1,
            Origin::Store
        );
        let down = FallbackState::new(Arc::new(Down::default()), Arc::new(clock.clone()));
        let r = Record::until("x", Timestamp::from_secs(2_000));
        down.put("k", &r).await.unwrap();
        let (items, origin) = down.get_many_with_origin(&["k", "hidden"]).await.unwrap();
        assert_eq!(origin, Origin::Fallback);
        assert_eq!(items.get("k"), Some(&r));
        assert!(
            !items.contains_key("hidden"),
            "memory never holds what others write"
        );
    }

    #[tokio::test]
    async fn a_failed_primary_is_left_alone_for_a_while_then_probed() {
        let primary = Arc::new(Down::default());
        let clock = ManualClock::at(Timestamp::from_secs(1_000));
        let state = FallbackState::new(primary.clone(), Arc::new(clock.clone()));
        let r = Record::until("x", Timestamp::from_secs(2_000));
        state.put("k", &r).await.unwrap();
        assert_eq!(primary.0.load(Ordering::SeqCst), 1);
        // Served from memory without asking the primary again.
        assert_eq!(state.get("k").await.unwrap(), Some(r.clone()));
        assert!(state.acquire("l", &r, Timestamp::EPOCH).await.unwrap());
        state.release("l", "o").await.unwrap();
        assert_eq!(primary.0.load(Ordering::SeqCst), 1);
        clock.advance(RETRY_PRIMARY_AFTER);
        assert_eq!(state.get("k").await.unwrap(), Some(r));
        assert_eq!(primary.0.load(Ordering::SeqCst), 2, "probed again");
    }
}
