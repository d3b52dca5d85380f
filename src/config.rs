//! Every environment variable, parsed once, with errors that name the variable.

use std::path::PathBuf;
use std::time::Duration;

use crate::secret::Secret;

/// A configuration value that could not be used. The message is one line naming the variable,
/// the value and what is accepted.
#[derive(Debug, thiserror::Error)]
#[error("{variable}={value:?} is not valid: expected {expected}")]
pub struct ConfigError {
    pub variable: &'static str,
    pub value: String,
    pub expected: &'static str,
}

/// Which origins may read the API from a browser.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AllowedOrigins {
    Any,
    List(Vec<String>),
}

impl AllowedOrigins {
    /// The value for `Access-Control-Allow-Origin` given the request's `Origin`, if any.
    pub fn allow(&self, origin: Option<&str>) -> Option<String> {
        match self {
            AllowedOrigins::Any => Some("*".to_string()),
            AllowedOrigins::List(list) => {
                let origin = origin?;
                list.iter()
                    .any(|o| o.eq_ignore_ascii_case(origin))
                    .then(|| origin.to_string())
            }
        }
    }
}

/// The scope `/v1/me/playlists` needs (it lists private playlists too; only public ones are kept).
pub const PLAYLISTS_SCOPE: &str = "playlist-read-private";

/// Extra endpoints the owner can turn on (`PROFILE_ENDPOINTS`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ProfileEndpoints {
    pub top: bool,
    pub saved: bool,
    /// The listening history: collected plays, `/api/spotify/history*` (no scope beyond
    /// user-read-recently-played, which every sign-in asks for).
    pub history: bool,
    /// The owner's own public playlists (`/api/spotify/playlists`; scope playlist-read-private).
    pub playlists: bool,
}

impl ProfileEndpoints {
    /// The Spotify scopes these endpoints need beyond the base two.
    pub fn extra_scopes(&self) -> Vec<&'static str> {
        let mut scopes = Vec::new();
        if self.top {
            scopes.push("user-top-read");
        }
        if self.saved {
            scopes.push("user-library-read");
        }
        if self.playlists {
            scopes.push(PLAYLISTS_SCOPE);
        }
        scopes
    }
}

/// Where answers come from (`SOURCE`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum SourceChoice {
    /// Spotify only (the default).
    #[default]
    Spotify,
    /// Last.fm only: no Spotify credentials needed.
    Lastfm,
    /// Spotify first; Last.fm when Spotify can't be asked (`spotify,lastfm`).
    SpotifyThenLastfm,
}

impl SourceChoice {
    pub const ACCEPTED: &'static str = "spotify, lastfm or spotify,lastfm";

    pub fn as_str(self) -> &'static str {
        match self {
            SourceChoice::Spotify => "spotify",
            SourceChoice::Lastfm => "lastfm",
            SourceChoice::SpotifyThenLastfm => "spotify,lastfm",
        }
    }

    pub fn uses_spotify(self) -> bool {
        self != SourceChoice::Lastfm
    }

    pub fn uses_lastfm(self) -> bool {
        self != SourceChoice::Spotify
    }

    /// Parses `spotify`, `lastfm` or `spotify,lastfm` (case and spaces ignored).
    pub fn parse(value: &str) -> Option<SourceChoice> {
        let parts: Vec<String> = value
            .split(',')
            .map(|p| p.trim().to_ascii_lowercase())
            .collect();
        match parts.iter().map(String::as_str).collect::<Vec<_>>()[..] {
            ["spotify"] => Some(SourceChoice::Spotify),
            ["lastfm"] => Some(SourceChoice::Lastfm),
            ["spotify", "lastfm"] => Some(SourceChoice::SpotifyThenLastfm),
            _ => None,
        }
    }
}

