//! Builds everything once per process (cold start) from the configuration: the stores, the
//! Spotify client, the service and the Router's state.

use std::sync::Arc;
use std::time::Duration;

use crate::cache::{AnswerCache, CacheSettings};
use crate::clock::{SharedClock, SystemClock};
use crate::config::Config;
use crate::history::HistoryStore;
use crate::http::{AppState, SharedApp};
use crate::owner::PrivacySwitch;
use crate::source::Sources;
use crate::spotify::SpotifyClient;
use crate::store::dynamo::DynamoState;
use crate::store::fallback::FallbackState;
use crate::store::file::FileCredentials;
use crate::store::memory::MemoryState;
use crate::store::secrets::SecretsCredentials;
use crate::store::{CredentialStore, SharedState, Table};
use crate::tokens::{AuthWatch, TokenKeeper};
use crate::upstream::Upstream;

/// The two stores as configured: where the owner's credentials live, and the deployment.
#[derive(Clone)]
pub struct Stores {
    pub credentials: Arc<dyn CredentialStore>,
    pub deployment: Deployment,
    /// Where the console's `console_key` lives when it is not in the credentials document
    /// (`CONSOLE_KEY_SECRET_ID`); read only by the console.
    pub console_key: Option<Arc<dyn CredentialStore>>,
    /// The listening history, when `PROFILE_ENDPOINTS` has `history`: DynamoDB
    /// (`HISTORY_TABLE`), else the SQLite file next to the credentials (the demo: memory).
    pub history: Option<Arc<dyn HistoryStore>>,
}

/// How the processes of this deployment share what they must agree on. Everything that differs
/// between the two (where the privacy switch lives, how a running process notices the owner's
/// sign-in, what the answer cache writes to, what the token keeper leases in) is derived here,
/// once.
#[derive(Clone)]
pub enum Deployment {
    /// Processes share a DynamoDB table (`CACHE_TABLE`: Lambda, or several `serve`s): answers,
    /// leases, tokens, the privacy switch and the sign-in generation live in it.
    Shared { table: Table },
    /// One process without a table: its memory holds what the table would, and the privacy switch
    /// is a file next to `credentials_path`.
    Local {
        memory: Table,
        credentials_path: std::path::PathBuf,
        /// Whether the credentials are that file (watched for the owner's sign-in), not a secret.
        credentials_in_file: bool,
    },
}

impl Stores {
    /// Credentials and a shared DynamoDB table.
    pub fn shared(credentials: Arc<dyn CredentialStore>, table: DynamoState) -> Stores {
        Stores {
            credentials,
            deployment: Deployment::Shared {
                table: Table::dynamo(table),
            },
            console_key: None,
            history: None,
        }
    }

    /// Credentials in the file at `credentials_path` and one process's memory.
    pub fn local(
        credentials: Arc<dyn CredentialStore>,
        memory: Arc<MemoryState>,
        credentials_path: impl Into<std::path::PathBuf>,
    ) -> Stores {
        Stores {
            credentials,
            deployment: Deployment::Local {
                memory: Table::memory(memory),
                credentials_path: credentials_path.into(),
                credentials_in_file: true,
            },
            console_key: None,
            history: None,
        }
    }

    /// The same stores with `history` as the listening history.
    pub fn with_history(mut self, history: Arc<dyn HistoryStore>) -> Stores {
        self.history = Some(history);
        self
    }

    /// The state the token keeper leases in: the table, or this process's memory.
    pub fn table(&self) -> &Table {
        self.deployment.table()
    }

    /// The table shared by every process, when there is one (what the owner's commands change).
    pub fn shared_table(&self) -> Option<&Table> {
        self.deployment.shared_table()
    }
}

impl Deployment {
    /// The state the token keeper leases in: the table, or this process's memory.
    pub fn table(&self) -> &Table {
        match self {
            Deployment::Shared { table } => table,
            Deployment::Local { memory, .. } => memory,
        }
    }

    /// The table shared by every process, when there is one.
    pub fn shared_table(&self) -> Option<&Table> {
        match self {
            Deployment::Shared { table } => Some(table),
            Deployment::Local { .. } => None,
        }
    }

    /// Where the privacy switch lives: the shared table, else a file next to the credentials.
    pub fn privacy_switch(&self) -> PrivacySwitch {
        match self {
            Deployment::Shared { table } => PrivacySwitch::Shared(table.state()),
            Deployment::Local {
                credentials_path, ..
            } => PrivacySwitch::File(crate::owner::hidden_file(credentials_path)),
        }
    }

