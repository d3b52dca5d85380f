//! The steps of "The answer cache" (docs/architecture.md), one or more tests each, on the memory
//! store with the manual clock. The fetches are closures that count their calls; a fetch fails
//! with a [`Failure`] directly, so these tests need no client's error type.

use std::future::Future;
use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll, Waker};
use std::time::Duration;

use serde_json::{json, Value};

use super::*;
use crate::clock::{Clock, ManualClock};
use crate::keys::{lease_key, AUTH_GENERATION_KEY, COOLDOWN_KEY, HIDDEN_KEY};
use crate::store::memory::MemoryState;
use crate::store::Record;

const KEY: &str = "answer:now";
const TTL: Duration = Duration::from_secs(5);
const T0: Timestamp = Timestamp::from_millis(1_800_000_000_000);

struct Rig {
    state: Arc<MemoryState>,
    clock: ManualClock,
    cache: AnswerCache,
}

fn rig() -> Rig {
    rig_with(|_| {}, None)
}

/// A cache over a fresh memory store at [`T0`], with `tweak` applied to the default settings
/// and the privacy switch in the store (or in `switch_file`).
fn rig_with(tweak: impl FnOnce(&mut CacheSettings), switch_file: Option<PathBuf>) -> Rig {
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

fn song(name: &str) -> Value {
    json!({ "name": name })
}

/// Runs a future that never waits (the memory store's calls) to its end, from a synchronous
/// callback.
fn at_once<F: Future>(f: F) -> F::Output {
    let mut f = std::pin::pin!(f);
    match f.as_mut().poll(&mut Context::from_waker(Waker::noop())) {
        Poll::Ready(v) => v,
        Poll::Pending => panic!("the memory store never waits"),
    }
}

impl Rig {
    /// One request whose fetch answers `value`, counting its calls in `calls`.
    async fn get_ok(&self, calls: &AtomicUsize, value: Value) -> Answer {
        self.cache
            .get_or_fetch(KEY, TTL, || async {
                calls.fetch_add(1, Ordering::SeqCst);
                Ok::<_, Failure>(value)
            })
            .await
    }

    /// One request whose fetch fails with `failure`, counting its calls in `calls`.
    async fn get_failing(&self, calls: &AtomicUsize, failure: Failure) -> Answer {
        self.cache
            .get_or_fetch(KEY, TTL, || async {
                calls.fetch_add(1, Ordering::SeqCst);
                Err::<Value, _>(failure)
            })
            .await
    }

    /// One request with a fallback: `fetch` fails with `failure`, the fallback answers
    /// `fallback_value`; calls are counted apart.
    async fn get_with_fallback(
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
    async fn store_entry(&self, value: Value, good_at: Timestamp, fresh_until: Timestamp) {
        let e = Entry::good(value, good_at);
        self.state
            .put(
                KEY,
                &e.record(fresh_until, good_at, Duration::from_secs(86_400)),
            )
            .await
            .unwrap();
    }

    async fn store_cooldown(&self, cooldown: Cooldown, until: Timestamp) {
        self.state
            .put(COOLDOWN_KEY, &cooldown.record(until))
            .await
            .unwrap();
    }

    async fn stored(&self) -> StoredAnswer {
        stored_answer(self.state.as_ref(), KEY)
            .await
            .unwrap()
            .expect("an answer is stored")
    }

    async fn cooldown(&self) -> Option<(Cooldown, Timestamp)> {
        Cooldown::read(self.state.as_ref()).await
    }
}

fn count() -> AtomicUsize {
    AtomicUsize::new(0)
}

fn calls(c: &AtomicUsize) -> usize {
    c.load(Ordering::SeqCst)
}

fn rate_limited(wait: Duration) -> Failure {
    Failure::RateLimited {
        origin: "Spotify",
        wait,
        quota_exceeded: false,
    }
}

// Step 1: in memory.

#[tokio::test]
async fn step_1_a_fresh_answer_in_memory_is_served_without_asking_the_shared_state() {
    let r = rig();
    let n = count();
    let first = r.get_ok(&n, song("A")).await;
    assert_eq!((first.value.clone(), first.stale), (song("A"), false));
    assert_eq!(first.fresh_until, T0 + TTL);
    assert_eq!(first.window, TTL);
    // The table forgets it (as `disconnect` would); this process still serves it in the window.
    r.state.delete(KEY).await.unwrap();
    r.clock.advance(TTL - Duration::from_millis(1));
    let again = r.get_ok(&n, song("B")).await;
    assert_eq!(again.value, song("A"));
    assert_eq!(again.served_at, T0 + TTL - Duration::from_millis(1));
    assert_eq!(calls(&n), 1);
    // At the window's end it asks again.
    r.clock.advance(Duration::from_millis(1));
    assert_eq!(r.get_ok(&n, song("B")).await.value, song("B"));
    assert_eq!(calls(&n), 2);
}

#[tokio::test]
async fn step_1_memory_keeps_a_longer_window_for_one_api_window_only() {
    let r = rig();
    let n = count();
    let list_window = Duration::from_secs(3600);
    let fetch = |name: &'static str| {
        let n = &n;
        move || async move {
            n.fetch_add(1, Ordering::SeqCst);
            Ok::<_, Failure>(song(name))
        }
    };
    let first = r.cache.get_or_fetch(KEY, list_window, fetch("A")).await;
    assert_eq!(first.fresh_until, T0 + list_window);
    // After one `/api/spotify` window the process asks the table again, which no longer has
    // it (the owner ran `disconnect`): the list is fetched anew.
    r.state.delete(KEY).await.unwrap();
    r.clock.advance(TTL);
    let second = r.cache.get_or_fetch(KEY, list_window, fetch("B")).await;
    assert_eq!(second.value, song("B"));
    assert_eq!(calls(&n), 2);
}

// Step 2: single flight inside the process.

#[tokio::test]
async fn step_2_concurrent_requests_of_one_process_make_one_fetch() {
    let r = rig();
    let n = count();
    let slow = || async {
        n.fetch_add(1, Ordering::SeqCst);
        tokio::time::sleep(Duration::from_millis(50)).await;
        Ok::<_, Failure>(song("A"))
    };
    let (a, b, c) = tokio::join!(
        r.cache.get_or_fetch(KEY, TTL, slow),
        r.cache.get_or_fetch(KEY, TTL, slow),
        r.cache.get_or_fetch(KEY, TTL, slow),
    );
    assert_eq!(calls(&n), 1);
    for answer in [a, b, c] {
        assert_eq!(answer.value, song("A"));
    }
}

// Step 3: one read; a fresh copy in the shared state.

#[tokio::test]
async fn step_3_a_fresh_copy_in_the_table_is_served_and_the_generation_handed_on() {
    let state = Arc::new(MemoryState::new());
    let clock = ManualClock::at(T0);
    let seen = Arc::new(std::sync::Mutex::new(Vec::new()));
    let told = seen.clone();
    let cache = AnswerCache::new(
        state.clone(),
        Arc::new(clock.clone()),
        CacheSettings::with_ttl(TTL),
        "test-instance".into(),
        PrivacySwitch::Shared(state.clone()),
    )
    .observing_generation(move |g| told.lock().unwrap().push(g));
    let fresh_until = T0 + Duration::from_secs(3);
    let e = Entry::good(song("Theirs"), T0 - Duration::from_secs(2));
    state
        .put(KEY, &e.record(fresh_until, T0, Duration::from_secs(60)))
        .await
        .unwrap();
    state
        .put(AUTH_GENERATION_KEY, &Record::permanent("gen-7", T0))
        .await
        .unwrap();
    let n = count();
    let answer = cache
        .get_or_fetch(KEY, TTL, || async {
            n.fetch_add(1, Ordering::SeqCst);
            Ok::<_, Failure>(song("Ours"))
        })
        .await;
    assert_eq!(answer.value, song("Theirs"));
    assert_eq!(answer.fresh_until, fresh_until);
    assert_eq!(calls(&n), 0);
    assert_eq!(*seen.lock().unwrap(), vec![Some("gen-7".to_string())]);
    // It is kept in memory: the next request reads nothing (the generation is not read again).
    cache
        .get_or_fetch(KEY, TTL, || async { Ok::<_, Failure>(song("Ours")) })
        .await;
    assert_eq!(seen.lock().unwrap().len(), 1);
}

// Step 4: a shared cooldown.

#[tokio::test]
async fn step_4_during_a_cooldown_the_last_good_answer_is_served_stale_without_a_call() {
    let r = rig();
    let n = count();
    r.store_entry(
        song("Old"),
        T0 - Duration::from_secs(60),
        T0 - Duration::from_secs(1),
    )
    .await;
    let until = T0 + Duration::from_secs(2);
    r.store_cooldown(Cooldown::Unauthorized { streak: 1 }, until)
        .await;
    let answer = r.get_ok(&n, song("New")).await;
    assert_eq!(calls(&n), 0);
    assert_eq!((answer.value, answer.stale), (song("Old"), true));
    // Its window ends with the cooldown, not one window later.
    assert_eq!(answer.fresh_until, until);
    assert!(r.stored().await.stale);
    // After the cooldown, the source is asked again.
    r.clock.set(until);
    assert_eq!(r.get_ok(&n, song("New")).await.value, song("New"));
    assert_eq!(calls(&n), 1);
}

#[tokio::test]
async fn step_4_during_a_cooldown_with_no_copy_the_answer_is_null() {
    let r = rig();
    let n = count();
    r.store_cooldown(
        Cooldown::RateLimited {
            quota_exceeded: false,
        },
        T0 + Duration::from_secs(60),
    )
    .await;
    let answer = r.get_ok(&n, song("New")).await;
    assert_eq!((answer.value, calls(&n)), (Value::Null, 0));
    assert_eq!(answer.fresh_until, T0 + TTL);
}

#[tokio::test]
async fn step_4_the_fallback_fills_a_cooling_window_only_when_no_stale_answer_is_left() {
    let r = rig();
    let (n, fb) = (count(), count());
    r.store_cooldown(
        Cooldown::RateLimited {
            quota_exceeded: false,
        },
        T0 + Duration::from_secs(60),
    )
    .await;
    // No copy: the fallback answers, marked as the fallback's, and the source is not asked.
    let a = r
        .get_with_fallback(&n, &fb, Failure::Transient, song("From Last.fm"))
        .await;
    assert_eq!(
        (a.value, calls(&n), calls(&fb)),
        (song("From Last.fm"), 0, 1)
    );
    assert!(!a.stale);
    assert_eq!(r.stored().await.value, song("From Last.fm"));
    // The next window asks the fallback again (its answer is not the last good one of Spotify).
    r.clock.advance(TTL);
    r.get_with_fallback(&n, &fb, Failure::Transient, song("From Last.fm"))
        .await;
    assert_eq!((calls(&n), calls(&fb)), (0, 2));

    // A stale answer of the source itself is served instead of asking the fallback.
    let r = rig();
    let (n, fb) = (count(), count());
    r.store_entry(
        song("Old"),
        T0 - Duration::from_secs(60),
        T0 - Duration::from_secs(1),
    )
    .await;
    r.store_cooldown(
        Cooldown::RateLimited {
            quota_exceeded: false,
        },
        T0 + Duration::from_secs(60),
    )
    .await;
    let a = r
        .get_with_fallback(&n, &fb, Failure::Transient, song("From Last.fm"))
        .await;
    assert_eq!((a.value, a.stale), (song("Old"), true));
    assert_eq!((calls(&n), calls(&fb)), (0, 0));
}

#[tokio::test]
async fn step_4_a_premium_cooldown_is_filled_by_the_fallback_at_once() {
    let r = rig();
    let (n, fb) = (count(), count());
    r.store_entry(
        song("Old"),
        T0 - Duration::from_secs(60),
        T0 - Duration::from_secs(1),
    )
    .await;
    let until = T0 + Duration::from_secs(600);
    r.store_cooldown(Cooldown::PremiumRequired { step: 1 }, until)
        .await;
    let a = r
        .get_with_fallback(&n, &fb, Failure::Transient, song("From Last.fm"))
        .await;
    assert_eq!((a.value, a.stale), (song("From Last.fm"), false));
    assert_eq!((calls(&n), calls(&fb)), (0, 1));
    // The fallback's answer ends no cooldown.
    assert_eq!(
        r.cooldown().await,
        Some((Cooldown::PremiumRequired { step: 1 }, until))
    );
}

#[tokio::test]
async fn step_4_a_failing_fallback_changes_no_cooldown() {
    let r = rig();
    let (n, fb) = (count(), count());
    let until = T0 + Duration::from_secs(30);
    r.store_cooldown(
        Cooldown::RateLimited {
            quota_exceeded: false,
        },
        until,
    )
    .await;
    let a = r
        .cache
        .get_or_fetch_with_fallback(
            KEY,
            TTL,
            || async {
                n.fetch_add(1, Ordering::SeqCst);
                Ok::<_, Failure>(song("Spotify"))
            },
            || async {
                fb.fetch_add(1, Ordering::SeqCst);
                Err(rate_limited(Duration::from_secs(900)))
            },
        )
        .await;
    assert_eq!((a.value, calls(&n), calls(&fb)), (Value::Null, 0, 1));
    assert_eq!(
        r.cooldown().await,
        Some((
            Cooldown::RateLimited {
                quota_exceeded: false
            },
            until
        ))
    );
}

// Step 5: the key's lease; another holder.

#[tokio::test]
async fn step_5_while_another_process_holds_the_lease_the_stale_copy_is_served_at_once() {
    let r = rig();
    let n = count();
    r.store_entry(
        song("Old"),
        T0 - Duration::from_secs(10),
        T0 - Duration::from_secs(1),
    )
    .await;
    let theirs = Lease::acquire(
        r.state.as_ref(),
        &lease_key(KEY),
        "other",
        Duration::from_secs(5),
        T0,
    )
    .await
    .unwrap()
    .expect("the lease is free");
    let answer = r.get_ok(&n, song("New")).await;
    assert_eq!(calls(&n), 0);
    assert_eq!(answer.value, song("Old"));
    drop(theirs);
}

#[tokio::test]
async fn step_5_with_no_copy_the_holders_answer_is_waited_for() {
    let r = rig_with(|s| s.wait_for_holder = Duration::from_secs(2), None);
    let n = count();
    let _theirs = Lease::acquire(
        r.state.as_ref(),
        &lease_key(KEY),
        "other",
        Duration::from_secs(5),
        T0,
    )
    .await
    .unwrap()
    .expect("the lease is free");
    let holder = async {
        tokio::time::sleep(Duration::from_millis(150)).await;
        r.store_entry(song("Theirs"), T0, T0 + TTL).await;
    };
    let (answer, ()) = tokio::join!(r.get_ok(&n, song("Ours")), holder);
    assert_eq!((answer.value, calls(&n)), (song("Theirs"), 0));
}

#[tokio::test]
async fn step_5_a_holder_that_never_answers_leaves_null() {
    let r = rig();
    let n = count();
    let _theirs = Lease::acquire(
        r.state.as_ref(),
        &lease_key(KEY),
        "other",
        Duration::from_secs(5),
        T0,
    )
    .await
    .unwrap()
    .expect("the lease is free");
    let answer = r.get_ok(&n, song("Ours")).await;
    assert_eq!((answer.value, calls(&n)), (Value::Null, 0));
}

#[tokio::test]
async fn step_5_a_lapsed_lease_is_taken() {
    let r = rig();
    let n = count();
    let _dead = Lease::acquire(
        r.state.as_ref(),
        &lease_key(KEY),
        "other",
        Duration::from_secs(5),
        T0 - Duration::from_secs(6),
    )
    .await
    .unwrap()
    .expect("the lease is free");
    assert_eq!(r.get_ok(&n, song("Ours")).await.value, song("Ours"));
    assert_eq!(calls(&n), 1);
}

// Step 6: under the lease.

#[tokio::test]
async fn step_6_the_answer_is_published_for_one_window_and_the_lease_given_back() {
    let r = rig();
    let n = count();
    r.get_ok(&n, song("A")).await;
    let stored = r.stored().await;
    assert_eq!(stored.value, song("A"));
    assert_eq!(stored.good_at, T0);
    assert_eq!(stored.fresh_until, T0 + TTL);
    assert!(!stored.stale);
    assert!(r.state.get(&lease_key(KEY)).await.unwrap().is_none());
    // Kept for stale use past its window (the store's clean-up attribute).
    let record = r.state.get(KEY).await.unwrap().unwrap();
    assert_eq!(record.delete_after, T0 + Duration::from_secs(24 * 3600));
}

#[tokio::test]
async fn step_6_what_the_previous_holder_just_published_is_served_instead_of_a_fetch() {
    let state = Arc::new(MemoryState::new());
    let clock = ManualClock::at(T0);
    let writer = state.clone();
    // The previous holder publishes between this miss's read and its lease.
    let cache = AnswerCache::new(
        state.clone(),
        Arc::new(clock.clone()),
        CacheSettings::with_ttl(TTL),
        "test-instance".into(),
        PrivacySwitch::Shared(state.clone()),
    )
    .observing_generation(move |_| {
        let e = Entry::good(song("Theirs"), T0);
        at_once(writer.put(KEY, &e.record(T0 + TTL, T0, Duration::from_secs(60)))).unwrap();
    });
    let n = count();
    let answer = cache
        .get_or_fetch(KEY, TTL, || async {
            n.fetch_add(1, Ordering::SeqCst);
            Ok::<_, Failure>(song("Ours"))
        })
        .await;
    assert_eq!((answer.value, calls(&n)), (song("Theirs"), 0));
    assert!(state.get(&lease_key(KEY)).await.unwrap().is_none());
}

#[tokio::test]
async fn step_6_an_answer_fetched_while_hide_ran_is_never_published() {
    let r = rig();
    let answer = r
        .cache
        .get_or_fetch(KEY, TTL, || async {
            // `hide` runs during the fetch.
            r.state
                .put(HIDDEN_KEY, &Record::permanent("true", T0))
                .await
                .unwrap();
            Ok::<_, Failure>(song("Secret"))
        })
        .await;
    assert_eq!(answer.value, Value::Null);
    assert!(r.state.get(KEY).await.unwrap().is_none());
}

#[tokio::test]
async fn step_6_the_local_switch_is_asked_before_and_after_the_fetch() {
    let dir = tempfile::tempdir().unwrap();
    let switch = dir.path().join("hidden");
    let r = rig_with(|_| {}, Some(switch.clone()));
    let n = count();
    let answer = r
        .cache
        .get_or_fetch(KEY, TTL, || async {
            n.fetch_add(1, Ordering::SeqCst);
            std::fs::write(&switch, "").unwrap();
            Ok::<_, Failure>(song("Secret"))
        })
        .await;
    assert_eq!((answer.value, calls(&n)), (Value::Null, 1));
    // Hidden: every request is `null` at once, without a fetch, even after the window.
    r.clock.advance(TTL);
    assert_eq!(r.get_ok(&n, song("Secret")).await.value, Value::Null);
    assert_eq!(calls(&n), 1);
}

#[tokio::test]
async fn step_6_a_fetch_past_its_deadline_is_a_temporary_failure() {
    let r = rig_with(|s| s.fetch_deadline = Duration::from_millis(50), None);
    r.store_entry(
        song("Old"),
        T0 - Duration::from_secs(60),
        T0 - Duration::from_secs(1),
    )
    .await;
    let answer = r
        .cache
        .get_or_fetch(KEY, TTL, || async {
            tokio::time::sleep(Duration::from_secs(5)).await;
            Ok::<_, Failure>(song("Late"))
        })
        .await;
    assert_eq!((answer.value, answer.stale), (song("Old"), true));
    assert_eq!(r.cooldown().await, None);
}

// Step 7: failures, their cooldowns, and how long a stale answer lasts.

#[tokio::test]
async fn step_7_a_rate_limit_starts_a_cooldown_until_its_pause_has_passed() {
    let r = rig();
    let n = count();
    r.store_entry(
        song("Old"),
        T0 - Duration::from_secs(60),
        T0 - Duration::from_secs(1),
    )
    .await;
    let answer = r
        .get_failing(
            &n,
            Failure::RateLimited {
                origin: "Spotify",
                wait: Duration::from_secs(30),
                quota_exceeded: true,
            },
        )
        .await;
    assert_eq!((answer.value, answer.stale), (song("Old"), true));
    let until = T0 + Duration::from_secs(30);
    assert_eq!(
        r.cooldown().await,
        Some((
            Cooldown::RateLimited {
                quota_exceeded: true
            },
            until
        ))
    );
    assert_eq!(answer.fresh_until, T0 + TTL);
    // No call until the pause has passed, then one.
    r.clock.set(until - Duration::from_millis(1));
    r.get_failing(&n, Failure::Transient).await;
    assert_eq!(calls(&n), 1);
    r.clock.set(until);
    r.get_ok(&n, song("New")).await;
    assert_eq!(calls(&n), 2);
}

#[tokio::test]
async fn step_7_a_short_pause_shortens_the_window() {
    let r = rig();
    let n = count();
    let answer = r
        .get_failing(&n, rate_limited(Duration::from_secs(2)))
        .await;
    assert_eq!(answer.value, Value::Null);
    assert_eq!(answer.fresh_until, T0 + Duration::from_secs(2));
}

#[tokio::test]
async fn step_7_a_401_storm_doubles_its_cooldown() {
    let r = rig();
    let n = count();
    r.get_failing(&n, Failure::Unauthorized).await;
    assert_eq!(
        r.cooldown().await,
        Some((
            Cooldown::Unauthorized { streak: 1 },
            T0 + Duration::from_secs(60)
        ))
    );
    r.clock.advance(Duration::from_secs(60));
    r.get_failing(&n, Failure::Unauthorized).await;
    let now = T0 + Duration::from_secs(60);
    assert_eq!(
        r.cooldown().await,
        Some((
            Cooldown::Unauthorized { streak: 2 },
            now + Duration::from_secs(120)
        ))
    );
    assert_eq!(calls(&n), 2);
}

#[tokio::test]
async fn step_7_when_the_owner_must_act_the_answer_is_null_and_no_cooldown_starts() {
    let r = rig();
    let n = count();
    r.store_entry(
        song("Old"),
        T0 - Duration::from_secs(10),
        T0 - Duration::from_secs(1),
    )
    .await;
    let answer = r.get_failing(&n, Failure::OwnerMustAct).await;
    assert_eq!((answer.value, answer.stale), (Value::Null, false));
    assert_eq!(r.cooldown().await, None);
    assert_eq!(r.stored().await.value, Value::Null);
}

#[tokio::test]
async fn step_7_a_temporary_failure_serves_stale_and_starts_no_cooldown() {
    let r = rig();
    let n = count();
    r.store_entry(
        song("Old"),
        T0 - Duration::from_secs(60),
        T0 - Duration::from_secs(1),
    )
    .await;
    let answer = r.get_failing(&n, Failure::Transient).await;
    assert_eq!((answer.value, answer.stale), (song("Old"), true));
    assert_eq!(answer.fresh_until, T0 + TTL);
    assert_eq!(r.cooldown().await, None);
    // The stale copy keeps the moment of the last good answer, so it still ages.
    assert_eq!(r.stored().await.good_at, T0 - Duration::from_secs(60));
    // The next window asks again.
    r.clock.advance(TTL);
    r.get_failing(&n, Failure::Transient).await;
    assert_eq!(calls(&n), 2);
}

#[tokio::test]
async fn step_7_a_stale_answer_is_served_for_at_most_fifteen_minutes() {
    let stale_max = Duration::from_secs(15 * 60);
    for (age, served) in [
        (stale_max, Some(song("Old"))),
        (stale_max + Duration::from_millis(1), None),
    ] {
        let r = rig();
        let n = count();
        r.store_entry(song("Old"), T0 - age, T0 - Duration::from_secs(1))
            .await;
        let answer = r.get_failing(&n, Failure::Transient).await;
        match served {
            Some(v) => assert_eq!((answer.value, answer.stale), (v, true)),
            None => {
                assert_eq!((answer.value, answer.stale), (Value::Null, false));
                // Still known: when the last good answer was read.
                assert_eq!(r.stored().await.good_at, T0 - age);
            }
        }
    }
}

#[tokio::test]
async fn step_7_a_premium_403_steps_its_cooldown_and_a_success_ends_it() {
    let r = rig();
    let n = count();
    r.get_failing(&n, Failure::PremiumRequired).await;
    let first_end = T0 + Duration::from_secs(600);
    assert_eq!(
        r.cooldown().await,
        Some((Cooldown::PremiumRequired { step: 1 }, first_end))
    );
    // The item outlives its end by a day, so the next step knows it is the second.
    let record = r.state.get(COOLDOWN_KEY).await.unwrap().unwrap();
    assert_eq!(
        record.delete_after,
        first_end + Duration::from_secs(24 * 3600)
    );
    r.clock.set(first_end);
    r.get_failing(&n, Failure::PremiumRequired).await;
    assert_eq!(
        r.cooldown().await,
        Some((
            Cooldown::PremiumRequired { step: 2 },
            first_end + Duration::from_secs(1200)
        ))
    );
    // The first good answer after it deletes the item.
    r.clock.set(first_end + Duration::from_secs(1200));
    assert_eq!(r.get_ok(&n, song("Back")).await.value, song("Back"));
    assert_eq!(r.cooldown().await, None);
    assert_eq!(calls(&n), 3);
}

#[tokio::test]
async fn step_7_a_premium_403_during_a_running_step_writes_nothing() {
    let r = rig();
    let until = T0 + Duration::from_secs(300);
    let answer = r
        .cache
        .get_or_fetch(KEY, TTL, || async {
            // Another key or process starts step 3 while this fetch runs.
            r.store_cooldown(Cooldown::PremiumRequired { step: 3 }, until)
                .await;
            Err::<Value, _>(Failure::PremiumRequired)
        })
        .await;
    assert_eq!(
        r.cooldown().await,
        Some((Cooldown::PremiumRequired { step: 3 }, until))
    );
    assert_eq!(answer.value, Value::Null);
    assert_eq!(answer.fresh_until, T0 + TTL);
}

#[tokio::test]
async fn a_good_answer_after_another_cooldown_leaves_it_alone() {
    let r = rig();
    let n = count();
    // A lapsed rate limit: asked again, and its item is not the cache's to delete.
    let ended = T0 - Duration::from_secs(1);
    r.store_cooldown(
        Cooldown::RateLimited {
            quota_exceeded: false,
        },
        ended,
    )
    .await;
    r.get_ok(&n, song("A")).await;
    assert!(r.cooldown().await.is_some());
}

// The privacy switch.

#[tokio::test]
async fn the_shared_privacy_switch_answers_null_without_a_call_for_a_window() {
    let r = rig();
    let n = count();
    r.store_entry(song("Old"), T0 - Duration::from_secs(10), T0 + TTL)
        .await;
    r.state
        .put(HIDDEN_KEY, &Record::permanent("true", T0))
        .await
        .unwrap();
    let answer = r.get_ok(&n, song("New")).await;
    assert_eq!((answer.value, calls(&n)), (Value::Null, 0));
    assert_eq!(answer.fresh_until, T0 + TTL);
    // `show`: within one window the process follows.
    r.state.delete(HIDDEN_KEY).await.unwrap();
    r.clock.advance(TTL);
    assert_eq!(r.get_ok(&n, song("New")).await.value, song("New"));
}

#[tokio::test]
async fn uncached_every_request_asks() {
    let r = rig();
    let n = count();
    for _ in 0..3 {
        let answer = r
            .cache
            .get_or_fetch(KEY, Duration::ZERO, || async {
                n.fetch_add(1, Ordering::SeqCst);
                Ok::<_, Failure>(song("A"))
            })
            .await;
        assert_eq!(answer.window, Duration::ZERO);
        assert_eq!(answer.fresh_until, r.clock.now());
    }
    assert_eq!(calls(&n), 3);
    assert!(r.state.get(KEY).await.unwrap().is_none());
}
