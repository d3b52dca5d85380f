//! The history store's conformance suite, written once and run against each store: memory,
//! SQLite (a file in a temporary folder) and DynamoDB on the emulator, whose every operation goes
//! through a proxy that counts it (none may be a `Scan`).

use crate::support;

use std::collections::BTreeMap;
use std::future::Future;
use std::num::NonZeroUsize;
use std::sync::Arc;
use std::time::Duration;

use nowplaying::clock::Timestamp;
use nowplaying::history::dynamo::DynamoHistory;
use nowplaying::history::memory::MemoryHistory;
use nowplaying::history::sqlite::SqliteHistory;
use nowplaying::history::{AddOutcome, Cursor, HistoryStore, Play, PlayKind, PlaySource, LATEST};
use proptest::prelude::*;
use support::aws::{self, FaultProxy};
use support::aws_endpoint;

/// How long one case may take, whatever the store.
const CASE_TIMEOUT: Duration = Duration::from_secs(90);

/// The operations the DynamoDB history may use.
const ALLOWED_OPS: &[&str] = &[
    "PutItem",
    "UpdateItem",
    "GetItem",
    "Query",
    "DeleteItem",
    "BatchWriteItem",
];

#[derive(Debug, Clone, Copy)]
enum Kind {
    Memory,
    Sqlite,
    Dynamo,
}

/// A store under test, with what it needs to live (its folder, its proxy).
struct Subject {
    store: Arc<dyn HistoryStore>,
    proxy: Option<FaultProxy>,
    _dir: Option<tempfile::TempDir>,
}

impl Subject {
    async fn new(kind: Kind) -> Subject {
        match kind {
            Kind::Memory => Subject {
                store: Arc::new(MemoryHistory::new()),
                proxy: None,
                _dir: None,
            },
            Kind::Sqlite => {
                let dir = tempfile::tempdir().unwrap();
                Subject {
                    store: Arc::new(SqliteHistory::new(dir.path().join("history.sqlite3"))),
                    proxy: None,
                    _dir: Some(dir),
                }
            }
            Kind::Dynamo => {
                let sdk = aws::sdk_config().await;
                let table = aws::create_history_table(&aws::patient_dynamo(&sdk, None)).await;
                let proxy = FaultProxy::start(&aws_endpoint()).await;
                let client = aws::patient_dynamo(&sdk, Some(&proxy.url));
                Subject {
                    store: Arc::new(DynamoHistory::new(client, table)),
                    proxy: Some(proxy),
                    _dir: None,
                }
            }
        }
    }

    /// The AWS operations since the last call, each checked to be one the store may use.
    fn ops(&self) -> Vec<String> {
        let ops = self
            .proxy
            .as_ref()
            .map(|p| p.take_ops())
            .unwrap_or_default();
        for op in &ops {
            assert_ne!(op, "Scan", "the history never scans: {ops:?}");
            assert!(ALLOWED_OPS.contains(&op.as_str()), "{op} in {ops:?}");
        }
        ops
    }
}

/// Runs one case against a fresh store of `kind`, bounded in time, then checks its operations.
async fn run<F, Fut>(kind: Kind, case: F)
where
    F: FnOnce(Arc<dyn HistoryStore>) -> Fut,
    Fut: Future<Output = ()>,
{
    let subject = Subject::new(kind).await;
    tokio::time::timeout(CASE_TIMEOUT, case(subject.store.clone()))
        .await
        .unwrap_or_else(|_| panic!("{kind:?}: the case took over {CASE_TIMEOUT:?}"));
    let ops = subject.ops();
    if matches!(kind, Kind::Dynamo) {
        assert!(!ops.is_empty(), "the proxy saw the store's requests");
    }
}

macro_rules! conformance {
    ($($case:ident),* $(,)?) => {
        mod memory {
            $(#[tokio::test]
            async fn $case() {
                super::run(super::Kind::Memory, super::$case).await
            })*
        }
        mod sqlite {
            $(#[tokio::test]
            async fn $case() {
                super::run(super::Kind::Sqlite, super::$case).await
            })*
        }
        mod dynamo {
            $(#[tokio::test]
            async fn $case() {
                super::run(super::Kind::Dynamo, super::$case).await
            })*
        }
    };
}

