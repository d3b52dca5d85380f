//! A lease in the shared state: who may do one thing (fetch an answer, refresh the token) right
//! now. The stored holder is the lease's version: the acquisition's own id and a renewal count,
//! so every renewal is a new version that others can see. Renewing checks the version with a
//! conditional write, so a holder that outlived its lease finds out before it publishes
//! anything (see docs/architecture.md, "Leases"). An answer's fetch lease, [`AnswerLease`],
//! lives on the answer's own item instead, so that taking it and publishing under it are one
//! conditional write each (docs/architecture.md, "The answer cache").

use std::future::Future;
use std::time::Duration;

use crate::clock::Timestamp;
use crate::store::{Conditional, Record, SharedState, StoreError};

/// A lease this process holds. Release it with [`Lease::release`]; a holder that dies releases
/// nothing, and the lease lapses after its duration.
pub struct Lease<'a> {
    state: &'a dyn SharedState,
    key: String,
    /// This acquisition's id (`<instance>#<random>`).
    id: String,
    /// Renewals so far: the stored holder is `<id>.<renewals>`.
    renewals: u32,
    /// The version as stored now (`<id>.<renewals>`).
    holder: String,
    duration: Duration,
    expires_at: Timestamp,
    /// Given back already (by [`Lease::publish_and_release`]).
    released: bool,
}

impl std::fmt::Debug for Lease<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Lease")
            .field("key", &self.key)
            .field("holder", &self.holder)
            .field("expires_at", &self.expires_at)
            .finish()
    }
}

/// A new id for one acquisition by `instance`.
fn new_id(instance: &str) -> String {
    format!("{instance}#{:016x}", rand::random::<u64>())
}

/// The stored version of acquisition `id` after `renewals` renewals.
fn version(id: &str, renewals: u32) -> String {
    format!("{id}.{renewals}")
}

/// Tells a live holder from a dead one by its version alone: a version seen unchanged for longer
/// than `stuck_after` on this machine's monotonic clock is stuck (a live holder renews, and every
/// renewal is a new version). No clock is compared with another machine's.
#[derive(Debug)]
pub struct VersionWatch {
    stuck_after: Duration,
    seen: Option<(Option<String>, tokio::time::Instant)>,
}

impl VersionWatch {
    pub fn new(stuck_after: Duration) -> Self {
        VersionWatch {
            stuck_after,
            seen: None,
        }
    }

    /// Notes the version read now (`None`: no lease); whether it is free or stuck.
    pub fn free_or_stuck(&mut self, current: Option<&str>) -> bool {
        let now = tokio::time::Instant::now();
        let since = match &self.seen {
            Some((v, at)) if v.as_deref() == current => *at,
            _ => now,
        };
        self.seen = Some((current.map(str::to_string), since));
        current.is_none() || now.duration_since(since) >= self.stuck_after
    }
}

