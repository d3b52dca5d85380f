//! Last.fm's scrobbles into the history: `nowplaying import lastfm` (the whole history, or from a
//! date, resumable) and [`collect_lastfm`] (what is newer than the newest stored scrobble).
//!
//! Both ask `user.getRecentTracks` for the range `[from, to]` with `to` FIXED when the run
//! starts, so new scrobbles arriving meanwhile shift no page. At most one request every
//! [`Options::pace`]; Last.fm's rate limit (error 29) waits [`Options::rate_limit_wait`] and asks
//! for the same page again, at most [`Options::rate_limit_retries`] times; any other error stops
//! the run with what was written kept.
//!
//! The import pages newest first (Last.fm's order: a scrobble submitted late only pushes older
//! ones onto a later page, read twice and stored once) and records after each page, in a
//! checkpoint file next to the history, the run's `to` and the last page stored. A run
//! interrupted anywhere and started again continues after that page with the same `to`, so it
//! ends with the same history as a run that was never interrupted. The checkpoint goes when the
//! last page is stored.
//!
//! Collection has no checkpoint: it pages oldest first, so the newest stored scrobble only moves
//! forward and the next collection's `from` picks up where an interrupted one stopped.

use std::path::{Path, PathBuf};
use std::time::Duration;

use indicatif::ProgressBar;
use serde::{Deserialize, Serialize};
use tokio::time::Instant;

use super::ImportSummary;
use crate::clock::Timestamp;
use crate::history::{lastfm_key, HistoryStore, Play, PlayKind, PlaySource};
use crate::lastfm::{LastFmClient, LastFmError, Scrobble, MAX_PAGE};
use crate::secret::Secret;

/// The least time between two requests to Last.fm.
pub const PACE: Duration = Duration::from_millis(250);
/// How long to wait after a rate limit (error 29) before asking for the same page again.
pub const RATE_LIMIT_WAIT: Duration = Duration::from_secs(30);
/// How many rate limits in a row one page may meet before the run stops.
pub const RATE_LIMIT_RETRIES: u32 = 5;
/// Why an entry is left out (the summary's wording).
pub const SKIP_UNUSABLE: &str = "scrobbles without a title or a date";

/// How a run talks to Last.fm and where it keeps its place.
#[derive(Debug, Clone)]
pub struct Options {
    /// Only scrobbles from this time on (`--from`); `None`: the whole history.
    pub from: Option<Timestamp>,
    pub pace: Duration,
    pub rate_limit_wait: Duration,
    pub rate_limit_retries: u32,
    /// Scrobbles a page (at most [`MAX_PAGE`]).
    pub page_size: u32,
    /// The import's checkpoint file; `None`: the import starts from the first page every time.
    pub checkpoint: Option<PathBuf>,
    /// The privacy rules: a scrobble they hide is not stored.
    pub rules: crate::rules::Rules,
}

impl Default for Options {
    fn default() -> Options {
        Options {
            from: None,
            pace: PACE,
            rate_limit_wait: RATE_LIMIT_WAIT,
            rate_limit_retries: RATE_LIMIT_RETRIES,
            page_size: MAX_PAGE,
            checkpoint: None,
            rules: crate::rules::Rules::default(),
        }
    }
}

/// Where an import stands, as the checkpoint file holds it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Checkpoint {
    pub user: String,
    pub from: Option<Timestamp>,
    /// The run's fixed end of the range.
    pub to: Timestamp,
    pub page_size: u32,
    /// The last page whose plays are stored.
    pub pages_done: u32,
}

impl Checkpoint {
    /// The checkpoint at `path`, when there is a readable one.
    pub fn load(path: &Path) -> Option<Checkpoint> {
        let text = std::fs::read_to_string(path).ok()?;
        serde_json::from_str(&text).ok()
    }

    /// Writes the checkpoint to `path` (a new file renamed over the old one).
    pub fn save(&self, path: &Path) -> Result<(), String> {
        let tmp = path.with_extension("json.tmp");
        let text = serde_json::to_string(self).expect("a checkpoint serializes");
        std::fs::write(&tmp, text)
            .and_then(|()| std::fs::rename(&tmp, path))
            .map_err(|e| format!("could not write the checkpoint {}: {e}", path.display()))
    }
}

/// A page of scrobbles as plays of the history.
struct Plays {
    plays: Vec<Play>,
    unusable: usize,
    total_pages: u32,
}

/// A scrobble as a play: keyed by [`lastfm_key`], dated by its `uts`.
pub fn play(s: &Scrobble) -> Play {
    Play {
        played_at: s.played_at,
        key: lastfm_key(&s.artist, &s.name),
        name: s.name.clone(),
        artists: s.artist.clone(),
        album: s.album.clone(),
        album_image: s.image.clone(),
        song_url: s.url.clone(),
        track_id: None,
        kind: PlayKind::Track,
        ms_played: None,
        short: false,
        source: PlaySource::Lastfm,
    }
}

/// Asks Last.fm at the pace of [`Options`], waiting out rate limits.
struct Pager<'a> {
    client: &'a LastFmClient,
    key: &'a Secret,
    user: &'a str,
    options: &'a Options,
    last: Option<Instant>,
}