conformance!(
    an_empty_store_has_nothing,
    overlapping_adds_store_each_play_once,
    concurrent_overlapping_adds_store_each_play_once,
    ranges_at_month_boundaries_include_from_and_exclude_to,
    a_range_across_several_months_is_newest_first,
    paging_gives_every_play_exactly_once_in_order,
    newest_is_per_source,
    forget_before_a_date_and_all,
    an_invalid_play_fails_the_add_and_writes_nothing,
);

/// The moment RFC 3339 `text` names.
fn at(text: &str) -> Timestamp {
    let t = time::OffsetDateTime::parse(text, &time::format_description::well_known::Rfc3339)
        .unwrap_or_else(|e| panic!("{text}: {e}"));
    Timestamp::from_millis((t.unix_timestamp_nanos() / 1_000_000) as u64)
}

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

fn limit(n: usize) -> NonZeroUsize {
    NonZeroUsize::new(n).unwrap()
}

/// A play with every field filled in from its time, key and source.
fn play(when: Timestamp, key: &str, source: PlaySource) -> Play {
    let episode = key.starts_with("spotify:episode:");
    let ms_played = (source == PlaySource::Export).then(|| ms(when.as_millis() % 60_000));
    Play {
        played_at: when,
        key: key.to_string(),
        name: format!("name of {key}"),
        artists: "Artist One, Artist Two".to_string(),
        album: String::new(),
        album_image: episode.then(|| "https://i.scdn.co/image/x".to_string()),
        song_url: Some(format!("https://open.spotify.com/x/{key}")),
        track_id: key.rsplit(':').next().map(str::to_string),
        kind: if episode {
            PlayKind::Episode
        } else {
            PlayKind::Track
        },
        ms_played,
        short: Play::is_short(ms_played),
        source,
    }
}

fn track(when: Timestamp, id: &str) -> Play {
    play(when, &format!("spotify:track:{id}"), PlaySource::Spotify)
}

/// Every play of the range, page by page (`page` a page), checking each page's size and cursor.
async fn all(store: &dyn HistoryStore, from: Timestamp, to: Timestamp, page: usize) -> Vec<Play> {
    let mut out = Vec::new();
    let mut cursor: Option<Cursor> = None;
    for _ in 0..10_000 {
        let p = store
            .range(from, to, limit(page), cursor.as_ref())
            .await
            .unwrap();
        assert!(p.plays.len() <= page, "{} > {page}", p.plays.len());
        out.extend(p.plays.iter().cloned());
        match p.next {
            Some(next) => {
                assert_eq!(p.plays.len(), page, "only a full page has a next cursor");
                assert_eq!(Some(&next), p.plays.last().map(Cursor::after).as_ref());
                // Through its text, as a client would hand it back.
                cursor = Some(next.to_string().parse().unwrap());
            }
            None => return out,
        }
    }
    panic!("paging did not end");
}

/// The plays newest first (as old: greater key first), as a range gives them.
fn newest_first(mut plays: Vec<Play>) -> Vec<Play> {
    plays.sort_by(|a, b| (b.played_at, &b.key).cmp(&(a.played_at, &a.key)));
    plays
}

fn ids(plays: &[Play]) -> Vec<(u64, String)> {
    plays
        .iter()
        .map(|p| (p.played_at.as_millis(), p.key.clone()))
        .collect()
}

async fn an_empty_store_has_nothing(store: Arc<dyn HistoryStore>) {
    let page = store
        .range(Timestamp::EPOCH, LATEST, limit(10), None)
        .await
        .unwrap();
    assert!(page.plays.is_empty() && page.next.is_none(), "{page:?}");
    for source in PlaySource::ALL {
        assert_eq!(store.newest(source).await.unwrap(), None, "{source:?}");
    }
    assert_eq!(
        store
            .forget(Some(at("2026-11-01T00:00:00Z")))
            .await
            .unwrap(),
        0
    );
    assert_eq!(store.forget(None).await.unwrap(), 0);
    assert_eq!(store.add(&[]).await.unwrap(), AddOutcome::default());
    assert!(!store.describe().is_empty());
}

