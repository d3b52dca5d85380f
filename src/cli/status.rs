//! `nowplaying status`: what is configured, reachable and valid. Exits 0 when all is well and 1
//! when the owner must act (no credentials, a rejected refresh token or client, the refresh-token
//! limit close, a missing scope, a store out of reach). Never prints a secret or a token.

use std::sync::Arc;

use serde_json::Value;

use crate::app;
use crate::clock::SystemClock;
use crate::config::{AllowedOrigins, Config};
use crate::error::Error;
use crate::nowplaying::{stored_answer, ANSWER_KEY};
use crate::spotify::SpotifyClient;
use crate::tokens::TokenKeeper;

/// Spotify's limit on a refresh token's life from the sign-in, as this project counts it.
pub const REFRESH_TOKEN_LIFETIME_DAYS: i64 = 182;
/// Warn (and exit 1) this long before that limit.
pub const WARN_DAYS: i64 = 14;

const DAY_MS: i64 = 24 * 3600 * 1000;

pub async fn run(config: Config) -> Result<(), String> {
    let stores = app::stores(&config).await;
    let now = crate::cli::now_ms();
    let mut problems: Vec<String> = Vec::new();
    let mut warnings = 0usize;

    println!("Configuration");
    println!("  credentials:        {}", stores.credentials.describe());
    if stores.shared {
        println!("  shared state:       {}", stores.state.describe());
    } else {
        println!(
            "  shared state:       none (CACHE_TABLE unset: each process keeps its own cache)"
        );
    }
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
    let extra = config.profile_endpoints.extra_scopes();
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

    println!("Stores");
    let mut loaded = false;
    let credentials = match stores.credentials.load().await {
        Ok(c) => {
            println!("  credentials store:  reachable");
            loaded = true;
            c
        }
        Err(e) => {
            println!("  credentials store:  PROBLEM: {e}");
            problems.push(format!(
                "the {} is unreachable or unusable",
                stores.credentials.describe()
            ));
            None
        }
    };
    let mut answer = None;
    if stores.shared {
        match stored_answer(stores.state.as_ref(), ANSWER_KEY).await {
            Ok(a) => {
                println!("  shared state:       reachable");
                answer = Some(a);
            }
            Err(e) => {
                println!("  shared state:       PROBLEM: {e}");
                problems.push(format!("the {} is unreachable", stores.state.describe()));
            }
        }
    }

    println!("Authorization");
    let complete = credentials.as_ref().is_some_and(|c| c.is_complete());
    match &credentials {
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
        problems.push("no usable credentials: run `nowplaying authorize`".into());
    }
    if let Some(c) = credentials.as_ref().filter(|c| c.is_complete()) {
        match c.authorized_at.as_deref().and_then(parse_rfc3339_ms) {
            Some(at) => {
                let limit = at + REFRESH_TOKEN_LIFETIME_DAYS * DAY_MS;
                let left_ms = limit - now as i64;
                let left_days = left_ms.div_euclid(DAY_MS);
                let limit_text = super::authorize::rfc3339(limit.max(0) as u64);
                println!(
                    "  authorized at:      {}",
                    c.authorized_at.as_deref().unwrap_or_default()
                );
                if left_ms <= 0 {
                    println!("  token limit:        WARNING: Spotify's six-month limit passed on {limit_text}");
                    problems.push(
                        "the refresh token is past its six-month limit: run `nowplaying authorize`"
                            .into(),
                    );
                } else if left_days < WARN_DAYS {
                    println!("  token limit:        WARNING: Spotify's six-month limit runs out on {limit_text} ({left_days} days left)");
                    problems.push(format!(
                        "the refresh token's six-month limit runs out in {left_days} days: run `nowplaying authorize`"
                    ));
                } else {
                    println!("  token limit:        {limit_text} ({left_days} days left)");
                }
            }
            None => {
                println!("  authorized at:      unknown (run `nowplaying authorize` to record it)");
                warnings += 1;
            }
        }
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
                    problems.push(format!(
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
                warnings += 1;
            }
            None => println!("  scopes:             not recorded"),
        }
    }

    let hidden = super::privacy::is_hidden(&config, &stores).await;
    println!(
        "Privacy switch:       {}",
        if hidden {
            "ON: /api/spotify answers null (`nowplaying show` turns it off)"
        } else {
            "off"
        }
    );

    match answer {
        Some(Some(a)) => {
            let age = if a.good_at_ms > 0 {
                format!(
                    ", read from Spotify {} ago",
                    human_age(now.saturating_sub(a.good_at_ms))
                )
            } else {
                String::new()
            };
            let fresh = if now < a.fresh_until_ms {
                "current"
            } else {
                "expired"
            };
            println!(
                "Cached answer:        {}{age} ({fresh}{})",
                describe_answer(&a.value),
                if a.stale { ", stale" } else { "" }
            );
        }
        Some(None) => println!("Cached answer:        none"),
        None if stores.shared => {}
        None => println!("Cached answer:        kept by each running process (no CACHE_TABLE)"),
    }

    if complete {
        let spotify = SpotifyClient::new(&config.api_base_url, &config.accounts_base_url);
        let tokens = TokenKeeper::new(
            spotify.clone(),
            stores.credentials.clone(),
            stores.state.clone(),
            Arc::new(SystemClock),
            format!("status-{}", app::instance_id()),
        );
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
                Err(e) => {
                    println!("Spotify:              refreshed the access token, but currently-playing failed: {e}");
                    warnings += 1;
                }
            },
            Err(e @ (Error::MustReauthorize | Error::InvalidClient | Error::NotAuthorized)) => {
                println!("Spotify:              PROBLEM: {e}");
                problems.push(e.to_string());
            }
            Err(Error::Store(e)) => {
                println!("Spotify:              PROBLEM: {e}");
                problems.push(e.to_string());
            }
            Err(e) => {
                println!("Spotify:              WARNING: could not check right now: {e}");
                warnings += 1;
            }
        }
    } else {
        println!("Spotify:              not checked (no usable credentials)");
    }

    if problems.is_empty() {
        if warnings == 0 {
            println!("All good.");
        } else {
            println!("Working, with {warnings} warning(s) above.");
        }
        Ok(())
    } else {
        Err(format!("action needed: {}", problems.join("; ")))
    }
}

/// RFC 3339 to epoch milliseconds.
fn parse_rfc3339_ms(s: &str) -> Option<i64> {
    let t = time::OffsetDateTime::parse(s, &time::format_description::well_known::Rfc3339).ok()?;
    Some((t.unix_timestamp_nanos() / 1_000_000) as i64)
}

fn human_age(ms: u64) -> String {
    let s = ms / 1000;
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

    #[test]
    fn ages_and_dates() {
        assert_eq!(human_age(5_000), "5 s");
        assert_eq!(human_age(600_000), "10 min");
        assert_eq!(
            parse_rfc3339_ms("2026-11-23T10:00:00Z"),
            Some(1_795_428_000_000)
        );
        assert_eq!(parse_rfc3339_ms("yesterday"), None);
    }
}
