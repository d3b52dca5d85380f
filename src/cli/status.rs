//! `nowplaying status`: what is configured, reachable and valid. Exits 0 when all is well and 1
//! when the owner must act (no credentials, a rejected refresh token or client, the refresh-token
//! limit close, a missing scope, a lapsed Premium, a store out of reach). Never prints a secret or a token.
//!
//! The sections are [`crate::report`]'s (the console at `/owner` shows the same report); this
//! prints them as text.

use std::sync::Arc;

use crate::app;
use crate::clock::SystemClock;
use crate::config::Config;
use crate::report::{self, Inputs};

pub async fn run(config: Config) -> Result<(), String> {
    let stores = app::stores(&config).await;
    let inputs = Inputs {
        privacy: stores.deployment.privacy_switch(),
        credentials: stores.credentials.clone(),
        table: stores.table().clone(),
        shared: stores.shared_table().cloned(),
        live: report::Live::Refresh,
        clock: Arc::new(SystemClock),
        config,
    };
    let report = report::build(&inputs).await;
    for line in report.text() {
        println!("{line}");
    }
    if report.problems.is_empty() {
        Ok(())
    } else {
        Err(report.verdict())
    }
}
