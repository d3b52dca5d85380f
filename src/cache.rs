//! The answer cache, used alike by `/api/spotify` and the profile lists: one read from Spotify
//! serves everyone for the window, across processes. The algorithm and its invariants are in
//! docs/architecture.md ("The answer cache").

use std::collections::HashMap;
use std::future::Future;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::clock::{SharedClock, Timestamp};
use crate::cooldown::Cooldown;
use crate::error::Error;
use crate::keys::{lease_key, AUTH_GENERATION_KEY, COOLDOWN_KEY, HIDDEN_KEY};
use crate::lease::{self, Lease};
use crate::owner::PrivacySwitch;
use crate::spotify::SpotifyError;
use crate::store::{Record, SharedState, StoreError};

/// Tunables of the answer cache.
#[derive(Debug, Clone)]
pub struct CacheSettings {
    /// The `/api/spotify` window (`CACHE_TTL_SECONDS`); each list has its own.
    pub ttl_ms: u64,
    /// How long the last good answer may be served as `stale` while Spotify fails.
    pub stale_max_ms: u64,
    /// How long a fetch lease lasts (a dead holder blocks nobody for longer).
    pub lease_ms: u64,
    /// How long a caller with no copy at all waits for the lease holder's answer.
    pub wait_for_holder: Duration,
    /// The whole Spotify exchange (token, currently-playing, recently-played) is cut off here.
    pub fetch_deadline: Duration,
    /// How long the store keeps an answer for stale use (its clean-up attribute).
    pub keep_s: u64,
}

impl CacheSettings {
    pub fn with_ttl(ttl: Duration) -> Self {
        CacheSettings {
            ttl_ms: ttl.as_millis() as u64,
            stale_max_ms: 15 * 60 * 1000,
            lease_ms: 5_000,
            wait_for_holder: Duration::from_millis(3_000),
            fetch_deadline: Duration::from_millis(4_500),
            keep_s: 24 * 3600,
        }
    }
}

/// An answer with what the HTTP layer needs for its headers.
#[derive(Debug, Clone)]
pub struct Answer {
    pub value: Value,
    /// Served because Spotify could not be asked.
    pub stale: bool,
    /// Epoch ms until which this answer is the current one.
    pub fresh_until_ms: u64,
    /// Epoch ms at which it was served.
    pub served_at_ms: u64,
    /// The window of the key it came from, in ms.
    pub window_ms: u64,
}

impl Answer {
    /// The same answer with another body (a list cut to its `limit`).
    pub fn with_value(self, value: Value) -> Answer {
        Answer { value, ..self }
    }
}

/// What the cache stores per key (field names are the stored format).
#[derive(Debug, Clone, Serialize, Deserialize)]
struct Entry {
    /// The answer (`null` for nothing to show).
    #[serde(rename = "v")]
    value: Value,
    /// When the answer was last read from Spotify successfully (epoch ms; 0: never).
    #[serde(rename = "good_at")]
    last_good_ms: u64,
    #[serde(default)]
    stale: bool,
    /// Read from the fallback source during a cooldown (asked again in the next window).
    #[serde(default, rename = "fb", skip_serializing_if = "std::ops::Not::not")]
    from_fallback: bool,
}

impl Entry {
    fn nothing(last_good_ms: u64) -> Entry {
        Entry {
            value: Value::Null,
            last_good_ms,
            stale: false,
            from_fallback: false,
        }
    }
}

/// The cached answer as stored, for `nowplaying status`.
#[derive(Debug, Clone)]
pub struct StoredAnswer {
    pub value: Value,
    /// When it was last read from Spotify successfully (epoch ms; 0: never).
    pub good_at_ms: u64,
    pub stale: bool,
    /// Epoch ms until which it is the current answer.
    pub fresh_until_ms: u64,
}

/// Reads the cached answer under `key` from `state` without changing anything.
pub async fn stored_answer(
    state: &dyn SharedState,
    key: &str,
) -> Result<Option<StoredAnswer>, StoreError> {
    let Some(record) = state.get(key).await? else {
        return Ok(None);
    };
    Ok(serde_json::from_str::<Entry>(&record.value)
        .ok()
        .map(|e| StoredAnswer {
            value: e.value,
            good_at_ms: e.last_good_ms,
            stale: e.stale,
            fresh_until_ms: record.expires_at.as_millis(),
        }))
}