/// The whole configuration of the service and the owner's commands.
#[derive(Debug, Clone)]
pub struct Config {
    pub token_secret_id: Option<String>,
    /// `CONSOLE_KEY_SECRET_ID`: the secret whose JSON holds the console's `console_key` (the
    /// template creates it once, apart from the credentials, so that updating a stack never
    /// regenerates the credentials secret). Unset: `console_key` is in the credentials document.
    pub console_key_secret_id: Option<String>,
    pub credentials_path: PathBuf,
    pub cache_table: Option<String>,
    /// `HISTORY_TABLE`: the DynamoDB table of the listening history (needed with
    /// `PROFILE_ENDPOINTS=history` whenever `CACHE_TABLE` is set); unset, the history is the
    /// SQLite file next to the credentials file ([`Config::history_path`]).
    pub history_table: Option<String>,
    pub cache_ttl: Duration,
    pub allowed_origins: AllowedOrigins,
    pub show_recent: bool,
    pub profile_endpoints: ProfileEndpoints,
    /// Cache window of `/api/spotify/recent` (`RECENT_TTL_SECONDS`).
    pub recent_ttl: Duration,
    /// Cache window of `/api/spotify/top/*` (`TOP_TTL_SECONDS`).
    pub top_ttl: Duration,
    /// Cache window of `/api/spotify/saved` (`SAVED_TTL_SECONDS`).
    pub saved_ttl: Duration,
    /// Cache window of `/api/spotify/playlists` (`PLAYLISTS_TTL_SECONDS`).
    pub playlists_ttl: Duration,
    pub client_id: Option<String>,
    pub client_secret: Option<Secret>,
    pub api_base_url: String,
    pub accounts_base_url: String,
    /// `SOURCE`.
    pub source: SourceChoice,
    /// `LASTFM_USER`: set whenever `source` uses Last.fm.
    pub lastfm_user: Option<String>,
    /// `LASTFM_API_KEY`: only without `TOKEN_SECRET_ID` (else the key lives in the secret, as
    /// `lastfm_api_key`); may also come from the local credentials file.
    pub lastfm_api_key: Option<Secret>,
    /// `LASTFM_API_BASE_URL`, without the trailing `/`.
    pub lastfm_api_base_url: String,
    /// `OWNER_SPOTIFY_ID`: the owner's Spotify user id; set, the console at `/owner` is on.
    pub owner_spotify_id: Option<String>,
    /// `PUBLIC_URL`: the base URL the console's callback is registered under (no trailing `/`);
    /// unset, `serve` uses its own address and Lambda the request context's domain.
    pub public_url: Option<String>,
    /// `CDN_ORIGIN_SECRET`: set (by the template, with its CDN), every request except the
    /// owner's console must carry it in [`ORIGIN_SECRET_HEADER`], which only CloudFront adds.
    pub cdn_origin_secret: Option<Secret>,
    /// `OPEN_FALLBACK_URL`: where `GET /api/spotify/open` sends a visitor when there is no song
    /// to open (nothing played, a local file, hidden); unset, that is a `404`.
    pub open_fallback_url: Option<String>,
    /// The privacy rules (`HIDE_*`, `QUIET_HOURS`, `TIMEZONE`, `RESPECT_PRIVATE_SESSION`,
    /// `PUBLISH_DELAY_SECONDS`).
    pub rules: crate::rules::Rules,
}

/// The header CloudFront adds to every request it sends the function (`CDN_ORIGIN_SECRET`).
pub const ORIGIN_SECRET_HEADER: &str = "x-origin-verify";

pub const DEFAULT_API_BASE_URL: &str = "https://api.spotify.com";
pub const DEFAULT_LASTFM_API_BASE_URL: &str = "https://ws.audioscrobbler.com/2.0/";
pub const DEFAULT_ACCOUNTS_BASE_URL: &str = "https://accounts.spotify.com";

impl Config {
    /// Reads the process environment.
    pub fn from_env() -> Result<Config, ConfigError> {
        Config::from_lookup(|name| std::env::var(name).ok())
    }

    /// A configuration from these variables alone, for tests; panics on a bad one.
    #[cfg(test)]
    pub fn from_pairs(pairs: &[(&str, &str)]) -> Config {
        let map: std::collections::HashMap<&str, &str> = pairs.iter().copied().collect();
        Config::from_lookup(|k| map.get(k).map(|v| v.to_string())).unwrap()
    }

