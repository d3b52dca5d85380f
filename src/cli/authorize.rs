//! `nowplaying authorize`: the owner's one-time sign-in.
//!
//! Authorization code flow with PKCE (S256) and the client secret, on a loopback redirect URI
//! (`http://127.0.0.1:PORT/callback`: Spotify no longer accepts `localhost`). The code is exchanged
//! once, checked with one currently-playing call, and only then are the credentials stored.
//! Every failure is one line, exits non-zero and stores nothing; no secret or token is printed.

use std::io::{BufRead, IsTerminal, Write};
use std::net::{Ipv4Addr, SocketAddr};
use std::time::Duration;

use axum::extract::{Query, State};
use axum::response::Html;
use axum::routing::get;
use axum::Router;
use serde::Deserialize;
use tokio::sync::{mpsc, oneshot};

use crate::app;
use crate::clock::Timestamp;
use crate::config::Config;
use crate::owner::store_sign_in;
use crate::secret::Secret;
use crate::spotify::{SpotifyClient, SpotifyError, TokenGrant};
use crate::store::{Credentials, StoreError};

/// Where the owner revokes the app's access at Spotify.
pub const SPOTIFY_APPS_URL: &str = "https://www.spotify.com/account/apps/";

/// The options of `nowplaying authorize`.
#[derive(Debug, Clone)]
pub struct Options {
    pub port: u16,
    pub no_browser: bool,
    pub client_id: Option<String>,
    /// Read the client secret from standard input (one line).
    pub client_secret_stdin: bool,
    pub timeout: Duration,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            port: 3000,
            no_browser: false,
            client_id: None,
            client_secret_stdin: false,
            timeout: Duration::from_secs(300),
        }
    }
}

pub use crate::signin::{authorization_url, pkce, random_state, scopes, BASE_SCOPES};

/// What Spotify sends back to the redirect URI.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct Callback {
    pub code: Option<String>,
    pub state: Option<String>,
    pub error: Option<String>,
}

type Waiting = mpsc::Sender<(Callback, oneshot::Sender<Result<(), String>>)>;

/// One sign-in in progress: what a callback is checked against and what storing needs.
struct SignIn {
    config: Config,
    stores: app::Stores,
    spotify: SpotifyClient,
    existing: Option<Credentials>,
    client_id: String,
    client_secret: Secret,
    redirect_uri: String,
    state: String,
    verifier: Secret,
    challenge: String,
    scopes: Vec<&'static str>,
}

/// What one request to `/callback` means for the sign-in.
enum Verdict {
    /// Not this sign-in's answer (another `state`, or neither a code nor an error): the request
    /// gets an error page and the sign-in goes on waiting.
    Stray(String),
    /// Spotify's answer, and how the sign-in ended: the lines to print, or the one error line.
    Done(Result<Vec<String>, String>),
}

/// Runs the sign-in. `Err` is the one line to print.
pub async fn run(config: Config, options: Options) -> Result<(), String> {
    let stores = app::stores(&config).await;
    // Read what is stored first: an unreachable store should stop us before the browser opens,
    // and a stored client id and secret save the owner typing them again.
    let existing = load_existing(&stores).await?;
    let client_id = resolve_client_id(&options, &config, existing.as_ref())?;
    let client_secret = resolve_client_secret(&options, &config, existing.as_ref())?;
    let (listener, redirect_uri) = listen(options.port).await?;
    let (verifier, challenge) = pkce();
    let sign_in = SignIn {
        spotify: SpotifyClient::new(&config.api_base_url, &config.accounts_base_url),
        scopes: scopes(&config),
        config,
        stores,
        existing,
        client_id,
        client_secret,
        redirect_uri,
        state: random_state(),
        verifier,
        challenge,
    };
    announce(&sign_in, &options);

    let (tx, rx) = mpsc::channel(4);
    let (stop, server) = serve_callback(listener, tx);
    let result = match tokio::time::timeout(options.timeout, sign_in.wait(rx)).await {
        Ok(r) => r,
        Err(_) => Err(format!(
            "timed out after {} s waiting for Spotify to redirect to {}: nothing was stored; run `nowplaying authorize` again",
            options.timeout.as_secs(),
            sign_in.redirect_uri
        )),
    };
    // Let the browser receive its page, then stop listening.
    let _ = stop.send(());
    let _ = tokio::time::timeout(Duration::from_secs(2), server).await;

    for line in result? {
        println!("{line}");
    }
    Ok(())
}

