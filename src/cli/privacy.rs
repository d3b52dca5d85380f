//! `nowplaying hide` / `nowplaying show`: the privacy switch. Hidden means `null` and no Spotify
//! call. It lives in the shared state (`hidden` record, value `true`) when `CACHE_TABLE` is set,
//! else in a local `hidden` file next to the credentials file, exactly where the service looks.

use crate::app::{self, Stores};
use crate::config::Config;
use crate::nowplaying::HIDDEN_KEY;
use crate::store::Record;

/// Whether the page is hidden, as the service sees it.
pub async fn is_hidden(config: &Config, stores: &Stores) -> bool {
    if stores.shared {
        matches!(stores.state.get(HIDDEN_KEY).await, Ok(Some(r)) if r.value == "true")
    } else {
        app::hidden_file(config).exists()
    }
}

/// Turns the switch on (`hide == true`) or off, and drops the cached answer so it takes effect at
/// once with a shared table (a local `serve` notices at its next cache miss).
pub async fn run(config: Config, hide: bool) -> Result<(), String> {
    let stores = app::stores(&config).await;
    let where_ = if stores.shared {
        let now = crate::cli::now_ms();
        let result = if hide {
            let record = Record {
                value: "true".into(),
                expires_at_ms: u64::MAX / 2,
                owner: None,
                // Kept for ten years: the table's TTL clean-up must never switch it off.
                ttl_s: now / 1000 + 10 * 365 * 24 * 3600,
            };
            stores.state.put(HIDDEN_KEY, &record).await
        } else {
            stores.state.delete(HIDDEN_KEY).await
        };
        result.map_err(|e| format!("could not change the privacy switch: {e}"))?;
        // A fetch that started before the switch may still write one answer; at worst it shows
        // for one cache window.
        for key in crate::profile::all_answer_keys() {
            stores
                .state
                .delete(&key)
                .await
                .map_err(|e| format!("switched, but could not drop the cached answer: {e}"))?;
        }
        format!("the {}", stores.state.describe())
    } else {
        let path = app::hidden_file(&config);
        if hide {
            crate::store::file::write_atomic(&path, b"true\n")
                .map_err(|e| format!("could not write {}: {e}", path.display()))?;
        } else {
            match std::fs::remove_file(&path) {
                Ok(()) => {}
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => return Err(format!("could not remove {}: {e}", path.display())),
            }
        }
        format!("{}", path.display())
    };
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
