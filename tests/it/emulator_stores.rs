//! The DynamoDB and Secrets Manager stores against the AWS emulator over HTTP: conditional
//! writes, freshness, round trips, idempotent writes, sealing, and what a cache hit costs.

use crate::support;
use std::time::Duration;

use serde_json::json;
use support::aws::{self, attr_n, attr_s, EmulatorApp};
use support::*;

use nowplaying::clock::{Clock, ManualClock, SystemClock, Timestamp};
use nowplaying::seal::Sealer;
use nowplaying::secret::Secret;
use nowplaying::store::dynamo::DynamoState;
use nowplaying::store::memory::MemoryState;
use nowplaying::store::secrets::SecretsCredentials;
use nowplaying::store::{Conditional, CredentialStore, OwnerMark, Record, SharedState};

fn lease(owner: &str, exp: u64) -> Record {
    Record {
        value: String::new(),
        expires_at: Timestamp::from_millis(exp),
        holder: Some(owner.into()),
        delete_after: Timestamp::from_secs(exp / 1000 + 3600),
        marks: Default::default(),
    }
}

async fn state() -> (DynamoState, aws_sdk_dynamodb::Client, String) {
    let sdk = aws::sdk_config().await;
    let client = aws::dynamo(&sdk, None);
    let table = aws::create_table(&client).await;
    (DynamoState::new(client.clone(), &table), client, table)
}

/// The answer item's lease and marks, step by step, on any store: the same scenario runs on
/// DynamoDB and on the memory store, which must keep the same rules.
async fn answer_item_rules(s: &dyn SharedState) {
    let t0 = SystemClock.now();
    let at = |ms: u64| t0 + Duration::from_millis(ms);
    let refused = |c: Conditional| match c {
        Conditional::Refused(Some(r)) => r,
        other => panic!(
            "{}: expected a refusal with the item, got {other:?}",
            s.describe()
        ),
    };
    let answer = |v: &str, until: u64| Record::until(v, at(until)).stamped("g1");

    // Free: taken, and the item stamped with the generation the taker read.
    assert_eq!(
        s.acquire_answer("answer:x", "h1", at(1_000), at(0), "g1")
            .await
            .unwrap(),
        Conditional::Done
    );
    let r = s.get("answer:x").await.unwrap().unwrap();
    assert_eq!(r.marks.lease, Some(("h1".to_string(), at(1_000))));
    assert_eq!(r.marks.generation.as_deref(), Some("g1"));
    // Held: refused, with the item as it is (no read needed).
    let r = refused(
        s.acquire_answer("answer:x", "h2", at(2_000), at(500), "g1")
            .await
            .unwrap(),
    );
    assert_eq!(r.marks.lease, Some(("h1".to_string(), at(1_000))));
    // Lapsed: taken by another; the late holder's publish is refused and writes nothing.
    assert_eq!(
        s.acquire_answer("answer:x", "h2", at(3_000), at(1_001), "g1")
            .await
            .unwrap(),
        Conditional::Done
    );
    refused(
        s.publish_answer("answer:x", &answer("late", 9_000), "h1")
            .await
            .unwrap(),
    );
    // The holder publishes: the answer, with the lease gone in the same write.
    assert_eq!(
        s.publish_answer("answer:x", &answer("v1", 5_000), "h2")
            .await
            .unwrap(),
        Conditional::Done
    );
    let r = s.get("answer:x").await.unwrap().unwrap();
    assert_eq!((r.value.as_str(), r.expires_at), ("v1", at(5_000)));
    assert_eq!(r.marks.lease, None);
    // A fresh answer: refused, and the refusal carries it.
    let r = refused(
        s.acquire_answer("answer:x", "h3", at(6_000), at(4_999), "g1")
            .await
            .unwrap(),
    );
    assert_eq!(r.value, "v1");
    // No longer fresh, but stamped by another sign-in than the one read: refused.
    refused(
        s.acquire_answer("answer:x", "h3", at(8_000), at(5_000), "g0")
            .await
            .unwrap(),
    );
    // Taken again; the answer stays in the item while the lease is held.
    assert_eq!(
        s.acquire_answer("answer:x", "h3", at(8_000), at(5_000), "g1")
            .await
            .unwrap(),
        Conditional::Done
    );
    assert_eq!(s.get("answer:x").await.unwrap().unwrap().value, "v1");
    // A new sign-in marks the item: answer and lease gone, so the holder publishes nothing.
    s.mark_answer("answer:x", &OwnerMark::Generation("g2".into()), at(5_001))
        .await
        .unwrap();
    let r = s.get("answer:x").await.unwrap().unwrap();
    assert_eq!((r.value.as_str(), &r.marks.lease), ("", &None));
    assert_eq!(r.marks.generation.as_deref(), Some("g2"));
    let r = refused(
        s.publish_answer("answer:x", &answer("old", 9_000), "h3")
            .await
            .unwrap(),
    );
    assert_eq!(r.marks.generation.as_deref(), Some("g2"));
    // `hide` marks it: nobody takes the lease, and a later sign-in's mark keeps it hidden.
    s.mark_answer("answer:x", &OwnerMark::Hidden, at(5_002))
        .await
        .unwrap();
    let r = refused(
        s.acquire_answer("answer:x", "h4", at(9_000), at(5_003), "g2")
            .await
            .unwrap(),
    );
    assert!(r.marks.hidden);
    s.mark_answer("answer:x", &OwnerMark::Generation("g3".into()), at(5_004))
        .await
        .unwrap();
    let r = s.get("answer:x").await.unwrap().unwrap();
    assert!(r.marks.hidden, "the sign-in's mark keeps the page hidden");
    assert_eq!(r.marks.generation.as_deref(), Some("g3"));
    // `show` deletes the item: free again for the current sign-in.
    s.delete("answer:x").await.unwrap();
    assert_eq!(
        s.acquire_answer("answer:x", "h5", at(9_000), at(5_005), "g3")
            .await
            .unwrap(),
        Conditional::Done
    );
    // A plain write (an older version's publication) leaves no stamp and no lease.
    s.put("answer:x", &Record::until("plain", at(6_000)))
        .await
        .unwrap();
    let r = s.get("answer:x").await.unwrap().unwrap();
    assert!(!r.marks.stamped() && r.marks.lease.is_none());
}

