//! Filling the listening history from elsewhere: Spotify's data export
//! ([`spotify_export`]) and Last.fm's scrobbles ([`lastfm`]). Both write through
//! [`HistoryStore::add`] in batches, so a play already stored (by an earlier import, a
//! collection, or another source's identical play) is counted and never written twice: running
//! an import again leaves the same history. What is kept and what is not: docs/history.md.

pub mod lastfm;
pub mod spotify_export;

use std::collections::{BTreeMap, HashMap};
use std::fmt;
use std::num::NonZeroUsize;
use std::time::Duration;

use crate::clock::Timestamp;
use crate::history::{HistoryStore, Play, PlaySource};

/// How far apart the export's time of a play (`ts`, to the second) and the collected one
/// (recently-played's `played_at`, to the millisecond) may be for the two to be one play.
/// Two real plays of one item end at least 30 s apart (a collected play lasted that long).
pub const SAME_PLAY: Duration = Duration::from_secs(10);

/// Leaves out of `plays` (from the export) each one that a collected play of the same item,
/// within [`SAME_PLAY`], stands for already: the two sources date a play differently, so the
/// store's identity alone would keep both. Reads the stored history over the plays' span once.
/// Returns the plays left and how many were left out.
pub async fn without_collected(
    store: &dyn HistoryStore,
    plays: Vec<Play>,
) -> Result<(Vec<Play>, usize), String> {
    let (Some(first), Some(last)) = (
        plays.iter().map(|p| p.played_at).min(),
        plays.iter().map(|p| p.played_at).max(),
    ) else {
        return Ok((plays, 0));
    };
    let from = Timestamp::from_millis(
        first
            .as_millis()
            .saturating_sub(SAME_PLAY.as_millis() as u64),
    );
    let to = last + SAME_PLAY + Duration::from_millis(1);
    let mut collected: HashMap<String, Vec<Timestamp>> = HashMap::new();
    let mut cursor = None;
    loop {
        let page = store
            .range(
                from,
                to,
                NonZeroUsize::new(500).expect("500 is not 0"),
                cursor.as_ref(),
            )
            .await
            .map_err(|e| format!("could not read {}: {e}", store.describe()))?;
        for p in page
            .plays
            .into_iter()
            .filter(|p| p.source != PlaySource::Export)
        {
            collected.entry(p.key).or_default().push(p.played_at);
        }
        match page.next {
            Some(next) => cursor = Some(next),
            None => break,
        }
    }
    if collected.is_empty() {
        return Ok((plays, 0));
    }
    let before = plays.len();
    let kept: Vec<Play> = plays
        .into_iter()
        .filter(|p| {
            !collected.get(&p.key).is_some_and(|times| {
                times
                    .iter()
                    .any(|t| t.since(p.played_at).max(p.played_at.since(*t)) <= SAME_PLAY)
            })
        })
        .collect();
    let dropped = before - kept.len();
    Ok((kept, dropped))
}

/// Why a play was not stored: a privacy rule hides it (`HIDE_*`, `QUIET_HOURS`).
pub const SKIP_HIDDEN: &str = "hidden by a privacy rule";

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

    /// Stores `plays` in batches of [`BATCH`], counting what was new; a play the privacy rules
    /// hide is not stored at all (counted as skipped).
    pub async fn add(
        &mut self,
        store: &dyn HistoryStore,
        plays: &[Play],
        rules: &crate::rules::Rules,
    ) -> Result<(), String> {
        let (plays, hidden): (Vec<Play>, Vec<Play>) =
            plays.iter().cloned().partition(|p| !rules.hides_stored(p));
        for _ in &hidden {
            self.skip(SKIP_HIDDEN);
        }
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
