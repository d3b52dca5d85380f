//! The statistics against a brute-force count over the same plays.

use std::time::Duration;

use proptest::prelude::*;

use super::*;
use crate::history::PlaySource;

const DAY_MS: u64 = 86_400_000;
/// 2026-11-28T00:00:00Z.
const T0: u64 = 1_795_824_000_000;

fn play(at: u64, key: &str, artists: &str, album: &str, ms: Option<u64>) -> Play {
    Play {
        played_at: Timestamp::from_millis(at),
        key: key.to_string(),
        name: format!("name of {key}"),
        artists: artists.to_string(),
        album: album.to_string(),
        album_image: (album != "no cover").then(|| format!("https://i.scdn.co/image/{album}")),
        song_url: None,
        track_id: Some(key.to_string()),
        kind: PlayKind::Track,
        ms_played: ms.map(Duration::from_millis),
        short: false,
        source: PlaySource::Spotify,
    }
}

fn arb_play() -> impl Strategy<Value = Play> {
    (
        0..5 * DAY_MS,
        0..8usize,
        prop::sample::select(vec!["A", "B", "Tyler, The Creator", "A, B"]),
        prop::sample::select(vec!["X", "Y", "no cover"]),
        prop::option::of(0..600_000u64),
    )
        .prop_map(|(at, k, artists, album, ms)| {
            play(T0 + at, &format!("spotify:track:{k}"), artists, album, ms)
        })
}

/// The plays as a set: the stores keep one play per time and key.
fn unique(mut plays: Vec<Play>) -> Vec<Play> {
    plays.sort_by(|a, b| a.id().cmp(&b.id()));
    plays.dedup_by(|a, b| a.id() == b.id());
    plays
}

/// The UTC date, computed another way: whole days since the epoch from the Julian day.
fn date_of(at: Timestamp) -> String {
    let day = time::Date::from_julian_day(2_440_588 + (at.as_millis() / DAY_MS) as i32).unwrap();
    day.format(time::macros::format_description!("[year]-[month]-[day]"))
        .unwrap()
}

fn brute_top(plays: &[Play], key: impl Fn(&Play) -> String) -> Vec<(String, u64, Duration)> {
    let mut keys: Vec<String> = Vec::new();
    for p in plays {
        if !keys.contains(&key(p)) {
            keys.push(key(p));
        }
    }
    let mut counted: Vec<(String, u64, Duration)> = keys
        .into_iter()
        .map(|k| {
            let of: Vec<&Play> = plays.iter().filter(|p| key(p) == k).collect();
            let ms = of.iter().map(|p| p.ms_played.unwrap_or_default()).sum();
            (k, of.len() as u64, ms)
        })
        .collect();
    counted.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
    counted.truncate(TOP);
    counted
}

fn newest_of(plays: &[Play], pred: impl Fn(&Play) -> bool) -> &Play {
    plays
        .iter()
        .filter(|p| pred(p))
        .max_by_key(|p| (p.played_at, p.key.clone()))
        .unwrap()
}

