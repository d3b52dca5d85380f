//! The listening profile beyond the current song: the history (`/api/spotify/recent`), the top
//! tracks and artists (`/api/spotify/top/{tracks,artists}`) and the saved tracks
//! (`/api/spotify/saved`).
//!
//! Each list goes through the same cache discipline as `/api/spotify`
//! ([`NowPlayingService::cached`]: fresh copy, single flight, lease, `429` cooldown, stale then
//! `null`) under its own key and window. The key holds only what changes Spotify's answer (the
//! list and, for top lists, the time range): Spotify is always asked for the most it gives (50)
//! and each request cuts the cached list to its `limit`. So `limit` costs nothing upstream: pages
//! asking for 5 and for 10 share one call per window, and no choice of query parameters can
//! multiply the calls (at most one per list and range per window).

use std::collections::HashMap;
use std::str::FromStr;

use serde_json::{json, Value};

use crate::config::{Config, ProfileEndpoints};
use crate::error::Error;
use crate::nowplaying::{Cached, NowPlayingService};
use crate::spotify::SpotifyError;

/// How many entries Spotify is asked for (its maximum for every list).
pub const FETCH_LIMIT: u8 = 50;
/// The default `limit` of every list.
pub const DEFAULT_LIMIT: u8 = 10;

pub const RECENT_KEY: &str = "answer:recent";
pub const SAVED_KEY: &str = "answer:saved";

/// Every cached answer's key (`/api/spotify` and every list), for the owner's commands that
/// must take effect at once (`disconnect`, `authorize`, `hide`).
pub fn all_answer_keys() -> Vec<String> {
    let mut keys = vec![
        crate::nowplaying::ANSWER_KEY.to_string(),
        RECENT_KEY.to_string(),
        SAVED_KEY.to_string(),
    ];
    for kind in [TopKind::Tracks, TopKind::Artists] {
        for range in [
            TimeRange::ShortTerm,
            TimeRange::MediumTerm,
            TimeRange::LongTerm,
        ] {
            keys.push(List::Top(kind, range).key());
        }
    }
    keys
}

/// Which top list.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TopKind {
    Tracks,
    Artists,
}

impl TopKind {
    pub const ACCEPTED: &'static str = "tracks or artists";

    pub fn as_str(self) -> &'static str {
        match self {
            TopKind::Tracks => "tracks",
            TopKind::Artists => "artists",
        }
    }
}

impl FromStr for TopKind {
    type Err = ();
    fn from_str(s: &str) -> Result<Self, ()> {
        match s {
            "tracks" => Ok(TopKind::Tracks),
            "artists" => Ok(TopKind::Artists),
            _ => Err(()),
        }
    }
}

/// Spotify's `time_range` of a top list.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum TimeRange {
    #[default]
    ShortTerm,
    MediumTerm,
    LongTerm,
}

impl TimeRange {
    pub const ACCEPTED: &'static str = "short_term, medium_term or long_term";

    pub fn as_str(self) -> &'static str {
        match self {
            TimeRange::ShortTerm => "short_term",
            TimeRange::MediumTerm => "medium_term",
            TimeRange::LongTerm => "long_term",
        }
    }

    /// For people: Spotify computes short_term over about 4 weeks, medium_term over about
    /// 6 months and long_term over about a year.
    pub fn describe(self) -> &'static str {
        match self {
            TimeRange::ShortTerm => "last 4 weeks",
            TimeRange::MediumTerm => "last 6 months",
            TimeRange::LongTerm => "last year",
        }
    }
}

impl FromStr for TimeRange {
    type Err = ();
    fn from_str(s: &str) -> Result<Self, ()> {
        match s {
            "short_term" => Ok(TimeRange::ShortTerm),
            "medium_term" => Ok(TimeRange::MediumTerm),
            "long_term" => Ok(TimeRange::LongTerm),
            _ => Err(()),
        }
    }
}

/// One of the profile lists.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum List {
    Recent,
    Top(TopKind, TimeRange),
    Saved,
}

