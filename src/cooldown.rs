//! The shared cooldown: until when no process asks Spotify, and why (stored in the `cooldown`
//! item; see docs/architecture.md, "The answer cache").

use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::clock::Timestamp;
use crate::keys::COOLDOWN_KEY;
use crate::store::{Record, SharedState};

/// The first cooldown after Spotify answered `401` even to a token refreshed just now.
const UNAUTHORIZED_FIRST: Duration = Duration::from_secs(60);
/// The longest one: in a `401` storm the refresh token is used (and maybe rotated) at most about
/// this often.
pub const UNAUTHORIZED_MAX: Duration = Duration::from_secs(600);
/// A `401` cooldown that ended less than this ago makes the next one part of the same storm.
const STORM_MEMORY: Duration = Duration::from_secs(15 * 60);

/// The first cooldown after Spotify said the app's owner has no Premium.
const PREMIUM_FIRST: Duration = Duration::from_secs(10 * 60);
/// The longest one: while Premium stays lapsed, Spotify is asked once an hour.
pub const PREMIUM_MAX: Duration = Duration::from_secs(3600);
/// How long a Premium cooldown item is kept past its end: its step is the back-off's memory,
/// forgotten only on the first success (or after a day without any call).
pub const PREMIUM_KEEP: Duration = Duration::from_secs(24 * 3600);

/// Why no process asks Spotify.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "reason", rename_all = "snake_case")]
pub enum Cooldown {
    /// A `429`; `quota_exceeded` when Spotify said the app's quota is used up.
    RateLimited {
        #[serde(default)]
        quota_exceeded: bool,
    },
    /// `401` to fresh tokens, `streak` times in a row.
    Unauthorized { streak: u32 },
    /// A `403` naming Premium, `step` times in a row (the item outlives its end so the next
    /// cooldown knows the step; the first success deletes it).
    PremiumRequired { step: u32 },
}

impl Cooldown {
    /// The cooldown item as stored, and until when it runs; `None` when there is none (or it is
    /// from an older version of the service).
    pub async fn read(state: &dyn SharedState) -> Option<(Cooldown, Timestamp)> {
        let record = state.get(COOLDOWN_KEY).await.ok()??;
        let cooldown = serde_json::from_str(&record.value).ok()?;
        Some((cooldown, record.expires_at))
    }

    /// The item that stores this cooldown, running until `until`.
    pub fn record(&self, until: Timestamp) -> Record {
        let value = serde_json::to_string(self).expect("cooldown serialises");
        match self {
            // Kept past its end: the next Premium cooldown reads the step from it.
            Cooldown::PremiumRequired { .. } => {
                Record::kept(value, until, until, PREMIUM_KEEP).held_by(self.holder())
            }
            _ => Record::until(value, until),
        }
    }

    /// The Premium cooldown that follows `previous` (the item as read, even if it ran out): 10
    /// minutes, doubling to an hour, then an hour each time until a call succeeds (which deletes
    /// the item). Returns it and its length.
    pub fn after_premium_required(
        previous: Option<&(Cooldown, Timestamp)>,
    ) -> (Cooldown, Duration) {
        let step = match previous {
            Some((Cooldown::PremiumRequired { step }, _)) => step.saturating_add(1),
            _ => 1,
        };
        let length = PREMIUM_FIRST
            .saturating_mul(1u32 << (step - 1).min(16))
            .min(PREMIUM_MAX);
        (Cooldown::PremiumRequired { step }, length)
    }

    /// The item's holder: what [`SharedState::release`] is given to delete exactly this item
    /// (not a newer cooldown another process wrote meanwhile).
    pub fn holder(&self) -> String {
        match self {
            Cooldown::PremiumRequired { step } => format!("premium_required#{step}"),
            Cooldown::RateLimited { .. } => "rate_limited".into(),
            Cooldown::Unauthorized { streak } => format!("unauthorized#{streak}"),
        }
    }

    /// Whether the owner must act on this cooldown (no waiting ends it).
    pub fn owner_must_act(&self) -> bool {
        matches!(self, Cooldown::PremiumRequired { .. })
    }