async fn overlapping_adds_store_each_play_once(store: Arc<dyn HistoryStore>) {
    let t = at("2026-11-20T10:00:00Z");
    let [a, b, c, d] = [0, 1, 2, 3].map(|i| track(t + ms(i * 30_000), &format!("t{i}")));
    let outcome = store.add(&[a.clone(), b.clone(), c.clone()]).await.unwrap();
    assert_eq!(outcome, AddOutcome { new: 3, already: 0 });
    let outcome = store.add(&[b.clone(), c.clone(), d.clone()]).await.unwrap();
    assert_eq!(outcome, AddOutcome { new: 1, already: 2 });
    // The same play twice in one batch is stored once.
    let e = track(t + ms(200_000), "t4");
    let outcome = store.add(&[e.clone(), e.clone(), d.clone()]).await.unwrap();
    assert_eq!(outcome, AddOutcome { new: 1, already: 2 });
    // The same item at another time, another item at the same time: new plays.
    let a_later = track(t + ms(1), "t0");
    let other_at_a = play(t, "spotify:episode:e1", PlaySource::Lastfm);
    let outcome = store
        .add(&[a_later.clone(), other_at_a.clone()])
        .await
        .unwrap();
    assert_eq!(outcome, AddOutcome { new: 2, already: 0 });
    // A play already stored keeps what was first written.
    let mut renamed = b.clone();
    renamed.name = "another name".to_string();
    renamed.source = PlaySource::Export;
    let outcome = store.add(&[renamed]).await.unwrap();
    assert_eq!(outcome, AddOutcome { new: 0, already: 1 });

    let stored = all(store.as_ref(), Timestamp::EPOCH, LATEST, 100).await;
    assert_eq!(
        stored,
        newest_first(vec![a, b, c, d, e, a_later, other_at_a])
    );
}

async fn concurrent_overlapping_adds_store_each_play_once(store: Arc<dyn HistoryStore>) {
    let t = at("2026-11-30T23:50:00Z");
    // 24 plays either side of a month's end; the batches overlap by 12.
    let plays: Vec<Play> = (0..24)
        .map(|i| track(t + ms(i * 60_000), &format!("c{}", i % 5)))
        .collect();
    let batches = [&plays[0..18], &plays[6..24], &plays[0..24]];
    let results = futures_join(store.clone(), batches.map(|b| b.to_vec())).await;
    let new: usize = results.iter().map(|o| o.new).sum();
    let already: usize = results.iter().map(|o| o.already).sum();
    assert_eq!(new, 24, "each play stored once: {results:?}");
    assert_eq!(already, 18 + 18 + 24 - 24);
    let stored = all(store.as_ref(), Timestamp::EPOCH, LATEST, 7).await;
    assert_eq!(stored, newest_first(plays));
}

/// Runs the three adds at once.
async fn futures_join(store: Arc<dyn HistoryStore>, batches: [Vec<Play>; 3]) -> Vec<AddOutcome> {
    let tasks: Vec<_> = batches
        .into_iter()
        .map(|batch| {
            let store = store.clone();
            tokio::spawn(async move { store.add(&batch).await.unwrap() })
        })
        .collect();
    let mut out = Vec::new();
    for t in tasks {
        out.push(t.await.unwrap());
    }
    out
}