    /// How a running process notices the owner's `authorize` and `disconnect` (see
    /// [`crate::tokens`]): the shared table's generation record, else the local credentials
    /// file. Credentials in Secrets Manager without a shared table are not watched (a read per
    /// cache miss would cost money): such a process notices at its next refresh, within the
    /// hour, or when restarted.
    pub fn auth_watch(&self) -> AuthWatch {
        match self {
            Deployment::Shared { .. } => AuthWatch::Shared,
            Deployment::Local {
                credentials_path,
                credentials_in_file: true,
                ..
            } => AuthWatch::File(credentials_path.clone()),
            Deployment::Local { .. } => AuthWatch::None,
        }
    }

    /// What the answer cache reads and writes: the table behind a memory fallback (answers may
    /// degrade to one process's memory when the table fails), or the memory itself.
    pub fn answer_state(&self, clock: SharedClock) -> Arc<dyn SharedState> {
        match self {
            Deployment::Shared { table } => Arc::new(FallbackState::new(table.state(), clock)),
            Deployment::Local { memory, .. } => memory.state(),
        }
    }
}

/// The AWS SDK's configuration, with timeouts short enough that an unreachable store degrades
/// the answer instead of holding the request.
pub async fn aws_config() -> aws_config::SdkConfig {
    let timeouts = aws_config::timeout::TimeoutConfig::builder()
        .connect_timeout(Duration::from_millis(800))
        .operation_attempt_timeout(Duration::from_millis(1_000))
        .operation_timeout(Duration::from_millis(2_000))
        .build();
    // The SDK's hyper 1 client on rustls with ring: the same TLS stack as reqwest's, so the
    // binary carries one (see Cargo.toml).
    let http = aws_smithy_http_client::Builder::new()
        .tls_provider(aws_smithy_http_client::tls::Provider::Rustls(
            aws_smithy_http_client::tls::rustls_provider::CryptoMode::Ring,
        ))
        .build_https();
    aws_config::defaults(aws_config::BehaviorVersion::latest())
        .http_client(http)
        .timeout_config(timeouts)
        .retry_config(aws_config::retry::RetryConfig::standard().with_max_attempts(2))
        .load()
        .await
}

/// The stores named by the configuration: Secrets Manager or a local file; DynamoDB or memory.
pub async fn stores(config: &Config) -> Stores {
    let aws = if config.token_secret_id.is_some()
        || config.cache_table.is_some()
        || config.console_key_secret_id.is_some()
        || config.history_table.is_some()
    {
        let aws = aws_config().await;
        startup_mark("aws_config");
        Some(aws)
    } else {
        None
    };
    let credentials: Arc<dyn CredentialStore> = match (&config.token_secret_id, &aws) {
        // Built on first use: a cold start that finds a fresh answer never reads the secret.
        (Some(id), Some(aws)) => Arc::new(SecretsCredentials::lazy(aws.clone(), id.clone())),
        _ => Arc::new(FileCredentials::new(config.credentials_path.clone())),
    };
    let deployment = match (&config.cache_table, &aws) {
        (Some(table), Some(aws)) => Deployment::Shared {
            table: Table::dynamo(DynamoState::new(
                aws_sdk_dynamodb::Client::new(aws),
                table.clone(),
            )),
        },
        _ => Deployment::Local {
            memory: Table::memory(Arc::new(MemoryState::new())),
            credentials_path: config.credentials_path.clone(),
            credentials_in_file: config.token_secret_id.is_none(),
        },
    };
    let console_key = match (&config.console_key_secret_id, &aws) {
        (Some(id), Some(aws)) => {
            Some(Arc::new(SecretsCredentials::lazy(aws.clone(), id.clone()))
                as Arc<dyn CredentialStore>)
        }
        _ => None,
    };
    let history = history_store(config, aws.as_ref());
    Stores {
        credentials,
        deployment,
        console_key,
        history,
    }
}

/// The listening history the configuration names: none unless `PROFILE_ENDPOINTS` has
/// `history`; then `HISTORY_TABLE` in DynamoDB, else SQLite next to the credentials file.
/// Opening is lazy: nothing is read or created before the first collection or request.
pub fn history_store(
    config: &Config,
    aws: Option<&aws_config::SdkConfig>,
) -> Option<Arc<dyn HistoryStore>> {
    if !config.profile_endpoints.history {
        return None;
    }
    Some(match (&config.history_table, aws) {
        (Some(table), Some(aws)) => Arc::new(crate::history::dynamo::DynamoHistory::new(
            aws_sdk_dynamodb::Client::new(aws),
            table.clone(),
        )),
        _ => Arc::new(crate::history::sqlite::SqliteHistory::new(
            config.history_path(),
        )),
    })
}

