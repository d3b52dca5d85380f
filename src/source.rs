//! Where answers come from (`SOURCE`): Spotify, Last.fm, or Spotify first with Last.fm as the
//! fallback. [`LastFm`] is the Last.fm source as the service uses it: the client, the user, the
//! API key (from `LASTFM_API_KEY` or the credentials' `lastfm_api_key`), Last.fm's own cooldown
//! and the owner's alert logged once. `crate::nowplaying` and `crate::lists` decide which
//! source to ask, with [`falls_back`].

use std::sync::{Arc, Mutex};
use std::time::Duration;

use crate::cache::Failure;
use crate::clock::{SharedClock, Timestamp};
use crate::config::{Config, SourceChoice};
use crate::error::Error;
use crate::keys::LASTFM_COOLDOWN_KEY;
use crate::lastfm::{LastFmClient, LastFmError, OwnerAction, Period};
use crate::model::{ListTrack, NowPlaying, TopArtist};
use crate::secret::Secret;
use crate::spotify::SpotifyError;
use crate::store::{CredentialStore, Record, SharedState};

/// The field of the credentials JSON that holds the Last.fm API key.
pub const LASTFM_KEY_FIELD: &str = "lastfm_api_key";
/// The credential store is read again this often while it holds no key, or after Last.fm
/// rejected the one it held.
const KEY_RECHECK: Duration = Duration::from_secs(60);

/// The configured sources say which one answers, and they hold Last.fm's client wherever it
/// takes part, so a choice that names Last.fm always has it.
pub enum Sources {
    /// Spotify answers alone (`SOURCE=spotify`, the default).
    Spotify,
    /// Last.fm answers alone (`SOURCE=lastfm`).
    Lastfm(LastFm),
    /// Spotify answers first, and Last.fm when Spotify can't be asked (`SOURCE=spotify,lastfm`).
    SpotifyThenLastfm(LastFm),
}

impl Sources {
    /// Builds the sources as configured; `credentials` is where `lastfm_api_key` may live,
    /// `state` holds Last.fm's cooldown. A choice naming Last.fm without `LASTFM_USER` falls
    /// back to Spotify alone.
    pub fn from_config(
        config: &Config,
        credentials: Arc<dyn CredentialStore>,
        state: Arc<dyn SharedState>,
        clock: SharedClock,
    ) -> Sources {
        let Some(user) = config.lastfm_user.clone() else {
            return Sources::Spotify;
        };
        let lastfm = || {
            LastFm::new(
                LastFmClient::new(&config.lastfm_api_base_url),
                user,
                config.lastfm_api_key.clone(),
                credentials,
                state,
                clock,
            )
        };
        match config.source {
            SourceChoice::Spotify => Sources::Spotify,
            SourceChoice::Lastfm => Sources::Lastfm(lastfm()),
            SourceChoice::SpotifyThenLastfm => Sources::SpotifyThenLastfm(lastfm()),
        }
    }
}

/// Tells whether Spotify's failure means "ask Last.fm": not signed in, the owner must act,
/// Spotify failing (5xx, time-outs, garbage, a refused call), or the token path out of reach.
/// Not a rate limit, a `401` to a fresh token or a lapsed Premium: those start the cache's
/// cooldown (Spotify is not asked again until it ends), and the cache asks the fallback during
/// it.
pub fn falls_back(err: &Error) -> bool {
    matches!(
        Failure::from(err),
        Failure::OwnerMustAct | Failure::Transient
    )
}

/// The sources' errors are classified here as the answer cache sees them (docs/architecture.md,
/// "The answer cache", step 7).
impl From<&Error> for Failure {
    fn from(err: &Error) -> Failure {
        if err.owner_must_act() {
            return Failure::OwnerMustAct;
        }
        match err {
            Error::Spotify(SpotifyError::RateLimited {
                retry_after,
                quota_exceeded,
            }) => Failure::RateLimited {
                origin: "Spotify",
                wait: *retry_after,
                quota_exceeded: *quota_exceeded,
            },
            Error::RateLimited {
                origin,
                retry_after,
            } => Failure::RateLimited {
                origin,
                wait: *retry_after,
                quota_exceeded: false,
            },
            Error::Spotify(SpotifyError::PremiumRequired) => Failure::PremiumRequired,
            Error::Spotify(SpotifyError::Unauthorized) => Failure::Unauthorized,
            _ => Failure::Transient,
        }
    }
}

/// Decides what to report when the fallback failed too: the owner-must-act error only when
/// both say so (then `null`); otherwise a temporary failure (stale, then `null`), never
/// Last.fm's rate limit (a cooldown would stop Spotify too).
pub fn both_failed(spotify: Error, lastfm: Error) -> Error {
    match (spotify.owner_must_act(), lastfm.owner_must_act()) {
        (true, true) => spotify,
        (true, false) => Error::LastFm(LastFmError::Upstream(format!(
            "Spotify can't be asked ({spotify}) and Last.fm failed ({lastfm})"
        ))),
        (false, _) => spotify,
    }
}

