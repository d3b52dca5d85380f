//! The listening history's endpoints over a history filled in memory: pages newest first with a
//! cursor, whole-day ranges, parameters refused by name, off and hidden like the other lists, a
//! failing store answered `null`, and the calendar card (well-formed, nothing external, both
//! themes, a stable `ETag`).

use std::num::NonZeroUsize;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use nowplaying::clock::Timestamp;
use nowplaying::history::memory::MemoryHistory;
use nowplaying::history::{AddOutcome, Cursor, HistoryStore, Page, Play, PlayKind, PlaySource};
use nowplaying::store::StoreError;
use reqwest::header;
use serde_json::Value;

use crate::support::{FakeSpotify, TestApp, T0};
use nowplaying::store::memory::MemoryState;

const ON: &[(&str, &str)] = &[("PROFILE_ENDPOINTS", "history")];
const DAY: u64 = 86_400_000;

/// Midnight UTC of the day `T0` falls on (2026-11-18).
fn today() -> u64 {
    T0.as_millis() / DAY * DAY
}

fn play(at: u64, n: usize, ms: Option<u64>) -> Play {
    Play {
        played_at: Timestamp::from_millis(at),
        key: format!("spotify:track:t{n}"),
        name: format!("Song {n}"),
        artists: format!("Artist {}", n % 3),
        album: format!("Album {}", n % 2),
        album_image: Some(format!("https://i.scdn.co/image/a{}", n % 2)),
        song_url: Some(format!("https://open.spotify.com/track/t{n}")),
        track_id: Some(format!("t{n}")),
        kind: PlayKind::Track,
        ms_played: ms.map(Duration::from_millis),
        short: false,
        source: PlaySource::Spotify,
    }
}

/// The service with `history` and exactly the configuration `extra` gives.
async fn start_app(extra: &[(&str, &str)], history: Arc<dyn HistoryStore>) -> TestApp {
    let fake = FakeSpotify::start().await;
    TestApp::start_full(fake, extra, Arc::new(MemoryState::new()), Some(history)).await
}

async fn app_with(plays: &[Play], extra: &[(&str, &str)]) -> (TestApp, Arc<MemoryHistory>) {
    let history = Arc::new(MemoryHistory::new());
    history.add(plays).await.unwrap();
    let app = start_app(extra, history.clone()).await;
    (app, history)
}

async fn json(app: &TestApp, path: &str) -> (u16, Value) {
    let r = app.get(path).await;
    let status = r.status().as_u16();
    (status, r.json().await.unwrap())
}

#[tokio::test]
async fn paging_with_the_cursor_gives_every_play_once_newest_first() {
    // 130 plays over 20 days, some at the same millisecond (told apart by their key).
    let mut plays: Vec<Play> = (0..130)
        .map(|i| {
            play(
                today() - (i as u64 / 7) * DAY + (i as u64 % 5) * 1_000,
                i,
                None,
            )
        })
        .collect();
    plays.sort_by(|a, b| b.id().cmp(&a.id()));
    let (app, _) = app_with(&plays, ON).await;

    let mut seen: Vec<String> = Vec::new();
    let mut path = "/api/spotify/history?limit=7".to_string();
    loop {
        let (status, page) = json(&app, &path).await;
        assert_eq!(status, 200, "{page}");
        let items = page["items"].as_array().unwrap();
        assert!(items.len() <= 7);
        seen.extend(items.iter().map(|i| {
            format!(
                "{}|{}",
                i["playedAt"].as_str().unwrap(),
                i["trackId"].as_str().unwrap()
            )
        }));
        match page["next"].as_str() {
            Some(next) => path = format!("/api/spotify/history?limit=7&cursor={next}"),
            None => break,
        }
    }
    let want: Vec<String> = plays
        .iter()
        .map(|p| {
            let v = nowplaying::history::stats::rfc3339_millis(p.played_at);
            format!("{v}|{}", p.track_id.as_deref().unwrap())
        })
        .collect();
    assert_eq!(seen, want, "every play once, newest first");

    // The default page is the first 50, with the 50th play's cursor as `next`.
    let (_, first) = json(&app, "/api/spotify/history").await;
    assert_eq!(first["items"].as_array().unwrap().len(), 50);
    let next: Cursor = first["next"].as_str().unwrap().parse().unwrap();
    assert_eq!(next, Cursor::after(&plays[49]));
    assert_eq!(first["stale"], false);
    let (_, all) = json(&app, "/api/spotify/history?limit=200").await;
    assert_eq!(all["items"].as_array().unwrap().len(), 130);
    assert_eq!(all["next"], Value::Null);
}