impl Pager<'_> {
    async fn page(
        &mut self,
        page: u32,
        from: Option<Timestamp>,
        to: Timestamp,
    ) -> Result<Plays, LastFmError> {
        let mut limited = 0;
        loop {
            if let Some(last) = self.last {
                tokio::time::sleep_until(last + self.options.pace).await;
            }
            self.last = Some(Instant::now());
            let got = self
                .client
                .recent_tracks_page(self.key, self.user, page, self.options.page_size, from, to)
                .await;
            match got {
                Err(LastFmError::RateLimited { .. })
                    if limited < self.options.rate_limit_retries =>
                {
                    limited += 1;
                    tracing::warn!(page, wait_ms = self.options.rate_limit_wait.as_millis() as u64, "Last.fm rate limit (error 29): waiting, then asking for the same page again");
                    tokio::time::sleep(self.options.rate_limit_wait).await;
                }
                other => {
                    return other.map(|page| Plays {
                        plays: page.scrobbles.iter().map(play).collect(),
                        unusable: page.unusable,
                        total_pages: page.total_pages,
                    })
                }
            }
        }
    }
}

/// Imports `user`'s scrobbles from `options.from` up to `now`, continuing an interrupted run of
/// the same user and `from` when the checkpoint says so.
pub async fn import(
    store: &dyn HistoryStore,
    client: &LastFmClient,
    key: &Secret,
    user: &str,
    now: Timestamp,
    options: &Options,
    progress: &ProgressBar,
) -> Result<ImportSummary, String> {
    let mut summary = ImportSummary::default();
    let page_size = options.page_size.clamp(1, MAX_PAGE);
    let resumed = options
        .checkpoint
        .as_deref()
        .and_then(Checkpoint::load)
        .filter(|c| c.user == user && c.from == options.from && c.page_size == page_size);
    let mut checkpoint = match resumed {
        Some(c) => {
            summary.notes.push(format!(
                "Continuing the interrupted import after page {} (scrobbles up to {}).",
                c.pages_done,
                rfc3339(c.to)
            ));
            c
        }
        None => Checkpoint {
            user: user.to_string(),
            from: options.from,
            to: now,
            page_size,
            pages_done: 0,
        },
    };
    if let Some(path) = &options.checkpoint {
        checkpoint.save(path)?;
    }
    let mut pager = Pager {
        client,
        key,
        user,
        options,
        last: None,
    };
    progress.set_position(u64::from(checkpoint.pages_done));
    loop {
        let page = checkpoint.pages_done + 1;
        let got = pager
            .page(page, checkpoint.from, checkpoint.to)
            .await
            .map_err(|e| {
                format!(
                    "{} (page {page}); the {} plays of the pages before it are stored: run `nowplaying import lastfm` again to continue from page {page}",
                    describe(&e, options),
                    summary.new + summary.already
                )
            })?;
        progress.set_length(u64::from(got.total_pages.max(page)));
        for _ in 0..got.unusable {
            summary.skip(SKIP_UNUSABLE);
        }
        summary.add(store, &got.plays, &options.rules).await?;
        checkpoint.pages_done = page;
        if let Some(path) = &options.checkpoint {
            checkpoint.save(path)?;
        }
        progress.set_position(u64::from(page));
        // Without `totalPages` a full page means there may be another.
        let full = got.plays.len() + got.unusable >= page_size as usize;
        let total = match got.total_pages {
            0 if full => page + 1,
            n => n,
        };
        if got.plays.is_empty() && got.unusable == 0 || page >= total {
            break;
        }
    }
    if let Some(path) = &options.checkpoint {
        let _ = std::fs::remove_file(path);
    }
    progress.finish_and_clear();
    Ok(summary)
}

/// Collects the scrobbles newer than the newest stored one (from Last.fm, `from` inclusive:
/// the store keeps that one once), up to `now`; with none stored, the whole history.
pub async fn collect_lastfm(
    store: &dyn HistoryStore,
    client: &LastFmClient,
    key: &Secret,
    user: &str,
    now: Timestamp,
    options: &Options,
) -> Result<ImportSummary, String> {
    let from = store
        .newest(PlaySource::Lastfm)
        .await
        .map_err(|e| format!("could not read {}: {e}", store.describe()))?
        .or(options.from);
    let mut pager = Pager {
        client,
        key,
        user,
        options,
        last: None,
    };
    let mut summary = ImportSummary::default();
    let failed = |page: u32, e: LastFmError| {
        format!(
            "{} (page {page} of the new scrobbles)",
            describe(&e, options)
        )
    };
    let first = pager.page(1, from, now).await.map_err(|e| failed(1, e))?;
    // Oldest first: the last page, back to the second; the first one (already read) last.
    for page in (2..=first.total_pages).rev() {
        let got = pager
            .page(page, from, now)
            .await
            .map_err(|e| failed(page, e))?;
        for _ in 0..got.unusable {
            summary.skip(SKIP_UNUSABLE);
        }
        summary.add(store, &got.plays, &options.rules).await?;
    }
    for _ in 0..first.unusable {
        summary.skip(SKIP_UNUSABLE);
    }
    summary.add(store, &first.plays, &options.rules).await?;
    Ok(summary)
}

/// An error as the owner reads it: a rate limit that outlasted the retries says so.
fn describe(e: &LastFmError, options: &Options) -> String {
    match e {
        LastFmError::RateLimited { .. } => format!(
            "Last.fm kept answering with its rate limit (error 29) after {} retries {} s apart",
            options.rate_limit_retries,
            options.rate_limit_wait.as_secs_f64()
        ),
        other => other.to_string(),
    }
}

fn rfc3339(t: Timestamp) -> String {
    i64::try_from(t.as_secs())
        .ok()
        .and_then(|s| time::OffsetDateTime::from_unix_timestamp(s).ok())
        .and_then(|t| {
            t.format(&time::format_description::well_known::Rfc3339)
                .ok()
        })
        .unwrap_or_else(|| format!("{} s", t.as_secs()))
}