async fn ranges_at_month_boundaries_include_from_and_exclude_to(store: Arc<dyn HistoryStore>) {
    let oct_last = track(at("2026-10-31T23:59:59.999Z"), "oct");
    let nov_first = track(at("2026-11-01T00:00:00Z"), "nov1");
    let nov_last = track(at("2026-11-30T23:59:59.999Z"), "nov30");
    let dec_first = track(at("2026-12-01T00:00:00Z"), "dec1");
    let all_four = [&oct_last, &nov_first, &nov_last, &dec_first].map(Clone::clone);
    store.add(&all_four).await.unwrap();
    let range = |from: &str, to: &str| {
        let store = store.clone();
        let (from, to) = (at(from), at(to));
        async move { all(store.as_ref(), from, to, 10).await }
    };

    let november = range("2026-11-01T00:00:00Z", "2026-12-01T00:00:00Z").await;
    assert_eq!(november, vec![nov_last.clone(), nov_first.clone()]);
    let across = range("2026-10-31T23:59:59.999Z", "2026-11-01T00:00:00.001Z").await;
    assert_eq!(across, vec![nov_first.clone(), oct_last.clone()]);
    let across_dec = range("2026-11-30T23:59:59.999Z", "2026-12-01T00:00:00.001Z").await;
    assert_eq!(across_dec, vec![dec_first.clone(), nov_last.clone()]);
    // `to` is excluded, `from` included, an empty or reversed range is empty.
    assert!(range("2026-11-01T00:00:00Z", "2026-11-01T00:00:00Z")
        .await
        .is_empty());
    assert!(range("2026-12-01T00:00:00Z", "2026-11-01T00:00:00Z")
        .await
        .is_empty());
    assert_eq!(
        range("2026-11-01T00:00:00Z", "2026-11-01T00:00:00.001Z").await,
        vec![nov_first.clone()]
    );
    assert_eq!(
        range("2026-10-01T00:00:00Z", "2026-10-31T23:59:59.999Z").await,
        Vec::<Play>::new()
    );
    assert_eq!(
        range("2026-10-31T23:59:59.998Z", "2026-12-01T00:00:00Z").await,
        vec![nov_last.clone(), nov_first.clone(), oct_last.clone()]
    );
    assert_eq!(
        range("1970-01-01T00:00:00Z", "9999-12-31T23:59:59.999Z").await,
        newest_first(all_four.to_vec())
    );
}

async fn a_range_across_several_months_is_newest_first(store: Arc<dyn HistoryStore>) {
    // Plays in some months of two years, none in the months between.
    let mut plays = Vec::new();
    for (month, n) in [
        ("2025-12", 3),
        ("2026-01", 2),
        ("2026-02", 4),
        ("2026-05", 1),
        ("2026-11", 5),
    ] {
        for i in 0..n {
            let when = at(&format!("{month}-{:02}T12:00:00Z", 1 + i * 6));
            plays.push(play(
                when,
                &format!("spotify:track:{month}-{i}"),
                PlaySource::Spotify,
            ));
            plays.push(play(
                when,
                &format!("lastfm|{month}|{i}"),
                PlaySource::Lastfm,
            ));
        }
    }
    store.add(&plays).await.unwrap();
    let (from, to) = (at("2026-01-07T12:00:00Z"), at("2026-11-13T12:00:00Z"));
    let expected: Vec<Play> = newest_first(
        plays
            .iter()
            .filter(|p| p.played_at >= from && p.played_at < to)
            .cloned()
            .collect(),
    );
    assert_eq!(
        expected.len(),
        2 * (1 + 4 + 1 + 2),
        "the cases cover what they claim"
    );
    for page in [1, 3, 100] {
        assert_eq!(
            all(store.as_ref(), from, to, page).await,
            expected,
            "pages of {page}"
        );
    }
    assert_eq!(
        all(store.as_ref(), Timestamp::EPOCH, LATEST, 4).await,
        newest_first(plays)
    );
}

