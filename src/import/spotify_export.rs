//! `nowplaying import spotify-export`: Spotify's "Extended streaming history" export
//! (`Streaming_History_Audio_*.json`, `Streaming_History_Video_*.json`) and the older account
//! data (`StreamingHistory_music_*.json`, `StreamingHistory_podcast_*.json`), each file a JSON
//! array of plays, read as a stream one entry at a time.
//!
//! A play's time is the export's `ts` (the END of the play, like recently-played's `played_at`),
//! so importing the same export again stores nothing new. (The export's `ts` is to the second and
//! recently-played's `played_at` to the millisecond, so a play both collected and imported is
//! stored once per source: see docs/history.md.) The key
//! is the track's or episode's Spotify URI; an entry without one (the account data, some local
//! files) is keyed like a Last.fm play, by its normalised artist (or show) and title.

use std::collections::BTreeSet;
use std::fs::File;
use std::io::{BufReader, Read};
use std::path::{Path, PathBuf};
use std::time::Duration;

use indicatif::ProgressBar;
use serde::de::{Deserializer as _, SeqAccess, Visitor};
use serde_json::Value;

use super::ImportSummary;
use crate::clock::Timestamp;
use crate::history::{lastfm_key, HistoryStore, Play, PlayKind, PlaySource};

/// Why an entry of a private session is left out (the summary's wording).
pub const SKIP_PRIVATE: &str = "played in a private session (incognito_mode)";
/// Why an entry naming no track and no episode (an ad, an unknown item) is left out.
pub const SKIP_NO_ITEM: &str = "without a track or an episode (no item)";
/// Why an audiobook chapter is left out: the history holds tracks and episodes.
pub const SKIP_AUDIOBOOK: &str = "audiobook chapters (neither a track nor an episode)";

/// What the import may do.
#[derive(Debug, Clone, Default)]
pub struct Options {
    /// Import files whose `username` is not the owner's.
    pub force: bool,
    /// The owner's Spotify user id (`OWNER_SPOTIFY_ID`), when configured; else the username of
    /// the first file is taken as the owner's.
    pub owner: Option<String>,
    /// The privacy rules: a play they hide is not stored.
    pub rules: crate::rules::Rules,
}

/// Whether a file name is one of the export's listening-history files.
pub fn is_history_file(name: &str) -> bool {
    name.ends_with(".json")
        && (name.starts_with("Streaming_History_Audio_")
            || name.starts_with("Streaming_History_Video_")
            || name.starts_with("StreamingHistory"))
}

/// The files named by `paths`: a file as it is, a folder's history files (in its sub-folders
/// too), sorted by name within each folder. A path that does not exist, or a folder without a
/// single history file, is an error.
pub fn files(paths: &[PathBuf]) -> Result<Vec<PathBuf>, String> {
    fn walk(dir: &Path, out: &mut Vec<PathBuf>) -> Result<(), String> {
        let mut entries: Vec<PathBuf> = std::fs::read_dir(dir)
            .map_err(|e| format!("could not read the folder {}: {e}", dir.display()))?
            .filter_map(|e| e.ok().map(|e| e.path()))
            .collect();
        entries.sort();
        for p in entries {
            if p.is_dir() {
                walk(&p, out)?;
            } else if p
                .file_name()
                .and_then(|n| n.to_str())
                .is_some_and(is_history_file)
            {
                out.push(p);
            }
        }
        Ok(())
    }
    let mut out = Vec::new();
    for path in paths {
        if path.is_dir() {
            let before = out.len();
            walk(path, &mut out)?;
            if out.len() == before {
                return Err(format!(
                    "the folder {} holds no Streaming_History_Audio_*.json, Streaming_History_Video_*.json or StreamingHistory*.json file",
                    path.display()
                ));
            }
        } else if path.is_file() {
            out.push(path.clone());
        } else {
            return Err(format!("no such file or folder: {}", path.display()));
        }
    }
    Ok(out)
}