/// The stored credentials, if any; an unreadable store ends the sign-in before it starts.
async fn load_existing(stores: &app::Stores) -> Result<Option<Credentials>, String> {
    match stores.credentials.load().await {
        Ok(c) => Ok(c),
        Err(StoreError::Invalid { .. }) => {
            println!(
                "The {} does not hold valid credentials JSON; it will be replaced.",
                stores.credentials.describe()
            );
            Ok(None)
        }
        Err(e) => Err(format!(
            "{e}: fix access to it and run `nowplaying authorize` again"
        )),
    }
}

/// Listens on the loopback port; returns the listener and the redirect URI it serves.
async fn listen(port: u16) -> Result<(tokio::net::TcpListener, String), String> {
    let addr = SocketAddr::from((Ipv4Addr::LOCALHOST, port));
    let listener = tokio::net::TcpListener::bind(addr).await.map_err(|e| {
        if e.kind() == std::io::ErrorKind::AddrInUse {
            format!(
                "port {port} is already in use: stop what uses it or pick another with --port (and register that redirect URI)"
            )
        } else {
            format!("could not listen on {addr}: {e}")
        }
    })?;
    let port = listener
        .local_addr()
        .map_err(|e| format!("could not read the listening address: {e}"))?
        .port();
    Ok((listener, format!("http://127.0.0.1:{port}/callback")))
}

/// Prints the redirect URI and the authorization URL (opening a browser unless told not to).
fn announce(sign_in: &SignIn, options: &Options) {
    let redirect_uri = &sign_in.redirect_uri;
    let url = sign_in.authorization_url();
    println!(
        "Redirect URI (add it exactly like this in your Spotify app's settings): {redirect_uri}"
    );
    if options.no_browser {
        println!("Open this URL in a browser and approve the access:");
    } else if open_browser(&url) {
        println!("Opening your browser; if nothing happens, open this URL:");
    } else {
        println!("Could not open a browser; open this URL:");
    }
    println!("{url}");
    println!(
        "Waiting up to {} s for Spotify to send you back to {redirect_uri} ...",
        options.timeout.as_secs()
    );
}

/// Serves `/callback` until told to stop.
fn serve_callback(
    listener: tokio::net::TcpListener,
    tx: Waiting,
) -> (oneshot::Sender<()>, tokio::task::JoinHandle<()>) {
    let router = Router::new()
        .route("/callback", get(callback))
        .with_state(tx);
    let (stop_tx, stop_rx) = oneshot::channel::<()>();
    let server = tokio::spawn(async move {
        let _ = axum::serve(listener, router)
            .with_graceful_shutdown(async {
                let _ = stop_rx.await;
            })
            .await;
    });
    (stop_tx, server)
}

impl SignIn {
    fn authorization_url(&self) -> String {
        authorization_url(
            &self.config.accounts_base_url,
            &self.client_id,
            &self.redirect_uri,
            &self.scopes,
            &self.state,
            &self.challenge,
        )
    }

    /// Answers callbacks until one is this sign-in's: a stray one gets its error page and the
    /// wait goes on.
    async fn wait(
        &self,
        mut rx: mpsc::Receiver<(Callback, oneshot::Sender<Result<(), String>>)>,
    ) -> Result<Vec<String>, String> {
        loop {
            let Some((cb, reply)) = rx.recv().await else {
                return Err("the local callback server stopped unexpectedly".to_string());
            };
            match self.handle(cb).await {
                Verdict::Stray(message) => {
                    println!(
                        "Ignored a request to {} that is not this sign-in's answer; still waiting.",
                        self.redirect_uri
                    );
                    let _ = reply.send(Err(message));
                }
                Verdict::Done(result) => {
                    let _ = reply.send(result.clone().map(|_| ()));
                    return result;
                }
            }
        }
    }