impl<'a> Lease<'a> {
    /// Takes the lease under `key` when it is free or lapsed (by the clocks: for processes whose
    /// clocks agree, as Lambda's do). `Ok(None)` when someone else holds it.
    pub async fn acquire(
        state: &'a dyn SharedState,
        key: &str,
        instance: &str,
        duration: Duration,
        now: Timestamp,
    ) -> Result<Option<Lease<'a>>, StoreError> {
        let lease = Lease::new(state, key, instance, duration, now);
        let taken = state
            .acquire(
                key,
                &Record::lease(lease.holder.clone(), lease.expires_at),
                now,
            )
            .await?;
        Ok(taken.then_some(lease))
    }

    fn new(
        state: &'a dyn SharedState,
        key: &str,
        instance: &str,
        duration: Duration,
        now: Timestamp,
    ) -> Lease<'a> {
        let id = new_id(instance);
        Lease {
            state,
            key: key.to_string(),
            holder: version(&id, 0),
            id,
            renewals: 0,
            duration,
            expires_at: now + duration,
            released: false,
        }
    }

    /// Takes the lease from `current` (the version read, `None`: no item) by version, whatever
    /// the clocks say: after a [`VersionWatch`] found it free or stuck. `Ok(None)`: it changed.
    pub async fn take_over(
        state: &'a dyn SharedState,
        key: &str,
        instance: &str,
        duration: Duration,
        now: Timestamp,
        current: Option<&str>,
    ) -> Result<Option<Lease<'a>>, StoreError> {
        let lease = Lease::new(state, key, instance, duration, now);
        let mut record = Record::lease(lease.holder.clone(), lease.expires_at);
        // Kept a day past a laptop's idea of its expiry: the store's clean-up must not remove a
        // live command's lease because that laptop's clock is behind.
        record.delete_after = record.delete_after + Duration::from_secs(24 * 3600);
        let taken = state.replace_if_held_by(key, &record, current).await?;
        Ok(taken.then_some(lease))
    }

    /// Takes the lease without trusting this machine's clock (the owner's commands, from a
    /// laptop whose clock may be off): free, or held by the same version for longer than
    /// `stuck_after` as measured here. Waits at most `patience`. `Ok(None)` when it stayed busy.
    pub async fn acquire_by_version(
        state: &'a dyn SharedState,
        key: &str,
        instance: &str,
        duration: Duration,
        now: impl Fn() -> Timestamp,
        stuck_after: Duration,
        patience: Duration,
    ) -> Result<Option<Lease<'a>>, StoreError> {
        let started = tokio::time::Instant::now();
        let mut watch = VersionWatch::new(stuck_after);
        loop {
            let current = state.get(key).await?.and_then(|r| r.holder);
            if watch.free_or_stuck(current.as_deref()) {
                let lease =
                    Lease::take_over(state, key, instance, duration, now(), current.as_deref())
                        .await?;
                if lease.is_some() {
                    return Ok(lease);
                }
            }
            if started.elapsed() >= patience {
                return Ok(None);
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }

    /// Extends the lease by its duration from `now`, only if this acquisition still holds it,
    /// as a new version (the renewal count goes up, so the owner's commands see it is alive).
    /// `Ok(false)`: it lapsed and someone else took it (or the owner did): publish nothing.
    pub async fn renew(&mut self, now: Timestamp) -> Result<bool, StoreError> {
        let until = now + self.duration;
        let next = version(&self.id, self.renewals + 1);
        let record = Record::lease(next.clone(), until);
        let held = self
            .state
            .replace_if_held_by(&self.key, &record, Some(&self.holder))
            .await?;
        if held {
            self.renewals += 1;
            self.holder = next;
            self.expires_at = until;
        }
        Ok(held)
    }

    /// Leaves the lease to lapse by itself instead of giving it back: while the newest refresh
    /// token is only in this process, nobody else may refresh before this lease runs out.
    pub fn keep(&mut self) {
        self.released = true;
    }

    /// The moment the lease lapses unless renewed.
    pub fn expires_at(&self) -> Timestamp {
        self.expires_at
    }

    /// The lease's version as stored now.
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

/// The fetch lease of one answer, kept on the answer's own item. Taking it is one conditional
/// write that also finds out whether the page is hidden, a fresh answer is already there, or
/// another sign-in stamped the item; publishing gives it back in the same write, which succeeds
/// only while this holder holds it. There is no release of its own: a holder publishes (an
/// answer, or nothing to show), and a dead one's lease lapses.
pub struct AnswerLease<'a> {
    state: &'a dyn SharedState,
    key: String,
    holder: String,
}

impl std::fmt::Debug for AnswerLease<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AnswerLease")
            .field("key", &self.key)
            .field("holder", &self.holder)
            .finish()
    }
}

