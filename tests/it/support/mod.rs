//! Shared test support: the fake Spotify, an in-process app on a loopback port with a clock
//! the test moves, and the AWS emulator's address.

pub mod aws;
pub mod emulator;
pub mod fake_lastfm;
pub mod fake_spotify;
pub mod fault;
pub mod logs;

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use nowplaying::app::Stores;
use nowplaying::clock::{ManualClock, Timestamp};
use nowplaying::config::Config;
use nowplaying::http::SharedApp;
use nowplaying::spotify::SpotifyClient;
use nowplaying::store::file::FileCredentials;
use nowplaying::store::memory::MemoryState;
use nowplaying::store::{CredentialStore, Credentials};

pub use fake_spotify::{bodies, FakeSpotify, Scripted, TokenBehavior};

/// The AWS emulator: the one `scripts/test` started, or one this test binary starts (see
/// [`emulator`]). Tests that need it fail (never skip) without it.
pub fn aws_endpoint() -> String {
    emulator::endpoint()
}

/// Builds a configuration pointing at the fake Spotify, with these extra variables.
pub fn config(fake: &FakeSpotify, creds: &std::path::Path, extra: &[(&str, &str)]) -> Config {
    let mut vars: Vec<(String, String)> = vec![
        ("SPOTIFY_API_BASE_URL".into(), fake.base.clone()),
        ("SPOTIFY_ACCOUNTS_BASE_URL".into(), fake.base.clone()),
        (
            "NOWPLAYING_CREDENTIALS".into(),
            creds.to_string_lossy().into_owned(),
        ),
    ];
    vars.extend(extra.iter().map(|(k, v)| (k.to_string(), v.to_string())));
    Config::from_lookup(|k| {
        vars.iter()
            .rev()
            .find(|(n, _)| n == k)
            .map(|(_, v)| v.clone())
    })
    .expect("test configuration")
}

pub fn credentials(refresh_token: &str) -> Credentials {
    Credentials {
        client_id: fake_spotify::CLIENT_ID.into(),
        client_secret: fake_spotify::CLIENT_SECRET.into(),
        refresh_token: Some(refresh_token.into()),
        authorized_at: Some("2026-11-23T10:00:00Z".into()),
        ..Default::default()
    }
}

/// The sign-in times the tests use: [`credentials`]'s, and a later `authorize`'s.
pub const SIGN_INS: [&str; 2] = ["2026-11-23T10:00:00Z", "2026-11-24T09:00:00Z"];

/// Returns the sealing context of the token item `key` for the tests' first sign-in.
pub fn sealing_context(key: &str) -> String {
    nowplaying::tokens::sealing_context(key, &credentials(""))
}

/// Opens a sealed token item under any of the tests' sign-ins.
pub fn open_token_item(
    sealer: &nowplaying::seal::Sealer,
    key: &str,
    sealed: &str,
) -> Option<String> {
    SIGN_INS.iter().find_map(|at| {
        let mut c = credentials("");
        c.authorized_at = Some(at.to_string());
        let plain = sealer.open(&nowplaying::tokens::sealing_context(key, &c), sealed)?;
        // The pending copy names the secret's version it supersedes: `{"base": …, "token": …}`.
        Some(
            serde_json::from_str::<serde_json::Value>(&plain)
                .ok()
                .and_then(|v| v["token"].as_str().map(str::to_string))
                .unwrap_or(plain),
        )
    })
}

/// Returns the good answer most tests script: the track "Song", playing.
pub fn song() -> Scripted {
    Scripted::json(bodies::playing(bodies::track("t1", "Song"), true, 1000))
}

/// Returns the service's cache window (`CACHE_TTL_SECONDS`).
pub fn cache_window(app: &SharedApp) -> Duration {
    app.cache.settings().ttl
}

/// Returns the sealer of the tests' client, the one the service seals its token items with.
pub fn sealer() -> nowplaying::seal::Sealer {
    nowplaying::seal::Sealer::from_client_secret(&nowplaying::secret::Secret::new(
        fake_spotify::CLIENT_SECRET,
    ))
}

