//! The answer cache, used alike by `/api/spotify` and the profile lists: one read from Spotify
//! serves everyone for the window, across processes. The algorithm and its invariants are in
//! docs/architecture.md ("The answer cache"); the step numbers below are that section's.

mod entry;
mod failure;
mod flight;
mod publish;
#[cfg(test)]
mod tests;
mod tiers;

use std::collections::HashMap;
use std::future::Future;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::Value;
use tokio::sync::OwnedMutexGuard;

use crate::clock::{SharedClock, Timestamp};
use crate::cooldown::Cooldown;
use crate::lease::AnswerLease;
use crate::owner::PrivacySwitch;
use crate::store::{Record, SharedState};

use entry::Entry;
pub use entry::{stored_answer, StoredAnswer};
pub use failure::{Failure, FetchError};
use flight::Flight;
use tiers::Remembered;

/// How often the warning that the privacy switch cannot be read repeats while it lasts.
const BLIND_WARN_EVERY: Duration = Duration::from_secs(30);

/// A cooling answer's window lasts at least this long, so that it is never already expired.
const AT_LEAST: Duration = Duration::from_millis(1);

/// The tunables of the answer cache are these.
#[derive(Debug, Clone)]
pub struct CacheSettings {
    /// This is the `/api/spotify` window (`CACHE_TTL_SECONDS`); each list has its own.
    pub ttl: Duration,
    /// The last good answer may be served as `stale` this long while Spotify fails.
    pub stale_max: Duration,
    /// A fetch lease lasts this long (a dead holder blocks nobody for longer).
    pub lease: Duration,
    /// How long a caller with no copy at all waits for the lease holder's answer.
    pub wait_for_holder: Duration,
    /// The whole Spotify exchange (token, currently-playing, recently-played) is cut off here.
    pub fetch_deadline: Duration,
    /// The store keeps an answer this long for stale use (its clean-up attribute).
    pub keep: Duration,
}

impl CacheSettings {
    /// Returns the defaults, with `ttl` as the `/api/spotify` window.
    pub fn with_ttl(ttl: Duration) -> Self {
        CacheSettings {
            ttl,
            stale_max: Duration::from_secs(15 * 60),
            lease: Duration::from_secs(5),
            wait_for_holder: Duration::from_secs(3),
            fetch_deadline: Duration::from_millis(4_500),
            keep: Duration::from_secs(24 * 3600),
        }
    }
}

/// An answer carries what the HTTP layer needs for its headers.
#[derive(Debug, Clone)]
pub struct Answer {
    pub value: Value,
    /// The answer is served because the source could not be asked.
    pub stale: bool,
    /// The answer is the current one until this moment.
    pub fresh_until: Timestamp,
    /// The answer was served at this moment.
    pub served_at: Timestamp,
    /// The key the answer came from has this window.
    pub window: Duration,
}

impl Answer {
    /// Returns the same answer with another body (a list cut to its `limit`).
    pub fn with_value(self, value: Value) -> Answer {
        Answer { value, ..self }
    }
}

/// A callback that receives the sign-in generation read with each miss (see
/// [`AnswerCache::observing_generation`]).
type GenerationObserver = Box<dyn Fn(Option<String>) + Send + Sync>;

/// A miss keeps what it saw in the shared state for the steps after the read.
struct Seen {
    /// The stored answer is no longer fresh (a fresh one is served at once).
    entry: Option<Entry>,
    /// The cooldown item is kept as read, even when it ran out.
    cooldown: Option<Cooldown>,
    /// The read happened at this moment.
    at: Timestamp,
    /// The sign-in generation to stamp the item with under the lease (see
    /// `tiers::MissRead::generation`).
    generation: Option<String>,
}

/// A request goes one of four ways once the cache has looked at what it holds (steps 1 to 4).
enum Miss {
    /// It is answered without asking any source.
    Serve(Answer),
    /// `CACHE_TTL_SECONDS=0`: every request asks the source.
    Uncached,
    /// A shared cooldown runs until `until`: the source is not asked (step 4).
    Cooling { seen: Seen, until: Timestamp },
    /// Nothing is fresh and no cooldown runs: the source is asked under the lease (steps 5, 6).
    Fetch(Seen),
}