async fn paging_gives_every_play_exactly_once_in_order(store: Arc<dyn HistoryStore>) {
    // 37 plays over three months, several at the same millisecond.
    let t = at("2026-10-30T00:00:00Z");
    let mut plays = Vec::new();
    for i in 0..37u64 {
        let when = t + Duration::from_secs((i / 3) * 86_400 * 3);
        plays.push(track(when, &format!("p{:02}", i % 7 + i)));
    }
    store.add(&plays).await.unwrap();
    let expected = newest_first(plays.clone());
    for page in [1, 2, 3, 5, 36, 37, 38, 100] {
        let got = all(store.as_ref(), Timestamp::EPOCH, LATEST, page).await;
        assert_eq!(ids(&got), ids(&expected), "pages of {page}");
    }
    // A page ends exactly at the range's last play: no next cursor.
    let page = store
        .range(Timestamp::EPOCH, LATEST, limit(37), None)
        .await
        .unwrap();
    assert_eq!((page.plays.len(), page.next), (37, None));
    // Plays added while paging: a newer one is not given (it is before the cursor), an older
    // one is, and none twice.
    let first = store
        .range(Timestamp::EPOCH, LATEST, limit(10), None)
        .await
        .unwrap();
    let newer = track(expected[0].played_at + ms(1), "newer");
    let older = track(t - ms(1), "older");
    store.add(&[newer, older.clone()]).await.unwrap();
    let mut rest = Vec::new();
    let mut cursor = first.next.clone();
    while let Some(c) = cursor {
        let p = store
            .range(Timestamp::EPOCH, LATEST, limit(10), Some(&c))
            .await
            .unwrap();
        rest.extend(p.plays);
        cursor = p.next;
    }
    let mut seen = first.plays.clone();
    seen.extend(rest);
    let mut want = expected.clone();
    want.push(older);
    assert_eq!(ids(&seen), ids(&want));
    // A cursor before the range's start gives nothing; one after its end, the range from `to`.
    let before_start = Cursor::after(&track(t - ms(10), "x"));
    let p = store
        .range(t, LATEST, limit(5), Some(&before_start))
        .await
        .unwrap();
    assert!(p.plays.is_empty() && p.next.is_none());
    let to = expected[5].played_at;
    let after_end = Cursor::after(&track(LATEST, "x"));
    let p = store
        .range(Timestamp::EPOCH, to, limit(3), Some(&after_end))
        .await
        .unwrap();
    let from_to: Vec<Play> = expected
        .iter()
        .filter(|p| p.played_at < to)
        .take(3)
        .cloned()
        .collect();
    assert_eq!(ids(&p.plays), ids(&from_to));
}

async fn newest_is_per_source(store: Arc<dyn HistoryStore>) {
    let t = at("2026-11-30T23:59:00Z");
    let (t1, t2, t3) = (t, t + ms(30_000), at("2026-12-01T00:00:30Z"));
    store
        .add(&[
            play(t1, "spotify:track:a", PlaySource::Spotify),
            play(t2, "lastfm|a|b", PlaySource::Lastfm),
        ])
        .await
        .unwrap();
    store
        .add(&[play(t3, "spotify:track:b", PlaySource::Spotify)])
        .await
        .unwrap();
    // An older play, and a play already stored, move nothing back.
    store
        .add(&[
            play(t1 - ms(60_000), "spotify:track:c", PlaySource::Spotify),
            play(t1, "spotify:track:a", PlaySource::Spotify),
        ])
        .await
        .unwrap();
    assert_eq!(store.newest(PlaySource::Spotify).await.unwrap(), Some(t3));
    assert_eq!(store.newest(PlaySource::Lastfm).await.unwrap(), Some(t2));
    assert_eq!(store.newest(PlaySource::Export).await.unwrap(), None);
    // Forgetting before t3: Spotify's newest stays, Last.fm has none left.
    assert_eq!(store.forget(Some(t3)).await.unwrap(), 3);
    assert_eq!(store.newest(PlaySource::Spotify).await.unwrap(), Some(t3));
    assert_eq!(store.newest(PlaySource::Lastfm).await.unwrap(), None);
    store
        .add(&[play(t1, "spotify:track:x", PlaySource::Export)])
        .await
        .unwrap();
    assert_eq!(store.newest(PlaySource::Export).await.unwrap(), Some(t1));
    assert_eq!(store.forget(None).await.unwrap(), 2);
    for source in PlaySource::ALL {
        assert_eq!(store.newest(source).await.unwrap(), None, "{source:?}");
    }
}

