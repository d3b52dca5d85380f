//! The privacy rules against the fake Spotify and the fake Last.fm: a hidden play never appears in
//! `/api/spotify`, a list, a card or the history, and now playing falls back to the most recent
//! visible play, exactly as when nothing plays.
use std::sync::Arc;

use nowplaying::history::memory::MemoryHistory;
use nowplaying::store::memory::MemoryState;
use proptest::prelude::*;
use serde_json::{json, Value};

use crate::support::fake_lastfm::{self, FakeLastfm};
use crate::support::*;

/// A Spotify id (22 characters of base 62) made from `seed`.
fn id(seed: &str) -> String {
    format!("{seed:0>22}")
        .chars()
        .rev()
        .take(22)
        .collect::<String>()
}

/// A track with one artist (ids as Spotify writes them), explicit or not.
fn track(name: &str, artist: &str, explicit: bool) -> Value {
    let tid = id(&format!("t{name}").replace(' ', ""));
    json!({
        "type": "track", "id": tid, "uri": format!("spotify:track:{tid}"), "name": name,
        "duration_ms": 200_000, "is_local": false, "explicit": explicit,
        "external_urls": {"spotify": format!("https://open.spotify.com/track/{tid}")},
        "artists": [{"name": artist, "id": id(&format!("a{artist}").replace(' ', ""))}],
        "album": {"name": format!("{name} (album)"), "images": []}
    })
}

fn episode(name: &str, show: &str) -> Value {
    let eid = id(&format!("e{name}").replace(' ', ""));
    json!({
        "type": "episode", "id": eid, "uri": format!("spotify:episode:{eid}"), "name": name,
        "duration_ms": 3_600_000,
        "external_urls": {"spotify": format!("https://open.spotify.com/episode/{eid}")},
        "images": [], "show": {"id": id(&format!("s{show}").replace(' ', "")), "name": show, "images": []}
    })
}

/// The app's clock as RFC 3339, `minutes` earlier.
fn ago(app: &TestApp, minutes: u64) -> String {
    let at = app.app.upstream.now().as_millis() - minutes * 60_000;
    time::OffsetDateTime::from_unix_timestamp_nanos(at as i128 * 1_000_000)
        .unwrap()
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap()
}

/// Plays `current` (progress `progress_ms`) with `recent` (newest first, 5 minutes apart from
/// 5 minutes ago) behind it.
fn script(app: &TestApp, current: Option<Value>, progress_ms: u64, recent: &[Value]) {
    match current {
        Some(item) => {
            app.fake
                .set_current(Scripted::json(bodies::playing(item, true, progress_ms)))
        }
        None => app.fake.set_current(Scripted::status(204)),
    }
    let plays: Vec<(Value, String)> = recent
        .iter()
        .enumerate()
        .map(|(i, t)| (t.clone(), ago(app, 5 * (i as u64 + 1))))
        .collect();
    let refs: Vec<(Value, &str)> = plays
        .iter()
        .map(|(t, at)| (t.clone(), at.as_str()))
        .collect();
    app.fake.set_recent(Scripted::json(bodies::history(&refs)));
}

/// Everything a visitor can read: now playing, the history list, the card.
async fn everything(app: &TestApp) -> String {
    app.expire_cache();
    let mut out = String::new();
    for path in [
        "/api/spotify",
        "/api/spotify/recent?limit=50",
        "/api/spotify.svg",
    ] {
        let r = app.get(path).await;
        assert_eq!(r.status(), 200, "{path}");
        out.push_str(&r.text().await.unwrap());
        out.push('\n');
    }
    out
}

async fn now_name(app: &TestApp) -> Value {
    app.expire_cache();
    app.now().await["name"].clone()
}