#[tokio::test]
async fn the_answer_items_lease_and_marks_keep_the_same_rules_on_dynamodb_and_in_memory() {
    let (dynamo, _, _) = state().await;
    answer_item_rules(&dynamo).await;
    answer_item_rules(&MemoryState::new()).await;
}

#[tokio::test]
async fn dynamo_lease_is_a_conditional_write() {
    let (s, client, table) = state().await;
    let now = SystemClock.now().as_millis();

    // Taken once.
    assert!(s
        .acquire(
            "lease:x",
            &lease("a", now + 1_000),
            Timestamp::from_millis(now)
        )
        .await
        .unwrap());
    let item = aws::raw_item(&client, &table, "lease:x").await.unwrap();
    assert_eq!(attr_s(&item, "owner"), "a");
    assert_eq!(attr_n(&item, "exp"), now + 1_000);
    assert_eq!(attr_n(&item, "ttl"), (now + 1_000) / 1000 + 3600);

    // Refused while held, also at the very moment it lapses (`exp < now` is strict).
    assert!(!s
        .acquire(
            "lease:x",
            &lease("b", now + 2_000),
            Timestamp::from_millis(now + 500)
        )
        .await
        .unwrap());
    assert!(!s
        .acquire(
            "lease:x",
            &lease("b", now + 2_000),
            Timestamp::from_millis(now + 1_000)
        )
        .await
        .unwrap());
    assert_eq!(
        attr_s(
            &aws::raw_item(&client, &table, "lease:x").await.unwrap(),
            "owner"
        ),
        "a",
        "a refused write changes nothing"
    );

    // The owner renews while it holds it.
    assert!(s
        .acquire(
            "lease:x",
            &lease("a", now + 1_500),
            Timestamp::from_millis(now + 900)
        )
        .await
        .unwrap());
    assert!(!s
        .acquire(
            "lease:x",
            &lease("b", now + 3_000),
            Timestamp::from_millis(now + 1_200)
        )
        .await
        .unwrap());

    // Taken by another after expiry.
    assert!(s
        .acquire(
            "lease:x",
            &lease("b", now + 4_000),
            Timestamp::from_millis(now + 1_501)
        )
        .await
        .unwrap());
    assert!(!s
        .acquire(
            "lease:x",
            &lease("a", now + 5_000),
            Timestamp::from_millis(now + 2_000)
        )
        .await
        .unwrap());

    // Only the owner deletes it.
    s.release("lease:x", "a").await.unwrap();
    assert_eq!(
        s.get("lease:x").await.unwrap().unwrap().holder.as_deref(),
        Some("b")
    );
    s.release("lease:x", "b").await.unwrap();
    assert!(s.get("lease:x").await.unwrap().is_none());
    // Deleting what is not there is not an error.
    s.release("lease:x", "b").await.unwrap();

    // An unowned, unexpired item (an answer) is not a lease anyone can take.
    s.put(
        "answer",
        &Record {
            holder: None,
            ..lease("", now + 1_000)
        },
    )
    .await
    .unwrap();
    assert!(!s
        .acquire(
            "answer",
            &lease("a", now + 1_000),
            Timestamp::from_millis(now)
        )
        .await
        .unwrap());
}

