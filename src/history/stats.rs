//! The listening history's statistics: pure functions over plays. Per UTC day the plays and the
//! minutes, the top tracks, artists and albums, and the totals. Minutes come only from plays
//! whose length is known (`ms_played`: the data export has it, collected plays do not), so every
//! count of minutes comes with the count of plays it covers (`timedPlays`); plays are counted
//! always. See docs/api.md, "The listening history".

use std::collections::{BTreeMap, HashMap};
use std::time::Duration;

use serde::Serialize;

use super::{Play, PlayKind};
use crate::clock::Timestamp;

/// How many entries each top list holds.
pub const TOP: usize = 10;

/// The UTC day of a moment.
pub fn day_of(at: Timestamp) -> time::Date {
    time::OffsetDateTime::from_unix_timestamp_nanos(i128::from(at.as_millis()) * 1_000_000)
        .map(|t| t.date())
        .unwrap_or(time::Date::MIN)
}

/// A day as `YYYY-MM-DD`.
pub fn day_key(day: time::Date) -> String {
    format!(
        "{:04}-{:02}-{:02}",
        day.year(),
        u8::from(day.month()),
        day.day()
    )
}

/// A moment in RFC 3339, to the millisecond when it has one (as the stores keep it).
pub fn rfc3339_millis(at: Timestamp) -> String {
    let t = time::OffsetDateTime::from_unix_timestamp_nanos(i128::from(at.as_millis()) * 1_000_000)
        .unwrap_or(time::OffsetDateTime::UNIX_EPOCH);
    t.format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_default()
}

/// Minutes with one decimal, from a length.
fn minutes(d: Duration) -> f64 {
    (d.as_millis() as f64 / 6_000.0).round() / 10.0
}

/// Serialises a length as minutes with one decimal.
fn as_minutes<S: serde::Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_f64(minutes(*d))
}

/// One day's plays.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct DayStats {
    /// The UTC day, `YYYY-MM-DD`.
    pub date: String,
    /// Every play of the day.
    pub plays: u64,
    /// The plays whose length is known.
    pub timed_plays: u64,
    /// The minutes of the timed plays (one decimal on the wire).
    #[serde(rename = "minutesPlayed", serialize_with = "as_minutes")]
    pub played: Duration,
}

/// One entry of a top list: what it counts and how often, with the newest play's names.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct TopEntry {
    /// A track's or episode's title; an artist list's credit; an album's name.
    pub name: String,
    /// The artists credited (for an album, those of its newest play).
    pub artists: String,
    /// The album (tracks only; empty otherwise).
    pub album: String,
    pub album_image: Option<String>,
    pub song_url: Option<String>,
    pub track_id: Option<String>,
    #[serde(rename = "type")]
    pub kind: PlayKind,
    pub plays: u64,
    #[serde(rename = "minutesPlayed", serialize_with = "as_minutes")]
    pub played: Duration,
}

/// The totals of a range.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Totals {
    pub plays: u64,
    pub timed_plays: u64,
    #[serde(rename = "minutesPlayed", serialize_with = "as_minutes")]
    pub played: Duration,
    /// Distinct items (tracks and episodes, by their key).
    pub tracks: u64,
    /// Distinct artist credits.
    pub artists: u64,
    /// Distinct albums (name and cover).
    pub albums: u64,
    /// Days with at least one play.
    pub days: u64,
    #[serde(serialize_with = "opt_rfc3339")]
    pub first_play: Option<Timestamp>,
    #[serde(serialize_with = "opt_rfc3339")]
    pub last_play: Option<Timestamp>,
}

fn opt_rfc3339<S: serde::Serializer>(t: &Option<Timestamp>, s: S) -> Result<S::Ok, S::Error> {
    match t {
        Some(t) => s.serialize_str(&rfc3339_millis(*t)),
        None => s.serialize_none(),
    }
}

/// Everything the stats endpoint and the calendar show of a set of plays.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Stats {
    /// The days with plays, oldest first.
    pub days: Vec<DayStats>,
    pub top_tracks: Vec<TopEntry>,
    pub top_artists: Vec<TopEntry>,
    pub top_albums: Vec<TopEntry>,
    pub totals: Totals,
}

/// What a top list groups plays by.
#[derive(Debug, Clone, Copy)]
pub enum Group {
    /// The item's key (a track or episode).
    Track,
    /// The artist credit as stored (the store keeps no artist ids, and names may hold commas).
    Artist,
    /// The album's name and cover (a show, for an episode).
    Album,
}

