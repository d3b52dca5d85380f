//! `nowplaying`: the local server and the owner's commands.

use std::net::SocketAddr;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use nowplaying::clock::Timestamp;
use nowplaying::config::Config;

/// The exit codes, for `--help`.
const EXIT_CODES: &str = "\
Exit codes:
  0  done; for `status`: nothing needs you
  1  the owner must act (sign in again, grant a scope, fix access to a store): the message says what to do
  2  bad configuration or usage (an environment variable or a flag that cannot be used)

Configuration comes from the environment, the same variables as the service (see docs/api.md);
logs go to standard error at WARN for the owner's commands and INFO for `serve` unless RUST_LOG says otherwise.";

/// Where `authorize` (and every owner command) reads and writes, for `authorize --help`.
const CREDENTIAL_VARIABLES: &str = "\
Where the credentials go (the same variables the service reads):
  TOKEN_SECRET_ID         Secrets Manager secret (name or ARN) to write; unset: the local file
  NOWPLAYING_CREDENTIALS  the local file (default $XDG_CONFIG_HOME/nowplaying/credentials.json,
                          else ~/.config/nowplaying/credentials.json; written with mode 0600)
  CACHE_TABLE             DynamoDB table whose cached tokens and answer are cleared
  AWS_REGION, AWS_PROFILE, AWS_ENDPOINT_URL and the AWS credentials: how AWS is reached
  PROFILE_ENDPOINTS       top, saved, history, playlists: top, saved and playlists also ask for
                          user-top-read / user-library-read / playlist-read-private
  SPOTIFY_CLIENT_SECRET   the app's client secret (else --client-secret-stdin, the stored one, or a prompt)
The stack's AuthorizeCommand output sets them for a deployed stack.";

#[derive(Parser)]
#[command(
    name = "nowplaying",
    version,
    about = "What you're listening to on Spotify, for your own website",
    after_help = EXIT_CODES
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Serve the API (the same Router as on Lambda) locally.
    #[command(after_help = EXIT_CODES)]
    Serve {
        /// Address to listen on.
        #[arg(long, default_value = "127.0.0.1:3000")]
        addr: SocketAddr,
        /// Use a simulated Spotify (and Last.fm): no account, no network.
        #[arg(long)]
        demo: bool,
        /// Where answers come from, instead of SOURCE: spotify, lastfm or spotify,lastfm
        /// (with --demo: which one to simulate).
        #[arg(long, value_name = "SOURCE", value_parser = parse_source)]
        source: Option<nowplaying::config::SourceChoice>,
    },
    /// Sign in to Spotify once and store the credentials (client id, secret, refresh token).
    #[command(after_help = format!("{CREDENTIAL_VARIABLES}\n\n{EXIT_CODES}"))]
    Authorize {
        /// Port of the local redirect URI http://127.0.0.1:PORT/callback (register it in your app).
        #[arg(long, default_value_t = 3000, value_parser = clap::value_parser!(u16).range(1..))]
        port: u16,
        /// Print the authorization URL instead of opening a browser.
        #[arg(long)]
        no_browser: bool,
        /// The app's client id (else the stored one, or a prompt).
        #[arg(
            long,
            value_name = "ID",
            env = "SPOTIFY_CLIENT_ID",
            hide_env_values = true
        )]
        client_id: Option<String>,
        /// Read the client secret from standard input (else SPOTIFY_CLIENT_SECRET, the stored one, or a prompt).
        #[arg(long)]
        client_secret_stdin: bool,
        /// How long to wait for the browser to come back, in seconds (1 to 86400).
        #[arg(long, value_name = "SECS", default_value_t = 300, value_parser = parse_timeout)]
        timeout: u64,
    },
    /// Remove the stored refresh token and the cached tokens and answer at once.
    #[command(after_help = EXIT_CODES)]
    Disconnect,
    /// Show what is configured, reachable and valid; exits 1 when you must act.
    #[command(after_help = EXIT_CODES)]
    Status,
    /// Privacy switch on: /api/spotify answers null and does not ask Spotify.
    #[command(after_help = EXIT_CODES)]
    Hide,
    /// Privacy switch off: show what you play again.
    #[command(after_help = EXIT_CODES)]
    Show,
    /// Collect the plays Spotify lists into the history once (PROFILE_ENDPOINTS=history).
    #[command(after_help = EXIT_CODES)]
    Collect,
    /// Fill the listening history from Spotify's data export or Last.fm (PROFILE_ENDPOINTS=history).
    #[command(after_help = EXIT_CODES)]
    Import {
        #[command(subcommand)]
        from: ImportSource,
    },
    /// Write the listening history (newest first) to standard output.
    #[command(after_help = EXIT_CODES)]
    Export {
        /// Only plays from this time on: YYYY-MM-DD (midnight UTC) or RFC 3339.
        #[arg(long, value_name = "DATE", value_parser = parse_date)]
        from: Option<Timestamp>,
        /// Only plays before this time: YYYY-MM-DD (midnight UTC) or RFC 3339.
        #[arg(long, value_name = "DATE", value_parser = parse_date)]
        to: Option<Timestamp>,
        /// The output format.
        #[arg(long, value_enum)]
        format: nowplaying::cli::history::Format,
    },
    /// Delete plays from the listening history: those before a date, or all of them.
    #[command(after_help = EXIT_CODES)]
    #[command(group(clap::ArgGroup::new("which").required(true).args(["before", "all"])))]
    Forget {
        /// Delete the plays played before this time: YYYY-MM-DD (midnight UTC) or RFC 3339.
        #[arg(long, value_name = "DATE", value_parser = parse_date)]
        before: Option<Timestamp>,
        /// Delete every play (asks for confirmation unless --yes).
        #[arg(long)]
        all: bool,
        /// Do not ask for confirmation.
        #[arg(long)]
        yes: bool,
    },
}