#[tokio::test]
async fn items_carry_the_play_and_ms_played_only_when_known() {
    let (app, _) = app_with(
        &[
            play(today() + 123, 1, Some(61_000)),
            play(today() - DAY, 2, None),
        ],
        ON,
    )
    .await;
    let (_, page) = json(&app, "/api/spotify/history").await;
    let first = &page["items"][0];
    assert_eq!(first["playedAt"], "2026-11-18T00:00:00.123Z");
    assert_eq!(first["msPlayed"], 61_000);
    assert_eq!(first["name"], "Song 1");
    assert_eq!(first["artists"], "Artist 1");
    assert_eq!(first["album"], "Album 1");
    assert_eq!(first["albumImage"], "https://i.scdn.co/image/a1");
    assert_eq!(first["songUrl"], "https://open.spotify.com/track/t1");
    assert_eq!(first["trackId"], "t1");
    assert_eq!(first["type"], "track");
    assert_eq!(first["source"], "spotify");
    assert_eq!(page["items"][1]["playedAt"], "2026-11-17T00:00:00Z");
    assert!(page["items"][1].get("msPlayed").is_none());
}

#[tokio::test]
async fn from_and_to_are_whole_utc_days() {
    let d10 = today() - 8 * DAY; // 2026-11-10
    let plays = [
        play(d10 - 1, 0, None),               // 2026-11-09T23:59:59.999Z
        play(d10, 1, Some(120_000)),          // 2026-11-10T00:00:00Z
        play(d10 + DAY - 1, 2, Some(30_000)), // 2026-11-10T23:59:59.999Z
        play(d10 + DAY, 3, None),             // 2026-11-11T00:00:00Z
    ];
    let (app, _) = app_with(&plays, ON).await;
    let names = |v: &Value| -> Vec<String> {
        v["items"]
            .as_array()
            .unwrap()
            .iter()
            .map(|i| i["name"].as_str().unwrap().to_string())
            .collect()
    };
    for (query, want) in [
        ("from=2026-11-10&to=2026-11-10", vec!["Song 2", "Song 1"]),
        (
            "from=2026-11-10T12:00:00Z&to=2026-11-11T00:00:00Z",
            vec!["Song 2", "Song 1"],
        ),
        (
            "from=2026-11-10&to=2026-11-11T00:00:00.001Z",
            vec!["Song 3", "Song 2", "Song 1"],
        ),
        (
            "from=2026-11-10T01:00:00%2B02:00&to=2026-11-09",
            vec!["Song 0"],
        ),
        ("to=2026-11-09", vec!["Song 0"]),
    ] {
        let (status, page) = json(&app, &format!("/api/spotify/history?{query}")).await;
        assert_eq!(status, 200, "{query}: {page}");
        assert_eq!(names(&page), want, "{query}");
    }

    let (status, s) = json(
        &app,
        "/api/spotify/history/stats?from=2026-11-10&to=2026-11-10",
    )
    .await;
    assert_eq!(status, 200, "{s}");
    assert_eq!(
        (s["from"].as_str(), s["to"].as_str()),
        (Some("2026-11-10"), Some("2026-11-10"))
    );
    assert_eq!(s["days"].as_array().unwrap().len(), 1);
    assert_eq!(s["days"][0]["plays"], 2);
    assert_eq!(s["days"][0]["timedPlays"], 2);
    assert_eq!(s["days"][0]["minutesPlayed"], 2.5);
    assert_eq!(s["totals"]["plays"], 2);
    assert_eq!(s["totals"]["firstPlay"], "2026-11-10T00:00:00Z");
    assert_eq!(s["totals"]["lastPlay"], "2026-11-10T23:59:59.999Z");
    assert_eq!(s["complete"], true);

    // The default: the last 365 days, today included.
    let (_, s) = json(&app, "/api/spotify/history/stats").await;
    assert_eq!(
        (s["from"].as_str(), s["to"].as_str()),
        (Some("2025-11-19"), Some("2026-11-18"))
    );
    assert_eq!(s["totals"]["plays"], 4);
    assert_eq!(s["totals"]["days"], 3);
    assert_eq!(s["topTracks"].as_array().unwrap().len(), 4);
    assert_eq!(s["stale"], false);
}

