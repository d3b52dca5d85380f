//! The owner's commands on the listening history: `import spotify-export`, `import lastfm`,
//! `export` and `forget` (docs/history.md). Each needs `PROFILE_ENDPOINTS` to name `history`
//! (checked by `main` before anything is opened) and works on the store the configuration names.

use std::io::{IsTerminal, Write};
use std::num::NonZeroUsize;
use std::path::PathBuf;
use std::sync::Arc;

use indicatif::{ProgressBar, ProgressStyle};

use crate::app;
use crate::clock::Timestamp;
use crate::config::Config;
use crate::history::export::ExportRow;
use crate::history::{HistoryStore, LATEST};
use crate::import::{lastfm, spotify_export};
use crate::lastfm::LastFmClient;

/// The file, next to the history, where an interrupted `import lastfm` keeps its place.
pub const LASTFM_CHECKPOINT: &str = "lastfm-import.json";

/// Plays read from the store per page by `export`.
const EXPORT_PAGE: NonZeroUsize = NonZeroUsize::new(500).unwrap();

/// The one-line error of a history command while the history is off.
pub const HISTORY_OFF: &str = "the listening history is off: set PROFILE_ENDPOINTS to include history (e.g. PROFILE_ENDPOINTS=history) for the history commands";

/// A `--from`, `--to` or `--before` value: `YYYY-MM-DD` (midnight UTC) or an RFC 3339 time.
pub fn parse_date(value: &str) -> Result<Timestamp, String> {
    let bad = || {
        "expected a date YYYY-MM-DD (midnight UTC) or an RFC 3339 time such as 2026-11-01T10:00:00Z, from 1970 to 9999".to_string()
    };
    let value = value.trim();
    let format = time::macros::format_description!("[year]-[month]-[day]");
    let at = match time::Date::parse(value, format) {
        Ok(day) => day.midnight().assume_utc(),
        Err(_) => {
            time::OffsetDateTime::parse(value, &time::format_description::well_known::Rfc3339)
                .map_err(|_| bad())?
        }
    };
    let ms = u64::try_from(at.unix_timestamp_nanos() / 1_000_000).map_err(|_| bad())?;
    let t = Timestamp::from_millis(ms);
    if t > LATEST {
        return Err(bad());
    }
    Ok(t)
}

/// The export's output format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    Json,
    Csv,
}

/// The CSV header: [`ExportRow`]'s fields, in order.
pub const CSV_HEADER: [&str; 12] = [
    "playedAt",
    "key",
    "name",
    "artists",
    "album",
    "albumImage",
    "songUrl",
    "trackId",
    "type",
    "msPlayed",
    "short",
    "source",
];

async fn store(config: &Config) -> Result<(app::Stores, Arc<dyn HistoryStore>), String> {
    let stores = app::stores(config).await;
    let history = stores.history.clone().ok_or(HISTORY_OFF)?;
    Ok((stores, history))
}

/// A progress bar on standard error when it is a terminal; hidden otherwise.
fn progress(template: &str) -> ProgressBar {
    if !std::io::stderr().is_terminal() {
        return ProgressBar::hidden();
    }
    let bar = ProgressBar::new(0);
    if let Ok(style) = ProgressStyle::with_template(template) {
        bar.set_style(style.progress_chars("=> "));
    }
    bar
}

/// `nowplaying import spotify-export PATH... [--force]`.
pub async fn import_export(config: Config, paths: Vec<PathBuf>, force: bool) -> Result<(), String> {
    let (_, history) = store(&config).await?;
    let options = spotify_export::Options {
        force,
        owner: config.owner_spotify_id.clone(),
        rules: config.rules.clone(),
    };
    let bar = progress("{msg:28} {bar:40} {percent:>3}% ({eta} left)");
    let summary = spotify_export::import(history.as_ref(), &paths, &options, &bar).await?;
    print!("{summary}");
    println!("The history is in {}.", history.describe());
    Ok(())
}

/// `nowplaying import lastfm [--from DATE]`.
pub async fn import_lastfm(config: Config, from: Option<Timestamp>) -> Result<(), String> {
    let user = config
        .lastfm_user
        .clone()
        .ok_or("LASTFM_USER is not set: set it to the Last.fm user whose scrobbles to import")?;
    let (stores, history) = store(&config).await?;
    let key = match &config.lastfm_api_key {
        Some(k) => k.clone(),
        None => match stores.credentials.load().await {
            Ok(c) => c.as_ref().and_then(crate::source::stored_key).ok_or_else(|| {
                format!(
                    "no Last.fm API key: set LASTFM_API_KEY or put it into the {} as lastfm_api_key (get one at https://www.last.fm/api/account/create)",
                    stores.credentials.describe()
                )
            })?,
            Err(e) => return Err(format!("{e}: the Last.fm API key could not be read")),
        },
    };
    let client = LastFmClient::new(&config.lastfm_api_base_url);
    let options = lastfm::Options {
        from,
        checkpoint: Some(config.history_path().with_file_name(LASTFM_CHECKPOINT)),
        rules: config.rules.clone(),
        ..lastfm::Options::default()
    };
    let bar = progress("{bar:40} page {pos}/{len} ({eta} left)");
    let summary = lastfm::import(
        history.as_ref(),
        &client,
        &key,
        &user,
        crate::cli::now(),
        &options,
        &bar,
    )
    .await?;
    print!("{summary}");
    println!(
        "Imported the scrobbles of {user} into {}.",
        history.describe()
    );
    Ok(())
}

