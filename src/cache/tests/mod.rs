//! The steps of "The answer cache" (docs/architecture.md), one or more tests each, on the memory
//! store with the manual clock: steps 1 to 5 in `lookup`, 6 and 7 and the privacy switch in
//! `refill`. The fetches are closures that count their calls; a fetch fails with a [`Failure`]
//! directly, so these tests need no client's error type.

mod lookup;
mod refill;

use std::future::Future;
use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll, Waker};
use std::time::Duration;

use serde_json::{json, Value};

use super::*;
use crate::clock::{Clock, ManualClock};
use crate::keys::{AUTH_GENERATION_KEY, COOLDOWN_KEY, HIDDEN_KEY};
use crate::store::memory::MemoryState;
use crate::store::Record;

pub(super) const KEY: &str = "answer:now";
pub(super) const TTL: Duration = Duration::from_secs(5);
pub(super) const T0: Timestamp = Timestamp::from_millis(1_800_000_000_000);

pub(super) struct Rig {
    pub state: Arc<MemoryState>,
    pub clock: ManualClock,
    pub cache: AnswerCache,
}

pub(super) fn rig() -> Rig {
    rig_with(|_| {}, None)
}

/// A cache over a fresh memory store at [`T0`], with `tweak` applied to the default settings
/// and the privacy switch in the store (or in `switch_file`).
pub(super) fn rig_with(
    tweak: impl FnOnce(&mut CacheSettings),
    switch_file: Option<PathBuf>,
) -> Rig {
    let state = Arc::new(MemoryState::new());
    let clock = ManualClock::at(T0);
    let mut settings = CacheSettings::with_ttl(TTL);
    // Short, so a test that waits for a holder that never answers is quick.
    settings.wait_for_holder = Duration::from_millis(300);
    tweak(&mut settings);
    let privacy = match switch_file {
        Some(path) => PrivacySwitch::File(path),
        None => PrivacySwitch::Shared(state.clone()),
    };
    let cache = AnswerCache::new(
        state.clone(),
        Arc::new(clock.clone()),
        settings,
        "test-instance".into(),
        privacy,
    );
    Rig {
        state,
        clock,
        cache,
    }
}

pub(super) fn song(name: &str) -> Value {
    json!({ "name": name })
}

/// Runs a future that never waits (the memory store's calls) to its end, from a synchronous
/// callback.
pub(super) fn at_once<F: Future>(f: F) -> F::Output {
    let mut f = std::pin::pin!(f);
    match f.as_mut().poll(&mut Context::from_waker(Waker::noop())) {
        Poll::Ready(v) => v,
        Poll::Pending => panic!("the memory store never waits"),
    }
}

impl Rig {
    /// One request whose fetch answers `value`, counting its calls in `calls`.
    pub(super) async fn get_ok(&self, calls: &AtomicUsize, value: Value) -> Answer {
        self.cache
            .get_or_fetch(KEY, TTL, || async {
                calls.fetch_add(1, Ordering::SeqCst);
                Ok::<_, Failure>(value)
            })
            .await
    }

    /// One request whose fetch fails with `failure`, counting its calls in `calls`.
    pub(super) async fn get_failing(&self, calls: &AtomicUsize, failure: Failure) -> Answer {
        self.cache
            .get_or_fetch(KEY, TTL, || async {
                calls.fetch_add(1, Ordering::SeqCst);
                Err::<Value, _>(failure)
            })
            .await
    }

    /// One request with a fallback: `fetch` fails with `failure`, the fallback answers
    /// `fallback_value`; calls are counted apart.
    pub(super) async fn get_with_fallback(
        &self,
        calls: &AtomicUsize,
        fallback_calls: &AtomicUsize,
        failure: Failure,
        fallback_value: Value,
    ) -> Answer {
        self.cache
            .get_or_fetch_with_fallback(
                KEY,
                TTL,
                || async {
                    calls.fetch_add(1, Ordering::SeqCst);
                    Err::<Value, _>(failure)
                },
                || async {
                    fallback_calls.fetch_add(1, Ordering::SeqCst);
                    Ok(fallback_value)
                },
            )
            .await
    }

    /// Stores an answer as another process would have: read successfully at `good_at`, current
    /// until `fresh_until`.
    pub(super) async fn store_entry(
        &self,
        value: Value,
        good_at: Timestamp,
        fresh_until: Timestamp,
    ) {
        let e = Entry::good(value, good_at);
        self.state
            .put(
                KEY,
                &e.record(fresh_until, good_at, Duration::from_secs(86_400)),
            )
            .await
            .unwrap();
    }

    pub(super) async fn store_cooldown(&self, cooldown: Cooldown, until: Timestamp) {
        self.state
            .put(COOLDOWN_KEY, &cooldown.record(until))
            .await
            .unwrap();
    }

    pub(super) async fn stored(&self) -> StoredAnswer {
        stored_answer(self.state.as_ref(), KEY)
            .await
            .unwrap()
            .expect("an answer is stored")
    }

    pub(super) async fn cooldown(&self) -> Option<(Cooldown, Timestamp)> {
        Cooldown::read(self.state.as_ref()).await
    }
}

pub(super) fn count() -> AtomicUsize {
    AtomicUsize::new(0)
}

pub(super) fn calls(c: &AtomicUsize) -> usize {
    c.load(Ordering::SeqCst)
}

pub(super) fn rate_limited(wait: Duration) -> Failure {
    Failure::RateLimited {
        origin: "Spotify",
        wait,
        quota_exceeded: false,
    }
}