    /// Checks one callback; for Spotify's answer, exchanges, verifies and stores.
    async fn handle(&self, cb: Callback) -> Verdict {
        if cb.state.as_deref() != Some(self.state.as_str()) {
            return Verdict::Stray(
                "This request's state does not match the sign-in in progress (a stale or forged redirect): it was ignored and nothing was stored. Finish the sign-in from the URL `nowplaying authorize` printed."
                    .into(),
            );
        }
        if let Some(error) = cb.error.as_deref() {
            return Verdict::Done(Err(if error == "access_denied" {
                "you declined the access on Spotify's page (access_denied): nothing was stored"
                    .into()
            } else {
                format!(
                    "Spotify refused the sign-in ({}): nothing was stored",
                    printable(error)
                )
            }));
        }
        let Some(code) = cb.code.as_deref().filter(|c| !c.is_empty()) else {
            return Verdict::Stray(
                "Spotify's redirect carried neither a code nor an error: it was ignored and nothing was stored."
                    .into(),
            );
        };
        Verdict::Done(self.complete(code).await)
    }

    /// Exchanges the code, checks the token with one call, stores. `Ok` holds the lines to print.
    async fn complete(&self, code: &str) -> Result<Vec<String>, String> {
        let grant = self.exchange(code).await?;
        let (Some(refresh_token), Some(access_token)) =
            (grant.refresh_token.clone(), grant.access_token.clone())
        else {
            return Err(if grant.refresh_token.is_none() {
                "Spotify's answer held no refresh token: nothing was stored".into()
            } else {
                "Spotify's answer held no access token: nothing was stored; run `nowplaying authorize` again".into()
            });
        };
        let now = crate::cli::now();
        let mut lines = vec![self.check_token(&access_token, now).await?];
        let granted = grant.scope.clone().unwrap_or_else(|| self.scopes.join(" "));
        lines.extend(self.missing_scopes_warning(&granted));
        lines.extend(self.store(refresh_token, granted).await?);
        Ok(lines)
    }

    async fn exchange(&self, code: &str) -> Result<TokenGrant, String> {
        self.spotify
            .exchange_code(
                &self.client_id,
                &self.client_secret,
                code,
                &self.redirect_uri,
                self.verifier.expose(),
            )
            .await
            .map_err(|e| match e {
                SpotifyError::InvalidClient => "Spotify rejected the client id or secret (invalid_client): check them in your app on the Spotify developer dashboard; nothing was stored".to_string(),
                SpotifyError::InvalidGrant => "Spotify did not accept the authorization code (invalid_grant): check that the redirect URI is registered exactly as printed, then run `nowplaying authorize` again; nothing was stored".to_string(),
                e => format!("could not exchange the authorization code: {e}; nothing was stored"),
            })
    }

    /// One call proves that the token reads what the page needs: the line to print.
    async fn check_token(&self, access_token: &Secret, now: Timestamp) -> Result<String, String> {
        match self
            .spotify
            .currently_playing(access_token, now)
            .await
        {
            // Titles and artists come from outside (a local file's tags): no escape sequence
            // of theirs reaches the owner's terminal.
            Ok(Some(np)) => Ok(format!(
                "Checked with Spotify: you are listening to \"{}\" by {}.",
                printable(&np.name),
                printable(&np.artists)
            )),
            Ok(None) => Ok("Checked with Spotify: it answers (nothing is playing right now).".into()),
            Err(SpotifyError::PremiumRequired) => {
                Err("Spotify refused to read what you are playing (403): the Spotify account that owns the app has no active Premium subscription, which a development-mode app needs; renew Premium, then run `nowplaying authorize` again; nothing was stored".into())
            }
            Err(SpotifyError::Forbidden(_)) | Err(SpotifyError::Unauthorized) => {
                Err("Spotify refused to read what you are playing with the new token (403/401): if your app is in development mode, add your account under User Management in the dashboard (and the app's owner needs an active Premium subscription); nothing was stored".into())
            }
            Err(e) => Ok(format!(
                "Could not check with Spotify right now ({e}); storing the credentials anyway."
            )),
        }
    }

