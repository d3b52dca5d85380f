//! `/api/spotify/playlists` against the fake Spotify: only the owner's own public playlists,
//! paging, `limit`, off until turned on, a missing scope, one call per window, hidden, and
//! Last.fm (which keeps no playlists).
use crate::support;
use std::time::Duration;
use support::logs::LogBuffer;

use serde_json::{json, Value};
use support::fake_lastfm::{FakeLastfm, API_KEY, USER};
use support::fake_spotify::OWNER_ID;
use support::*;

const ON: &[(&str, &str)] = &[("PROFILE_ENDPOINTS", "playlists")];
const SCOPES: &str = "user-read-currently-playing user-read-recently-played playlist-read-private";

/// A playlist as `GET /v1/me/playlists` lists it (the 2026 shape: the count in `items`).
fn playlist(id: &str, owner: &str, public: Value, images: usize) -> Value {
    let sides = [640, 300, 60];
    json!({
        "id": id, "name": format!("Playlist {id}"), "public": public, "collaborative": false,
        "description": "Songs &amp; more &#x27;here&#x27; <a href=\"spotify:user:x\">by me</a>",
        "owner": {"id": owner, "display_name": "Someone"},
        "images": sides.iter().take(images).map(|s| json!({"url": format!("https://i.scdn.co/image/{id}-{s}"), "width": s, "height": s})).collect::<Vec<_>>(),
        "external_urls": {"spotify": format!("https://open.spotify.com/playlist/{id}")},
        "items": {"href": format!("https://api.spotify.com/v1/playlists/{id}/items"), "total": id.len()},
        "type": "playlist", "uri": format!("spotify:playlist:{id}")
    })
}

fn page(items: Vec<Value>, next: bool) -> Scripted {
    Scripted::json(json!({
        "items": items, "limit": 50, "total": 999,
        "next": if next { json!("https://api.spotify.com/v1/me/playlists?offset=50&limit=50") } else { Value::Null }
    }))
}

async fn start(extra: &[(&str, &str)]) -> TestApp {
    let app = TestApp::start(extra).await;
    app.fake.grant_scopes(SCOPES);
    app
}

async fn json_of(app: &TestApp, path: &str) -> (u16, Value) {
    let r = app.get(path).await;
    let status = r.status().as_u16();
    (status, r.json().await.unwrap())
}

#[tokio::test]
async fn only_the_owners_own_public_playlists_show_in_spotifys_order() {
    let app = start(ON).await;
    let mut collaborative = playlist("Co11ab", OWNER_ID, json!(false), 1);
    collaborative["collaborative"] = json!(true);
    let mut old_shape = playlist("OldShape", OWNER_ID, json!(true), 0);
    old_shape.as_object_mut().unwrap().remove("items");
    old_shape["tracks"] = json!({"href": "x", "total": 41});
    app.fake.set_path(
        "/v1/me/playlists",
        page(
            vec![
                playlist("Mine1", OWNER_ID, json!(true), 3),
                playlist("Private1", OWNER_ID, json!(false), 3),
                playlist("Followed1", "another-user", json!(true), 3),
                collaborative,
                old_shape,
                Value::Null,
            ],
            false,
        ),
    );
    let (status, v) = json_of(&app, "/api/spotify/playlists").await;
    assert_eq!(status, 200, "{v}");
    let items = v["items"].as_array().unwrap();
    let names: Vec<&str> = items.iter().map(|i| i["name"].as_str().unwrap()).collect();
    assert_eq!(names, ["Playlist Mine1", "Playlist OldShape"]);
    let first = &items[0];
    assert_eq!(first["id"], "Mine1");
    assert_eq!(first["url"], "https://open.spotify.com/playlist/Mine1");
    assert_eq!(
        first["embedUrl"],
        "https://open.spotify.com/embed/playlist/Mine1"
    );
    assert_eq!(first["tracks"], 5);
    assert_eq!(first["description"], "Songs & more 'here' by me");
    assert_eq!(first["image"], "https://i.scdn.co/image/Mine1-640");
    assert_eq!(first["images"].as_array().unwrap().len(), 3);
    assert_eq!(first["source"], "spotify");
    assert_eq!(items[1]["tracks"], 41, "the count before 2026 is read too");
    assert_eq!(items[1]["image"], Value::Null);
    assert_eq!(items[1]["images"], json!([]));
    assert_eq!(v["stale"], false);
    // Who the owner is comes from /v1/me.
    assert_eq!(app.fake.stats().me, 1);
}

