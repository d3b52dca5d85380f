//! The access token every process shares, and the refresh token's rotation. The algorithms and
//! their invariants are in docs/architecture.md ("Access-token sharing", "Refresh-token
//! rotation"); this module's files follow them: `access` (the fast path), `credentials` (the
//! owner's stored sign-in), `refresh` (under the lease), `rotation` (persisting a rotated refresh
//! token), `watch` (noticing the owner's commands).
//!
//! Tokens fail closed: the keeper takes a [`Table`] (the table itself, or a lone process's
//! memory), which the answer cache's memory fallback cannot be, so without the table there is no
//! lease and no refresh.

mod access;
mod credentials;
mod refresh;
mod rotation;
mod watch;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use sha2::Digest;

use crate::clock::{SharedClock, Timestamp};
use crate::error::Error;
use crate::secret::Secret;
use crate::spotify::SpotifyClient;
use crate::store::{CredentialStore, Credentials, Table};

pub use credentials::{days_left, signin_limit};
pub use watch::AuthWatch;

/// How long the refresh lease lasts: the worst case of the work done under it between two
/// renewals (see docs/architecture.md, "Worst case of a refresh"): three store calls of at most
/// 2 s, two token requests of at most 10 s each and the write-ahead copies: 30 s at most.
pub const REFRESH_LEASE: Duration = Duration::from_secs(40);
/// A lease version seen unchanged this long is stuck (its holder died): the owner's commands take
/// a refresh's lease, and the service an owner's command's, only by that. A live holder renews
/// at least every 30 s (the longest stretch between renewals), and each renewal is a new version.
pub const OWNER_STUCK_AFTER: Duration = REFRESH_LEASE.saturating_add(Duration::from_secs(2));
/// How long an owner's command waits for the refresh lease.
pub const OWNER_PATIENCE: Duration = REFRESH_LEASE.saturating_add(Duration::from_secs(10));
/// How long a process waits for another one's refresh before giving up on this request.
const WAIT_FOR_HOLDER: Duration = Duration::from_millis(3_000);

/// Spotify's limit on a refresh token's life from the sign-in, as this project counts it.
pub const REFRESH_TOKEN_LIFETIME_DAYS: i64 = 182;
/// Warn (and `status` exits 1) this long before that limit.
pub const WARN_DAYS: i64 = 14;

/// What this process keeps in memory.
#[derive(Default)]
struct Local {
    /// The stored sign-in, loaded once per cold start and reloaded only when needed.
    credentials: Option<Credentials>,
    /// When the credential store was last read.
    loaded_at: Option<Timestamp>,
    /// The access token in use.
    access: Option<InUse>,
    /// The access token this process's last refresh got.
    last_refresh: Option<Refreshed>,
    /// The refresh token (or client) Spotify rejected, while this process leaves it alone.
    rejected: Option<credentials::Rejection>,
    /// The authorization generation seen last (`None`: not read yet).
    generation: Option<String>,
    /// The generation as a caller just read it from the table
    /// ([`TokenKeeper::observe_generation`]): the next fast-path check uses it instead of a read
    /// of its own.
    observed: Option<watch::Observed>,
    /// A rotated refresh token whose write to the credential store was given up.
    unpersisted: Option<rotation::Unpersisted>,
    /// Whether the six-month reminder was logged by this process.
    reminded: bool,
}

/// An access token and the moment this process stops using it (its expiry minus a margin).
#[derive(Clone)]
struct InUse {
    token: Secret,
    until: Timestamp,
}

/// An access token this process's own refresh got, and when.
#[derive(Clone)]
struct Refreshed {
    token: Secret,
    at: Timestamp,
}

/// The access token for this process. Cheap to clone and share; the slow path (store reads, the
/// lease, the refresh) runs in a task of its own, so a caller that gives up (the answer's
/// deadline) never cuts a refresh short between Spotify's answer and the store write.
#[derive(Clone)]
pub struct TokenKeeper {
    inner: Arc<Keeper>,
}

