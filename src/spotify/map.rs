//! From Spotify's wire types to the public model: [`NowPlaying`], [`ListTrack`], [`TopArtist`].

use std::time::Duration;

use super::wire;
use crate::clock::Timestamp;
use crate::model::{Image, ItemType, ListTrack, NowPlaying, Source, Status, TopArtist};

/// Maps a currently-playing answer. `None` when there is no item to show (ads, unknown types,
/// `item: null`): the caller then asks recently-played.
pub fn current(cp: wire::CurrentlyPlaying, read_at: Timestamp) -> Option<NowPlaying> {
    let item = cp.item?;
    let episode_hint = cp.currently_playing_type.as_deref() == Some("episode");
    let mut np = item_to_model(item, episode_hint, read_at)?;
    np.facts.private_session = cp.device.is_some_and(|d| d.is_private_session);
    np.is_playing = cp.is_playing;
    np.status = if cp.is_playing {
        Status::Playing
    } else {
        Status::Paused
    };
    // The position, never past the end (unless the length is unknown).
    let position = Duration::from_millis(cp.progress_ms.unwrap_or(0));
    np.progress = Some(match np.duration {
        Some(length) if !length.is_zero() => position.min(length),
        _ => position,
    });
    Some(np)
}

/// Maps recently-played items, newest first as Spotify sends them; items that are not tracks are
/// skipped.
pub fn recent(rp: wire::RecentlyPlayed, read_at: Timestamp) -> Vec<NowPlaying> {
    rp.items
        .into_iter()
        .filter_map(|h| {
            let mut np = item_to_model(h.track?, false, read_at)?;
            np.status = Status::Recent;
            np.is_playing = false;
            np.progress = None;
            np.played_at = h.played_at;
            Some(np)
        })
        .collect()
}

/// The history list: recently-played items, newest first, with consecutive plays of one track
/// folded into one entry (the newest play's `playedAt`, and `count` plays).
pub fn history(rp: wire::RecentlyPlayed, read_at: Timestamp) -> Vec<ListTrack> {
    let mut out: Vec<ListTrack> = Vec::new();
    for np in recent(rp, read_at) {
        match out.last_mut() {
            Some(last) if same_track(&last.item, &np) => {
                last.count = Some(last.count.unwrap_or(1) + 1);
            }
            _ => out.push(ListTrack {
                item: np,
                count: Some(1),
                rank: None,
                added_at: None,
            }),
        }
    }
    out
}

/// One track, played again: the same Spotify id, or (local files, which have none) the same
/// title, artists and album.
fn same_track(a: &NowPlaying, b: &NowPlaying) -> bool {
    match (&a.track_id, &b.track_id) {
        (Some(x), Some(y)) => x == y,
        (None, None) => a.name == b.name && a.artists == b.artists && a.album == b.album,
        _ => false,
    }
}

/// Top tracks, ranked from 1 in Spotify's order.
pub fn top_tracks(t: wire::TopTracks, read_at: Timestamp) -> Vec<ListTrack> {
    t.items
        .into_iter()
        .filter_map(|i| list_track(i, Status::Top, read_at))
        .enumerate()
        .map(|(n, mut lt)| {
            lt.rank = Some(n as u32 + 1);
            lt
        })
        .collect()
}

/// Top artists, ranked from 1 in Spotify's order; entries without a name are skipped.
pub fn top_artists(t: wire::TopArtists) -> Vec<TopArtist> {
    t.items
        .into_iter()
        .filter_map(|a| {
            let name = a.name.filter(|n| !n.trim().is_empty())?;
            Some(TopArtist {
                name,
                image: largest_image(&a.images),
                images: sized(a.images),
                url: a.external_urls.spotify.filter(|u| !u.trim().is_empty()),
                rank: 0,
                genres: a
                    .genres
                    .into_iter()
                    .filter(|g| !g.trim().is_empty())
                    .collect(),
                source: Source::Spotify,
            })
        })
        .enumerate()
        .map(|(n, mut a)| {
            a.rank = n as u32 + 1;
            a
        })
        .collect()
}

/// Saved tracks, most recently saved first, with `addedAt`.
pub fn saved(s: wire::SavedTracks, read_at: Timestamp) -> Vec<ListTrack> {
    s.items
        .into_iter()
        .filter_map(|st| {
            let mut lt = list_track(st.track?, Status::Saved, read_at)?;
            lt.added_at = st.added_at;
            Some(lt)
        })
        .collect()
}

fn list_track(item: wire::Item, status: Status, read_at: Timestamp) -> Option<ListTrack> {
    let mut np = item_to_model(item, false, read_at)?;
    np.status = status;
    Some(ListTrack {
        item: np,
        count: None,
        rank: None,
        added_at: None,
    })
}

