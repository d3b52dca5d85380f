//! The access token's lifecycle and refresh-token rotation.
//!
//! One access token serves every process: it lives sealed in the shared state, and only the
//! holder of the refresh lease asks Spotify for a new one. When Spotify rotates the refresh token,
//! the new one is written sealed to the shared state at once, then to the credential store, all
//! before the new access token is published and before the lease is released; if the credential
//! store cannot be written, the sealed copy stays and the next refresh (in any process) uses it,
//! so nothing is lost. Every rotation also leaves the newest refresh token sealed in the shared
//! state (bound to the sign-in), so a process whose copy of the credentials is from its cold start
//! refreshes with the newest token without reading the credential store again: the store is read
//! once per cold start, and again only on `invalid_grant`.
//!
//! The owner's commands (`authorize`, `disconnect`) change the credentials from another process.
//! A running process notices through an [`AuthWatch`]: on every cache miss (never on a cache hit)
//! and again under the refresh lease, it compares the authorization generation with the one it
//! last saw, and when it changed it forgets its in-memory access token and credentials and reads
//! the store again. With a shared table the generation is the `auth-generation` record, which the
//! commands write while holding the refresh lease, so no refresh in flight can put a removed
//! refresh token back; with a local credentials file it is the file's `authorized_at` and whether a
//! refresh token is present.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use sha2::Digest;

use crate::clock::SharedClock;
use crate::error::Error;
use crate::seal::Sealer;
use crate::secret::Secret;
use crate::spotify::{SpotifyClient, SpotifyError, TokenGrant};
use crate::store::{CredentialStore, Credentials, Record, SharedState};

pub const TOKEN_KEY: &str = "token";
pub const TOKEN_LEASE_KEY: &str = "lease:token";
pub const PENDING_REFRESH_KEY: &str = "pending-refresh-token";
/// The newest refresh token, sealed, bound to the sign-in it belongs to (`authorized_at`): how
/// every process learns of a rotation without reading the credential store again.
pub const LATEST_REFRESH_KEY: &str = "latest-refresh-token";
/// Every item that holds a token, for `authorize` and `disconnect` to delete at once.
pub const TOKEN_ITEMS: [&str; 3] = [TOKEN_KEY, PENDING_REFRESH_KEY, LATEST_REFRESH_KEY];
/// Written (never deleted) by `authorize` and `disconnect`: a new value tells every process that
/// the stored credentials were replaced or removed.
pub const AUTH_GENERATION_KEY: &str = "auth-generation";

/// Refresh this long before the access token expires.
const EXPIRY_MARGIN_MS: u64 = 60_000;
/// How long a refresh lease lasts; a holder that dies releases nothing, so this bounds the wait.
const LEASE_MS: u64 = 10_000;
/// How long a process waits for another one's refresh before giving up on this request.
const WAIT_FOR_HOLDER: Duration = Duration::from_millis(3_000);
/// After `invalid_grant` or `invalid_client`: how long before the credential store is read again.
const AUTH_BACKOFF_MS: u64 = 60_000;
/// While no credentials exist: how often the store is read again.
const NOT_AUTHORIZED_RECHECK_MS: u64 = 30_000;
/// Attempts and first delay for persisting a rotated refresh token.
const PERSIST_ATTEMPTS: u32 = 4;
const PERSIST_FIRST_DELAY: Duration = Duration::from_millis(100);
/// How long the shared state keeps a rotated refresh token that could not be persisted.
const PENDING_KEEP_S: u64 = 200 * 24 * 3600;
/// After a rotated refresh token could not be persisted: how long before a cache miss tries the
/// write again (in the background), rather than waiting for the next refresh.
const PERSIST_RETRY_MS: u64 = 30_000;

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

#[derive(Default)]
struct Local {
    /// Loaded once per cold start; reloaded only when needed.
    credentials: Option<Credentials>,
    loaded_at_ms: Option<u64>,
    access: Option<(Secret, u64)>,
    /// When set, the refresh token that Spotify rejected and until when not to retry it.
    rejected: Option<(Option<Secret>, u64, AuthFailure)>,
    /// The authorization generation seen last (`None`: not read yet).
    generation: Option<String>,
    /// A rotated refresh token whose write to the credential store was given up: the credentials
    /// to write, the token it was rotated from, and when to try again.
    unpersisted: Option<Unpersisted>,
}