proptest! {
    #[test]
    fn stats_equal_a_brute_force_count(plays in prop::collection::vec(arb_play(), 0..60)) {
        let plays = unique(plays);
        let mut shuffled = plays.clone();
        shuffled.reverse();
        let stats = compute(&shuffled);

        // Days: every date with plays, oldest first, each counted by filtering.
        let mut dates: Vec<String> = plays.iter().map(|p| date_of(p.played_at)).collect();
        dates.sort();
        dates.dedup();
        prop_assert_eq!(stats.days.len(), dates.len());
        for (d, date) in stats.days.iter().zip(&dates) {
            let of: Vec<&Play> = plays.iter().filter(|p| &date_of(p.played_at) == date).collect();
            prop_assert_eq!(&d.date, date);
            prop_assert_eq!(d.plays, of.len() as u64);
            prop_assert_eq!(d.timed_plays, of.iter().filter(|p| p.ms_played.is_some()).count() as u64);
            prop_assert_eq!(d.played, of.iter().map(|p| p.ms_played.unwrap_or_default()).sum::<Duration>());
        }

        // Top lists: counts, order and the newest play's names.
        let track = |p: &Play| p.key.clone();
        let artist = |p: &Play| p.artists.clone();
        let album = |p: &Play| format!("{}\u{0}{}", p.album, p.album_image.clone().unwrap_or_default());
        for (got, key, name) in [
            (&stats.top_tracks, &track as &dyn Fn(&Play) -> String, (|p: &Play| p.name.clone()) as fn(&Play) -> String),
            (&stats.top_artists, &artist, |p: &Play| p.artists.clone()),
            (&stats.top_albums, &album, |p: &Play| p.album.clone()),
        ] {
            let want = brute_top(&plays, key);
            prop_assert_eq!(got.len(), want.len());
            for (g, (k, n, ms)) in got.iter().zip(&want) {
                prop_assert_eq!(g.plays, *n);
                prop_assert_eq!(g.played, *ms);
                let newest = newest_of(&plays, |p| &key(p) == k);
                prop_assert_eq!(&g.name, &name(newest));
            }
        }

        // Totals.
        let t = &stats.totals;
        prop_assert_eq!(t.plays, plays.len() as u64);
        prop_assert_eq!(t.timed_plays, plays.iter().filter(|p| p.ms_played.is_some()).count() as u64);
        prop_assert_eq!(t.played, plays.iter().map(|p| p.ms_played.unwrap_or_default()).sum::<Duration>());
        let distinct = |f: &dyn Fn(&Play) -> String| { let mut k: Vec<_> = plays.iter().map(f).collect(); k.sort(); k.dedup(); k.len() as u64 };
        prop_assert_eq!(t.tracks, distinct(&track));
        prop_assert_eq!(t.artists, distinct(&artist));
        prop_assert_eq!(t.albums, distinct(&album));
        prop_assert_eq!(t.days, dates.len() as u64);
        prop_assert_eq!(t.first_play, plays.iter().map(|p| p.played_at).min());
        prop_assert_eq!(t.last_play, plays.iter().map(|p| p.played_at).max());
    }
}

#[test]
fn the_wire_names_say_what_minutes_cover() {
    let plays = vec![
        play(T0, "spotify:track:a", "A", "X", Some(90_000)),
        play(T0 + 1_000, "spotify:track:a", "A", "X", None),
        play(T0 + DAY_MS, "spotify:track:b", "B", "Y", None),
    ];
    let v = serde_json::to_value(compute(&plays)).unwrap();
    assert_eq!(
        v["days"][0],
        serde_json::json!({"date": "2026-11-28", "plays": 2, "timedPlays": 1, "minutesPlayed": 1.5})
    );
    assert_eq!(v["days"][1]["date"], "2026-11-29");
    assert_eq!(v["totals"]["plays"], 3);
    assert_eq!(v["totals"]["firstPlay"], "2026-11-28T00:00:00Z");
    assert_eq!(v["totals"]["lastPlay"], "2026-11-29T00:00:00Z");
    assert_eq!(v["topTracks"][0]["name"], "name of spotify:track:a");
    assert_eq!(v["topTracks"][0]["plays"], 2);
    assert_eq!(v["topArtists"][1]["name"], "B");
    assert_eq!(
        rfc3339_millis(Timestamp::from_millis(T0 + 123)),
        "2026-11-28T00:00:00.123Z"
    );
}

#[test]
fn ties_are_broken_by_key() {
    let plays = vec![
        play(T0, "spotify:track:b", "A", "X", None),
        play(T0 + 1, "spotify:track:a", "A", "X", None),
        play(T0 + 2, "spotify:track:c", "A", "X", None),
        play(T0 + 3, "spotify:track:c", "A", "X", None),
    ];
    let names: Vec<String> = top(&plays, Group::Track, 3)
        .into_iter()
        .map(|e| e.track_id.unwrap())
        .collect();
    assert_eq!(
        names,
        ["spotify:track:c", "spotify:track:a", "spotify:track:b"]
    );
}
