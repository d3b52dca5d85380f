//! `nowplaying serve`: the same Router as on Lambda, served locally.

use std::net::SocketAddr;
use std::sync::Arc;

use crate::app;
use crate::clock::SystemClock;
use crate::config::Config;
use crate::spotify::SpotifyClient;
use crate::store::memory::{MemoryCredentials, MemoryState};
use crate::store::{CredentialStore, Credentials};

/// Serves until Ctrl-C. Returns a one-line error for the owner when it cannot start.
pub async fn run(mut config: Config, addr: SocketAddr, demo: bool) -> Result<(), String> {
    let state = if demo {
        let base = crate::demo::start()
            .await
            .map_err(|e| format!("could not start the simulated Spotify: {e}"))?;
        config.api_base_url = base.clone();
        config.accounts_base_url = base;
        config.token_secret_id = None;
        config.cache_table = None;
        // The demo shows everything: the history, the top lists and the library too.
        config.profile_endpoints.top = true;
        config.profile_endpoints.saved = true;
        let credentials = Credentials {
            client_id: crate::demo::DEMO_CLIENT_ID.into(),
            client_secret: crate::demo::DEMO_CLIENT_SECRET.into(),
            refresh_token: Some(crate::demo::DEMO_REFRESH_TOKEN.into()),
            authorized_at: None,
            ..Default::default()
        };
        let stores = app::Stores {
            credentials: Arc::new(MemoryCredentials::new(Some(credentials))),
            state: Arc::new(MemoryState::new()),
            shared: false,
        };
        let spotify = SpotifyClient::new(&config.api_base_url, &config.accounts_base_url);
        app::build(&config, &stores, spotify, Arc::new(SystemClock))
    } else {
        let stores = app::stores(&config).await;
        check_credentials(stores.credentials.as_ref()).await?;
        let spotify = SpotifyClient::new(&config.api_base_url, &config.accounts_base_url);
        app::build(&config, &stores, spotify, Arc::new(SystemClock))
    };

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
    if demo {
        say(&format!(
            "nowplaying demo (simulated Spotify, no account needed): open http://{local}/"
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
    }
    tracing::info!(addr = %local, demo, "serving");
    axum::serve(listener, crate::http::router(state))
        .with_graceful_shutdown(async {
            let _ = tokio::signal::ctrl_c().await;
        })
        .await
        .map_err(|e| format!("server failed: {e}"))
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

/// Prints a line for the owner; a closed stdout (a supervisor that stopped reading) is no reason
/// to stop serving.
fn say(line: &str) {
    use std::io::Write;
    let mut out = std::io::stdout().lock();
    let _ = writeln!(out, "{line}");
    let _ = out.flush();
}
