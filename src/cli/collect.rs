//! `nowplaying collect`: one collection into the history (for cron next to a `serve` that does
//! not collect by itself, or to catch up by hand). The same code as the schedule's on Lambda.

use crate::config::Config;

/// Runs one collection and prints what it stored.
pub async fn run(config: Config) -> Result<(), String> {
    if !config.profile_endpoints.history {
        return Err(super::history::HISTORY_OFF.into());
    }
    // Without the shared table only one process may refresh: not next to a running `serve`
    // (which collects by itself).
    let _lone = if config.cache_table.is_none() {
        match super::lone::take(&config.credentials_path, std::time::Duration::ZERO).await? {
            Some(lock) => Some(lock),
            None => {
                println!("`nowplaying serve` is running on these credentials and collects by itself: nothing to do");
                return Ok(());
            }
        }
    } else {
        None
    };
    let app = super::serve::service_app(&config).await?;
    let outcome = crate::lambda::collect(&app).await;
    let collected = &outcome["collected"];
    if collected.is_null() {
        return Err(format!(
            "nothing collected: {} (what was stored before stays)",
            outcome["reason"].as_str().unwrap_or("unknown error")
        ));
    }
    if collected["busy"] == true {
        println!("another collection is running: this one asked nothing");
        return Ok(());
    }
    let where_ = app
        .collector
        .as_ref()
        .map(|c| c.store.describe())
        .unwrap_or_default();
    println!(
        "collected {} new plays ({} already stored, {} page(s) asked) into {where_}",
        collected["new"], collected["already"], collected["pages"]
    );
    Ok(())
}
