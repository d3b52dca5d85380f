//! The listening history: every play stored once, keyed by its time and item, behind one trait
//! with three implementations (memory for tests and the demo, SQLite for `serve` on a laptop,
//! DynamoDB on Lambda). The keys, the queries and their cost are in docs/architecture.md,
//! "History store".

pub mod dynamo;
pub mod export;
pub mod memory;
pub mod sqlite;
pub mod stats;

use std::fmt;
use std::num::NonZeroUsize;
use std::str::FromStr;
use std::time::Duration;

use async_trait::async_trait;
use serde::{Deserialize, Serialize};

use crate::clock::Timestamp;
use crate::store::StoreError;

/// Plays shorter than this are kept but marked [`Play::short`] (Spotify's recently-played
/// endpoint leaves them out; its data export keeps them).
pub const SHORT_PLAY: Duration = Duration::from_secs(30);

/// What was played.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum PlayKind {
    Track,
    Episode,
}

impl PlayKind {
    /// The name on the wire and in the stores.
    pub fn as_str(self) -> &'static str {
        match self {
            PlayKind::Track => "track",
            PlayKind::Episode => "episode",
        }
    }

    /// The kind named `name` (as [`PlayKind::as_str`] writes it).
    pub fn parse(name: &str) -> Option<PlayKind> {
        match name {
            "track" => Some(PlayKind::Track),
            "episode" => Some(PlayKind::Episode),
            _ => None,
        }
    }
}

/// Where a play came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum PlaySource {
    /// Collected from Spotify's recently-played endpoint.
    Spotify,
    /// Collected or imported from Last.fm's scrobbles.
    Lastfm,
    /// Imported from Spotify's extended streaming history export.
    Export,
}

impl PlaySource {
    /// Every source, in a fixed order.
    pub const ALL: [PlaySource; 3] = [PlaySource::Spotify, PlaySource::Lastfm, PlaySource::Export];

    /// The name on the wire and in the stores.
    pub fn as_str(self) -> &'static str {
        match self {
            PlaySource::Spotify => "spotify",
            PlaySource::Lastfm => "lastfm",
            PlaySource::Export => "export",
        }
    }

    /// The source named `name` (as [`PlaySource::as_str`] writes it).
    pub fn parse(name: &str) -> Option<PlaySource> {
        PlaySource::ALL.into_iter().find(|s| s.as_str() == name)
    }
}

/// One play of one item. Its identity is `(played_at, key)`: the stores keep one play per pair,
/// whatever else differs (the first one written stays).
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Play {
    /// When it was played.
    pub played_at: Timestamp,
    /// The item's key: `spotify:track:ID`, `spotify:episode:ID`, a local file's URI, or for
    /// Last.fm the normalised `artist|track` of [`lastfm_key`].
    pub key: String,
    pub name: String,
    /// Artist names joined with `", "`; for an episode, the show's publisher.
    pub artists: String,
    /// The album's name; for an episode, the show's name.
    pub album: String,
    pub album_image: Option<String>,
    pub song_url: Option<String>,
    pub track_id: Option<String>,
    #[serde(rename = "type")]
    pub kind: PlayKind,
    /// How long it was played, when the source says (the export does, recently-played does not).
    #[serde(default, with = "crate::clock::opt_millis")]
    pub ms_played: Option<Duration>,
    /// Played for less than [`SHORT_PLAY`] (see [`Play::is_short`]).
    pub short: bool,
    pub source: PlaySource,
}

impl Play {
    /// Whether a play of this length is a short one (under [`SHORT_PLAY`]); an unknown length
    /// is not.
    pub fn is_short(ms_played: Option<Duration>) -> bool {
        ms_played.is_some_and(|d| d < SHORT_PLAY)
    }

    /// The play's identity in every store.
    pub fn id(&self) -> (Timestamp, &str) {
        (self.played_at, &self.key)
    }

    /// Checks what every store relies on: a key that is not empty, and a time a store can write
    /// (from the epoch to the end of the year 9999).
    pub fn validate(&self) -> Result<(), String> {
        if self.key.is_empty() {
            return Err(format!("the play of {:?} has no item key", self.name));
        }
        if self.played_at > LATEST {
            return Err(format!(
                "the play of {} is dated after the year 9999 ({} ms)",
                self.key,
                self.played_at.as_millis()
            ));
        }
        Ok(())
    }
}

/// The last moment a store can hold (9999-12-31T23:59:59.999Z).
pub const LATEST: Timestamp = Timestamp::from_millis(253_402_300_799_999);

/// The key of a Last.fm play: artist and track, trimmed, lower-cased, inner white space
/// collapsed to one space, joined with `|`, so that the same scrobble read twice (or spelled
/// with other capitals) has one key.
pub fn lastfm_key(artist: &str, track: &str) -> String {
    fn norm(s: &str) -> String {
        s.split_whitespace()
            .collect::<Vec<_>>()
            .join(" ")
            .to_lowercase()
    }
    format!("{}|{}", norm(artist), norm(track))
}

/// What [`HistoryStore::add`] did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct AddOutcome {
    /// Plays stored by this call.
    pub new: usize,
    /// Plays that were stored already (by an earlier call, another process, or earlier in the
    /// same batch).
    pub already: usize,
}

/// Where a page of [`HistoryStore::range`] ended: the last play it gave. The next page starts
/// right after it, so a page never repeats or skips a play, even when plays are added meanwhile.
/// On the wire (a query parameter) it is an opaque string (see its `Display` and `FromStr`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cursor {
    pub played_at: Timestamp,
    pub key: String,
}

impl Cursor {
    /// The cursor that continues after `play`.
    pub fn after(play: &Play) -> Cursor {
        Cursor {
            played_at: play.played_at,
            key: play.key.clone(),
        }
    }