/// The shared part of a track or episode. `None` for item types we do not show.
pub fn item_to_model(
    item: wire::Item,
    episode_hint: bool,
    read_at: Timestamp,
) -> Option<NowPlaying> {
    let kind = match item.kind.as_deref() {
        Some("episode") => ItemType::Episode,
        Some("track") => ItemType::Track,
        None if episode_hint || item.show.is_some() => ItemType::Episode,
        None => ItemType::Track,
        Some(_) => return None,
    };
    let local = item.is_local;
    let non_empty = |s: Option<String>| s.filter(|s| !s.trim().is_empty());
    let mut facts = crate::rules::Facts {
        explicit: item.explicit,
        artist_ids: item
            .artists
            .iter()
            .filter_map(|a| non_empty(a.id.clone()))
            .collect(),
        artist_names: item
            .artists
            .iter()
            .filter_map(|a| non_empty(a.name.clone()))
            .collect(),
        ..Default::default()
    };
    let (artists, album, images) = match kind {
        ItemType::Track => {
            let artists = item
                .artists
                .iter()
                .filter_map(|a| a.name.as_deref())
                .filter(|n| !n.trim().is_empty())
                .collect::<Vec<_>>()
                .join(", ");
            let (album, images) = match item.album {
                Some(a) => (a.name.unwrap_or_default(), a.images),
                None => (String::new(), Vec::new()),
            };
            (artists, album, images)
        }
        ItemType::Episode => {
            let show = item.show.unwrap_or_default();
            facts.show_id = non_empty(show.id.clone());
            let images = if item.images.iter().any(|i| i.url.is_some()) {
                item.images
            } else {
                show.images
            };
            let name = show.name.unwrap_or_default();
            // Development-mode apps no longer receive `show.publisher` (2026): the show's name
            // stands in, so an episode never has an empty artist line.
            let by = show
                .publisher
                .filter(|p| !p.trim().is_empty())
                .unwrap_or_else(|| name.clone());
            (by, name, images)
        }
    };
    Some(NowPlaying {
        is_playing: false,
        status: Status::Recent,
        kind,
        name: non_empty(item.name).unwrap_or_else(|| "Unknown title".to_string()),
        artists,
        // An untagged local file comes with an album name of "": that is no album.
        album: non_empty(Some(album)),
        album_image: if local { None } else { largest_image(&images) },
        album_images: if local { Vec::new() } else { sized(images) },
        song_url: if local {
            None
        } else {
            non_empty(item.external_urls.spotify)
        },
        track_id: if local { None } else { non_empty(item.id) },
        preview_url: non_empty(item.preview_url),
        progress: None,
        duration: Some(Duration::from_millis(item.duration_ms.unwrap_or(0))),
        timestamp: read_at,
        played_at: None,
        stale: false,
        source: Source::Spotify,
        facts,
    })
}

/// The images with a URL, in Spotify's order, with their sizes (a size that does not fit a
/// `u32` counts as unknown).
pub(super) fn sized(images: Vec<wire::Image>) -> Vec<Image> {
    images
        .into_iter()
        .filter_map(|i| {
            let url = i.url.filter(|u| !u.trim().is_empty())?;
            Some(Image {
                url,
                width: i.width.and_then(|w| u32::try_from(w).ok()),
                height: i.height.and_then(|h| u32::try_from(h).ok()),
            })
        })
        .collect()
}