    fn missing_scopes_warning(&self, granted: &str) -> Option<String> {
        let missing: Vec<&str> = self
            .scopes
            .iter()
            .copied()
            .filter(|s| !granted.split_whitespace().any(|g| g == *s))
            .collect();
        (!missing.is_empty()).then(|| {
            format!(
                "WARNING: Spotify did not grant {}; the endpoints that need it will answer null.",
                missing.join(", ")
            )
        })
    }

    /// Stores the credentials (and clears the shared state); the lines to print.
    async fn store(&self, refresh_token: Secret, granted: String) -> Result<Vec<String>, String> {
        let sign_in = crate::owner::SignIn {
            client_id: self.client_id.clone(),
            client_secret: self.client_secret.clone(),
            refresh_token,
            scope: granted,
        };
        let stores = &self.stores;
        let state_store = stores.shared_table().map(|t| t.as_ref());
        let (_, replaced) = store_sign_in(
            stores.credentials.as_ref(),
            state_store,
            self.existing.clone(),
            &sign_in,
            crate::cli::now,
        )
        .await
        .map_err(|e| format!("{e}; nothing was stored"))?;

        let mode = if self.config.token_secret_id.is_none() {
            " (mode 0600)"
        } else {
            ""
        };
        let mut lines = vec![format!(
            "Authorized: saved the client id, client secret and refresh token to the {}{mode}.",
            stores.credentials.describe()
        )];
        lines.push(if stores.shared_table().is_none() {
            "A running `nowplaying serve` picks up the new sign-in on its next cache miss.".into()
        } else if replaced.cleared_shared {
            format!(
                "Cleared the cached access token and every cached answer in the {}; running instances use the new sign-in on their next request.",
                stores.table().describe()
            )
        } else {
            format!(
                "WARNING: could not clear the cached access token in the {} ({}); running instances pick up the new sign-in within the hour.",
                stores.table().describe(),
                replaced.shared_error.unwrap_or_default()
            )
        });
        if crate::cli::privacy::is_hidden(stores).await {
            lines.push(
                "Note: the page is hidden (privacy switch on): run `nowplaying show` to show what you play again."
                    .into(),
            );
        }
        Ok(lines)
    }
}

async fn callback(State(tx): State<Waiting>, Query(cb): Query<Callback>) -> Html<String> {
    let (reply_tx, reply_rx) = oneshot::channel();
    if tx.send((cb, reply_tx)).await.is_err() {
        return page(
            false,
            "This sign-in has already finished. You can close this tab.",
        );
    }
    match reply_rx.await {
        Ok(Ok(())) => page(
            true,
            "nowplaying is connected to your Spotify account. You can close this tab.",
        ),
        Ok(Err(message)) => page(false, &message),
        Err(_) => page(false, "The sign-in stopped. See the terminal."),
    }
}

fn page(ok: bool, message: &str) -> Html<String> {
    let title = if ok { "Connected" } else { "Not connected" };
    Html(format!(
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>nowplaying: {title}</title>\
         <style>body{{font-family:system-ui,sans-serif;max-width:36rem;margin:4rem auto;padding:0 1rem}}</style></head>\
         <body><h1>{title}</h1><p>{}</p></body></html>",
        html_escape(message)
    ))
}

fn html_escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// A short, printable form of text from outside: [`crate::report::terminal_safe`] (no escape
/// sequence, no bidirectional override), at most 80 characters.
fn printable(s: &str) -> String {
    crate::report::terminal_safe(s).chars().take(80).collect()
}

