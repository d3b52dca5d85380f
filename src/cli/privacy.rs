//! `nowplaying hide` / `nowplaying show`: the privacy switch (see `crate::owner::PrivacySwitch`).
//! Hidden means `null` and no Spotify call.

use crate::app;
use crate::config::Config;

/// Turns the switch on (`hide == true`) or off.
pub async fn run(config: Config, hide: bool) -> Result<(), String> {
    let stores = app::stores(&config).await;
    let switch = stores.deployment.privacy_switch();
    let where_ = switch.set(hide, crate::cli::now()).await?;
    if hide {
        println!(
            "Hidden: /api/spotify now answers null and does not ask Spotify (switch in {where_})."
        );
        // With a table, running processes answer from memory for at most one cache window.
        let who = if stores.shared_table().is_some() {
            "Running processes follow"
        } else {
            "A running `nowplaying serve` follows"
        };
        println!(
            "{who} within {} s (one cache window); `nowplaying show` turns it back on.",
            config.cache_ttl.as_secs()
        );
        println!("{}", copies_already_sent(&config));
    } else {
        println!("Shown: /api/spotify shows what you play again (switch in {where_}).");
        if stores.shared_table().is_some() {
            println!(
                "Running processes follow within {} s (one cache window).",
                config.cache_ttl.as_secs()
            );
        }
    }
    Ok(())
}

/// What `hide` cannot reach: answers already sent may be kept by a browser or the CDN for their
/// `max-age` plus `stale-while-revalidate` (one window each, see `http::respond::cache_control`).
fn copies_already_sent(config: &Config) -> String {
    let lists = [
        (config.show_recent, config.recent_ttl),
        (config.profile_endpoints.top, config.top_ttl),
        (config.profile_endpoints.saved, config.saved_ttl),
        (config.profile_endpoints.playlists, config.playlists_ttl),
    ];
    let longest_list = lists
        .iter()
        .filter(|(on, _)| *on)
        .map(|(_, ttl)| *ttl)
        .max();
    let now = (config.cache_ttl * 2).as_secs();
    let mut line = format!(
        "Copies already sent are not recalled: a browser or the CDN may keep showing them until they expire, up to {now} s for /api/spotify"
    );
    if let Some(list) = longest_list {
        line.push_str(&format!(
            " and up to {} s for the listening lists (max-age plus stale-while-revalidate)",
            (list * 2).as_secs()
        ));
    }
    line.push('.');
    line
}

/// Whether the page is hidden, as the service sees it.
pub async fn is_hidden(stores: &app::Stores) -> bool {
    stores.deployment.privacy_switch().is_hidden().await
}