/// The service on a loopback port, with a clock the test moves.
pub struct TestApp {
    pub url: String,
    pub fake: FakeSpotify,
    pub clock: ManualClock,
    pub creds_path: PathBuf,
    pub app: SharedApp,
    pub http: reqwest::Client,
    _dir: tempfile::TempDir,
}

/// The moment every test's clock starts at (2026-11-18, a few days before [`SIGN_INS`]).
pub const T0: Timestamp = Timestamp::from_millis(1_795_000_000_000);

impl TestApp {
    /// Starts the service with a fresh fake Spotify, a credentials file holding its first
    /// refresh token, and memory state.
    pub async fn start(extra: &[(&str, &str)]) -> TestApp {
        let fake = FakeSpotify::start().await;
        TestApp::start_with(fake, extra, Arc::new(MemoryState::new())).await
    }

    pub async fn start_with(
        fake: FakeSpotify,
        extra: &[(&str, &str)],
        state: Arc<MemoryState>,
    ) -> TestApp {
        TestApp::start_full(fake, extra, state, None).await
    }

    /// The same with `history` as the listening history (and `PROFILE_ENDPOINTS=history`).
    pub async fn start_with_history(
        fake: FakeSpotify,
        extra: &[(&str, &str)],
        state: Arc<MemoryState>,
        history: Arc<dyn nowplaying::history::HistoryStore>,
    ) -> TestApp {
        let mut extra = extra.to_vec();
        extra.push(("PROFILE_ENDPOINTS", "history"));
        TestApp::start_full(fake, &extra, state, Some(history)).await
    }

    /// Starts the service with these stores and exactly the configuration `extra` gives (the
    /// history store, when given, without turning the endpoints on).
    pub async fn start_full(
        fake: FakeSpotify,
        extra: &[(&str, &str)],
        state: Arc<MemoryState>,
        history: Option<Arc<dyn nowplaying::history::HistoryStore>>,
    ) -> TestApp {
        let dir = tempfile::tempdir().unwrap();
        let creds_path = dir.path().join("credentials.json");
        let store = FileCredentials::new(&creds_path);
        store
            .save(&credentials(fake_spotify::FIRST_REFRESH_TOKEN))
            .await
            .unwrap();
        let config = config(&fake, &creds_path, extra);
        let mut stores = Stores::local(Arc::new(store), state, &creds_path);
        if let Some(history) = history {
            stores = stores.with_history(history);
        }
        let clock = ManualClock::at(T0);
        let spotify = SpotifyClient::new(&config.api_base_url, &config.accounts_base_url);
        let app = nowplaying::app::build(&config, &stores, spotify, Arc::new(clock.clone()));
        let url = serve(app.clone()).await;
        TestApp {
            url,
            fake,
            clock,
            creds_path,
            app,
            http: reqwest::Client::new(),
            _dir: dir,
        }
    }

    pub async fn get(&self, path: &str) -> reqwest::Response {
        self.http
            .get(format!("{}{path}", self.url))
            .send()
            .await
            .unwrap()
    }

    /// Asks for `GET /api/spotify` and returns its JSON.
    pub async fn now(&self) -> serde_json::Value {
        let r = self.get("/api/spotify").await;
        assert_eq!(r.status(), 200);
        r.json().await.unwrap()
    }

    /// Moves past the cache window.
    pub fn expire_cache(&self) {
        self.clock
            .advance(cache_window(&self.app) + Duration::from_millis(1));
    }

    pub fn stored_credentials(&self) -> serde_json::Value {
        serde_json::from_str(&std::fs::read_to_string(&self.creds_path).unwrap()).unwrap()
    }
}

/// Serves the Router on a free loopback port; returns its base URL.
pub async fn serve(app: SharedApp) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move {
        axum::serve(listener, nowplaying::http::router(app))
            .await
            .unwrap();
    });
    url
}
