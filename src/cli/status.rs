//! `nowplaying status`: what is configured, reachable and valid. Exits 0 when all is well and 1
//! when the owner must act (no credentials, a rejected refresh token or client, the refresh-token
//! limit close, a missing scope, a lapsed Premium, a store out of reach). Never prints a secret or a token.
//!
//! Each section prints its lines and adds what the owner must do to the report.

use std::sync::Arc;

use serde_json::Value;

use crate::app::{self, Stores};
use crate::cache::{stored_answer, StoredAnswer};
use crate::clock::{SystemClock, Timestamp};
use crate::config::{AllowedOrigins, Config, SourceChoice};
use crate::cooldown::Cooldown;
use crate::error::Error;
use crate::keys::ANSWER_KEY;
use crate::lastfm::{LastFmClient, LastFmError, OwnerAction};
use crate::spotify::{SpotifyClient, SpotifyError};
use crate::store::{Credentials, Table};
use crate::tokens::{TokenKeeper, WARN_DAYS};

/// What to do about a lapsed Premium (Spotify's `403` naming Premium).
const PREMIUM_ADVICE: &str = "Spotify says the account that owns the app has no active Premium subscription, which a development-mode app needs: renew Premium; the service resumes by itself within hours (it asks Spotify again at most once an hour)";

/// What helps when the development-mode quota is used up: Spotify grants extended quota only to
/// registered businesses with at least 250k monthly active users (since May 2025), and counts
/// the development-mode quota per developer account, shared by all its apps (since July 2026).
const QUOTA_ADVICE: &str = "the development-mode request quota is used up; it is counted per developer account and shared by all of that account's apps, and Spotify extends it only for registered businesses with 250k+ monthly users: raise CACHE_TTL_SECONDS and the list windows (RECENT_TTL_SECONDS, TOP_TTL_SECONDS, SAVED_TTL_SECONDS), and check the account's other development-mode apps";

/// What the sections found: problems (the owner must act) and warnings.
#[derive(Default)]
struct Report {
    problems: Vec<String>,
    warnings: usize,
}

pub async fn run(config: Config) -> Result<(), String> {
    let stores = app::stores(&config).await;
    let now = crate::cli::now();
    let mut report = Report::default();

    configuration(&config, &stores);
    let (credentials, answer) = reachability(&stores, &mut report).await;
    lastfm_section(&config, credentials.as_ref(), now, &mut report).await;
    let complete = if config.source.uses_spotify() {
        authorization(&config, credentials.as_ref(), now, &mut report)
    } else {
        println!("Authorization");
        println!("  Spotify:            not needed (SOURCE=lastfm)");
        false
    };
    let hidden = crate::cli::privacy::is_hidden(&stores).await;
    println!(
        "Privacy switch:       {}",
        if hidden {
            "ON: /api/spotify answers null (`nowplaying show` turns it off)"
        } else {
            "off"
        }
    );
    cached_answer(&stores, answer, now);
    if let Some(table) = stores.shared_table() {
        cooldown(table, now, &mut report).await;
    }
    if complete {
        spotify_check(&config, &stores, now, &mut report).await;
    } else if config.source.uses_spotify() {
        println!("Spotify:              not checked (no usable credentials)");
    }

    if report.problems.is_empty() {
        if report.warnings == 0 {
            println!("All good.");
        } else {
            println!("Working, with {} warning(s) above.", report.warnings);
        }
        Ok(())
    } else {
        Err(format!("action needed: {}", report.problems.join("; ")))
    }
}

