//! Filling the history from Last.fm: a paginated scrobble history on the fake, imported with a
//! rate limit and an interruption midway (at any page, or between a page and its checkpoint) and
//! then continued, ends with exactly the history of a clean run; the pace and the bounded
//! retries hold; collection asks only for what is newer than the newest stored scrobble.

use crate::history_import::{all_plays, hidden, CASE};
use crate::support;

use std::path::PathBuf;
use std::time::Duration;

use nowplaying::clock::Timestamp;
use nowplaying::history::memory::MemoryHistory;
use nowplaying::history::{lastfm_key, PlaySource};
use nowplaying::import::lastfm::{self, Checkpoint};
use nowplaying::lastfm::LastFmClient;
use nowplaying::secret::Secret;
use serde_json::Value;
use support::fake_lastfm::{self, bodies, FakeLastfm, API_KEY, RECENT, USER};

/// `n` scrobbles, a minute apart, the newest at `newest` (epoch seconds).
fn scrobbles(n: u64, newest: u64) -> Vec<Value> {
    (0..n)
        .map(|i| bodies::scrobble(&format!("Song {i}"), newest - i * 60))
        .collect()
}

fn fast(checkpoint: Option<PathBuf>) -> lastfm::Options {
    lastfm::Options {
        pace: Duration::from_millis(5),
        rate_limit_wait: Duration::from_millis(20),
        page_size: 50,
        checkpoint,
        ..lastfm::Options::default()
    }
}

const NEWEST: u64 = 1_795_000_000;

#[tokio::test]
async fn an_interrupted_lastfm_import_continues_to_the_history_of_a_clean_run() {
    tokio::time::timeout(CASE, async {
        let key = Secret::new(API_KEY);
        let now = Timestamp::from_secs(NEWEST + 10);
        let dir = tempfile::tempdir().unwrap();

        // A clean run.
        let clean_fake = FakeLastfm::start().await;
        clean_fake.set_scrobbles(scrobbles(430, NEWEST));
        let clean = MemoryHistory::new();
        let client = LastFmClient::new(&clean_fake.base);
        let s = lastfm::import(&clean, &client, &key, USER, now, &fast(None), &hidden())
            .await
            .unwrap();
        assert_eq!((s.new, s.already), (430, 0));
        let pages: Vec<String> = clean_fake
            .queries()
            .iter()
            .map(|q| q["page"].clone())
            .collect();
        assert_eq!(pages, ["1", "2", "3", "4", "5", "6", "7", "8", "9"]);

        // A rate limit on page 3 (waited out), a failure on page 5 (the run stops).
        let fake = FakeLastfm::start().await;
        fake.set_scrobbles(scrobbles(430, NEWEST));
        fake.queue_page(3, fake_lastfm::error(200, 29));
        fake.queue_page(5, fake_lastfm::error(500, 8));
        let store = MemoryHistory::new();
        let client = LastFmClient::new(&fake.base);
        let checkpoint = dir.path().join("lastfm-import.json");
        let options = fast(Some(checkpoint.clone()));
        let e = lastfm::import(&store, &client, &key, USER, now, &options, &hidden())
            .await
            .unwrap_err();
        assert!(e.contains("page 5") && e.contains("again"), "{e}");
        assert_eq!(all_plays(&store).await.len(), 200, "pages 1 to 4 kept");
        let saved = Checkpoint::load(&checkpoint).expect("a checkpoint");
        assert_eq!((saved.pages_done, saved.to), (4, now));

        // Scrobbled meanwhile: newer than the run's end, so no page shifts.
        let mut more = scrobbles(430, NEWEST);
        more.extend((1..=70).map(|i| bodies::scrobble(&format!("Later {i}"), NEWEST + 100 + i)));
        fake.set_scrobbles(more);
        let later = Timestamp::from_secs(NEWEST + 10_000);
        let s = lastfm::import(&store, &client, &key, USER, later, &options, &hidden())
            .await
            .unwrap();
        assert!(s.to_string().contains("after page 4"), "{s}");
        assert_eq!(s.new, 230, "{s}");
        assert_eq!(all_plays(&store).await, all_plays(&clean).await);
        assert!(
            !checkpoint.exists(),
            "the checkpoint goes with the last page"
        );

        let queries = fake.queries();
        let pages: Vec<&str> = queries.iter().map(|q| q["page"].as_str()).collect();
        assert_eq!(
            pages,
            ["1", "2", "3", "3", "4", "5", "5", "6", "7", "8", "9"]
        );
        for q in &queries {
            assert_eq!(q["method"], RECENT);
            assert_eq!(q["to"], (NEWEST + 10).to_string(), "one fixed end: {q:?}");
            assert_eq!((q["limit"].as_str(), q["extended"].as_str()), ("50", "1"));
            assert!(!q.contains_key("from"));
        }
    })
    .await
    .expect("within the case's time");
}

