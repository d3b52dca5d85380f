//! The answer: one read from Spotify serves everyone for the cache window.
//!
//! Readers decide freshness themselves from the stored `fresh until` moment (a store's TTL
//! clean-up is lazy). When the answer is stale, one caller across all processes takes a short
//! lease and asks Spotify; the others serve the stale copy at once, or wait briefly for the
//! holder when there is no copy. Failures serve the last good answer marked `stale` for a
//! bounded time, then `null`; a `429` stops every process from calling until `Retry-After`.

use std::collections::HashMap;
use std::future::Future;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::clock::SharedClock;
use crate::error::Error;
use crate::model::NowPlaying;
use crate::secret::Secret;
use crate::spotify::{SpotifyClient, SpotifyError};
use crate::store::{Record, SharedState};
use crate::tokens::TokenKeeper;

pub const ANSWER_KEY: &str = "answer:now";
pub const COOLDOWN_KEY: &str = "cooldown";
pub const HIDDEN_KEY: &str = "hidden";
/// When Spotify answers `401` even to an access token refreshed just now (after the retries of
/// [`NowPlayingService::with_token`]): how long no process asks again. Without it, every window
/// would cost three API calls and two refreshes (each rotating the refresh token and writing
/// the credential store) for as long as Spotify keeps doing so.
const UNAUTHORIZED_COOLDOWN_S: u64 = 60;

/// Tunables of the answer cache.
#[derive(Debug, Clone)]
pub struct CacheSettings {
    /// The cache window (`CACHE_TTL_SECONDS`).
    pub ttl_ms: u64,
    /// How long the last good answer may be served as `stale` while Spotify fails.
    pub stale_max_ms: u64,
    /// How long a fetch lease lasts (a dead holder blocks nobody for longer).
    pub lease_ms: u64,
    /// How long a caller with no copy at all waits for the lease holder's answer.
    pub wait_for_holder: Duration,
    /// The whole Spotify exchange (token, currently-playing, recently-played) is cut off here.
    pub fetch_deadline: Duration,
    /// How long the store keeps an answer for stale use (its TTL attribute).
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

/// What the cache holds per key.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct Entry {
    /// The answer (`null` for nothing to show).
    v: Value,
    /// When the answer was last read from Spotify successfully (epoch ms; 0: never).
    good_at: u64,
    /// Served because Spotify could not be asked.
    #[serde(default)]
    stale: bool,
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
) -> Result<Option<StoredAnswer>, crate::store::StoreError> {
    let Some(record) = state.get(key).await? else {
        return Ok(None);
    };
    Ok(serde_json::from_str::<Entry>(&record.value)
        .ok()
        .map(|e| StoredAnswer {
            value: e.v,
            good_at_ms: e.good_at,
            stale: e.stale,
            fresh_until_ms: record.expires_at_ms,
        }))
}

/// An answer with its freshness, as the HTTP layer needs it.
#[derive(Debug, Clone)]
pub struct Cached {
    pub value: Value,
    pub stale: bool,
    /// Epoch ms until which this answer is the current one.
    pub fresh_until_ms: u64,
}

pub struct NowPlayingService {
    spotify: SpotifyClient,
    tokens: TokenKeeper,
    state: Arc<dyn SharedState>,
    clock: SharedClock,
    settings: CacheSettings,
    show_recent: bool,
    owner: String,
    flights: Mutex<HashMap<String, Arc<tokio::sync::Mutex<()>>>>,
    /// A local privacy switch (a file), for setups without a shared table.
    hidden_file: Option<std::path::PathBuf>,
}

