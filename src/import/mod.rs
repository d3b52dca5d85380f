//! Filling the listening history from elsewhere: Spotify's data export
//! ([`spotify_export`]) and Last.fm's scrobbles ([`lastfm`]). Both write through
//! [`HistoryStore::add`] in batches, so a play already stored (by an earlier import, a
//! collection, or another source's identical play) is counted and never written twice: running
//! an import again leaves the same history. What is kept and what is not: docs/history.md.

pub mod lastfm;
pub mod spotify_export;

use std::collections::BTreeMap;
use std::fmt;

use crate::history::{HistoryStore, Play};

/// How many plays one [`HistoryStore::add`] call writes.
pub const BATCH: usize = 500;

/// The most problems the summary lists one by one (the rest are counted).
pub const LISTED_PROBLEMS: usize = 20;

/// What an import did, printed at its end.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ImportSummary {
    /// Plays stored by this run.
    pub new: usize,
    /// Plays that were stored already.
    pub already: usize,
    /// Entries left out on purpose, counted by why.
    pub skipped: BTreeMap<&'static str, usize>,
    /// Entries or files that could not be read, each with its path and place.
    pub malformed: Vec<String>,
    /// What the owner should know about the run (printed first).
    pub notes: Vec<String>,
}

impl ImportSummary {
    /// Counts one entry left out for `reason`.
    pub fn skip(&mut self, reason: &'static str) {
        *self.skipped.entry(reason).or_default() += 1;
    }

    /// The number of entries left out on purpose.
    pub fn skipped_total(&self) -> usize {
        self.skipped.values().sum()
    }

    /// Stores `plays` in batches of [`BATCH`], counting what was new.
    pub async fn add(&mut self, store: &dyn HistoryStore, plays: &[Play]) -> Result<(), String> {
        for batch in plays.chunks(BATCH) {
            let outcome = store
                .add(batch)
                .await
                .map_err(|e| format!("could not write to {}: {e}", store.describe()))?;
            self.new += outcome.new;
            self.already += outcome.already;
        }
        Ok(())
    }
}

impl fmt::Display for ImportSummary {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for note in &self.notes {
            writeln!(f, "{note}")?;
        }
        writeln!(
            f,
            "{} new plays stored, {} already stored.",
            self.new, self.already
        )?;
        if !self.skipped.is_empty() {
            let parts: Vec<String> = self
                .skipped
                .iter()
                .map(|(why, n)| format!("{n} {why}"))
                .collect();
            writeln!(
                f,
                "Skipped {} entries: {}.",
                self.skipped_total(),
                parts.join(", ")
            )?;
        }
        if !self.malformed.is_empty() {
            writeln!(
                f,
                "{} could not be read (the rest was imported):",
                self.malformed.len()
            )?;
            for m in self.malformed.iter().take(LISTED_PROBLEMS) {
                writeln!(f, "  {m}")?;
            }
            if self.malformed.len() > LISTED_PROBLEMS {
                writeln!(
                    f,
                    "  ... and {} more",
                    self.malformed.len() - LISTED_PROBLEMS
                )?;
            }
        }
        Ok(())
    }
}