/// Imports the export's `paths` into `store`. Before anything is written, every file's
/// `username` is compared with the owner's (see [`Options::owner`]): another person's export is
/// refused unless [`Options::force`]. A malformed file or entry is listed in the summary with
/// its path and place; the rest is imported.
pub async fn import(
    store: &dyn HistoryStore,
    paths: &[PathBuf],
    options: &Options,
    progress: &ProgressBar,
) -> Result<ImportSummary, String> {
    let files = files(paths)?;
    let bytes: u64 = files
        .iter()
        .filter_map(|f| std::fs::metadata(f).ok())
        .map(|m| m.len())
        .sum();
    // Both passes read every byte.
    progress.set_length(bytes * 2);
    progress.set_message("checking whose export it is");
    check_owner(&files, options, progress).await?;
    progress.set_message("importing");
    let mut summary = ImportSummary::default();
    for file in files {
        let bar = progress.clone();
        let path = file.clone();
        let read = tokio::task::spawn_blocking(move || read_file(&path, &bar))
            .await
            .map_err(|e| format!("reading {} failed: {e}", file.display()))?;
        for reason in read.skipped {
            summary.skip(reason);
        }
        summary.malformed.extend(read.malformed);
        // A play collected from recently-played is the same play, dated to the millisecond.
        let (plays, collected) = super::without_collected(store, read.plays).await?;
        summary.already += collected;
        summary.add(store, &plays, &options.rules).await?;
    }
    progress.finish_and_clear();
    Ok(summary)
}

/// Refuses (with one message naming the file and both names) a file whose `username` is not
/// the owner's, unless forced.
async fn check_owner(
    files: &[PathBuf],
    options: &Options,
    progress: &ProgressBar,
) -> Result<(), String> {
    let mut owner: Option<(String, String)> = options
        .owner
        .clone()
        .map(|id| (id, "OWNER_SPOTIFY_ID".to_string()));
    for file in files {
        let (bar, path) = (progress.clone(), file.clone());
        let names = tokio::task::spawn_blocking(move || usernames(&path, &bar))
            .await
            .map_err(|e| format!("reading {} failed: {e}", file.display()))?;
        for name in names {
            match &owner {
                None => {
                    owner = Some((name, format!("the first file, {}", file.display())));
                }
                Some((expected, from)) if *expected != name && !options.force => {
                    return Err(format!(
                        "{} is the listening history of the Spotify user {name:?}, not of {expected:?} (from {from}): nothing was imported; add --force to import it anyway",
                        file.display()
                    ));
                }
                Some(_) => {}
            }
        }
    }
    Ok(())
}

/// The distinct `username`s of a file, in the order first seen (what can be read of it).
fn usernames(path: &Path, progress: &ProgressBar) -> Vec<String> {
    let mut seen = BTreeSet::new();
    let mut names = Vec::new();
    if let Ok(f) = File::open(path) {
        let _ = each_entry(progress.wrap_read(f), |_, entry| {
            if let Some(name) = text(&entry["username"]) {
                if seen.insert(name.clone()) {
                    names.push(name);
                }
            }
        });
    }
    names
}

/// What one file gave.
#[derive(Debug, Default)]
struct FileRead {
    plays: Vec<Play>,
    skipped: Vec<&'static str>,
    malformed: Vec<String>,
}

fn read_file(path: &Path, progress: &ProgressBar) -> FileRead {
    let mut read = FileRead::default();
    let file = match File::open(path) {
        Ok(f) => f,
        Err(e) => {
            read.malformed.push(format!("{}: {e}", path.display()));
            return read;
        }
    };
    let result = each_entry(progress.wrap_read(file), |index, entry| {
        match entry_play(&entry) {
            Ok(Ok(play)) => read.plays.push(play),
            Ok(Err(reason)) => read.skipped.push(reason),
            Err(why) => read
                .malformed
                .push(format!("{}: entry {index}: {why}", path.display())),
        }
    });
    if let Err(e) = result {
        read.malformed.push(format!(
            "{}: not a JSON array of plays at line {}, column {} ({}); the {} entries before it were read",
            path.display(),
            e.line(),
            e.column(),
            short_error(&e),
            read.plays.len() + read.skipped.len()
        ));
    }
    read
}

/// serde_json's message without its own " at line L column C".
fn short_error(e: &serde_json::Error) -> String {
    let s = e.to_string();
    match s.rfind(" at line ") {
        Some(i) => s[..i].to_string(),
        None => s,
    }
}