/// Told the sign-in generation read with a miss (see [`AnswerCache::observing_generation`]).
type GenerationObserver = Box<dyn Fn(Option<String>) + Send + Sync>;

/// What one miss reads from the shared state, in one call.
struct MissRead {
    entry: Option<(Entry, u64)>,
    cooldown_until: Option<u64>,
    /// The cooldown item's reason, even when it ran out (`None`: none, or not one we know).
    cooldown: Option<Cooldown>,
    hidden: bool,
}

/// What a refill knows from before: the last answer, and the cooldown item as read.
struct Prior {
    entry: Option<Entry>,
    cooldown: Option<Cooldown>,
}

/// An answer this process holds in memory: served without asking the shared state until
/// `until` (its `fresh_until`, capped at one `/api/spotify` window from when it was read).
struct Remembered {
    entry: Entry,
    fresh_until: u64,
    until: u64,
}

/// The cache for every answer of one process, over the shared state.
pub struct AnswerCache {
    state: Arc<dyn SharedState>,
    clock: SharedClock,
    settings: CacheSettings,
    instance: String,
    privacy: PrivacySwitch,
    flights: Mutex<HashMap<String, Arc<tokio::sync::Mutex<()>>>>,
    /// The memory tier: what this process read or wrote last, per key.
    memory: Mutex<HashMap<String, Remembered>>,
    observer: Option<GenerationObserver>,
}

impl AnswerCache {
    pub fn new(
        state: Arc<dyn SharedState>,
        clock: SharedClock,
        settings: CacheSettings,
        instance: String,
        privacy: PrivacySwitch,
    ) -> Self {
        AnswerCache {
            state,
            clock,
            settings,
            instance,
            privacy,
            flights: Mutex::new(HashMap::new()),
            memory: Mutex::new(HashMap::new()),
            observer: None,
        }
    }

    /// Reads the sign-in generation (`auth-generation`) in the same call as every miss and
    /// hands it to `observer` (the token keeper), which then need not read it itself.
    pub fn observing_generation(
        mut self,
        observer: impl Fn(Option<String>) + Send + Sync + 'static,
    ) -> Self {
        self.observer = Some(Box::new(observer));
        self
    }

    /// The `/api/spotify` window.
    pub fn ttl_ms(&self) -> u64 {
        self.settings.ttl_ms
    }

    pub fn settings(&self) -> &CacheSettings {
        &self.settings
    }

    /// The answer under `key` with a window of `ttl_ms`: the copy in memory while fresh (no call
    /// at all), else the fresh copy in the shared state, else one `fetch` across all processes,
    /// else the stale copy or `null`.
    pub async fn get_or_fetch<F, Fut>(&self, key: &str, ttl_ms: u64, fetch: F) -> Answer
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<Value, Error>>,
    {
        self.get_or_fetch_with_fallback(key, ttl_ms, fetch, None::<F>)
            .await
    }