async fn forget_before_a_date_and_all(store: Arc<dyn HistoryStore>) {
    let mut plays = Vec::new();
    for (i, when) in [
        "2026-09-15T08:00:00Z",
        "2026-10-31T23:59:59.999Z",
        "2026-11-01T00:00:00Z",
        "2026-11-14T23:59:59.999Z",
        "2026-11-15T00:00:00Z",
        "2026-11-20T00:00:00Z",
        "2026-12-24T18:00:00Z",
    ]
    .iter()
    .enumerate()
    {
        plays.push(track(at(when), &format!("f{i}")));
    }
    store.add(&plays).await.unwrap();
    let cut = at("2026-11-15T00:00:00Z");
    assert_eq!(store.forget(Some(cut)).await.unwrap(), 4);
    let left = all(store.as_ref(), Timestamp::EPOCH, LATEST, 2).await;
    assert_eq!(left, newest_first(plays[4..].to_vec()));
    assert_eq!(
        store.forget(Some(cut)).await.unwrap(),
        0,
        "nothing left to forget"
    );
    // A forgotten month can be written again and read back.
    store.add(&plays[..2]).await.unwrap();
    let september = all(
        store.as_ref(),
        at("2026-09-01T00:00:00Z"),
        at("2026-10-01T00:00:00Z"),
        5,
    )
    .await;
    assert_eq!(september, vec![plays[0].clone()]);
    assert_eq!(store.forget(Some(Timestamp::EPOCH)).await.unwrap(), 0);
    assert_eq!(store.forget(None).await.unwrap(), 5);
    assert!(all(store.as_ref(), Timestamp::EPOCH, LATEST, 3)
        .await
        .is_empty());
}

async fn an_invalid_play_fails_the_add_and_writes_nothing(store: Arc<dyn HistoryStore>) {
    let good = track(at("2026-11-20T10:00:00Z"), "good");
    let mut keyless = track(at("2026-11-20T10:01:00Z"), "x");
    keyless.key.clear();
    let err = store.add(&[good.clone(), keyless]).await.unwrap_err();
    assert!(
        matches!(err, nowplaying::store::StoreError::Invalid { .. }),
        "{err}"
    );
    assert!(err.to_string().contains("no item key"), "{err}");
    let too_late = track(LATEST + ms(1), "late");
    let err = store.add(&[good.clone(), too_late]).await.unwrap_err();
    assert!(err.to_string().contains("9999"), "{err}");
    assert!(all(store.as_ref(), Timestamp::EPOCH, LATEST, 5)
        .await
        .is_empty());
    assert_eq!(store.newest(PlaySource::Spotify).await.unwrap(), None);
    // The last moment a store holds is stored and read back.
    let last = track(LATEST, "last");
    store.add(std::slice::from_ref(&last)).await.unwrap();
    let far = Timestamp::FAR_FUTURE;
    assert_eq!(
        all(store.as_ref(), Timestamp::EPOCH, LATEST + ms(1), 5).await,
        vec![last.clone()]
    );
    assert_eq!(
        all(store.as_ref(), LATEST, far, 5).await,
        vec![last.clone()]
    );
    let past_the_end = Cursor {
        played_at: far,
        key: "k".to_string(),
    };
    let page = store
        .range(Timestamp::EPOCH, far, limit(5), Some(&past_the_end))
        .await
        .unwrap();
    assert_eq!(page.plays, vec![last]);
    assert!(store
        .range(far - ms(1), far, limit(5), None)
        .await
        .unwrap()
        .plays
        .is_empty());
    assert_eq!(store.forget(Some(far)).await.unwrap(), 1);
}

/// A play for the property test: one of a few times either side of two month ends (so that
/// batches collide often), one of a few items, any source.
fn arbitrary_play() -> impl Strategy<Value = Play> {
    let bases = [
        "2026-10-31T23:59:59.990Z",
        "2026-11-15T12:00:00Z",
        "2026-11-30T23:59:59.995Z",
        "2027-02-01T00:00:00Z",
    ];
    (
        0..bases.len(),
        0u64..12,
        0..5usize,
        prop::sample::select(PlaySource::ALL.to_vec()),
    )
        .prop_map(move |(base, offset, item, source)| {
            let key = [
                "spotify:track:a",
                "spotify:track:b",
                "spotify:episode:c",
                "file:///x.mp3",
                "lastfm|a|b",
            ][item];
            play(at(bases[base]) + ms(offset), key, source)
        })
}