fn configuration(config: &Config, stores: &Stores) {
    println!("Configuration");
    println!("  credentials:        {}", stores.credentials.describe());
    if let Some(table) = stores.shared_table() {
        println!("  shared state:       {}", table.describe());
    } else {
        println!(
            "  shared state:       none (CACHE_TABLE unset: each process keeps its own cache)"
        );
    }
    println!(
        "  source:             {}",
        match config.source {
            SourceChoice::Spotify => "spotify",
            SourceChoice::Lastfm => "lastfm (Spotify is not asked)",
            SourceChoice::SpotifyThenLastfm =>
                "spotify,lastfm (Spotify first; Last.fm when Spotify can't be asked)",
        }
    );
    println!("  cache window:       {} s", config.cache_ttl.as_secs());
    match &config.allowed_origins {
        AllowedOrigins::Any => println!("  allowed origins:    * (any)"),
        AllowedOrigins::List(list) => println!("  allowed origins:    {}", list.join(", ")),
    }
    println!(
        "  recent fallback:    {}",
        if config.show_recent {
            "on (the last played track when nothing plays)"
        } else {
            "off (null when nothing plays)"
        }
    );
    let mut endpoints = Vec::new();
    if config.profile_endpoints.top {
        endpoints.push("top");
    }
    if config.profile_endpoints.saved {
        endpoints.push("saved");
    }
    println!(
        "  profile endpoints:  {}",
        if endpoints.is_empty() {
            "none".to_string()
        } else {
            endpoints.join(", ")
        }
    );
    if config.api_base_url != crate::config::DEFAULT_API_BASE_URL
        || config.accounts_base_url != crate::config::DEFAULT_ACCOUNTS_BASE_URL
    {
        println!(
            "  Spotify:            API {}, accounts {}",
            config.api_base_url, config.accounts_base_url
        );
    }
}

/// Last.fm, when it is a source: the user, where the key comes from, and one
/// `user.getRecentTracks` call, which proves the key (errors 10, 26), the user (6) and that the
/// recent listening is public (17).
async fn lastfm_section(
    config: &Config,
    credentials: Result<&Option<Credentials>, &()>,
    now: Timestamp,
    report: &mut Report,
) {
    if !config.source.uses_lastfm() {
        return;
    }
    println!("Last.fm");
    let user = config.lastfm_user.clone().unwrap_or_default();
    println!("  user:               {user}");
    let key = match (&config.lastfm_api_key, credentials) {
        (Some(k), _) => {
            println!("  API key:            from LASTFM_API_KEY");
            Some(k.clone())
        }
        (None, Ok(c)) => match c.as_ref().and_then(crate::source::stored_key) {
            Some(k) => {
                println!("  API key:            stored in the credentials (lastfm_api_key)");
                Some(k)
            }
            None => {
                println!("  API key:            MISSING");
                report
                    .problems
                    .push(OwnerAction::NoKey.advice().to_string());
                None
            }
        },
        (None, Err(())) => {
            println!("  API key:            unknown (the credentials store is unreachable)");
            None
        }
    };
    let Some(key) = key else {
        println!("  check:              not done (no API key)");
        return;
    };
    let client = LastFmClient::new(&config.lastfm_api_base_url);
    match client.recent_tracks(&key, &user, 1, now).await {
        Ok(tracks) => {
            let shown = crate::lastfm::map::now_playing(tracks, true);
            println!(
                "  check:              OK: the key works, the user exists, recent listening is public; {}",
                match shown {
                    Some(np) => describe_answer(&serde_json::to_value(np).unwrap_or(Value::Null)),
                    None => "no scrobbles yet".into(),
                }
            );
        }
        Err(LastFmError::OwnerMustAct(action)) => {
            println!("  check:              PROBLEM: {}", action.advice());
            report.problems.push(action.advice().to_string());
        }
        Err(e) => {
            println!("  check:              WARNING: could not check right now: {e}");
            report.warnings += 1;
        }
    }
}

/// The stores: the credentials (`Some` when loaded) and the cached answer (`Some` when the
/// shared state was read).
async fn reachability(
    stores: &Stores,
    report: &mut Report,
) -> (
    Result<Option<Credentials>, ()>,
    Option<Option<StoredAnswer>>,
) {
    println!("Stores");
    let credentials = match stores.credentials.load().await {
        Ok(c) => {
            println!("  credentials store:  reachable");
            Ok(c)
        }
        Err(e) => {
            println!("  credentials store:  PROBLEM: {e}");
            report.problems.push(format!(
                "the {} is unreachable or unusable",
                stores.credentials.describe()
            ));
            Err(())
        }
    };
    let mut answer = None;
    if let Some(table) = stores.shared_table() {
        match stored_answer(table.as_ref(), ANSWER_KEY).await {
            Ok(a) => {
                println!("  shared state:       reachable");
                answer = Some(a);
            }
            Err(e) => {
                println!("  shared state:       PROBLEM: {e}");
                report
                    .problems
                    .push(format!("the {} is unreachable", table.describe()));
            }
        }
    }
    (credentials, answer)
}

