//! In-process twins of the stores: the shared state for a single process, and credentials held
//! in memory (the demo and unit tests).

use std::collections::HashMap;
use std::sync::Mutex;

use async_trait::async_trait;

use super::{CredentialStore, Credentials, Record, SharedState, StoreError};

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

    async fn put_if_expired(
        &self,
        key: &str,
        record: &Record,
        now_ms: u64,
    ) -> Result<bool, StoreError> {
        let mut items = self.items.lock().unwrap();
        let free = match items.get(key) {
            None => true,
            Some(r) => r.expires_at_ms < now_ms || (r.owner.is_some() && r.owner == record.owner),
        };
        if free {
            items.insert(key.to_string(), record.clone());
        }
        Ok(free)
    }

    async fn delete(&self, key: &str) -> Result<(), StoreError> {
        self.items.lock().unwrap().remove(key);
        Ok(())
    }

    async fn delete_if_owner(&self, key: &str, owner: &str) -> Result<(), StoreError> {
        let mut items = self.items.lock().unwrap();
        if items.get(key).and_then(|r| r.owner.as_deref()) == Some(owner) {
            items.remove(key);
        }
        Ok(())
    }

    fn describe(&self) -> String {
        "in-process memory".to_string()
    }
}

/// Credentials held in memory.
#[derive(Debug, Default)]
pub struct MemoryCredentials {
    inner: Mutex<Option<Credentials>>,
}

impl MemoryCredentials {
    pub fn new(credentials: Option<Credentials>) -> Self {
        MemoryCredentials {
            inner: Mutex::new(credentials),
        }
    }
}

#[async_trait]
impl CredentialStore for MemoryCredentials {
    async fn load(&self) -> Result<Option<Credentials>, StoreError> {
        Ok(self.inner.lock().unwrap().clone())
    }

    async fn save(&self, credentials: &Credentials) -> Result<(), StoreError> {
        *self.inner.lock().unwrap() = Some(credentials.clone());
        Ok(())
    }

    fn describe(&self) -> String {
        "memory".to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rec(owner: &str, exp: u64) -> Record {
        Record {
            value: "v".into(),
            expires_at_ms: exp,
            owner: Some(owner.into()),
            ttl_s: 0,
        }
    }

    #[tokio::test]
    async fn lease_semantics() {
        let s = MemoryState::new();
        assert!(s.put_if_expired("l", &rec("a", 100), 0).await.unwrap());
        assert!(!s.put_if_expired("l", &rec("b", 200), 50).await.unwrap());
        assert!(s.put_if_expired("l", &rec("a", 150), 50).await.unwrap());
        assert!(s.put_if_expired("l", &rec("b", 300), 151).await.unwrap());
        s.delete_if_owner("l", "a").await.unwrap();
        assert!(s.get("l").await.unwrap().is_some());
        s.delete_if_owner("l", "b").await.unwrap();
        assert!(s.get("l").await.unwrap().is_none());
    }
}