fn resolve_client_id(
    options: &Options,
    config: &Config,
    existing: Option<&Credentials>,
) -> Result<String, String> {
    if let Some(id) = options
        .client_id
        .as_deref()
        .map(str::trim)
        .filter(|s| !s.is_empty())
    {
        return Ok(id.to_string());
    }
    if let Some(id) = &config.client_id {
        return Ok(id.clone());
    }
    if let Some(c) = existing.filter(|c| !c.client_id.is_empty()) {
        return Ok(c.client_id.clone());
    }
    if !std::io::stdin().is_terminal() {
        return Err("no client id: pass --client-id or set SPOTIFY_CLIENT_ID (from your app on the Spotify developer dashboard)".into());
    }
    print!("Spotify client id: ");
    let _ = std::io::stdout().flush();
    let mut line = String::new();
    std::io::stdin()
        .lock()
        .read_line(&mut line)
        .map_err(|e| format!("could not read the client id: {e}"))?;
    let id = line.trim().to_string();
    if id.is_empty() {
        return Err("no client id given".into());
    }
    Ok(id)
}

fn resolve_client_secret(
    options: &Options,
    config: &Config,
    existing: Option<&Credentials>,
) -> Result<Secret, String> {
    if options.client_secret_stdin {
        let mut line = String::new();
        std::io::stdin()
            .lock()
            .read_line(&mut line)
            .map_err(|e| format!("could not read the client secret from standard input: {e}"))?;
        let secret = line.trim().to_string();
        if secret.is_empty() {
            return Err("--client-secret-stdin: standard input held no client secret".into());
        }
        return Ok(Secret::new(secret));
    }
    if let Some(s) = &config.client_secret {
        return Ok(s.clone());
    }
    if let Some(c) = existing.filter(|c| !c.client_secret.is_empty()) {
        return Ok(c.client_secret.clone());
    }
    if !std::io::stdin().is_terminal() {
        return Err(
            "no client secret: pass --client-secret-stdin or set SPOTIFY_CLIENT_SECRET".into(),
        );
    }
    let secret = rpassword::prompt_password("Spotify client secret (not shown): ")
        .map_err(|e| format!("could not read the client secret: {e}"))?;
    let secret = secret.trim().to_string();
    if secret.is_empty() {
        return Err("no client secret given".into());
    }
    Ok(Secret::new(secret))
}

/// Opens `url` in the default browser; `false` when that could not be started.
fn open_browser(url: &str) -> bool {
    let program = if cfg!(target_os = "macos") {
        "open"
    } else {
        "xdg-open"
    };
    std::process::Command::new(program)
        .arg(url)
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .is_ok()
}

pub use crate::owner::rfc3339;

#[cfg(test)]
mod tests {
    use super::*;
    use base64::Engine;
    use sha2::Digest;

    #[test]
    fn pkce_pair_matches_s256() {
        let (v, c) = pkce();
        assert!((43..=128).contains(&v.expose().len()));
        let expected = base64::engine::general_purpose::URL_SAFE_NO_PAD
            .encode(sha2::Sha256::digest(v.expose().as_bytes()));
        assert_eq!(c, expected);
        assert_ne!(pkce().1, c);
    }

    #[test]
    fn url_has_everything_spotify_needs() {
        let u = authorization_url(
            "https://accounts.spotify.com/",
            "id",
            "http://127.0.0.1:3000/callback",
            &BASE_SCOPES,
            "st",
            "ch",
        );
        let parsed = url::Url::parse(&u).unwrap();
        assert_eq!(parsed.path(), "/authorize");
        let q: std::collections::HashMap<_, _> = parsed.query_pairs().into_owned().collect();
        assert_eq!(q["redirect_uri"], "http://127.0.0.1:3000/callback");
        assert_eq!(
            q["scope"],
            "user-read-currently-playing user-read-recently-played"
        );
        assert_eq!(q["code_challenge_method"], "S256");
        assert_eq!(q["state"], "st");
        assert_eq!(q["response_type"], "code");
    }

    #[test]
    fn rfc3339_is_utc_seconds() {
        assert_eq!(
            rfc3339(Timestamp::from_secs(1_795_428_000)),
            "2026-11-23T10:00:00Z"
        );
    }
}
