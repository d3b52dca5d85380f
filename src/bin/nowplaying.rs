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
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("nowplaying: {message}");
            ExitCode::FAILURE
        }
    }
}
