//! Step 7 of the answer cache: what a failed fetch means for the page and for the shared
//! cooldown. The cache sees a failure only as a [`Failure`]: a fetch's error type is one the
//! cache can turn into a `Failure` ([`FetchError`]). The sources' errors are classified where
//! they are known (`impl From<&crate::error::Error> for Failure` lives in `crate::source`), so
//! the cache knows no client's error type.

use std::fmt;

use std::time::Duration;

use super::entry::Entry;
use super::{AnswerCache, Outcome};
use crate::clock::Timestamp;
use crate::cooldown::Cooldown;
use crate::keys::COOLDOWN_KEY;

/// A fetch fails for one of these reasons, as far as the cache cares.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Failure {
    /// The source asked for a pause (`429`, Last.fm's error 29): no process asks it again for
    /// `wait`. `quota_exceeded` says that Spotify named the app's quota, which waiting out one
    /// pause does not fix.
    RateLimited {
        origin: &'static str,
        wait: Duration,
        quota_exceeded: bool,
    },
    /// Spotify answered `401` even to an access token refreshed just now.
    Unauthorized,
    /// Spotify answered `403` naming Premium: the app's owner has no active subscription.
    PremiumRequired,
    /// Only the owner can fix it (no sign-in, a rejected sign-in or key): the page shows `null`.
    OwnerMustAct,
    /// Anything else went wrong (an outage, a time-out, garbage): the last good answer is
    /// served marked stale.
    Transient,
}

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Failure::RateLimited { origin, wait, .. } => {
                write!(f, "{origin} rate limit, retry after {} s", wait.as_secs())
            }
            Failure::Unauthorized => f.write_str("a 401 to a fresh access token"),
            Failure::PremiumRequired => f.write_str("the app's owner has no Premium"),
            Failure::OwnerMustAct => f.write_str("only the owner can fix this"),
            Failure::Transient => f.write_str("a temporary failure"),
        }
    }
}

/// A failure is its own classification (fetches that know what failed, such as the tests').
impl From<&Failure> for Failure {
    fn from(f: &Failure) -> Failure {
        f.clone()
    }
}

/// A fetch's error gives the cache a [`Failure`] to act on and a text for the log. Every error
/// type that a `Failure` can be made from has it.
pub trait FetchError: fmt::Display {
    fn failure(&self) -> Failure;
}

impl<E: fmt::Display> FetchError for E
where
    Failure: for<'e> From<&'e E>,
{
    fn failure(&self) -> Failure {
        Failure::from(self)
    }
}

impl AnswerCache {
    /// Decides what to serve after the source failed at `now`, and starts (or joins) the
    /// cooldown the failure calls for.
    pub(super) async fn on_failure(
        &self,
        key: &str,
        failure: Failure,
        error: &str,
        previous: Option<&Entry>,
        now: Timestamp,
    ) -> Outcome {
        let started = match failure {
            // The token keeper or the source logged it once; the page shows nothing.
            Failure::OwnerMustAct => return Outcome::nothing(),
            Failure::RateLimited {
                origin,
                wait,
                quota_exceeded,
            } => {
                tracing::warn!(
                    key,
                    origin,
                    retry_after_s = wait.as_secs(),
                    quota_exceeded,
                    "{origin} rate limit: no calls until the pause has passed (at most 15 min)"
                );
                Some((Cooldown::RateLimited { quota_exceeded }, wait))
            }
            Failure::PremiumRequired => match self.premium_cooldown(key, now).await {
                Ok(next) => Some(next),
                // Another key or process started this step a moment ago: keep to it.
                Err(until) => {
                    return Outcome {
                        entry: self.degraded(previous, now),
                        cooling_until: Some(until),
                    }
                }
            },
            Failure::Unauthorized => Some(self.unauthorized_cooldown(key, now).await),
            Failure::Transient => None,
        };
        let cooling_until = match started {
            Some((cooldown, length)) => {
                let until = now + length;
                let _ = self.state.put(COOLDOWN_KEY, &cooldown.record(until)).await;
                Some(until)
            }
            None => {
                tracing::warn!(
                    key,
                    error,
                    "the source could not be asked; serving the last good answer"
                );
                None
            }
        };
        Outcome {
            entry: self.degraded(previous, now),
            cooling_until,
        }
    }

    /// Spotify answered `401` even to a token refreshed just now (after the retries of
    /// `Upstream::with_token`): no process asks again for a while, longer each time, so a storm
    /// refreshes (and, if Spotify rotates, rotates) the refresh token at most about every ten
    /// minutes. Returns the next cooldown and its length.
    async fn unauthorized_cooldown(&self, key: &str, now: Timestamp) -> (Cooldown, Duration) {
        let previous = Cooldown::read(self.state.as_ref()).await;
        let (cooldown, length) = Cooldown::after_unauthorized(previous.as_ref(), now);
        tracing::warn!(
            key,
            cooldown_s = length.as_secs(),
            "Spotify answered 401 to a freshly refreshed access token too; not asking again for a while"
        );
        (cooldown, length)
    }

    /// Computes the next step of the Premium cooldown (read from the item, which outlives its
    /// end) and logs its one ERROR line. `Err(until)` says that a Premium cooldown is already
    /// running (another key or process started it since this one asked): nothing is written or
    /// logged.
    async fn premium_cooldown(
        &self,
        key: &str,
        now: Timestamp,
    ) -> Result<(Cooldown, Duration), Timestamp> {
        let previous = Cooldown::read(self.state.as_ref()).await;
        if let Some((Cooldown::PremiumRequired { .. }, until)) = &previous {
            if *until > now {
                return Err(*until);
            }
        }
        let (cooldown, length) = Cooldown::after_premium_required(previous.as_ref());
        let Cooldown::PremiumRequired { step } = cooldown else {
            unreachable!("after_premium_required gives a Premium cooldown")
        };
        let seconds = length.as_secs();
        tracing::error!(
            alert = "owner_must_act",
            reason = "premium_required",
            key,
            store = %self.state.describe(),
            step,
            cooldown_s = seconds,
            "Spotify answered 403: the Spotify account that owns the app has no active Premium subscription (a development-mode app works only while its owner has Premium). Renew Premium; the service asks Spotify again in {} min and resumes by itself within hours (at most one call an hour until then)",
            seconds / 60
        );
        Ok((cooldown, length))
    }

    /// Deletes the Premium cooldown item after the first good answer (only that item: a newer
    /// cooldown written meanwhile stays), so the next lapse starts again at ten minutes.
    pub(super) async fn end_premium_cooldown(&self, key: &str, cooldown: Option<&Cooldown>) {
        let Some(c @ Cooldown::PremiumRequired { step }) = cooldown else {
            return;
        };
        match self.state.release(COOLDOWN_KEY, &c.holder()).await {
            Ok(()) => tracing::info!(
                key,
                step,
                "Spotify answers again: the Premium cooldown is over"
            ),
            Err(e) => tracing::warn!(key, error = %e, "could not clear the Premium cooldown"),
        }
    }

    /// Returns the last good answer marked stale while it is at most `stale_max` old, else
    /// nothing (keeping the moment of the last good answer).
    pub(super) fn degraded(&self, previous: Option<&Entry>, now: Timestamp) -> Entry {
        match previous {
            Some(p)
                if p.last_good > Timestamp::EPOCH
                    && !p.value.is_null()
                    && now.since(p.last_good) <= self.settings.stale_max =>
            {
                Entry {
                    stale: true,
                    ..p.clone()
                }
            }
            _ => Entry::nothing_since(previous.map_or(Timestamp::EPOCH, |p| p.last_good)),
        }
    }
}