    /// Whether `(at, key)` comes after the cursor in the newest-first order (is older, or as
    /// old with a smaller key).
    pub fn precedes(&self, at: Timestamp, key: &str) -> bool {
        (at, key) < (self.played_at, self.key.as_str())
    }
}

impl fmt::Display for Cursor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        use base64::Engine;
        let raw = format!("{}:{}", self.played_at.as_millis(), self.key);
        f.write_str(&base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(raw))
    }
}

/// A cursor string that no page handed out.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("the cursor is not one a page of the history handed out")]
pub struct BadCursor;

impl FromStr for Cursor {
    type Err = BadCursor;
    fn from_str(s: &str) -> Result<Cursor, BadCursor> {
        use base64::Engine;
        let raw = base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(s)
            .map_err(|_| BadCursor)?;
        let raw = String::from_utf8(raw).map_err(|_| BadCursor)?;
        let (at, key) = raw.split_once(':').ok_or(BadCursor)?;
        let at: u64 = at.parse().map_err(|_| BadCursor)?;
        if key.is_empty() || Timestamp::from_millis(at) > LATEST {
            return Err(BadCursor);
        }
        Ok(Cursor {
            played_at: Timestamp::from_millis(at),
            key: key.to_string(),
        })
    }
}

/// One page of a range, newest first.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Page {
    pub plays: Vec<Play>,
    /// Where the next page starts; `None` when this page holds the range's oldest play.
    pub next: Option<Cursor>,
}

/// Where the history lives. Every implementation passes the same conformance suite
/// (`tests/it/history_store.rs`).
#[async_trait]
pub trait HistoryStore: Send + Sync {
    /// Stores each play whose `(played_at, key)` is not stored yet; a play already stored
    /// (by any earlier or concurrent call, or earlier in `plays`) is counted and left as it is.
    /// A play that fails [`Play::validate`] fails the call before anything is written.
    async fn add(&self, plays: &[Play]) -> Result<AddOutcome, StoreError>;

    /// The plays with `from <= played_at < to`, newest first (as old: greater key first), at
    /// most `limit` of them, starting after `cursor` when given. Answered by the store's index
    /// on time, never by reading the whole history.
    async fn range(
        &self,
        from: Timestamp,
        to: Timestamp,
        limit: NonZeroUsize,
        cursor: Option<&Cursor>,
    ) -> Result<Page, StoreError>;

    /// The time of the newest stored play from `source` (what collection asks Spotify or
    /// Last.fm for plays `after`); `None` when there is none.
    async fn newest(&self, source: PlaySource) -> Result<Option<Timestamp>, StoreError>;

    /// Deletes the plays played before `before` (`None`: every play) and says how many went.
    async fn forget(&self, before: Option<Timestamp>) -> Result<u64, StoreError>;

    /// Where the history lives, for `status` and error messages.
    fn describe(&self) -> String;
}

/// Fails with [`StoreError::Invalid`] naming `store` when a play cannot be stored.
pub(crate) fn validate_all(store: &str, plays: &[Play]) -> Result<(), StoreError> {
    for play in plays {
        play.validate().map_err(|reason| StoreError::Invalid {
            store: store.to_string(),
            reason,
        })?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn play(at: u64, key: &str) -> Play {
        Play {
            played_at: Timestamp::from_millis(at),
            key: key.to_string(),
            name: "n".into(),
            artists: "a".into(),
            album: "b".into(),
            album_image: None,
            song_url: None,
            track_id: None,
            kind: PlayKind::Track,
            ms_played: None,
            short: false,
            source: PlaySource::Spotify,
        }
    }

    #[test]
    fn a_cursor_round_trips_and_rejects_what_no_page_gave() {
        let c = Cursor::after(&play(1_795_000_000_123, "spotify:track:a:b"));
        let text = c.to_string();
        assert!(text
            .chars()
            .all(|ch| ch.is_ascii_alphanumeric() || ch == '-' || ch == '_'));
        assert_eq!(text.parse::<Cursor>(), Ok(c));
        for bad in ["", "!!", "bm8tY29sb24", "eDpr", "MTI6"] {
            assert_eq!(bad.parse::<Cursor>(), Err(BadCursor), "{bad}");
        }
    }

    #[test]
    fn the_cursor_order_is_time_then_key_descending() {
        let c = Cursor::after(&play(10, "m"));
        assert!(c.precedes(Timestamp::from_millis(9), "z"));
        assert!(c.precedes(Timestamp::from_millis(10), "l"));
        assert!(!c.precedes(Timestamp::from_millis(10), "m"));
        assert!(!c.precedes(Timestamp::from_millis(10), "n"));
        assert!(!c.precedes(Timestamp::from_millis(11), "a"));
    }

    #[test]
    fn lastfm_keys_ignore_case_and_spacing() {
        assert_eq!(
            lastfm_key("  The  Beatles ", "Let It\tBe"),
            lastfm_key("the beatles", "let it be")
        );
        assert_eq!(lastfm_key("A", "B"), "a|b");
    }

    #[test]
    fn a_play_without_key_or_beyond_9999_is_refused() {
        assert!(play(1, "k").validate().is_ok());
        assert!(play(LATEST.as_millis(), "k").validate().is_ok());
        assert!(play(1, "").validate().unwrap_err().contains("no item key"));
        assert!(play(LATEST.as_millis() + 1, "k")
            .validate()
            .unwrap_err()
            .contains("9999"));
        assert!(Play::is_short(Some(Duration::from_millis(29_999))));
        assert!(!Play::is_short(Some(SHORT_PLAY)));
        assert!(!Play::is_short(None));
    }
}