/// Calls `f` with each element (and its index from 0) of the JSON array `reader` holds, one at
/// a time, so a file of any size needs the memory of one entry.
pub fn each_entry<R: Read, F: FnMut(usize, Value)>(
    reader: R,
    f: F,
) -> Result<(), serde_json::Error> {
    struct Entries<F>(F);
    impl<'de, F: FnMut(usize, Value)> Visitor<'de> for Entries<F> {
        type Value = ();
        fn expecting(&self, out: &mut std::fmt::Formatter) -> std::fmt::Result {
            out.write_str("a JSON array of plays")
        }
        fn visit_seq<A: SeqAccess<'de>>(mut self, mut seq: A) -> Result<(), A::Error> {
            let mut index = 0;
            while let Some(entry) = seq.next_element::<Value>()? {
                (self.0)(index, entry);
                index += 1;
            }
            Ok(())
        }
    }
    let mut de = serde_json::Deserializer::from_reader(BufReader::new(reader));
    (&mut de).deserialize_seq(Entries(f))?;
    de.end()
}

/// One entry: a play, a reason to skip it, or why it is malformed.
pub fn entry_play(entry: &Value) -> Result<Result<Play, &'static str>, String> {
    if !entry.is_object() {
        return Err("not a JSON object".into());
    }
    if entry.get("ts").is_some() || entry.get("endTime").is_none() {
        extended(entry)
    } else {
        account_data(entry)
    }
}

/// The extended streaming history's entry.
fn extended(e: &Value) -> Result<Result<Play, &'static str>, String> {
    if e["incognito_mode"].as_bool() == Some(true) {
        return Ok(Err(SKIP_PRIVATE));
    }
    let ts = text(&e["ts"]).ok_or("no ts (the time of the play)")?;
    let played_at = Timestamp::parse_rfc3339(&ts)
        .ok_or_else(|| format!("ts {ts:?} is not an RFC 3339 time"))?;
    let ms_played = millis(&e["ms_played"])?;
    let track_uri = text(&e["spotify_track_uri"]);
    let track_name = text(&e["master_metadata_track_name"]);
    let episode_uri = text(&e["spotify_episode_uri"]);
    let episode_name = text(&e["episode_name"]);
    let (kind, uri, name, artists, album) = if track_uri.is_some() || track_name.is_some() {
        (
            PlayKind::Track,
            track_uri,
            track_name.unwrap_or_default(),
            text(&e["master_metadata_album_artist_name"]).unwrap_or_default(),
            text(&e["master_metadata_album_album_name"]).unwrap_or_default(),
        )
    } else if episode_uri.is_some() || episode_name.is_some() {
        // The export does not name an episode's publisher: `artists` stays empty.
        (
            PlayKind::Episode,
            episode_uri,
            episode_name.unwrap_or_default(),
            String::new(),
            text(&e["episode_show_name"]).unwrap_or_default(),
        )
    } else if text(&e["audiobook_uri"]).is_some()
        || text(&e["audiobook_title"]).is_some()
        || text(&e["audiobook_chapter_uri"]).is_some()
    {
        return Ok(Err(SKIP_AUDIOBOOK));
    } else {
        return Ok(Err(SKIP_NO_ITEM));
    };
    Ok(Ok(play(
        played_at, kind, uri, name, artists, album, ms_played,
    )))
}

/// The older account data's entry (`endTime` is UTC to the minute).
fn account_data(e: &Value) -> Result<Result<Play, &'static str>, String> {
    let end = text(&e["endTime"]).ok_or("no endTime")?;
    let format = time::macros::format_description!("[year]-[month]-[day] [hour]:[minute]");
    let played_at = time::PrimitiveDateTime::parse(&end, format)
        .ok()
        .and_then(|t| timestamp(t.assume_utc()))
        .ok_or_else(|| format!("endTime {end:?} is not a YYYY-MM-DD HH:MM time"))?;
    let ms_played = millis(&e["msPlayed"])?;
    let (kind, name, artists, album) = match (text(&e["trackName"]), text(&e["episodeName"])) {
        (Some(track), _) => (
            PlayKind::Track,
            track,
            text(&e["artistName"]).unwrap_or_default(),
            String::new(),
        ),
        (None, Some(episode)) => (
            PlayKind::Episode,
            episode,
            String::new(),
            text(&e["podcastName"]).unwrap_or_default(),
        ),
        (None, None) => return Ok(Err(SKIP_NO_ITEM)),
    };
    Ok(Ok(play(
        played_at, kind, None, name, artists, album, ms_played,
    )))
}

