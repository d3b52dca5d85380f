//! The owner's status report, in one home: what is configured, reachable and valid, as sections
//! of labelled lines, with the problems (the owner must act) and warnings they found and the
//! six-month sign-in deadline. `nowplaying status` prints it as text (`crate::cli::status`), the
//! console at `/owner` shows it as HTML and JSON (`crate::console`). Never holds a secret or a token.

use std::sync::Arc;

use serde::Serialize;
use serde_json::Value;

use crate::cache::{stored_answer, StoredAnswer};
use crate::clock::{SharedClock, Timestamp};
use crate::config::{AllowedOrigins, Config, SourceChoice};
use crate::cooldown::Cooldown;
use crate::error::Error;
use crate::keys::ANSWER_KEY;
use crate::lastfm::{LastFmClient, LastFmError, OwnerAction};
use crate::owner::PrivacySwitch;
use crate::spotify::{SpotifyClient, SpotifyError};
use crate::store::{CredentialStore, Credentials, Table};
use crate::tokens::{TokenKeeper, WARN_DAYS};

/// What to do about a lapsed Premium (Spotify's `403` naming Premium).
const PREMIUM_ADVICE: &str = "Spotify says the account that owns the app has no active Premium subscription, which a development-mode app needs: renew Premium; the service resumes by itself within hours (it asks Spotify again at most once an hour)";

/// What helps when the development-mode quota is used up: Spotify grants extended quota only to
/// registered businesses with at least 250k monthly active users (since May 2025), and counts
/// the development-mode quota per developer account, shared by all its apps (since July 2026).
const QUOTA_ADVICE: &str = "the development-mode request quota is used up; it is counted per developer account and shared by all of that account's apps, and Spotify extends it only for registered businesses with 250k+ monthly users: raise CACHE_TTL_SECONDS and the list windows (RECENT_TTL_SECONDS, TOP_TTL_SECONDS, SAVED_TTL_SECONDS), and check the account's other development-mode apps";

/// How a line reads: plain, a warning, or a problem the owner must act on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Level {
    Ok,
    Warning,
    Problem,
}

/// One labelled line.
#[derive(Debug, Clone, Serialize)]
pub struct Line {
    pub label: String,
    pub value: String,
    pub level: Level,
}

/// A titled group of lines; `title: None` for the report's own lines (privacy switch, cached
/// answer, cooldown, the live check).
#[derive(Debug, Clone, Serialize)]
pub struct Section {
    pub title: Option<String>,
    pub lines: Vec<Line>,
}

/// Spotify's six-month limit of the stored sign-in.
#[derive(Debug, Clone, Serialize)]
pub struct Deadline {
    /// The moment, RFC 3339.
    pub limit: String,
    /// Whole days left (negative once passed).
    pub days_left: i64,
    /// `ok`, `warning` (within the warning days: sign in again) or `problem` (passed).
    pub level: Level,
}

/// What the sections found.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Report {
    /// The six-month deadline, when a complete sign-in with a known time is stored.
    pub deadline: Option<Deadline>,
    /// The privacy switch is on.
    pub hidden: bool,
    pub sections: Vec<Section>,
    /// What the owner must do (empty: nothing).
    pub problems: Vec<String>,
    pub warnings: usize,
}

/// What the report reads.
#[derive(Clone)]
pub struct Inputs {
    pub config: Config,
    pub credentials: Arc<dyn CredentialStore>,
    /// The state the token keeper leases in: the shared table, or this process's memory.
    pub table: Table,
    /// The table shared by every process, when there is one.
    pub shared: Option<Table>,
    pub privacy: PrivacySwitch,
    /// How to check live with Spotify.
    pub live: Live,
    pub clock: SharedClock,
}

/// The live check: one currently-playing call, with a token got one of two ways.
#[derive(Clone)]
pub enum Live {
    /// A refresh now, as an owner's command (`nowplaying status`).
    Refresh,
    /// The running service's own access token (the console): no refresh unless it is due, and no
    /// call while a shared cooldown runs.
    Service(TokenKeeper),
}

macro_rules! item {
    ($report:expr, $label:expr, $($fmt:tt)+) => {
        $report.item($label, format!($($fmt)+))
    };
}

macro_rules! top {
    ($report:expr, $label:expr, $($fmt:tt)+) => {
        $report.top($label, format!($($fmt)+))
    };
}

mod sections;
use sections::*;

impl Report {
    fn title(&mut self, title: &str) {
        self.sections.push(Section {
            title: Some(title.to_string()),
            lines: Vec::new(),
        });
    }

    /// A line of the current section.
    fn item(&mut self, label: &str, value: String) {
        let line = Line {
            label: label.to_string(),
            level: level_of(&value),
            value,
        };
        match self.sections.last_mut() {
            Some(s) if s.title.is_some() => s.lines.push(line),
            _ => self.sections.push(Section {
                title: None,
                lines: vec![line],
            }),
        }
    }