#[tokio::test]
async fn the_default_views_are_cached_and_parameterised_ones_read_the_store() {
    let (app, history) = app_with(&[play(today(), 1, None)], ON).await;
    let (_, s) = json(&app, "/api/spotify/history/stats").await;
    assert_eq!(s["totals"]["plays"], 1);
    let r = app.get("/api/spotify/history/stats").await;
    let cc = r.headers()[header::CACHE_CONTROL]
        .to_str()
        .unwrap()
        .to_string();
    assert!(cc.contains("max-age=300"), "{cc}");

    history
        .add(&[play(today() + 1_000, 2, None)])
        .await
        .unwrap();
    let (_, s) = json(&app, "/api/spotify/history/stats").await;
    assert_eq!(
        s["totals"]["plays"], 1,
        "served from the cache within its window"
    );
    let (_, s) = json(&app, "/api/spotify/history/stats?to=2026-11-18").await;
    assert_eq!(s["totals"]["plays"], 2, "a range is read from the store");
    app.clock.advance(Duration::from_secs(301));
    let (_, s) = json(&app, "/api/spotify/history/stats").await;
    assert_eq!(
        s["totals"]["plays"], 2,
        "a new window reads the store again"
    );
}

#[tokio::test]
async fn bad_parameters_are_a_400_naming_the_parameter() {
    let (app, _) = app_with(&[], ON).await;
    for (path, name) in [
        ("/api/spotify/history?from=yesterday", "from"),
        ("/api/spotify/history?to=2026-02-30", "to"),
        ("/api/spotify/history?limit=0", "limit"),
        ("/api/spotify/history?limit=201", "limit"),
        ("/api/spotify/history?limit=ten", "limit"),
        ("/api/spotify/history?cursor=not-a-cursor", "cursor"),
        ("/api/spotify/history?page=2", "page"),
        ("/api/spotify/history?from=2026-11-10&to=2026-11-09", "to"),
        ("/api/spotify/history?from=2025-01-01&to=2026-11-01", "from"),
        ("/api/spotify/history/stats?from=1969-12-31", "from"),
        ("/api/spotify/history/stats?limit=5", "limit"),
        ("/api/spotify/history/stats?to=soon", "to"),
    ] {
        let r = app.get(path).await;
        assert_eq!(r.status(), 400, "{path}");
        assert_eq!(r.headers()[header::CACHE_CONTROL], "no-store");
        let body: Value = r.json().await.unwrap();
        assert_eq!(body["parameter"], name, "{path}: {body}");
        assert!(body["error"].as_str().unwrap().contains(name), "{body}");
    }
    for (query, name) in [
        ("theme=art", "theme"),
        ("width=500", "width"),
        ("bg=red", "bg"),
    ] {
        let r = app.get(&format!("/api/spotify/history.svg?{query}")).await;
        assert_eq!(r.status(), 400, "{query}");
        assert!(r.headers()[header::CONTENT_TYPE]
            .to_str()
            .unwrap()
            .starts_with("image/svg+xml"));
        let svg = r.text().await.unwrap();
        roxmltree::Document::parse(&svg).unwrap();
        assert!(svg.contains(name), "{svg}");
    }
}

#[tokio::test]
async fn off_is_a_404_like_the_other_lists() {
    let (app, _) = app_with(&[play(today(), 1, None)], &[]).await;
    let top = app.get("/api/spotify/top/tracks").await;
    assert_eq!(top.status(), 404);
    for path in [
        "/api/spotify/history",
        "/api/spotify/history/stats",
        "/api/spotify/history.svg",
        "/api/spotify/history?limit=0",
    ] {
        let (status, body) = json(&app, path).await;
        assert_eq!(status, 404, "{path}");
        assert!(
            body["error"]
                .as_str()
                .unwrap()
                .contains("PROFILE_ENDPOINTS=history"),
            "{body}"
        );
    }
    // Turned on, but no store in this process: off too.
    let app = TestApp::start(ON).await;
    assert_eq!(app.get("/api/spotify/history").await.status(), 404);
}

#[tokio::test]
async fn hidden_is_null_like_the_other_lists() {
    let (app, _) = app_with(&[play(today(), 1, None)], ON).await;
    std::fs::write(nowplaying::owner::hidden_file(&app.creds_path), "").unwrap();
    let (status, recent) = json(&app, "/api/spotify/recent").await;
    assert_eq!((status, recent), (200, Value::Null));
    for path in [
        "/api/spotify/history",
        "/api/spotify/history?to=2026-11-18",
        "/api/spotify/history/stats",
        "/api/spotify/history/stats?from=2026-11-01",
    ] {
        let (status, body) = json(&app, path).await;
        assert_eq!((status, body), (200, Value::Null), "{path}");
    }
    let svg = app
        .get("/api/spotify/history.svg")
        .await
        .text()
        .await
        .unwrap();
    assert!(svg.contains("nothing to show yet") && !svg.contains("Song 1"));
    assert!(!svg.contains("1 play"), "no day shows a play while hidden");
}

