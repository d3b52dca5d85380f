//! The public JSON of `GET /api/spotify` (see the README's API section).

use serde::{Deserialize, Serialize};

/// Where an answer came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    /// Playback is running.
    Playing,
    /// Spotify answered 200 with `is_playing: false`.
    Paused,
    /// Nothing plays; this is the most recently played track.
    Recent,
}

/// What kind of item is shown.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ItemType {
    Track,
    Episode,
}

/// The object the portfolio page receives. `null` (Rust: `None`) means nothing to show.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct NowPlaying {
    pub is_playing: bool,
    pub status: Status,
    #[serde(rename = "type")]
    pub kind: ItemType,
    pub name: String,
    pub artists: String,
    pub album: String,
    pub album_image: Option<String>,
    pub song_url: Option<String>,
    pub track_id: Option<String>,
    pub preview_url: Option<String>,
    pub progress_ms: Option<u64>,
    pub duration_ms: u64,
    /// Epoch milliseconds at which this was read from Spotify.
    pub timestamp: u64,
    pub played_at: Option<String>,
    pub stale: bool,
}
