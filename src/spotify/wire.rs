//! Spotify's wire format, deserialised leniently: unknown fields are ignored, and a field that is
//! missing, null or of the wrong type becomes its default instead of failing the whole answer.

use serde::{Deserialize, Deserializer};

/// Deserialises any JSON value and keeps it only when it has the expected shape.
pub(super) fn lenient<'de, D, T>(deserializer: D) -> Result<T, D::Error>
where
    D: Deserializer<'de>,
    T: serde::de::DeserializeOwned + Default,
{
    let value = serde_json::Value::deserialize(deserializer)?;
    Ok(serde_json::from_value(value).unwrap_or_default())
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct CurrentlyPlaying {
    #[serde(deserialize_with = "lenient")]
    pub is_playing: bool,
    #[serde(deserialize_with = "lenient")]
    pub progress_ms: Option<u64>,
    #[serde(deserialize_with = "lenient")]
    pub currently_playing_type: Option<String>,
    #[serde(deserialize_with = "lenient")]
    pub item: Option<Item>,
    /// Only `GET /v1/me/player` sends it.
    #[serde(deserialize_with = "lenient")]
    pub device: Option<Device>,
}

/// The player's device (`GET /v1/me/player`).
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct Device {
    #[serde(deserialize_with = "lenient")]
    pub is_private_session: bool,
}

/// A track or an episode: both shapes in one lenient struct.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct Item {
    #[serde(rename = "type", deserialize_with = "lenient")]
    pub kind: Option<String>,
    #[serde(deserialize_with = "lenient")]
    pub id: Option<String>,
    #[serde(deserialize_with = "lenient")]
    pub name: Option<String>,
    #[serde(deserialize_with = "lenient")]
    pub explicit: bool,
    /// `spotify:track:ID`, `spotify:episode:ID`, or a local file's `spotify:local:...`.
    #[serde(deserialize_with = "lenient")]
    pub uri: Option<String>,
    #[serde(deserialize_with = "lenient")]
    pub is_local: bool,
    #[serde(deserialize_with = "lenient")]
    pub duration_ms: Option<u64>,
    #[serde(deserialize_with = "lenient")]
    pub preview_url: Option<String>,
    #[serde(deserialize_with = "lenient")]
    pub external_urls: ExternalUrls,
    #[serde(deserialize_with = "lenient")]
    pub artists: Vec<Named>,
    #[serde(deserialize_with = "lenient")]
    pub album: Option<Album>,
    /// Episodes carry their own images.
    #[serde(deserialize_with = "lenient")]
    pub images: Vec<Image>,
    #[serde(deserialize_with = "lenient")]
    pub show: Option<Show>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct ExternalUrls {
    #[serde(deserialize_with = "lenient")]
    pub spotify: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct Named {
    #[serde(deserialize_with = "lenient")]
    pub id: Option<String>,
    #[serde(deserialize_with = "lenient")]
    pub name: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct Album {
    #[serde(deserialize_with = "lenient")]
    pub name: Option<String>,
    #[serde(deserialize_with = "lenient")]
    pub images: Vec<Image>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct Show {
    #[serde(deserialize_with = "lenient")]
    pub id: Option<String>,
    #[serde(deserialize_with = "lenient")]
    pub name: Option<String>,
    #[serde(deserialize_with = "lenient")]
    pub publisher: Option<String>,
    #[serde(deserialize_with = "lenient")]
    pub images: Vec<Image>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct Image {
    #[serde(deserialize_with = "lenient")]
    pub url: Option<String>,
    #[serde(deserialize_with = "lenient")]
    pub width: Option<u64>,
    #[serde(deserialize_with = "lenient")]
    pub height: Option<u64>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct RecentlyPlayed {
    #[serde(deserialize_with = "lenient_items")]
    pub items: Vec<PlayHistory>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct PlayHistory {
    #[serde(deserialize_with = "lenient")]
    pub track: Option<Item>,
    #[serde(deserialize_with = "lenient")]
    pub played_at: Option<String>,
}

/// `GET /v1/me/top/tracks`.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct TopTracks {
    #[serde(deserialize_with = "lenient_items")]
    pub items: Vec<Item>,
}

/// `GET /v1/me/top/artists`.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct TopArtists {
    #[serde(deserialize_with = "lenient_items")]
    pub items: Vec<Artist>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct Artist {
    #[serde(deserialize_with = "lenient")]
    pub id: Option<String>,
    #[serde(deserialize_with = "lenient")]
    pub name: Option<String>,
    #[serde(deserialize_with = "lenient")]
    pub external_urls: ExternalUrls,
    #[serde(deserialize_with = "lenient")]
    pub images: Vec<Image>,
    #[serde(deserialize_with = "lenient")]
    pub genres: Vec<String>,
}

/// `GET /v1/me/tracks`.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct SavedTracks {
    #[serde(deserialize_with = "lenient_items")]
    pub items: Vec<SavedTrack>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct SavedTrack {
    #[serde(deserialize_with = "lenient")]
    pub added_at: Option<String>,
    #[serde(deserialize_with = "lenient")]
    pub track: Option<Item>,
}

/// A list where one malformed entry (`null`, a string) is dropped instead of emptying the list.
fn lenient_items<'de, D, T>(deserializer: D) -> Result<Vec<T>, D::Error>
where
    D: Deserializer<'de>,
    T: serde::de::DeserializeOwned,
{
    let value = serde_json::Value::deserialize(deserializer)?;
    Ok(match value {
        serde_json::Value::Array(items) => items
            .into_iter()
            .filter(serde_json::Value::is_object)
            .filter_map(|v| serde_json::from_value(v).ok())
            .collect(),
        _ => Vec::new(),
    })
}

/// The accounts service's answer to a token request.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct TokenResponse {
    #[serde(deserialize_with = "lenient")]
    pub access_token: Option<String>,
    #[serde(deserialize_with = "lenient")]
    pub expires_in: Option<u64>,
    #[serde(deserialize_with = "lenient")]
    pub refresh_token: Option<String>,
    #[serde(deserialize_with = "lenient")]
    pub scope: Option<String>,
}

/// The accounts service's error body (`{"error": "invalid_grant", ...}`).
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct TokenError {
    #[serde(deserialize_with = "lenient")]
    pub error: Option<String>,
    #[serde(deserialize_with = "lenient")]
    pub error_description: Option<String>,
}

/// Any error body, as far as it tells a quota from a rate limit: the Web API's
/// `{"error": {"status": 429, "message": "...", "reason": "..."}}` and the accounts service's
/// `{"error": "...", "error_description": "..."}`.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct ErrorBody {
    #[serde(deserialize_with = "lenient")]
    pub error: Option<serde_json::Value>,
    #[serde(deserialize_with = "lenient")]
    pub error_description: Option<String>,
    #[serde(deserialize_with = "lenient")]
    pub message: Option<String>,
    #[serde(deserialize_with = "lenient")]
    pub reason: Option<String>,
}

impl ErrorBody {
    /// Every string the body carries where an error is described.
    pub fn texts(&self) -> Vec<&str> {
        let mut out: Vec<&str> = [&self.error_description, &self.message, &self.reason]
            .into_iter()
            .flatten()
            .map(String::as_str)
            .collect();
        match &self.error {
            Some(serde_json::Value::String(s)) => out.push(s),
            Some(serde_json::Value::Object(o)) => {
                for k in ["message", "reason", "error", "error_description"] {
                    if let Some(s) = o.get(k).and_then(serde_json::Value::as_str) {
                        out.push(s);
                    }
                }
            }
            _ => {}
        }
        out
    }
}
