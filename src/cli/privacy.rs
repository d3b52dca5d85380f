//! `nowplaying hide` / `nowplaying show`: the privacy switch (see `crate::owner::PrivacySwitch`).
//! Hidden means `null` and no Spotify call.

use crate::app;
use crate::config::Config;

/// Turns the switch on (`hide == true`) or off.
pub async fn run(config: Config, hide: bool) -> Result<(), String> {
    let stores = app::stores(&config).await;
    let switch = app::privacy_switch(&config, &stores);
    let where_ = switch.set(hide, crate::cli::now_ms()).await?;
    if hide {
        println!(
            "Hidden: /api/spotify now answers null and does not ask Spotify (switch in {where_})."
        );
        if !stores.shared {
            println!(
                "A running `nowplaying serve` follows within {} s; `nowplaying show` turns it back on.",
                config.cache_ttl.as_secs()
            );
        } else {
            println!("`nowplaying show` turns it back on.");
        }
    } else {
        println!("Shown: /api/spotify shows what you play again (switch in {where_}).");
    }
    Ok(())
}

/// Whether the page is hidden, as the service sees it.
pub async fn is_hidden(config: &Config, stores: &app::Stores) -> bool {
    app::privacy_switch(config, stores).is_hidden().await
}