#[tokio::test]
async fn dynamo_round_trip_and_freshness_by_exp_not_ttl() {
    let (s, client, table) = state().await;
    let now = SystemClock.now().as_millis();
    let past_ttl = now / 1000 - 3600;

    let r = Record {
        value: "{\"v\":1}".into(),
        expires_at: Timestamp::from_millis(now + 60_000),
        holder: None,
        delete_after: Timestamp::from_secs(past_ttl),
        marks: Default::default(),
    };
    s.put("answer:now", &r).await.unwrap();
    // DynamoDB deletes expired items lazily (up to days later); the store returns the item as
    // stored, and readers decide freshness from `exp`.
    assert_eq!(s.get("answer:now").await.unwrap(), Some(r.clone()));
    assert!(s.get("missing").await.unwrap().is_none());

    // A lease whose `ttl` passed but whose `exp` has not is still held ...
    aws::put_raw_item(
        &client,
        &table,
        "lease:a",
        "",
        now + 60_000,
        Some("dead"),
        past_ttl,
    )
    .await;
    assert!(!s
        .acquire(
            "lease:a",
            &lease("me", now + 5_000),
            Timestamp::from_millis(now)
        )
        .await
        .unwrap());
    // ... and one whose `exp` passed is free even though `ttl` is far ahead.
    aws::put_raw_item(
        &client,
        &table,
        "lease:b",
        "",
        now - 1,
        Some("dead"),
        now / 1000 + 86_400,
    )
    .await;
    assert!(s
        .acquire(
            "lease:b",
            &lease("me", now + 5_000),
            Timestamp::from_millis(now)
        )
        .await
        .unwrap());

    s.delete("answer:now").await.unwrap();
    assert!(s.get("answer:now").await.unwrap().is_none());
}

