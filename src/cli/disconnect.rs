//! `nowplaying disconnect`: removes the refresh token at once (the client id and secret stay, so
//! signing in again is one `nowplaying authorize`), and the cached access token, pending refresh
//! token and every cached answer from the shared state. Running processes notice through the
//! token keeper's authorization watch and answer `null`.

use crate::app;
use crate::config::Config;

use super::authorize::SPOTIFY_APPS_URL;

pub async fn run(config: Config) -> Result<(), String> {
    let stores = app::stores(&config).await;
    let store = stores.credentials.describe();
    let table = stores.shared_table();
    let state = table.map(|t| t.as_ref());
    let done = crate::owner::disconnect(stores.credentials.as_ref(), state, crate::cli::now)
        .await
        .map_err(|e| {
            format!(
                "could not remove the refresh token: {e}; nothing was changed: fix it and run `nowplaying disconnect` again"
            )
        })?;
    let had_token = done.had_token;

    if had_token {
        println!("Disconnected: removed the refresh token from the {store} (client id and secret kept for `nowplaying authorize`).");
    } else {
        println!("No refresh token was stored in the {store}; nothing to remove there.");
    }
    if let Some(table) = table {
        let cleared = match done.replaced {
            Some(r) if !r.cleared_shared => Err(r.shared_error.unwrap_or_default()),
            Some(_) => Ok(()),
            // No credentials at all: what may be cached was cleared directly.
            None => done.clear_error.map_or(Ok(()), Err),
        };
        match cleared {
            Ok(()) => println!(
                "Deleted the cached access token and every cached answer from the {}: /api/spotify answers null; running processes take effect within {} s (one cache window).",
                table.describe(),
                config.cache_ttl.as_secs()
            ),
            Err(e) => {
                return Err(format!(
                    "removed the refresh token, but could not clear the {} ({e}): run `nowplaying disconnect` again",
                    table.describe()
                ))
            }
        }
    } else if config.token_secret_id.is_none() {
        println!(
            "A running `nowplaying serve` answers null from its next cache miss (within {} s).",
            config.cache_ttl.as_secs()
        );
    } else {
        println!("Without CACHE_TABLE a running process keeps its access token until it expires (within the hour): restart it to stop at once.");
    }
    if let Some(history) = &stores.history {
        println!(
            "The listening history in {} is left as it is: `nowplaying forget --all` deletes it.",
            history.describe()
        );
    }
    println!("To revoke the app's access at Spotify as well, remove it at {SPOTIFY_APPS_URL}");
    Ok(())
}
