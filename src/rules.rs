//! The owner's privacy rules (`HIDE_EXPLICIT`, `HIDE_PODCASTS`, `HIDE_ARTISTS`, `HIDE_TRACKS`,
//! `HIDE_SHOWS`, `QUIET_HOURS` with `TIMEZONE`, `RESPECT_PRIVATE_SESSION`,
//! `PUBLISH_DELAY_SECONDS`). A hidden play is treated as if it never happened: the answer is
//! built as when nothing plays (the most recent visible play, or `null`), the lists and the
//! history leave it out. They are checked where an answer is built, once for every source, never
//! per endpoint (see docs/privacy.md).

use std::time::Duration;

use crate::clock::Timestamp;
use crate::model::{ItemType, NowPlaying};

/// The scope `GET /v1/me/player` needs: only the player's state says whether the owner's Spotify
/// is in a private session.
pub const PLAYBACK_STATE_SCOPE: &str = "user-read-playback-state";

pub use crate::model::Facts;

/// One `HIDE_*` list: Spotify ids (from ids, URIs or open.spotify.com links) and names (lower
/// case, for every source; Last.fm answers carry no ids).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Names {
    pub ids: Vec<String>,
    pub names: Vec<String>,
}

impl Names {
    fn is_empty(&self) -> bool {
        self.ids.is_empty() && self.names.is_empty()
    }

    fn has_id(&self, id: Option<&str>) -> bool {
        id.is_some_and(|id| self.ids.iter().any(|i| i == id))
    }

    fn has_name(&self, name: &str) -> bool {
        let name = fold(name);
        !name.is_empty() && self.names.contains(&name)
    }
}

/// A name as the rules compare it: trimmed, inner white space one space, lower case.
pub fn fold(name: &str) -> String {
    name.split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
        .to_lowercase()
}

/// `QUIET_HOURS` in `TIMEZONE`: from `start` (included) to `end` (excluded), minutes after local
/// midnight; `start > end` runs across midnight.
#[derive(Debug, Clone)]
pub struct QuietHours {
    pub start: u16,
    pub end: u16,
    pub zone: jiff::tz::TimeZone,
    /// The zone's name as configured, for `status`.
    pub zone_name: String,
}

impl PartialEq for QuietHours {
    fn eq(&self, other: &Self) -> bool {
        self.start == other.start && self.end == other.end && self.zone_name == other.zone_name
    }
}

impl QuietHours {
    /// Whether `at` falls in the quiet hours, by the local clock of the zone at that moment
    /// (so a daylight-saving change moves them with the local clock).
    pub fn contains(&self, at: Timestamp) -> bool {
        let Ok(millis) = i64::try_from(at.as_millis()) else {
            return false;
        };
        let Ok(ts) = jiff::Timestamp::from_millisecond(millis) else {
            return false;
        };
        let local = ts.to_zoned_datetime(self.zone.clone());
        let minute = local.hour() as u16 * 60 + local.minute() as u16;
        if self.start < self.end {
            (self.start..self.end).contains(&minute)
        } else {
            minute >= self.start || minute < self.end
        }
    }
}

/// The rules as configured; the default hides nothing but a private session.
#[derive(Debug, Clone, PartialEq)]
pub struct Rules {
    pub hide_explicit: bool,
    pub hide_podcasts: bool,
    pub artists: Names,
    pub tracks: Names,
    pub shows: Names,
    pub quiet_hours: Option<QuietHours>,
    pub respect_private_session: bool,
    pub publish_delay: Duration,
}

impl Default for Rules {
    fn default() -> Self {
        Rules {
            hide_explicit: false,
            hide_podcasts: false,
            artists: Names::default(),
            tracks: Names::default(),
            shows: Names::default(),
            quiet_hours: None,
            respect_private_session: true,
            publish_delay: Duration::ZERO,
        }
    }
}

/// Why a play is hidden (for the logs at DEBUG and `status`; never in an answer).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Hidden {
    Explicit,
    Podcast,
    Artist,
    Track,
    Show,
    QuietHours,
    PrivateSession,
    TooShortYet,
}