/// The stored sign-in: complete, its six-month limit, its scopes. Returns whether it is usable.
fn authorization(
    config: &Config,
    credentials: Result<&Option<Credentials>, &()>,
    now: Timestamp,
    report: &mut Report,
) -> bool {
    println!("Authorization");
    let loaded = credentials.is_ok();
    let credentials = credentials.ok().and_then(|c| c.as_ref());
    let complete = credentials.is_some_and(|c| c.is_complete());
    match credentials {
        Some(c) if c.is_complete() => {
            println!("  credentials:        stored (client id {})", c.client_id)
        }
        Some(c) if !c.client_id.is_empty() && c.refresh_token.is_none() => {
            println!(
                "  credentials:        client id {} but no refresh token (disconnected)",
                c.client_id
            );
        }
        Some(_) => println!("  credentials:        incomplete"),
        None if loaded => println!("  credentials:        none stored"),
        None => println!("  credentials:        unknown (store unreachable)"),
    }
    if loaded && !complete {
        report
            .problems
            .push("no usable credentials: run `nowplaying authorize`".into());
    }
    if let Some(c) = credentials.filter(|c| c.is_complete()) {
        signin_limit(c, now, report);
        scopes(config, c, report);
    }
    complete
}

fn signin_limit(c: &Credentials, now: Timestamp, report: &mut Report) {
    let Some(limit) = crate::tokens::signin_limit(c) else {
        println!("  authorized at:      unknown (run `nowplaying authorize` to record it)");
        report.warnings += 1;
        return;
    };
    let left_days = crate::tokens::days_left(now, limit);
    let limit_text = super::authorize::rfc3339(limit);
    println!(
        "  authorized at:      {}",
        c.authorized_at.as_deref().unwrap_or_default()
    );
    if limit <= now {
        println!("  token limit:        WARNING: Spotify's six-month limit passed on {limit_text}");
        report.problems.push(
            "the refresh token is past its six-month limit: run `nowplaying authorize`".into(),
        );
    } else if left_days < WARN_DAYS {
        println!("  token limit:        WARNING: Spotify's six-month limit runs out on {limit_text} ({left_days} days left)");
        report.problems.push(format!(
            "the refresh token's six-month limit runs out in {left_days} days: run `nowplaying authorize`"
        ));
    } else {
        println!("  token limit:        {limit_text} ({left_days} days left)");
    }
}

fn scopes(config: &Config, c: &Credentials, report: &mut Report) {
    let extra = config.profile_endpoints.extra_scopes();
    match c.scope.as_deref() {
        Some(scope) => {
            println!("  scopes:             {scope}");
            let missing: Vec<&str> = extra
                .iter()
                .copied()
                .filter(|s| !scope.split_whitespace().any(|g| g == *s))
                .collect();
            if !missing.is_empty() {
                println!(
                    "  scopes:             MISSING {} (needed by PROFILE_ENDPOINTS)",
                    missing.join(", ")
                );
                report.problems.push(format!(
                    "the sign-in lacks {}: run `nowplaying authorize` to grant it",
                    missing.join(", ")
                ));
            }
        }
        None if !extra.is_empty() => {
            println!(
                "  scopes:             not recorded; PROFILE_ENDPOINTS needs {}: run `nowplaying authorize` to be sure",
                extra.join(", ")
            );
            report.warnings += 1;
        }
        None => println!("  scopes:             not recorded"),
    }
}

fn cached_answer(stores: &Stores, answer: Option<Option<StoredAnswer>>, now: Timestamp) {
    match answer {
        Some(Some(a)) => {
            let age = if a.good_at > Timestamp::EPOCH {
                format!(
                    ", read from Spotify {} ago",
                    human_age(now.since(a.good_at))
                )
            } else {
                String::new()
            };
            let fresh = if now < a.fresh_until {
                "current"
            } else {
                "expired"
            };
            let from = match a.value.get("source").and_then(Value::as_str) {
                Some("lastfm") => " from Last.fm",
                Some(_) => " from Spotify",
                None => "",
            };
            let age = if from == " from Last.fm" {
                age.replace("read from Spotify", "read")
            } else {
                age
            };
            println!(
                "Cached answer:        {}{from}{age} ({fresh}{})",
                describe_answer(&a.value),
                if a.stale { ", stale" } else { "" }
            );
            if !a.value.is_null() {
                println!(
                    "Last answered by:     {}",
                    if from == " from Last.fm" {
                        "Last.fm"
                    } else {
                        "Spotify"
                    }
                );
            }
        }
        Some(None) => println!("Cached answer:        none"),
        None if stores.shared_table().is_some() => {}
        None => println!("Cached answer:        kept by each running process (no CACHE_TABLE)"),
    }
}