impl List {
    /// The cache key: the list and what changes Spotify's answer, never `limit`.
    pub fn key(self) -> String {
        match self {
            List::Recent => RECENT_KEY.to_string(),
            List::Top(kind, range) => format!("answer:top:{}:{}", kind.as_str(), range.as_str()),
            List::Saved => SAVED_KEY.to_string(),
        }
    }

    /// The Spotify scope the list needs.
    pub fn scope(self) -> &'static str {
        match self {
            List::Recent => "user-read-recently-played",
            List::Top(..) => "user-top-read",
            List::Saved => "user-library-read",
        }
    }

    fn spotify_path(self) -> String {
        match self {
            List::Recent => "/v1/me/player/recently-played".into(),
            List::Top(kind, _) => format!("/v1/me/top/{}", kind.as_str()),
            List::Saved => "/v1/me/tracks".into(),
        }
    }
}

/// What the profile endpoints need from the configuration.
#[derive(Debug, Clone)]
pub struct ProfileSettings {
    pub show_recent: bool,
    pub endpoints: ProfileEndpoints,
    pub recent_ttl_ms: u64,
    pub top_ttl_ms: u64,
    pub saved_ttl_ms: u64,
}

impl ProfileSettings {
    pub fn from_config(config: &Config) -> Self {
        ProfileSettings {
            show_recent: config.show_recent,
            endpoints: config.profile_endpoints,
            recent_ttl_ms: config.recent_ttl.as_millis() as u64,
            top_ttl_ms: config.top_ttl.as_millis() as u64,
            saved_ttl_ms: config.saved_ttl.as_millis() as u64,
        }
    }

    /// `Err(reason)` while the owner has not turned the list on.
    pub fn enabled(&self, list: List) -> Result<(), String> {
        match list {
            List::Recent if !self.show_recent => Err(
                "the listening history is turned off (SHOW_RECENT=false): the owner chose not to show what they played"
                    .into(),
            ),
            List::Top(..) if !self.endpoints.top => Err(
                "the top lists are turned off: the owner can turn them on with PROFILE_ENDPOINTS=top (they need the Spotify scope user-top-read)"
                    .into(),
            ),
            List::Saved if !self.endpoints.saved => Err(
                "the saved tracks are turned off: the owner can turn them on with PROFILE_ENDPOINTS=saved (they need the Spotify scope user-library-read)"
                    .into(),
            ),
            _ => Ok(()),
        }
    }

    /// The list's cache window.
    pub fn ttl_ms(&self, list: List) -> u64 {
        match list {
            List::Recent => self.recent_ttl_ms,
            List::Top(..) => self.top_ttl_ms,
            List::Saved => self.saved_ttl_ms,
        }
    }
}

/// The whole list as cached: `{"items": [...]}` with up to [`FETCH_LIMIT`] entries, or `null`
/// (hidden, not authorized, a scope missing, or Spotify failing with no good copy left).
pub async fn fetch_list(
    service: &NowPlayingService,
    settings: &ProfileSettings,
    list: List,
) -> Cached {
    // The privacy switch is the cache's own: `hide` drops every list's cached answer (see
    // `profile::all_answer_keys`), and `cached` checks the switch on misses.
    let key = list.key();
    let key_ref = key.as_str();
    service
        .cached(&key, settings.ttl_ms(list), || async move {
            match ask_spotify(service, list).await {
                Err(Error::Spotify(SpotifyError::Forbidden(detail))) => {
                    tracing::warn!(
                        list = key_ref,
                        scope = list.scope(),
                        detail = %detail,
                        "Spotify refused {} (403): the stored sign-in lacks the scope {}; run `nowplaying authorize` to grant it (answering null meanwhile)",
                        list.spotify_path(),
                        list.scope(),
                    );
                    Ok(Value::Null)
                }
                other => other,
            }
        })
        .await
}