#[tokio::test]
async fn the_service_trusts_exp_over_a_past_ttl() {
    // An answer that is fresh by `exp` is served even though its `ttl` is in the past.
    let clock = ManualClock::at(T0);
    let app = EmulatorApp::start(&[], Some(clock.clone()), None).await;
    let entry = json!({"v": {"name": "From the table", "isPlaying": true}, "good_at": T0.as_millis(), "stale": false});
    aws::put_raw_item(
        &app.ddb,
        &app.table,
        nowplaying::keys::ANSWER_KEY,
        &entry.to_string(),
        (T0 + Duration::from_secs(5)).as_millis(),
        None,
        (T0 - Duration::from_secs(3600)).as_secs(),
    )
    .await;
    assert_eq!(app.now().await["name"], "From the table");
    assert_eq!(app.fake.stats().currently_playing, 0);
    assert_eq!(app.fake.stats().token_calls, 0);

    // Past `exp`, Spotify is asked even though the item is still there.
    app.fake.set_current(Scripted::json(bodies::playing(
        bodies::track("t1", "Live"),
        true,
        1,
    )));
    clock.advance(Duration::from_millis(5_001));
    assert_eq!(app.now().await["name"], "Live");
    assert_eq!(app.fake.stats().currently_playing, 1);
}

#[tokio::test]
async fn secrets_round_trip_keeps_every_other_field() {
    let sdk = aws::sdk_config().await;
    let sm = aws::secrets(&sdk, None);
    let doc = json!({
        "client_id": fake_spotify::CLIENT_ID,
        "client_secret": fake_spotify::CLIENT_SECRET,
        "refresh_token": "refresh-old",
        "authorized_at": "2026-11-23T10:00:00Z",
        "owner_note": "added by hand",
        "nested": {"a": [1, 2, 3]}
    });
    let id = aws::create_secret_raw(&sm, &doc.to_string()).await;
    let store = SecretsCredentials::new(sm.clone(), &id);

    let mut c = store.load().await.unwrap().expect("stored");
    assert!(c.is_complete());
    assert_eq!(c.client_id, fake_spotify::CLIENT_ID);
    assert_eq!(c.client_secret.expose(), fake_spotify::CLIENT_SECRET);
    assert_eq!(c.refresh_token.as_ref().unwrap().expose(), "refresh-old");
    assert_eq!(c.extra["owner_note"], "added by hand");
    assert!(!format!("{c:?}").contains(fake_spotify::CLIENT_SECRET));

    // A rotation rewrites refresh_token and keeps the rest.
    c.refresh_token = Some(Secret::new("refresh-new"));
    store.save(&c).await.unwrap();
    let stored = aws::secret_json(&sm, &id).await;
    let mut expected = doc.clone();
    expected["refresh_token"] = json!("refresh-new");
    assert_eq!(stored, expected);
    assert_eq!(aws::secret_versions(&sm, &id).await, 2);

    // The same document saved again (a retried write) makes no new version.
    store.save(&c).await.unwrap();
    store.save(&c).await.unwrap();
    assert_eq!(aws::secret_versions(&sm, &id).await, 2);
    assert_eq!(aws::secret_json(&sm, &id).await, expected);

    // A different document is a new version.
    c.refresh_token = Some(Secret::new("refresh-newer"));
    store.save(&c).await.unwrap();
    assert_eq!(aws::secret_versions(&sm, &id).await, 3);
    assert_eq!(aws::secret_refresh_token(&sm, &id).await, "refresh-newer");
}

#[tokio::test]
async fn secrets_missing_secret_is_none_and_save_creates_it() {
    let sdk = aws::sdk_config().await;
    let sm = aws::secrets(&sdk, None);
    let store = SecretsCredentials::new(sm.clone(), aws::unique("np-test/new"));
    assert!(store.load().await.unwrap().is_none());
    let c = credentials("refresh-first");
    store.save(&c).await.unwrap();
    assert_eq!(store.load().await.unwrap(), Some(c.clone()));
    assert_eq!(aws::secret_versions(&sm, store.secret_id()).await, 1);
    // Saving the same again right after creation is still one version.
    store.save(&c).await.unwrap();
    assert_eq!(aws::secret_versions(&sm, store.secret_id()).await, 1);
}

