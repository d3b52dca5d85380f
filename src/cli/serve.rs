//! `nowplaying serve`: the same Router as on Lambda, served locally.

use std::net::SocketAddr;
use std::sync::Arc;

use super::connections::{self, Limits};
use crate::app;
use crate::clock::SystemClock;
use crate::config::{Config, SourceChoice};
use crate::http::SharedApp;
use crate::spotify::SpotifyClient;
use crate::store::memory::{MemoryCredentials, MemoryState};
use crate::store::{CredentialStore, Credentials, Table};

/// How long `serve` waits for another process's lock on the credentials (a collection's run
/// takes a few seconds) before it gives up.
const LONE_PATIENCE: std::time::Duration = std::time::Duration::from_secs(20);

/// Serves until Ctrl-C. Returns a one-line error for the owner when it cannot start.
pub async fn run(mut config: Config, addr: SocketAddr, demo: bool) -> Result<(), String> {
    let listener = tokio::net::TcpListener::bind(addr).await.map_err(|e| {
        if e.kind() == std::io::ErrorKind::AddrInUse {
            format!("{addr} is already in use: pick another with --addr 127.0.0.1:PORT")
        } else {
            format!("could not listen on {addr}: {e}")
        }
    })?;
    let local = listener
        .local_addr()
        .map_err(|e| format!("could not read the listening address: {e}"))?;
    if config.public_url.is_none() {
        // The console's callback: this server's own address (loopback when it listens on all).
        let host = if local.ip().is_unspecified() {
            std::net::SocketAddr::from((std::net::Ipv4Addr::LOCALHOST, local.port()))
        } else {
            local
        };
        config.public_url = Some(format!("http://{host}"));
    }
    // Without the shared table the refresh lease is this process's: no other process may use
    // these credentials while it serves (a collection run waits its turn, see cli::lone).
    let _lone = if !demo && config.cache_table.is_none() {
        match super::lone::take(&config.credentials_path, LONE_PATIENCE).await? {
            Some(lock) => Some(lock),
            None => return Err(format!(
                "another nowplaying process uses {} (a `serve` or a long `collect`): without CACHE_TABLE only one may refresh its token; stop it, or share a DynamoDB table",
                config.credentials_path.display()
            )),
        }
    } else {
        None
    };
    let state = if demo {
        demo_app(&mut config).await?
    } else {
        service_app(&config).await?
    };
    announce(&config, local, demo);
    if state.collector.is_some() {
        collect_on_a_timer(state.clone(), demo);
    }
    let limits = Limits::for_this_process();
    tracing::info!(
        addr = %local,
        demo,
        header_read_timeout_s = limits.header_read_timeout.as_secs(),
        max_connections = limits.max_connections,
        "serving"
    );
    connections::serve(listener, crate::http::router(state), limits, async {
        let _ = tokio::signal::ctrl_c().await;
    })
    .await;
    Ok(())
}

/// With the history on, `serve` collects by itself: now, then every
/// [`crate::collect::SCHEDULE`] (every minute in the demo), so no cron is needed.
fn collect_on_a_timer(app: SharedApp, demo: bool) {
    let every = if demo {
        std::time::Duration::from_secs(60)
    } else {
        crate::collect::SCHEDULE
    };
    say(&format!(
        "collecting plays into the history every {} s ({})",
        every.as_secs(),
        app.collector
            .as_ref()
            .map(|c| c.store.describe())
            .unwrap_or_default()
    ));
    tokio::spawn(async move {
        let mut timer = tokio::time::interval(every);
        timer.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            timer.tick().await;
            // Logged by the collection itself; the next tick catches up after a failure.
            crate::lambda::collect(&app).await;
        }
    });
}

/// The demo: a simulated Spotify (and Last.fm) on loopback, its sign-in in memory.
async fn demo_app(config: &mut Config) -> Result<SharedApp, String> {
    let base = crate::demo::start()
        .await
        .map_err(|e| format!("could not start the simulated Spotify: {e}"))?;
    config.api_base_url = base.clone();
    config.accounts_base_url = base.clone();
    config.token_secret_id = None;
    config.cache_table = None;
    config.console_key_secret_id = None;
    // The simulated Spotify has no sign-in page: the owner's console is off in the demo.
    config.owner_spotify_id = None;
    if config.source.uses_lastfm() {
        // The simulated Last.fm lives on the same loopback server.
        config.lastfm_api_base_url = format!("{base}/2.0");
        config.lastfm_user = Some(crate::demo::DEMO_LASTFM_USER.into());
        config.lastfm_api_key = Some(crate::demo::DEMO_LASTFM_API_KEY.into());
    }
    // The demo shows everything: the history, the top lists and the library too.
    config.profile_endpoints.top = true;
    config.profile_endpoints.saved = true;
    config.profile_endpoints.history = true;
    config.profile_endpoints.playlists = true;
    config.history_table = None;
    let credentials = Credentials {
        client_id: crate::demo::DEMO_CLIENT_ID.into(),
        client_secret: crate::demo::DEMO_CLIENT_SECRET.into(),
        refresh_token: Some(crate::demo::DEMO_REFRESH_TOKEN.into()),
        authorized_at: None,
        ..Default::default()
    };
    // The demo's sign-in is in memory: there is no credentials file to watch.
    let stores = app::Stores {
        credentials: Arc::new(MemoryCredentials::new(Some(credentials))),
        deployment: app::Deployment::Local {
            memory: Table::memory(Arc::new(MemoryState::new())),
            credentials_path: config.credentials_path.clone(),
            credentials_in_file: false,
        },
        console_key: None,
        // The demo's history is in memory, collected from the simulated plays.
        history: Some(Arc::new(crate::history::memory::MemoryHistory::new())),
    };
    let spotify = SpotifyClient::new(&config.api_base_url, &config.accounts_base_url);
    Ok(app::build(config, &stores, spotify, Arc::new(SystemClock)))
}

