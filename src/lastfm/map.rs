//! From Last.fm's JSON (read through [`super::wire`]) to the public model. Last.fm knows no ids,
//! previews, positions or durations of scrobbles: those fields are `null`; `songUrl` is the
//! track's Last.fm page.

use std::time::Duration;

use serde_json::Value;

use crate::clock::Timestamp;

use super::wire::{entries, flag, largest_image, link, number, sized_images, text};
use super::{RecentPage, Scrobble};
use crate::model::{ItemType, ListTrack, NowPlaying, Source, Status, TopArtist};

/// `user.getRecentTracks`' tracks, in Last.fm's order (the now-playing one first, when there is
/// one: it comes in addition to `limit`). Entries without a title are skipped.
pub fn recent(root: &Value, read_at: Timestamp) -> Vec<NowPlaying> {
    entries(root, "track")
        .into_iter()
        .filter_map(|t| {
            let mut np = track(t, read_at)?;
            if flag(&t["@attr"]["nowplaying"]) {
                np.status = Status::Playing;
                np.is_playing = true;
            } else {
                np.played_at = played_at(&t["date"]);
            }
            Some(np)
        })
        .collect()
}

/// A page of `user.getRecentTracks` as scrobbles, dated by `date.uts`: the track playing now
/// is not a scrobble yet and is left out, and an entry without a title or a date is counted as
/// unusable.
pub fn recent_page(root: &Value) -> RecentPage {
    let mut page = RecentPage {
        total_pages: number(&root["@attr"]["totalPages"])
            .and_then(|n| u32::try_from(n).ok())
            .unwrap_or(0),
        ..RecentPage::default()
    };
    for t in entries(root, "track") {
        if flag(&t["@attr"]["nowplaying"]) {
            continue;
        }
        let uts = number(&t["date"]["uts"]).and_then(|s| u64::try_from(s).ok());
        let (Some(name), Some(uts)) = (text(&t["name"]), uts) else {
            page.unusable += 1;
            continue;
        };
        page.scrobbles.push(Scrobble {
            played_at: Timestamp::from_secs(uts),
            name,
            artist: text(&t["artist"]).unwrap_or_default(),
            album: text(&t["album"]).unwrap_or_default(),
            image: largest_image(&t["image"]),
            url: link(&t["url"]),
        });
    }
    page
}

/// The track playing now (when Last.fm marks one) and the scrobbles, newest first.
pub fn split_playing(tracks: Vec<NowPlaying>) -> (Option<NowPlaying>, Vec<NowPlaying>) {
    let mut current = None;
    let mut rest = Vec::new();
    for np in tracks {
        if np.status == Status::Playing && current.is_none() {
            current = Some(np);
        } else if np.status != Status::Playing {
            rest.push(np);
        }
    }
    (current, rest)
}

/// The answer of `/api/spotify` from recent tracks: the one playing now, else (when the recent
/// fallback is on) the newest scrobble.
pub fn now_playing(tracks: Vec<NowPlaying>, show_recent: bool) -> Option<NowPlaying> {
    let mut rest = Vec::new();
    for np in tracks {
        if np.status == Status::Playing {
            return Some(np);
        }
        rest.push(np);
    }
    if !show_recent {
        return None;
    }
    rest.into_iter().next()
}