/// Random plays added in random overlapping batches: the counts add up, and the stored plays
/// are the distinct `(time, key)` pairs, each as first written, in order, whatever the page.
fn random_overlapping_batches(kind: Kind, cases: u32) {
    let strategy = (
        prop::collection::vec(arbitrary_play(), 0..30),
        prop::collection::vec((0usize..30, 0usize..20), 1..5),
        1usize..8,
    );
    let mut runner = proptest::test_runner::TestRunner::new(proptest::test_runner::Config {
        cases,
        failure_persistence: None,
        ..Default::default()
    });
    runner
        .run(&strategy, |(plays, batches, page)| {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap();
            rt.block_on(async {
                let subject = Subject::new(kind).await;
                let store = subject.store.clone();
                let mut expected: BTreeMap<(Timestamp, String), Play> = BTreeMap::new();
                let (mut new, mut submitted) = (0, 0);
                for (start, len) in &batches {
                    let start = (*start).min(plays.len());
                    let batch = &plays[start..(start + len).min(plays.len())];
                    let outcome = tokio::time::timeout(CASE_TIMEOUT, store.add(batch))
                        .await
                        .expect("bounded")
                        .unwrap();
                    prop_assert_eq!(outcome.new + outcome.already, batch.len());
                    new += outcome.new;
                    submitted += batch.len();
                    for p in batch {
                        expected
                            .entry((p.played_at, p.key.clone()))
                            .or_insert_with(|| p.clone());
                    }
                }
                prop_assert_eq!(new, expected.len());
                prop_assert!(submitted >= new);
                let stored = all(store.as_ref(), Timestamp::EPOCH, LATEST, page).await;
                let want: Vec<Play> = expected.into_values().rev().collect();
                prop_assert_eq!(stored, want);
                subject.ops();
                Ok(())
            })
        })
        .unwrap();
}

#[test]
fn memory_random_overlapping_batches() {
    random_overlapping_batches(Kind::Memory, 64);
}

#[test]
fn sqlite_random_overlapping_batches() {
    random_overlapping_batches(Kind::Sqlite, 32);
}

#[test]
fn dynamo_random_overlapping_batches() {
    random_overlapping_batches(Kind::Dynamo, 8);
}

/// Several handles opening one new SQLite file at the same moment: turning on WAL and creating
/// the schema race, and every handle still opens it (none sees "locked" as a broken file).
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sqlite_handles_opening_a_new_file_at_once_all_open_it() {
    for _ in 0..40 {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("history.sqlite3");
        let t = at("2026-11-01T00:00:00Z");
        let mut set = tokio::task::JoinSet::new();
        for i in 0..8u64 {
            let path = path.clone();
            set.spawn(async move {
                SqliteHistory::new(&path)
                    .add(&[track(t + ms(i), "same")])
                    .await
            });
        }
        let mut new = 0;
        tokio::time::timeout(CASE_TIMEOUT, async {
            while let Some(r) = set.join_next().await {
                new += r.unwrap().expect("every handle opens the file").new;
            }
        })
        .await
        .expect("bounded");
        assert_eq!(new, 8);
        assert_eq!(
            SqliteHistory::new(&path)
                .newest(PlaySource::Spotify)
                .await
                .unwrap(),
            Some(t + ms(7))
        );
    }
}

/// Two processes on one SQLite file (a `collect` run next to `serve`), writing overlapping
/// batches at once: WAL and the busy timeout let both through, and each play is stored once.
#[tokio::test]
async fn sqlite_two_handles_on_one_file_store_each_play_once() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("history.sqlite3");
    let (one, two) = (SqliteHistory::new(&path), SqliteHistory::new(&path));
    let t = at("2026-11-01T00:00:00Z");
    let plays: Vec<Play> = (0..400)
        .map(|i| track(t + ms(i * 1000), &format!("s{i}")))
        .collect();
    let mut new = 0;
    for round in 0..4 {
        let (a, b) = tokio::time::timeout(CASE_TIMEOUT, async {
            tokio::join!(
                one.add(&plays[round * 50..round * 50 + 200]),
                two.add(&plays[round * 50 + 100..round * 50 + 200])
            )
        })
        .await
        .expect("bounded");
        new += a.unwrap().new + b.unwrap().new;
    }
    assert_eq!(new, 350);
    let stored = all(&one, Timestamp::EPOCH, LATEST, 64).await;
    assert_eq!(stored, newest_first(plays[..350].to_vec()));
    assert_eq!(all(&two, Timestamp::EPOCH, LATEST, 500).await, stored);
}