impl<'a> AnswerLease<'a> {
    /// Takes the lease on the answer item `key` until `now + duration`, stamping the item with
    /// the sign-in `generation` the caller read. `Ok(Err(item))`: refused, with the item as it
    /// is (see [`SharedState::acquire_answer`]).
    pub async fn acquire(
        state: &'a dyn SharedState,
        key: &str,
        instance: &str,
        duration: Duration,
        now: Timestamp,
        generation: &str,
    ) -> Result<Result<AnswerLease<'a>, Option<Record>>, StoreError> {
        let holder = version(&new_id(instance), 0);
        let until = now + duration;
        match state
            .acquire_answer(key, &holder, until, now, generation)
            .await?
        {
            Conditional::Done => Ok(Ok(AnswerLease {
                state,
                key: key.to_string(),
                holder,
            })),
            Conditional::Refused(item) => Ok(Err(item)),
        }
    }

    /// The lease's holder as stored.
    pub fn holder(&self) -> &str {
        &self.holder
    }

    /// Writes `record` as the answer and gives the lease back, in one write that succeeds only
    /// while this holder holds the lease.
    pub async fn publish(self, record: &Record) -> Result<Conditional, StoreError> {
        self.state
            .publish_answer(&self.key, record, &self.holder)
            .await
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

    fn at(millis: u64) -> Timestamp {
        Timestamp::from_millis(millis)
    }

    fn ms(millis: u64) -> Duration {
        Duration::from_millis(millis)
    }

    #[tokio::test]
    async fn a_lapsed_holder_cannot_renew_after_another_took_over() {
        let state = MemoryState::new();
        let mut late = Lease::acquire(&state, "lease:x", "a", ms(1_000), at(0))
            .await
            .unwrap()
            .unwrap();
        assert!(Lease::acquire(&state, "lease:x", "b", ms(1_000), at(500))
            .await
            .unwrap()
            .is_none());
        let next = Lease::acquire(&state, "lease:x", "b", ms(1_000), at(1_001))
            .await
            .unwrap()
            .unwrap();
        assert!(!late.renew(at(1_100)).await.unwrap(), "the version changed");
        next.release().await;
        // Even with the item gone, the late holder's version is not the current one.
        assert!(!late.renew(at(1_200)).await.unwrap());
        late.release().await;
    }

    #[tokio::test]
    async fn a_renewed_lease_is_the_same_version_and_lasts_longer() {
        let state = MemoryState::new();
        let mut lease = Lease::acquire(&state, "lease:x", "a", ms(1_000), at(0))
            .await
            .unwrap()
            .unwrap();
        assert!(lease.renew(at(900)).await.unwrap());
        assert_eq!(lease.expires_at(), at(1_900));
        assert!(Lease::acquire(&state, "lease:x", "b", ms(1_000), at(1_500))
            .await
            .unwrap()
            .is_none());
    }

    #[tokio::test]
    async fn publishing_is_fenced_by_the_version() {
        let state = MemoryState::new();
        let mut lease = Lease::acquire(&state, "lease:x", "a", ms(1_000), at(0))
            .await
            .unwrap()
            .unwrap();
        assert!(lease
            .publish_and_release("k", &Record::until("v1", at(5)))
            .await
            .unwrap());
        assert_eq!(state.get("k").await.unwrap().unwrap().value, "v1");
        assert!(state.get("lease:x").await.unwrap().is_none(), "given back");
        // A holder whose lease lapsed and was taken over publishes nothing.
        let mut late = Lease::acquire(&state, "lease:x", "a", ms(1_000), at(0))
            .await
            .unwrap()
            .unwrap();
        let next = Lease::acquire(&state, "lease:x", "b", ms(1_000), at(2_000))
            .await
            .unwrap()
            .unwrap();
        assert!(!late
            .publish_and_release("k", &Record::until("v2", at(5)))
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
        let held = Lease::acquire(&state, "lease:x", "svc", ms(60_000), at(0))
            .await
            .unwrap()
            .unwrap();
        // A laptop an hour ahead: by the clocks the lease lapsed long ago, but its version is
        // live for less than `stuck_after`, so the command waits and gives up.
        let got = Lease::acquire_by_version(
            &state,
            "lease:x",
            "laptop",
            ms(1_000),
            || at(3_600_000),
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
            ms(1_000),
            || at(3_600_000),
            Duration::from_secs(5),
            Duration::from_millis(300),
        )
        .await
        .unwrap();
        assert!(got.is_some(), "free once released");
    }
}