/// A store that fails every call.
struct Failing;

#[async_trait]
impl HistoryStore for Failing {
    async fn add(&self, _: &[Play]) -> Result<AddOutcome, StoreError> {
        Err(down())
    }
    async fn range(
        &self,
        _: Timestamp,
        _: Timestamp,
        _: NonZeroUsize,
        _: Option<&Cursor>,
    ) -> Result<Page, StoreError> {
        Err(down())
    }
    async fn newest(&self, _: PlaySource) -> Result<Option<Timestamp>, StoreError> {
        Err(down())
    }
    async fn forget(&self, _: Option<Timestamp>) -> Result<u64, StoreError> {
        Err(down())
    }
    fn describe(&self) -> String {
        "a history that fails".into()
    }
}

fn down() -> StoreError {
    StoreError::Unavailable {
        store: "a history that fails".into(),
        reason: "down for the test".into(),
    }
}

#[tokio::test]
async fn a_failing_store_is_null_with_a_short_cache_never_a_5xx() {
    let app = start_app(ON, Arc::new(Failing)).await;
    for path in [
        "/api/spotify/history",
        "/api/spotify/history?from=2026-11-01",
        "/api/spotify/history/stats",
        "/api/spotify/history/stats?from=2026-11-01",
    ] {
        let r = app.get(path).await;
        assert_eq!(r.status(), 200, "{path}");
        let cc = r.headers()[header::CACHE_CONTROL]
            .to_str()
            .unwrap()
            .to_string();
        let max_age: u64 = cc
            .split(", ")
            .find_map(|p| p.strip_prefix("max-age="))
            .unwrap()
            .parse()
            .unwrap();
        assert!(
            max_age <= 5 && cc.contains("stale-while-revalidate=5"),
            "{path}: {cc}"
        );
        assert_eq!(r.json::<Value>().await.unwrap(), Value::Null, "{path}");
    }
    let r = app.get("/api/spotify/history.svg").await;
    assert_eq!(r.status(), 200);
    let cc = r.headers()[header::CACHE_CONTROL]
        .to_str()
        .unwrap()
        .to_string();
    assert!(cc.contains("max-age=5,"), "{cc}");
    roxmltree::Document::parse(&r.text().await.unwrap()).unwrap();
}

#[tokio::test]
async fn the_calendar_is_well_formed_with_nothing_external_in_both_themes() {
    let plays: Vec<Play> = (0..12)
        .map(|i| play(today() - 2 * DAY + i as u64 * 60_000, i, None))
        .chain([play(today(), 20, None)])
        .collect();
    let (app, _) = app_with(&plays, ON).await;
    let mut tags = Vec::new();
    for theme in ["light", "dark"] {
        let r = app
            .get(&format!("/api/spotify/history.svg?theme={theme}"))
            .await;
        assert_eq!(r.status(), 200);
        let h = r.headers().clone();
        assert_eq!(h[header::CONTENT_TYPE], "image/svg+xml; charset=utf-8");
        assert_eq!(
            h[header::CONTENT_SECURITY_POLICY],
            nowplaying::http::CARD_POLICY
        );
        let etag = h[header::ETAG].to_str().unwrap().to_string();
        let svg = r.text().await.unwrap();
        let doc = roxmltree::Document::parse(&svg).expect("well-formed");
        for n in doc.descendants() {
            assert_ne!(n.tag_name().name(), "script");
            assert_ne!(n.tag_name().name(), "image");
            for a in n.attributes() {
                assert!(
                    !a.name().contains("href") && !a.value().contains("url("),
                    "{}={}",
                    a.name(),
                    a.value()
                );
            }
        }
        assert!(!svg.contains("https://"), "nothing external");
        let days: Vec<_> = doc
            .descendants()
            .filter(|n| n.attribute("class") == Some("np-day"))
            .collect();
        assert_eq!(days.len(), 365);
        let busy = days
            .iter()
            .find(|n| n.attribute("data-date") == Some("2026-11-16"))
            .unwrap();
        assert_eq!(
            busy.first_child().unwrap().text(),
            Some("2026-11-16: 12 plays")
        );
        assert_eq!(busy.attribute("data-level"), Some("4"));
        let today = days.last().unwrap();
        assert_eq!(today.attribute("data-date"), Some("2026-11-18"));
        assert_eq!(today.attribute("data-level"), Some("1"));
        assert!(svg.contains("13 plays in the last year"));

        // The ETag is stable, and answered 304.
        let again = app
            .get(&format!("/api/spotify/history.svg?theme={theme}"))
            .await;
        assert_eq!(again.headers()[header::ETAG].to_str().unwrap(), etag);
        let not_modified = app
            .http
            .get(format!("{}/api/spotify/history.svg?theme={theme}", app.url))
            .header(header::IF_NONE_MATCH, &etag)
            .send()
            .await
            .unwrap();
        assert_eq!(not_modified.status(), 304);
        tags.push(etag);
    }
    assert_ne!(tags[0], tags[1], "each theme has its own tag");

    // The JSON's ETag is stable too.
    let a = app.get("/api/spotify/history/stats").await;
    let b = app.get("/api/spotify/history/stats").await;
    assert_eq!(a.headers()[header::ETAG], b.headers()[header::ETAG]);
    let c = app.get("/api/spotify/history?limit=3").await;
    let d = app.get("/api/spotify/history?limit=3").await;
    assert_eq!(c.headers()[header::ETAG], d.headers()[header::ETAG]);
}

