//! The public JSON of `GET /api/spotify` (see the README's API section).

use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::clock::Timestamp;

/// Where an answer came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    /// Playback is running.
    Playing,
    /// Spotify answered 200 with `is_playing: false`.
    Paused,
    /// Nothing plays; this is the most recently played track (also every entry of
    /// `/api/spotify/recent`).
    Recent,
    /// An entry of `/api/spotify/top/tracks` (never in `/api/spotify`).
    Top,
    /// An entry of `/api/spotify/saved` (never in `/api/spotify`).
    Saved,
}

/// Which service an answer was read from (`"spotify"` or `"lastfm"`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Source {
    /// Answers cached before the field existed were all Spotify's.
    #[default]
    Spotify,
    Lastfm,
}

impl Source {
    pub fn as_str(self) -> &'static str {
        match self {
            Source::Spotify => "spotify",
            Source::Lastfm => "lastfm",
        }
    }

    /// The service's name for people ("Spotify", "Last.fm").
    pub fn display_name(self) -> &'static str {
        match self {
            Source::Spotify => "Spotify",
            Source::Lastfm => "Last.fm",
        }
    }
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
    /// The album (the show, for an episode); null when there is none (an untagged local file,
    /// a scrobble without an album).
    pub album: Option<String>,
    pub album_image: Option<String>,
    /// Every size of the art the source lists (Spotify: 640, 300 and 64 px), so a client that
    /// draws it small (the SVG card) can take the smallest that is sharp enough instead of the
    /// largest. Omitted when the source lists none (local files, a scrobble without art).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub album_images: Vec<Image>,
    pub song_url: Option<String>,
    pub track_id: Option<String>,
    pub preview_url: Option<String>,
    /// The position when it was read is `progressMs` (in milliseconds), null for a recent
    /// track.
    #[serde(rename = "progressMs", default, with = "crate::clock::opt_millis")]
    pub progress: Option<Duration>,
    /// The length is `durationMs` (in milliseconds): always a number from Spotify, null from
    /// Last.fm, which does not say.
    #[serde(rename = "durationMs", default, with = "crate::clock::opt_millis")]
    pub duration: Option<Duration>,
    /// This was read from the source at this moment (epoch milliseconds on the wire).
    pub timestamp: Timestamp,
    pub played_at: Option<String>,
    pub stale: bool,
    /// Where the answer came from.
    #[serde(default)]
    pub source: Source,
    /// What the privacy rules look at beyond these fields; never on the wire.
    #[serde(skip)]
    pub facts: Facts,
}

/// One size of an item's art: its URL and, when the source says, its size in pixels.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Image {
    pub url: String,
    pub width: Option<u32>,
    pub height: Option<u32>,
}

/// A track in one of the profile lists (`/api/spotify/recent`, `/top/tracks`, `/saved`): the
/// contract's item shape with `isPlaying: false` and `progressMs: null`, plus what the list adds.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ListTrack {
    #[serde(flatten)]
    pub item: NowPlaying,
    /// History: how many consecutive plays of this track the entry stands for (at least 1).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub count: Option<u32>,
    /// Top tracks: 1 for the most played.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rank: Option<u32>,
    /// Saved tracks: when the owner saved it (RFC 3339).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub added_at: Option<String>,
}

/// An entry of `/api/spotify/top/artists`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TopArtist {
    pub name: String,
    /// The largest image; null when there is none (Last.fm's grey star counts as none).
    pub image: Option<String>,
    /// Every size of the artist's image the source lists (Spotify: 640, 320 and 160 px), so a
    /// card can take a small one; omitted when there is none.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub images: Vec<Image>,
    /// The `open.spotify.com` link, or the artist's Last.fm page.
    pub url: Option<String>,
    /// 1 for the most played.
    pub rank: u32,
    /// Spotify's genres for the artist; often empty (Spotify stopped filling them for new apps).
    #[serde(default)]
    pub genres: Vec<String>,
    /// Where the list came from.
    #[serde(default)]
    pub source: Source,
}

/// What a rule needs to know of an item beyond the public JSON: kept on [`NowPlaying`] (never
/// serialised) by the source's mapping.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Facts {
    /// Spotify marks it explicit.
    pub explicit: bool,
    /// The artists' Spotify ids (a track from Spotify).
    pub artist_ids: Vec<String>,
    /// The artists' names, one each (Spotify), or the one artist line (Last.fm).
    pub artist_names: Vec<String>,
    /// The show's Spotify id (an episode).
    pub show_id: Option<String>,
    /// The owner's Spotify is in a private session (read from the player's device).
    pub private_session: bool,
}

/// An entry of `/api/spotify/playlists`: one of the owner's own public playlists.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Playlist {
    /// Spotify's playlist id.
    pub id: String,
    pub name: String,
    /// The owner's description as plain text (Spotify's HTML entities decoded, tags dropped);
    /// null when empty.
    pub description: Option<String>,
    /// The largest image; null when the playlist has none.
    pub image: Option<String>,
    /// Every size of the image Spotify lists (a mosaic is 640, 300 and 60 px; an upload one).
    #[serde(default)]
    pub images: Vec<Image>,
    /// The `open.spotify.com` link.
    pub url: Option<String>,
    /// The player Spotify serves for embedding: `https://open.spotify.com/embed/playlist/ID`.
    pub embed_url: String,
    /// How many tracks and episodes it holds; null when Spotify does not say.
    pub tracks: Option<u32>,
    /// Where the list came from (always Spotify: Last.fm keeps no playlists).
    #[serde(default)]
    pub source: Source,
}