    /// Reads configuration through `get` (the environment, or a map in tests).
    pub fn from_lookup(get: impl Fn(&str) -> Option<String>) -> Result<Config, ConfigError> {
        let env = Env(get);
        let token_secret_id = env.get("TOKEN_SECRET_ID");
        let source = env.source()?;
        let config = Config {
            credentials_path: match env.get("NOWPLAYING_CREDENTIALS") {
                Some(p) => PathBuf::from(p),
                None => default_credentials_path(|n| env.get(n)),
            },
            cache_table: env.get("CACHE_TABLE"),
            history_table: env.get("HISTORY_TABLE"),
            cache_ttl: env.cache_ttl()?,
            allowed_origins: env.allowed_origins()?,
            show_recent: env.show_recent()?,
            profile_endpoints: env.profile_endpoints()?,
            recent_ttl: env.window("RECENT_TTL_SECONDS", 30)?,
            top_ttl: env.window("TOP_TTL_SECONDS", 3600)?,
            saved_ttl: env.window("SAVED_TTL_SECONDS", 300)?,
            playlists_ttl: env.window("PLAYLISTS_TTL_SECONDS", 300)?,
            client_id: env.get("SPOTIFY_CLIENT_ID"),
            client_secret: env.get("SPOTIFY_CLIENT_SECRET").map(Secret::new),
            api_base_url: env.url(
                "SPOTIFY_API_BASE_URL",
                DEFAULT_API_BASE_URL,
                "an http(s) URL such as https://api.spotify.com",
            )?,
            accounts_base_url: env.url(
                "SPOTIFY_ACCOUNTS_BASE_URL",
                DEFAULT_ACCOUNTS_BASE_URL,
                "an http(s) URL such as https://api.spotify.com",
            )?,
            lastfm_user: env.lastfm_user(source)?,
            lastfm_api_key: env.lastfm_api_key(token_secret_id.is_some())?,
            lastfm_api_base_url: env.url(
                "LASTFM_API_BASE_URL",
                DEFAULT_LASTFM_API_BASE_URL,
                "an http(s) URL such as https://ws.audioscrobbler.com/2.0/",
            )?,
            owner_spotify_id: env.owner_spotify_id()?,
            public_url: match env.get("PUBLIC_URL") {
                None => None,
                Some(_) => Some(env.url(
                    "PUBLIC_URL",
                    "",
                    "an http(s) base URL such as https://abc123.execute-api.eu-west-1.amazonaws.com",
                )?),
            },
            cdn_origin_secret: env.cdn_origin_secret()?,
            open_fallback_url: match env.get("OPEN_FALLBACK_URL") {
                None => None,
                Some(_) => Some(env.url(
                    "OPEN_FALLBACK_URL",
                    "",
                    "an http(s) URL such as https://open.spotify.com/user/YOUR_ID",
                )?),
            },
            token_secret_id,
            console_key_secret_id: env.get("CONSOLE_KEY_SECRET_ID"),
            rules: rules::from_lookup(|name| env.get(name))?,
            source,
        };
        config.history_needs_table()?;
        Ok(config)
    }
}

impl Config {
    /// The SQLite file of the history when there is no `HISTORY_TABLE`: `history.sqlite3` in
    /// the credentials file's folder.
    pub fn history_path(&self) -> PathBuf {
        self.credentials_path
            .parent()
            .map(|d| d.join("history.sqlite3"))
            .unwrap_or_else(|| PathBuf::from("history.sqlite3"))
    }

    /// With the history on and a shared table, the history must be shared too: each Lambda
    /// instance writing a SQLite file of its own would keep nothing.
    pub fn history_needs_table(&self) -> Result<(), ConfigError> {
        if self.profile_endpoints.history
            && self.cache_table.is_some()
            && self.history_table.is_none()
        {
            return Err(ConfigError {
                variable: "HISTORY_TABLE",
                value: String::new(),
                expected: "a DynamoDB table name whenever PROFILE_ENDPOINTS has history and CACHE_TABLE is set (the template's HistoryTable): a file in a Lambda instance would keep nothing",
            });
        }
        Ok(())
    }

    /// Credentials in Secrets Manager without a shared table: every process would take the
    /// refresh lease in its own memory, and two of them would present the same refresh token.
    /// Only a process that is alone may run so (`nowplaying serve`); Lambda never is.
    pub fn shared_secret_needs_table(&self) -> Result<(), ConfigError> {
        match (&self.token_secret_id, &self.cache_table) {
            (Some(_), None) => Err(ConfigError {
                variable: "CACHE_TABLE",
                value: String::new(),
                expected: "a DynamoDB table name whenever TOKEN_SECRET_ID is set: without the table each process refreshes under a lease of its own, and two processes would present the same refresh token (only `nowplaying serve`, one process, may run that way)",
            }),
            _ => Ok(()),
        }
    }
}

/// The variables as read through a lookup; one parser per setting, each error naming the
/// variable, the value and what is accepted.
struct Env<F>(F);

