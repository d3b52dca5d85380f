//! In-process twins of the stores: the shared state for a single process, and credentials held
//! in memory (the demo and unit tests).

use std::collections::HashMap;
use std::sync::Mutex;

use async_trait::async_trait;

use crate::clock::Timestamp;

use super::{
    Conditional, CredentialStore, Credentials, Marks, OwnerMark, Record, SharedState, StoreError,
    Swap, Versioned, CLEAN_UP_AFTER, KEEP_FOR_GOOD,
};

#[derive(Debug, Default)]
pub struct MemoryState {
    items: Mutex<HashMap<String, Record>>,
}

impl MemoryState {
    pub fn new() -> Self {
        Self::default()
    }
}

#[async_trait]
impl SharedState for MemoryState {
    async fn get(&self, key: &str) -> Result<Option<Record>, StoreError> {
        Ok(self.items.lock().unwrap().get(key).cloned())
    }

    async fn put(&self, key: &str, record: &Record) -> Result<(), StoreError> {
        self.items
            .lock()
            .unwrap()
            .insert(key.to_string(), record.clone());
        Ok(())
    }

    async fn acquire(
        &self,
        key: &str,
        record: &Record,
        now: Timestamp,
    ) -> Result<bool, StoreError> {
        let mut items = self.items.lock().unwrap();
        let free = match items.get(key) {
            None => true,
            Some(r) => {
                (r.expires_at < now && !r.holder.as_deref().is_some_and(super::is_owner_holder))
                    || (r.holder.is_some() && r.holder == record.holder)
            }
        };
        if free {
            items.insert(key.to_string(), record.clone());
        }
        Ok(free)
    }

    async fn replace_if_held_by(
        &self,
        key: &str,
        record: &Record,
        expected: Option<&str>,
    ) -> Result<bool, StoreError> {
        let mut items = self.items.lock().unwrap();
        let held = match (items.get(key), expected) {
            (None, None) => true,
            (Some(r), Some(h)) => r.holder.as_deref() == Some(h),
            _ => false,
        };
        if held {
            items.insert(key.to_string(), record.clone());
        }
        Ok(held)
    }

    async fn delete(&self, key: &str) -> Result<(), StoreError> {
        self.items.lock().unwrap().remove(key);
        Ok(())
    }