/// A refill asks one of two sources.
#[derive(Debug, Clone, Copy)]
enum Ask {
    /// The configured source is asked: its answer ends a Premium cooldown, its failure may
    /// start one.
    Source,
    /// The fallback source is asked during a cooldown that runs until `until`: its answer
    /// fills the window up to the cooldown's end, and its failures change no cooldown.
    Fallback { until: Timestamp },
}

/// Asking a source gives an answer, a failure, or nothing at all when the page is hidden.
enum Asked {
    Answered(Value),
    Failed(Failure, String),
    /// The local privacy switch was on before or after the call: nothing may be published.
    Hidden,
}

/// A refill publishes an entry and the end of the cooldown its window must not outlast.
struct Outcome {
    entry: Entry,
    cooling_until: Option<Timestamp>,
}

impl Outcome {
    fn nothing() -> Outcome {
        Outcome {
            entry: Entry::nothing(),
            cooling_until: None,
        }
    }
}

/// The cache holds every answer of one process, over the shared state.
pub struct AnswerCache {
    state: Arc<dyn SharedState>,
    clock: SharedClock,
    settings: CacheSettings,
    instance: String,
    privacy: PrivacySwitch,
    flights: Mutex<HashMap<String, Arc<Flight>>>,
    /// The memory tier holds what this process read or wrote last, per key.
    memory: Mutex<HashMap<String, Remembered>>,
    /// A miss last read the shared privacy switch off, from the table itself, at this moment.
    switch_seen_off: Mutex<Option<Timestamp>>,
    /// The "switch cannot be read" warning was last logged at this moment.
    blind_warned: Mutex<Option<Timestamp>>,
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
            switch_seen_off: Mutex::new(None),
            blind_warned: Mutex::new(None),
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

    /// Whether the page is hidden now, read from the switch itself (an unreadable switch counts
    /// as hidden), for the answers that are read from a store without the cache (the history's
    /// parameterised views).
    pub async fn hidden_now(&self) -> bool {
        self.privacy.is_hidden_or_unreadable().await
    }

    /// Returns the `/api/spotify` window.
    pub fn ttl(&self) -> Duration {
        self.settings.ttl
    }

    pub fn settings(&self) -> &CacheSettings {
        &self.settings
    }

    /// Returns the answer under `key` with a window of `ttl`: the copy in memory while fresh
    /// (no call at all), else the fresh copy in the shared state, else one `fetch` across all
    /// processes, else the stale copy or `null`.
    pub async fn get_or_fetch<F, Fut, E>(&self, key: &str, ttl: Duration, fetch: F) -> Answer
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<Value, E>>,
        E: FetchError,
    {
        let (miss, _flight) = self.look_up(key, ttl).await;
        match miss {
            Miss::Serve(answer) => answer,
            Miss::Uncached => self.uncached(fetch).await,
            Miss::Cooling { seen, until } => self.serve_cooling(key, ttl, &seen, until).await,
            Miss::Fetch(seen) => {
                self.fetch_under_lease(key, ttl, seen, Ask::Source, fetch)
                    .await
            }
        }
    }