impl Rules {
    /// The rules in one line for `status` and the console (never an id or a name: the report
    /// may be shown where visitors see it).
    pub fn describe(&self) -> String {
        let mut parts = Vec::new();
        if self.hide_explicit {
            parts.push("explicit tracks hidden".to_string());
        }
        if self.hide_podcasts {
            parts.push("podcasts hidden".to_string());
        }
        for (names, what) in [
            (&self.artists, "artist"),
            (&self.tracks, "track"),
            (&self.shows, "show"),
        ] {
            let n = names.ids.len() + names.names.len();
            if n > 0 {
                parts.push(format!(
                    "{n} {what}{} hidden",
                    if n == 1 { "" } else { "s" }
                ));
            }
        }
        if let Some(q) = &self.quiet_hours {
            let hm = |m: u16| format!("{:02}:{:02}", m / 60, m % 60);
            parts.push(format!(
                "quiet {}-{} {}",
                hm(q.start),
                hm(q.end),
                q.zone_name
            ));
        }
        if !self.publish_delay.is_zero() {
            parts.push(format!(
                "shown after {} s of a play",
                self.publish_delay.as_secs()
            ));
        }
        parts.push(
            if self.respect_private_session {
                "private sessions hidden"
            } else {
                "private sessions shown (RESPECT_PRIVATE_SESSION=false)"
            }
            .to_string(),
        );
        parts.join("; ")
    }

    /// Whether any rule beyond the private session is set (for `status`).
    pub fn any(&self) -> bool {
        self.hide_explicit
            || self.hide_podcasts
            || !self.artists.is_empty()
            || !self.tracks.is_empty()
            || !self.shows.is_empty()
            || self.quiet_hours.is_some()
            || !self.publish_delay.is_zero()
    }

    /// Why the item (whatever it is: playing, recent, in a list) is hidden for what it is, if
    /// it is: the explicit, podcast, artist, track and show rules.
    pub fn hides_item(&self, np: &NowPlaying) -> Option<Hidden> {
        let facts = &np.facts;
        if self.hide_explicit && facts.explicit {
            return Some(Hidden::Explicit);
        }
        let episode = np.kind == ItemType::Episode;
        if self.hide_podcasts && episode {
            return Some(Hidden::Podcast);
        }
        if episode {
            let show = np.album.as_deref().unwrap_or("");
            if self.shows.has_id(facts.show_id.as_deref()) || self.shows.has_name(show) {
                return Some(Hidden::Show);
            }
        } else {
            let by_id = facts
                .artist_ids
                .iter()
                .any(|id| self.artists.has_id(Some(id)));
            let by_name = facts.artist_names.iter().any(|n| self.artists.has_name(n))
                || self.artists.has_name(&np.artists);
            if by_id || by_name {
                return Some(Hidden::Artist);
            }
        }
        if self.tracks.has_id(np.track_id.as_deref())
            || (!episode && self.tracks.has_name(&np.name))
        {
            return Some(Hidden::Track);
        }
        None
    }

    /// Whether the artist rule hides a top artist, by its name or the id in its
    /// `open.spotify.com/artist/ID` link.
    pub fn hides_artist(&self, name: &str, url: Option<&str>) -> bool {
        let id = url
            .and_then(|u| u.strip_prefix("https://open.spotify.com/artist/"))
            .map(|rest| rest.split(['?', '/', '#']).next().unwrap_or(""));
        self.artists.has_id(id) || self.artists.has_name(name)
    }

    /// Whether a play kept in the history is hidden: what the history knows of it (the item's
    /// id, its kind, the names) and when it was played. An import (the export, Last.fm) knows no
    /// more: explicit tracks and artist ids are judged at collection, where Spotify says them.
    pub fn hides_stored(&self, play: &crate::history::Play) -> bool {
        use crate::history::PlayKind;
        let episode = play.kind == PlayKind::Episode;
        if self.hide_podcasts && episode {
            return true;
        }
        let id = play.track_id.as_deref();
        let hidden = if episode {
            self.shows.has_name(&play.album) || self.tracks.has_id(id)
        } else {
            self.tracks.has_id(id)
                || self.tracks.has_name(&play.name)
                || self.artists.has_name(&play.artists)
                || play.artists.split(", ").any(|a| self.artists.has_name(a))
        };
        hidden
            || self
                .quiet_hours
                .as_ref()
                .is_some_and(|q| q.contains(play.played_at))
    }

