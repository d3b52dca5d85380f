//! What a request costs in AWS calls, counted by the proxies in front of the emulator:
//! a process that holds a fresh answer makes none, a miss makes three (two read units, two
//! write units, no transaction), and the owner's `hide` and `disconnect` reach a running process
//! within one cache window.

use crate::support;

use std::collections::HashMap;
use std::time::Duration;

use aws_sdk_dynamodb::types::AttributeValue;
use support::aws::{self, EmulatorApp};
use support::fake_spotify::{bodies, Scripted};
use support::*;

use nowplaying::clock::ManualClock;
use nowplaying::keys::ANSWER_KEY;
use nowplaying::owner::{replace_authorization, PrivacySwitch};

fn playing(app: &EmulatorApp, name: &str) {
    app.fake.set_current(Scripted::json(bodies::playing(
        bodies::track("t1", name),
        true,
        1,
    )));
}

/// Every AWS operation since the last call, both stores.
fn ops(app: &EmulatorApp) -> Vec<String> {
    let mut ops = app.ddb_proxy.take_ops();
    ops.extend(app.sm_proxy.take_ops());
    ops
}

async fn get_json(app: &EmulatorApp, path: &str) -> serde_json::Value {
    let r = app
        .http
        .get(format!("{}{path}", app.url))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200, "{path}");
    r.json().await.unwrap()
}

/// The size DynamoDB bills an item for: each attribute's name and value, a number as about one
/// byte per two significant digits plus one.
fn item_size(item: &HashMap<String, AttributeValue>) -> usize {
    item.iter()
        .map(|(name, value)| {
            name.len()
                + match value {
                    AttributeValue::S(s) => s.len(),
                    AttributeValue::N(n) => n.trim_start_matches('0').len().div_ceil(2) + 1,
                    other => panic!("an attribute type the service never writes: {other:?}"),
                }
        })
        .sum()
}

/// The answer item's size (0: no item).
async fn answer_size(app: &EmulatorApp) -> usize {
    app.item(ANSWER_KEY).await.as_ref().map_or(0, item_size)
}

/// The read and write units of one miss's requests, as DynamoDB bills them: a consistent read
/// of an item up to 4 KB is one unit (a key that finds nothing costs one too); a write is one
/// unit per KB of the larger of the item before and after it. `sizes` are the answer item's
/// sizes before the miss, while its lease was held and after it.
fn units(requests: &[(String, serde_json::Value)], sizes: [usize; 3]) -> (usize, usize) {
    let kb = |bytes: usize| bytes.div_ceil(1024).max(1);
    let [before, leased, after] = sizes;
    assert!(
        sizes.iter().all(|s| *s <= 4096),
        "each read is of one 4 KB unit: {sizes:?}"
    );
    let (mut reads, mut writes) = (0, 0);
    for (op, body) in requests {
        match op.as_str() {
            "BatchGetItem" => {
                for table in body["RequestItems"].as_object().unwrap().values() {
                    assert_eq!(table["ConsistentRead"], true, "{body}");
                    reads += table["Keys"].as_array().unwrap().len();
                }
            }
            "GetItem" => reads += 1,
            "UpdateItem" => writes += kb(before.max(leased)),
            "PutItem" => writes += kb(leased.max(after)),
            other => panic!("not expected in a miss: {other} {body}"),
        }
    }
    (reads, writes)
}

#[tokio::test]
async fn a_miss_costs_two_read_units_and_two_write_units() {
    let clock = ManualClock::at(T0);
    let app = EmulatorApp::start(&[], Some(clock.clone()), None).await;
    playing(&app, "Song");
    assert_eq!(app.now().await["name"], "Song");
    clock.advance(cache_window(&app.app));
    let before = answer_size(&app).await;
    ops(&app);
    app.ddb_faults.take_requests();
    // The next fetch is slow, so the item can be seen while its lease is held.
    app.fake.set_current(
        Scripted::json(bodies::playing(bodies::track("t2", "Next song"), true, 1)).delayed(500),
    );
    let url = format!("{}/api/spotify", app.url);
    let request = tokio::spawn(async move {
        let v: serde_json::Value = reqwest::get(url).await.unwrap().json().await.unwrap();
        v
    });
    aws::eventually(Duration::from_secs(5), "the fetch started", || async {
        app.fake.stats().currently_playing == 2
    })
    .await;
    let leased = app.item(ANSWER_KEY).await.expect("the answer item");
    assert!(leased.contains_key("lo"), "the lease is on the answer item");
    assert_eq!(request.await.unwrap()["name"], "Next song");
    let after = app.item(ANSWER_KEY).await.expect("the answer item");
    assert!(!after.contains_key("lo"), "given back with the answer");
    assert_eq!(ops(&app), ["BatchGetItem", "UpdateItem", "PutItem"]);
    let sizes = [before, item_size(&leased), item_size(&after)];
    let (reads, writes) = units(&app.ddb_faults.take_requests(), sizes);
    eprintln!("a miss: {reads} read units, {writes} write units (item sizes {sizes:?} bytes)");
    assert_eq!(reads, 2, "the answer's item and the cooldown");
    assert!(writes <= 3, "{writes} write units");
    assert_eq!(writes, 2, "the lease taken, the answer published");
}