fn play(
    played_at: Timestamp,
    kind: PlayKind,
    uri: Option<String>,
    name: String,
    artists: String,
    album: String,
    ms_played: Option<Duration>,
) -> Play {
    let id = uri.as_deref().and_then(|u| spotify_id(u, kind));
    let key = uri.unwrap_or_else(|| match kind {
        PlayKind::Track => lastfm_key(&artists, &name),
        PlayKind::Episode => lastfm_key(&album, &name),
    });
    Play {
        played_at,
        key,
        song_url: id
            .as_ref()
            .map(|id| format!("https://open.spotify.com/{}/{id}", kind.as_str())),
        track_id: id,
        name,
        artists,
        album,
        album_image: None,
        kind,
        ms_played,
        short: Play::is_short(ms_played),
        source: PlaySource::Export,
    }
}

/// The id of `spotify:track:ID` (or `spotify:episode:ID` for an episode), when it is one.
fn spotify_id(uri: &str, kind: PlayKind) -> Option<String> {
    let id = uri.strip_prefix("spotify:")?.strip_prefix(kind.as_str())?;
    let id = id.strip_prefix(':')?;
    (!id.is_empty() && id.len() <= 64 && id.chars().all(|c| c.is_ascii_alphanumeric()))
        .then(|| id.to_string())
}

/// A non-blank string, trimmed.
fn text(v: &Value) -> Option<String> {
    v.as_str()
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_string)
}

/// A play's length: a whole number of milliseconds (or its string), absent when missing.
fn millis(v: &Value) -> Result<Option<Duration>, String> {
    match v {
        Value::Null => Ok(None),
        Value::Number(n) => n
            .as_u64()
            .map(|ms| Some(Duration::from_millis(ms)))
            .ok_or_else(|| format!("ms_played {n} is not a whole number of milliseconds")),
        Value::String(s) => s
            .trim()
            .parse::<u64>()
            .map(|ms| Some(Duration::from_millis(ms)))
            .map_err(|_| format!("ms_played {s:?} is not a whole number of milliseconds")),
        other => Err(format!(
            "ms_played {other} is not a whole number of milliseconds"
        )),
    }
}

fn timestamp(t: time::OffsetDateTime) -> Option<Timestamp> {
    let ms = t.unix_timestamp_nanos() / 1_000_000;
    u64::try_from(ms).ok().map(Timestamp::from_millis)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn entries_stream_one_at_a_time_and_a_broken_tail_keeps_the_head() {
        let mut seen = Vec::new();
        each_entry(&b"[{\"a\":1}, 2, [3]]"[..], |i, v| seen.push((i, v))).unwrap();
        assert_eq!(seen.len(), 3);
        let mut n = 0;
        let e = each_entry(&b"[{\"a\":1},\n {\"b\": "[..], |_, _| n += 1).unwrap_err();
        assert_eq!((n, e.line()), (1, 2));
        assert!(each_entry(&b"{\"a\": 1}"[..], |_, _| {}).is_err());
    }

    #[test]
    fn ids_only_from_well_formed_uris() {
        assert_eq!(
            spotify_id("spotify:track:4uLU6hMCjMI75M1A2tKUQC", PlayKind::Track).as_deref(),
            Some("4uLU6hMCjMI75M1A2tKUQC")
        );
        assert_eq!(spotify_id("spotify:episode:x", PlayKind::Track), None);
        assert_eq!(spotify_id("spotify:local:a:b:c:1", PlayKind::Track), None);
        assert_eq!(spotify_id("spotify:track:a/../b", PlayKind::Track), None);
    }

    #[test]
    fn odd_values_are_malformed_or_absent() {
        let base = json!({"ts": "2026-11-01T10:00:00Z", "spotify_track_uri": "spotify:track:a"});
        let mut e = base.clone();
        e["ms_played"] = json!("12000");
        let p = entry_play(&e).unwrap().unwrap();
        assert_eq!(p.ms_played, Some(Duration::from_secs(12)));
        assert!(p.short);
        e["ms_played"] = json!(-5);
        assert!(entry_play(&e).unwrap_err().contains("ms_played"));
        e["ms_played"] = json!(null);
        assert_eq!(entry_play(&e).unwrap().unwrap().ms_played, None);
        e["ts"] = json!("yesterday");
        assert!(entry_play(&e).unwrap_err().contains("ts"));
        assert!(entry_play(&json!([1])).is_err());
        assert_eq!(
            Timestamp::parse_rfc3339("2026-11-01T10:00:00.250+01:00"),
            Some(Timestamp::from_millis(1_793_523_600_250))
        );
        assert_eq!(Timestamp::parse_rfc3339("1969-12-31T23:59:59Z"), None);
    }
}
