//! The history in this process's memory (tests and the demo): a map ordered by time and key.

use std::collections::BTreeMap;
use std::num::NonZeroUsize;
use std::sync::Mutex;

use async_trait::async_trait;

use super::{validate_all, AddOutcome, Cursor, HistoryStore, Page, Play, PlaySource};
use crate::clock::Timestamp;
use crate::store::StoreError;

/// Plays in memory, keyed by `(played_at, key)`.
#[derive(Debug, Default)]
pub struct MemoryHistory {
    plays: Mutex<BTreeMap<(Timestamp, String), Play>>,
}

impl MemoryHistory {
    pub fn new() -> MemoryHistory {
        MemoryHistory::default()
    }
}

#[async_trait]
impl HistoryStore for MemoryHistory {
    async fn add(&self, plays: &[Play]) -> Result<AddOutcome, StoreError> {
        validate_all(&self.describe(), plays)?;
        let mut stored = self.plays.lock().expect("history lock");
        let mut outcome = AddOutcome::default();
        for play in plays {
            match stored.entry((play.played_at, play.key.clone())) {
                std::collections::btree_map::Entry::Occupied(_) => outcome.already += 1,
                std::collections::btree_map::Entry::Vacant(slot) => {
                    slot.insert(play.clone());
                    outcome.new += 1;
                }
            }
        }
        Ok(outcome)
    }

    async fn range(
        &self,
        from: Timestamp,
        to: Timestamp,
        limit: NonZeroUsize,
        cursor: Option<&Cursor>,
    ) -> Result<Page, StoreError> {
        if from >= to {
            return Ok(Page::default());
        }
        let stored = self.plays.lock().expect("history lock");
        let mut plays: Vec<Play> = stored
            .range((from, String::new())..(to, String::new()))
            .rev()
            .filter(|((at, key), _)| cursor.is_none_or(|c| c.precedes(*at, key)))
            .take(limit.get() + 1)
            .map(|(_, p)| p.clone())
            .collect();
        let next = if plays.len() > limit.get() {
            plays.truncate(limit.get());
            plays.last().map(Cursor::after)
        } else {
            None
        };
        Ok(Page { plays, next })
    }

    async fn newest(&self, source: PlaySource) -> Result<Option<Timestamp>, StoreError> {
        let stored = self.plays.lock().expect("history lock");
        Ok(stored
            .values()
            .rev()
            .find(|p| p.source == source)
            .map(|p| p.played_at))
    }

    async fn forget(&self, before: Option<Timestamp>) -> Result<u64, StoreError> {
        let mut stored = self.plays.lock().expect("history lock");
        let was = stored.len();
        match before {
            None => stored.clear(),
            Some(before) => stored.retain(|(at, _), _| *at >= before),
        }
        Ok((was - stored.len()) as u64)
    }

    fn describe(&self) -> String {
        "the history in memory".to_string()
    }
}
