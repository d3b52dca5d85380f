//! Noticing the owner's `authorize` and `disconnect` from a running process.

use std::time::Duration;

use super::Keeper;
use crate::clock::Timestamp;
use crate::keys::AUTH_GENERATION_KEY;
use crate::store::Credentials;

/// How long a generation observed by the answer cache stands for a read of the keeper's own.
const OBSERVED_FOR: Duration = Duration::from_secs(1);

/// The sign-in generation exactly as a caller read it from the shared table, and when.
pub(super) struct Observed {
    pub(super) generation: Option<String>,
    pub(super) at: Timestamp,
}

/// How a running process notices that the owner's commands changed the credentials.
#[derive(Debug, Clone, Default)]
pub enum AuthWatch {
    /// Nothing to watch (credentials in Secrets Manager without a shared table: a running process
    /// notices at its next refresh, within the hour).
    #[default]
    None,
    /// The [`AUTH_GENERATION_KEY`] record of the shared state.
    Shared,
    /// The local credentials file: its `authorized_at` and whether it holds a refresh token.
    File(std::path::PathBuf),
}

impl Keeper {
    /// The current authorization generation; `None` when it cannot be read or was never written
    /// (which never counts as a change).
    pub(super) async fn read_generation(&self) -> Option<String> {
        match &self.watch {
            AuthWatch::None => None,
            AuthWatch::Shared => self
                .state
                .get(AUTH_GENERATION_KEY)
                .await
                .ok()
                .flatten()
                .map(|r| r.value),
            AuthWatch::File(path) => {
                let text = tokio::fs::read_to_string(path).await.ok()?;
                let c = Credentials::from_json("credentials file", &text).ok()?;
                Some(file_generation(&c))
            }
        }
    }

    /// [`Keeper::notice_owner_changes`] with the generation a caller observed in the last
    /// [`OBSERVED_FOR`] (see `TokenKeeper::observe_generation`), else with a read of its own.
    /// An observation is used once.
    pub(super) async fn notice_owner_changes_observed(&self) -> bool {
        let now = self.clock.now();
        let observed = self
            .local
            .lock()
            .unwrap()
            .observed
            .take()
            .filter(|o| now.since(o.at) <= OBSERVED_FOR);
        match observed {
            Some(o) => self.apply_generation(o.generation),
            None => self.notice_owner_changes().await,
        }
    }

    /// Forgets this process's access token and credentials when the owner changed the
    /// authorization since it last looked. Returns whether it did.
    pub(super) async fn notice_owner_changes(&self) -> bool {
        let generation = self.read_generation().await;
        self.apply_generation(generation)
    }

    pub(super) fn apply_generation(&self, generation: Option<String>) -> bool {
        let Some(now) = generation else {
            return false;
        };
        let changed = {
            let mut l = self.local.lock().unwrap();
            let changed = l.generation.as_ref().is_some_and(|g| *g != now)
                || (l.generation.is_none() && l.credentials.is_some());
            l.generation = Some(now);
            changed
        };
        if changed {
            tracing::info!("the owner changed the authorization; reading the credentials again");
            self.forget();
        }
        changed
    }
}

/// The authorization generation of a local credentials file.
fn file_generation(c: &Credentials) -> String {
    format!(
        "{}|{}",
        c.authorized_at.as_deref().unwrap_or(""),
        c.refresh_token.as_ref().is_some_and(|t| !t.is_empty())
    )
}