    /// Why a play is hidden, if it is: the item's rules, then those of the moment. `now` is
    /// when it is shown; a recent play (`played_at` given) is judged by when it was played.
    pub fn hides_play(
        &self,
        np: &NowPlaying,
        played_at: Option<Timestamp>,
        now: Timestamp,
    ) -> Option<Hidden> {
        if let Some(why) = self.hides_item(np) {
            return Some(why);
        }
        let current = played_at.is_none();
        if current && self.respect_private_session && np.facts.private_session {
            return Some(Hidden::PrivateSession);
        }
        if let Some(q) = &self.quiet_hours {
            if q.contains(played_at.unwrap_or(now)) {
                return Some(Hidden::QuietHours);
            }
        }
        if current && !self.publish_delay.is_zero() {
            // Only a known position holds a play back: Last.fm says none.
            if np.progress.is_some_and(|p| p < self.publish_delay) {
                return Some(Hidden::TooShortYet);
            }
        }
        None
    }
}

impl Rules {
    /// How many recent plays to ask for when what plays is hidden: as many as the source gives
    /// when a rule may hide plays (the newest visible one may be far back), else `few`.
    pub fn recent_to_ask(&self, few: u8) -> u8 {
        // A private session hides only what plays: recently-played leaves its plays out itself.
        if self.any() {
            50
        } else {
            few
        }
    }

    /// The now-playing answer under the rules: `current` when it is visible, else (with
    /// `show_recent`) the newest visible of `recent` (newest first), else nothing, exactly as
    /// when nothing plays.
    pub fn choose(
        &self,
        current: Option<NowPlaying>,
        recent: impl IntoIterator<Item = NowPlaying>,
        show_recent: bool,
        now: Timestamp,
    ) -> Option<NowPlaying> {
        if let Some(np) = current {
            match self.hides_play(&np, None, now) {
                None => return Some(np),
                Some(why) => tracing::debug!(?why, "what plays is hidden by a rule"),
            }
        }
        if !show_recent {
            return None;
        }
        recent.into_iter().find(|np| self.shows_recent(np, now))
    }

    /// Whether a recent play (dated by its `played_at`) is visible.
    pub fn shows_recent(&self, np: &NowPlaying, now: Timestamp) -> bool {
        let at = np
            .played_at
            .as_deref()
            .and_then(Timestamp::parse_rfc3339)
            .unwrap_or(now);
        self.hides_play(np, Some(at), now).is_none()
    }
}

/// The rules as a process applies them, with what it learnt: whether the sign-in lacks the
/// player's scope (then now playing is read from currently-playing, which cannot see a private
/// session, and `status` says so).
#[derive(Debug, Default)]
pub struct Privacy {
    pub rules: Rules,
    player_refused: std::sync::atomic::AtomicBool,
}

impl Privacy {
    pub fn new(rules: Rules) -> Privacy {
        Privacy {
            rules,
            player_refused: Default::default(),
        }
    }

    /// Whether to read now playing from `GET /v1/me/player` (the private session rule is on and
    /// Spotify has not refused the player's scope to this process).
    pub fn asks_player(&self) -> bool {
        self.rules.respect_private_session
            && !self
                .player_refused
                .load(std::sync::atomic::Ordering::Relaxed)
    }

    /// Spotify refused the player (`403`, the scope missing): from now on this process reads
    /// currently-playing, and says why once.
    pub fn player_refused(&self) {
        if !self
            .player_refused
            .swap(true, std::sync::atomic::Ordering::Relaxed)
        {
            tracing::warn!(
                owner_action = "grant_scope",
                scope = PLAYBACK_STATE_SCOPE,
                "RESPECT_PRIVATE_SESSION: Spotify refused the player (403): the sign-in lacks {PLAYBACK_STATE_SCOPE}, so a private session cannot be seen and what plays is shown; run `nowplaying authorize` to grant it"
            );
        }
    }
}

/// Whether `s` is a Spotify id: 22 characters of base 62.
pub fn is_spotify_id(s: &str) -> bool {
    s.len() == 22 && s.bytes().all(|b| b.is_ascii_alphanumeric())
}

/// The history as visitors read it: every read leaves out the plays the rules hide now, so a rule
/// set after a play was stored hides it too (what the history knows of a play: see
/// [`Rules::hides_stored`]). Writes, `newest` and `forget` go to the store as they are.
pub struct RuledHistory {
    inner: std::sync::Arc<dyn crate::history::HistoryStore>,
    rules: Rules,
}

