//! Collection: the plays Spotify's recently-played endpoint lists, stored in the history. One
//! run asks for the plays `after` the newest stored one and pages forward until caught up,
//! through the same token keeper as every request (so a run that is the only caller for hours
//! refreshes and persists a rotated refresh token like any request), under a lease so that
//! parallel runs don't repeat each other's work. See docs/history.md, "Collection".

use std::time::Duration;

use serde::Serialize;

use crate::clock::Timestamp;
use crate::error::Error;
use crate::history::{HistoryStore, Play, PlayKind, PlaySource};
use crate::lease::Lease;
use crate::spotify::wire;
use crate::store::{SharedState, StoreError};
use crate::upstream::Upstream;

/// How often the schedule collects. Spotify lists a play only once it lasted 30 s and keeps the
/// last 50: continuous listening to 30-second tracks is 2 plays a minute, 20 between two runs,
/// so even a run that fails (40 plays by the next one) loses nothing.
pub const SCHEDULE: Duration = Duration::from_secs(10 * 60);
/// The most plays one page of recently-played holds (and all Spotify keeps).
pub const PAGE: usize = 50;
/// The most pages one run asks for (Spotify keeps 50 plays: a second full page is rare).
pub const MAX_PAGES: usize = 5;
/// The collection lease: longer than a run takes (a few Spotify calls and writes).
pub const LEASE: Duration = Duration::from_secs(60);
/// Where the lease lives in the shared state.
pub const LEASE_KEY: &str = "lease:history-collect";

/// What one run did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct Collected {
    /// Pages of recently-played asked for (0 for Last.fm, whose pages the summary leaves out).
    pub pages: usize,
    /// Plays stored by this run.
    pub new: usize,
    /// Plays Spotify listed that were stored already.
    pub already: usize,
    /// Another run held the lease: this one asked nothing.
    pub busy: bool,
}