#[tokio::test]
async fn the_other_methods_and_the_preflight_are_answered_like_the_other_endpoints() {
    let (app, _) = app_with(&[], ON).await;
    for path in [
        "/api/spotify/history",
        "/api/spotify/history/stats",
        "/api/spotify/history.svg",
    ] {
        let url = format!("{}{path}", app.url);
        let r = app.http.post(&url).send().await.unwrap();
        assert_eq!(r.status(), 405, "{path}");
        assert_eq!(r.headers()[header::ALLOW], "GET, HEAD, OPTIONS");
        let r = app
            .http
            .request(reqwest::Method::OPTIONS, &url)
            .header(header::ORIGIN, "https://example.com")
            .header("access-control-request-method", "GET")
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 204, "{path}");
        let r = app.http.head(&url).send().await.unwrap();
        assert_eq!(r.status(), 200, "{path}");
        assert!(r.headers().contains_key(header::ETAG));
    }
}

/// On DynamoDB (the emulator, every operation counted by a proxy): a default view is one store
/// read a window, whatever the number of requests; a range with parameters queries the month
/// index and only the months that hold plays; nothing scans.
#[tokio::test]
async fn on_dynamodb_a_default_view_reads_once_a_window_and_a_range_names_its_months() {
    use crate::support::aws;
    let sdk = aws::sdk_config().await;
    let table = aws::create_history_table(&aws::dynamo(&sdk, None)).await;
    let proxy = aws::FaultProxy::start(&crate::support::aws_endpoint()).await;
    let store = Arc::new(nowplaying::history::dynamo::DynamoHistory::new(
        aws::dynamo(&sdk, Some(&proxy.url)),
        table,
    ));
    // Plays in September, October and November 2026.
    let plays: Vec<Play> = (0..9)
        .map(|i| play(today() - (i as u64 * 8 + 1) * DAY, i, Some(60_000)))
        .collect();
    store.add(&plays).await.unwrap();
    proxy.take_ops();
    let app = start_app(ON, store).await;
    let queries = |ops: Vec<String>| {
        assert!(ops.iter().all(|o| o == "Query"), "{ops:?}");
        ops.len()
    };

    let (_, s) = json(&app, "/api/spotify/history/stats").await;
    assert_eq!(s["totals"]["plays"], 9);
    assert_eq!(
        queries(proxy.take_ops()),
        1 + 3,
        "the month index, then each month"
    );
    for _ in 0..5 {
        json(&app, "/api/spotify/history/stats").await;
        app.get("/api/spotify/history.svg?theme=dark").await;
    }
    assert_eq!(
        queries(proxy.take_ops()),
        0,
        "the window's answer serves them all"
    );

    let (_, s) = json(
        &app,
        "/api/spotify/history/stats?from=2026-10-01&to=2026-10-31",
    )
    .await;
    let october = plays
        .iter()
        .filter(|p| {
            nowplaying::history::stats::day_key(nowplaying::history::stats::day_of(p.played_at))
                .starts_with("2026-10")
        })
        .count();
    assert_eq!(s["totals"]["plays"], october);
    assert_eq!(queries(proxy.take_ops()), 2, "the month index and October");

    let (_, page) = json(&app, "/api/spotify/history?from=2026-11-01&limit=2").await;
    assert_eq!(page["items"].as_array().unwrap().len(), 2);
    assert_eq!(queries(proxy.take_ops()), 2, "the month index and November");
}
