//! An older version and this one in one table, as during an upgrade: this version reads the
//! items an older one writes and follows the older owner's commands (which delete the answers
//! rather than mark them), and writes answers that an older version reads as before.

use crate::support;

use std::time::Duration;

use support::aws::{self, attr_n, attr_s, EmulatorApp};
use support::*;

use nowplaying::clock::{Clock, ManualClock};
use nowplaying::keys::{lease_key, ANSWER_KEY, AUTH_GENERATION_KEY, HIDDEN_KEY, TOKEN_ITEMS};

/// An older version's write of one item: `v`, `exp`, `ttl` and a lease holder, nothing else.
async fn older_put(app: &EmulatorApp, key: &str, value: &str, exp_ms: u64, owner: Option<&str>) {
    aws::put_raw_item(
        &app.ddb,
        &app.table,
        key,
        value,
        exp_ms,
        owner,
        exp_ms / 1000 + 86_400,
    )
    .await;
}

async fn delete(app: &EmulatorApp, key: &str) {
    app.ddb
        .delete_item()
        .table_name(&app.table)
        .key(
            "pk",
            aws_sdk_dynamodb::types::AttributeValue::S(key.to_string()),
        )
        .send()
        .await
        .unwrap();
}

#[tokio::test]
async fn an_older_versions_answers_and_owner_commands_are_followed_and_ours_read_by_it() {
    let clock = ManualClock::at(T0);
    let app = EmulatorApp::start(&[], Some(clock.clone()), None).await;
    app.fake.set_current(song());
    let ttl = cache_window(&app.app);
    let far = (T0 + Duration::from_secs(86_400 * 365)).as_millis();

    // An older version published an answer (the whole item, no marks) under its own lease
    // item: it is served as it is, fresh, without asking Spotify.
    let older = format!(
        r#"{{"v":{{"name":"Older"}},"good_at":{},"stale":false}}"#,
        T0.as_millis()
    );
    older_put(&app, ANSWER_KEY, &older, (T0 + ttl).as_millis(), None).await;
    older_put(
        &app,
        &lease_key(ANSWER_KEY),
        "",
        (T0 + ttl).as_millis(),
        Some("old#1.0"),
    )
    .await;
    assert_eq!(app.now().await["name"], "Older");
    assert_eq!(app.fake.stats().currently_playing, 0);

    // The older `hide`: the switch item written and the answers deleted, no marks. Followed
    // within one window, without a Spotify call.
    clock.advance(ttl);
    older_put(&app, HIDDEN_KEY, "true", far, None).await;
    delete(&app, ANSWER_KEY).await;
    assert!(app.now().await.is_null(), "hidden by an older hide");
    assert_eq!(app.fake.stats().currently_playing, 0);

    // The older `show`: the switch deleted, and the answers again.
    delete(&app, HIDDEN_KEY).await;
    delete(&app, ANSWER_KEY).await;
    clock.advance(ttl);
    assert_eq!(app.now().await["name"], "Song");
    assert_eq!(app.fake.stats().currently_playing, 1);

    // What this version published, an older one reads as before: `v` in the same format, `exp`
    // the end of the window, and no `owner` an older version would take for a lease.
    let item = app.item(ANSWER_KEY).await.expect("the answer item");
    let v: serde_json::Value = serde_json::from_str(&attr_s(&item, "v")).unwrap();
    assert_eq!(v["v"]["name"], "Song");
    assert_eq!(v["stale"], false);
    assert!(v["good_at"].is_u64(), "{v}");
    assert_eq!(attr_n(&item, "exp"), (clock.now() + ttl).as_millis());
    assert!(!item.contains_key("owner"), "{item:?}");

    // The older `authorize`: a new generation, the token items and the answers deleted (the
    // credentials it stores are the same here). This process notices
    // (its token keeper reads the credentials again and refreshes) and stamps the answer it
    // publishes with that generation.
    let refreshes = app.fake.stats().token_refreshes;
    clock.advance(ttl);
    older_put(&app, AUTH_GENERATION_KEY, "older-generation", far, None).await;
    for key in TOKEN_ITEMS {
        delete(&app, key).await;
    }
    delete(&app, ANSWER_KEY).await;
    assert_eq!(app.now().await["name"], "Song");
    assert_eq!(
        app.fake.stats().token_refreshes,
        refreshes + 1,
        "the new sign-in was noticed"
    );
    let item = app.item(ANSWER_KEY).await.expect("the answer item");
    assert_eq!(attr_s(&item, "gen"), "older-generation");

    // An older version's publication over this one's item (a plain put, no marks): served,
    // and the next miss reads the switch and the generation from their own items again.
    clock.advance(ttl);
    let newer = format!(
        r#"{{"v":{{"name":"Older again"}},"good_at":{},"stale":false}}"#,
        clock.now().as_millis()
    );
    older_put(
        &app,
        ANSWER_KEY,
        &newer,
        (clock.now() + ttl).as_millis(),
        None,
    )
    .await;
    app.ddb_proxy.take_ops();
    assert_eq!(app.now().await["name"], "Older again");
    assert_eq!(
        app.ddb_proxy.take_ops(),
        ["BatchGetItem", "BatchGetItem"],
        "the item says nothing of the switch: it is read from its own item"
    );
}