#[tokio::test]
async fn secrets_unreachable_is_unavailable_not_invalid() {
    let sdk = aws::sdk_config().await;
    let proxy = aws::FaultProxy::start(&aws_endpoint()).await;
    let sm = aws::secrets(&sdk, Some(&proxy.url));
    let id = aws::create_secret(&aws::secrets(&sdk, None), &credentials("r")).await;
    let store = SecretsCredentials::new(sm, &id);
    assert!(store.load().await.unwrap().is_some());
    proxy.refuse();
    let started = std::time::Instant::now();
    let err = store.load().await.unwrap_err();
    assert!(
        matches!(err, nowplaying::store::StoreError::Unavailable { .. }),
        "{err}"
    );
    assert!(
        started.elapsed() < aws::AWS_GIVE_UP,
        "{:?}",
        started.elapsed()
    );
    proxy.blackhole();
    let started = std::time::Instant::now();
    let err = store.save(&credentials("r2")).await.unwrap_err();
    assert!(
        matches!(err, nowplaying::store::StoreError::Unavailable { .. }),
        "{err}"
    );
    assert!(
        started.elapsed() < aws::AWS_GIVE_UP,
        "{:?}",
        started.elapsed()
    );
    assert!(!err.to_string().contains(fake_spotify::CLIENT_SECRET));
    proxy.pass();
    assert_eq!(
        store
            .load()
            .await
            .unwrap()
            .unwrap()
            .refresh_token
            .unwrap()
            .expose(),
        "r",
        "the failed save wrote nothing"
    );
}

#[tokio::test]
async fn the_access_token_in_the_table_is_sealed() {
    let app = EmulatorApp::start(&[], Some(ManualClock::at(T0)), None).await;
    app.fake.set_current(Scripted::json(bodies::playing(
        bodies::track("t1", "Song"),
        true,
        1,
    )));
    assert_eq!(app.now().await["name"], "Song");

    let item = app
        .item(nowplaying::keys::TOKEN_KEY)
        .await
        .expect("token item");
    let raw = format!("{item:?}");
    assert!(
        !raw.contains("access-"),
        "the access token is in the table in clear: {raw}"
    );
    assert!(!raw.contains(fake_spotify::CLIENT_SECRET));
    let sealed = attr_s(&item, "v");
    let right = Sealer::from_client_secret(&Secret::new(fake_spotify::CLIENT_SECRET));
    let context = support::sealing_context(nowplaying::keys::TOKEN_KEY);
    let opened = right
        .open(&context, &sealed)
        .expect("opens with the secret");
    assert!(opened.starts_with("access-1-"), "{opened}");
    let wrong = Sealer::from_client_secret(&Secret::new("another-client-secret"));
    assert_eq!(wrong.open(&context, &sealed), None);
    // Bound to its key: the same ciphertext under another key does not open.
    assert_eq!(
        right.open(
            &support::sealing_context(nowplaying::keys::PENDING_REFRESH_KEY),
            &sealed
        ),
        None
    );
    // Bound to its sign-in: a later sign-in of the same app does not open it.
    let mut later = support::credentials("");
    later.authorized_at = Some(support::SIGN_INS[1].into());
    assert_eq!(
        right.open(
            &nowplaying::tokens::sealing_context(nowplaying::keys::TOKEN_KEY, &later),
            &sealed
        ),
        None
    );

    // Nothing in the table holds a token or the client secret in clear.
    for key in aws::keys(&app.ddb, &app.table).await {
        let item = format!("{:?}", app.item(&key).await);
        assert!(
            !item.contains("access-") && !item.contains("refresh-token-"),
            "{key}: {item}"
        );
        assert!(!item.contains(fake_spotify::CLIENT_SECRET), "{key}");
    }
    // The secret holds no access token either.
    let secret = aws::secret_json(&app.sm, &app.secret_id).await;
    assert!(!secret.to_string().contains("access-"), "{secret}");
}