    /// [`AnswerCache::get_or_fetch`] with another source for the cooldown: while a cooldown
    /// holds, `fallback` (once per window, under the lease) fills the window instead of `null`
    /// when no stale answer is left, or when the stale one came from the fallback itself. Its
    /// failures never start or change the cooldown.
    pub async fn get_or_fetch_with_fallback<F, Fut, G, GFut>(
        &self,
        key: &str,
        ttl_ms: u64,
        fetch: F,
        fallback: Option<G>,
    ) -> Answer
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<Value, Error>>,
        G: FnOnce() -> GFut,
        GFut: Future<Output = Result<Value, Error>>,
    {
        let now = self.clock.now_ms();
        if self.privacy.hidden_locally() {
            return self.answer(&Entry::nothing(0), now, ttl_ms);
        }
        if ttl_ms == 0 {
            return self.uncached(fetch).await;
        }
        if let Some(a) = self.remembered(key, ttl_ms) {
            return a;
        }
        // Single flight inside this process; the lease does the same across processes.
        let flight = {
            let mut flights = self.flights.lock().unwrap();
            flights.entry(key.to_string()).or_default().clone()
        };
        let _guard = flight.lock().await;
        // Another request of this process may have filled it while this one waited.
        if let Some(a) = self.remembered(key, ttl_ms) {
            return a;
        }
        let now = self.clock.now_ms();
        let read = self.read_for_miss(key).await;
        if read.hidden {
            let e = Entry::nothing(0);
            self.remember(key, &e, now + ttl_ms, now);
            return self.answer(&e, now + ttl_ms, ttl_ms);
        }
        if let Some((e, fresh_until)) = &read.entry {
            if now < *fresh_until {
                self.remember(key, e, *fresh_until, now);
                return self.answer(e, *fresh_until, ttl_ms);
            }
        }
        let prior = Prior {
            entry: read.entry.map(|(e, _)| e),
            cooldown: read.cooldown,
        };

        let mut cooling = None;
        if let Some(until) = read.cooldown_until.filter(|u| *u > now) {
            let has_fallback = fallback.is_some();
            if let Some(a) = self
                .while_cooling(key, ttl_ms, &prior, until, now, has_fallback)
                .await
            {
                return a;
            }
            cooling = Some(until);
        }

        let lease_key = lease_key(key);
        let lease = Lease::acquire(
            self.state.as_ref(),
            &lease_key,
            &self.instance,
            Duration::from_millis(self.settings.lease_ms),
            Timestamp::from_millis(now),
        )
        .await;
        let lease = match lease {
            Ok(Some(lease)) => Some(lease),
            Ok(None) => {
                return match prior.entry {
                    Some(e) => self.answer(&e, now, ttl_ms),
                    None => self.wait_for_holder(key, ttl_ms).await,
                }
            }
            // The answer cache may go on without the lease (only Spotify's call count suffers).
            Err(_) => None,
        };
        match (cooling, fallback) {
            (Some(until), Some(fallback)) => {
                self.refill(key, ttl_ms, prior, Some(until), lease, fallback)
                    .await
            }
            _ => self.refill(key, ttl_ms, prior, None, lease, fetch).await,
        }
    }

    /// During a cooldown that ends at `until`: the stale answer (or `null`) to serve, or `None`
    /// when the fallback source is to fill this window instead (no stale answer left, the stale
    /// one is the fallback's own, or a cooldown only the owner can end (Premium), which lasts
    /// hours: then the fallback fills in at once rather than after the stale answer ran out).
    async fn while_cooling(
        &self,
        key: &str,
        ttl_ms: u64,
        prior: &Prior,
        until: u64,
        now: u64,
        has_fallback: bool,
    ) -> Option<Answer> {
        let e = self.degraded(prior.entry.as_ref(), now);
        let lasting = prior
            .cooldown
            .as_ref()
            .is_some_and(Cooldown::owner_must_act);
        if has_fallback && (e.value.is_null() || e.from_fallback || lasting) {
            return None;
        }
        let fresh_until = until.min(now + ttl_ms).max(now + 1);
        self.write(key, &e, fresh_until, now).await;
        self.remember(key, &e, fresh_until, now);
        Some(self.answer(&e, fresh_until, ttl_ms))
    }

    /// The copy this process holds, while it may be served without asking the shared state.
    fn remembered(&self, key: &str, ttl_ms: u64) -> Option<Answer> {
        let now = self.clock.now_ms();
        let memory = self.memory.lock().unwrap();
        let r = memory.get(key)?;
        (now < r.until).then(|| self.answer(&r.entry, r.fresh_until, ttl_ms))
    }

    /// Keeps `e` in memory until `fresh_until`, but at most one `/api/spotify` window from `now`:
    /// that bounds how long a process goes without seeing the privacy switch, `disconnect` or a
    /// newer answer, even for the lists' longer windows.
    fn remember(&self, key: &str, e: &Entry, fresh_until: u64, now: u64) {
        let until = fresh_until.min(now.saturating_add(self.settings.ttl_ms));
        if until <= now {
            return;
        }
        self.memory.lock().unwrap().insert(
            key.to_string(),
            Remembered {
                entry: e.clone(),
                fresh_until,
                until,
            },
        );
    }

