//! The fault harness: the whole service on the AWS emulator (Secrets Manager credentials,
//! DynamoDB shared state, each behind a fault proxy) and the fake Spotify, with a clock the test
//! moves, and the invariants every fault test ends with. `fault_matrix` and `token_edges` both
//! run on it; docs/development.md lists the invariants.

use std::sync::Mutex;
use std::time::{Duration, Instant};

use serde_json::Value;

use nowplaying::clock::{Clock, ManualClock, Timestamp};
use nowplaying::keys::PENDING_REFRESH_KEY;

use super::aws::{self, attr_s, EmulatorApp};
use super::fake_spotify::{self, Stats, TokenBehavior};
use super::{cache_window, credentials, open_token_item, sealer, song, SIGN_INS, T0};

/// How long a later refresh may take once Spotify is healthy again. Some faults leave a token
/// exchange in flight for seconds (an answer delayed past the API call's time-out), and the
/// next refresh waits for its lease.
const LATER_REFRESH_WITHIN: Duration = Duration::from_secs(15);

/// What the page got, over a whole run.
#[derive(Default, Debug)]
pub struct Pages {
    pub requests: u32,
    pub fresh: u32,
    pub stale: u32,
    pub null: u32,
    /// The `timestamp` of every fresh answer: a stale one must be one of them.
    fresh_timestamps: Vec<Value>,
}

/// One fault's run: the service on the emulator, a clock the test moves, and the page's tally.
pub struct Run {
    pub name: &'static str,
    pub app: EmulatorApp,
    pub clock: ManualClock,
    pub t0: Timestamp,
    started: Instant,
    pages: Mutex<Pages>,
    /// Refresh tokens the test itself handed out (a new sign-in), for the log search.
    extra_tokens: Mutex<Vec<String>>,
}

impl Run {
    /// Starts the service with the default cache window and warms it: one good answer, one
    /// refresh (the secret holds `refresh-token-1`).
    pub async fn start(name: &'static str) -> Run {
        let clock = ManualClock::at(T0);
        let app = EmulatorApp::start(&[], Some(clock.clone()), None).await;
        app.fake.set_current(song());
        let run = Run {
            name,
            app,
            clock,
            t0: T0,
            started: Instant::now(),
            pages: Mutex::new(Pages::default()),
            extra_tokens: Mutex::new(Vec::new()),
        };
        let v = run.page().await;
        assert_eq!(v["name"], "Song", "warm-up");
        assert_eq!(v["stale"], false);
        assert_eq!(run.app.secret_token().await, "refresh-token-1");
        run
    }

    /// The service's cache window.
    pub fn ttl(&self) -> Duration {
        cache_window(&self.app.app)
    }

    /// Moves the clock past the cache window.
    pub fn next_window(&self) {
        self.clock.advance(self.ttl() + Duration::from_millis(1));
    }

    /// Counts the cache windows the run has touched, by the service's clock.
    pub fn windows(&self) -> u64 {
        let elapsed = self.clock.now().since(self.t0).as_millis();
        (elapsed / self.ttl().as_millis()) as u64 + 1
    }

    pub fn stats(&self) -> Stats {
        self.app.fake.stats()
    }

    pub fn url(&self) -> String {
        self.app.url.clone()
    }

    /// Asks for `GET /api/spotify` once, checked as in [`Run::page_at`].
    pub async fn page(&self) -> Value {
        self.page_at(&self.url()).await
    }

    /// Asks `base` for `GET /api/spotify` once and checks the first invariant on the answer:
    /// `200`, and `null` or the good answer (stale only as it was read).
    pub async fn page_at(&self, base: &str) -> Value {
        let r = self
            .app
            .http
            .get(format!("{base}/api/spotify"))
            .send()
            .await
            .expect("the service answers");
        self.check(r.status().as_u16(), r.json().await.expect("a JSON body"))
    }