#[tokio::test]
async fn a_cache_hit_costs_no_aws_call_and_a_miss_three() {
    let clock = ManualClock::at(T0);
    let app = EmulatorApp::start(&[], Some(clock.clone()), None).await;
    app.fake.set_current(Scripted::json(bodies::playing(
        bodies::track("t1", "Song"),
        true,
        1,
    )));
    assert_eq!(app.now().await["name"], "Song");
    // The first answer: the credentials read once at cold start, read again with their
    // version under the refresh lease (the durable copy decides which refresh token is the
    // newest), and the rotated refresh token persisted by compare-and-swap on that version: a
    // staged version, then AWSCURRENT moved to it from the version read.
    assert_eq!(
        app.sm_proxy.take_ops(),
        vec![
            "GetSecretValue",
            "GetSecretValue",
            "PutSecretValue",
            "UpdateSecretVersionStage"
        ],
        "cold start"
    );
    app.ddb_proxy.take_ops();

    // Inside the window the process answers from memory: no call at all.
    for _ in 0..5 {
        assert_eq!(app.now().await["name"], "Song");
        assert_eq!(app.ddb_proxy.take_ops(), Vec::<String>::new(), "a hit");
        assert!(
            app.sm_proxy.take_ops().is_empty(),
            "a hit never reads the secret"
        );
    }
    assert_eq!(app.fake.stats().currently_playing, 1);

    // A miss with a valid token: one read of everything it needs (the answer's item, which
    // carries the switch and the sign-in generation, and the cooldown), the lease on the
    // answer's item (refused if a holder just finished), and the answer written with the lease
    // given back. No Secrets Manager call.
    clock.advance(cache_window(&app.app) + Duration::from_millis(1));
    assert_eq!(app.now().await["name"], "Song");
    assert_eq!(app.fake.stats().currently_playing, 2);
    assert!(
        app.sm_proxy.take_ops().is_empty(),
        "a miss with a valid token reads no secret"
    );
    assert_eq!(
        app.ddb_proxy.take_ops(),
        vec!["BatchGetItem", "UpdateItem", "PutItem"],
        "a miss is three calls"
    );
    assert_eq!(app.now().await["name"], "Song");
    assert!(app.ddb_proxy.take_ops().is_empty(), "and then a hit again");
}

/// The compare-and-swap of the credential store on Secrets Manager: a write based on the version
/// read becomes current; one based on an older version (the owner wrote since) never does, and
/// its staged version stays out of `AWSCURRENT`. Checks the emulator too: moto needs
/// `scripts/emulator/moto_server.py` to behave as AWS documents `RemoveFromVersionId`.
#[tokio::test]
async fn secrets_compare_and_swap_refuses_a_write_based_on_an_older_version() {
    use nowplaying::store::Swap;
    let sdk = aws::sdk_config().await;
    let sm = aws::secrets(&sdk, None);
    let id = aws::create_secret(&sm, &credentials("refresh-1")).await;
    let store = SecretsCredentials::new(sm.clone(), id.clone());
    let v1 = store.load_versioned().await.unwrap().unwrap().version;
    let written = store.save_if(&credentials("refresh-2"), &v1).await.unwrap();
    let Swap::Written(v2) = written else {
        panic!("{written:?}")
    };
    assert_eq!(aws::secret_refresh_token(&sm, &id).await, "refresh-2");
    assert_eq!(store.load_versioned().await.unwrap().unwrap().version, v2);
    // The same write again (a retry after a lost answer) changes nothing.
    assert_eq!(
        store.save_if(&credentials("refresh-2"), &v1).await.unwrap(),
        Swap::Changed
    );
    // The owner disconnects; a write based on v2 arrives afterwards.
    let mut gone = credentials("");
    gone.refresh_token = None;
    store.save(&gone).await.unwrap();
    assert_eq!(
        store.save_if(&credentials("refresh-3"), &v2).await.unwrap(),
        Swap::Changed
    );
    assert!(aws::secret_json(&sm, &id).await["refresh_token"].is_null());
}
