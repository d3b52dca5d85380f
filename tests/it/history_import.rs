//! Filling the history from Spotify's data export: files written here in the export's documented
//! format (tracks, episodes, video, short plays, private sessions, audiobooks, odd and missing
//! fields, a malformed entry and a truncated file, the older account data) give exactly the
//! expected plays, and again nothing new; another person's export is imported only when forced.

use crate::support;

use std::num::NonZeroUsize;
use std::path::{Path, PathBuf};
use std::time::Duration;

use nowplaying::clock::Timestamp;
use nowplaying::history::dynamo::DynamoHistory;
use nowplaying::history::memory::MemoryHistory;
use nowplaying::history::{lastfm_key, HistoryStore, Play, PlayKind, PlaySource, LATEST};
use nowplaying::import::spotify_export::{self, SKIP_AUDIOBOOK, SKIP_NO_ITEM, SKIP_PRIVATE};
use serde_json::{json, Value};
use support::aws;

/// How long one case may take.
pub const CASE: Duration = Duration::from_secs(60);

/// Every play in `store`, newest first.
pub async fn all_plays(store: &dyn HistoryStore) -> Vec<Play> {
    let mut out = Vec::new();
    let mut cursor = None;
    loop {
        let page = store
            .range(
                Timestamp::EPOCH,
                LATEST + Duration::from_millis(1),
                NonZeroUsize::new(100).unwrap(),
                cursor.as_ref(),
            )
            .await
            .unwrap();
        out.extend(page.plays);
        match page.next {
            Some(next) => cursor = Some(next),
            None => return out,
        }
    }
}

fn ts(s: &str) -> Timestamp {
    let t = time::OffsetDateTime::parse(s, &time::format_description::well_known::Rfc3339).unwrap();
    Timestamp::from_millis((t.unix_timestamp_nanos() / 1_000_000) as u64)
}

/// An extended streaming history entry of a track, every field as the export has it.
pub fn track_entry(at: &str, user: &str, id: &str, name: &str, ms: u64) -> Value {
    json!({
        "ts": at, "username": user, "platform": "Android OS 14 API 34 (Google, Pixel 8)",
        "ms_played": ms, "conn_country": "DE", "ip_addr": "203.0.113.7",
        "user_agent_decrypted": "unknown",
        "master_metadata_track_name": name,
        "master_metadata_album_artist_name": "Pip, Scroobius",
        "master_metadata_album_album_name": "Distraction Pieces",
        "spotify_track_uri": format!("spotify:track:{id}"),
        "episode_name": null, "episode_show_name": null, "spotify_episode_uri": null,
        "audiobook_title": null, "audiobook_uri": null, "audiobook_chapter_uri": null,
        "audiobook_chapter_title": null,
        "reason_start": "trackdone", "reason_end": "trackdone", "shuffle": false,
        "skipped": false, "offline": false, "offline_timestamp": 0, "incognito_mode": false
    })
}

fn episode_entry(at: &str, user: &str, id: &str, ms: u64) -> Value {
    let mut e = track_entry(at, user, "x", "x", ms);
    for k in [
        "master_metadata_track_name",
        "master_metadata_album_artist_name",
        "master_metadata_album_album_name",
        "spotify_track_uri",
    ] {
        e[k] = Value::Null;
    }
    e["episode_name"] = json!("Episode 12: Tapes");
    e["episode_show_name"] = json!("The Show");
    e["spotify_episode_uri"] = json!(format!("spotify:episode:{id}"));
    e
}