/// A table that cannot be reached fails every call with `StoreError::Unavailable` naming it,
/// within the client's time-outs, and the plays written before are all there afterwards.
#[tokio::test]
async fn dynamo_unreachable_is_unavailable_and_loses_nothing() {
    let subject = Subject::new(Kind::Dynamo).await;
    let store = subject.store.clone();
    let proxy = subject.proxy.as_ref().unwrap();
    let t = at("2026-11-10T09:00:00Z");
    let plays: Vec<Play> = (0..5)
        .map(|i| track(t + ms(i * 1000), &format!("u{i}")))
        .collect();
    store.add(&plays[..3]).await.unwrap();
    proxy.refuse();
    let started = std::time::Instant::now();
    let errors = [
        store.add(&plays).await.map(|_| ()).unwrap_err(),
        store
            .range(Timestamp::EPOCH, LATEST, limit(5), None)
            .await
            .map(|_| ())
            .unwrap_err(),
        store
            .newest(PlaySource::Spotify)
            .await
            .map(|_| ())
            .unwrap_err(),
        store.forget(None).await.map(|_| ()).unwrap_err(),
    ];
    assert!(
        started.elapsed() < Duration::from_secs(30),
        "{:?}",
        started.elapsed()
    );
    for err in &errors {
        assert!(
            matches!(err, nowplaying::store::StoreError::Unavailable { .. }),
            "{err}"
        );
        assert!(err.to_string().contains(&store.describe()), "{err}");
    }
    proxy.pass();
    assert_eq!(
        store.add(&plays).await.unwrap(),
        AddOutcome { new: 2, already: 3 }
    );
    assert_eq!(
        all(store.as_ref(), Timestamp::EPOCH, LATEST, 2).await,
        newest_first(plays)
    );
}

/// What each operation costs on DynamoDB, counted by the proxy: an add is one conditional
/// `PutItem` a play, one `PutItem` a month touched and one `UpdateItem` a source; a page within
/// one month is two `Query`s (the month index and the month); `newest` is one `GetItem`.
#[tokio::test]
async fn dynamo_operations_per_call_are_counted_and_none_scans() {
    let subject = Subject::new(Kind::Dynamo).await;
    let store = subject.store.clone();
    let t = at("2026-11-10T09:00:00Z");
    let plays: Vec<Play> = (0..10)
        .map(|i| track(t + ms(i * 40_000), &format!("m{i}")))
        .collect();
    store.add(&plays).await.unwrap();
    let ops = subject.ops();
    let count = |ops: &[String], op: &str| ops.iter().filter(|o| *o == op).count();
    assert_eq!(count(&ops, "PutItem"), 10 + 1, "{ops:?}");
    assert_eq!(count(&ops, "UpdateItem"), 1, "{ops:?}");
    assert_eq!(ops.len(), 12, "{ops:?}");

    // Adding them again writes nothing new, at the same cost.
    assert_eq!(
        store.add(&plays).await.unwrap(),
        AddOutcome {
            new: 0,
            already: 10
        }
    );
    assert_eq!(subject.ops().len(), 12);

    let page = store
        .range(
            at("2026-11-01T00:00:00Z"),
            at("2026-12-01T00:00:00Z"),
            limit(4),
            None,
        )
        .await
        .unwrap();
    assert_eq!(page.plays.len(), 4);
    assert_eq!(subject.ops(), ["Query", "Query"]);
    // A range over a year with one month of plays still asks only that month.
    store
        .range(
            at("2026-01-01T00:00:00Z"),
            at("2027-01-01T00:00:00Z"),
            limit(50),
            None,
        )
        .await
        .unwrap();
    assert_eq!(subject.ops(), ["Query", "Query"]);

    assert_eq!(
        store.newest(PlaySource::Spotify).await.unwrap(),
        Some(plays[9].played_at)
    );
    assert_eq!(subject.ops(), ["GetItem"]);

    assert_eq!(store.forget(None).await.unwrap(), 10);
    let ops = subject.ops();
    eprintln!("forget of 10 plays in one month: {ops:?}");
    assert_eq!(count(&ops, "BatchWriteItem"), 1, "{ops:?}");
    assert_eq!(
        count(&ops, "DeleteItem"),
        1 + PlaySource::ALL.len(),
        "{ops:?}"
    );
}