/// A random id for this process; each lease it takes adds its own version to it.
pub fn instance_id() -> String {
    format!("{}-{:016x}", std::process::id(), rand::random::<u64>())
}

/// The service and the Router's state, from already-built parts. The answer cache degrades to
/// memory when the table fails; the token keeper is given the table itself (fail closed).
pub fn build(
    config: &Config,
    stores: &Stores,
    spotify: SpotifyClient,
    clock: SharedClock,
) -> SharedApp {
    let deployment = &stores.deployment;
    let answers = deployment.answer_state(clock.clone());
    let instance = instance_id();
    let watch = deployment.auth_watch();
    let tokens = TokenKeeper::new(
        spotify.clone(),
        stores.credentials.clone(),
        deployment.table().clone(),
        clock.clone(),
        instance.clone(),
    )
    .with_watch(watch.clone());
    let privacy = match deployment.privacy_switch() {
        // The switch is read through the answer store, so a failing table degrades it alike.
        PrivacySwitch::Shared(_) => PrivacySwitch::Shared(answers.clone()),
        local => local,
    };
    let sources = Sources::from_config(
        config,
        stores.credentials.clone(),
        answers.clone(),
        clock.clone(),
    );
    let mut cache = AnswerCache::new(
        answers,
        clock.clone(),
        CacheSettings::with_ttl(config.cache_ttl),
        instance,
        privacy,
    );
    if matches!(watch, AuthWatch::Shared) {
        // A miss reads the sign-in generation with the answer; the keeper need not read it again.
        let keeper = tokens.clone();
        cache = cache.observing_generation(move |g| keeper.observe_generation(g));
    }
    let console = console(config, stores, &spotify, &tokens, &clock);
    // The API bases served over plain http (emulators, the demo): art may be fetched from them
    // and their URLs may reach the JSON; everywhere else only https.
    let plain_http_hosts: Vec<String> = [&config.api_base_url, &config.lastfm_api_base_url]
        .into_iter()
        .flat_map(|u| crate::art::plain_http_hosts(u))
        .collect();
    Arc::new(AppState {
        urls: crate::http::urls::UrlPolicy::new(plain_http_hosts.clone()),
        console,
        cache,
        upstream: Upstream::new(spotify, tokens.clone(), clock.clone()),
        tokens,
        show_recent: config.show_recent,
        allowed_origins: config.allowed_origins.clone(),
        art: crate::art::ArtCache::new(crate::http::ART_MAX_BYTES, plain_http_hosts, clock),
        art_hosts: art_hosts(config),
        profile: crate::lists::ProfileSettings::from_config(config),
        sources,
        cdn_origin_secret: config.cdn_origin_secret.clone(),
        open_fallback_url: config.open_fallback_url.clone(),
        // Visitors read the history through the rules (a rule set later hides older plays too).
        history: stores.history.clone().map(|h| {
            Arc::new(crate::rules::RuledHistory::new(h, config.rules.clone()))
                as Arc<dyn HistoryStore>
        }),
        privacy: Arc::new(crate::rules::Privacy::new(config.rules.clone())),
        collector: stores
            .history
            .clone()
            .map(|store| crate::collect::Collector {
                store,
                leases: deployment.table().state(),
                instance: instance_id(),
                rules: config.rules.clone(),
            }),
    })
}

/// The owner's console, when `OWNER_SPOTIFY_ID` is set and Spotify is a source.
fn console(
    config: &Config,
    stores: &Stores,
    spotify: &SpotifyClient,
    tokens: &TokenKeeper,
    clock: &SharedClock,
) -> Option<Arc<crate::console::Console>> {
    let owner_id = config.owner_spotify_id.clone()?;
    if !config.source.uses_spotify() {
        return None;
    }
    let report = crate::report::Inputs {
        config: config.clone(),
        credentials: stores.credentials.clone(),
        table: stores.table().clone(),
        shared: stores.shared_table().cloned(),
        privacy: stores.deployment.privacy_switch(),
        live: crate::report::Live::Service(tokens.clone()),
        clock: clock.clone(),
    };
    Some(Arc::new(crate::console::Console::new(
        crate::console::ConsoleParts {
            owner_id,
            public_url: config.public_url.clone(),
            accounts_base: config.accounts_base_url.clone(),
            scopes: crate::signin::scopes(config),
            spotify: spotify.clone(),
            shared: stores.shared_table().map(|t| t.state()),
            tokens: tokens.clone(),
            key_store: stores
                .console_key
                .clone()
                .unwrap_or_else(|| stores.credentials.clone()),
            report,
        },
    )))
}