    /// Everything a miss needs, in one read: the answer, the cooldown, the shared privacy switch
    /// and (for the token keeper) the sign-in generation.
    async fn read_for_miss(&self, key: &str) -> MissRead {
        let shared_switch = matches!(self.privacy, PrivacySwitch::Shared(_));
        let mut keys = vec![key, COOLDOWN_KEY];
        if shared_switch {
            keys.push(HIDDEN_KEY);
        }
        if self.observer.is_some() {
            keys.push(AUTH_GENERATION_KEY);
        }
        let mut items = match self.state.get_many(&keys).await {
            Ok(items) => items,
            Err(e) => {
                tracing::debug!(key, error = %e, "could not read the shared state");
                HashMap::new()
            }
        };
        if let Some(observe) = &self.observer {
            observe(items.remove(AUTH_GENERATION_KEY).map(|r| r.value));
        }
        let cooldown = items.remove(COOLDOWN_KEY);
        MissRead {
            entry: items.remove(key).and_then(|r| parse(&r)),
            cooldown_until: cooldown.as_ref().map(|r| r.expires_at.as_millis()),
            cooldown: cooldown.and_then(|r| serde_json::from_str(&r.value).ok()),
            // The switch as `owner::PrivacySwitch::set` writes it.
            hidden: shared_switch && items.get(HIDDEN_KEY).is_some_and(|r| r.value == "true"),
        }
    }

    /// The copy under `key` when it is still fresh.
    async fn fresh(&self, key: &str, ttl_ms: u64) -> Option<Answer> {
        let (e, fresh_until) = self.read(key).await?;
        let now = self.clock.now_ms();
        (now < fresh_until).then(|| {
            self.remember(key, &e, fresh_until, now);
            self.answer(&e, fresh_until, ttl_ms)
        })
    }

    /// Under the lease: asks Spotify and publishes what to serve, giving the lease back in the
    /// same call. The shared switch was read with the miss; the write checks it again, so an
    /// answer fetched while `hide` ran never comes back. (The local switch is a file: asked.)
    /// `cooling`: the cooldown's end when `fetch` is the fallback asked during it.
    async fn refill<F, Fut>(
        &self,
        key: &str,
        ttl_ms: u64,
        prior: Prior,
        cooling: Option<u64>,
        lease: Option<Lease<'_>>,
        fetch: F,
    ) -> Answer
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<Value, Error>>,
    {
        // The previous holder may have written its answer and released the lease between our
        // read and our lease: then that answer is the one for this window.
        if let Some(a) = self.fresh(key, ttl_ms).await {
            if let Some(lease) = lease {
                lease.release().await;
            }
            return a;
        }
        let local_switch = !matches!(self.privacy, PrivacySwitch::Shared(_));
        let (e, cooldown) = if local_switch && self.privacy.is_hidden().await {
            (Entry::nothing(0), None)
        } else {
            let result = match tokio::time::timeout(self.settings.fetch_deadline, fetch()).await {
                Ok(r) => r,
                Err(_) => Err(Error::Spotify(SpotifyError::Upstream("timed out".into()))),
            };
            let now = self.clock.now_ms();
            match result {
                // `hide` drops every cached answer; one fetched while it ran must not come back.
                Ok(_) if local_switch && self.privacy.is_hidden().await => {
                    (Entry::nothing(0), None)
                }
                Ok(value) => {
                    if cooling.is_none() {
                        self.end_premium_cooldown(key, prior.cooldown.as_ref())
                            .await;
                    }
                    let e = Entry {
                        value,
                        last_good_ms: now,
                        stale: false,
                        from_fallback: cooling.is_some(),
                    };
                    (e, cooling)
                }
                Err(err) if cooling.is_some() => {
                    tracing::warn!(key, error = %err, "the fallback source could not be asked during the cooldown either");
                    (self.degraded(prior.entry.as_ref(), now), cooling)
                }
                Err(err) => self.on_failure(key, err, prior.entry.as_ref(), now).await,
            }
        };
        let now = self.clock.now_ms();
        let fresh_until = match cooldown {
            Some(until) => until.min(now + ttl_ms).max(now + 1),
            None => now + ttl_ms,
        };
        let e = match lease {
            Some(lease) => {
                let unless = (!local_switch).then_some(HIDDEN_KEY);
                if self
                    .publish(key, &e, fresh_until, now, &lease, unless)
                    .await
                {
                    e
                } else {
                    Entry::nothing(0)
                }
            }
            None => {
                self.write(key, &e, fresh_until, now).await;
                e
            }
        };
        self.remember(key, &e, fresh_until, now);
        self.answer(&e, fresh_until, ttl_ms)
    }