impl RuledHistory {
    pub fn new(inner: std::sync::Arc<dyn crate::history::HistoryStore>, rules: Rules) -> Self {
        RuledHistory { inner, rules }
    }
}

#[async_trait::async_trait]
impl crate::history::HistoryStore for RuledHistory {
    async fn add(
        &self,
        plays: &[crate::history::Play],
    ) -> Result<crate::history::AddOutcome, crate::store::StoreError> {
        self.inner.add(plays).await
    }

    async fn range(
        &self,
        from: Timestamp,
        to: Timestamp,
        limit: std::num::NonZeroUsize,
        cursor: Option<&crate::history::Cursor>,
    ) -> Result<crate::history::Page, crate::store::StoreError> {
        let mut page = self.inner.range(from, to, limit, cursor).await?;
        // The cursor stays the store's: the next page starts after the last play read.
        page.plays.retain(|p| !self.rules.hides_stored(p));
        Ok(page)
    }

    async fn newest(
        &self,
        source: crate::history::PlaySource,
    ) -> Result<Option<Timestamp>, crate::store::StoreError> {
        self.inner.newest(source).await
    }

    async fn forget(&self, before: Option<Timestamp>) -> Result<u64, crate::store::StoreError> {
        self.inner.forget(before).await
    }

    fn describe(&self) -> String {
        self.inner.describe()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn quiet(start: &str, end: &str, zone: &str) -> QuietHours {
        let minute = |t: &str| {
            let (h, m) = t.split_once(':').unwrap();
            h.parse::<u16>().unwrap() * 60 + m.parse::<u16>().unwrap()
        };
        QuietHours {
            start: minute(start),
            end: minute(end),
            zone: jiff::tz::TimeZone::get(zone).unwrap(),
            zone_name: zone.to_string(),
        }
    }

    fn at(text: &str) -> Timestamp {
        Timestamp::parse_rfc3339(text).unwrap()
    }

    #[test]
    fn quiet_hours_run_across_midnight_in_local_time() {
        let q = quiet("23:00", "07:00", "Europe/Berlin");
        // Winter: Berlin is UTC+1.
        assert!(!q.contains(at("2026-01-15T21:59:59Z")));
        assert!(q.contains(at("2026-01-15T22:00:00Z")));
        assert!(q.contains(at("2026-01-16T05:59:59Z")));
        assert!(!q.contains(at("2026-01-16T06:00:00Z")));
        // Summer: UTC+2, the same local hours an hour earlier in UTC.
        assert!(q.contains(at("2026-07-15T21:00:00Z")));
        assert!(!q.contains(at("2026-07-15T20:59:59Z")));
        assert!(!q.contains(at("2026-07-16T05:00:00Z")));
        let q = quiet("09:00", "17:30", "UTC");
        assert!(q.contains(at("2026-03-02T17:29:00Z")) && !q.contains(at("2026-03-02T17:30:00Z")));
    }

    #[test]
    fn quiet_hours_follow_a_daylight_saving_change() {
        // New York springs forward on 2026-03-08 at 02:00 local (07:00 UTC) and falls back on
        // 2026-11-01 at 02:00 local (06:00 UTC). Quiet 01:00-03:00 local.
        let q = quiet("01:00", "03:00", "America/New_York");
        // Spring: 01:00 EST is 06:00 UTC; 02:00 EST does not exist, 03:00 EDT is 07:00 UTC.
        assert!(!q.contains(at("2026-03-08T05:59:00Z")));
        assert!(q.contains(at("2026-03-08T06:00:00Z")));
        assert!(q.contains(at("2026-03-08T06:59:00Z")));
        assert!(!q.contains(at("2026-03-08T07:00:00Z")), "03:00 EDT ends it");
        // Autumn: 01:00 EDT is 05:00 UTC; 01:00-02:00 happens twice; 03:00 EST is 08:00 UTC.
        assert!(q.contains(at("2026-11-01T05:00:00Z")));
        assert!(
            q.contains(at("2026-11-01T06:30:00Z")),
            "the repeated 01:30 EST"
        );
        assert!(q.contains(at("2026-11-01T07:59:00Z")));
        assert!(!q.contains(at("2026-11-01T08:00:00Z")));
    }
}
