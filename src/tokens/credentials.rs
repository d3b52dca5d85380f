//! The owner's stored sign-in: read once per cold start, again after an auth failure's back-off,
//! and again (at most every 30 s) while none exists.

use std::time::Duration;

use super::{Keeper, REFRESH_TOKEN_LIFETIME_DAYS, WARN_DAYS};
use crate::clock::Timestamp;
use crate::error::Error;
use crate::secret::Secret;
use crate::store::{Credentials, Record, Versioned};

/// After `invalid_grant` or `invalid_client`: how long before the credential store is read again.
const AUTH_BACKOFF: Duration = Duration::from_secs(60);
/// While no credentials exist: how often the store is read again.
const NOT_AUTHORIZED_RECHECK: Duration = Duration::from_secs(30);
/// The six-month reminder is logged at most once a day per environment (this shared item).
const REMINDER_KEY: &str = "reminder:signin-expiring";
const DAY: Duration = Duration::from_secs(24 * 3600);
const DAY_MILLIS: i64 = 24 * 3600 * 1000;

#[derive(Clone, Copy, Debug, PartialEq)]
pub(super) enum AuthFailure {
    InvalidGrant,
    InvalidClient,
}

/// Spotify rejected this refresh token (`None`: there was none) or the client: until
/// `retry_after`, this process answers with the failure instead of asking again.
#[derive(Clone)]
pub(super) struct Rejection {
    pub(super) token: Option<Secret>,
    pub(super) retry_after: Timestamp,
    pub(super) failure: AuthFailure,
}

impl AuthFailure {
    fn error(self) -> Error {
        match self {
            AuthFailure::InvalidGrant => Error::MustReauthorize,
            AuthFailure::InvalidClient => Error::InvalidClient,
        }
    }
}

impl Keeper {
    pub(super) async fn credentials_for_refresh(&self) -> Result<Credentials, Error> {
        let now = self.clock.now();
        let (cached, loaded_at, rejected) = {
            let l = self.local.lock().unwrap();
            (l.credentials.clone(), l.loaded_at, l.rejected.clone())
        };
        if let Some(rejection) = rejected {
            let failure = rejection.failure;
            if now < rejection.retry_after {
                return Err(failure.error());
            }
            // The back-off ran out: read the store again; a new sign-in shows up as a new token.
            let fresh = self.load_credentials().await?;
            let same = match failure {
                AuthFailure::InvalidGrant => fresh.refresh_token == rejection.token,
                AuthFailure::InvalidClient => Some(&fresh) == cached.as_ref(),
            };
            if same {
                self.local.lock().unwrap().rejected = Some(Rejection {
                    retry_after: now + AUTH_BACKOFF,
                    ..rejection
                });
                return Err(failure.error());
            }
            self.local.lock().unwrap().rejected = None;
            return Ok(fresh);
        }
        match (cached, loaded_at) {
            (Some(c), _) if c.is_complete() => Ok(c),
            (_, Some(at)) if now.since(at) < NOT_AUTHORIZED_RECHECK => Err(Error::NotAuthorized),
            _ => self.load_credentials().await,
        }
    }

    pub(super) async fn load_credentials(&self) -> Result<Credentials, Error> {
        Ok(self.load_versioned_credentials().await?.credentials)
    }

    /// The stored sign-in with the store's version; remembered by this process.
    pub(super) async fn load_versioned_credentials(&self) -> Result<Versioned, Error> {
        let now = self.clock.now();
        let loaded = self.credentials.load_versioned().await?;
        {
            let mut l = self.local.lock().unwrap();
            l.loaded_at = Some(now);
            l.credentials = loaded.as_ref().map(|v| v.credentials.clone());
        }
        match loaded {
            Some(v) if v.credentials.is_complete() => {
                self.remind_if_expiring(&v.credentials).await;
                Ok(v)
            }
            _ => Err(Error::NotAuthorized),
        }
    }

    /// Remembers that Spotify rejected `token` (or the client) and logs it once.
    pub(super) fn auth_failed(&self, token: Option<Secret>, failure: AuthFailure) -> Error {
        let now = self.clock.now();
        let mut l = self.local.lock().unwrap();
        let already = l.rejected.is_some();
        l.rejected = Some(Rejection {
            token,
            retry_after: now + AUTH_BACKOFF,
            failure,
        });
        l.access = None;
        if !already {
            let reason = match failure {
                AuthFailure::InvalidGrant => "invalid_grant",
                AuthFailure::InvalidClient => "invalid_client",
            };
            tracing::error!(
                alert = "owner_must_act",
                reason,
                store = %self.credentials.describe(),
                "{}",
                failure.error()
            );
        }
        failure.error()
    }

    /// Spotify's refresh tokens die six months after the sign-in: within [`WARN_DAYS`] of that,
    /// one WARN per cold start, and at most one a day per environment (a shared item decides).
    async fn remind_if_expiring(&self, credentials: &Credentials) {
        let Some(limit) = signin_limit(credentials) else {
            return;
        };
        let now = self.clock.now();
        let warn_from = limit - DAY * WARN_DAYS as u32;
        if now < warn_from || self.local.lock().unwrap().reminded {
            return;
        }
        self.local.lock().unwrap().reminded = true;
        let record = Record::lease(self.instance.clone(), now + DAY);
        if !matches!(
            self.state.acquire(REMINDER_KEY, &record, now).await,
            Ok(true)
        ) {
            return;
        }
        let days_left = days_left(now, limit);
        tracing::warn!(
            alert = "owner_must_act",
            reason = "signin_expiring",
            expires_on = %rfc3339_date(limit),
            days_left,
            command = "nowplaying authorize",
            "Spotify's six-month limit on this sign-in runs out on {}: run `nowplaying authorize` before then",
            rfc3339_date(limit)
        );
    }
}

/// The moment Spotify's six-month limit on this sign-in runs out, when it is known.
pub fn signin_limit(credentials: &Credentials) -> Option<Timestamp> {
    let at = credentials.authorized_at.as_deref()?;
    let t = time::OffsetDateTime::parse(at, &time::format_description::well_known::Rfc3339).ok()?;
    let at = u64::try_from(t.unix_timestamp_nanos() / 1_000_000).ok()?;
    Some(Timestamp::from_millis(at) + DAY * REFRESH_TOKEN_LIFETIME_DAYS as u32)
}

/// Whole days from `now` until `limit`, rounded down: negative once the limit has passed.
pub fn days_left(now: Timestamp, limit: Timestamp) -> i64 {
    (limit.as_millis() as i64 - now.as_millis() as i64).div_euclid(DAY_MILLIS)
}

/// The day of `at` as `YYYY-MM-DD` (UTC).
fn rfc3339_date(at: Timestamp) -> String {
    time::OffsetDateTime::from_unix_timestamp(at.as_secs() as i64)
        .ok()
        .and_then(|t| {
            t.date()
                .format(&time::macros::format_description!("[year]-[month]-[day]"))
                .ok()
        })
        .unwrap_or_default()
}