/// Writes a Spotify export in `dir`: three audio files (one truncated), a video file, the older
/// account data and files that are not history. Returns the plays it should give.
pub fn write_export(dir: &Path, user: &str) -> Vec<Play> {
    let write = |name: &str, body: &str| std::fs::write(dir.join(name), body).unwrap();
    let mut private = track_entry("2024-01-01T11:00:00Z", user, "priv", "Secret Song", 200_000);
    private["incognito_mode"] = json!(true);
    let mut ad = track_entry("2024-01-01T11:05:00Z", user, "x", "x", 30_000);
    for k in [
        "master_metadata_track_name",
        "master_metadata_album_artist_name",
        "master_metadata_album_album_name",
        "spotify_track_uri",
    ] {
        ad[k] = Value::Null;
    }
    let mut book = ad.clone();
    book["audiobook_title"] = json!("A Book");
    book["audiobook_uri"] = json!("spotify:show:book");
    book["audiobook_chapter_uri"] = json!("spotify:episode:ch1");
    // A local file: no URI, ms_played as a string.
    let mut local = track_entry("2024-01-01T12:00:00Z", user, "x", "Home Demo", 0);
    local["spotify_track_uri"] = Value::Null;
    local["ms_played"] = json!("61000");
    // Only the fields that matter, the rest missing.
    let bare = json!({"ts": "2024-01-01T12:30:00Z", "username": user,
        "spotify_track_uri": "spotify:track:bare"});
    let mut bad_ts = track_entry("yesterday", user, "bad", "Bad", 1);
    bad_ts["ts"] = json!("yesterday");
    let audio = json!([
        track_entry("2024-01-01T10:00:00Z", user, "t1", "Full Song", 200_000),
        track_entry("2024-01-01T10:03:00Z", user, "t2", "Skipped Song", 5_000),
        episode_entry("2024-01-01T10:30:00Z", user, "e1", 1_200_000),
        private,
        ad,
        book,
        local,
        bare,
        bad_ts,
        42,
        // The first play once more: one identity, stored once.
        track_entry("2024-01-01T10:00:00Z", user, "t1", "Full Song", 200_000),
    ]);
    write(
        "Streaming_History_Audio_2024_0.json",
        &serde_json::to_string_pretty(&audio).unwrap(),
    );
    let video = json!([
        episode_entry("2024-02-01T09:00:00Z", user, "v1", 900_000),
        track_entry("2024-02-01T09:10:00Z", user, "mv1", "Music Video", 240_000),
    ]);
    write(
        "Streaming_History_Video_2024.json",
        &serde_json::to_string(&video).unwrap(),
    );
    // Cut short after the first entry.
    let first = serde_json::to_string(&track_entry(
        "2025-03-01T08:00:00Z",
        user,
        "t3",
        "Before The Cut",
        100_000,
    ))
    .unwrap();
    write(
        "Streaming_History_Audio_2025_1.json",
        &format!("[\n{first},\n{{\"ts\": \"2025-03-01T"),
    );
    write(
        "StreamingHistory_music_0.json",
        r#"[{"endTime": "2023-05-01 08:15", "artistName": "Old Artist", "trackName": "Old Song", "msPlayed": 185000},
            {"endTime": "2023-05-01 08:16", "artistName": "Old Artist", "trackName": "Old Skip", "msPlayed": 2000}]"#,
    );
    write(
        "StreamingHistory_podcast_0.json",
        r#"[{"endTime": "2023-05-02 07:00", "podcastName": "Old Show", "episodeName": "Old Episode", "msPlayed": 1800000}]"#,
    );
    write("Userdata.json", r#"{"username": "someone"}"#);
    write("ReadMeFirst.txt", "not history");

    let track = |at: &str, id: &str, name: &str, ms: u64| Play {
        played_at: ts(at),
        key: format!("spotify:track:{id}"),
        name: name.into(),
        artists: "Pip, Scroobius".into(),
        album: "Distraction Pieces".into(),
        album_image: None,
        song_url: Some(format!("https://open.spotify.com/track/{id}")),
        track_id: Some(id.into()),
        kind: PlayKind::Track,
        ms_played: Some(Duration::from_millis(ms)),
        short: ms < 30_000,
        source: PlaySource::Export,
    };
    let episode = |at: &str, id: &str, ms: u64| Play {
        key: format!("spotify:episode:{id}"),
        name: "Episode 12: Tapes".into(),
        artists: String::new(),
        album: "The Show".into(),
        song_url: Some(format!("https://open.spotify.com/episode/{id}")),
        kind: PlayKind::Episode,
        track_id: Some(id.into()),
        ..track(at, id, "", ms)
    };
    let unlinked = |at: &str, key: String, name: &str, artists: &str, album: &str, ms: u64| Play {
        key,
        name: name.into(),
        artists: artists.into(),
        album: album.into(),
        song_url: None,
        track_id: None,
        ..track(at, "x", name, ms)
    };
    vec![
        track("2025-03-01T08:00:00Z", "t3", "Before The Cut", 100_000),
        track("2024-02-01T09:10:00Z", "mv1", "Music Video", 240_000),
        episode("2024-02-01T09:00:00Z", "v1", 900_000),
        Play {
            artists: String::new(),
            album: String::new(),
            name: String::new(),
            ms_played: None,
            short: false,
            ..track("2024-01-01T12:30:00Z", "bare", "", 0)
        },
        unlinked(
            "2024-01-01T12:00:00Z",
            lastfm_key("Pip, Scroobius", "Home Demo"),
            "Home Demo",
            "Pip, Scroobius",
            "Distraction Pieces",
            61_000,
        ),
        episode("2024-01-01T10:30:00Z", "e1", 1_200_000),
        track("2024-01-01T10:03:00Z", "t2", "Skipped Song", 5_000),
        track("2024-01-01T10:00:00Z", "t1", "Full Song", 200_000),
        Play {
            kind: PlayKind::Episode,
            ..unlinked(
                "2023-05-02T07:00:00Z",
                lastfm_key("Old Show", "Old Episode"),
                "Old Episode",
                "",
                "Old Show",
                1_800_000,
            )
        },
        unlinked(
            "2023-05-01T08:16:00Z",
            lastfm_key("Old Artist", "Old Skip"),
            "Old Skip",
            "Old Artist",
            "",
            2_000,
        ),
        unlinked(
            "2023-05-01T08:15:00Z",
            lastfm_key("Old Artist", "Old Song"),
            "Old Song",
            "Old Artist",
            "",
            185_000,
        ),
    ]
}