    fn check(&self, status: u16, v: Value) -> Value {
        assert!(status < 500, "{}: the page got a {status}", self.name);
        assert_eq!(status, 200, "{}: {v}", self.name);
        let mut p = self.pages.lock().unwrap();
        p.requests += 1;
        if v.is_null() {
            p.null += 1;
            return v;
        }
        assert_eq!(
            v["name"], "Song",
            "{}: the good answer or null, nothing else: {v}",
            self.name
        );
        if v["stale"] == true {
            assert!(
                p.fresh_timestamps.contains(&v["timestamp"]),
                "{}: a stale answer is the last good one as it was read: {v}",
                self.name
            );
            p.stale += 1;
        } else {
            p.fresh += 1;
            p.fresh_timestamps.push(v["timestamp"].clone());
        }
        v
    }

    /// Sends `n` concurrent requests spread over `bases`; each answer is checked as in
    /// [`Run::page_at`].
    pub async fn pages_at(&self, bases: &[String], n: usize) -> Vec<Value> {
        let mut tasks = Vec::new();
        for i in 0..n {
            let http = self.app.http.clone();
            let url = format!("{}/api/spotify", bases[i % bases.len()]);
            tasks.push(tokio::spawn(async move {
                let r = http.get(url).send().await.expect("the service answers");
                let status = r.status().as_u16();
                (status, r.json::<Value>().await.expect("a JSON body"))
            }));
        }
        let mut out = Vec::new();
        for t in tasks {
            let (status, v) = t.await.unwrap();
            out.push(self.check(status, v));
        }
        out
    }

    /// Sends `n` concurrent requests to the service.
    pub async fn pages(&self, n: usize) -> Vec<Value> {
        self.pages_at(&[self.url()], n).await
    }

    /// Plays the owner running `nowplaying authorize` again (the fake hands out `token`): the
    /// command's own code path writes the secret and the table's authorization generation.
    pub async fn reauthorize(&self, token: &str) {
        self.app.fake.set_token(TokenBehavior::default());
        self.app.fake.set_refresh_token(Some(token));
        let mut c = credentials(token);
        c.authorized_at = Some(SIGN_INS[1].into());
        let clock = self.clock.clone();
        let replaced = nowplaying::owner::replace_authorization(
            self.app.stores.credentials.as_ref(),
            Some(self.app.stores.table().as_ref()),
            &c,
            move || clock.now(),
        )
        .await
        .expect("authorize stores the credentials");
        assert!(replaced.cleared_shared, "{replaced:?}");
        self.extra_tokens.lock().unwrap().push(token.to_string());
    }

    /// Checks that the token Spotify considers valid is in the secret or sealed in the table.
    pub async fn assert_no_lost_refresh_token(&self) {
        let valid = self
            .stats()
            .valid_refresh_token
            .unwrap_or_else(|| panic!("{}: the grant was revoked: {:?}", self.name, self.stats()));
        let in_secret = self.app.secret_token().await;
        let pending = self
            .app
            .item(PENDING_REFRESH_KEY)
            .await
            .and_then(|i| open_token_item(&sealer(), PENDING_REFRESH_KEY, &attr_s(&i, "v")));
        assert!(
            in_secret == valid || pending.as_deref() == Some(valid.as_str()),
            "{}: the valid refresh token {valid} is lost: the secret holds {in_secret}, the pending item {pending:?}",
            self.name
        );
    }