#[tokio::test]
async fn inside_the_window_a_process_makes_no_aws_call_and_after_it_three() {
    let clock = ManualClock::at(T0);
    let app = EmulatorApp::start(&[], Some(clock.clone()), None).await;
    playing(&app, "Song");
    assert_eq!(app.now().await["name"], "Song");
    ops(&app);
    let ttl = cache_window(&app.app);

    for i in 0..50 {
        if i == 25 {
            clock.advance(ttl - Duration::from_millis(1)); // the last millisecond of the window
        }
        assert_eq!(app.now().await["name"], "Song");
    }
    assert_eq!(ops(&app), Vec::<String>::new(), "50 hits, no AWS call");
    assert_eq!(app.fake.stats().currently_playing, 1);

    // The deadline: the next request goes to the table and refills (the token is still valid).
    clock.advance(Duration::from_millis(1));
    playing(&app, "Next song");
    assert_eq!(app.now().await["name"], "Next song");
    let miss = ops(&app);
    assert_eq!(
        miss,
        [
            "BatchGetItem", // the answer's item (with its marks) and the cooldown
            "UpdateItem",   // the lease, on the answer's item
            "PutItem",      // the answer published, the lease given back
        ],
        "a miss is three calls"
    );
    assert_eq!(app.fake.stats().currently_playing, 2);
    assert_eq!(app.now().await["name"], "Next song");
    assert_eq!(ops(&app), Vec::<String>::new(), "then hits again");
}

#[tokio::test]
async fn another_process_reads_the_fresh_answer_once_then_holds_it() {
    let clock = ManualClock::at(T0);
    let app = EmulatorApp::start(&[], Some(clock.clone()), None).await;
    playing(&app, "Song");
    assert_eq!(app.now().await["name"], "Song");
    let other = app.sibling(&[], Some(clock.clone())).await;
    ops(&app);
    let http = reqwest::Client::new();
    for i in 0..10 {
        let v: serde_json::Value = http
            .get(format!("{other}/api/spotify"))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        assert_eq!(v["name"], "Song");
        let calls = ops(&app);
        if i == 0 {
            assert_eq!(
                calls,
                vec!["BatchGetItem"],
                "the table's fresh copy, in one read"
            );
        } else {
            assert_eq!(calls, Vec::<String>::new(), "then from memory");
        }
    }
    assert_eq!(app.fake.stats().currently_playing, 1);
}

#[tokio::test]
async fn a_list_with_a_long_window_is_held_in_memory_for_one_cache_window_at_most() {
    let clock = ManualClock::at(T0);
    let app = EmulatorApp::start(&[("RECENT_TTL_SECONDS", "600")], Some(clock.clone()), None).await;
    app.fake.set_recent(Scripted::json(bodies::history(&[(
        bodies::track("r1", "Played"),
        "2026-11-23T09:58:00Z",
    )])));
    assert_eq!(
        get_json(&app, "/api/spotify/recent").await["items"][0]["name"],
        "Played"
    );
    ops(&app);
    for _ in 0..10 {
        get_json(&app, "/api/spotify/recent?limit=5").await;
    }
    assert_eq!(ops(&app), Vec::<String>::new(), "hits from memory");

    // Past one `/api/spotify` window (not the list's ten minutes) the process looks at the
    // table again: one read, the copy there is still fresh, Spotify is not asked.
    clock.advance(cache_window(&app.app));
    get_json(&app, "/api/spotify/recent").await;
    assert_eq!(ops(&app), vec!["BatchGetItem"]);
    assert_eq!(app.fake.stats().recently_played, 1);
}