struct Keeper {
    spotify: SpotifyClient,
    credentials: Arc<dyn CredentialStore>,
    /// The shared table (or, for a single process without one, memory): never the fallback.
    state: Table,
    clock: SharedClock,
    /// This process's id; each lease acquisition adds its own version to it.
    instance: String,
    local: Mutex<Local>,
    refresh_flight: tokio::sync::Mutex<()>,
    watch: AuthWatch,
    /// An owner's command (`status`): takes the refresh lease by version, never by the clock.
    owner_command: bool,
    /// The version of an owner's command's lease as this process saw it, and since when.
    owner_lease: Mutex<crate::lease::VersionWatch>,
    /// Refresh tasks running in this process, for [`TokenKeeper::settle`].
    running: Arc<Running>,
}

#[derive(Default)]
struct Running {
    count: AtomicUsize,
    done: tokio::sync::Notify,
}

/// Counts a running task while alive.
struct RunningGuard(Arc<Running>);

impl Drop for RunningGuard {
    fn drop(&mut self) {
        self.0.count.fetch_sub(1, Ordering::SeqCst);
        self.0.done.notify_waiters();
    }
}

impl TokenKeeper {
    /// A keeper over the owner's credential store and `state`, the [`Table`] every process of
    /// the deployment leases in. The answer cache's memory fallback is no `Table`, so it cannot
    /// be given here: without the table there is no lease, and no refresh (fail closed).
    ///
    /// ```compile_fail
    /// use std::sync::Arc;
    /// use nowplaying::clock::{SharedClock, SystemClock};
    /// use nowplaying::spotify::SpotifyClient;
    /// use nowplaying::store::{fallback::FallbackState, memory::{MemoryCredentials, MemoryState}};
    /// use nowplaying::tokens::TokenKeeper;
    ///
    /// let clock: SharedClock = Arc::new(SystemClock);
    /// let fallback = Arc::new(FallbackState::new(Arc::new(MemoryState::new()), clock.clone()));
    /// let spotify = SpotifyClient::new("http://127.0.0.1:9", "http://127.0.0.1:9");
    /// let credentials = Arc::new(MemoryCredentials::new(None));
    /// // Refused by the compiler: the fallback is not a `Table`.
    /// TokenKeeper::new(spotify, credentials, fallback, clock, "id".into());
    /// ```
    pub fn new(
        spotify: SpotifyClient,
        credentials: Arc<dyn CredentialStore>,
        state: Table,
        clock: SharedClock,
        instance: String,
    ) -> Self {
        TokenKeeper {
            inner: Arc::new(Keeper {
                spotify,
                credentials,
                state,
                clock,
                instance,
                local: Mutex::new(Local::default()),
                refresh_flight: tokio::sync::Mutex::new(()),
                watch: AuthWatch::None,
                owner_command: false,
                owner_lease: Mutex::new(crate::lease::VersionWatch::new(OWNER_STUCK_AFTER)),
                running: Arc::default(),
            }),
        }
    }

    /// Watches for the owner's `authorize` and `disconnect`.
    pub fn with_watch(mut self, watch: AuthWatch) -> Self {
        Arc::get_mut(&mut self.inner)
            .expect("with_watch is called while building, before the keeper is shared")
            .watch = watch;
        self
    }

    /// For the owner's commands: the refresh lease is taken by version, so this machine's clock
    /// never decides whether a running refresh's lease lapsed. `instance` must name an owner's
    /// command ([`crate::store::OWNER_HOLDER`]), so the service takes this lease by version too.
    pub fn as_owner_command(mut self) -> Self {
        let keeper = Arc::get_mut(&mut self.inner)
            .expect("as_owner_command is called while building, before the keeper is shared");
        assert!(crate::store::is_owner_holder(&keeper.instance));
        keeper.owner_command = true;
        self
    }

    /// Forgets everything cached in this process (after `disconnect` or `authorize`).
    pub fn forget(&self) {
        self.inner.forget();
    }