#[tokio::test]
async fn an_import_interrupted_at_any_page_or_before_its_checkpoint_ends_the_same() {
    tokio::time::timeout(CASE, async {
        let key = Secret::new(API_KEY);
        let now = Timestamp::from_secs(NEWEST + 10);
        let fake = FakeLastfm::start().await;
        fake.set_scrobbles(scrobbles(430, NEWEST));
        let client = LastFmClient::new(&fake.base);
        let clean = MemoryHistory::new();
        lastfm::import(&clean, &client, &key, USER, now, &fast(None), &hidden())
            .await
            .unwrap();
        let clean = all_plays(&clean).await;
        assert_eq!(clean.len(), 430);
        for failing in 1..=9 {
            let dir = tempfile::tempdir().unwrap();
            let checkpoint = dir.path().join("lastfm-import.json");
            let options = fast(Some(checkpoint.clone()));
            let store = MemoryHistory::new();
            fake.queue_page(failing, fake_lastfm::error(503, 11));
            let e = lastfm::import(&store, &client, &key, USER, now, &options, &hidden())
                .await
                .unwrap_err();
            assert!(e.contains(&format!("page {failing}")), "{e}");
            assert_eq!(all_plays(&store).await.len(), 50 * (failing as usize - 1));
            if failing > 1 {
                // As if the process died after storing a page but before its checkpoint.
                let mut c = Checkpoint::load(&checkpoint).unwrap();
                c.pages_done -= 1;
                c.save(&checkpoint).unwrap();
            }
            let later = Timestamp::from_secs(NEWEST + 5_000);
            lastfm::import(&store, &client, &key, USER, later, &options, &hidden())
                .await
                .unwrap();
            assert_eq!(all_plays(&store).await, clean, "failing at page {failing}");
            assert!(!checkpoint.exists());
        }
    })
    .await
    .expect("within the case's time");
}

#[tokio::test]
async fn a_lastfm_import_keeps_its_pace_and_gives_up_on_endless_rate_limits() {
    tokio::time::timeout(CASE, async {
        let key = Secret::new(API_KEY);
        let fake = FakeLastfm::start().await;
        fake.set_scrobbles(scrobbles(120, NEWEST));
        let client = LastFmClient::new(&fake.base);
        let store = MemoryHistory::new();
        let options = lastfm::Options {
            pace: Duration::from_millis(150),
            from: Some(Timestamp::from_secs(NEWEST - 99 * 60)),
            ..fast(None)
        };
        let started = std::time::Instant::now();
        let s = lastfm::import(
            &store,
            &client,
            &key,
            USER,
            Timestamp::from_secs(NEWEST),
            &options,
            &hidden(),
        )
        .await
        .unwrap();
        assert_eq!(s.new, 100, "only from --from on");
        assert_eq!(fake.calls(RECENT), 2);
        assert!(
            started.elapsed() >= Duration::from_millis(150),
            "{:?}",
            started.elapsed()
        );
        assert!(fake
            .queries()
            .iter()
            .all(|q| q["from"] == (NEWEST - 99 * 60).to_string()));

        let limited = FakeLastfm::start().await;
        limited.set_scrobbles(scrobbles(10, NEWEST));
        for _ in 0..10 {
            limited.queue_page(1, fake_lastfm::error(200, 29));
        }
        let client = LastFmClient::new(&limited.base);
        let options = lastfm::Options {
            rate_limit_retries: 3,
            ..fast(None)
        };
        let e = lastfm::import(
            &store,
            &client,
            &key,
            USER,
            Timestamp::from_secs(NEWEST),
            &options,
            &hidden(),
        )
        .await
        .unwrap_err();
        assert!(e.contains("rate limit"), "{e}");
        assert_eq!(limited.calls(RECENT), 4, "one try and three retries");
    })
    .await
    .expect("within the case's time");
}