impl NowPlayingService {
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        spotify: SpotifyClient,
        tokens: TokenKeeper,
        state: Arc<dyn SharedState>,
        clock: SharedClock,
        settings: CacheSettings,
        show_recent: bool,
        owner: String,
        hidden_file: Option<std::path::PathBuf>,
    ) -> Self {
        NowPlayingService {
            spotify,
            tokens,
            state,
            clock,
            settings,
            show_recent,
            owner,
            flights: Mutex::new(HashMap::new()),
            hidden_file,
        }
    }

    pub fn clock(&self) -> &SharedClock {
        &self.clock
    }

    pub fn settings(&self) -> &CacheSettings {
        &self.settings
    }

    pub fn state(&self) -> &Arc<dyn SharedState> {
        &self.state
    }

    pub fn tokens(&self) -> &TokenKeeper {
        &self.tokens
    }

    pub fn spotify(&self) -> &SpotifyClient {
        &self.spotify
    }

    /// The answer for `GET /api/spotify`.
    pub async fn now_playing(&self) -> Cached {
        let ttl = self.settings.ttl_ms;
        let mut cached = self
            .cached(ANSWER_KEY, ttl, || async {
                let np = self.fetch_now_playing().await?;
                Ok(serde_json::to_value(np).expect("NowPlaying serialises"))
            })
            .await;
        if cached.stale {
            if let Value::Object(map) = &mut cached.value {
                map.insert("stale".into(), Value::Bool(true));
            }
        }
        cached
    }

    /// Reads Spotify: currently-playing, and recently-played when nothing plays.
    async fn fetch_now_playing(&self) -> Result<Option<NowPlaying>, Error> {
        let current = self
            .with_token(|token| async move {
                self.spotify
                    .currently_playing(&token, self.clock.now_ms())
                    .await
            })
            .await?;
        if current.is_some() || !self.show_recent {
            return Ok(current);
        }
        let recent = self
            .with_token(|token| async move {
                self.spotify
                    .recently_played(&token, 1, self.clock.now_ms())
                    .await
            })
            .await?;
        Ok(recent.into_iter().next())
    }

    /// Runs a Spotify call with the access token; on `401`, gets another token and retries.
    /// The next token may be the shared copy, which another process published but Spotify has
    /// revoked as well: a second `401` rejects that one too, and the third try has a token
    /// refreshed just now. At most three calls.
    pub async fn with_token<T, F, Fut>(&self, call: F) -> Result<T, Error>
    where
        F: Fn(Secret) -> Fut,
        Fut: Future<Output = Result<T, SpotifyError>>,
    {
        let mut token = self.tokens.access_token(None).await?;
        for _ in 0..2 {
            match call(token.clone()).await {
                Err(SpotifyError::Unauthorized) => {
                    token = self.tokens.access_token(Some(&token)).await?;
                }
                other => return Ok(other?),
            }
        }
        Ok(call(token).await?)
    }

    /// Whether the owner switched the page off (`nowplaying hide`).
    pub async fn is_hidden(&self) -> bool {
        self.hidden_locally()
            || matches!(self.state.get(HIDDEN_KEY).await, Ok(Some(r)) if r.value == "true")
    }

    /// The local switch (a file, without a shared table). `hide` cannot drop the answers held in
    /// a running process's memory, so this is checked on every request; it costs a `stat`. With
    /// a table, `hide` deletes the cached answers and the switch is read on cache misses only.
    fn hidden_locally(&self) -> bool {
        self.hidden_file.as_ref().is_some_and(|p| p.exists())
    }

    /// The cache discipline for one key: fresh copy, single flight, lease, cooldown, stale.
    pub async fn cached<F, Fut>(&self, key: &str, ttl_ms: u64, fetch: F) -> Cached
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<Value, Error>>,
    {
        let now = self.clock.now_ms();
        if self.hidden_locally() {
            return Cached {
                value: Value::Null,
                stale: false,
                fresh_until_ms: now,
            };
        }
        if ttl_ms == 0 {
            return self.uncached(fetch).await;
        }
        let entry = self.read(key).await;
        if let Some((e, fresh_until)) = &entry {
            if now < *fresh_until {
                return cached(e, *fresh_until);
            }
        }

        // Single flight inside this process; the lease does the same across processes.
        let flight = {
            let mut flights = self.flights.lock().unwrap();
            flights.entry(key.to_string()).or_default().clone()
        };
        let _guard = flight.lock().await;
        let now = self.clock.now_ms();
        let entry = self.read(key).await;
        if let Some((e, fresh_until)) = &entry {
            if now < *fresh_until {
                return cached(e, *fresh_until);
            }
        }
        let previous = entry.map(|(e, _)| e);

        if let Some(until) = self.cooldown_until(now).await {
            let e = self.degraded(previous.as_ref(), now);
            let fresh_until = until.min(now + ttl_ms).max(now + 1);
            self.write(key, &e, fresh_until, now).await;
            return cached(&e, fresh_until);
        }

        let lease_key = format!("lease:{key}");
        let lease = Record {
            value: String::new(),
            expires_at_ms: now + self.settings.lease_ms,
            owner: Some(self.owner.clone()),
            ttl_s: (now + self.settings.lease_ms) / 1000 + 3600,
        };
        let taken = self
            .state
            .put_if_expired(&lease_key, &lease, now)
            .await
            .unwrap_or(true);
        if !taken {
            return match previous {
                Some(e) => cached(&e, now),
                None => self.wait_for_holder(key).await,
            };
        }
        // The previous holder may have written its answer and released the lease between our
        // read and our lease: then that answer is the one for this window.
        if let Some((e, fresh_until)) = self.read(key).await {
            if now < fresh_until {
                let _ = self.state.delete_if_owner(&lease_key, &self.owner).await;
                return cached(&e, fresh_until);
            }
        }

        let hidden = Entry {
            v: Value::Null,
            good_at: 0,
            stale: false,
        };
        let (e, cooldown) = if self.is_hidden().await {
            (hidden, None)
        } else {
            let result = match tokio::time::timeout(self.settings.fetch_deadline, fetch()).await {
                Ok(r) => r,
                Err(_) => Err(Error::Spotify(SpotifyError::Upstream("timed out".into()))),
            };
            let now = self.clock.now_ms();
            match result {
                // `hide` drops every cached answer; one fetched while it ran must not come back.
                Ok(_) if self.is_hidden().await => (hidden, None),
                Ok(v) => (
                    Entry {
                        v,
                        good_at: now,
                        stale: false,
                    },
                    None,
                ),
                Err(err) => self.on_failure(key, err, previous.as_ref(), now).await,
            }
        };
        let now = self.clock.now_ms();
        let fresh_until = match cooldown {
            Some(until) => until.min(now + ttl_ms).max(now + 1),
            None => now + ttl_ms,
        };
        self.write(key, &e, fresh_until, now).await;
        let _ = self.state.delete_if_owner(&lease_key, &self.owner).await;
        cached(&e, fresh_until)
    }

    /// `CACHE_TTL_SECONDS=0`: every request asks Spotify, the way a typical copy-pasted route
    /// works. Only for comparison (`scripts/bench`'s baseline) and debugging.
    async fn uncached<F, Fut>(&self, fetch: F) -> Cached
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<Value, Error>>,
    {
        let value = if self.is_hidden().await {
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
        Cached {
            value,
            stale: false,
            fresh_until_ms: self.clock.now_ms(),
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
            return (
                Entry {
                    v: Value::Null,
                    good_at: 0,
                    stale: false,
                },
                None,
            );
        }
        let cooldown_s = match &err {
            Error::Spotify(SpotifyError::RateLimited {
                retry_after_s,
                quota_exceeded,
            }) => {
                tracing::warn!(
                    key,
                    retry_after_s,
                    quota_exceeded,
                    "Spotify rate limit: no calls until Retry-After has passed"
                );
                Some(*retry_after_s)
            }
            Error::Spotify(SpotifyError::Unauthorized) => {
                tracing::warn!(
                    key,
                    cooldown_s = UNAUTHORIZED_COOLDOWN_S,
                    "Spotify answered 401 to a freshly refreshed access token too; not asking again for a while"
                );
                Some(UNAUTHORIZED_COOLDOWN_S)
            }
            _ => None,
        };
        let until = cooldown_s.map(|s| now.saturating_add(s.saturating_mul(1000)));
        if let Some(until) = until {
            let record = Record {
                value: until.to_string(),
                expires_at_ms: until,
                owner: None,
                ttl_s: until / 1000 + 3600,
            };
            let _ = self.state.put(COOLDOWN_KEY, &record).await;
        } else {
            tracing::warn!(key, error = %err, "Spotify could not be asked; serving the last good answer");
        }
        (self.degraded(previous, now), until)
    }

    /// The last good answer marked stale while it is recent enough, else nothing.
    fn degraded(&self, previous: Option<&Entry>, now: u64) -> Entry {
        match previous {
            Some(p)
                if p.good_at > 0
                    && !p.v.is_null()
                    && now.saturating_sub(p.good_at) <= self.settings.stale_max_ms =>
            {
                Entry {
                    v: p.v.clone(),
                    good_at: p.good_at,
                    stale: true,
                }
            }
            _ => Entry {
                v: Value::Null,
                good_at: previous.map(|p| p.good_at).unwrap_or(0),
                stale: false,
            },
        }
    }

    async fn cooldown_until(&self, now: u64) -> Option<u64> {
        match self.state.get(COOLDOWN_KEY).await {
            Ok(Some(r)) if r.expires_at_ms > now => Some(r.expires_at_ms),
            _ => None,
        }
    }

    async fn wait_for_holder(&self, key: &str) -> Cached {
        let deadline = tokio::time::Instant::now() + self.settings.wait_for_holder;
        loop {
            tokio::time::sleep(Duration::from_millis(100)).await;
            if let Some((e, fresh_until)) = self.read(key).await {
                return cached(&e, fresh_until);
            }
            if tokio::time::Instant::now() >= deadline {
                let now = self.clock.now_ms();
                return Cached {
                    value: Value::Null,
                    stale: false,
                    fresh_until_ms: now,
                };
            }
        }
    }

    async fn read(&self, key: &str) -> Option<(Entry, u64)> {
        let record = self.state.get(key).await.ok()??;
        let entry: Entry = serde_json::from_str(&record.value).ok()?;
        Some((entry, record.expires_at_ms))
    }

    async fn write(&self, key: &str, entry: &Entry, fresh_until: u64, now: u64) {
        let record = Record {
            value: serde_json::to_string(entry).expect("entry serialises"),
            expires_at_ms: fresh_until,
            owner: None,
            ttl_s: now / 1000 + self.settings.keep_s,
        };
        if let Err(e) = self.state.put(key, &record).await {
            tracing::warn!(key, error = %e, "could not store the answer");
        }
    }
}

fn cached(e: &Entry, fresh_until: u64) -> Cached {
    Cached {
        value: e.v.clone(),
        stale: e.stale,
        fresh_until_ms: fresh_until,
    }
}