async fn ask_spotify(service: &NowPlayingService, list: List) -> Result<Value, Error> {
    let spotify = service.spotify();
    let now = || service.clock().now_ms();
    let items = match list {
        List::Recent => serde_json::to_value(
            service
                .with_token(|t| async move { spotify.history(&t, FETCH_LIMIT, now()).await })
                .await?,
        ),
        List::Top(TopKind::Tracks, range) => serde_json::to_value(
            service
                .with_token(|t| async move {
                    spotify
                        .top_tracks(&t, range.as_str(), FETCH_LIMIT, now())
                        .await
                })
                .await?,
        ),
        List::Top(TopKind::Artists, range) => serde_json::to_value(
            service
                .with_token(|t| async move {
                    spotify.top_artists(&t, range.as_str(), FETCH_LIMIT).await
                })
                .await?,
        ),
        List::Saved => serde_json::to_value(
            service
                .with_token(|t| async move { spotify.saved_tracks(&t, FETCH_LIMIT, now()).await })
                .await?,
        ),
    }
    .expect("list items serialise");
    Ok(json!({ "items": items }))
}

/// The answer for one request: the cached list cut to `limit`, with `stale` on the list and on
/// every entry (as `/api/spotify` marks its object).
pub fn cut(cached: &Cached, limit: u8) -> Value {
    let Value::Object(map) = &cached.value else {
        return Value::Null;
    };
    let items: Vec<Value> = map
        .get("items")
        .and_then(Value::as_array)
        .map(|items| {
            items
                .iter()
                .take(limit as usize)
                .cloned()
                .map(|mut item| {
                    if cached.stale {
                        if let Some(o) = item.as_object_mut() {
                            if o.contains_key("isPlaying") {
                                o.insert("stale".into(), Value::Bool(true));
                            }
                        }
                    }
                    item
                })
                .collect()
        })
        .unwrap_or_default();
    json!({ "items": items, "stale": cached.stale })
}

/// A query parameter that cannot be used: the parameter and what it accepts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParamError {
    pub parameter: String,
    pub accepted: String,
    pub message: String,
}

impl ParamError {
    pub fn to_json(&self) -> Value {
        json!({
            "error": self.message,
            "parameter": self.parameter,
            "accepted": self.accepted,
        })
    }
}

/// The query string as name → value, refusing parameters not in `accepted` and repeated ones.
/// `accepted` pairs each name with what it accepts (for the error messages).
pub fn parse_query(
    raw: Option<&str>,
    accepted: &[(&'static str, &'static str)],
) -> Result<HashMap<String, String>, ParamError> {
    let names: Vec<&str> = accepted.iter().map(|(n, _)| *n).collect();
    let mut out = HashMap::new();
    for (k, v) in url::form_urlencoded::parse(raw.unwrap_or_default().as_bytes()) {
        if k.is_empty() && v.is_empty() {
            continue; // "?" or "a=1&&b=2"
        }
        let Some((name, what)) = accepted.iter().find(|(n, _)| *n == k) else {
            let shown: String = k.chars().take(60).collect();
            return Err(ParamError {
                parameter: shown.clone(),
                accepted: names.join(", "),
                message: if names.is_empty() {
                    format!("unknown parameter {shown:?}: this endpoint takes no parameters")
                } else {
                    format!(
                        "unknown parameter {shown:?}: this endpoint accepts {}",
                        names.join(", ")
                    )
                },
            });
        };
        if out.insert(k.to_string(), v.trim().to_string()).is_some() {
            return Err(ParamError {
                parameter: name.to_string(),
                accepted: what.to_string(),
                message: format!(
                    "parameter {name:?} is given more than once: give it once, {what}"
                ),
            });
        }
    }
    Ok(out)
}

/// The error for a value a parameter does not accept.
pub fn bad_value(name: &str, value: &str, accepted: &str) -> ParamError {
    let shown: String = value.chars().take(60).collect();
    ParamError {
        parameter: name.to_string(),
        accepted: accepted.to_string(),
        message: format!("{name}={shown:?} is not valid: expected {accepted}"),
    }
}