    /// Writes the answer and gives the lease back, in one call. `false` when the shared switch
    /// was turned on meanwhile (nothing written).
    async fn publish(
        &self,
        key: &str,
        entry: &Entry,
        fresh_until: u64,
        now: u64,
        lease: &Lease<'_>,
        unless: Option<&str>,
    ) -> bool {
        let value = serde_json::to_string(entry).expect("entry serialises");
        let record = Record::kept(
            value,
            Timestamp::from_millis(fresh_until),
            Timestamp::from_millis(now),
            Duration::from_secs(self.settings.keep_s),
        );
        let lease_key = lease_key(key);
        match self
            .state
            .put_and_release(key, &record, &lease_key, lease.holder(), unless)
            .await
        {
            Ok(written) => written,
            Err(e) => {
                tracing::warn!(key, error = %e, "could not store the answer");
                true
            }
        }
    }

    /// `CACHE_TTL_SECONDS=0`: every request asks Spotify, the way a typical copy-pasted route
    /// works. Only for comparison (`scripts/bench`'s baseline) and debugging.
    async fn uncached<F, Fut>(&self, fetch: F) -> Answer
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<Value, Error>>,
    {
        let value = if self.privacy.is_hidden().await {
            Value::Null
        } else {
            match tokio::time::timeout(self.settings.fetch_deadline, fetch()).await {
                Ok(Ok(v)) => v,
                Ok(Err(e)) => {
                    tracing::warn!(error = %e, "Spotify could not be asked");
                    Value::Null
                }
                Err(_) => Value::Null,
            }
        };
        let now = self.clock.now_ms();
        Answer {
            value,
            stale: false,
            fresh_until_ms: now,
            served_at_ms: now,
            window_ms: 0,
        }
    }

    /// The entry to serve after a failed fetch, and the end of the cooldown it started, if any.
    async fn on_failure(
        &self,
        key: &str,
        err: Error,
        previous: Option<&Entry>,
        now: u64,
    ) -> (Entry, Option<u64>) {
        if err.owner_must_act() {
            // Logged once by the token keeper; the page shows nothing.
            return (Entry::nothing(0), None);
        }
        let cooldown = match &err {
            Error::Spotify(SpotifyError::RateLimited {
                retry_after_s,
                quota_exceeded,
            }) => {
                tracing::warn!(
                    key,
                    retry_after_s,
                    quota_exceeded,
                    "Spotify rate limit: no calls until Retry-After has passed (at most 15 min)"
                );
                Some((
                    Cooldown::RateLimited {
                        quota_exceeded: *quota_exceeded,
                    },
                    *retry_after_s,
                ))
            }
            Error::RateLimited {
                origin,
                retry_after_s,
            } => {
                tracing::warn!(
                    key,
                    origin,
                    retry_after_s,
                    "{origin} rate limit: no calls until the pause has passed"
                );
                Some((
                    Cooldown::RateLimited {
                        quota_exceeded: false,
                    },
                    *retry_after_s,
                ))
            }
            Error::Spotify(SpotifyError::PremiumRequired) => {
                match self.premium_cooldown(key, now).await {
                    Ok(next) => Some(next),
                    // Another key or process started this step a moment ago: keep to it.
                    Err(until) => return (self.degraded(previous, now), Some(until)),
                }
            }
            Error::Spotify(SpotifyError::Unauthorized) => {
                // Spotify answered 401 even to a token refreshed just now (after the retries of
                // `Upstream::with_token`): no process asks again for a while, longer each time,
                // so a storm refreshes (and, if Spotify rotates, rotates) the refresh token at most
                // about every ten minutes.
                let previous = Cooldown::read(self.state.as_ref()).await;
                let (c, length) =
                    Cooldown::after_unauthorized(previous.as_ref(), Timestamp::from_millis(now));
                let seconds = length.as_secs();
                tracing::warn!(
                    key,
                    cooldown_s = seconds,
                    "Spotify answered 401 to a freshly refreshed access token too; not asking again for a while"
                );
                Some((c, seconds))
            }
            _ => None,
        };
        let until = cooldown
            .as_ref()
            .map(|(_, s)| now.saturating_add(s.saturating_mul(1000)));
        if let (Some((c, _)), Some(until)) = (&cooldown, until) {
            let _ = self
                .state
                .put(COOLDOWN_KEY, &c.record(Timestamp::from_millis(until)))
                .await;
        } else {
            tracing::warn!(key, error = %err, "Spotify could not be asked; serving the last good answer");
        }
        (self.degraded(previous, now), until)
    }