pub fn hidden() -> indicatif::ProgressBar {
    indicatif::ProgressBar::hidden()
}

#[tokio::test]
async fn a_spotify_export_gives_exactly_its_plays_and_again_nothing_new() {
    tokio::time::timeout(CASE, async {
        let dir = tempfile::tempdir().unwrap();
        let expected = write_export(dir.path(), "owner");
        let store = MemoryHistory::new();
        let options = spotify_export::Options::default();
        let paths = vec![dir.path().to_path_buf()];
        let s = spotify_export::import(&store, &paths, &options, &hidden())
            .await
            .unwrap();
        assert_eq!(all_plays(&store).await, expected);
        assert_eq!((s.new, s.already), (expected.len(), 1), "{s}");
        assert_eq!(s.skipped.get(SKIP_PRIVATE), Some(&1), "{s}");
        assert_eq!(s.skipped.get(SKIP_NO_ITEM), Some(&1), "{s}");
        assert_eq!(s.skipped.get(SKIP_AUDIOBOOK), Some(&1), "{s}");
        let audio = dir.path().join("Streaming_History_Audio_2024_0.json");
        let cut = dir.path().join("Streaming_History_Audio_2025_1.json");
        assert_eq!(s.malformed.len(), 3, "{s}");
        assert!(
            s.malformed[0].starts_with(&format!("{}: entry 8: ts", audio.display())),
            "{s}"
        );
        assert!(
            s.malformed[1].starts_with(&format!("{}: entry 9: not a JSON object", audio.display())),
            "{s}"
        );
        assert!(
            s.malformed[2].starts_with(&format!(
                "{}: not a JSON array of plays at line 3",
                cut.display()
            )),
            "{s}"
        );
        let text = s.to_string();
        assert!(text.contains("private session"), "{text}");
        assert!(text.contains("the rest was imported"), "{text}");

        // Again, by file names this time: nothing new, the same history.
        let files = spotify_export::files(&paths).unwrap();
        assert_eq!(files.len(), 5, "{files:?}");
        let again = spotify_export::import(&store, &files, &options, &hidden())
            .await
            .unwrap();
        assert_eq!((again.new, again.already), (0, expected.len() + 1));
        assert_eq!(all_plays(&store).await, expected);
    })
    .await
    .expect("within the case's time");
}

#[tokio::test]
async fn another_persons_export_is_refused_unless_forced() {
    tokio::time::timeout(CASE, async {
        let mine = tempfile::tempdir().unwrap();
        let theirs = tempfile::tempdir().unwrap();
        write_export(mine.path(), "owner");
        let other = write_export(theirs.path(), "someone-else");
        let store = MemoryHistory::new();
        let paths: Vec<PathBuf> = vec![mine.path().into(), theirs.path().into()];
        let e = spotify_export::import(
            &store,
            &paths,
            &spotify_export::Options::default(),
            &hidden(),
        )
        .await
        .unwrap_err();
        assert!(
            e.contains("\"someone-else\"") && e.contains("\"owner\"") && e.contains("--force"),
            "{e}"
        );
        assert!(e.contains(&theirs.path().display().to_string()), "{e}");
        assert!(all_plays(&store).await.is_empty(), "nothing written");

        // The owner's id from the configuration decides over the first file.
        let owner_is_other = spotify_export::Options {
            force: false,
            owner: Some("someone-else".into()),
            ..Default::default()
        };
        let only_theirs = vec![theirs.path().to_path_buf()];
        let s = spotify_export::import(&store, &only_theirs, &owner_is_other, &hidden())
            .await
            .unwrap();
        assert_eq!(s.new, other.len());
        let e = spotify_export::import(&store, &paths, &owner_is_other, &hidden())
            .await
            .unwrap_err();
        assert!(e.contains("OWNER_SPOTIFY_ID"), "{e}");

        let forced = spotify_export::Options {
            force: true,
            owner: None,
            ..Default::default()
        };
        let s = spotify_export::import(&store, &paths, &forced, &hidden())
            .await
            .unwrap();
        // Both exports hold the same plays (only the username differs): one identity each.
        assert_eq!((s.new, s.already), (0, 2 * (other.len() + 1)));
    })
    .await
    .expect("within the case's time");
}