/// `nowplaying export [--from] [--to] --format json|csv`: every play of the range, newest first,
/// to standard output.
pub async fn export(
    config: Config,
    from: Option<Timestamp>,
    to: Option<Timestamp>,
    format: Format,
) -> Result<(), String> {
    let (_, history) = store(&config).await?;
    let from = from.unwrap_or(Timestamp::EPOCH);
    let to = to.unwrap_or(LATEST + std::time::Duration::from_millis(1));
    let out = std::io::BufWriter::new(std::io::stdout().lock());
    let mut sink = Sink::new(out, format)?;
    let mut cursor = None;
    let mut count = 0usize;
    loop {
        let page = history
            .range(from, to, EXPORT_PAGE, cursor.as_ref())
            .await
            .map_err(|e| format!("could not read {}: {e}", history.describe()))?;
        for play in &page.plays {
            sink.write(&ExportRow::from(play))?;
            count += 1;
        }
        match page.next {
            Some(next) => cursor = Some(next),
            None => break,
        }
    }
    sink.finish()?;
    eprintln!("Exported {count} plays from {}.", history.describe());
    Ok(())
}

/// Where `export` writes its rows.
enum Sink<W: Write> {
    Csv(Box<csv::Writer<W>>),
    /// The writer and how many rows it holds.
    Json(W, usize),
}

fn write_error(e: impl std::fmt::Display) -> String {
    format!("could not write the export: {e}")
}

impl<W: Write> Sink<W> {
    fn new(mut out: W, format: Format) -> Result<Sink<W>, String> {
        Ok(match format {
            Format::Csv => {
                let mut w = csv::WriterBuilder::new()
                    .has_headers(false)
                    .from_writer(out);
                w.write_record(CSV_HEADER).map_err(write_error)?;
                Sink::Csv(Box::new(w))
            }
            Format::Json => {
                out.write_all(b"[").map_err(write_error)?;
                Sink::Json(out, 0)
            }
        })
    }

    fn write(&mut self, row: &ExportRow) -> Result<(), String> {
        match self {
            Sink::Csv(w) => w.serialize(row).map_err(write_error),
            Sink::Json(out, n) => {
                out.write_all(if *n == 0 { b"\n" } else { b",\n" })
                    .map_err(write_error)?;
                *n += 1;
                serde_json::to_writer(out, row).map_err(write_error)
            }
        }
    }

    fn finish(self) -> Result<(), String> {
        match self {
            Sink::Csv(mut w) => w.flush().map_err(write_error),
            Sink::Json(mut out, _) => {
                out.write_all(b"\n]\n").map_err(write_error)?;
                out.flush().map_err(write_error)
            }
        }
    }
}

/// `nowplaying forget --before DATE | --all [--yes]`.
pub async fn forget(config: Config, before: Option<Timestamp>, yes: bool) -> Result<(), String> {
    let (_, history) = store(&config).await?;
    if before.is_none() && !yes {
        if !std::io::stdin().is_terminal() {
            return Err(
                "`forget --all` deletes the whole listening history: add --yes to confirm".into(),
            );
        }
        print!(
            "Delete every play in {}? This cannot be undone. Type yes to confirm: ",
            history.describe()
        );
        std::io::stdout().flush().map_err(|e| e.to_string())?;
        let mut answer = String::new();
        std::io::stdin()
            .read_line(&mut answer)
            .map_err(|e| e.to_string())?;
        if answer.trim() != "yes" {
            println!("Nothing was deleted.");
            return Ok(());
        }
    }
    let removed = history
        .forget(before)
        .await
        .map_err(|e| format!("could not delete from {}: {e}", history.describe()))?;
    match before {
        Some(t) => println!(
            "Removed {removed} plays played before {} from {}.",
            t.to_rfc3339_millis(),
            history.describe()
        ),
        None => println!(
            "Removed {removed} plays (all of them) from {}.",
            history.describe()
        ),
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates_are_days_at_midnight_or_rfc3339() {
        assert_eq!(
            parse_date("2026-11-01"),
            Ok(Timestamp::from_millis(1_793_491_200_000))
        );
        assert_eq!(
            parse_date("2026-11-01T01:00:00+01:00"),
            Ok(Timestamp::from_millis(1_793_491_200_000))
        );
        for bad in [
            "2026-13-01",
            "yesterday",
            "1969-12-31",
            "",
            "2026-11-01 10:00",
        ] {
            assert!(parse_date(bad).unwrap_err().contains("YYYY-MM-DD"), "{bad}");
        }
    }
}