/// What this process remembers about the key and the alerts.
#[derive(Default)]
struct Local {
    /// The key from the credential store and when it was read.
    stored_key: Option<Secret>,
    read_at: Option<Timestamp>,
    /// The owner's problem logged last (logged again only when it changes).
    alerted: Option<OwnerAction>,
    /// After an owner's problem, Last.fm is not asked again before this moment.
    blocked_until: Timestamp,
}

/// Last.fm as a source.
pub struct LastFm {
    client: LastFmClient,
    user: String,
    env_key: Option<Secret>,
    credentials: Arc<dyn CredentialStore>,
    state: Arc<dyn SharedState>,
    clock: SharedClock,
    local: Mutex<Local>,
}

impl LastFm {
    pub fn new(
        client: LastFmClient,
        user: String,
        env_key: Option<Secret>,
        credentials: Arc<dyn CredentialStore>,
        state: Arc<dyn SharedState>,
        clock: SharedClock,
    ) -> LastFm {
        LastFm {
            client,
            user,
            env_key,
            credentials,
            state,
            clock,
            local: Mutex::new(Local::default()),
        }
    }

    /// This process's moment now (the clock the answers are read by).
    pub fn now(&self) -> Timestamp {
        self.clock.now()
    }

    pub fn user(&self) -> &str {
        &self.user
    }

    pub fn client(&self) -> &LastFmClient {
        &self.client
    }

    /// The answer of `/api/spotify`: the track Last.fm marks as playing, else the newest
    /// scrobble (when `show_recent`).
    pub async fn now_playing(
        &self,
        show_recent: bool,
        rules: &crate::rules::Rules,
    ) -> Result<Option<NowPlaying>, Error> {
        let now = self.clock.now();
        // Two: the newest scrobble besides a now-playing track (which Last.fm may or may not
        // count in `limit`); with rules that may hide plays, as many as a page holds.
        let limit = rules.recent_to_ask(2);
        let tracks = self
            .ask(|key| async move {
                self.client
                    .recent_tracks(&key, &self.user, limit, now)
                    .await
            })
            .await?;
        let (current, recent) = crate::lastfm::map::split_playing(tracks);
        Ok(rules.choose(current, recent, show_recent, now))
    }

    /// The history (`/api/spotify/recent`), repeats folded.
    pub async fn history(&self, limit: u8) -> Result<Vec<ListTrack>, Error> {
        let now = self.clock.now();
        let tracks = self
            .ask(|key| async move {
                self.client
                    .recent_tracks(&key, &self.user, limit, now)
                    .await
            })
            .await?;
        Ok(crate::lastfm::map::history(tracks))
    }

    pub async fn top_tracks(&self, period: Period) -> Result<Vec<ListTrack>, Error> {
        let now = self.clock.now();
        self.ask(|key| async move { self.client.top_tracks(&key, &self.user, period, now).await })
            .await
    }

    pub async fn top_artists(&self, period: Period) -> Result<Vec<TopArtist>, Error> {
        self.ask(|key| async move { self.client.top_artists(&key, &self.user, period).await })
            .await
    }

    pub async fn loved_tracks(&self) -> Result<Vec<ListTrack>, Error> {
        let now = self.clock.now();
        self.ask(|key| async move { self.client.loved_tracks(&key, &self.user, now).await })
            .await
    }

    /// One call with the key: not during Last.fm's cooldown, which a rate limit starts; the
    /// owner's problems logged once (until they change or go away).
    async fn ask<T, F, Fut>(&self, call: F) -> Result<T, Error>
    where
        F: FnOnce(Secret) -> Fut,
        Fut: std::future::Future<Output = Result<T, LastFmError>>,
    {
        let now = self.clock.now();
        {
            let l = self.local.lock().unwrap();
            if let Some(action) = l.alerted.filter(|_| now < l.blocked_until) {
                return Err(LastFmError::OwnerMustAct(action).into());
            }
        }
        if let Ok(Some(r)) = self.state.get(LASTFM_COOLDOWN_KEY).await {
            if r.expires_at > now {
                let left = now.until(r.expires_at);
                return Err(LastFmError::RateLimited {
                    retry_after: Duration::from_secs(left.as_millis().div_ceil(1000) as u64),
                }
                .into());
            }
        }
        let result = match self.key().await {
            Ok(key) => call(key).await,
            Err(e) => Err(e),
        };
        match &result {
            Ok(_) => self.local.lock().unwrap().alerted = None,
            Err(LastFmError::OwnerMustAct(action)) => self.alert(*action),
            Err(LastFmError::RateLimited { retry_after }) => {
                let until = now + *retry_after;
                let _ = self
                    .state
                    .put(
                        LASTFM_COOLDOWN_KEY,
                        &Record::until(until.as_millis().to_string(), until),
                    )
                    .await;
            }
            Err(LastFmError::Upstream(_)) => {}
        }
        result.map_err(Error::from)
    }

