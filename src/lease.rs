//! A lease in the shared state: who may do one thing (fetch an answer, refresh the token) right
//! now. Each acquisition has its own holder id, which is the lease's version: renewing checks
//! it with a conditional write, so a holder that outlived its lease finds out before it
//! publishes anything (see docs/architecture.md, "Leases").

use std::future::Future;
use std::time::Duration;

use crate::store::{Record, SharedState, StoreError};

/// A lease this process holds. Release it with [`Lease::release`]; a holder that dies releases
/// nothing, and the lease lapses after its duration.
pub struct Lease<'a> {
    state: &'a dyn SharedState,
    key: String,
    holder: String,
    duration_ms: u64,
    expires_at_ms: u64,
    /// Given back already (by [`Lease::publish_and_release`]).
    released: bool,
}

impl std::fmt::Debug for Lease<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Lease")
            .field("key", &self.key)
            .field("holder", &self.holder)
            .field("expires_at_ms", &self.expires_at_ms)
            .finish()
    }
}

/// A new holder id for one acquisition by `instance`: the lease's version.
fn new_holder(instance: &str) -> String {
    format!("{instance}#{:016x}", rand::random::<u64>())
}

impl<'a> Lease<'a> {
    /// Takes the lease under `key` when it is free or lapsed (by the clocks: for processes whose
    /// clocks agree, as Lambda's do). `Ok(None)` when someone else holds it.
    pub async fn acquire(
        state: &'a dyn SharedState,
        key: &str,
        instance: &str,
        duration_ms: u64,
        now_ms: u64,
    ) -> Result<Option<Lease<'a>>, StoreError> {
        let holder = new_holder(instance);
        let until = now_ms + duration_ms;
        let taken = state
            .acquire(key, &Record::lease(holder.clone(), until), now_ms)
            .await?;
        Ok(taken.then(|| Lease {
            state,
            key: key.to_string(),
            holder,
            duration_ms,
            expires_at_ms: until,
            released: false,
        }))
    }

    /// Takes the lease without trusting this machine's clock (the owner's commands, from a
    /// laptop whose clock may be off): free, or held by the same version for longer than
    /// `stuck_after` as measured here. Waits at most `patience`. `Ok(None)` when it stayed busy.
    pub async fn acquire_by_version(
        state: &'a dyn SharedState,
        key: &str,
        instance: &str,
        duration_ms: u64,
        now_ms: impl Fn() -> u64,
        stuck_after: Duration,
        patience: Duration,
    ) -> Result<Option<Lease<'a>>, StoreError> {
        let holder = new_holder(instance);
        let started = tokio::time::Instant::now();
        // The version seen, and since when (this machine's monotonic clock).
        let mut seen: Option<(Option<String>, tokio::time::Instant)> = None;
        loop {
            let current = state.get(key).await?.and_then(|r| r.holder);
            let since = match &seen {
                Some((v, at)) if *v == current => *at,
                _ => tokio::time::Instant::now(),
            };
            seen = Some((current.clone(), since));
            let free = current.is_none() || since.elapsed() >= stuck_after;
            if free {
                let until = now_ms() + duration_ms;
                let record = Record::lease(holder.clone(), until);
                if state
                    .replace_if_held_by(key, &record, current.as_deref())
                    .await?
                {
                    return Ok(Some(Lease {
                        state,
                        key: key.to_string(),
                        holder,
                        duration_ms,
                        expires_at_ms: until,
                        released: false,
                    }));
                }
            }
            if started.elapsed() >= patience {
                return Ok(None);
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }

    /// Extends the lease by its duration from `now_ms`, only if this acquisition still holds it.
    /// `Ok(false)`: it lapsed and someone else took it (or the owner did): publish nothing.
    pub async fn renew(&mut self, now_ms: u64) -> Result<bool, StoreError> {
        let until = now_ms + self.duration_ms;
        let record = Record::lease(self.holder.clone(), until);
        let held = self
            .state
            .replace_if_held_by(&self.key, &record, Some(&self.holder))
            .await?;
        if held {
            self.expires_at_ms = until;
        }
        Ok(held)
    }

    /// Epoch ms at which the lease lapses unless renewed.
    pub fn expires_at_ms(&self) -> u64 {
        self.expires_at_ms
    }

    /// This acquisition's id (the lease's version).
    pub fn holder(&self) -> &str {
        &self.holder
    }

    /// Writes `record` under `key` and gives the lease back in one call, only while this
    /// acquisition still holds it: publishing fenced by the lease's version. `Ok(false)`: the
    /// lease changed hands and nothing was written.
    pub async fn publish_and_release(
        &mut self,
        key: &str,
        record: &Record,
    ) -> Result<bool, StoreError> {
        let written = self
            .state
            .put_if_held_and_release(key, record, &self.key, &self.holder)
            .await?;
        self.released = true;
        Ok(written)
    }

    /// Gives the lease back (only if this acquisition still holds it). A failed release is
    /// harmless: the lease lapses by itself.
    pub async fn release(self) {
        if self.released {
            return;
        }
        if let Err(e) = self.state.release(&self.key, &self.holder).await {
            tracing::debug!(key = %self.key, error = %e, "could not release a lease; it lapses by itself");
        }
    }
}