    /// The `401` cooldown that follows `previous` (the item as read, even if it ran out): it
    /// doubles from one minute to ten while the storm goes on. Returns it and its length.
    pub fn after_unauthorized(
        previous: Option<&(Cooldown, Timestamp)>,
        now: Timestamp,
    ) -> (Cooldown, Duration) {
        let streak = match previous {
            Some((Cooldown::Unauthorized { streak }, until))
                if now.since(*until) < STORM_MEMORY =>
            {
                streak.saturating_add(1)
            }
            _ => 1,
        };
        let length = UNAUTHORIZED_FIRST
            .saturating_mul(1u32 << (streak - 1).min(16))
            .min(UNAUTHORIZED_MAX);
        (Cooldown::Unauthorized { streak }, length)
    }

    /// Whether this is a `401` storm still going on at `now`.
    pub fn is_storm(item: Option<&(Cooldown, Timestamp)>, now: Timestamp) -> bool {
        matches!(item, Some((Cooldown::Unauthorized { .. }, until))
            if now.since(*until) < STORM_MEMORY)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_401_storm_backs_off_to_ten_minutes() {
        let mut item = None;
        let mut now = Timestamp::from_secs(1_000);
        let mut lengths = vec![];
        for _ in 0..7 {
            let (c, length) = Cooldown::after_unauthorized(item.as_ref(), now);
            lengths.push(length.as_secs());
            now = now + length;
            item = Some((c, now));
        }
        assert_eq!(lengths, [60, 120, 240, 480, 600, 600, 600]);
        assert!(Cooldown::is_storm(
            item.as_ref(),
            now + Duration::from_secs(60)
        ));
        // A storm long over starts again at one minute.
        let (c, length) = Cooldown::after_unauthorized(item.as_ref(), now + STORM_MEMORY);
        assert_eq!(
            (c, length),
            (Cooldown::Unauthorized { streak: 1 }, UNAUTHORIZED_FIRST)
        );
        // A rate limit is not a storm.
        let limited = (
            Cooldown::RateLimited {
                quota_exceeded: false,
            },
            now,
        );
        assert!(!Cooldown::is_storm(Some(&limited), now));
        assert_eq!(
            Cooldown::after_unauthorized(Some(&limited), now).1,
            UNAUTHORIZED_FIRST
        );
    }

    #[test]
    fn a_lapsed_premium_backs_off_to_an_hour() {
        let mut item = None;
        let mut lengths = vec![];
        for _ in 0..7 {
            let (c, length) = Cooldown::after_premium_required(item.as_ref());
            lengths.push(length.as_secs());
            item = Some((c, Timestamp::EPOCH));
        }
        assert_eq!(lengths, [600, 1200, 2400, 3600, 3600, 3600, 3600]);
        assert_eq!(item.unwrap().0, Cooldown::PremiumRequired { step: 7 });
        // After another kind of cooldown it starts again at ten minutes.
        let storm = (Cooldown::Unauthorized { streak: 3 }, Timestamp::EPOCH);
        assert_eq!(
            Cooldown::after_premium_required(Some(&storm)).1,
            PREMIUM_FIRST
        );
        // Stored with its step, and kept a day past its end.
        let end = Timestamp::from_secs(5_000);
        let r = Cooldown::PremiumRequired { step: 2 }.record(end);
        assert_eq!(r.value, r#"{"reason":"premium_required","step":2}"#);
        assert_eq!(r.expires_at, end);
        assert_eq!(r.delete_after.as_secs(), 5_000 + 24 * 3600);
        assert_eq!(r.holder.as_deref(), Some("premium_required#2"));
    }

    #[test]
    fn stored_as_json_with_its_reason() {
        let r = Cooldown::RateLimited {
            quota_exceeded: true,
        }
        .record(Timestamp::from_millis(5));
        assert_eq!(
            r.value,
            r#"{"reason":"rate_limited","quota_exceeded":true}"#
        );
        assert_eq!(r.expires_at, Timestamp::from_millis(5));
    }

    #[tokio::test]
    async fn read_gives_the_item_and_its_end_and_ignores_unknown_ones() {
        use crate::store::memory::MemoryState;
        let state = MemoryState::new();
        assert_eq!(Cooldown::read(&state).await, None);
        let until = Timestamp::from_secs(7_000);
        let storm = Cooldown::Unauthorized { streak: 2 };
        state.put(COOLDOWN_KEY, &storm.record(until)).await.unwrap();
        assert_eq!(Cooldown::read(&state).await, Some((storm, until)));
        // An item written by an older version of the service (no reason) is no cooldown.
        state
            .put(COOLDOWN_KEY, &Record::until("1700000000000", until))
            .await
            .unwrap();
        assert_eq!(Cooldown::read(&state).await, None);
    }
}