    /// Logs the owner's problem once, and pauses asking Last.fm for [`KEY_RECHECK`] (then
    /// the key is read from the store again: the owner may have put a new one there).
    fn alert(&self, action: OwnerAction) {
        let mut l = self.local.lock().unwrap();
        l.blocked_until = self.clock.now() + KEY_RECHECK;
        l.stored_key = None;
        l.read_at = None;
        if l.alerted == Some(action) {
            return;
        }
        l.alerted = Some(action);
        tracing::error!(
            alert = "owner_must_act",
            reason = action.reason(),
            user = %self.user,
            "{}",
            action.advice()
        );
    }

    /// `LASTFM_API_KEY`, else the credentials' `lastfm_api_key` (read once, and again at most
    /// every minute while there is none).
    pub async fn key(&self) -> Result<Secret, LastFmError> {
        if let Some(k) = &self.env_key {
            return Ok(k.clone());
        }
        let now = self.clock.now();
        {
            let l = self.local.lock().unwrap();
            if let Some(k) = &l.stored_key {
                return Ok(k.clone());
            }
            if l.read_at.is_some_and(|at| now.since(at) < KEY_RECHECK) {
                return Err(LastFmError::OwnerMustAct(OwnerAction::NoKey));
            }
        }
        let stored = match self.credentials.load().await {
            Ok(c) => c.and_then(|c| stored_key(&c)),
            Err(e) => {
                return Err(LastFmError::Upstream(format!(
                    "could not read the Last.fm API key: {e}"
                )))
            }
        };
        let mut l = self.local.lock().unwrap();
        l.read_at = Some(now);
        l.stored_key = stored.clone();
        stored.ok_or(LastFmError::OwnerMustAct(OwnerAction::NoKey))
    }
}

/// The key in a credentials document (`lastfm_api_key`), when it is a non-blank string.
pub fn stored_key(c: &crate::store::Credentials) -> Option<Secret> {
    c.extra
        .get(LASTFM_KEY_FIELD)
        .and_then(|v| v.as_str())
        .map(str::trim)
        .filter(|k| !k.is_empty())
        .map(Secret::new)
}

#[cfg(test)]
mod tests {

    use super::*;
    use crate::clock::ManualClock;
    use crate::store::memory::{MemoryCredentials, MemoryState};
    use crate::store::Credentials;

    const T0: Timestamp = Timestamp::from_millis(1_800_000_000_000);

    fn config(pairs: &[(&str, &str)]) -> Config {
        Config::from_pairs(pairs)
    }

    fn sources(pairs: &[(&str, &str)]) -> Sources {
        Sources::from_config(
            &config(pairs),
            Arc::new(MemoryCredentials::new(None)),
            Arc::new(MemoryState::new()),
            Arc::new(ManualClock::at(T0)),
        )
    }

    #[test]
    fn the_choice_becomes_the_variant_with_last_fm_wherever_it_takes_part() {
        assert!(matches!(sources(&[]), Sources::Spotify));
        let user = ("LASTFM_USER", "rj");
        match sources(&[("SOURCE", "lastfm"), user]) {
            Sources::Lastfm(l) => assert_eq!(l.user(), "rj"),
            _ => panic!("SOURCE=lastfm is Last.fm alone"),
        }
        assert!(matches!(
            sources(&[("SOURCE", "spotify,lastfm"), user]),
            Sources::SpotifyThenLastfm(_)
        ));
        // A user name alone does not turn Last.fm on.
        assert!(matches!(sources(&[user]), Sources::Spotify));
    }