/// Where album art may come from: the configured API hosts, and the image CDNs of the real
/// services: Spotify's while the API is Spotify's, Last.fm's while Last.fm is a source and its API
/// is Last.fm's. An emulator (the demo, the tests' fakes) serves its own art, so nothing is
/// fetched from a real CDN for an emulated answer.
fn art_hosts(config: &Config) -> Vec<String> {
    let host = |base: &str| url::Url::parse(base).ok()?.host_str().map(str::to_string);
    let mut hosts = Vec::new();
    if host(&config.api_base_url) == host(crate::config::DEFAULT_API_BASE_URL) {
        hosts.extend([".scdn.co".to_string(), ".spotifycdn.com".to_string()]);
    }
    let mut bases = vec![&config.api_base_url];
    if config.source.uses_lastfm() {
        if host(&config.lastfm_api_base_url) == host(crate::config::DEFAULT_LASTFM_API_BASE_URL) {
            hosts.push("lastfm.freetls.fastly.net".to_string());
        }
        bases.push(&config.lastfm_api_base_url);
    }
    for base in bases {
        if let Ok(u) = url::Url::parse(base) {
            if let Some(h) = u.host_str() {
                hosts.push(match u.port() {
                    Some(p) => format!("{h}:{p}"),
                    None => h.to_string(),
                });
            }
        }
    }
    hosts
}

/// Everything for one process with the system clock, as the Lambda and `serve` use it.
pub async fn from_config(config: &Config) -> SharedApp {
    let stores = stores(config).await;
    startup_mark("stores");
    let spotify = SpotifyClient::new(&config.api_base_url, &config.accounts_base_url);
    startup_mark("spotify_client");
    let app = build(config, &stores, spotify, Arc::new(SystemClock));
    startup_mark("app");
    app
}

/// With `NOWPLAYING_TRACE_STARTUP` set: prints `startup <phase> <epoch µs>` to stderr, the
/// cold-start trace `scripts/bench` reads (tests/tools/runtime_api.rs).
pub fn startup_mark(phase: &str) {
    static ON: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
    if *ON.get_or_init(|| std::env::var_os("NOWPLAYING_TRACE_STARTUP").is_some()) {
        let us = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_micros());
        eprintln!("startup {phase} {us}");
    }
}

/// Logging: JSON when Lambda asks for it (`AWS_LAMBDA_LOG_FORMAT=JSON`), text otherwise;
/// the filter from `RUST_LOG`, else `default_level` (`info` for the service, `warn` for the owner's
/// commands).
pub fn init_tracing(default_level: &str) {
    use tracing_subscriber::EnvFilter;
    let filter =
        EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(default_level));
    let json = std::env::var("AWS_LAMBDA_LOG_FORMAT")
        .map(|v| v.eq_ignore_ascii_case("json"))
        .unwrap_or(false);
    if json {
        let _ = tracing::subscriber::set_global_default(json_logs(filter, std::io::stderr));
    } else {
        let _ = tracing_subscriber::fmt()
            .with_env_filter(filter)
            .with_writer(std::io::stderr)
            .with_target(false)
            .try_init();
    }
}

/// The JSON log lines of Lambda (`AWS_LAMBDA_LOG_FORMAT=JSON`): each event's fields under
/// `fields`, which the template's metric filter reads (`$.fields.alert`).
pub fn json_logs<W>(
    filter: tracing_subscriber::EnvFilter,
    writer: W,
) -> impl tracing::Subscriber + Send + Sync
where
    W: for<'a> tracing_subscriber::fmt::MakeWriter<'a> + Send + Sync + 'static,
{
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(writer)
        .json()
        .with_current_span(false)
        .with_span_list(false)
        .without_time()
        .finish()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(pairs: &[(&str, &str)]) -> Config {
        Config::from_pairs(pairs)
    }

    #[test]
    fn art_comes_from_the_real_cdns_only_for_the_real_services() {
        let real = art_hosts(&config(&[
            ("SOURCE", "spotify,lastfm"),
            ("LASTFM_USER", "u"),
        ]));
        for h in [".scdn.co", ".spotifycdn.com", "lastfm.freetls.fastly.net"] {
            assert!(real.iter().any(|x| x == h), "{h} in {real:?}");
        }
        let emulated = art_hosts(&config(&[
            ("SOURCE", "spotify,lastfm"),
            ("LASTFM_USER", "u"),
            ("SPOTIFY_API_BASE_URL", "http://127.0.0.1:4000"),
            ("LASTFM_API_BASE_URL", "http://127.0.0.1:4001/2.0"),
        ]));
        assert_eq!(emulated, ["127.0.0.1:4000", "127.0.0.1:4001"]);
    }
}