impl<F: Fn(&str) -> Option<String>> Env<F> {
    /// The trimmed value; an empty one counts as unset (SAM and shells often pass "" for
    /// "nothing").
    fn get(&self, name: &str) -> Option<String> {
        (self.0)(name)
            .map(|v| v.trim().to_string())
            .filter(|v| !v.is_empty())
    }

    fn cache_ttl(&self) -> Result<Duration, ConfigError> {
        match self.get("CACHE_TTL_SECONDS") {
            None => Ok(Duration::from_secs(5)),
            Some(v) => match v.parse::<u64>() {
                Ok(n) if n <= 3600 => Ok(Duration::from_secs(n)),
                _ => Err(ConfigError {
                    variable: "CACHE_TTL_SECONDS",
                    value: v,
                    expected: "a whole number of seconds from 0 (no cache) to 3600",
                }),
            },
        }
    }

    fn allowed_origins(&self) -> Result<AllowedOrigins, ConfigError> {
        let v = match self.get("ALLOWED_ORIGINS") {
            None => return Ok(AllowedOrigins::Any),
            Some(v) if v == "*" => return Ok(AllowedOrigins::Any),
            Some(v) => v,
        };
        let list: Vec<String> = v
            .split(',')
            .map(|s| s.trim().trim_end_matches('/').to_string())
            .filter(|s| !s.is_empty())
            .collect();
        let valid = |o: &String| {
            (o.starts_with("https://") || o.starts_with("http://"))
                && !o[o.find("://").unwrap_or(0) + 3..].is_empty()
        };
        if list.is_empty() || !list.iter().all(valid) {
            return Err(ConfigError {
                variable: "ALLOWED_ORIGINS",
                value: v,
                expected: "* or a comma-separated list of origins like https://example.com",
            });
        }
        Ok(AllowedOrigins::List(list))
    }

    fn show_recent(&self) -> Result<bool, ConfigError> {
        match self.get("SHOW_RECENT") {
            None => Ok(true),
            Some(v) => parse_bool(&v).ok_or(ConfigError {
                variable: "SHOW_RECENT",
                value: v,
                expected: "true or false",
            }),
        }
    }

    fn profile_endpoints(&self) -> Result<ProfileEndpoints, ConfigError> {
        let mut endpoints = ProfileEndpoints::default();
        let Some(v) = self.get("PROFILE_ENDPOINTS") else {
            return Ok(endpoints);
        };
        for part in v.split(',').map(str::trim).filter(|s| !s.is_empty()) {
            match part.to_ascii_lowercase().as_str() {
                "top" => endpoints.top = true,
                "saved" => endpoints.saved = true,
                "history" => endpoints.history = true,
                "playlists" => endpoints.playlists = true,
                _ => {
                    return Err(ConfigError {
                        variable: "PROFILE_ENDPOINTS",
                        value: v,
                        expected: "a comma-separated list of: top, saved, history, playlists",
                    })
                }
            }
        }
        Ok(endpoints)
    }

    /// A profile endpoint's window: at least a second (every window must bound the calls to
    /// Spotify), at most a day.
    fn window(&self, name: &'static str, default: u64) -> Result<Duration, ConfigError> {
        match self.get(name) {
            None => Ok(Duration::from_secs(default)),
            Some(v) => match v.parse::<u64>() {
                Ok(n) if (1..=86_400).contains(&n) => Ok(Duration::from_secs(n)),
                _ => Err(ConfigError {
                    variable: name,
                    value: v,
                    expected: "a whole number of seconds from 1 to 86400",
                }),
            },
        }
    }

    /// An http(s) base URL, without its trailing `/`.
    fn url(
        &self,
        name: &'static str,
        default: &str,
        expected: &'static str,
    ) -> Result<String, ConfigError> {
        match self.get(name) {
            None => Ok(default.trim_end_matches('/').to_string()),
            Some(v) => match url::Url::parse(&v) {
                Ok(u) if matches!(u.scheme(), "http" | "https") && u.host().is_some() => {
                    Ok(v.trim_end_matches('/').to_string())
                }
                _ => Err(ConfigError {
                    variable: name,
                    value: v,
                    expected,
                }),
            },
        }
    }