    /// The next step of the Premium cooldown (read from the item, which outlives its end) and
    /// its one ERROR line; `Err(until)` when a Premium cooldown is already running (started by
    /// another key or process since this one asked): nothing to write or log.
    async fn premium_cooldown(&self, key: &str, now: u64) -> Result<(Cooldown, u64), u64> {
        let previous = Cooldown::read(self.state.as_ref()).await;
        if let Some((Cooldown::PremiumRequired { .. }, until)) = &previous {
            if until.as_millis() > now {
                return Err(until.as_millis());
            }
        }
        let (c, length) = Cooldown::after_premium_required(previous.as_ref());
        let seconds = length.as_secs();
        let Cooldown::PremiumRequired { step } = c else {
            unreachable!("after_premium_required gives a Premium cooldown")
        };
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
        Ok((c, seconds))
    }

    /// The first good answer after a Premium cooldown deletes the item (only that one: a newer
    /// cooldown written meanwhile stays), so the next lapse starts again at ten minutes.
    async fn end_premium_cooldown(&self, key: &str, cooldown: Option<&Cooldown>) {
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

    /// The last good answer marked stale while it is recent enough, else nothing.
    fn degraded(&self, previous: Option<&Entry>, now: u64) -> Entry {
        match previous {
            Some(p)
                if p.last_good_ms > 0
                    && !p.value.is_null()
                    && now.saturating_sub(p.last_good_ms) <= self.settings.stale_max_ms =>
            {
                Entry {
                    stale: true,
                    ..p.clone()
                }
            }
            _ => Entry::nothing(previous.map(|p| p.last_good_ms).unwrap_or(0)),
        }
    }

    async fn wait_for_holder(&self, key: &str, ttl_ms: u64) -> Answer {
        let waited = lease::wait_for_holder(self.settings.wait_for_holder, || async {
            self.read(key).await
        })
        .await;
        match waited {
            Some((e, fresh_until)) => {
                self.remember(key, &e, fresh_until, self.clock.now_ms());
                self.answer(&e, fresh_until, ttl_ms)
            }
            None => self.answer(&Entry::nothing(0), self.clock.now_ms(), ttl_ms),
        }
    }

    async fn read(&self, key: &str) -> Option<(Entry, u64)> {
        parse(&self.state.get(key).await.ok()??)
    }

    async fn write(&self, key: &str, entry: &Entry, fresh_until: u64, now: u64) {
        let value = serde_json::to_string(entry).expect("entry serialises");
        let record = Record::kept(
            value,
            Timestamp::from_millis(fresh_until),
            Timestamp::from_millis(now),
            Duration::from_secs(self.settings.keep_s),
        );
        if let Err(e) = self.state.put(key, &record).await {
            tracing::warn!(key, error = %e, "could not store the answer");
        }
    }

    fn answer(&self, e: &Entry, fresh_until: u64, ttl_ms: u64) -> Answer {
        Answer {
            value: e.value.clone(),
            stale: e.stale,
            fresh_until_ms: fresh_until,
            served_at_ms: self.clock.now_ms(),
            window_ms: ttl_ms,
        }
    }
}

/// A stored answer and its `fresh_until`; `None` when the item is not an answer.
fn parse(record: &Record) -> Option<(Entry, u64)> {
    let entry: Entry = serde_json::from_str(&record.value).ok()?;
    Some((entry, record.expires_at.as_millis()))
}
