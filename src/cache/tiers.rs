//! The two tiers the answer cache reads and writes: this process's memory (step 1) and the
//! shared state (the one read of a miss in step 3, the re-read and the writes of step 6).

use std::collections::HashMap;
use std::time::Duration;

use super::entry::{parse, Entry};
use super::{Answer, AnswerCache};
use crate::clock::Timestamp;
use crate::cooldown::Cooldown;
use crate::keys::{AUTH_GENERATION_KEY, COOLDOWN_KEY, HIDDEN_KEY};
use crate::lease;
use crate::owner::PrivacySwitch;
use crate::store::Origin;

/// A miss reads all of this from the shared state, in one call.
pub(super) struct MissRead {
    pub entry: Option<(Entry, Timestamp)>,
    pub cooldown_until: Option<Timestamp>,
    /// The cooldown item's reason, even when it ran out (`None`: none, or not one we know).
    pub cooldown: Option<Cooldown>,
    pub hidden: bool,
    /// The table could not be read, and the switch was last read off from it more than one
    /// `/api/spotify` window ago: whether the page is hidden is not known.
    pub switch_unknown: bool,
    /// The sign-in generation the answer's item is stamped with under the lease (`""`: none
    /// written yet); `None` when it is not known from the table (then no lease is taken).
    pub generation: Option<String>,
}

/// This process holds an answer in memory and serves it without asking the shared state until
/// `until` (its `fresh_until`, capped at one `/api/spotify` window from when it was read).
pub(super) struct Remembered {
    pub entry: Entry,
    pub fresh_until: Timestamp,
    pub until: Timestamp,
}

impl AnswerCache {
    /// Tells whether the privacy switch lives in the shared state (read with every miss)
    /// rather than in a file.
    pub(super) fn shared_switch(&self) -> bool {
        matches!(self.privacy, PrivacySwitch::Shared(_))
    }

    /// Returns the copy this process holds while it may be served without asking the shared
    /// state.
    pub(super) fn remembered(&self, key: &str, ttl: Duration) -> Option<Answer> {
        let now = self.clock.now();
        let memory = self.memory.lock().unwrap();
        let r = memory.get(key)?;
        (now < r.until).then(|| self.answer(&r.entry, r.fresh_until, ttl))
    }

    /// Keeps `e` in memory until `fresh_until`, but at most one `/api/spotify` window from `now`:
    /// that bounds how long a process goes without seeing the privacy switch, `disconnect` or a
    /// newer answer, even for the lists' longer windows.
    pub(super) fn remember(&self, key: &str, e: &Entry, fresh_until: Timestamp, now: Timestamp) {
        let until = fresh_until.min(now + self.settings.ttl);
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

    /// Reads everything a miss needs: the answer's item and the cooldown in one call. The
    /// item says by itself whether the page is hidden and which sign-in it was written under
    /// (its marks); when it does not (no item yet, or one written by an older version or a plain
    /// write), a second call reads the privacy switch and the sign-in generation from their own
    /// items. The generation goes to the token keeper, which then need not read it itself.
    pub(super) async fn read_for_miss(&self, key: &str) -> MissRead {
        let shared_switch = self.shared_switch();
        let now = self.clock.now();
        let mut keys = vec![key, COOLDOWN_KEY];
        if !shared_switch && self.observer.is_some() {
            keys.push(AUTH_GENERATION_KEY);
        }
        let (mut items, origin) = self.read_items(key, &keys).await;
        let mut from_table = origin == Origin::Store;
        let item = items.remove(key);
        let cooldown = items.remove(COOLDOWN_KEY);
        let (hidden, generation) = match item.as_ref().filter(|r| r.marks.stamped()) {
            Some(r) if shared_switch => (r.marks.hidden, r.marks.generation.clone()),
            None if shared_switch && from_table => {
                let (mut own, origin) = self
                    .read_items(key, &[HIDDEN_KEY, AUTH_GENERATION_KEY])
                    .await;
                from_table = origin == Origin::Store;
                // The switch as `owner::PrivacySwitch::set` writes it.
                let hidden = own.get(HIDDEN_KEY).is_some_and(|r| r.value == "true");
                let generation = own.remove(AUTH_GENERATION_KEY).map(|r| r.value);
                (
                    from_table && hidden,
                    from_table.then(|| generation.unwrap_or_default()),
                )
            }
            _ if shared_switch => (false, None),
            // A switch in a file: the generation (for the keeper and the stamp) is read with
            // the answer.
            _ => (
                false,
                Some(
                    items
                        .remove(AUTH_GENERATION_KEY)
                        .map(|r| r.value)
                        .unwrap_or_default(),
                ),
            ),
        };
        if let Some(observe) = &self.observer {
            observe(generation.clone().filter(|g| !g.is_empty()));
        }
        let switch_unknown = shared_switch && !from_table && !self.switch_off_within_window(now);
        if shared_switch && from_table && !hidden {
            *self.switch_seen_off.lock().unwrap() = Some(now);
        }
        MissRead {
            entry: item.as_ref().and_then(parse),
            cooldown_until: cooldown.as_ref().map(|r| r.expires_at),
            cooldown: cooldown.and_then(|r| serde_json::from_str(&r.value).ok()),
            hidden,
            switch_unknown,
            generation: generation.filter(|_| from_table || !shared_switch),
        }
    }

    /// Reads `keys` in one call; a failure reads as nothing, from the fallback.
    async fn read_items(
        &self,
        key: &str,
        keys: &[&str],
    ) -> (HashMap<String, crate::store::Record>, Origin) {
        match self.state.get_many_with_origin(keys).await {
            Ok(read) => read,
            Err(e) => {
                tracing::debug!(key, error = %e, "could not read the shared state");
                (HashMap::new(), Origin::Fallback)
            }
        }
    }

    /// Tells whether a miss read the shared switch off from the table less than one
    /// `/api/spotify` window before `now`: only then may a miss that cannot read the table
    /// still ask the source.
    fn switch_off_within_window(&self, now: Timestamp) -> bool {
        self.switch_seen_off
            .lock()
            .unwrap()
            .is_some_and(|at| now < at + self.settings.ttl)
    }

    pub(super) async fn wait_for_holder(&self, key: &str, ttl: Duration) -> Answer {
        let waited = lease::wait_for_holder(self.settings.wait_for_holder, || async {
            self.read(key).await
        })
        .await;
        match waited {
            Some((e, fresh_until)) => {
                self.remember(key, &e, fresh_until, self.clock.now());
                self.answer(&e, fresh_until, ttl)
            }
            None => self.answer(&Entry::nothing(), self.clock.now(), ttl),
        }
    }

    pub(super) async fn read(&self, key: &str) -> Option<(Entry, Timestamp)> {
        parse(&self.state.get(key).await.ok()??)
    }

    pub(super) async fn write(
        &self,
        key: &str,
        entry: &Entry,
        fresh_until: Timestamp,
        now: Timestamp,
    ) {
        let record = entry.record(fresh_until, now, self.settings.keep);
        if let Err(e) = self.state.put(key, &record).await {
            tracing::warn!(key, error = %e, "could not store the answer");
        }
    }
}