#[tokio::test]
async fn explicit_tracks_are_hidden_and_the_newest_clean_play_stands_in() {
    let app = TestApp::start(&[("HIDE_EXPLICIT", "true")]).await;
    let dirty = track("Dirty Song", "Band", true);
    let clean = track("Clean Song", "Band", false);
    script(
        &app,
        Some(dirty.clone()),
        90_000,
        &[dirty.clone(), clean.clone()],
    );
    assert_eq!(now_name(&app).await, "Clean Song");
    let seen = everything(&app).await;
    assert!(!seen.contains("Dirty Song"), "{seen}");
    assert!(seen.contains("Clean Song"));
    // Without the rule the same answers show it.
    let open = TestApp::start(&[]).await;
    script(&open, Some(dirty), 90_000, &[clean]);
    assert_eq!(now_name(&open).await, "Dirty Song");
}

#[tokio::test]
async fn podcasts_artists_tracks_and_shows_are_hidden_by_their_rules() {
    let hidden_artist = track("By Them", "Secret Band", false);
    let hidden_track = track("That One", "Band", false);
    let show_ep = episode("Ep 1", "Secret Show");
    let visible = track("Fine Song", "Band", false);
    let artist_id = id("aSecretBand");
    let track_uri = hidden_track["uri"].as_str().unwrap().to_string();
    let show_link = format!("https://open.spotify.com/show/{}", id("sSecretShow"));
    for (vars, current) in [
        (
            vec![("HIDE_ARTISTS", artist_id.clone())],
            hidden_artist.clone(),
        ),
        (
            vec![("HIDE_ARTISTS", "  secret   BAND ".to_string())],
            hidden_artist.clone(),
        ),
        (
            vec![("HIDE_TRACKS", track_uri.clone())],
            hidden_track.clone(),
        ),
        (vec![("HIDE_SHOWS", show_link.clone())], show_ep.clone()),
        (vec![("HIDE_PODCASTS", "true".to_string())], show_ep.clone()),
    ] {
        let vars: Vec<(&str, &str)> = vars.iter().map(|(k, v)| (*k, v.as_str())).collect();
        let app = TestApp::start(&vars).await;
        let hidden_name = current["name"].as_str().unwrap().to_string();
        script(
            &app,
            Some(current.clone()),
            90_000,
            &[current.clone(), visible.clone()],
        );
        assert_eq!(now_name(&app).await, "Fine Song", "{vars:?}");
        let seen = everything(&app).await;
        assert!(!seen.contains(&hidden_name), "{vars:?}: {seen}");
        assert!(!seen.contains(current["id"].as_str().unwrap()), "{vars:?}");
    }
}

