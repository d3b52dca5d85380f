//! What the cache stores per key, and how it reads it back.

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::clock::Timestamp;
use crate::store::{Record, SharedState, StoreError};

/// The cache stores one entry per key (the field names and their units are the stored format).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(super) struct Entry {
    /// The answer is `null` when there is nothing to show.
    #[serde(rename = "v")]
    pub value: Value,
    /// This is the moment the answer was last read from the source successfully (stored as
    /// epoch milliseconds; the epoch itself means never).
    #[serde(rename = "good_at")]
    pub last_good: Timestamp,
    #[serde(default)]
    pub stale: bool,
    /// The entry was read from the fallback source during a cooldown, so the next window asks
    /// again.
    #[serde(default, rename = "fb", skip_serializing_if = "std::ops::Not::not")]
    pub from_fallback: bool,
}

impl Entry {
    /// Returns an entry with nothing to show, never read successfully.
    pub fn nothing() -> Entry {
        Entry::nothing_since(Timestamp::EPOCH)
    }

    /// Returns an entry with nothing to show that keeps the moment of the last good answer.
    pub fn nothing_since(last_good: Timestamp) -> Entry {
        Entry {
            value: Value::Null,
            last_good,
            stale: false,
            from_fallback: false,
        }
    }

    /// Returns a good answer read at `now`.
    pub fn good(value: Value, now: Timestamp) -> Entry {
        Entry {
            value,
            last_good: now,
            stale: false,
            from_fallback: false,
        }
    }

    /// Returns the record that stores this entry: it is current until `fresh_until` and kept
    /// for `keep` from `now` for stale use.
    pub fn record(
        &self,
        fresh_until: Timestamp,
        now: Timestamp,
        keep: std::time::Duration,
    ) -> Record {
        let value = serde_json::to_string(self).expect("entry serialises");
        Record::kept(value, fresh_until, now, keep)
    }
}

/// Parses a stored answer and its `fresh_until`; returns `None` when the item is not an answer.
pub(super) fn parse(record: &Record) -> Option<(Entry, Timestamp)> {
    let entry: Entry = serde_json::from_str(&record.value).ok()?;
    Some((entry, record.expires_at))
}

/// The cached answer as stored is what `nowplaying status` shows.
#[derive(Debug, Clone)]
pub struct StoredAnswer {
    pub value: Value,
    /// This is the moment it was last read from the source successfully ([`Timestamp::EPOCH`]:
    /// never).
    pub good_at: Timestamp,
    pub stale: bool,
    /// It is the current answer until this moment.
    pub fresh_until: Timestamp,
}

/// Reads the cached answer under `key` from `state` without changing anything.
pub async fn stored_answer(
    state: &dyn SharedState,
    key: &str,
) -> Result<Option<StoredAnswer>, StoreError> {
    let Some(record) = state.get(key).await? else {
        return Ok(None);
    };
    Ok(parse(&record).map(|(e, fresh_until)| StoredAnswer {
        value: e.value,
        good_at: e.last_good,
        stale: e.stale,
        fresh_until,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_stored_format_is_unchanged() {
        let e = Entry {
            from_fallback: true,
            ..Entry::good(
                serde_json::json!({"name": "Song"}),
                Timestamp::from_millis(42),
            )
        };
        assert_eq!(
            serde_json::to_string(&e).unwrap(),
            r#"{"v":{"name":"Song"},"good_at":42,"stale":false,"fb":true}"#
        );
        let old: Entry = serde_json::from_str(r#"{"v":null,"good_at":7}"#).unwrap();
        assert_eq!(old.last_good, Timestamp::from_millis(7));
        assert!(!old.stale && !old.from_fallback);
        assert_eq!(
            serde_json::to_string(&Entry::nothing()).unwrap(),
            r#"{"v":null,"good_at":0,"stale":false}"#
        );
    }
}