    /// The sign-in generation (the `auth-generation` item, `None`: absent) exactly as the caller
    /// just read it from the shared table: the answer cache reads it in the same call as the
    /// answer, so the next [`TokenKeeper::access_token`] (within a second) checks it without a
    /// read of its own. Ignored unless the keeper watches the shared table. The check under the
    /// refresh lease always reads the table itself.
    pub fn observe_generation(&self, value: Option<String>) {
        if matches!(self.inner.watch, AuthWatch::Shared) {
            let at = self.inner.clock.now();
            self.inner.local.lock().unwrap().observed = Some(watch::Observed {
                generation: value,
                at,
            });
        }
    }

    /// A valid access token. `rejected` is a token Spotify just answered `401` to: it is not
    /// returned again, and a fresh one is obtained.
    pub async fn access_token(&self, rejected: Option<&Secret>) -> Result<Secret, Error> {
        self.inner.notice_owner_changes_observed().await;
        self.inner.retry_persist_if_due();
        if let Some(t) = self.inner.local_access(rejected) {
            return Ok(t);
        }
        let keeper = self.inner.clone();
        let rejected = rejected.cloned();
        self.inner
            .detached(async move { keeper.access_token(rejected.as_ref()).await })
            .await
    }

    /// Refreshes now, even when a cached access token is still valid (`nowplaying status`): proves
    /// that the stored refresh token works, and persists a rotated one like the service does.
    pub async fn refresh_now(&self) -> Result<Secret, Error> {
        let keeper = self.inner.clone();
        self.inner
            .detached(async move { keeper.refresh_now().await })
            .await
    }

    /// Waits until no refresh runs in this process, or until `deadline`. On Lambda nothing runs
    /// after the answer is sent, so the answer waits while a refresh may hold the only copy of a
    /// rotated refresh token. Returns whether none runs.
    pub async fn settle(&self, deadline: tokio::time::Instant) -> bool {
        let running = &self.inner.running;
        loop {
            let done = running.done.notified();
            tokio::pin!(done);
            done.as_mut().enable();
            if running.count.load(Ordering::SeqCst) == 0 {
                return true;
            }
            if tokio::time::timeout_at(deadline, done).await.is_err() {
                return running.count.load(Ordering::SeqCst) == 0;
            }
        }
    }
}

impl Keeper {
    /// Runs `f` in a task of its own and waits for it: the caller may give up, the task goes on
    /// (and [`TokenKeeper::settle`] knows it runs).
    async fn detached<F>(&self, f: F) -> Result<Secret, Error>
    where
        F: std::future::Future<Output = Result<Secret, Error>> + Send + 'static,
    {
        let guard = self.track();
        let task = tokio::spawn(async move {
            let _guard = guard;
            f.await
        });
        match task.await {
            Ok(result) => result,
            Err(e) if e.is_panic() => std::panic::resume_unwind(e.into_panic()),
            Err(_) => Err(Error::Busy),
        }
    }

    fn track(&self) -> RunningGuard {
        self.running.count.fetch_add(1, Ordering::SeqCst);
        RunningGuard(self.running.clone())
    }

    fn forget(&self) {
        let mut l = self.local.lock().unwrap();
        let generation = l.generation.take();
        let reminded = l.reminded;
        *l = Local {
            generation,
            reminded,
            ..Local::default()
        };
    }
}

/// The sealing context of a token item: the item's key and the sign-in it belongs to (client
/// id and `authorized_at`), so a leftover from another sign-in never opens.
pub fn sealing_context(key: &str, credentials: &Credentials) -> String {
    format!(
        "{key}|{}|{}",
        credentials.client_id,
        credentials.authorized_at.as_deref().unwrap_or("")
    )
}

/// A short, non-reversible fingerprint of a token, for logs and idempotency keys.
pub fn fingerprint(token: &Secret) -> String {
    let digest = sha2::Sha256::digest(format!("nowplaying-refresh-token:{}", token.expose()));
    digest.iter().take(16).map(|b| format!("{b:02x}")).collect()
}
