//! `nowplaying`: the local server and the owner's commands.

use std::net::SocketAddr;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use nowplaying::config::Config;

#[derive(Parser)]
#[command(
    name = "nowplaying",
    version,
    about = "What you're listening to on Spotify, for your own website"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Serve the API (the same Router as on Lambda) locally.
    Serve {
        /// Address to listen on.
        #[arg(long, default_value = "127.0.0.1:3000")]
        addr: SocketAddr,
        /// Use a simulated Spotify: no account, no network.
        #[arg(long)]
        demo: bool,
    },
    /// Sign in to Spotify once and store the credentials (client id, secret, refresh token).
    Authorize {
        /// Port of the local redirect URI http://127.0.0.1:PORT/callback (register it in your app).
        #[arg(long, default_value_t = 3000)]
        port: u16,
        /// Print the authorization URL instead of opening a browser.
        #[arg(long)]
        no_browser: bool,
        /// The app's client id (else SPOTIFY_CLIENT_ID, the stored one, or a prompt).
        #[arg(long, value_name = "ID")]
        client_id: Option<String>,
        /// Read the client secret from standard input (else SPOTIFY_CLIENT_SECRET, the stored one, or a prompt).
        #[arg(long)]
        client_secret_stdin: bool,
        /// How long to wait for the browser to come back, in seconds.
        #[arg(long, value_name = "SECS", default_value_t = 300)]
        timeout: u64,
    },
    /// Remove the stored refresh token and the cached tokens and answer at once.
    Disconnect,
    /// Show what is configured, reachable and valid; exits 1 when you must act.
    Status,
    /// Privacy switch on: /api/spotify answers null and does not ask Spotify.
    Hide,
    /// Privacy switch off: show what you play again.
    Show,
}

#[tokio::main]
async fn main() -> ExitCode {
    let cli = Cli::parse();
    nowplaying::app::init_tracing();
    let config = match Config::from_env() {
        Ok(c) => c,
        Err(e) => {
            eprintln!("nowplaying: {e}");
            return ExitCode::from(2);
        }
    };
    let result = match cli.command {
        Command::Serve { addr, demo } => nowplaying::cli::serve::run(config, addr, demo).await,
        Command::Authorize {
            port,
            no_browser,
            client_id,
            client_secret_stdin,
            timeout,
        } => {
            let options = nowplaying::cli::authorize::Options {
                port,
                no_browser,
                client_id,
                client_secret_stdin,
                timeout: std::time::Duration::from_secs(timeout.max(1)),
            };
            nowplaying::cli::authorize::run(config, options).await
        }
        Command::Disconnect => nowplaying::cli::disconnect::run(config).await,
        Command::Status => nowplaying::cli::status::run(config).await,
        Command::Hide => nowplaying::cli::privacy::run(config, true).await,
        Command::Show => nowplaying::cli::privacy::run(config, false).await,
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("nowplaying: {message}");
            ExitCode::FAILURE
        }
    }
}
