//! The listening profile beyond the current song: the history, the top tracks and artists and
//! the saved tracks. Each list is one cached answer per list (and time range), never per
//! `limit`: Spotify is asked for the most it gives and each request cuts the list (see
//! docs/architecture.md, "The answer cache").

use std::str::FromStr;
use std::time::Duration;

use serde_json::{json, Value};

use crate::cache::{Answer, AnswerCache};
use crate::clock::Timestamp;
use crate::config::{Config, ProfileEndpoints};
use crate::error::Error;
use crate::keys;
use crate::lastfm::Period;
use crate::model::{ListTrack, TopArtist};
use crate::rules::Rules;
use crate::source::{both_failed, falls_back, LastFm, Sources};
use crate::spotify::SpotifyError;
use crate::upstream::Upstream;

/// How many entries Spotify is asked for (its maximum for every list).
pub const FETCH_LIMIT: u8 = 50;
pub use crate::config::PLAYLISTS_SCOPE;
/// How many pages of 50 playlists are read at most (200 playlists).
pub const PLAYLIST_PAGES: usize = 4;

/// The default `limit` of every list.
pub const DEFAULT_LIMIT: u8 = 10;

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

    /// The Last.fm `period` standing for this range: `1month`, `6month`, `12month` (Spotify's
    /// ranges are about 4 weeks, 6 months and a year).
    pub fn lastfm_period(self) -> Period {
        match self {
            TimeRange::ShortTerm => Period::OneMonth,
            TimeRange::MediumTerm => Period::SixMonths,
            TimeRange::LongTerm => Period::TwelveMonths,
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
pub enum ProfileList {
    Recent,
    Top(TopKind, TimeRange),
    Saved,
    /// The owner's own public playlists.
    Playlists,
}

impl ProfileList {
    /// The cache key: the list and what changes Spotify's answer, never `limit`.
    pub fn key(self) -> String {
        match self {
            ProfileList::Recent => keys::RECENT_KEY.to_string(),
            ProfileList::Top(kind, range) => keys::top_key(kind.as_str(), range.as_str()),
            ProfileList::Saved => keys::SAVED_KEY.to_string(),
            ProfileList::Playlists => keys::PLAYLISTS_KEY.to_string(),
        }
    }

    /// The Spotify scope the list needs.
    pub fn scope(self) -> &'static str {
        match self {
            ProfileList::Recent => "user-read-recently-played",
            ProfileList::Top(..) => "user-top-read",
            ProfileList::Saved => "user-library-read",
            ProfileList::Playlists => PLAYLISTS_SCOPE,
        }
    }

    fn spotify_path(self) -> String {
        match self {
            ProfileList::Recent => "/v1/me/player/recently-played".into(),
            ProfileList::Top(kind, _) => format!("/v1/me/top/{}", kind.as_str()),
            ProfileList::Saved => "/v1/me/tracks".into(),
            ProfileList::Playlists => "/v1/me/playlists".into(),
        }
    }
}

/// What the profile endpoints need from the configuration.
#[derive(Debug, Clone)]
pub struct ProfileSettings {
    pub show_recent: bool,
    pub endpoints: ProfileEndpoints,
    pub recent_ttl: Duration,
    pub top_ttl: Duration,
    pub saved_ttl: Duration,
    pub playlists_ttl: Duration,
}

impl ProfileSettings {
    pub fn from_config(config: &Config) -> Self {
        ProfileSettings {
            show_recent: config.show_recent,
            endpoints: config.profile_endpoints,
            recent_ttl: config.recent_ttl,
            top_ttl: config.top_ttl,
            saved_ttl: config.saved_ttl,
            playlists_ttl: config.playlists_ttl,
        }
    }

    /// `Err(reason)` while the owner has not turned the list on.
    pub fn enabled(&self, list: ProfileList) -> Result<(), String> {
        match list {
            ProfileList::Recent if !self.show_recent => Err(
                "the listening history is turned off (SHOW_RECENT=false): the owner chose not to show what they played"
                    .into(),
            ),
            ProfileList::Top(..) if !self.endpoints.top => Err(
                "the top lists are turned off: the owner can turn them on with PROFILE_ENDPOINTS=top (they need the Spotify scope user-top-read)"
                    .into(),
            ),
            ProfileList::Saved if !self.endpoints.saved => Err(
                "the saved tracks are turned off: the owner can turn them on with PROFILE_ENDPOINTS=saved (they need the Spotify scope user-library-read)"
                    .into(),
            ),
            ProfileList::Playlists if !self.endpoints.playlists => Err(
                "the playlists are turned off: the owner can turn them on with PROFILE_ENDPOINTS=playlists (they need the Spotify scope playlist-read-private)"
                    .into(),
            ),
            _ => Ok(()),
        }
    }

    /// `Err(reason)` while the owner has not turned the listening history on (`/api/spotify/history*`).
    pub fn history_enabled(&self) -> Result<(), String> {
        if self.endpoints.history {
            Ok(())
        } else {
            Err("the listening history is turned off: the owner can turn it on with PROFILE_ENDPOINTS=history (it needs no Spotify scope beyond the base one)".into())
        }
    }

    /// Returns the list's cache window.
    pub fn ttl(&self, list: ProfileList) -> Duration {
        match list {
            ProfileList::Recent => self.recent_ttl,
            ProfileList::Top(..) => self.top_ttl,
            ProfileList::Saved => self.saved_ttl,
            ProfileList::Playlists => self.playlists_ttl,
        }
    }
}

/// The whole list as cached: `{"items": [...]}` with up to [`FETCH_LIMIT`] entries, or `null`
/// (hidden, not authorized, a scope missing, or the source failing with no good copy left).
/// From Last.fm with `SOURCE=lastfm`, or when Spotify can't be asked with
/// `SOURCE=spotify,lastfm` (as for `/api/spotify`).
pub async fn fetch_list(
    cache: &AnswerCache,
    upstream: &Upstream,
    sources: &Sources,
    settings: &ProfileSettings,
    list: ProfileList,
    rules: &Rules,
) -> Answer {
    let key = list.key();
    let ttl = settings.ttl(list);
    match sources {
        Sources::Spotify => {
            cache
                .get_or_fetch(&key, ttl, || from_spotify(upstream, list, &key, rules))
                .await
        }
        Sources::Lastfm(lastfm) => {
            cache
                .get_or_fetch(&key, ttl, || ask_lastfm(lastfm, list, rules))
                .await
        }
        Sources::SpotifyThenLastfm(lastfm) => {
            cache
                .get_or_fetch_with_fallback(
                    &key,
                    ttl,
                    || spotify_then_lastfm(upstream, lastfm, list, &key, rules),
                    || ask_lastfm(lastfm, list, rules),
                )
                .await
        }
    }
}

/// The list from Spotify; a missing scope is `null`.
async fn from_spotify(
    upstream: &Upstream,
    list: ProfileList,
    key: &str,
    rules: &Rules,
) -> Result<Value, Error> {
    match ask_spotify(upstream, list, rules).await {
        Err(e) => missing_scope_is_null(e, key, list),
        ok => ok,
    }
}

/// The list from Spotify, and from Last.fm when Spotify can't be asked ([`falls_back`]).
async fn spotify_then_lastfm(
    upstream: &Upstream,
    lastfm: &LastFm,
    list: ProfileList,
    key: &str,
    rules: &Rules,
) -> Result<Value, Error> {
    match ask_spotify(upstream, list, rules).await {
        Err(e) if falls_back(&e) => match ask_lastfm(lastfm, list, rules).await {
            Ok(v) => Ok(v),
            Err(e2) => missing_scope_is_null(both_failed(e, e2), key, list),
        },
        other => other,
    }
}

/// A `403` means the sign-in lacks the list's scope: the owner must act, the list is `null`.
/// Not a `403` naming Premium ([`SpotifyError::PremiumRequired`]): no sign-in grants that, so it
/// goes to the cache's shared Premium cooldown like `/api/spotify`'s.
fn missing_scope_is_null(err: Error, key: &str, list: ProfileList) -> Result<Value, Error> {
    match err {
        Error::Spotify(SpotifyError::Forbidden(detail)) => {
            tracing::warn!(
                alert = "owner_must_act",
                reason = "missing_scope",
                list = key,
                scope = list.scope(),
                detail = %detail,
                "Spotify refused {} (403): the stored sign-in lacks the scope {}; run `nowplaying authorize` to grant it (answering null meanwhile)",
                list.spotify_path(),
                list.scope(),
            );
            Ok(Value::Null)
        }
        other => Err(other),
    }
}

/// The list from Last.fm: the history from `user.getRecentTracks`, the top lists from
/// `user.getTopTracks` / `user.getTopArtists` over the range's period, the saved tracks from
/// `user.getLovedTracks`.
async fn ask_lastfm(lastfm: &LastFm, list: ProfileList, rules: &Rules) -> Result<Value, Error> {
    let now = lastfm.now();
    let items = match list {
        ProfileList::Recent => serde_json::to_value(visible(
            lastfm.history(FETCH_LIMIT).await?,
            rules,
            Some(now),
        )),
        ProfileList::Top(TopKind::Tracks, range) => serde_json::to_value(visible(
            lastfm.top_tracks(range.lastfm_period()).await?,
            rules,
            None,
        )),
        ProfileList::Top(TopKind::Artists, range) => serde_json::to_value(visible_artists(
            lastfm.top_artists(range.lastfm_period()).await?,
            rules,
        )),
        ProfileList::Saved => {
            serde_json::to_value(visible(lastfm.loved_tracks().await?, rules, None))
        }
        // Last.fm keeps no playlists.
        ProfileList::Playlists => return Ok(Value::Null),
    }
    .expect("list items serialise");
    Ok(json!({ "items": items }))
}

async fn ask_spotify(
    upstream: &Upstream,
    list: ProfileList,
    rules: &Rules,
) -> Result<Value, Error> {
    let spotify = upstream.spotify();
    let now = || upstream.now();
    let items = match list {
        ProfileList::Recent => serde_json::to_value(visible(
            upstream
                .with_token(|t| async move { spotify.history(&t, FETCH_LIMIT, now()).await })
                .await?,
            rules,
            Some(now()),
        )),
        ProfileList::Top(TopKind::Tracks, range) => serde_json::to_value(visible(
            upstream
                .with_token(|t| async move {
                    spotify
                        .top_tracks(&t, range.as_str(), FETCH_LIMIT, now())
                        .await
                })
                .await?,
            rules,
            None,
        )),
        ProfileList::Top(TopKind::Artists, range) => serde_json::to_value(visible_artists(
            upstream
                .with_token(|t| async move {
                    spotify.top_artists(&t, range.as_str(), FETCH_LIMIT).await
                })
                .await?,
            rules,
        )),
        ProfileList::Saved => serde_json::to_value(visible(
            upstream
                .with_token(|t| async move { spotify.saved_tracks(&t, FETCH_LIMIT, now()).await })
                .await?,
            rules,
            None,
        )),
        // The privacy rules name tracks, artists and shows: a playlist is none of them.
        ProfileList::Playlists => serde_json::to_value(
            upstream
                .with_token(
                    |t| async move { spotify.own_public_playlists(&t, PLAYLIST_PAGES).await },
                )
                .await?,
        ),
    }
    .expect("list items serialise");
    Ok(json!({ "items": items }))
}

/// The entries the rules let through: by what they are, and for the history (`played` given:
/// now) by when they were played too. Ranks are counted again from 1, so no gap shows where an
/// entry was left out.
fn visible(items: Vec<ListTrack>, rules: &Rules, played: Option<Timestamp>) -> Vec<ListTrack> {
    let mut out: Vec<ListTrack> = items
        .into_iter()
        .filter(|t| match played {
            Some(now) => rules.shows_recent(&t.item, now),
            None => rules.hides_item(&t.item).is_none(),
        })
        .collect();
    if out.iter().any(|t| t.rank.is_some()) {
        for (i, t) in out.iter_mut().enumerate() {
            t.rank = Some(i as u32 + 1);
        }
    }
    out
}

/// The top artists the artist rule lets through, ranked again from 1.
fn visible_artists(items: Vec<TopArtist>, rules: &Rules) -> Vec<TopArtist> {
    let mut out: Vec<TopArtist> = items
        .into_iter()
        .filter(|a| !rules.hides_artist(&a.name, a.url.as_deref()))
        .collect();
    for (i, a) in out.iter_mut().enumerate() {
        a.rank = i as u32 + 1;
    }
    out
}

/// The answer for one request: the cached list cut to `limit`, with `stale` on the list and on
/// every entry (as `/api/spotify` marks its object).
pub fn cut(cached: &Answer, limit: u8) -> Value {
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clock::Timestamp;

    #[test]
    fn keys_leave_the_limit_out_and_are_all_known() {
        assert_eq!(ProfileList::Recent.key(), "answer:recent");
        assert_eq!(
            ProfileList::Top(TopKind::Artists, TimeRange::MediumTerm).key(),
            "answer:top:artists:medium_term"
        );
        assert_eq!(ProfileList::Saved.key(), "answer:saved");
        let all = keys::all_answer_keys();
        for kind in [TopKind::Tracks, TopKind::Artists] {
            for range in [
                TimeRange::ShortTerm,
                TimeRange::MediumTerm,
                TimeRange::LongTerm,
            ] {
                assert!(all.contains(&ProfileList::Top(kind, range).key()));
            }
        }
        assert!(
            all.contains(&ProfileList::Recent.key()) && all.contains(&ProfileList::Saved.key())
        );
    }

    fn answer(value: Value, stale: bool) -> Answer {
        Answer {
            value,
            stale,
            fresh_until: Timestamp::EPOCH,
            served_at: Timestamp::EPOCH,
            window: Duration::ZERO,
        }
    }

    #[test]
    fn cut_keeps_the_first_entries_and_marks_stale() {
        let c = answer(
            json!({"items": [{"name": "a", "isPlaying": false}, {"name": "b", "isPlaying": false}, {"name": "c", "isPlaying": false}]}),
            true,
        );
        let v = cut(&c, 2);
        assert_eq!(v["items"].as_array().unwrap().len(), 2);
        assert_eq!(v["stale"], true);
        assert_eq!(v["items"][1]["stale"], true);
        assert_eq!(cut(&answer(Value::Null, false), 5), Value::Null);
    }
}