/// The service on the configured stores, after the checks that would make every answer `null`.
pub(crate) async fn service_app(config: &Config) -> Result<SharedApp, String> {
    let stores = app::stores(config).await;
    let console = config.owner_spotify_id.is_some() && config.source.uses_spotify();
    if console {
        // The console signs and seals with a key that must exist before any sign-in.
        let key_store = stores
            .console_key
            .as_deref()
            .unwrap_or(stores.credentials.as_ref());
        crate::console::ensure_console_key(key_store)
            .await
            .map_err(|e| format!("{e}: the owner's console needs its console_key there"))?;
    }
    // Spotify's sign-in is needed only when Spotify is the only source (and the console,
    // which can sign in, is off); Last.fm needs its key.
    if config.source == SourceChoice::Spotify && !console {
        check_credentials(stores.credentials.as_ref()).await?;
    }
    if config.source.uses_lastfm() {
        check_lastfm_key(config, stores.credentials.as_ref()).await?;
    }
    let spotify = SpotifyClient::new(&config.api_base_url, &config.accounts_base_url);
    Ok(app::build(config, &stores, spotify, Arc::new(SystemClock)))
}

/// Tells the owner where to look.
fn announce(config: &Config, local: SocketAddr, demo: bool) {
    if demo {
        say(&format!(
            "nowplaying demo (simulated {}, no account needed): open http://{local}/",
            match config.source {
                SourceChoice::Spotify => "Spotify",
                SourceChoice::Lastfm => "Last.fm",
                SourceChoice::SpotifyThenLastfm => "Spotify and Last.fm",
            }
        ));
        say(&format!(
            "the API is http://{local}/api/spotify; it moves through {} every {} s",
            crate::demo::STATES.join(" → "),
            crate::demo::STATE_SECONDS
        ));
    } else {
        say(&format!(
            "nowplaying serving on http://{local}/ (API: http://{local}/api/spotify)"
        ));
        if let (Some(_), Some(public)) = (&config.owner_spotify_id, &config.public_url) {
            say(&format!(
            "owner's console: {public}/owner (register {public}/owner/callback as a redirect URI of your Spotify app)"
        ));
        }
    }
}

async fn check_credentials(store: &dyn CredentialStore) -> Result<(), String> {
    match store.load().await {
        Ok(Some(c)) if c.is_complete() => Ok(()),
        Ok(_) => Err(format!(
            "no Spotify credentials in the {}: run `nowplaying authorize` first, or try `nowplaying serve --demo`",
            store.describe()
        )),
        Err(e) => Err(format!(
            "{e}: fix it, run `nowplaying authorize`, or try `nowplaying serve --demo`"
        )),
    }
}

/// With Last.fm as a source: a key in `LASTFM_API_KEY` or in the credentials (`lastfm_api_key`).
async fn check_lastfm_key(config: &Config, store: &dyn CredentialStore) -> Result<(), String> {
    if config.lastfm_api_key.is_some() {
        return Ok(());
    }
    match store.load().await {
        Ok(Some(c)) if crate::source::stored_key(&c).is_some() => Ok(()),
        Ok(_) => Err(format!(
            "no Last.fm API key (SOURCE={}): set LASTFM_API_KEY or put it into the {} as lastfm_api_key (get one at https://www.last.fm/api/account/create), or try `nowplaying serve --demo --source lastfm`",
            config.source.as_str(),
            store.describe()
        )),
        Err(e) => Err(format!("{e}: the Last.fm API key could not be read")),
    }
}

/// Prints a line for the owner; a closed stdout (a supervisor that stopped reading) is no reason
/// to stop serving.
fn say(line: &str) {
    use std::io::Write;
    let mut out = std::io::stdout().lock();
    let _ = writeln!(out, "{line}");
    let _ = out.flush();
}