    /// Heals Spotify and forces an expiry: checks that the next refresh works, without a new
    /// `invalid_grant`, and that the secret catches up with its rotated token.
    pub async fn assert_a_later_refresh_works(&self) {
        let before = self.stats();
        self.app.fake.set_token(TokenBehavior::default());
        self.app.fake.set_current(song());
        self.app.fake.expire_access_tokens();
        let deadline = Instant::now() + LATER_REFRESH_WITHIN;
        loop {
            self.next_window();
            let v = self.page().await;
            if self.stats().token_refreshes > before.token_refreshes
                && v["name"] == "Song"
                && v["stale"] == false
            {
                break;
            }
            assert!(
                Instant::now() < deadline,
                "{}: no later refresh within {LATER_REFRESH_WITHIN:?} ({:?})",
                self.name,
                self.stats()
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        let after = self.stats();
        assert_eq!(
            after.invalid_grant, before.invalid_grant,
            "{}: the later refresh got invalid_grant",
            self.name
        );
        assert_eq!(after.token_refreshes, before.token_refreshes + 1);
        let valid = after.valid_refresh_token.unwrap();
        // Bounded generously: on a loaded machine the write and its SDK retries take seconds.
        let what = format!("{}: the secret catches up", self.name);
        aws::eventually(Duration::from_secs(30), &what, || async {
            self.app.secret_token().await == valid
        })
        .await;
    }

    /// Checks the second invariant: no refresh token is lost, before and after a later refresh
    /// that works.
    pub async fn assert_tokens_kept(&self) {
        self.assert_no_lost_refresh_token().await;
        self.assert_a_later_refresh_works().await;
        self.assert_no_lost_refresh_token().await;
    }

    /// Checks the third invariant: upstream calls within the windows elapsed + 2, token calls
    /// within `token_bound`.
    pub fn assert_calls(&self, token_bound: u64) {
        let s = self.stats();
        let windows = self.windows();
        assert!(
            s.currently_playing <= windows + 2,
            "{}: {} currently-playing calls in {windows} windows",
            self.name,
            s.currently_playing
        );
        assert!(
            s.recently_played <= windows + 2,
            "{}: {} recently-played calls in {windows} windows",
            self.name,
            s.recently_played
        );
        assert!(
            s.token_calls <= token_bound,
            "{}: {} token calls, bound {token_bound}",
            self.name,
            s.token_calls
        );
    }

    /// Checks the fourth invariant: no log line carries the client secret, a refresh token the
    /// fake (or the test) issued, or an access token (the fake's are `access-N-…`).
    pub fn assert_no_secret_in_logs(&self) {
        let logs = aws::captured_logs();
        assert!(
            logs.contains("refreshed the Spotify access token"),
            "the log capture works"
        );
        let s = self.stats();
        let mut needles = vec![
            fake_spotify::CLIENT_SECRET.to_string(),
            "access-".to_string(),
        ];
        needles.extend(
            (0..=s.token_refreshes + s.code_exchanges).map(|n| format!("refresh-token-{n}")),
        );
        needles.extend(s.valid_refresh_token.clone());
        needles.extend(self.extra_tokens.lock().unwrap().iter().cloned());
        for needle in needles {
            let hits: Vec<&str> = logs.lines().filter(|l| l.contains(&needle)).collect();
            assert!(
                hits.is_empty(),
                "{}: a log line contains {needle:?}:\n{}",
                self.name,
                hits.join("\n")
            );
        }
    }

    /// The log lines of this run's secret at ERROR level.
    pub fn errors(&self) -> Vec<String> {
        aws::captured_logs()
            .lines()
            .filter(|l| l.contains("ERROR") && l.contains(&self.app.secret_id))
            .map(str::to_string)
            .collect()
    }

    /// Checks every invariant of the fault matrix, then prints its row.
    pub async fn finish(&self, token_bound: u64) {
        self.assert_tokens_kept().await;
        self.assert_calls(token_bound);
        self.assert_no_secret_in_logs();
        let s = self.stats();
        let p = self.pages.lock().unwrap();
        eprintln!(
            "MATRIX | {} | pages {} (fresh {}, stale {}, null {}) | currently-playing {} in {} windows | token calls {} (bound {token_bound}), refreshes {}, invalid_grant {} | errors {} | {:.1} s",
            self.name,
            p.requests,
            p.fresh,
            p.stale,
            p.null,
            s.currently_playing,
            self.windows(),
            s.token_calls,
            s.token_refreshes,
            s.invalid_grant,
            self.errors().len(),
            self.started.elapsed().as_secs_f64()
        );
    }

    /// Checks the token invariants of an upstream-driven edge (no refresh token lost, a later
    /// refresh works, no `invalid_grant` and no token presented twice at all), then prints
    /// its row.
    pub async fn finish_token_edge(&self) {
        self.assert_tokens_kept().await;
        self.assert_no_secret_in_logs();
        let s = self.stats();
        assert_eq!(s.invalid_grant, 0, "{}: no invalid_grant: {s:?}", self.name);
        assert_eq!(
            s.reuse_detected, 0,
            "{}: no token presented twice",
            self.name
        );
        eprintln!(
            "EDGE | {} | pages {} | token calls {}, refreshes {}, invalid_grant {}, reuse {}",
            self.name,
            self.pages.lock().unwrap().requests,
            s.token_calls,
            s.token_refreshes,
            s.invalid_grant,
            s.reuse_detected
        );
    }
}