#[derive(Clone)]
struct Unpersisted {
    credentials: Credentials,
    rotated_from: Secret,
    newest: Secret,
    retry_at_ms: u64,
}

#[derive(Clone, Copy, Debug, PartialEq)]
enum AuthFailure {
    InvalidGrant,
    InvalidClient,
}

/// The access token for this process. Cheap to share; the slow path (store reads, the lease,
/// the refresh) runs in a task of its own, so a caller that gives up (the answer's deadline)
/// never cuts a refresh short between Spotify's answer and the store write.
pub struct TokenKeeper {
    inner: Arc<Keeper>,
}

struct Keeper {
    spotify: SpotifyClient,
    credentials: Arc<dyn CredentialStore>,
    state: Arc<dyn SharedState>,
    clock: SharedClock,
    owner: String,
    local: Mutex<Local>,
    refresh_flight: tokio::sync::Mutex<()>,
    watch: AuthWatch,
}

impl TokenKeeper {
    pub fn new(
        spotify: SpotifyClient,
        credentials: Arc<dyn CredentialStore>,
        state: Arc<dyn SharedState>,
        clock: SharedClock,
        owner: String,
    ) -> Self {
        TokenKeeper {
            inner: Arc::new(Keeper {
                spotify,
                credentials,
                state,
                clock,
                owner,
                local: Mutex::new(Local::default()),
                refresh_flight: tokio::sync::Mutex::new(()),
                watch: AuthWatch::None,
            }),
        }
    }

    /// Watches for the owner's `authorize` and `disconnect` (see the module documentation).
    pub fn with_watch(mut self, watch: AuthWatch) -> Self {
        Arc::get_mut(&mut self.inner)
            .expect("with_watch is called while building, before the keeper is shared")
            .watch = watch;
        self
    }

    /// Forgets everything cached in this process (after `disconnect` or `authorize`).
    pub fn forget(&self) {
        self.inner.forget();
    }

    /// A valid access token. `rejected` is a token Spotify just answered `401` to: it is not
    /// returned again, and a fresh one is obtained.
    pub async fn access_token(&self, rejected: Option<&Secret>) -> Result<Secret, Error> {
        self.inner.notice_owner_changes().await;
        self.inner.retry_persist_if_due();
        if let Some(t) = self.inner.local_access(rejected) {
            return Ok(t);
        }
        // Detached: once Spotify has rotated the refresh token, the only copy is in this task
        // until a store holds it, so dropping the caller (a timeout) must not drop the task.
        let keeper = self.inner.clone();
        let rejected = rejected.cloned();
        detached(async move { keeper.access_token(rejected.as_ref()).await }).await
    }

    /// Refreshes now, even when a cached access token is still valid (`nowplaying status`): proves
    /// that the stored refresh token works, and persists a rotated one like the service does.
    pub async fn refresh_now(&self) -> Result<Secret, Error> {
        let keeper = self.inner.clone();
        detached(async move { keeper.refresh_now().await }).await
    }
}

/// Runs `f` in a task of its own and waits for it: the caller may give up, the task goes on.
async fn detached<F>(f: F) -> Result<Secret, Error>
where
    F: std::future::Future<Output = Result<Secret, Error>> + Send + 'static,
{
    match tokio::spawn(f).await {
        Ok(result) => result,
        Err(e) if e.is_panic() => std::panic::resume_unwind(e.into_panic()),
        Err(_) => Err(Error::Busy),
    }
}

impl Keeper {
    fn forget(&self) {
        let mut l = self.local.lock().unwrap();
        let generation = l.generation.take();
        *l = Local {
            generation,
            ..Local::default()
        };
    }