    #[test]
    fn every_error_is_classified_for_the_cache() {
        let secs = Duration::from_secs;
        let cases = [
            (Error::NotAuthorized, Failure::OwnerMustAct),
            (Error::MustReauthorize, Failure::OwnerMustAct),
            (Error::InvalidClient, Failure::OwnerMustAct),
            (
                LastFmError::OwnerMustAct(OwnerAction::NoKey).into(),
                Failure::OwnerMustAct,
            ),
            (
                SpotifyError::RateLimited {
                    retry_after: secs(30),
                    quota_exceeded: true,
                }
                .into(),
                Failure::RateLimited {
                    origin: "Spotify",
                    wait: secs(30),
                    quota_exceeded: true,
                },
            ),
            (
                LastFmError::RateLimited {
                    retry_after: secs(60),
                }
                .into(),
                Failure::RateLimited {
                    origin: "Last.fm",
                    wait: secs(60),
                    quota_exceeded: false,
                },
            ),
            (SpotifyError::Unauthorized.into(), Failure::Unauthorized),
            (
                SpotifyError::PremiumRequired.into(),
                Failure::PremiumRequired,
            ),
            (
                SpotifyError::Forbidden("scope".into()).into(),
                Failure::Transient,
            ),
            (SpotifyError::InvalidGrant.into(), Failure::Transient),
            (
                SpotifyError::Upstream("502".into()).into(),
                Failure::Transient,
            ),
            (
                LastFmError::Upstream("down".into()).into(),
                Failure::Transient,
            ),
            (Error::Busy, Failure::Transient),
        ];
        for (err, want) in cases {
            assert_eq!(Failure::from(&err), want, "{err}");
            // Last.fm is asked instead exactly when no cooldown would keep Spotify quiet.
            let cooling = matches!(
                want,
                Failure::RateLimited { .. } | Failure::Unauthorized | Failure::PremiumRequired
            );
            assert_eq!(falls_back(&err), !cooling, "{err}");
        }
    }

    #[test]
    fn when_both_fail_only_a_shared_owner_problem_is_null() {
        let owner = || Error::NotAuthorized;
        let lastfm_owner = || Error::from(LastFmError::OwnerMustAct(OwnerAction::NoSuchUser));
        assert!(both_failed(owner(), lastfm_owner()).owner_must_act());
        let e = both_failed(owner(), LastFmError::Upstream("down".into()).into());
        assert_eq!(Failure::from(&e), Failure::Transient);
        // Last.fm's rate limit never becomes the shared cooldown.
        let e = both_failed(
            owner(),
            LastFmError::RateLimited {
                retry_after: Duration::from_secs(60),
            }
            .into(),
        );
        assert_eq!(Failure::from(&e), Failure::Transient);
        let e = both_failed(SpotifyError::Upstream("x".into()).into(), lastfm_owner());
        assert!(matches!(e, Error::Spotify(SpotifyError::Upstream(_))));
    }

    /// Last.fm behind a base URL where nothing listens: any call that gets out fails at once.
    fn lastfm(
        env_key: Option<&str>,
        credentials: Arc<MemoryCredentials>,
        state: Arc<MemoryState>,
        clock: &ManualClock,
    ) -> LastFm {
        LastFm::new(
            LastFmClient::new("http://127.0.0.1:9/2.0"),
            "rj".into(),
            env_key.map(Secret::new),
            credentials,
            state,
            Arc::new(clock.clone()),
        )
    }

    #[tokio::test]
    async fn last_fms_own_cooldown_answers_without_a_call_with_the_seconds_left() {
        let state = Arc::new(MemoryState::new());
        let clock = ManualClock::at(T0);
        let until = T0 + Duration::from_millis(30_500);
        state
            .put(
                LASTFM_COOLDOWN_KEY,
                &Record::until(until.as_millis().to_string(), until),
            )
            .await
            .unwrap();
        let l = lastfm(
            Some("k"),
            Arc::new(MemoryCredentials::new(None)),
            state,
            &clock,
        );
        let err = l.now_playing(true, &Default::default()).await.unwrap_err();
        assert!(
            matches!(err, Error::RateLimited { origin: "Last.fm", retry_after } if retry_after == Duration::from_secs(31)),
            "{err}"
        );
        // After it, the call goes out (and fails: nothing listens there).
        clock.set(until);
        let err = l.now_playing(true, &Default::default()).await.unwrap_err();
        assert_eq!(Failure::from(&err), Failure::Transient, "{err}");
    }

    #[tokio::test]
    async fn a_missing_key_is_looked_for_again_after_a_minute() {
        let credentials = Arc::new(MemoryCredentials::new(Some(Credentials::default())));
        let clock = ManualClock::at(T0);
        let l = lastfm(
            None,
            credentials.clone(),
            Arc::new(MemoryState::new()),
            &clock,
        );
        let no_key = |e: Error| {
            matches!(
                e,
                Error::LastFm(LastFmError::OwnerMustAct(OwnerAction::NoKey))
            )
        };
        assert!(no_key(
            l.now_playing(true, &Default::default()).await.unwrap_err()
        ));
        // The owner stores a key; within the minute the service does not look.
        let mut with_key = Credentials::default();
        with_key
            .extra
            .insert(LASTFM_KEY_FIELD.into(), " key ".into());
        credentials.save(&with_key).await.unwrap();
        clock.advance(KEY_RECHECK - Duration::from_millis(1));
        assert!(no_key(
            l.now_playing(true, &Default::default()).await.unwrap_err()
        ));
        clock.advance(Duration::from_millis(1));
        assert_eq!(l.key().await.unwrap().expose(), "key");
    }
}
