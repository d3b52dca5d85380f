//! The shared cooldown: until when no process asks Spotify, and why (stored in the `cooldown`
//! item; see docs/architecture.md, "The answer cache").

use serde::{Deserialize, Serialize};

use crate::keys::COOLDOWN_KEY;
use crate::store::{Record, SharedState};

/// The first cooldown after Spotify answered `401` even to a token refreshed just now.
const UNAUTHORIZED_FIRST_S: u64 = 60;
/// The longest one: in a `401` storm the refresh token is used (and maybe rotated) at most about
/// this often.
pub const UNAUTHORIZED_MAX_S: u64 = 600;
/// A `401` cooldown that ended less than this ago makes the next one part of the same storm.
const STORM_MEMORY_MS: u64 = 15 * 60 * 1000;

/// The first cooldown after Spotify said the app's owner has no Premium.
const PREMIUM_FIRST_S: u64 = 10 * 60;
/// The longest one: while Premium stays lapsed, Spotify is asked once an hour.
pub const PREMIUM_MAX_S: u64 = 3600;
/// How long a Premium cooldown item is kept past its end: its step is the back-off's memory,
/// forgotten only on the first success (or after a day without any call).
pub const PREMIUM_KEEP_S: u64 = 24 * 3600;

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
    pub async fn read(state: &dyn SharedState) -> Option<(Cooldown, u64)> {
        let record = state.get(COOLDOWN_KEY).await.ok()??;
        let cooldown = serde_json::from_str(&record.value).ok()?;
        Some((cooldown, record.expires_at_ms))
    }

    pub fn record(&self, until_ms: u64) -> Record {
        let value = serde_json::to_string(self).expect("cooldown serialises");
        match self {
            // Kept past its end: the next Premium cooldown reads the step from it.
            Cooldown::PremiumRequired { .. } => {
                Record::kept(value, until_ms, until_ms, PREMIUM_KEEP_S).held_by(self.holder())
            }
            _ => Record::until(value, until_ms),
        }
    }

    /// The Premium cooldown that follows `previous` (the item as read, even if it ran out): 10
    /// minutes, doubling to an hour, then an hour each time until a call succeeds (which deletes
    /// the item). Returns it and its length in s.
    pub fn after_premium_required(previous: Option<&(Cooldown, u64)>) -> (Cooldown, u64) {
        let step = match previous {
            Some((Cooldown::PremiumRequired { step }, _)) => step.saturating_add(1),
            _ => 1,
        };
        let seconds = PREMIUM_FIRST_S
            .saturating_mul(1u64 << (step - 1).min(16))
            .min(PREMIUM_MAX_S);
        (Cooldown::PremiumRequired { step }, seconds)
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
    /// doubles from one minute to ten while the storm goes on. Returns it and its length in s.
    pub fn after_unauthorized(previous: Option<&(Cooldown, u64)>, now_ms: u64) -> (Cooldown, u64) {
        let streak = match previous {
            Some((Cooldown::Unauthorized { streak }, until))
                if now_ms.saturating_sub(*until) < STORM_MEMORY_MS =>
            {
                streak.saturating_add(1)
            }
            _ => 1,
        };
        let seconds = UNAUTHORIZED_FIRST_S
            .saturating_mul(1u64 << (streak - 1).min(16))
            .min(UNAUTHORIZED_MAX_S);
        (Cooldown::Unauthorized { streak }, seconds)
    }

    /// Whether this is a `401` storm still going on at `now_ms`.
    pub fn is_storm(item: Option<&(Cooldown, u64)>, now_ms: u64) -> bool {
        matches!(item, Some((Cooldown::Unauthorized { .. }, until))
            if now_ms.saturating_sub(*until) < STORM_MEMORY_MS)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_401_storm_backs_off_to_ten_minutes() {
        let mut item = None;
        let mut now = 1_000_000;
        let mut lengths = vec![];
        for _ in 0..7 {
            let (c, s) = Cooldown::after_unauthorized(item.as_ref(), now);
            lengths.push(s);
            now += s * 1000;
            item = Some((c, now));
        }
        assert_eq!(lengths, [60, 120, 240, 480, 600, 600, 600]);
        assert!(Cooldown::is_storm(item.as_ref(), now + 60_000));
        // A storm long over starts again at one minute.
        let (c, s) = Cooldown::after_unauthorized(item.as_ref(), now + STORM_MEMORY_MS);
        assert_eq!((c, s), (Cooldown::Unauthorized { streak: 1 }, 60));
        // A rate limit is not a storm.
        let limited = (
            Cooldown::RateLimited {
                quota_exceeded: false,
            },
            now,
        );
        assert!(!Cooldown::is_storm(Some(&limited), now));
        assert_eq!(Cooldown::after_unauthorized(Some(&limited), now).1, 60);
    }

    #[test]
    fn a_lapsed_premium_backs_off_to_an_hour() {
        let mut item = None;
        let mut lengths = vec![];
        for _ in 0..7 {
            let (c, s) = Cooldown::after_premium_required(item.as_ref());
            lengths.push(s);
            item = Some((c, 0));
        }
        assert_eq!(lengths, [600, 1200, 2400, 3600, 3600, 3600, 3600]);
        assert_eq!(item.unwrap().0, Cooldown::PremiumRequired { step: 7 });
        // After another kind of cooldown it starts again at ten minutes.
        let storm = (Cooldown::Unauthorized { streak: 3 }, 0);
        assert_eq!(Cooldown::after_premium_required(Some(&storm)).1, 600);
        // Stored with its step, and kept a day past its end.
        let r = Cooldown::PremiumRequired { step: 2 }.record(5_000_000);
        assert_eq!(r.value, r#"{"reason":"premium_required","step":2}"#);
        assert_eq!(r.expires_at_ms, 5_000_000);
        assert_eq!(r.delete_after_s, 5_000 + PREMIUM_KEEP_S);
        assert_eq!(r.holder.as_deref(), Some("premium_required#2"));
    }

    #[test]
    fn stored_as_json_with_its_reason() {
        let r = Cooldown::RateLimited {
            quota_exceeded: true,
        }
        .record(5);
        assert_eq!(
            r.value,
            r#"{"reason":"rate_limited","quota_exceeded":true}"#
        );
        assert_eq!(r.expires_at_ms, 5);
    }
}