#[tokio::test]
async fn collection_asks_only_after_the_newest_stored_scrobble_oldest_page_first() {
    tokio::time::timeout(CASE, async {
        let key = Secret::new(API_KEY);
        let fake = FakeLastfm::start().await;
        fake.set_scrobbles(scrobbles(120, NEWEST));
        let client = LastFmClient::new(&fake.base);
        let store = MemoryHistory::new();
        let now = Timestamp::from_secs(NEWEST + 1);
        let s = lastfm::collect_lastfm(&store, &client, &key, USER, now, &fast(None))
            .await
            .unwrap();
        assert_eq!(s.new, 120);
        let pages: Vec<String> = fake.queries().iter().map(|q| q["page"].clone()).collect();
        assert_eq!(pages, ["1", "3", "2"]);

        let mut more = scrobbles(120, NEWEST);
        more.extend((1..=30).map(|i| bodies::scrobble(&format!("New {i}"), NEWEST + i * 60)));
        fake.set_scrobbles(more);
        let later = Timestamp::from_secs(NEWEST + 3_600);
        let s = lastfm::collect_lastfm(&store, &client, &key, USER, later, &fast(None))
            .await
            .unwrap();
        // Last.fm's `from` includes the newest stored scrobble: read again, stored once.
        assert_eq!((s.new, s.already), (30, 1));
        let last = fake.queries().last().cloned().unwrap();
        assert_eq!(last["from"], NEWEST.to_string());
        assert_eq!(last["to"], (NEWEST + 3_600).to_string());
        let plays = all_plays(&store).await;
        assert_eq!(plays.len(), 150);
        assert_eq!(plays[0].played_at, Timestamp::from_secs(NEWEST + 1_800));
        assert_eq!(plays[0].key, lastfm_key("Scroobius", "New 30"));
        assert!(plays.iter().all(|p| p.source == PlaySource::Lastfm));
    })
    .await
    .expect("within the case's time");
}

#[tokio::test]
async fn an_interrupted_collection_is_completed_by_the_next_one() {
    tokio::time::timeout(CASE, async {
        let key = Secret::new(API_KEY);
        let fake = FakeLastfm::start().await;
        fake.set_scrobbles(scrobbles(120, NEWEST));
        let client = LastFmClient::new(&fake.base);
        let store = MemoryHistory::new();
        let now = Timestamp::from_secs(NEWEST + 1);
        // Pages 1 and 3 read, 3 (the oldest) stored, then page 2 fails.
        fake.queue_page(2, fake_lastfm::error(500, 16));
        let e = lastfm::collect_lastfm(&store, &client, &key, USER, now, &fast(None))
            .await
            .unwrap_err();
        assert!(e.contains("page 2"), "{e}");
        assert_eq!(all_plays(&store).await.len(), 20, "the oldest page kept");
        let s = lastfm::collect_lastfm(&store, &client, &key, USER, now, &fast(None))
            .await
            .unwrap();
        assert_eq!((s.new, s.already), (100, 1));
        assert_eq!(all_plays(&store).await.len(), 120);
    })
    .await
    .expect("within the case's time");
}

#[tokio::test]
async fn pages_without_a_page_count_go_on_while_they_are_full() {
    tokio::time::timeout(CASE, async {
        let key = Secret::new(API_KEY);
        let fake = FakeLastfm::start().await;
        fake.set_scrobbles(Vec::new());
        let all = scrobbles(60, NEWEST);
        let body = |tracks: &[Value]| {
            support::Scripted::json(serde_json::json!({"recenttracks": {"track": tracks}}))
        };
        fake.queue_page(1, body(&all[..50]));
        fake.queue_page(2, body(&all[50..]));
        let client = LastFmClient::new(&fake.base);
        let store = MemoryHistory::new();
        let s = lastfm::import(
            &store,
            &client,
            &key,
            USER,
            Timestamp::from_secs(NEWEST),
            &fast(None),
            &hidden(),
        )
        .await
        .unwrap();
        assert_eq!(s.new, 60);
        assert_eq!(fake.calls(RECENT), 2);
    })
    .await
    .expect("within the case's time");
}
