//! The report's sections, in the order `build` runs them: the configuration, where state lives
//! and what it holds, Last.fm, the authorization and its deadline, the scopes, the cached answer,
//! the cooldown, and the live check with Spotify.

use super::*;

pub(super) fn configuration(config: &Config, stores: &Inputs, report: &mut Report) {
    report.title("Configuration");
    item!(report, "credentials", "{}", stores.credentials.describe());
    if let Some(table) = &stores.shared {
        item!(report, "shared state", "{}", table.describe());
    } else {
        item!(
            report,
            "shared state",
            "none (CACHE_TABLE unset: each process keeps its own cache)"
        );
    }
    item!(
        report,
        "source",
        "{}",
        match config.source {
            SourceChoice::Spotify => "spotify",
            SourceChoice::Lastfm => "lastfm (Spotify is not asked)",
            SourceChoice::SpotifyThenLastfm =>
                "spotify,lastfm (Spotify first; Last.fm when Spotify can't be asked)",
        }
    );
    item!(report, "cache window", "{} s", config.cache_ttl.as_secs());
    match &config.allowed_origins {
        AllowedOrigins::Any => item!(report, "allowed origins", "* (any)"),
        AllowedOrigins::List(list) => item!(report, "allowed origins", "{}", list.join(", ")),
    }
    item!(
        report,
        "recent fallback",
        "{}",
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
    if config.profile_endpoints.playlists {
        endpoints.push("playlists");
    }
    item!(
        report,
        "profile endpoints",
        "{}",
        if endpoints.is_empty() {
            "none".to_string()
        } else {
            endpoints.join(", ")
        }
    );
    if config.api_base_url != crate::config::DEFAULT_API_BASE_URL
        || config.accounts_base_url != crate::config::DEFAULT_ACCOUNTS_BASE_URL
    {
        item!(
            report,
            "Spotify",
            "API {}, accounts {}",
            config.api_base_url,
            config.accounts_base_url
        );
    }
}

/// Last.fm, when it is a source: the user, where the key comes from, and one
/// `user.getRecentTracks` call, which proves the key (errors 10, 26), the user (6) and that the
/// recent listening is public (17).
pub(super) async fn lastfm_section(
    config: &Config,
    credentials: Result<&Option<Credentials>, &()>,
    now: Timestamp,
    report: &mut Report,
) {
    if !config.source.uses_lastfm() {
        return;
    }
    report.title("Last.fm");
    let user = config.lastfm_user.clone().unwrap_or_default();
    item!(report, "user", "{user}");
    let key = match (&config.lastfm_api_key, credentials) {
        (Some(k), _) => {
            item!(report, "API key", "from LASTFM_API_KEY");
            Some(k.clone())
        }
        (None, Ok(c)) => match c.as_ref().and_then(crate::source::stored_key) {
            Some(k) => {
                item!(
                    report,
                    "API key",
                    "stored in the credentials (lastfm_api_key)"
                );
                Some(k)
            }
            None => {
                item!(report, "API key", "MISSING");
                report
                    .problems
                    .push(OwnerAction::NoKey.advice().to_string());
                None
            }
        },
        (None, Err(())) => {
            item!(
                report,
                "API key",
                "unknown (the credentials store is unreachable)"
            );
            None
        }
    };
    let Some(key) = key else {
        item!(report, "check", "not done (no API key)");
        return;
    };
    let client = LastFmClient::new(&config.lastfm_api_base_url);
    match client.recent_tracks(&key, &user, 1, now).await {
        Ok(tracks) => {
            let shown = crate::lastfm::map::now_playing(tracks, true);
            item!(
                report,
                "check",
                "OK: the key works, the user exists, recent listening is public; {}",
                match shown {
                    Some(np) => describe_answer(&serde_json::to_value(np).unwrap_or(Value::Null)),
                    None => "no scrobbles yet".into(),
                }
            );
        }
        Err(LastFmError::OwnerMustAct(action)) => {
            item!(report, "check", "PROBLEM: {}", action.advice());
            report.problems.push(action.advice().to_string());
        }
        Err(e) => {
            item!(report, "check", "WARNING: could not check right now: {e}");
            report.warnings += 1;
        }
    }
}

/// The stores: the credentials (`Some` when loaded) and the cached answer (`Some` when the
/// shared state was read).
pub(super) async fn reachability(
    stores: &Inputs,
    report: &mut Report,
) -> (
    Result<Option<Credentials>, ()>,
    Option<Option<StoredAnswer>>,
) {
    report.title("Stores");
    let credentials = match stores.credentials.load().await {
        Ok(c) => {
            item!(report, "credentials store", "reachable");
            Ok(c)
        }
        Err(e) => {
            item!(report, "credentials store", "PROBLEM: {e}");
            report.problems.push(format!(
                "the {} is unreachable or unusable",
                stores.credentials.describe()
            ));
            Err(())
        }
    };
    let mut answer = None;
    if let Some(table) = &stores.shared {
        match stored_answer(table.as_ref(), ANSWER_KEY).await {
            Ok(a) => {
                item!(report, "shared state", "reachable");
                answer = Some(a);
            }
            Err(e) => {
                item!(report, "shared state", "PROBLEM: {e}");
                report
                    .problems
                    .push(format!("the {} is unreachable", table.describe()));
            }
        }
    }
    (credentials, answer)
}

/// The stored sign-in: complete, its six-month limit, its scopes. Returns whether it is usable.
pub(super) fn authorization(
    config: &Config,
    credentials: Result<&Option<Credentials>, &()>,
    now: Timestamp,
    report: &mut Report,
) -> bool {
    report.title("Authorization");
    let loaded = credentials.is_ok();
    let credentials = credentials.ok().and_then(|c| c.as_ref());
    let complete = credentials.is_some_and(|c| c.is_complete());
    match credentials {
        Some(c) if c.is_complete() => {
            item!(report, "credentials", "stored (client id {})", c.client_id)
        }
        Some(c) if !c.client_id.is_empty() && c.refresh_token.is_none() => {
            item!(
                report,
                "credentials",
                "client id {} but no refresh token (disconnected)",
                c.client_id
            );
        }
        Some(_) => item!(report, "credentials", "incomplete"),
        None if loaded => item!(report, "credentials", "none stored"),
        None => item!(report, "credentials", "unknown (store unreachable)"),
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

pub(super) fn signin_limit(c: &Credentials, now: Timestamp, report: &mut Report) {
    let Some(limit) = crate::tokens::signin_limit(c) else {
        item!(
            report,
            "authorized at",
            "unknown (run `nowplaying authorize` to record it)"
        );
        report.warnings += 1;
        return;
    };
    let left_days = crate::tokens::days_left(now, limit);
    let limit_text = crate::owner::rfc3339(limit);
    report.deadline = Some(Deadline {
        limit: limit_text.clone(),
        days_left: left_days,
        level: if limit <= now {
            Level::Problem
        } else if left_days < WARN_DAYS {
            Level::Warning
        } else {
            Level::Ok
        },
    });
    item!(
        report,
        "authorized at",
        "{}",
        c.authorized_at.as_deref().unwrap_or_default()
    );
    if limit <= now {
        item!(
            report,
            "token limit",
            "WARNING: Spotify's six-month limit passed on {limit_text}"
        );
        report.problems.push(
            "the refresh token is past its six-month limit: run `nowplaying authorize`".into(),
        );
    } else if left_days < WARN_DAYS {
        item!(
            report,
            "token limit",
            "WARNING: Spotify's six-month limit runs out on {limit_text} ({left_days} days left)"
        );
        report.problems.push(format!(
            "the refresh token's six-month limit runs out in {left_days} days: run `nowplaying authorize`"
        ));
    } else {
        item!(
            report,
            "token limit",
            "{limit_text} ({left_days} days left)"
        );
    }
}

pub(super) fn scopes(config: &Config, c: &Credentials, report: &mut Report) {
    let extra = config.profile_endpoints.extra_scopes();
    match c.scope.as_deref() {
        Some(scope) => {
            item!(report, "scopes", "{scope}");
            let missing: Vec<&str> = extra
                .iter()
                .copied()
                .filter(|s| !scope.split_whitespace().any(|g| g == *s))
                .collect();
            if !missing.is_empty() {
                item!(
                    report,
                    "scopes",
                    "MISSING {} (needed by PROFILE_ENDPOINTS)",
                    missing.join(", ")
                );
                report.problems.push(format!(
                    "the sign-in lacks {}: run `nowplaying authorize` to grant it",
                    missing.join(", ")
                ));
            }
        }
        None if !extra.is_empty() => {
            item!(
                report,
                "scopes",
                "not recorded; PROFILE_ENDPOINTS needs {}: run `nowplaying authorize` to be sure",
                extra.join(", ")
            );
            report.warnings += 1;
        }
        None => item!(report, "scopes", "not recorded"),
    }
    // A private session can be seen only with the player's scope: without it the service shows
    // what plays as before, which may be what the owner plays privately.
    let private = crate::rules::PLAYBACK_STATE_SCOPE;
    if config.rules.respect_private_session
        && config.source.uses_spotify()
        && c.scope
            .as_deref()
            .is_some_and(|s| !s.split_whitespace().any(|g| g == private))
    {
        item!(
            report,
            "scopes",
            "WARNING: no {private}: private sessions cannot be seen and are shown (RESPECT_PRIVATE_SESSION)"
        );
        report.warnings += 1;
    }
}

pub(super) fn cached_answer(
    stores: &Inputs,
    answer: Option<Option<StoredAnswer>>,
    now: Timestamp,
    report: &mut Report,
) {
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
            top!(
                report,
                "Cached answer",
                "{}{from}{age} ({fresh}{})",
                describe_answer(&a.value),
                if a.stale { ", stale" } else { "" }
            );
            if !a.value.is_null() {
                top!(
                    report,
                    "Last answered by",
                    "{}",
                    if from == " from Last.fm" {
                        "Last.fm"
                    } else {
                        "Spotify"
                    }
                );
            }
        }
        Some(None) => top!(report, "Cached answer", "none"),
        None if stores.shared.is_some() => {}
        None => top!(
            report,
            "Cached answer",
            "kept by each running process (no CACHE_TABLE)"
        ),
    }
}

/// A shared cooldown still running: why no process asks Spotify, and until when.
/// Returns whether one runs.
pub(super) async fn cooldown(stores: &Inputs, now: Timestamp, report: &mut Report) -> bool {
    let Some(table) = &stores.shared else {
        return false;
    };
    let Some((c, until)) = Cooldown::read(table.as_ref()).await else {
        return false;
    };
    if until <= now {
        return false;
    }
    let left = human_age(until.since(now));
    match c {
        Cooldown::RateLimited {
            quota_exceeded: true,
        } => {
            top!(
                report,
                "Spotify cooldown",
                "WARNING: QUOTA_EXCEEDED: {QUOTA_ADVICE}; no calls for {left}"
            );
            report.warnings += 1;
        }
        Cooldown::PremiumRequired { step } => {
            top!(report, "Spotify cooldown", "PROBLEM: {PREMIUM_ADVICE} (403 premium required, {step} time(s) in a row); next call in {left}");
            report.problems.push(PREMIUM_ADVICE.into());
        }
        Cooldown::RateLimited { .. } => {
            top!(
                report,
                "Spotify cooldown",
                "rate limited (429); no calls for {left}"
            )
        }
        Cooldown::Unauthorized { streak } => {
            top!(report, "Spotify cooldown", "WARNING: Spotify rejects fresh access tokens (401, {streak} time(s) in a row); no calls for {left}");
            report.warnings += 1;
        }
    }
    true
}

/// Refreshes the access token (persisting a rotated refresh token like the service) and asks
/// currently-playing once.
pub(super) async fn spotify_check(stores: &Inputs, now: Timestamp, report: &mut Report) {
    let config = &stores.config;
    let spotify = SpotifyClient::new(&config.api_base_url, &config.accounts_base_url);
    let (token, how) = match &stores.live {
        Live::Service(keeper) => (
            keeper.access_token(None).await,
            "asked with the service's access token",
        ),
        Live::Refresh => {
            if let Err(e) = config.shared_secret_needs_table() {
                // A refresh here would take a lease the service cannot see.
                top!(
                    report,
                    "Spotify",
                    "WARNING: not checked live (no refresh without the shared table): {e}"
                );
                report.warnings += 1;
                return;
            }
            let tokens = TokenKeeper::new(
                spotify.clone(),
                stores.credentials.clone(),
                stores.table.clone(),
                stores.clock.clone(),
                format!(
                    "{}-status-{}-{:016x}",
                    crate::store::OWNER_HOLDER,
                    std::process::id(),
                    rand::random::<u64>()
                ),
            )
            .as_owner_command();
            (tokens.refresh_now().await, "refreshed the access token")
        }
    };
    match token {
        Ok(token) => match spotify.currently_playing(&token, now).await {
            Ok(np) => top!(
                report,
                "Spotify",
                "OK: {how}; {}",
                match np {
                    Some(np) => format!(
                        "now {}",
                        describe_answer(&serde_json::to_value(np).unwrap_or(Value::Null))
                    ),
                    None => "nothing is playing".into(),
                }
            ),
            Err(SpotifyError::PremiumRequired) => {
                top!(report, "Spotify", "PROBLEM: {how}, but {PREMIUM_ADVICE}");
                if !report.problems.iter().any(|p| p == PREMIUM_ADVICE) {
                    report.problems.push(PREMIUM_ADVICE.into());
                }
            }
            Err(SpotifyError::RateLimited {
                quota_exceeded: true,
                ..
            }) => {
                top!(
                    report,
                    "Spotify",
                    "WARNING: {how}, but QUOTA_EXCEEDED: {QUOTA_ADVICE}"
                );
                report.warnings += 1;
            }
            Err(e) => {
                top!(
                    report,
                    "Spotify",
                    "{how}, but currently-playing failed: {e}"
                );
                report.warnings += 1;
            }
        },
        Err(e @ (Error::MustReauthorize | Error::InvalidClient | Error::NotAuthorized)) => {
            top!(report, "Spotify", "PROBLEM: {e}");
            report.problems.push(e.to_string());
        }
        Err(Error::Store(e)) => {
            top!(report, "Spotify", "PROBLEM: {e}");
            report.problems.push(e.to_string());
        }
        Err(e) => {
            top!(report, "Spotify", "WARNING: could not check right now: {e}");
            report.warnings += 1;
        }
    }
}