    /// Works as [`AnswerCache::get_or_fetch`], with another source for the cooldown: while a
    /// cooldown holds, `fallback` (once per window, under the lease) fills the window instead
    /// of `null` when no stale answer is left, when the stale one came from the fallback
    /// itself, or when only the owner can end the cooldown. Its failures never start or change
    /// the cooldown.
    pub async fn get_or_fetch_with_fallback<F, Fut, G, GFut, E>(
        &self,
        key: &str,
        ttl: Duration,
        fetch: F,
        fallback: G,
    ) -> Answer
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<Value, E>>,
        G: FnOnce() -> GFut,
        GFut: Future<Output = Result<Value, E>>,
        E: FetchError,
    {
        let (miss, _flight) = self.look_up(key, ttl).await;
        match miss {
            Miss::Serve(answer) => answer,
            Miss::Uncached => self.uncached(fetch).await,
            Miss::Cooling { seen, until } if self.fallback_fills(&seen) => {
                let ask = Ask::Fallback { until };
                self.fetch_under_lease(key, ttl, seen, ask, fallback).await
            }
            Miss::Cooling { seen, until } => self.serve_cooling(key, ttl, &seen, until).await,
            Miss::Fetch(seen) => {
                self.fetch_under_lease(key, ttl, seen, Ask::Source, fetch)
                    .await
            }
        }
    }

    /// Steps 1 to 4: the local switch and the memory tier, then (holding this process's one
    /// turn for the key, which the caller keeps until the miss is done) the one read of the
    /// shared state.
    async fn look_up(&self, key: &str, ttl: Duration) -> (Miss, Option<OwnedMutexGuard<()>>) {
        if self.privacy.hidden_locally() {
            let nothing = self.answer(&Entry::nothing(), self.clock.now(), ttl);
            return (Miss::Serve(nothing), None);
        }
        if ttl.is_zero() {
            return (Miss::Uncached, None);
        }
        if let Some(answer) = self.remembered(key, ttl) {
            return (Miss::Serve(answer), None);
        }
        // Single flight inside this process; the lease does the same across processes.
        let flight = self.flight(key);
        let joined = flight.waits_done();
        let turn = flight.turn.clone().lock_owned().await;
        // Another request of this process may have filled it while this one waited.
        if let Some(answer) = self.remembered(key, ttl) {
            return (Miss::Serve(answer), Some(turn));
        }
        // Or it waited for another process's holder: that wait's outcome, `null` included,
        // serves this request too, instead of a wait of its own after it.
        if let Some(answer) = flight.waited_since(joined) {
            let served = Answer {
                served_at: self.clock.now(),
                ..answer
            };
            return (Miss::Serve(served), Some(turn));
        }
        (self.read_miss(key, ttl).await, Some(turn))
    }

    /// Says, at most every [`BLIND_WARN_EVERY`], that the table (so the privacy switch) cannot
    /// be read and the source is not asked.
    fn warn_blind(&self, key: &str, now: Timestamp) {
        let mut last = self.blind_warned.lock().unwrap();
        if last.is_none_or(|at| now.since(at) >= BLIND_WARN_EVERY) {
            *last = Some(now);
            tracing::warn!(
                key,
                "the privacy switch cannot be read from the table: serving the last good answer \
                 (or null) without asking the source"
            );
        }
    }

    /// Returns this process's single flight for `key`.
    fn flight(&self, key: &str) -> Arc<Flight> {
        let mut flights = self.flights.lock().unwrap();
        flights.entry(key.to_string()).or_default().clone()
    }

    /// Steps 3 and 4: a fresh copy in the shared state is served and kept in memory; otherwise
    /// the miss goes on to the cooldown or to the fetch, with what it saw.
    async fn read_miss(&self, key: &str, ttl: Duration) -> Miss {
        let now = self.clock.now();
        let read = self.read_for_miss(key).await;
        if read.hidden {
            let e = Entry::nothing();
            self.remember(key, &e, now + ttl, now);
            return Miss::Serve(self.answer(&e, now + ttl, ttl));
        }
        if let Some((e, fresh_until)) = &read.entry {
            if now < *fresh_until {
                self.remember(key, e, *fresh_until, now);
                return Miss::Serve(self.answer(e, *fresh_until, ttl));
            }
        }
        if read.switch_unknown {
            // The table could not be read and the switch was last seen off more than a window
            // ago: the source is not asked on the strength of that (`hide` may have run).
            let e = self.degraded(read.entry.as_ref().map(|(e, _)| e), now);
            self.warn_blind(key, now);
            self.remember(key, &e, now + ttl, now);
            return Miss::Serve(self.answer(&e, now + ttl, ttl));
        }
        let seen = Seen {
            entry: read.entry.map(|(e, _)| e),
            cooldown: read.cooldown,
            at: now,
            generation: read.generation,
        };
        match read.cooldown_until.filter(|until| *until > now) {
            Some(until) => Miss::Cooling { seen, until },
            None => Miss::Fetch(seen),
        }
    }