#[tokio::test]
async fn a_hidden_artist_leaves_the_top_lists_with_no_gap_in_the_ranks() {
    let app = TestApp::start(&[
        ("PROFILE_ENDPOINTS", "top"),
        ("HIDE_ARTISTS", &id("aSecretBand")),
    ])
    .await;
    let artists: Vec<Value> = ["Open One", "Secret Band", "Open Two"]
        .iter()
        .map(|n| {
            let aid = id(&format!("a{n}").replace(' ', ""));
            let mut a = bodies::artist(&aid, n);
            a["external_urls"] =
                json!({"spotify": format!("https://open.spotify.com/artist/{aid}")});
            a
        })
        .collect();
    app.fake
        .set_path("/v1/me/top/artists", Scripted::json(bodies::page(artists)));
    let tracks = vec![
        track("Top A", "Band", false),
        track("Top B", "Secret Band", false),
        track("Top C", "Band", false),
    ];
    app.fake
        .set_path("/v1/me/top/tracks", Scripted::json(bodies::page(tracks)));
    let top: Value = app
        .get("/api/spotify/top/artists")
        .await
        .json()
        .await
        .unwrap();
    let names: Vec<&str> = top["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["Open One", "Open Two"], "{top}");
    let ranks: Vec<u64> = top["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["rank"].as_u64().unwrap())
        .collect();
    assert_eq!(ranks, [1, 2]);
    let top: Value = app
        .get("/api/spotify/top/tracks")
        .await
        .json()
        .await
        .unwrap();
    let names: Vec<&str> = top["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["Top A", "Top C"], "{top}");
    let card = app
        // No art: the fake lists Spotify CDN URLs, which a test never fetches.
        .get("/api/spotify/top.svg?kind=tracks&hide_art=1")
        .await
        .text()
        .await
        .unwrap();
    assert!(!card.contains("Top B") && card.contains("Top C"));
}

#[tokio::test]
async fn quiet_hours_hide_what_plays_and_what_was_played_in_them() {
    // The app's clock is 11:06 UTC: quiet from 10:50 to 12:00 hides what plays and the play of
    // 5 minutes ago; the play of 20 minutes ago (10:46) shows.
    let app = TestApp::start(&[("QUIET_HOURS", "10:50-12:00"), ("TIMEZONE", "UTC")]).await;
    let a = track("Now Song", "Band", false);
    let b = track("Five Ago", "Band", false);
    let c = track("Ten Ago", "Band", false);
    let d = track("Fifteen Ago", "Band", false);
    let e = track("Twenty Ago", "Band", false);
    script(&app, Some(a), 90_000, &[b, c, d, e]);
    assert_eq!(now_name(&app).await, "Twenty Ago");
    let seen = everything(&app).await;
    for hidden in ["Now Song", "Five Ago", "Ten Ago"] {
        assert!(!seen.contains(hidden), "{hidden}: {seen}");
    }
    // In Berlin (UTC+1 in November) the same hours are 09:50 to 11:00 UTC: nothing hidden now.
    let berlin = TestApp::start(&[
        ("QUIET_HOURS", "10:50-12:00"),
        ("TIMEZONE", "Europe/Berlin"),
    ])
    .await;
    script(&berlin, Some(track("Now Song", "Band", false)), 90_000, &[]);
    assert_eq!(now_name(&berlin).await, "Now Song");
}

#[tokio::test]
async fn a_private_session_shows_nothing_new_and_needs_the_players_scope() {
    let app = TestApp::start(&[]).await;
    app.fake.grant_scopes(
        "user-read-currently-playing user-read-recently-played user-read-playback-state",
    );
    let secret = track("Private Song", "Band", false);
    let before = track("Public Song", "Band", false);
    script(
        &app,
        Some(secret.clone()),
        90_000,
        std::slice::from_ref(&before),
    );
    app.fake.set_private_session(true);
    assert_eq!(now_name(&app).await, "Public Song");
    assert!(!everything(&app).await.contains("Private Song"));
    assert!(app.fake.stats().player >= 1);
    app.fake.set_private_session(false);
    assert_eq!(now_name(&app).await, "Private Song");

    // A sign-in without the scope: Spotify refuses the player once, then currently-playing is
    // read (a private session cannot be seen) and the service says so.
    let old = TestApp::start(&[]).await;
    script(
        &old,
        Some(secret.clone()),
        90_000,
        std::slice::from_ref(&before),
    );
    assert_eq!(now_name(&old).await, "Private Song");
    assert_eq!(now_name(&old).await, "Private Song");
    assert_eq!(old.fake.stats().player, 1, "asked once, then no more");

    // The rule off: the player is never asked.
    let off = TestApp::start(&[("RESPECT_PRIVATE_SESSION", "false")]).await;
    off.fake.grant_scopes("user-read-playback-state");
    off.fake.set_private_session(true);
    script(&off, Some(secret), 90_000, &[before]);
    assert_eq!(now_name(&off).await, "Private Song");
    assert_eq!(off.fake.stats().player, 0);
}

#[tokio::test]
async fn a_publishing_delay_holds_a_play_back_until_it_played_that_long() {
    let app = TestApp::start(&[("PUBLISH_DELAY_SECONDS", "60")]).await;
    let new = track("Just Started", "Band", false);
    let old = track("Earlier Song", "Band", false);
    script(&app, Some(new.clone()), 10_000, std::slice::from_ref(&old));
    assert_eq!(now_name(&app).await, "Earlier Song");
    script(&app, Some(new), 61_000, &[old]);
    assert_eq!(now_name(&app).await, "Just Started");
}

#[tokio::test]
async fn last_fm_answers_hide_artists_and_tracks_by_name() {
    let lf = FakeLastfm::start().await;
    let app = TestApp::start(&[
        ("SOURCE", "lastfm"),
        ("LASTFM_USER", fake_lastfm::USER),
        ("LASTFM_API_KEY", fake_lastfm::API_KEY),
        ("LASTFM_API_BASE_URL", lf.base.as_str()),
        ("HIDE_TRACKS", "secret song"),
    ])
    .await;
    let body = json!({"recenttracks": {"track": [
        fake_lastfm::bodies::playing("Secret Song"),
        fake_lastfm::bodies::scrobble("Secret Song", 1_794_999_900),
        fake_lastfm::bodies::scrobble("Earlier Song", 1_794_999_600)
    ], "@attr": {"user": fake_lastfm::USER, "totalPages": "1", "page": "1", "perPage": "50", "total": "3"}}});
    lf.set(fake_lastfm::RECENT, Scripted::json(body));
    let seen = everything(&app).await;
    assert!(!seen.contains("Secret Song"), "{seen}");
    assert_eq!(now_name(&app).await, "Earlier Song");
    // By artist name too (Last.fm says no ids).
    let by_artist = TestApp::start(&[
        ("SOURCE", "lastfm"),
        ("LASTFM_USER", fake_lastfm::USER),
        ("LASTFM_API_KEY", fake_lastfm::API_KEY),
        ("LASTFM_API_BASE_URL", lf.base.as_str()),
        ("HIDE_ARTISTS", "scroobius"),
    ])
    .await;
    assert!(by_artist.now().await.is_null());
}

#[tokio::test]
async fn the_history_never_stores_a_hidden_play() {
    let fake = FakeSpotify::start().await;
    let history = Arc::new(MemoryHistory::new());
    let app = TestApp::start_with_history(
        fake.clone(),
        &[("HIDE_ARTISTS", "Secret Band"), ("HIDE_EXPLICIT", "true")],
        Arc::new(MemoryState::new()),
        history.clone(),
    )
    .await;
    script(
        &app,
        None,
        0,
        &[
            track("Hidden One", "Secret Band", false),
            track("Explicit One", "Band", true),
            track("Kept One", "Band", false),
        ],
    );
    let run = app.app.collect().await.unwrap().unwrap();
    assert_eq!(run.new, 1, "{run:?}");
    let page = nowplaying::history::HistoryStore::range(
        history.as_ref(),
        nowplaying::clock::Timestamp::EPOCH,
        nowplaying::history::LATEST,
        std::num::NonZeroUsize::new(10).unwrap(),
        None,
    )
    .await
    .unwrap();
    let names: Vec<&str> = page.plays.iter().map(|p| p.name.as_str()).collect();
    assert_eq!(names, ["Kept One"]);
}

#[tokio::test]
async fn bad_rules_stop_start_up_with_one_line_naming_the_variable() {
    for (var, val) in [
        ("TIMEZONE", "Mars/Olympus"),
        ("QUIET_HOURS", "late-early"),
        ("HIDE_ARTISTS", "spotify:artist:not-an-id"),
        ("HIDE_TRACKS", "spotify:artist:4Z8W4fKeB5YxbusRsdQVPb"),
    ] {
        let err = nowplaying::config::Config::from_lookup(|k| (k == var).then(|| val.to_string()))
            .unwrap_err()
            .to_string();
        assert!(
            err.starts_with(var) && err.contains(val) && !err.contains('\n'),
            "{err}"
        );
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 16, .. ProptestConfig::default() })]

    /// For random plays and random rules, no answer of any endpoint contains a hidden item's
    /// name or id.
    #[test]
    fn no_answer_contains_a_hidden_item(
        artists in proptest::collection::vec(0usize..4, 1..8),
        explicit in proptest::collection::vec(any::<bool>(), 8),
        hide_artist in 0usize..4,
        hide_explicit in any::<bool>(),
        playing in any::<bool>(),
    ) {
        let rt = tokio::runtime::Runtime::new().unwrap();
        rt.block_on(async {
            let band = |i: usize| format!("Band{i}");
            let plays: Vec<Value> = artists
                .iter()
                .enumerate()
                .map(|(i, a)| track(&format!("Song{i}x"), &band(*a), explicit[i]))
                .collect();
            let hidden_artist = id(&format!("a{}", band(hide_artist)));
            let mut vars = vec![("HIDE_ARTISTS", hidden_artist.clone())];
            if hide_explicit {
                vars.push(("HIDE_EXPLICIT", "true".into()));
            }
            let vars: Vec<(&str, &str)> = vars.iter().map(|(k, v)| (*k, v.as_str())).collect();
            let app = TestApp::start(&vars).await;
            let current = playing.then(|| plays[0].clone());
            script(&app, current, 90_000, &plays);
            let seen = everything(&app).await;
            for (i, a) in artists.iter().enumerate() {
                let hidden = *a == hide_artist || (hide_explicit && explicit[i]);
                if hidden {
                    let name = format!("Song{i}x");
                    assert!(!seen.contains(&format!("\"{name}\"")) && !seen.contains(&format!(">{name}<")),
                        "{name} is hidden: {seen}");
                    assert!(!seen.contains(plays[i]["id"].as_str().unwrap()), "{seen}");
                }
            }
            assert!(!seen.contains(&band(hide_artist)), "{seen}");
        });
    }
}

#[tokio::test]
async fn the_history_endpoints_leave_out_plays_a_later_rule_hides() {
    use nowplaying::history::{HistoryStore, Play, PlayKind, PlaySource};
    let history = Arc::new(MemoryHistory::new());
    let play = |minutes: u64, name: &str, artist: &str| Play {
        played_at: T0 - std::time::Duration::from_secs(60 * minutes),
        key: format!("spotify:track:{}", id(&format!("t{name}").replace(' ', ""))),
        name: name.into(),
        artists: artist.into(),
        album: "An Album".into(),
        album_image: None,
        song_url: None,
        track_id: None,
        kind: PlayKind::Track,
        ms_played: Some(std::time::Duration::from_secs(200)),
        short: false,
        source: PlaySource::Spotify,
    };
    // Stored before the owner set the rule.
    history
        .add(&[
            play(10, "Kept Song", "Band"),
            play(20, "Their Song", "Secret Band"),
        ])
        .await
        .unwrap();
    let app = TestApp::start_with_history(
        FakeSpotify::start().await,
        &[("HIDE_ARTISTS", "Secret Band")],
        Arc::new(MemoryState::new()),
        history,
    )
    .await;
    for path in [
        "/api/spotify/history",
        "/api/spotify/history?from=2026-11-01",
        "/api/spotify/history/stats",
        "/api/spotify/history.svg",
    ] {
        let r = app.get(path).await;
        assert_eq!(r.status(), 200, "{path}");
        let body = r.text().await.unwrap();
        assert!(
            !body.contains("Secret Band") && !body.contains("Their Song"),
            "{path}: {body}"
        );
        if path.ends_with("history") {
            assert!(body.contains("Kept Song"), "{path}: {body}");
        }
    }
}

#[tokio::test]
async fn quiet_hours_follow_the_clock_across_a_daylight_saving_change() {
    // New York falls back on 2026-11-01 at 02:00 EDT (06:00 UTC): 01:00-02:00 local happens twice.
    let app = TestApp::start(&[
        ("QUIET_HOURS", "01:00-03:00"),
        ("TIMEZONE", "America/New_York"),
        ("SHOW_RECENT", "false"),
    ])
    .await;
    let song = track("Night Song", "Band", false);
    script(&app, Some(song), 90_000, &[]);
    for (utc, quiet) in [
        ("2026-11-01T04:59:00Z", false), // 00:59 EDT
        ("2026-11-01T05:30:00Z", true),  // 01:30 EDT
        ("2026-11-01T06:30:00Z", true),  // 01:30 EST, the second time
        ("2026-11-01T07:59:00Z", true),  // 02:59 EST
        ("2026-11-01T08:00:00Z", false), // 03:00 EST
    ] {
        app.clock
            .set(nowplaying::clock::Timestamp::parse_rfc3339(utc).unwrap());
        let name = now_name(&app).await;
        if quiet {
            assert!(name.is_null(), "{utc}: {name}");
        } else {
            assert_eq!(name, "Night Song", "{utc}");
        }
    }
}
