//! One play as `nowplaying export` writes it (JSON and CSV alike): the API's camelCase names,
//! `playedAt` in RFC 3339 (to the millisecond, UTC) and `msPlayed` in milliseconds. A row reads
//! back into the same [`Play`], so an export can be checked against (or restored into) a store.

use std::time::Duration;

use serde::{Deserialize, Serialize};
use time::format_description::well_known::Rfc3339;

use super::{Play, PlayKind, PlaySource};
use crate::clock::Timestamp;

/// A play on the way out (see the module's documentation).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ExportRow {
    /// When it was played, RFC 3339 to the millisecond, UTC.
    pub played_at: String,
    pub key: String,
    pub name: String,
    pub artists: String,
    pub album: String,
    pub album_image: Option<String>,
    pub song_url: Option<String>,
    pub track_id: Option<String>,
    #[serde(rename = "type")]
    pub kind: PlayKind,
    /// How long it was played, in whole milliseconds on the wire (`null` or empty when unknown).
    #[serde(default, with = "crate::clock::opt_millis")]
    pub ms_played: Option<Duration>,
    pub short: bool,
    pub source: PlaySource,
}

impl From<&Play> for ExportRow {
    fn from(p: &Play) -> ExportRow {
        ExportRow {
            played_at: p.played_at.to_rfc3339_millis(),
            key: p.key.clone(),
            name: p.name.clone(),
            artists: p.artists.clone(),
            album: p.album.clone(),
            album_image: p.album_image.clone(),
            song_url: p.song_url.clone(),
            track_id: p.track_id.clone(),
            kind: p.kind,
            ms_played: p.ms_played,
            short: p.short,
            source: p.source,
        }
    }
}

impl TryFrom<ExportRow> for Play {
    type Error = String;
    fn try_from(r: ExportRow) -> Result<Play, String> {
        let at = time::OffsetDateTime::parse(&r.played_at, &Rfc3339)
            .map_err(|e| format!("playedAt {:?}: {e}", r.played_at))?;
        let ms = u64::try_from(at.unix_timestamp_nanos() / 1_000_000)
            .map_err(|_| format!("playedAt {:?} is before 1970", r.played_at))?;
        let play = Play {
            played_at: Timestamp::from_millis(ms),
            key: r.key,
            name: r.name,
            artists: r.artists,
            album: r.album,
            album_image: r.album_image,
            song_url: r.song_url,
            track_id: r.track_id,
            kind: r.kind,
            ms_played: r.ms_played,
            short: r.short,
            source: r.source,
        };
        play.validate()?;
        Ok(play)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_row_reads_back_into_the_same_play() {
        let play = Play {
            played_at: Timestamp::from_millis(1_793_527_200_250),
            key: "spotify:track:a".into(),
            name: "Song, with \"quotes\"".into(),
            artists: "A, B".into(),
            album: "Album".into(),
            album_image: None,
            song_url: Some("https://open.spotify.com/track/a".into()),
            track_id: Some("a".into()),
            kind: PlayKind::Track,
            ms_played: Some(Duration::from_millis(12_345)),
            short: true,
            source: PlaySource::Export,
        };
        let row = ExportRow::from(&play);
        assert_eq!(row.played_at, "2026-11-01T10:00:00.250Z");
        assert_eq!(Play::try_from(row), Ok(play));
    }
}