    /// Step 4: during a cooldown that runs until `until`, serves the last good answer marked
    /// stale (or `null`) for the window, or less when the cooldown ends sooner, without asking
    /// any source.
    async fn serve_cooling(
        &self,
        key: &str,
        ttl: Duration,
        seen: &Seen,
        until: Timestamp,
    ) -> Answer {
        let now = seen.at;
        let e = self.degraded(seen.entry.as_ref(), now);
        let fresh_until = cooling_window(until, now, ttl);
        self.write(key, &e, fresh_until, now).await;
        self.remember(key, &e, fresh_until, now);
        self.answer(&e, fresh_until, ttl)
    }

    /// Tells whether the fallback source fills a cooling window: no stale answer is left, the
    /// stale one is the fallback's own, or the cooldown is one only the owner can end
    /// (Premium), which lasts hours, so the fallback fills in at once rather than after the
    /// stale answer ran out.
    fn fallback_fills(&self, seen: &Seen) -> bool {
        let e = self.degraded(seen.entry.as_ref(), seen.at);
        let lasting = seen.cooldown.as_ref().is_some_and(Cooldown::owner_must_act);
        e.value.is_null() || e.from_fallback || lasting
    }

    /// Step 5: takes the key's lease (on the answer's item) and refills under it. When it is
    /// refused, the item as it is says why: hidden (`null`), a fresh answer that the previous
    /// holder just published (served), or another holder (the stale copy at once, or, with no
    /// copy, that holder's answer waited for).
    async fn fetch_under_lease<F, Fut, E>(
        &self,
        key: &str,
        ttl: Duration,
        seen: Seen,
        ask: Ask,
        fetch: F,
    ) -> Answer
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<Value, E>>,
        E: FetchError,
    {
        // Without the generation from the table (it could not be read) no lease is taken.
        let Some(generation) = seen.generation.clone() else {
            return self.refill(key, ttl, seen, ask, None, fetch).await;
        };
        let lease = AnswerLease::acquire(
            self.state.as_ref(),
            key,
            &self.instance,
            self.settings.lease,
            seen.at,
            &generation,
        )
        .await;
        let lease = match lease {
            Ok(Ok(lease)) => Some(lease),
            Ok(Err(item)) => return self.refused(key, ttl, &seen, item).await,
            // The answer cache may go on without the lease (only Spotify's call count suffers).
            Err(_) => None,
        };
        self.refill(key, ttl, seen, ask, lease, fetch).await
    }

    /// Step 5 when the lease was refused, from the item as it is.
    async fn refused(&self, key: &str, ttl: Duration, seen: &Seen, item: Option<Record>) -> Answer {
        let now = self.clock.now();
        let item = item.unwrap_or_else(|| Record::until("", Timestamp::EPOCH));
        if item.marks.hidden {
            let e = Entry::nothing();
            self.remember(key, &e, now + ttl, now);
            return self.answer(&e, now + ttl, ttl);
        }
        if let Some((e, fresh_until)) = entry::parse(&item).filter(|(_, f)| now < *f) {
            // The previous holder published between our read and our lease.
            self.remember(key, &e, fresh_until, now);
            return self.answer(&e, fresh_until, ttl);
        }
        let held = item
            .marks
            .lease
            .as_ref()
            .is_some_and(|(_, until)| now <= *until);
        match &seen.entry {
            Some(e) => self.answer(e, seen.at, ttl),
            None if held => {
                let answer = self.wait_for_holder(key, ttl).await;
                self.flight(key).finish_wait(&answer);
                answer
            }
            // Refused for another sign-in, stamped since the read: nothing now, the next
            // request reads the new one.
            None => self.answer(&Entry::nothing(), now, ttl),
        }
    }