    /// A line of the report's own (after the titled sections).
    fn top(&mut self, label: &str, value: String) {
        let line = Line {
            label: label.to_string(),
            level: level_of(&value),
            value,
        };
        match self.sections.last_mut() {
            Some(s) if s.title.is_none() => s.lines.push(line),
            _ => self.sections.push(Section {
                title: None,
                lines: vec![line],
            }),
        }
    }

    /// The report as `nowplaying status` prints it, line by line, with the closing verdict.
    pub fn text(&self) -> Vec<String> {
        let mut out = Vec::new();
        for s in &self.sections {
            match &s.title {
                Some(t) => {
                    out.push(t.clone());
                    for l in &s.lines {
                        out.push(format!("  {:<20}{}", format!("{}:", l.label), l.value));
                    }
                }
                None => {
                    for l in &s.lines {
                        out.push(format!("{:<22}{}", format!("{}:", l.label), l.value));
                    }
                }
            }
        }
        if self.problems.is_empty() {
            out.push(self.verdict());
        }
        out
    }

    /// One line: all good, working with warnings, or what must be done.
    pub fn verdict(&self) -> String {
        if !self.problems.is_empty() {
            format!("action needed: {}", self.problems.join("; "))
        } else if self.warnings == 0 {
            "All good.".to_string()
        } else {
            format!("Working, with {} warning(s) above.", self.warnings)
        }
    }
}

fn level_of(value: &str) -> Level {
    if value.contains("PROBLEM") {
        Level::Problem
    } else if value.contains("WARNING") || value.contains("MISSING") {
        Level::Warning
    } else {
        Level::Ok
    }
}

/// Builds the report.
pub async fn build(inputs: &Inputs) -> Report {
    let config = &inputs.config;
    let now = inputs.clock.now();
    let mut report = Report::default();

    configuration(config, inputs, &mut report);
    let (credentials, answer) = reachability(inputs, &mut report).await;
    lastfm_section(config, credentials.as_ref(), now, &mut report).await;
    let complete = if config.source.uses_spotify() {
        authorization(config, credentials.as_ref(), now, &mut report)
    } else {
        report.title("Authorization");
        item!(report, "Spotify", "not needed (SOURCE=lastfm)");
        false
    };
    let hidden = inputs.privacy.is_hidden().await;
    report.hidden = hidden;
    top!(
        report,
        "Privacy switch",
        "{}",
        if hidden {
            "ON: /api/spotify answers null (`nowplaying show` turns it off)"
        } else {
            "off"
        }
    );
    top!(report, "Privacy rules", "{}", config.rules.describe());
    cached_answer(inputs, answer, now, &mut report);
    let cooling = inputs.shared.is_some() && cooldown(inputs, now, &mut report).await;
    if complete && cooling && matches!(inputs.live, Live::Service(_)) {
        top!(
            report,
            "Spotify",
            "not checked live (the cooldown above runs)"
        );
    } else if complete {
        spotify_check(inputs, now, &mut report).await;
    } else if config.source.uses_spotify() {
        top!(report, "Spotify", "not checked (no usable credentials)");
    }
    report
}

fn human_age(age: std::time::Duration) -> String {
    let s = age.as_secs();
    match s {
        0..=119 => format!("{s} s"),
        120..=7199 => format!("{} min", s / 60),
        7200..=172_799 => format!("{} h", s / 3600),
        _ => format!("{} days", s / 86_400),
    }
}

/// Text from outside (a title, an artist: a local file's tags can say anything) made safe for a
/// terminal: no control character (so no escape sequence: ESC, BEL, the C1 controls such as
/// CSI) and no bidirectional override.
pub fn terminal_safe(s: &str) -> String {
    s.chars()
        .filter(|c| !c.is_control() && !is_bidi_control(*c))
        .collect()
}

/// The characters that reorder how a terminal shows the text around them.
fn is_bidi_control(c: char) -> bool {
    matches!(c, '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}' | '\u{200E}' | '\u{200F}')
}

fn describe_answer(v: &Value) -> String {
    if v.is_null() {
        return "null (nothing to show)".into();
    }
    let field = |k: &str| terminal_safe(v.get(k).and_then(Value::as_str).unwrap_or("?"));
    format!(
        "{} \"{}\" by {}",
        field("status"),
        field("name"),
        field("artists")
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn ages_and_dates() {
        assert_eq!(human_age(Duration::from_secs(5)), "5 s");
        assert_eq!(human_age(Duration::from_secs(600)), "10 min");
        let c = Credentials {
            authorized_at: Some("2026-11-23T10:00:00Z".into()),
            ..Default::default()
        };
        assert_eq!(
            crate::tokens::signin_limit(&c),
            Some(Timestamp::from_secs(1_795_428_000 + 182 * 24 * 3600))
        );
        let bad = Credentials {
            authorized_at: Some("yesterday".into()),
            ..Default::default()
        };
        assert_eq!(crate::tokens::signin_limit(&bad), None);
    }
}