    /// At least 16 characters that can travel in a header (printable ASCII, no spaces), so that
    /// an empty or trivial value never turns the check into one anybody passes.
    fn cdn_origin_secret(&self) -> Result<Option<Secret>, ConfigError> {
        match self.get("CDN_ORIGIN_SECRET") {
            None => Ok(None),
            Some(v) if v.len() >= 16 && v.bytes().all(|b| b.is_ascii_graphic()) => {
                Ok(Some(Secret::new(v)))
            }
            Some(v) => Err(ConfigError {
                variable: "CDN_ORIGIN_SECRET",
                // The value itself is never shown: only its length.
                value: format!("[{} characters]", v.len()),
                expected: "at least 16 printable ASCII characters without spaces",
            }),
        }
    }

    /// A Spotify user id: letters, digits, `.`, `_` and `-` (what profile links show).
    fn owner_spotify_id(&self) -> Result<Option<String>, ConfigError> {
        match self.get("OWNER_SPOTIFY_ID") {
            None => Ok(None),
            Some(v)
                if v.len() <= 128
                    && v.chars()
                        .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-')) =>
            {
                Ok(Some(v))
            }
            Some(v) => Err(ConfigError {
                variable: "OWNER_SPOTIFY_ID",
                value: v,
                expected:
                    "your Spotify user id (letters, digits, . _ -), as in open.spotify.com/user/ID",
            }),
        }
    }

    fn source(&self) -> Result<SourceChoice, ConfigError> {
        match self.get("SOURCE") {
            None => Ok(SourceChoice::Spotify),
            Some(v) => SourceChoice::parse(&v).ok_or(ConfigError {
                variable: "SOURCE",
                value: v,
                expected: SourceChoice::ACCEPTED,
            }),
        }
    }

    fn lastfm_user(&self, source: SourceChoice) -> Result<Option<String>, ConfigError> {
        match self.get("LASTFM_USER") {
            Some(v) if !valid_lastfm_user(&v) => Err(ConfigError {
                variable: "LASTFM_USER",
                value: v,
                expected: "a Last.fm user name (letters, digits, - and _, at most 64)",
            }),
            None if source.uses_lastfm() => Err(ConfigError {
                variable: "LASTFM_USER",
                value: String::new(),
                expected:
                    "the Last.fm user whose scrobbles are shown (needed by SOURCE with lastfm)",
            }),
            v => Ok(v),
        }
    }

    /// The key is a secret: the error names the variable but never shows the value.
    fn lastfm_api_key(&self, in_secret: bool) -> Result<Option<Secret>, ConfigError> {
        match self.get("LASTFM_API_KEY") {
            Some(_) if in_secret => Err(ConfigError {
                variable: "LASTFM_API_KEY",
                value: "[redacted]".into(),
                expected: "unset while TOKEN_SECRET_ID is set: put the key into that secret as lastfm_api_key (docs/deploy-aws.md)",
            }),
            Some(v) if !valid_lastfm_key(&v) => Err(ConfigError {
                variable: "LASTFM_API_KEY",
                value: "[redacted]".into(),
                expected: "a Last.fm API key (letters and digits, like the 32 hex digits of https://www.last.fm/api/account/create)",
            }),
            v => Ok(v.map(Secret::new)),
        }
    }
}

/// `$XDG_CONFIG_HOME/nowplaying/credentials.json`, else `~/.config/nowplaying/credentials.json`.
pub fn default_credentials_path(get: impl Fn(&str) -> Option<String>) -> PathBuf {
    let base = get("XDG_CONFIG_HOME")
        .map(PathBuf::from)
        .or_else(|| get("HOME").map(|h| PathBuf::from(h).join(".config")))
        .unwrap_or_else(|| PathBuf::from("."));
    base.join("nowplaying").join("credentials.json")
}

/// Last.fm user names are 2 to 15 letters, digits, `-` and `_`; older ones may differ a little,
/// so this only keeps out what cannot be one (and what would need escaping in a URL).
fn valid_lastfm_user(v: &str) -> bool {
    (1..=64).contains(&v.len())
        && v.chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
}

/// Last.fm API keys are 32 hex digits; anything alphanumeric of a plausible length passes.
fn valid_lastfm_key(v: &str) -> bool {
    (16..=64).contains(&v.len()) && v.chars().all(|c| c.is_ascii_alphanumeric())
}

fn parse_bool(v: &str) -> Option<bool> {
    match v.to_ascii_lowercase().as_str() {
        "true" | "1" | "yes" | "on" => Some(true),
        "false" | "0" | "no" | "off" => Some(false),
        _ => None,
    }
}

pub mod rules;
#[cfg(test)]
mod tests;