    /// Step 6: under the lease (taken only while no fresh answer was there, so there is nothing
    /// to read again), asks the source and publishes what to serve.
    async fn refill<F, Fut, E>(
        &self,
        key: &str,
        ttl: Duration,
        seen: Seen,
        ask: Ask,
        lease: Option<AnswerLease<'_>>,
        fetch: F,
    ) -> Answer
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<Value, E>>,
        E: FetchError,
    {
        let asked = self.ask(fetch).await;
        let now = self.clock.now();
        let outcome = match (asked, ask) {
            (Asked::Hidden, _) => Outcome::nothing(),
            (Asked::Answered(value), Ask::Source) => {
                self.end_premium_cooldown(key, seen.cooldown.as_ref()).await;
                Outcome {
                    entry: Entry::good(value, now),
                    cooling_until: None,
                }
            }
            (Asked::Answered(value), Ask::Fallback { until }) => Outcome {
                entry: Entry {
                    from_fallback: true,
                    ..Entry::good(value, now)
                },
                cooling_until: Some(until),
            },
            (Asked::Failed(failure, error), Ask::Source) => {
                self.on_failure(key, failure, &error, seen.entry.as_ref(), now)
                    .await
            }
            (Asked::Failed(_, error), Ask::Fallback { until }) => {
                tracing::warn!(
                    key,
                    error,
                    "the fallback source could not be asked during the cooldown either"
                );
                Outcome {
                    entry: self.degraded(seen.entry.as_ref(), now),
                    cooling_until: Some(until),
                }
            }
        };
        let generation = seen.generation.unwrap_or_default();
        self.publish(key, ttl, outcome, lease, &generation).await
    }

    /// Runs `fetch` within the fetch deadline, unless the local switch (a file, asked here; the
    /// shared switch was read with the miss) hides the page. The switch is asked again after
    /// the call: `hide` drops every cached answer, and one fetched while it ran must not come
    /// back.
    async fn ask<F, Fut, E>(&self, fetch: F) -> Asked
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<Value, E>>,
        E: FetchError,
    {
        let local_switch = !self.shared_switch();
        if local_switch && self.privacy.is_hidden().await {
            return Asked::Hidden;
        }
        match tokio::time::timeout(self.settings.fetch_deadline, fetch()).await {
            Ok(Ok(_)) if local_switch && self.privacy.is_hidden().await => Asked::Hidden,
            Ok(Ok(value)) => Asked::Answered(value),
            Ok(Err(e)) => Asked::Failed(e.failure(), e.to_string()),
            Err(_) => Asked::Failed(
                Failure::Transient,
                format!(
                    "no answer within the fetch deadline ({} ms)",
                    self.settings.fetch_deadline.as_millis()
                ),
            ),
        }
    }

    /// `CACHE_TTL_SECONDS=0`: every request asks Spotify, the way a typical copy-pasted route
    /// works. Only for comparison (`scripts/bench`'s baseline) and debugging.
    async fn uncached<F, Fut, E>(&self, fetch: F) -> Answer
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<Value, E>>,
        E: FetchError,
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
        let now = self.clock.now();
        Answer {
            value,
            stale: false,
            fresh_until: now,
            served_at: now,
            window: Duration::ZERO,
        }
    }

    fn answer(&self, e: &Entry, fresh_until: Timestamp, ttl: Duration) -> Answer {
        Answer {
            value: e.value.clone(),
            stale: e.stale,
            fresh_until,
            served_at: self.clock.now(),
            window: ttl,
        }
    }
}

/// Returns the window of an answer served during a cooldown that ends at `until`: one `ttl`
/// from `now`, or less when the cooldown ends sooner, but never already over.
fn cooling_window(until: Timestamp, now: Timestamp, ttl: Duration) -> Timestamp {
    until.min(now + ttl).max(now + AT_LEAST)
}