/// Polls `probe` every 100 ms until it gives a value or `patience` runs out: how a process
/// without the lease waits for what the holder publishes.
pub async fn wait_for_holder<T, F, Fut>(patience: Duration, mut probe: F) -> Option<T>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Option<T>>,
{
    let deadline = tokio::time::Instant::now() + patience;
    loop {
        tokio::time::sleep(Duration::from_millis(100)).await;
        if let Some(v) = probe().await {
            return Some(v);
        }
        if tokio::time::Instant::now() >= deadline {
            return None;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::memory::MemoryState;

    #[tokio::test]
    async fn a_lapsed_holder_cannot_renew_after_another_took_over() {
        let state = MemoryState::new();
        let mut late = Lease::acquire(&state, "lease:x", "a", 1_000, 0)
            .await
            .unwrap()
            .unwrap();
        assert!(Lease::acquire(&state, "lease:x", "b", 1_000, 500)
            .await
            .unwrap()
            .is_none());
        let next = Lease::acquire(&state, "lease:x", "b", 1_000, 1_001)
            .await
            .unwrap()
            .unwrap();
        assert!(!late.renew(1_100).await.unwrap(), "the version changed");
        next.release().await;
        // Even with the item gone, the late holder's version is not the current one.
        assert!(!late.renew(1_200).await.unwrap());
        late.release().await;
    }

    #[tokio::test]
    async fn a_renewed_lease_is_the_same_version_and_lasts_longer() {
        let state = MemoryState::new();
        let mut lease = Lease::acquire(&state, "lease:x", "a", 1_000, 0)
            .await
            .unwrap()
            .unwrap();
        assert!(lease.renew(900).await.unwrap());
        assert_eq!(lease.expires_at_ms(), 1_900);
        assert!(Lease::acquire(&state, "lease:x", "b", 1_000, 1_500)
            .await
            .unwrap()
            .is_none());
    }

    #[tokio::test]
    async fn publishing_is_fenced_by_the_version() {
        let state = MemoryState::new();
        let mut lease = Lease::acquire(&state, "lease:x", "a", 1_000, 0)
            .await
            .unwrap()
            .unwrap();
        assert!(lease
            .publish_and_release("k", &Record::until("v1", 5))
            .await
            .unwrap());
        assert_eq!(state.get("k").await.unwrap().unwrap().value, "v1");
        assert!(state.get("lease:x").await.unwrap().is_none(), "given back");
        // A holder whose lease lapsed and was taken over publishes nothing.
        let mut late = Lease::acquire(&state, "lease:x", "a", 1_000, 0)
            .await
            .unwrap()
            .unwrap();
        let next = Lease::acquire(&state, "lease:x", "b", 1_000, 2_000)
            .await
            .unwrap()
            .unwrap();
        assert!(!late
            .publish_and_release("k", &Record::until("v2", 5))
            .await
            .unwrap());
        assert_eq!(state.get("k").await.unwrap().unwrap().value, "v1");
        assert!(
            state.get("lease:x").await.unwrap().is_some(),
            "not the late holder's to give back"
        );
        next.release().await;
    }

    #[tokio::test]
    async fn by_version_ignores_a_clock_that_is_far_ahead() {
        let state = MemoryState::new();
        let held = Lease::acquire(&state, "lease:x", "svc", 60_000, 0)
            .await
            .unwrap()
            .unwrap();
        // A laptop an hour ahead: by the clocks the lease lapsed long ago, but its version is
        // live for less than `stuck_after`, so the command waits and gives up.
        let got = Lease::acquire_by_version(
            &state,
            "lease:x",
            "laptop",
            1_000,
            || 3_600_000,
            Duration::from_secs(5),
            Duration::from_millis(300),
        )
        .await
        .unwrap();
        assert!(got.is_none());
        held.release().await;
        let got = Lease::acquire_by_version(
            &state,
            "lease:x",
            "laptop",
            1_000,
            || 3_600_000,
            Duration::from_secs(5),
            Duration::from_millis(300),
        )
        .await
        .unwrap();
        assert!(got.is_some(), "free once released");
    }
}
