//! Steps 1 to 5: memory, single flight, the one read, the cooldown, the lease.

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use serde_json::Value;

use super::*;
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
    let theirs = AnswerLease::acquire(
        r.state.as_ref(),
        KEY,
        "other",
        Duration::from_secs(5),
        T0,
        "",
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
    let _theirs = AnswerLease::acquire(
        r.state.as_ref(),
        KEY,
        "other",
        Duration::from_secs(5),
        T0,
        "",
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
    let _theirs = AnswerLease::acquire(
        r.state.as_ref(),
        KEY,
        "other",
        Duration::from_secs(5),
        T0,
        "",
    )
    .await
    .unwrap()
    .expect("the lease is free");
    let answer = r.get_ok(&n, song("Ours")).await;
    assert_eq!((answer.value, calls(&n)), (Value::Null, 0));
}

#[tokio::test]
async fn step_5_callers_queued_behind_a_wait_share_its_outcome() {
    let r = rig();
    let n = count();
    let _theirs = AnswerLease::acquire(
        r.state.as_ref(),
        KEY,
        "other",
        Duration::from_secs(5),
        T0,
        "",
    )
    .await
    .unwrap()
    .expect("the lease is free");
    let wait = r.cache.settings().wait_for_holder;
    let started = tokio::time::Instant::now();
    let (a, b, c, d) = tokio::join!(
        r.get_ok(&n, song("Ours")),
        r.get_ok(&n, song("Ours")),
        r.get_ok(&n, song("Ours")),
        r.get_ok(&n, song("Ours"))
    );
    let took = started.elapsed();
    assert!([a, b, c, d].iter().all(|a| a.value.is_null()));
    assert_eq!(calls(&n), 0);
    assert!(
        took < wait * 2,
        "one wait for all four, not one each: {took:?}"
    );
    // A request that comes after the wait ended waits again (the holder may answer by now).
    let later = tokio::time::Instant::now();
    assert!(r.get_ok(&n, song("Ours")).await.value.is_null());
    assert!(later.elapsed() >= wait);
}

#[tokio::test]
async fn step_5_a_lapsed_lease_is_taken() {
    let r = rig();
    let n = count();
    let _dead = AnswerLease::acquire(
        r.state.as_ref(),
        KEY,
        "other",
        Duration::from_secs(5),
        T0 - Duration::from_secs(6),
        "",
    )
    .await
    .unwrap()
    .expect("the lease is free");
    assert_eq!(r.get_ok(&n, song("Ours")).await.value, song("Ours"));
    assert_eq!(calls(&n), 1);
}