    /// The current authorization generation; `None` when it cannot be read or was never written
    /// (which never counts as a change).
    async fn read_generation(&self) -> Option<String> {
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

    /// Forgets this process's access token and credentials when the owner changed the
    /// authorization since it last looked. Returns whether it did.
    async fn notice_owner_changes(&self) -> bool {
        let Some(now) = self.read_generation().await else {
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

    /// Refreshes now, even when a cached access token is still valid (`nowplaying status`): proves
    /// that the stored refresh token works, and persists a rotated one like the service does.
    pub async fn refresh_now(&self) -> Result<Secret, Error> {
        let _flight = self.refresh_flight.lock().await;
        let credentials = self.credentials_for_refresh().await?;
        let sealer = Sealer::from_client_secret(&credentials.client_secret);
        // When someone else is refreshing right now, their new token proves the same.
        self.refresh_with_lease(credentials, &sealer, None, true)
            .await
    }

    /// Takes the refresh lease and refreshes, or, when another process holds it, waits for the
    /// token it publishes.
    async fn refresh_with_lease(
        &self,
        credentials: Credentials,
        sealer: &Sealer,
        rejected: Option<&Secret>,
        force: bool,
    ) -> Result<Secret, Error> {
        let now = self.clock.now_ms();
        let lease = self.lease_record(now);
        if !self
            .state
            .put_if_expired(TOKEN_LEASE_KEY, &lease, now)
            .await
            .unwrap_or(true)
        {
            return self.wait_for_holder(sealer, rejected).await;
        }
        let result = self.refresh_under_lease(credentials, rejected, force).await;
        let _ = self
            .state
            .delete_if_owner(TOKEN_LEASE_KEY, &self.owner)
            .await;
        result
    }

    fn lease_record(&self, now: u64) -> Record {
        Record {
            value: String::new(),
            expires_at_ms: now + LEASE_MS,
            owner: Some(self.owner.clone()),
            ttl_s: (now + LEASE_MS) / 1000 + 3600,
        }
    }

    fn local_access(&self, rejected: Option<&Secret>) -> Option<Secret> {
        let now = self.clock.now_ms();
        let local = self.local.lock().unwrap();
        match &local.access {
            Some((t, exp)) if now + EXPIRY_MARGIN_MS < *exp && Some(t) != rejected => {
                Some(t.clone())
            }
            _ => None,
        }
    }

    async fn access_token(&self, rejected: Option<&Secret>) -> Result<Secret, Error> {
        let _flight = self.refresh_flight.lock().await;
        if let Some(t) = self.local_access(rejected) {
            return Ok(t);
        }
        if rejected.is_some() {
            tracing::info!("Spotify answered 401; refreshing the access token once");
        }
        let credentials = self.credentials_for_refresh().await?;
        let sealer = Sealer::from_client_secret(&credentials.client_secret);

        if let Some(t) = self.shared_access(&sealer, rejected).await {
            return Ok(t);
        }

        self.refresh_with_lease(credentials, &sealer, rejected, false)
            .await
    }

    /// The access token in the shared state, when it is valid and not the rejected one.
    async fn shared_access(&self, sealer: &Sealer, rejected: Option<&Secret>) -> Option<Secret> {
        let record = self.state.get(TOKEN_KEY).await.ok()??;
        let now = self.clock.now_ms();
        if now + EXPIRY_MARGIN_MS >= record.expires_at_ms {
            return None;
        }
        let token = Secret::new(sealer.open(TOKEN_KEY, &record.value)?);
        if Some(&token) == rejected {
            return None;
        }
        self.local.lock().unwrap().access = Some((token.clone(), record.expires_at_ms));
        Some(token)
    }

    async fn wait_for_holder(
        &self,
        sealer: &Sealer,
        rejected: Option<&Secret>,
    ) -> Result<Secret, Error> {
        let deadline = tokio::time::Instant::now() + WAIT_FOR_HOLDER;
        while tokio::time::Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(100)).await;
            if let Some(t) = self.shared_access(sealer, rejected).await {
                return Ok(t);
            }
        }
        Err(Error::Busy)
    }

    /// The credentials, read from the store once per cold start, again after an auth failure's
    /// back-off, and again (at most every 30 s) while none exist.
    async fn credentials_for_refresh(&self) -> Result<Credentials, Error> {
        let now = self.clock.now_ms();
        let (cached, loaded_at, rejected) = {
            let l = self.local.lock().unwrap();
            (l.credentials.clone(), l.loaded_at_ms, l.rejected.clone())
        };
        if let Some((rejected_token, until, failure)) = &rejected {
            if now < *until {
                return Err(failure_error(*failure));
            }
            // The back-off ran out: read the store again; a new sign-in shows up as a new token.
            let fresh = self.load_credentials().await?;
            let same = match failure {
                AuthFailure::InvalidGrant => fresh.refresh_token == *rejected_token,
                AuthFailure::InvalidClient => Some(&fresh) == cached.as_ref(),
            };
            if same {
                self.local.lock().unwrap().rejected =
                    Some((rejected_token.clone(), now + AUTH_BACKOFF_MS, *failure));
                return Err(failure_error(*failure));
            }
            self.local.lock().unwrap().rejected = None;
            return Ok(fresh);
        }
        match (cached, loaded_at) {
            (Some(c), _) if c.is_complete() => Ok(c),
            (_, Some(at)) if now.saturating_sub(at) < NOT_AUTHORIZED_RECHECK_MS => {
                Err(Error::NotAuthorized)
            }
            _ => self.load_credentials().await,
        }
    }

    async fn load_credentials(&self) -> Result<Credentials, Error> {
        let now = self.clock.now_ms();
        let loaded = self.credentials.load().await?;
        let mut l = self.local.lock().unwrap();
        l.loaded_at_ms = Some(now);
        l.credentials = loaded.clone();
        match loaded {
            Some(c) if c.is_complete() => Ok(c),
            _ => Err(Error::NotAuthorized),
        }
    }

    async fn refresh_under_lease(
        &self,
        mut credentials: Credentials,
        rejected: Option<&Secret>,
        force: bool,
    ) -> Result<Secret, Error> {
        // The owner's commands change the credentials while holding this lease: looking again
        // under it means a removed refresh token is never used (and persisted) again.
        if self.notice_owner_changes().await {
            credentials = self.load_credentials().await?;
        }
        let sealer = &Sealer::from_client_secret(&credentials.client_secret);
        // Someone may have published a token between our read and our lease.
        if !force {
            if let Some(t) = self.shared_access(sealer, rejected).await {
                return Ok(t);
            }
        }
        // A rotated refresh token that could not be persisted earlier takes precedence; then the
        // newest one any process saw (the copy of the credentials here is from the cold start,
        // and the store is not read again for it).
        let pending = self.pending_refresh_token(sealer).await;
        let latest = match pending {
            Some(_) => None,
            None => self.latest_refresh_token(sealer, &credentials).await,
        };
        if let Some(t) = latest {
            if credentials.refresh_token.as_ref() != Some(&t) {
                credentials.refresh_token = Some(t);
            }
        }
        let mut refresh_token = pending
            .clone()
            .or_else(|| credentials.refresh_token.clone())
            .ok_or(Error::NotAuthorized)?;

        let mut reread = false;
        let grant = loop {
            match self
                .spotify
                .refresh(
                    &credentials.client_id,
                    &credentials.client_secret,
                    &refresh_token,
                )
                .await
            {
                Ok(grant) => break grant,
                Err(SpotifyError::InvalidGrant) if !reread => {
                    // Another environment may have rotated it: read the store once more.
                    reread = true;
                    let fresh = self.load_credentials().await?;
                    match fresh.refresh_token.clone() {
                        Some(t) if t != refresh_token => {
                            tracing::info!("the stored refresh token changed; retrying with it");
                            refresh_token = t;
                            credentials = fresh;
                        }
                        _ => {
                            return Err(
                                self.auth_failed(Some(refresh_token), AuthFailure::InvalidGrant)
                            )
                        }
                    }
                }
                Err(SpotifyError::InvalidGrant) => {
                    return Err(self.auth_failed(Some(refresh_token), AuthFailure::InvalidGrant))
                }
                Err(SpotifyError::InvalidClient) => {
                    return Err(self.auth_failed(Some(refresh_token), AuthFailure::InvalidClient))
                }
                Err(e) => return Err(e.into()),
            }
        };

        self.absorb_grant(credentials, refresh_token, pending.is_some(), grant, sealer)
            .await
    }

    /// Persists a rotated refresh token (if any), then publishes the access token.
    async fn absorb_grant(
        &self,
        mut credentials: Credentials,
        used: Secret,
        used_pending: bool,
        grant: TokenGrant,
        sealer: &Sealer,
    ) -> Result<Secret, Error> {
        let now = self.clock.now_ms();
        let newest = grant.refresh_token.clone().unwrap_or_else(|| used.clone());
        if credentials.refresh_token.as_ref() != Some(&newest) {
            credentials.refresh_token = Some(newest.clone());
            if let Some(scope) = &grant.scope {
                credentials.scope = Some(scope.clone());
            }
            self.persist_refresh_token(&credentials, &used, &newest, sealer, false)
                .await;
        } else if used_pending {
            let _ = self.state.delete(PENDING_REFRESH_KEY).await;
        }
        {
            let mut l = self.local.lock().unwrap();
            l.credentials = Some(credentials);
        }
        // A rotated refresh token is kept (above) whatever the rest of the answer is.
        let Some(access_token) = grant.access_token.clone() else {
            tracing::warn!(
                rotated = grant.refresh_token.is_some(),
                "Spotify's token answer held no access token"
            );
            return Err(
                SpotifyError::Upstream("token response without access_token".into()).into(),
            );
        };
        let expires_at_ms = now + grant.expires_in_s.saturating_mul(1000);
        let record = Record {
            value: sealer.seal(TOKEN_KEY, access_token.expose()),
            expires_at_ms,
            owner: None,
            ttl_s: expires_at_ms / 1000 + 3600,
        };
        if let Err(e) = self.state.put(TOKEN_KEY, &record).await {
            tracing::warn!(error = %e, "could not publish the access token to the shared state");
        }
        self.local.lock().unwrap().access = Some((access_token.clone(), expires_at_ms));
        tracing::info!(
            expires_in_s = grant.expires_in_s,
            rotated = grant.refresh_token.is_some(),
            "refreshed the Spotify access token"
        );
        Ok(access_token)
    }

    /// Writes the credentials with a new refresh token, with retries. The token is first
    /// written sealed to the shared state (write-ahead), so neither a slow or unreachable
    /// credential store nor this process dying in the meantime can lose it: the next refresh,
    /// in any process, uses it and retries the write.
    ///
    /// When every attempt fails, the token is also remembered in this process and a cache miss
    /// at least [`PERSIST_RETRY_MS`] later writes it again ([`Keeper::retry_persist`], one
    /// attempt, `retrying`): the write-ahead copy may itself have gone only to this process's
    /// memory (the table was down too), and the credential store should not stay behind for the
    /// hour until the next refresh.
    async fn persist_refresh_token(
        &self,
        credentials: &Credentials,
        rotated_from: &Secret,
        newest: &Secret,
        sealer: &Sealer,
        retrying: bool,
    ) {
        let now = self.clock.now_ms();
        let record = Record {
            value: sealer.seal(PENDING_REFRESH_KEY, newest.expose()),
            expires_at_ms: now + PENDING_KEEP_S * 1000,
            // Whoever wrote it clears it: a later rotation by another process is not undone.
            owner: Some(self.owner.clone()),
            ttl_s: now / 1000 + PENDING_KEEP_S,
        };
        let kept = self.state.put(PENDING_REFRESH_KEY, &record).await.is_ok();
        let latest = Record {
            value: sealer.seal(&latest_context(credentials), newest.expose()),
            owner: None,
            ..record
        };
        let _ = self.state.put(LATEST_REFRESH_KEY, &latest).await;
        let mut delay = PERSIST_FIRST_DELAY;
        let mut last_error = None;
        let attempts = if retrying { 1 } else { PERSIST_ATTEMPTS };
        for attempt in 1..=attempts {
            match self.credentials.save(credentials).await {
                Ok(()) => {
                    self.local.lock().unwrap().unpersisted = None;
                    let _ = self
                        .state
                        .delete_if_owner(PENDING_REFRESH_KEY, &self.owner)
                        .await;
                    tracing::info!(
                        store = %self.credentials.describe(),
                        fingerprint = %fingerprint(newest),
                        "persisted the rotated refresh token"
                    );
                    return;
                }
                Err(e) => {
                    tracing::warn!(attempt, error = %e, "could not persist the rotated refresh token; retrying");
                    last_error = Some(e);
                    if attempt < attempts {
                        tokio::time::sleep(delay).await;
                        delay *= 3;
                    }
                }
            }
        }
        self.local.lock().unwrap().unpersisted = Some(Unpersisted {
            credentials: credentials.clone(),
            rotated_from: rotated_from.clone(),
            newest: newest.clone(),
            retry_at_ms: self.clock.now_ms() + PERSIST_RETRY_MS,
        });
        if retrying {
            tracing::warn!(
                store = %self.credentials.describe(),
                error = %last_error.map(|e| e.to_string()).unwrap_or_default(),
                "still could not persist the rotated refresh token; trying again later"
            );
            return;
        }
        tracing::error!(
            store = %self.credentials.describe(),
            error = %last_error.map(|e| e.to_string()).unwrap_or_default(),
            kept_sealed_in_shared_state = kept,
            "could not persist the rotated refresh token; it is kept and the next refresh will use it and retry the write"
        );
    }

    /// Starts [`Keeper::retry_persist`] in the background when a given-up write is due again.
    fn retry_persist_if_due(self: &Arc<Self>) {
        let now = self.clock.now_ms();
        let due = {
            let mut l = self.local.lock().unwrap();
            match &mut l.unpersisted {
                Some(u) if u.retry_at_ms <= now => {
                    u.retry_at_ms = now + PERSIST_RETRY_MS;
                    true
                }
                _ => false,
            }
        };
        if due {
            let keeper = self.clone();
            tokio::spawn(async move { keeper.retry_persist().await });
        }
    }

    /// Writes a rotated refresh token whose write was given up earlier, under the refresh lease,
    /// unless the owner changed the authorization or another process rotated since (its token,
    /// sealed in the shared state, is then the newer one).
    async fn retry_persist(&self) {
        let _flight = self.refresh_flight.lock().await;
        let now = self.clock.now_ms();
        if !self
            .state
            .put_if_expired(TOKEN_LEASE_KEY, &self.lease_record(now), now)
            .await
            .unwrap_or(false)
        {
            return; // someone is refreshing: a later cache miss tries again
        }
        self.notice_owner_changes().await;
        let pending = self.local.lock().unwrap().unpersisted.clone();
        if let Some(u) = pending {
            let sealer = Sealer::from_client_secret(&u.credentials.client_secret);
            let latest = self.latest_refresh_token(&sealer, &u.credentials).await;
            let superseded = latest.is_some_and(|t| t != u.newest && t != u.rotated_from);
            if superseded {
                self.local.lock().unwrap().unpersisted = None;
            } else {
                self.persist_refresh_token(
                    &u.credentials,
                    &u.rotated_from,
                    &u.newest,
                    &sealer,
                    true,
                )
                .await;
            }
        }
        let _ = self
            .state
            .delete_if_owner(TOKEN_LEASE_KEY, &self.owner)
            .await;
    }

    /// The newest refresh token in the shared state, when it belongs to this sign-in.
    async fn latest_refresh_token(
        &self,
        sealer: &Sealer,
        credentials: &Credentials,
    ) -> Option<Secret> {
        let record = self.state.get(LATEST_REFRESH_KEY).await.ok()??;
        sealer
            .open(&latest_context(credentials), &record.value)
            .map(Secret::new)
    }

    async fn pending_refresh_token(&self, sealer: &Sealer) -> Option<Secret> {
        let record = self.state.get(PENDING_REFRESH_KEY).await.ok()??;
        sealer
            .open(PENDING_REFRESH_KEY, &record.value)
            .map(Secret::new)
    }

    fn auth_failed(&self, token: Option<Secret>, failure: AuthFailure) -> Error {
        let now = self.clock.now_ms();
        let mut l = self.local.lock().unwrap();
        let already = l.rejected.is_some();
        l.rejected = Some((token, now + AUTH_BACKOFF_MS, failure));
        l.access = None;
        if !already {
            tracing::error!(
                store = %self.credentials.describe(),
                "{}",
                failure_error(failure)
            );
        }
        failure_error(failure)
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

/// What [`replace_authorization`] did to the shared state.
#[derive(Debug, Default)]
pub struct Replaced {
    /// The cached access token, pending refresh token and answer were deleted from the shared table.
    pub cleared_shared: bool,
    /// Why the shared table could not be cleared, when it could not.
    pub shared_error: Option<String>,
}

/// Replaces the stored credentials on the owner's behalf (`authorize`, `disconnect`) so that every
/// running process notices and none undoes it: with a shared table, while holding the refresh lease
/// (so no refresh in flight persists an old refresh token afterwards), it saves the credentials,
/// writes a new [`AUTH_GENERATION_KEY`], and deletes the cached access token, the pending refresh
/// token and the cached answer. Without one, the credential store's write is the whole signal.
pub async fn replace_authorization(
    store: &dyn CredentialStore,
    state: Option<&dyn SharedState>,
    credentials: &Credentials,
    now_ms: impl Fn() -> u64,
) -> Result<Replaced, Error> {
    let Some(state) = state else {
        store.save(credentials).await?;
        return Ok(Replaced::default());
    };
    let owner = format!("owner-command-{:016x}", rand::random::<u64>());
    // Wait for a refresh in flight to finish (a lease lasts LEASE_MS at most).
    let deadline = tokio::time::Instant::now() + Duration::from_millis(LEASE_MS + 2_000);
    let mut lease_error = None;
    loop {
        let now = now_ms();
        let lease = Record {
            value: String::new(),
            expires_at_ms: now + LEASE_MS,
            owner: Some(owner.clone()),
            ttl_s: (now + LEASE_MS) / 1000 + 3600,
        };
        match state.put_if_expired(TOKEN_LEASE_KEY, &lease, now).await {
            Ok(true) => break,
            Ok(false) if tokio::time::Instant::now() < deadline => {
                tokio::time::sleep(Duration::from_millis(200)).await
            }
            Ok(false) => break,
            Err(e) => {
                lease_error = Some(e.to_string());
                break;
            }
        }
    }
    store.save(credentials).await?;
    if let Some(e) = lease_error {
        return Ok(Replaced {
            cleared_shared: false,
            shared_error: Some(e),
        });
    }
    let now = now_ms();
    let generation = Record {
        value: format!("{now}-{:016x}", rand::random::<u64>()),
        expires_at_ms: u64::MAX / 2,
        owner: None,
        // Kept for ten years: the table's TTL clean-up must never remove it.
        ttl_s: now / 1000 + 10 * 365 * 24 * 3600,
    };
    let mut result = state.put(AUTH_GENERATION_KEY, &generation).await;
    let keys = TOKEN_ITEMS
        .iter()
        .map(|k| k.to_string())
        .chain(crate::profile::all_answer_keys());
    for key in keys {
        if result.is_ok() {
            result = state.delete(&key).await;
        }
    }
    let _ = state.delete_if_owner(TOKEN_LEASE_KEY, &owner).await;
    Ok(match result {
        Ok(()) => Replaced {
            cleared_shared: true,
            shared_error: None,
        },
        Err(e) => Replaced {
            cleared_shared: false,
            shared_error: Some(e.to_string()),
        },
    })
}

/// The sealing context of [`LATEST_REFRESH_KEY`]: a token from an earlier sign-in does not open.
fn latest_context(credentials: &Credentials) -> String {
    format!(
        "{LATEST_REFRESH_KEY}|{}|{}",
        credentials.client_id,
        credentials.authorized_at.as_deref().unwrap_or("")
    )
}

fn failure_error(failure: AuthFailure) -> Error {
    match failure {
        AuthFailure::InvalidGrant => Error::MustReauthorize,
        AuthFailure::InvalidClient => Error::InvalidClient,
    }
}

/// A short, non-reversible fingerprint of a token, for logs and idempotency keys.
pub fn fingerprint(token: &Secret) -> String {
    let digest = sha2::Sha256::digest(format!("nowplaying-refresh-token:{}", token.expose()));
    digest.iter().take(16).map(|b| format!("{b:02x}")).collect()
}