/// A shared cooldown still running: why no process asks Spotify, and until when.
async fn cooldown(table: &Table, now: Timestamp, report: &mut Report) {
    let Some((c, until)) = Cooldown::read(table.as_ref()).await else {
        return;
    };
    if until <= now {
        return;
    }
    let left = human_age(until.since(now));
    match c {
        Cooldown::RateLimited {
            quota_exceeded: true,
        } => {
            println!("Spotify cooldown:     WARNING: QUOTA_EXCEEDED: {QUOTA_ADVICE}; no calls for {left}");
            report.warnings += 1;
        }
        Cooldown::PremiumRequired { step } => {
            println!("Spotify cooldown:     PROBLEM: {PREMIUM_ADVICE} (403 premium required, {step} time(s) in a row); next call in {left}");
            report.problems.push(PREMIUM_ADVICE.into());
        }
        Cooldown::RateLimited { .. } => {
            println!("Spotify cooldown:     rate limited (429); no calls for {left}")
        }
        Cooldown::Unauthorized { streak } => {
            println!("Spotify cooldown:     WARNING: Spotify rejects fresh access tokens (401, {streak} time(s) in a row); no calls for {left}");
            report.warnings += 1;
        }
    }
}

/// Refreshes the access token (persisting a rotated refresh token like the service) and asks
/// currently-playing once.
async fn spotify_check(config: &Config, stores: &Stores, now: Timestamp, report: &mut Report) {
    if let Err(e) = config.shared_secret_needs_table() {
        // A refresh here would take a lease the service cannot see.
        println!("Spotify:              WARNING: not checked live (no refresh without the shared table): {e}");
        report.warnings += 1;
        return;
    }
    let spotify = SpotifyClient::new(&config.api_base_url, &config.accounts_base_url);
    let tokens = TokenKeeper::new(
        spotify.clone(),
        stores.credentials.clone(),
        stores.table().clone(),
        Arc::new(SystemClock),
        format!(
            "{}-status-{}",
            crate::store::OWNER_HOLDER,
            app::instance_id()
        ),
    )
    .as_owner_command();
    match tokens.refresh_now().await {
        Ok(token) => match spotify.currently_playing(&token, now).await {
            Ok(np) => println!(
                "Spotify:              OK: refreshed the access token; {}",
                match np {
                    Some(np) => format!(
                        "now {}",
                        describe_answer(&serde_json::to_value(np).unwrap_or(Value::Null))
                    ),
                    None => "nothing is playing".into(),
                }
            ),
            Err(SpotifyError::PremiumRequired) => {
                println!("Spotify:              PROBLEM: refreshed the access token, but {PREMIUM_ADVICE}");
                if !report.problems.iter().any(|p| p == PREMIUM_ADVICE) {
                    report.problems.push(PREMIUM_ADVICE.into());
                }
            }
            Err(SpotifyError::RateLimited {
                quota_exceeded: true,
                ..
            }) => {
                println!("Spotify:              WARNING: refreshed the access token, but QUOTA_EXCEEDED: {QUOTA_ADVICE}");
                report.warnings += 1;
            }
            Err(e) => {
                println!("Spotify:              refreshed the access token, but currently-playing failed: {e}");
                report.warnings += 1;
            }
        },
        Err(e @ (Error::MustReauthorize | Error::InvalidClient | Error::NotAuthorized)) => {
            println!("Spotify:              PROBLEM: {e}");
            report.problems.push(e.to_string());
        }
        Err(Error::Store(e)) => {
            println!("Spotify:              PROBLEM: {e}");
            report.problems.push(e.to_string());
        }
        Err(e) => {
            println!("Spotify:              WARNING: could not check right now: {e}");
            report.warnings += 1;
        }
    }
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

fn describe_answer(v: &Value) -> String {
    if v.is_null() {
        return "null (nothing to show)".into();
    }
    let field = |k: &str| v.get(k).and_then(Value::as_str).unwrap_or("?").to_string();
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