/// The URL of the largest image (by area; images without sizes count as smallest).
pub(super) fn largest_image(images: &[wire::Image]) -> Option<String> {
    images
        .iter()
        .filter_map(|i| {
            let url = i.url.clone().filter(|u| !u.trim().is_empty())?;
            Some((
                i.width.unwrap_or(0).saturating_mul(i.height.unwrap_or(0)),
                url,
            ))
        })
        .enumerate()
        // Largest area wins; on a tie the first listed (Spotify lists largest first).
        .max_by(|(ia, (a, _)), (ib, (b, _))| a.cmp(b).then(ib.cmp(ia)))
        .map(|(_, (_, url))| url)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn cp(v: serde_json::Value) -> wire::CurrentlyPlaying {
        serde_json::from_value(v).unwrap()
    }

    #[test]
    fn track_playing() {
        let np = current(
            cp(json!({
                "is_playing": true, "progress_ms": 1000, "currently_playing_type": "track",
                "item": {"type": "track", "id": "abc", "name": "Song", "duration_ms": 2000,
                  "external_urls": {"spotify": "https://open.spotify.com/track/abc"},
                  "artists": [{"name": "A"}, {"name": "B"}],
                  "album": {"name": "Al", "images": [
                    {"url": "small", "width": 64, "height": 64},
                    {"url": "big", "width": 640, "height": 640}]}}
            })),
            Timestamp::from_millis(42),
        )
        .unwrap();
        assert_eq!(np.status, Status::Playing);
        assert!(np.is_playing);
        assert_eq!(np.artists, "A, B");
        assert_eq!(np.album_image.as_deref(), Some("big"));
        assert_eq!(np.progress, Some(Duration::from_secs(1)));
        assert_eq!(np.timestamp, Timestamp::from_millis(42));
    }

    #[test]
    fn local_file_has_nulls() {
        let np = current(
            cp(json!({"is_playing": true, "progress_ms": 5,
              "item": {"type": "track", "id": null, "is_local": true, "name": "demo.mp3",
                "external_urls": {}, "artists": [{"name": "Me"}],
                "album": {"name": "Local", "images": []}, "duration_ms": 10}})),
            Timestamp::from_millis(1),
        )
        .unwrap();
        assert_eq!(np.track_id, None);
        assert_eq!(np.song_url, None);
        assert_eq!(np.album_image, None);
        assert_eq!(np.album.as_deref(), Some("Local"));
        assert_eq!(np.source, Source::Spotify);
    }

    #[test]
    fn an_untagged_local_file_has_no_album() {
        let np = current(
            cp(json!({"is_playing": true, "progress_ms": 5,
              "item": {"type": "track", "id": null, "is_local": true, "name": "take.mp3",
                "artists": [], "album": {"name": "", "images": []}, "duration_ms": 10}})),
            Timestamp::from_millis(1),
        )
        .unwrap();
        assert_eq!(np.album, None);
        assert_eq!(
            serde_json::to_value(&np).unwrap()["album"],
            serde_json::Value::Null
        );
    }

    #[test]
    fn wrong_types_do_not_fail_the_answer() {
        let np = current(
            cp(json!({"is_playing": "yes", "progress_ms": "x",
              "item": {"type": "track", "name": 5, "duration_ms": -3, "artists": null,
                "album": 7}})),
            Timestamp::from_millis(1),
        )
        .unwrap();
        assert_eq!(np.name, "Unknown title");
        assert_eq!(np.duration, Some(Duration::ZERO));
        assert!(!np.is_playing);
    }

    fn hist(id: Option<&str>, name: &str, at: &str) -> serde_json::Value {
        json!({"played_at": at, "track": {"type": "track", "id": id, "name": name,
            "artists": [{"name": "A"}], "album": {"name": "Al"}}})
    }

    #[test]
    fn history_folds_consecutive_repeats_only() {
        let rp: wire::RecentlyPlayed = serde_json::from_value(json!({"items": [
            hist(Some("a"), "A", "t6"), hist(Some("a"), "A", "t5"), hist(Some("a"), "A", "t4"),
            hist(Some("b"), "B", "t3"), hist(Some("a"), "A", "t2"),
            hist(None, "local", "t1"), hist(None, "local", "t0"), null
        ]}))
        .unwrap();
        let h = history(rp, Timestamp::from_millis(9));
        let got: Vec<_> = h
            .iter()
            .map(|t| (t.item.name.as_str(), t.count, t.item.played_at.as_deref()))
            .collect();
        assert_eq!(
            got,
            vec![
                ("A", Some(3), Some("t6")),
                ("B", Some(1), Some("t3")),
                ("A", Some(1), Some("t2")),
                ("local", Some(2), Some("t1")),
            ]
        );
        assert!(h.iter().all(|t| t.item.status == Status::Recent));
    }

    #[test]
    fn top_lists_are_ranked_and_skip_bad_entries() {
        let t: wire::TopTracks = serde_json::from_value(json!({"items": [
            {"type": "track", "id": "x", "name": "X"}, 5, {"type": "ad"}, {"type": "track", "id": "y", "name": "Y"}
        ]}))
        .unwrap();
        let ranks: Vec<_> = top_tracks(t, Timestamp::from_millis(1))
            .iter()
            .map(|t| (t.item.name.clone(), t.rank))
            .collect();
        assert_eq!(ranks, vec![("X".into(), Some(1)), ("Y".into(), Some(2))]);
        let a: wire::TopArtists = serde_json::from_value(json!({"items": [
            {"name": "One", "images": [{"url": "s", "width": 1, "height": 1}, {"url": "b", "width": 9, "height": 9}],
             "external_urls": {"spotify": "https://open.spotify.com/artist/1"}, "genres": ["ambient", ""]},
            {"name": ""}, {"name": "Two", "genres": null}
        ]}))
        .unwrap();
        let a = top_artists(a);
        assert_eq!(a.len(), 2);
        assert_eq!(
            (a[0].rank, a[0].image.as_deref(), a[0].genres.clone()),
            (1, Some("b"), vec!["ambient".to_string()])
        );
        assert_eq!(
            (a[1].name.as_str(), a[1].rank, a[1].image.clone()),
            ("Two", 2, None)
        );
    }

    #[test]
    fn ad_and_unknown_types_fall_back() {
        assert!(current(
            cp(json!({"is_playing": true, "item": null})),
            Timestamp::from_millis(1)
        )
        .is_none());
        assert!(current(
            cp(json!({"item": {"type": "ad"}})),
            Timestamp::from_millis(1)
        )
        .is_none());
    }
}