pub const LIMIT_ACCEPTED: &str = "a whole number from 1 to 50 (default 10)";
pub const RANGE_ACCEPTED: &str = "short_term, medium_term or long_term (default short_term)";

/// `limit`: 1 to `max`, `default` when absent.
pub fn limit(
    params: &HashMap<String, String>,
    max: u8,
    default: u8,
    accepted: &str,
) -> Result<u8, ParamError> {
    match params.get("limit") {
        None => Ok(default),
        Some(v) => match v.parse::<u8>() {
            Ok(n) if (1..=max).contains(&n) && !v.starts_with('+') => Ok(n),
            _ => Err(bad_value("limit", v, accepted)),
        },
    }
}

/// `range`: short_term (default), medium_term or long_term.
pub fn range(params: &HashMap<String, String>) -> Result<TimeRange, ParamError> {
    match params.get("range") {
        None => Ok(TimeRange::default()),
        Some(v) => v
            .parse::<TimeRange>()
            .map_err(|_| bad_value("range", v, RANGE_ACCEPTED)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const LR: &[(&str, &str)] = &[("limit", LIMIT_ACCEPTED), ("range", RANGE_ACCEPTED)];

    #[test]
    fn limits() {
        let ok = |q: &str| limit(&parse_query(Some(q), LR).unwrap(), 50, 10, LIMIT_ACCEPTED);
        assert_eq!(ok(""), Ok(10));
        assert_eq!(ok("limit=1"), Ok(1));
        assert_eq!(ok("limit=50"), Ok(50));
        assert_eq!(ok("limit=%2007"), Ok(7));
        for bad in [
            "limit=0",
            "limit=51",
            "limit=abc",
            "limit=",
            "limit=-1",
            "limit=1.5",
            "limit=%2B5",
            "limit=300",
        ] {
            let e = ok(bad).unwrap_err();
            assert_eq!(e.parameter, "limit", "{bad}");
            assert!(e.message.contains("1 to 50"), "{}", e.message);
        }
    }

    #[test]
    fn ranges_unknown_and_repeated() {
        let p = |q: &str| parse_query(Some(q), LR);
        assert_eq!(range(&p("").unwrap()), Ok(TimeRange::ShortTerm));
        assert_eq!(
            range(&p("range=long_term").unwrap()),
            Ok(TimeRange::LongTerm)
        );
        let e = range(&p("range=forever").unwrap()).unwrap_err();
        assert_eq!(e.parameter, "range");
        assert!(e.message.contains("forever") && e.message.contains("medium_term"));
        let e = p("limit=5&foo=1").unwrap_err();
        assert_eq!(e.parameter, "foo");
        assert!(e.message.contains("limit, range"), "{}", e.message);
        let e = p("limit=5&limit=6").unwrap_err();
        assert_eq!(e.parameter, "limit");
        assert!(p("&&limit=5&").is_ok());
        let e = parse_query(Some("x=1"), &[]).unwrap_err();
        assert!(e.message.contains("no parameters"));
    }

    #[test]
    fn keys_leave_the_limit_out() {
        assert_eq!(List::Recent.key(), "answer:recent");
        assert_eq!(
            List::Top(TopKind::Artists, TimeRange::MediumTerm).key(),
            "answer:top:artists:medium_term"
        );
        assert_eq!(List::Saved.key(), "answer:saved");
    }

    #[test]
    fn cut_keeps_the_first_entries_and_marks_stale() {
        let c = Cached {
            value: json!({"items": [{"name": "a", "isPlaying": false}, {"name": "b", "isPlaying": false}, {"name": "c", "isPlaying": false}]}),
            stale: true,
            fresh_until_ms: 0,
        };
        let v = cut(&c, 2);
        assert_eq!(v["items"].as_array().unwrap().len(), 2);
        assert_eq!(v["stale"], true);
        assert_eq!(v["items"][1]["stale"], true);
        let null = Cached {
            value: Value::Null,
            stale: false,
            fresh_until_ms: 0,
        };
        assert_eq!(cut(&null, 5), Value::Null);
    }
}