/// Why a run stopped.
#[derive(Debug, thiserror::Error)]
pub enum CollectError {
    /// Spotify (or the token) failed; what was stored stays.
    #[error("{0}")]
    Source(#[from] Error),
    /// The history or the lease could not be read or written.
    #[error("{0}")]
    Store(#[from] StoreError),
    /// Last.fm (or its key) failed; what was stored stays.
    #[error("{0}")]
    Lastfm(String),
}

/// With no scrobble stored yet, a collection from Last.fm goes back this far (the whole history
/// is `nowplaying import lastfm`'s, which may take many minutes).
pub const LASTFM_FIRST_REACH: Duration = Duration::from_secs(24 * 3600);

/// What a process collects with: the history, where the collection lease lives, and this
/// process's id for the lease.
#[derive(Clone)]
pub struct Collector {
    pub store: std::sync::Arc<dyn HistoryStore>,
    /// The shared table on Lambda (no memory fallback: a lease nobody else sees is no lease),
    /// this process's memory for `serve`.
    pub leases: std::sync::Arc<dyn SharedState>,
    pub instance: String,
    /// The privacy rules: a play they hide is never stored.
    pub rules: crate::rules::Rules,
}

impl Collector {
    /// One run from Spotify (see [`collect_spotify`]).
    pub async fn spotify(&self, upstream: &Upstream) -> Result<Collected, CollectError> {
        collect_spotify(
            upstream,
            self.store.as_ref(),
            self.leases.as_ref(),
            &self.instance,
            &self.rules,
        )
        .await
    }

    /// One run from Last.fm (`SOURCE=lastfm`): the scrobbles after the newest stored one (the
    /// last day's with none stored), under the same lease, at Last.fm's pace and without
    /// waiting out a rate limit (the next run catches up).
    pub async fn lastfm(
        &self,
        lastfm: &crate::source::LastFm,
        now: Timestamp,
    ) -> Result<Collected, CollectError> {
        let Some(lease) =
            Lease::acquire(self.leases.as_ref(), LEASE_KEY, &self.instance, LEASE, now).await?
        else {
            return Ok(Collected {
                busy: true,
                ..Collected::default()
            });
        };
        let result = async {
            let key = lastfm
                .key()
                .await
                .map_err(|e| CollectError::Lastfm(e.to_string()))?;
            let options = crate::import::lastfm::Options {
                from: Some(now - LASTFM_FIRST_REACH),
                rate_limit_retries: 0,
                rules: self.rules.clone(),
                ..Default::default()
            };
            let summary = crate::import::lastfm::collect_lastfm(
                self.store.as_ref(),
                lastfm.client(),
                &key,
                lastfm.user(),
                now,
                &options,
            )
            .await
            .map_err(CollectError::Lastfm)?;
            Ok(Collected {
                pages: 0,
                new: summary.new,
                already: summary.already,
                busy: false,
            })
        }
        .await;
        lease.release().await;
        result
    }
}

/// One collection from Spotify into `store`, under the lease in `leases` (the shared table on
/// Lambda, this process's memory for `serve`). With the lease busy, nothing is asked.
pub async fn collect_spotify(
    upstream: &Upstream,
    store: &dyn HistoryStore,
    leases: &dyn SharedState,
    instance: &str,
    rules: &crate::rules::Rules,
) -> Result<Collected, CollectError> {
    let Some(lease) = Lease::acquire(leases, LEASE_KEY, instance, LEASE, upstream.now()).await?
    else {
        return Ok(Collected {
            busy: true,
            ..Collected::default()
        });
    };
    let result = pages(upstream, store, rules).await;
    // Given back at once: the next run need not wait out the lease.
    lease.release().await;
    result
}

/// Pages forward from the newest stored play until a page is not full.
async fn pages(
    upstream: &Upstream,
    store: &dyn HistoryStore,
    rules: &crate::rules::Rules,
) -> Result<Collected, CollectError> {
    let mut after = store.newest(PlaySource::Spotify).await?;
    let mut done = Collected::default();
    while done.pages < MAX_PAGES {
        let page = upstream
            .with_token(|token| {
                let spotify = upstream.spotify().clone();
                async move { spotify.recently_played_after(&token, after).await }
            })
            .await?;
        done.pages += 1;
        let listed = page.items.len();
        let listed_plays: Vec<(Play, bool)> = plays(page, rules)
            .into_iter()
            .filter(|(p, _)| after.is_none_or(|a| p.played_at > a))
            .collect();
        // Paging goes by every listed play; a hidden one is only never stored.
        let Some(newest) = listed_plays.iter().map(|(p, _)| p.played_at).max() else {
            break;
        };
        let plays: Vec<Play> = listed_plays
            .into_iter()
            .filter(|(_, hidden)| !hidden)
            .map(|(p, _)| p)
            .collect();
        let added = store.add(&plays).await?;
        done.new += added.new;
        done.already += added.already;
        if listed < PAGE || after.is_some_and(|a| newest <= a) {
            break;
        }
        after = Some(newest);
    }
    Ok(done)
}

/// The plays of one recently-played page, each with whether the privacy rules hide it (then it
/// is never stored); items without a time or an item are left out.
pub fn plays(page: wire::RecentlyPlayed, rules: &crate::rules::Rules) -> Vec<(Play, bool)> {
    page.items
        .into_iter()
        .filter_map(|entry| play(entry, rules))
        .collect()
}

fn play(entry: wire::PlayHistory, rules: &crate::rules::Rules) -> Option<(Play, bool)> {
    let played_at = Timestamp::parse_rfc3339(entry.played_at.as_deref()?)?;
    let item = entry.track?;
    let uri = item.uri.clone().filter(|u| !u.trim().is_empty());
    let id = item.id.clone().filter(|i| !i.trim().is_empty());
    let np = crate::spotify::map::item_to_model(item, false, played_at)?;
    let hidden = rules.hides_play(&np, Some(played_at), played_at).is_some();
    let kind = match np.kind {
        crate::model::ItemType::Episode => PlayKind::Episode,
        _ => PlayKind::Track,
    };
    let key = match (uri, &id) {
        (Some(uri), _) => uri,
        (None, Some(id)) => format!("spotify:{}:{id}", kind.as_str()),
        // A local file without its URI: its tags stand for it.
        (None, None) => format!(
            "spotify:local:{}:{}:{}",
            np.artists,
            np.album.clone().unwrap_or_default(),
            np.name
        ),
    };
    let play = Play {
        played_at,
        key,
        name: np.name,
        artists: np.artists,
        album: np.album.unwrap_or_default(),
        album_image: np.album_image,
        song_url: np.song_url,
        track_id: np.track_id,
        kind,
        ms_played: None,
        short: false,
        source: PlaySource::Spotify,
    };
    let hidden = hidden || rules.hides_stored(&play);
    Some((play, hidden))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_page_maps_to_plays_keyed_by_uri_with_their_times() {
        let page: wire::RecentlyPlayed = serde_json::from_value(serde_json::json!({"items": [
            {"played_at": "2026-12-01T10:00:30.500Z", "track": {"type": "track", "id": "t1",
             "uri": "spotify:track:t1", "name": "One", "artists": [{"name": "A"}],
             "album": {"name": "Al", "images": [{"url": "https://i.scdn.co/image/x", "width": 640, "height": 640}]},
             "external_urls": {"spotify": "https://open.spotify.com/track/t1"}}},
            {"played_at": "2026-12-01T09:59:00Z", "track": {"type": "track", "is_local": true,
             "uri": "spotify:local:Me:Demo:Song:180", "name": "Song", "artists": [{"name": "Me"}],
             "album": {"name": "Demo"}}},
            {"played_at": "not a time", "track": {"type": "track", "id": "t2"}},
            {"played_at": "2026-12-01T09:00:00Z"}
        ]}))
        .unwrap();
        let plays: Vec<Play> = plays(page, &Default::default())
            .into_iter()
            .map(|(p, _)| p)
            .collect();
        assert_eq!(plays.len(), 2);
        assert_eq!(plays[0].key, "spotify:track:t1");
        assert_eq!(
            plays[0].played_at,
            Timestamp::parse_rfc3339("2026-12-01T10:00:30.5Z").unwrap()
        );
        assert_eq!(plays[0].played_at.as_millis() % 1000, 500);
        assert_eq!(plays[0].track_id.as_deref(), Some("t1"));
        assert_eq!(plays[0].album, "Al");
        assert_eq!(plays[0].source, PlaySource::Spotify);
        assert_eq!(plays[1].key, "spotify:local:Me:Demo:Song:180");
        assert_eq!(plays[1].song_url, None);
    }
}