    async fn release(&self, key: &str, holder: &str) -> Result<(), StoreError> {
        let mut items = self.items.lock().unwrap();
        if items.get(key).and_then(|r| r.holder.as_deref()) == Some(holder) {
            items.remove(key);
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
        let mut items = self.items.lock().unwrap();
        let current = items.get(key);
        let free = current.is_none_or(|r| {
            let lease_free = r.marks.lease.as_ref().is_none_or(|(_, at)| *at < now);
            let fresh = !r.value.is_empty() && now < r.expires_at;
            let same_sign_in = r
                .marks
                .generation
                .as_deref()
                .is_none_or(|g| g == generation);
            lease_free && !r.marks.hidden && !fresh && same_sign_in
        });
        if !free {
            return Ok(Conditional::Refused(current.cloned()));
        }
        let mut record = current.cloned().unwrap_or_else(|| Record {
            value: String::new(),
            expires_at: Timestamp::EPOCH,
            holder: None,
            delete_after: until + CLEAN_UP_AFTER,
            marks: Marks::default(),
        });
        record.marks.lease = Some((holder.to_string(), until));
        record.marks.generation = Some(generation.to_string());
        items.insert(key.to_string(), record);
        Ok(Conditional::Done)
    }

    async fn publish_answer(
        &self,
        key: &str,
        record: &Record,
        holder: &str,
    ) -> Result<Conditional, StoreError> {
        let mut items = self.items.lock().unwrap();
        let current = items.get(key);
        let held = current
            .and_then(|r| r.marks.lease.as_ref())
            .is_some_and(|(h, _)| h == holder);
        if !held {
            return Ok(Conditional::Refused(current.cloned()));
        }
        let mut record = record.clone();
        record.marks.lease = None;
        record.marks.hidden = false;
        items.insert(key.to_string(), record);
        Ok(Conditional::Done)
    }

    async fn mark_answer(
        &self,
        key: &str,
        mark: &OwnerMark,
        now: Timestamp,
    ) -> Result<(), StoreError> {
        let mut items = self.items.lock().unwrap();
        let marks = items.remove(key).map(|r| r.marks).unwrap_or_default();
        let marks = match mark {
            OwnerMark::Hidden => Marks {
                lease: None,
                hidden: true,
                ..marks
            },
            OwnerMark::Generation(g) => Marks {
                lease: None,
                generation: Some(g.clone()),
                ..marks
            },
        };
        items.insert(
            key.to_string(),
            Record {
                value: String::new(),
                expires_at: Timestamp::EPOCH,
                holder: None,
                delete_after: now + KEEP_FOR_GOOD,
                marks,
            },
        );
        Ok(())
    }

    fn describe(&self) -> String {
        "in-process memory".to_string()
    }
}

/// Credentials held in memory.
#[derive(Debug, Default)]
pub struct MemoryCredentials {
    /// The document and its version (a counter).
    inner: Mutex<(Option<Credentials>, u64)>,
}

impl MemoryCredentials {
    pub fn new(credentials: Option<Credentials>) -> Self {
        MemoryCredentials {
            inner: Mutex::new((credentials, 0)),
        }
    }
}

#[async_trait]
impl CredentialStore for MemoryCredentials {
    async fn load_versioned(&self) -> Result<Option<Versioned>, StoreError> {
        let inner = self.inner.lock().unwrap();
        Ok(inner.0.clone().map(|credentials| Versioned {
            credentials,
            version: inner.1.to_string(),
        }))
    }

    async fn save(&self, credentials: &Credentials) -> Result<(), StoreError> {
        let mut inner = self.inner.lock().unwrap();
        *inner = (Some(credentials.clone()), inner.1 + 1);
        Ok(())
    }

    async fn save_if(&self, credentials: &Credentials, expected: &str) -> Result<Swap, StoreError> {
        let mut inner = self.inner.lock().unwrap();
        if inner.1.to_string() != expected {
            return Ok(Swap::Changed);
        }
        *inner = (Some(credentials.clone()), inner.1 + 1);
        Ok(Swap::Written(inner.1.to_string()))
    }

    fn describe(&self) -> String {
        "memory".to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rec(holder: &str, exp: u64) -> Record {
        Record::lease(holder, Timestamp::from_millis(exp))
    }

    fn at(ms: u64) -> Timestamp {
        Timestamp::from_millis(ms)
    }

    #[tokio::test]
    async fn lease_semantics() {
        let s = MemoryState::new();
        assert!(s.acquire("l", &rec("a", 100), at(0)).await.unwrap());
        assert!(!s.acquire("l", &rec("b", 200), at(50)).await.unwrap());
        assert!(s.acquire("l", &rec("a", 150), at(50)).await.unwrap());
        assert!(s.acquire("l", &rec("b", 300), at(151)).await.unwrap());
        s.release("l", "a").await.unwrap();
        assert!(s.get("l").await.unwrap().is_some());
        s.release("l", "b").await.unwrap();
        assert!(s.get("l").await.unwrap().is_none());
        // By version, whatever the clocks say.
        assert!(s.replace_if_held_by("l", &rec("c", 1), None).await.unwrap());
        assert!(!s.replace_if_held_by("l", &rec("d", 1), None).await.unwrap());
        assert!(!s
            .replace_if_held_by("l", &rec("d", 1), Some("x"))
            .await
            .unwrap());
        assert!(s
            .replace_if_held_by("l", &rec("d", 1), Some("c"))
            .await
            .unwrap());
    }
}