#[tokio::test]
async fn pages_are_read_by_offset_while_spotify_says_there_is_more_and_at_most_four() {
    let app = start(ON).await;
    for n in 0..6 {
        let items = (0..50)
            .map(|i| playlist(&format!("P{n}x{i}"), OWNER_ID, json!(i % 2 == 0), 1))
            .collect();
        app.fake.set_path(
            &format!("/v1/me/playlists?offset={}", n * 50),
            page(items, true),
        );
    }
    let (status, v) = json_of(&app, "/api/spotify/playlists?limit=50").await;
    assert_eq!(status, 200, "{v}");
    assert_eq!(v["items"].as_array().unwrap().len(), 50);
    let calls: Vec<String> = app
        .fake
        .stats()
        .list_calls
        .into_iter()
        .filter(|c| c.starts_with("/v1/me/playlists"))
        .collect();
    assert_eq!(
        calls,
        (0..4)
            .map(|n| format!("/v1/me/playlists?limit=50&offset={}", n * 50))
            .collect::<Vec<_>>(),
        "four pages, by offset"
    );

    // A page without `next` is the last one.
    let app = start(ON).await;
    app.fake.set_path(
        "/v1/me/playlists?offset=0",
        page(vec![playlist("A", OWNER_ID, json!(true), 1)], true),
    );
    app.fake.set_path(
        "/v1/me/playlists?offset=50",
        page(vec![playlist("B", OWNER_ID, json!(true), 1)], false),
    );
    app.fake.set_path(
        "/v1/me/playlists?offset=100",
        page(vec![playlist("C", OWNER_ID, json!(true), 1)], false),
    );
    let (_, v) = json_of(&app, "/api/spotify/playlists").await;
    let ids: Vec<&str> = v["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, ["A", "B"]);
    assert_eq!(app.fake.stats().playlists, 2);
}

#[tokio::test]
async fn limit_cuts_one_cached_list_and_a_second_request_asks_spotify_nothing() {
    let app = start(ON).await;
    let items = (0..12)
        .map(|i| playlist(&format!("L{i}"), OWNER_ID, json!(true), 1))
        .collect();
    app.fake.set_path("/v1/me/playlists", page(items, false));
    let (_, v) = json_of(&app, "/api/spotify/playlists").await;
    assert_eq!(
        v["items"].as_array().unwrap().len(),
        10,
        "the default limit"
    );
    let (_, v) = json_of(&app, "/api/spotify/playlists?limit=3").await;
    assert_eq!(v["items"].as_array().unwrap().len(), 3);
    let (_, v) = json_of(&app, "/api/spotify/playlists?limit=50").await;
    assert_eq!(v["items"].as_array().unwrap().len(), 12);
    let s = app.fake.stats();
    assert_eq!((s.playlists, s.me), (1, 1), "one read per window");
    let r = app.get("/api/spotify/playlists").await;
    assert_eq!(
        r.headers()["cache-control"].to_str().unwrap(),
        "public, max-age=300, s-maxage=300, stale-while-revalidate=300, stale-if-error=300"
    );
    // After the window, Spotify is asked again.
    app.clock.advance(Duration::from_secs(301));
    json_of(&app, "/api/spotify/playlists").await;
    assert_eq!(app.fake.stats().playlists, 2);
}

#[tokio::test]
async fn bad_limits_are_400_naming_the_parameter_and_off_is_404() {
    let app = start(ON).await;
    for q in ["limit=0", "limit=51", "limit=x", "other=1"] {
        let (status, v) = json_of(&app, &format!("/api/spotify/playlists?{q}")).await;
        assert_eq!(status, 400, "{q}: {v}");
        let reason = v["error"].as_str().unwrap_or_default().to_string() + &v.to_string();
        assert!(
            reason.contains("limit") || reason.contains("other"),
            "{q}: {v}"
        );
    }
    let off = start(&[]).await;
    let (status, v) = json_of(&off, "/api/spotify/playlists").await;
    assert_eq!(status, 404, "{v}");
    assert!(v.to_string().contains("PROFILE_ENDPOINTS=playlists"), "{v}");
    assert_eq!(off.fake.stats().playlists, 0);
}

#[tokio::test]
async fn a_missing_scope_answers_null_and_warns_once_to_authorize() {
    let (buffer, _guard) = LogBuffer::capture_info();

    let app = TestApp::start(ON).await;
    app.fake
        .grant_scopes("user-read-currently-playing user-read-recently-played");
    app.fake.set_path(
        "/v1/me/playlists",
        page(vec![playlist("Mine", OWNER_ID, json!(true), 1)], false),
    );
    for _ in 0..3 {
        let (status, v) = json_of(&app, "/api/spotify/playlists").await;
        assert_eq!((status, v), (200, Value::Null));
    }
    assert_eq!(app.fake.stats().playlists, 1, "cached for the window");
    let text = buffer.text();
    let warns: Vec<&str> = text
        .lines()
        .filter(|l| l.contains("WARN") && l.contains("playlist-read-private"))
        .collect();
    assert_eq!(warns.len(), 1, "{text}");
    assert!(warns[0].contains("nowplaying authorize"), "{}", warns[0]);
}

#[tokio::test]
async fn hidden_is_null_without_asking_spotify() {
    let app = start(ON).await;
    app.fake.set_path(
        "/v1/me/playlists",
        page(vec![playlist("Mine", OWNER_ID, json!(true), 1)], false),
    );
    std::fs::write(app.creds_path.with_file_name("hidden"), "true\n").unwrap();
    let (status, v) = json_of(&app, "/api/spotify/playlists").await;
    assert_eq!((status, v), (200, Value::Null));
    assert_eq!(app.fake.stats().playlists, 0);
    std::fs::remove_file(app.creds_path.with_file_name("hidden")).unwrap();
    let (_, v) = json_of(&app, "/api/spotify/playlists").await;
    assert_eq!(v["items"][0]["id"], "Mine");
}

#[tokio::test]
async fn with_lastfm_alone_the_playlists_are_null_and_nobody_is_asked() {
    let lf = FakeLastfm::start().await;
    let vars = [
        ("SOURCE", "lastfm"),
        ("LASTFM_USER", USER),
        ("LASTFM_API_KEY", API_KEY),
        ("LASTFM_API_BASE_URL", lf.base.as_str()),
        ("PROFILE_ENDPOINTS", "playlists"),
    ];
    let app = TestApp::start(&vars).await;
    let (status, v) = json_of(&app, "/api/spotify/playlists").await;
    assert_eq!((status, v), (200, Value::Null));
    assert_eq!(lf.total_calls(), 0);
    assert_eq!(app.fake.stats().playlists, 0);
}

#[tokio::test]
async fn the_playlists_card_draws_each_cover_name_and_count_from_the_cached_list() {
    let app = start(ON).await;
    let base = app.fake.base.clone();
    let mut mine = playlist("Mine1", OWNER_ID, json!(true), 0);
    mine["images"] = json!([640, 300, 64].map(|side| json!({
        "url": format!("{base}/img/mine-{side}.jpg"), "width": side, "height": side
    })));
    let mut one = playlist("One", OWNER_ID, json!(true), 0);
    one["items"]["total"] = json!(1);
    app.fake.set_path(
        "/v1/me/playlists",
        page(
            vec![mine, one, playlist("Private1", OWNER_ID, json!(false), 0)],
            false,
        ),
    );
    let r = app.get("/api/spotify/playlists.svg").await;
    assert_eq!(r.status(), 200);
    assert!(r.headers()["content-type"]
        .to_str()
        .unwrap()
        .starts_with("image/svg+xml"));
    let svg = r.text().await.unwrap();
    assert!(svg.contains(">Playlists<"), "{svg}");
    assert!(
        svg.contains("Playlist Mine1") && svg.contains("5 tracks"),
        "{svg}"
    );
    assert!(
        svg.contains("Playlist One") && svg.contains("1 track<"),
        "{svg}"
    );
    assert!(!svg.contains("Private1"), "{svg}");
    assert_eq!(svg.matches("<image ").count(), 1, "the one cover: {svg}");
    assert_eq!(app.fake.image_calls_to("/img/mine-64.jpg"), 1);
    // The JSON and the card share one cached list.
    json_of(&app, "/api/spotify/playlists").await;
    assert_eq!(app.fake.stats().playlists, 1);

    let off = start(&[]).await;
    assert_eq!(off.get("/api/spotify/playlists.svg").await.status(), 404);
    let r = app.get("/api/spotify/playlists.svg?limit=11").await;
    assert_eq!(r.status(), 400);
    assert!(r.text().await.unwrap().contains("limit"));
}