#[tokio::test]
async fn an_export_imports_into_the_dynamodb_history_the_same() {
    tokio::time::timeout(Duration::from_secs(120), async {
        let sdk = aws::sdk_config().await;
        // Time-outs a cold emulator on a loaded machine cannot reach: this checks what is stored.
        let timeouts = aws_sdk_dynamodb::config::timeout::TimeoutConfig::builder()
            .connect_timeout(Duration::from_secs(5))
            .operation_attempt_timeout(Duration::from_secs(10))
            .operation_timeout(Duration::from_secs(20))
            .build();
        let client = aws_sdk_dynamodb::Client::from_conf(
            aws_sdk_dynamodb::config::Builder::from(&sdk)
                .timeout_config(timeouts)
                .build(),
        );
        let table = aws::create_history_table(&client).await;
        let store = DynamoHistory::new(client, table);
        let dir = tempfile::tempdir().unwrap();
        let expected = write_export(dir.path(), "owner");
        let paths = vec![dir.path().to_path_buf()];
        let options = spotify_export::Options::default();
        let s = spotify_export::import(&store, &paths, &options, &hidden())
            .await
            .unwrap();
        assert_eq!((s.new, s.already), (expected.len(), 1));
        assert_eq!(all_plays(&store).await, expected);
        let again = spotify_export::import(&store, &paths, &options, &hidden())
            .await
            .unwrap();
        assert_eq!((again.new, again.already), (0, expected.len() + 1));
        assert_eq!(all_plays(&store).await, expected);
    })
    .await
    .expect("within two minutes");
}

#[tokio::test]
async fn an_export_of_plays_collection_stored_already_adds_only_the_others() {
    tokio::time::timeout(CASE, async {
        let store = MemoryHistory::new();
        // Collected from recently-played: to the millisecond, a moment after the export's `ts`.
        let collected = Play {
            played_at: ts("2024-03-01T10:00:00.734Z"),
            key: "spotify:track:t1".into(),
            name: "Song".into(),
            artists: "Pip, Scroobius".into(),
            album: "Distraction Pieces".into(),
            album_image: None,
            song_url: None,
            track_id: Some("t1".into()),
            kind: PlayKind::Track,
            ms_played: None,
            short: false,
            source: PlaySource::Spotify,
        };
        store.add(std::slice::from_ref(&collected)).await.unwrap();
        let dir = tempfile::tempdir().unwrap();
        let entries = json!([
            track_entry("2024-03-01T10:00:00Z", "owner", "t1", "Song", 200_000),
            // The same item 4 minutes later: another play.
            track_entry("2024-03-01T10:04:00Z", "owner", "t1", "Song", 200_000),
            // Another item at the collected play's second: another play.
            track_entry("2024-03-01T10:00:00Z", "owner", "t2", "Other", 200_000),
        ]);
        std::fs::write(
            dir.path().join("Streaming_History_Audio_2024.json"),
            entries.to_string(),
        )
        .unwrap();
        let paths = vec![dir.path().to_path_buf()];
        let options = spotify_export::Options::default();
        let s = spotify_export::import(&store, &paths, &options, &hidden())
            .await
            .unwrap();
        assert_eq!((s.new, s.already), (2, 1), "{s}");
        let plays = all_plays(&store).await;
        assert_eq!(plays.len(), 3, "{plays:?}");
        assert!(
            plays.contains(&collected),
            "the collected play stays as it was"
        );
        let again = spotify_export::import(&store, &paths, &options, &hidden())
            .await
            .unwrap();
        assert_eq!((again.new, again.already), (0, 3), "{again}");
    })
    .await
    .expect("within the case's time");
}