impl Group {
    /// The key a play is counted under.
    pub fn key(self, play: &Play) -> String {
        match self {
            Group::Track => play.key.clone(),
            Group::Artist => play.artists.clone(),
            Group::Album => format!(
                "{}\u{0}{}",
                play.album,
                play.album_image.as_deref().unwrap_or_default()
            ),
        }
    }

    /// The entry for a group whose newest play is `newest`.
    fn entry(self, newest: &Play, plays: u64, played: Duration) -> TopEntry {
        let base = TopEntry {
            name: String::new(),
            artists: newest.artists.clone(),
            album: String::new(),
            album_image: newest.album_image.clone(),
            song_url: None,
            track_id: None,
            kind: newest.kind,
            plays,
            played,
        };
        match self {
            Group::Track => TopEntry {
                name: newest.name.clone(),
                album: newest.album.clone(),
                song_url: newest.song_url.clone(),
                track_id: newest.track_id.clone(),
                ..base
            },
            Group::Artist => TopEntry {
                name: newest.artists.clone(),
                album_image: None,
                ..base
            },
            Group::Album => TopEntry {
                name: newest.album.clone(),
                ..base
            },
        }
    }
}

/// The order of a top list: more plays first, then the group's key in text order, so ties are
/// broken the same way every time.
pub fn top_order(a: (u64, &str), b: (u64, &str)) -> std::cmp::Ordering {
    b.0.cmp(&a.0).then_with(|| a.1.cmp(b.1))
}

/// The `top` most played groups of `plays`.
pub fn top(plays: &[Play], group: Group, top: usize) -> Vec<TopEntry> {
    struct Acc<'a> {
        newest: &'a Play,
        plays: u64,
        played: Duration,
    }
    let mut groups: HashMap<String, Acc> = HashMap::new();
    for play in plays {
        let acc = groups.entry(group.key(play)).or_insert(Acc {
            newest: play,
            plays: 0,
            played: Duration::ZERO,
        });
        acc.plays += 1;
        acc.played += play.ms_played.unwrap_or_default();
        if play.id() > acc.newest.id() {
            acc.newest = play;
        }
    }
    let mut ranked: Vec<(String, Acc)> = groups.into_iter().collect();
    ranked.sort_by(|(ka, a), (kb, b)| top_order((a.plays, ka), (b.plays, kb)));
    ranked
        .into_iter()
        .take(top)
        .map(|(_, a)| group.entry(a.newest, a.plays, a.played))
        .collect()
}

/// The statistics of `plays` (in any order; each counted once as given).
pub fn compute(plays: &[Play]) -> Stats {
    let mut days: BTreeMap<time::Date, DayStats> = BTreeMap::new();
    let mut totals = Totals {
        plays: 0,
        timed_plays: 0,
        played: Duration::ZERO,
        tracks: 0,
        artists: 0,
        albums: 0,
        days: 0,
        first_play: None,
        last_play: None,
    };
    let mut tracks = std::collections::HashSet::new();
    let mut artists = std::collections::HashSet::new();
    let mut albums = std::collections::HashSet::new();
    for play in plays {
        let day = day_of(play.played_at);
        let d = days.entry(day).or_insert_with(|| DayStats {
            date: day_key(day),
            plays: 0,
            timed_plays: 0,
            played: Duration::ZERO,
        });
        d.plays += 1;
        totals.plays += 1;
        if let Some(ms) = play.ms_played {
            d.timed_plays += 1;
            d.played += ms;
            totals.timed_plays += 1;
            totals.played += ms;
        }
        tracks.insert(Group::Track.key(play));
        artists.insert(Group::Artist.key(play));
        albums.insert(Group::Album.key(play));
        totals.first_play = Some(
            totals
                .first_play
                .map_or(play.played_at, |t| t.min(play.played_at)),
        );
        totals.last_play = Some(
            totals
                .last_play
                .map_or(play.played_at, |t| t.max(play.played_at)),
        );
    }
    totals.tracks = tracks.len() as u64;
    totals.artists = artists.len() as u64;
    totals.albums = albums.len() as u64;
    totals.days = days.len() as u64;
    Stats {
        days: days.into_values().collect(),
        top_tracks: top(plays, Group::Track, TOP),
        top_artists: top(plays, Group::Artist, TOP),
        top_albums: top(plays, Group::Album, TOP),
        totals,
    }
}

#[cfg(test)]
mod tests;