/// The history: scrobbles newest first (the now-playing track is not one yet), with consecutive
/// plays of one track folded into one entry, as for Spotify.
pub fn history(tracks: Vec<NowPlaying>) -> Vec<ListTrack> {
    let mut out: Vec<ListTrack> = Vec::new();
    for np in tracks.into_iter().filter(|t| t.status == Status::Recent) {
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

/// Two scrobbles of one track: the same Last.fm page, else the same title, artist and album.
fn same_track(a: &NowPlaying, b: &NowPlaying) -> bool {
    match (&a.song_url, &b.song_url) {
        (Some(x), Some(y)) => x == y,
        _ => a.name == b.name && a.artists == b.artists && a.album == b.album,
    }
}

/// `user.getTopTracks`: ranked from 1 in Last.fm's order.
pub fn top_tracks(root: &Value, read_at: Timestamp) -> Vec<ListTrack> {
    entries(root, "track")
        .into_iter()
        .filter_map(|t| {
            let mut np = track(t, read_at)?;
            np.status = Status::Top;
            // Top tracks carry a duration in seconds ("0" when unknown).
            np.duration = number(&t["duration"])
                .filter(|s| *s > 0)
                .map(|s| Duration::from_secs(s as u64));
            Some(np)
        })
        .enumerate()
        .map(|(n, np)| ListTrack {
            item: np,
            count: None,
            rank: Some(n as u32 + 1),
            added_at: None,
        })
        .collect()
}

/// `user.getTopArtists`: ranked from 1; Last.fm has no genres here and only placeholder images
/// for most artists (both then empty / `null`).
pub fn top_artists(root: &Value) -> Vec<TopArtist> {
    entries(root, "artist")
        .into_iter()
        .filter_map(|a| {
            Some(TopArtist {
                name: text(&a["name"])?,
                image: largest_image(&a["image"]),
                images: sized_images(&a["image"]),
                url: link(&a["url"]),
                rank: 0,
                genres: Vec::new(),
                source: Source::Lastfm,
            })
        })
        .enumerate()
        .map(|(n, mut a)| {
            a.rank = n as u32 + 1;
            a
        })
        .collect()
}

/// `user.getLovedTracks`, most recently loved first, with `addedAt` (when it was loved).
pub fn loved(root: &Value, read_at: Timestamp) -> Vec<ListTrack> {
    entries(root, "track")
        .into_iter()
        .filter_map(|t| {
            let mut np = track(t, read_at)?;
            np.status = Status::Saved;
            Some(ListTrack {
                item: np,
                count: None,
                rank: None,
                added_at: played_at(&t["date"]),
            })
        })
        .collect()
}

/// The shared part of every track entry; `None` without a title.
fn track(t: &Value, read_at: Timestamp) -> Option<NowPlaying> {
    let artist = text(&t["artist"]).unwrap_or_default();
    Some(NowPlaying {
        is_playing: false,
        status: Status::Recent,
        kind: ItemType::Track,
        name: text(&t["name"])?,
        facts: crate::rules::Facts {
            artist_names: vec![artist.clone()],
            ..Default::default()
        },
        artists: artist,
        album: text(&t["album"]),
        album_image: largest_image(&t["image"]),
        album_images: sized_images(&t["image"]),
        song_url: link(&t["url"]),
        track_id: None,
        preview_url: None,
        progress: None,
        duration: None,
        timestamp: read_at,
        played_at: None,
        stale: false,
        source: Source::Lastfm,
    })
}

/// `date.uts` (epoch seconds, as a string) as RFC 3339.
fn played_at(date: &Value) -> Option<String> {
    let uts = number(&date["uts"]).or_else(|| number(date))?;
    time::OffsetDateTime::from_unix_timestamp(uts)
        .ok()?
        .format(&time::format_description::well_known::Rfc3339)
        .ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::lastfm::wire::PLACEHOLDER_IMAGE_ID;
    use serde_json::json;

    fn img(url: &str) -> Value {
        json!([
            {"size": "small", "#text": url.replace("300x300", "34s")},
            {"size": "extralarge", "#text": url}
        ])
    }

    fn scrobble(name: &str, uts: &str) -> Value {
        json!({
            "artist": {"mbid": "", "#text": "Boards of Canada"},
            "album": {"mbid": "", "#text": "Geogaddi"},
            "name": name,
            "url": format!("https://www.last.fm/music/Boards+of+Canada/_/{name}"),
            "image": img("https://lastfm.freetls.fastly.net/i/u/300x300/abc.png"),
            "date": {"uts": uts, "#text": "14 Nov 2026, 10:00"}
        })
    }

    #[test]
    fn now_playing_comes_in_addition_to_the_limit() {
        let mut playing = scrobble("Music Is Math", "");
        playing["@attr"] = json!({"nowplaying": "true"});
        playing.as_object_mut().unwrap().remove("date");
        // extended=1: the artist as {"name": ...}.
        playing["artist"] = json!({"name": "Boards of Canada", "url": "https://www.last.fm/music/Boards+of+Canada"});
        let root = json!({"track": [playing, scrobble("Alpha and Omega", "1795000000")], "@attr": {"user": "rj"}});
        let tracks = recent(&root, Timestamp::from_millis(42));
        assert_eq!(tracks.len(), 2);
        let np = now_playing(tracks.clone(), true).unwrap();
        assert_eq!(np.status, Status::Playing);
        assert!(np.is_playing);
        assert_eq!(np.name, "Music Is Math");
        assert_eq!(np.artists, "Boards of Canada");
        assert_eq!(np.album.as_deref(), Some("Geogaddi"));
        assert_eq!(
            np.album_image.as_deref(),
            Some("https://lastfm.freetls.fastly.net/i/u/300x300/abc.png")
        );
        assert_eq!(
            np.song_url.as_deref(),
            Some("https://www.last.fm/music/Boards+of+Canada/_/Music Is Math")
        );
        assert_eq!(np.played_at, None);
        assert_eq!(np.source, Source::Lastfm);
        assert_eq!(np.timestamp, Timestamp::from_millis(42));
        let v = serde_json::to_value(&np).unwrap();
        for k in [
            "trackId",
            "previewUrl",
            "progressMs",
            "durationMs",
            "playedAt",
        ] {
            assert_eq!(v[k], Value::Null, "{k}");
        }
        assert_eq!(v["source"], "lastfm");
        assert_eq!(v["type"], "track");
        // Even with the recent fallback off, a playing track shows.
        assert!(now_playing(tracks, false).is_some());
    }

    #[test]
    fn recent_only_a_single_object_and_strings_for_numbers() {
        let root = json!({"track": scrobble("Dawn Chorus", "1795000000")});
        let tracks = recent(&root, Timestamp::from_millis(1));
        let np = now_playing(tracks.clone(), true).unwrap();
        assert_eq!(np.status, Status::Recent);
        assert!(!np.is_playing);
        assert_eq!(np.played_at.as_deref(), Some("2026-11-18T11:06:40Z"));
        assert_eq!(now_playing(tracks, false), None);
        assert_eq!(now_playing(Vec::new(), true), None);
    }

    #[test]
    fn empty_strings_placeholders_and_garbage_mean_absent() {
        let star =
            format!("https://lastfm.freetls.fastly.net/i/u/300x300/{PLACEHOLDER_IMAGE_ID}.png");
        let root = json!({"track": [
            {"name": "No Album", "artist": {"#text": "X"}, "album": {"#text": ""}, "image": img(&star), "url": "", "date": {"uts": "x"}},
            {"name": "", "artist": "Y"},
            {"name": "Bare"},
            "garbage", 7, null,
            {"name": "Weird", "artist": 5, "album": [], "image": "nope", "url": 3, "date": null, "@attr": "x"}
        ]});
        let tracks = recent(&root, Timestamp::from_millis(1));
        let names: Vec<_> = tracks.iter().map(|t| t.name.as_str()).collect();
        assert_eq!(names, vec!["No Album", "Bare", "Weird"]);
        let t = &tracks[0];
        assert_eq!(
            (&t.album, &t.album_image, &t.song_url, &t.played_at),
            (&None, &None, &None, &None)
        );
        assert_eq!(tracks[1].artists, "");
        assert_eq!(tracks[2].artists, "5");
        assert_eq!(tracks[2].status, Status::Recent);
    }

    #[test]
    fn history_skips_the_playing_track_and_folds_repeats() {
        let mut playing = scrobble("A", "");
        playing["@attr"] = json!({"nowplaying": "true"});
        let root = json!({"track": [playing, scrobble("A", "6"), scrobble("A", "5"), scrobble("B", "4"), scrobble("A", "3")]});
        let h = history(recent(&root, Timestamp::from_millis(1)));
        let got: Vec<_> = h.iter().map(|t| (t.item.name.as_str(), t.count)).collect();
        assert_eq!(got, vec![("A", Some(2)), ("B", Some(1)), ("A", Some(1))]);
        assert_eq!(h[0].item.played_at.as_deref(), Some("1970-01-01T00:00:06Z"));
    }

    #[test]
    fn a_recent_page_as_plays_skips_the_playing_track_and_undated_entries() {
        let mut playing = scrobble("Now", "");
        playing["@attr"] = json!({"nowplaying": "true"});
        let root = json!({"track": [playing, scrobble("Alpha", "1795000000"), {"name": "Undated"}, scrobble("", "5")],
            "@attr": {"totalPages": "7", "page": "1"}});
        let page = recent_page(&root);
        assert_eq!(page.total_pages, 7);
        assert_eq!(page.unusable, 2);
        assert_eq!(page.scrobbles.len(), 1);
        let p = &page.scrobbles[0];
        assert_eq!(p.played_at, Timestamp::from_secs(1_795_000_000));
        assert_eq!(
            (p.name.as_str(), p.artist.as_str(), p.album.as_str()),
            ("Alpha", "Boards of Canada", "Geogaddi")
        );
        assert_eq!(
            p.image.as_deref(),
            Some("https://lastfm.freetls.fastly.net/i/u/300x300/abc.png")
        );
        assert_eq!(recent_page(&json!({"track": []})).total_pages, 0);
    }

    #[test]
    fn top_lists_and_loved_tracks() {
        let root = json!({"track": [
            {"name": "One", "artist": {"name": "A", "url": "u"}, "duration": "209", "playcount": "46", "@attr": {"rank": "1"},
             "url": "https://www.last.fm/music/A/_/One", "image": img(&format!("https://x/300x300/{PLACEHOLDER_IMAGE_ID}.png"))},
            {"name": "Two", "artist": {"name": "B"}, "duration": "0"}
        ]});
        let t = top_tracks(&root, Timestamp::from_millis(1));
        assert_eq!(
            t.iter()
                .map(|t| (t.item.name.as_str(), t.rank, t.item.duration, t.item.status))
                .collect::<Vec<_>>(),
            vec![
                ("One", Some(1), Some(Duration::from_secs(209)), Status::Top),
                ("Two", Some(2), None, Status::Top)
            ]
        );
        assert_eq!(t[0].item.album_image, None);
        let a = top_artists(
            &json!({"artist": {"name": "Solo", "url": "https://www.last.fm/music/Solo", "image": []}}),
        );
        assert_eq!(a.len(), 1);
        assert_eq!(
            (a[0].rank, a[0].url.as_deref(), a[0].image.as_deref()),
            (1, Some("https://www.last.fm/music/Solo"), None)
        );
        assert!(a[0].genres.is_empty());
        let l = loved(
            &json!({"track": [scrobble("Loved", "1795000000")]}),
            Timestamp::from_millis(1),
        );
        assert_eq!(l[0].added_at.as_deref(), Some("2026-11-18T11:06:40Z"));
        assert_eq!(l[0].item.status, Status::Saved);
        assert_eq!(l[0].item.played_at, None);
    }
}