#[tokio::test]
async fn hide_and_show_take_effect_within_one_cache_window() {
    let clock = ManualClock::at(T0);
    let app = EmulatorApp::start(&[], Some(clock.clone()), None).await;
    playing(&app, "Song");
    assert_eq!(app.now().await["name"], "Song");
    let ttl = cache_window(&app.app);
    let switch = PrivacySwitch::Shared(app.stores.table().state());

    switch.set(true, T0).await.unwrap();
    // The process still holds this window's answer (documented: within one window, not at once).
    assert_eq!(app.now().await["name"], "Song");
    clock.advance(ttl);
    ops(&app);
    let before = app.fake.stats();
    assert!(app.now().await.is_null(), "hidden after one window");
    assert_eq!(
        ops(&app),
        vec!["BatchGetItem"],
        "hidden: one read, nothing else"
    );
    assert_eq!(app.fake.stats().currently_playing, before.currently_playing);
    assert_eq!(app.fake.stats().token_calls, before.token_calls);
    assert!(app.now().await.is_null());
    assert_eq!(ops(&app), Vec::<String>::new(), "null held in memory too");

    switch.set(false, T0 + ttl).await.unwrap();
    clock.advance(ttl);
    assert_eq!(app.now().await["name"], "Song", "shown after one window");
}

#[tokio::test]
async fn an_answer_fetched_while_hide_ran_is_not_published() {
    let clock = ManualClock::at(T0);
    let app = EmulatorApp::start(&[], Some(clock.clone()), None).await;
    playing(&app, "Song");
    assert_eq!(app.now().await["name"], "Song");
    clock.advance(cache_window(&app.app));
    app.fake.set_current(
        Scripted::json(bodies::playing(bodies::track("t2", "Secret song"), true, 1)).delayed(800),
    );
    let url = format!("{}/api/spotify", app.url);
    let request = tokio::spawn(async move {
        reqwest::get(url)
            .await
            .unwrap()
            .json::<serde_json::Value>()
            .await
            .unwrap()
    });
    // Hide while Spotify is being asked.
    aws::eventually(Duration::from_secs(5), "the fetch started", || async {
        app.fake.stats().currently_playing == 2
    })
    .await;
    PrivacySwitch::Shared(app.stores.table().state())
        .set(true, T0)
        .await
        .unwrap();
    let v = request.await.unwrap();
    assert!(v.is_null(), "{v}");
    let item = app.item(ANSWER_KEY).await;
    assert!(
        item.as_ref().is_none_or(|i| !i.contains_key("v")),
        "nothing published: {item:?}"
    );
    assert!(
        item.as_ref().is_none_or(|i| !i.contains_key("lo")),
        "the lease was given back: {item:?}"
    );
}

#[tokio::test]
async fn disconnect_takes_effect_within_one_cache_window() {
    let clock = ManualClock::at(T0);
    let app = EmulatorApp::start(&[], Some(clock.clone()), None).await;
    playing(&app, "Song");
    assert_eq!(app.now().await["name"], "Song");
    let ttl = cache_window(&app.app);

    let mut credentials = app.stores.credentials.load().await.unwrap().unwrap();
    credentials.refresh_token = None;
    replace_authorization(
        app.stores.credentials.as_ref(),
        Some(app.stores.table().as_ref()),
        &credentials,
        || T0,
    )
    .await
    .unwrap();
    let before = app.fake.stats();
    clock.advance(ttl);
    assert!(app.now().await.is_null(), "null after one window");
    let after = app.fake.stats();
    assert_eq!(after.currently_playing, before.currently_playing);
    assert_eq!(after.token_refreshes, before.token_refreshes);
}

/// A miss whose access token has run out: the miss's three calls, and five more for the refresh
/// when Spotify does not rotate (the shared token's read, the lease, one read of what the refresh
/// needs, the secret read with its version under the lease, and one call that publishes the new
/// token and gives the lease back only while this process still holds it). A rotation adds the
/// write-ahead copy and the secret's compare-and-swap (a staged write, the label moved).
#[tokio::test]
async fn a_miss_with_a_refresh_costs_five_more_calls() {
    let clock = ManualClock::at(T0);
    let app = EmulatorApp::start(&[], Some(clock.clone()), None).await;
    playing(&app, "Song");
    assert_eq!(app.now().await["name"], "Song");
    app.fake.set_token(TokenBehavior {
        no_rotation: true,
        ..Default::default()
    });
    // Past the access token's life (an hour): the next miss refreshes first.
    clock.advance(Duration::from_secs(3600));
    ops(&app);
    let refreshes = app.fake.stats().token_refreshes;
    assert_eq!(app.now().await["name"], "Song");
    assert_eq!(app.fake.stats().token_refreshes, refreshes + 1);
    let calls = ops(&app);
    assert_eq!(
        calls,
        [
            "BatchGetItem",       // the miss: the answer's item (switch, generation), cooldown
            "UpdateItem",         // the answer's lease, on its item
            "GetItem",            // the refresh: the shared access token
            "PutItem",            // the refresh lease
            "BatchGetItem",       // token, pending copy, generation
            "TransactWriteItems", // the new token published, the lease given back, fenced
            "PutItem",            // the answer published, its lease given back
            "GetSecretValue",     // the refresh: the secret with its version, under the lease
        ],
        "{calls:?}"
    );
}