#[derive(Subcommand)]
enum ImportSource {
    /// Spotify's "Extended streaming history" export: its JSON files or its folder.
    #[command(after_help = EXIT_CODES)]
    SpotifyExport {
        /// The export's Streaming_History_Audio_*.json / Streaming_History_Video_*.json files
        /// (or the older StreamingHistory*.json), or the folder holding them.
        #[arg(required = true, value_name = "PATH")]
        paths: Vec<std::path::PathBuf>,
        /// Import files whose username is not the owner's (OWNER_SPOTIFY_ID, else the first file's).
        #[arg(long)]
        force: bool,
    },
    /// The whole scrobble history of LASTFM_USER (resumable: run it again after an interruption).
    #[command(after_help = EXIT_CODES)]
    Lastfm {
        /// Only scrobbles from this time on: YYYY-MM-DD (midnight UTC) or RFC 3339.
        #[arg(long, value_name = "DATE", value_parser = parse_date)]
        from: Option<Timestamp>,
    },
}

/// `--from`, `--to`, `--before`: a day or an RFC 3339 time.
fn parse_date(value: &str) -> Result<Timestamp, String> {
    nowplaying::cli::history::parse_date(value)
}

/// `--source`: as `SOURCE`.
fn parse_source(value: &str) -> Result<nowplaying::config::SourceChoice, String> {
    nowplaying::config::SourceChoice::parse(value)
        .ok_or_else(|| format!("expected {}", nowplaying::config::SourceChoice::ACCEPTED))
}

/// `--timeout`: a whole number of seconds from 1 to a day (0 would give up before the browser opens).
fn parse_timeout(value: &str) -> Result<u64, String> {
    match value.trim().parse::<u64>() {
        Ok(n) if (1..=86_400).contains(&n) => Ok(n),
        _ => Err("expected a whole number of seconds from 1 to 86400".into()),
    }
}

#[tokio::main]
async fn main() -> ExitCode {
    let cli = Cli::parse();
    // The service logs at INFO; the owner's commands only WARN and above, so their report reads
    // clean. RUST_LOG overrides both.
    let serving = matches!(cli.command, Command::Serve { .. });
    nowplaying::app::init_tracing(if serving { "info" } else { "warn" });
    let config = match Config::from_env() {
        Ok(c) => c,
        Err(e) => {
            eprintln!("nowplaying: {e}");
            return ExitCode::from(2);
        }
    };
    let history_command = matches!(
        cli.command,
        Command::Collect | Command::Import { .. } | Command::Export { .. } | Command::Forget { .. }
    );
    if history_command && !config.profile_endpoints.history {
        eprintln!("nowplaying: {}", nowplaying::cli::history::HISTORY_OFF);
        return ExitCode::from(2);
    }
    let result = match cli.command {
        Command::Serve { addr, demo, source } => {
            let mut config = config;
            if let Some(source) = source {
                config.source = source;
                // A source named on the command line needs its settings like SOURCE does.
                if source.uses_lastfm() && config.lastfm_user.is_none() && !demo {
                    eprintln!("nowplaying: LASTFM_USER=\"\" is not valid: expected the Last.fm user whose scrobbles are shown (needed by --source {})", source.as_str());
                    return ExitCode::from(2);
                }
            }
            nowplaying::cli::serve::run(config, addr, demo).await
        }
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
                timeout: std::time::Duration::from_secs(timeout),
            };
            nowplaying::cli::authorize::run(config, options).await
        }
        Command::Disconnect => nowplaying::cli::disconnect::run(config).await,
        Command::Status => nowplaying::cli::status::run(config).await,
        Command::Hide => nowplaying::cli::privacy::run(config, true).await,
        Command::Show => nowplaying::cli::privacy::run(config, false).await,
        Command::Collect => nowplaying::cli::collect::run(config).await,
        Command::Import {
            from: ImportSource::SpotifyExport { paths, force },
        } => nowplaying::cli::history::import_export(config, paths, force).await,
        Command::Import {
            from: ImportSource::Lastfm { from },
        } => nowplaying::cli::history::import_lastfm(config, from).await,
        Command::Export { from, to, format } => {
            nowplaying::cli::history::export(config, from, to, format).await
        }
        Command::Forget { before, all, yes } => {
            nowplaying::cli::history::forget(config, before.filter(|_| !all), yes).await
        }
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("nowplaying: {message}");
            ExitCode::FAILURE
        }
    }
}
