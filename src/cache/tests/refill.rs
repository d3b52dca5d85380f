//! Steps 6 and 7: under the lease, failures and their cooldowns, and the privacy switch.

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use serde_json::Value;

use super::*;
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
    let item = r.state.get(KEY).await.unwrap().unwrap();
    assert_eq!(item.marks.lease, None, "given back with the answer");
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
    let item = state.get(KEY).await.unwrap().unwrap();
    assert_eq!(item.marks.lease, None, "not taken");
}

#[tokio::test]
async fn step_6_an_answer_fetched_while_hide_ran_is_never_published() {
    let r = rig();
    let answer = r
        .cache
        .get_or_fetch(KEY, TTL, || async {
            // `hide` runs during the fetch.
            PrivacySwitch::Shared(r.state.clone())
                .set(true, T0)
                .await
                .unwrap();
            Ok::<_, Failure>(song("Secret"))
        })
        .await;
    assert_eq!(answer.value, Value::Null);
    let stored = stored_answer(r.state.as_ref(), KEY).await.unwrap();
    assert!(stored.is_none(), "nothing published: {stored:?}");
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
