//! Several `nowplaying serve` processes sharing one DynamoDB table, one Secrets Manager secret
//! (on the AWS emulator) and one fake Spotify whose refresh tokens are single-use: one answer
//! per cache window and one refresh per expiry across all of them, no token ever lost or logged,
//! and a lease holder killed mid-refresh is taken over once its lease lapses.

use crate::support;

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use support::aws::{self, EmulatorEnv};
use support::*;

use nowplaying::keys::TOKEN_LEASE_KEY;

/// The children, killed (and reaped) when the test ends, panicking or not.
struct Fleet {
    children: Vec<Child>,
    urls: Vec<String>,
    stderr: Arc<Mutex<Vec<String>>>,
}

impl Drop for Fleet {
    fn drop(&mut self) {
        for c in &mut self.children {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

impl Fleet {
    fn start(n: usize, fake: &FakeSpotify, env: &EmulatorEnv, ttl_s: &str) -> Fleet {
        Fleet::start_with(n, fake, env, ttl_s, |_| vec![])
    }

    /// Like [`Fleet::start`], with extra environment variables for process `i`.
    fn start_with(
        n: usize,
        fake: &FakeSpotify,
        env: &EmulatorEnv,
        ttl_s: &str,
        extra: impl Fn(usize) -> Vec<(&'static str, String)>,
    ) -> Fleet {
        let mut fleet = Fleet {
            children: Vec::new(),
            urls: Vec::new(),
            stderr: Arc::new(Mutex::new(Vec::new())),
        };
        let dir = std::env::temp_dir().join(aws::unique("np-fleet"));
        for i in 0..n {
            let mut child = Command::new(env!("CARGO_BIN_EXE_nowplaying"))
                .args(["serve", "--addr", "127.0.0.1:0"])
                .env("TOKEN_SECRET_ID", &env.secret_id)
                .env("CACHE_TABLE", &env.table)
                .env("CACHE_TTL_SECONDS", ttl_s)
                .env("SPOTIFY_API_BASE_URL", &fake.base)
                .env("SPOTIFY_ACCOUNTS_BASE_URL", &fake.base)
                .env("NOWPLAYING_CREDENTIALS", dir.join("unused.json"))
                .env("RUST_LOG", "info")
                .env_remove("AWS_LAMBDA_LOG_FORMAT")
                .envs(extra(i))
                .stdin(Stdio::null())
                .stdout(Stdio::piped())
                .stderr(Stdio::piped())
                .spawn()
                .expect("spawn nowplaying serve");
            let stderr = child.stderr.take().unwrap();
            let lines = fleet.stderr.clone();
            std::thread::spawn(move || {
                for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                    lines.lock().unwrap().push(format!("[{i}] {line}"));
                }
            });
            let stdout = child.stdout.take().unwrap();
            fleet.children.push(child);
            let (tx, rx) = std::sync::mpsc::channel();
            std::thread::spawn(move || {
                let mut tx = Some(tx);
                for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                    if let Some(rest) = line.strip_prefix("nowplaying serving on http://") {
                        let addr = rest.split('/').next().unwrap_or_default().to_string();
                        if let Some(tx) = tx.take() {
                            let _ = tx.send(addr);
                        }
                    }
                }
            });
            let addr = rx
                .recv_timeout(Duration::from_secs(30))
                .unwrap_or_else(|_| {
                    panic!(
                        "process {i} did not start:\n{}",
                        fleet.stderr.lock().unwrap().join("\n")
                    )
                });
            fleet.urls.push(format!("http://{addr}/api/spotify"));
        }
        fleet
    }

    fn stderr(&self) -> Vec<String> {
        self.stderr.lock().unwrap().clone()
    }

    /// No child logged a credential. Refresh tokens of the fake are `refresh-token-N`, access
    /// tokens `access-N-…`.
    fn assert_no_secret_logged(&self, fake: &FakeSpotify) {
        let valid = fake.stats().valid_refresh_token.unwrap_or_default();
        let lines = self.stderr();
        assert!(!lines.is_empty(), "the children logged nothing at all");
        for line in &lines {
            assert!(
                !line.contains(fake_spotify::CLIENT_SECRET),
                "client secret logged: {line}"
            );
            assert!(
                !line.contains("refresh-token-"),
                "a refresh token logged: {line}"
            );
            assert!(
                valid.is_empty() || !line.contains(&valid),
                "refresh token logged: {line}"
            );
            assert!(!line.contains("access-"), "an access token logged: {line}");
        }
    }
}

#[derive(Default)]
struct Tally {
    requests: u64,
    non_200: Vec<String>,
    nulls: u64,
    stale: u64,
    slowest: Duration,
}

/// `clients` tasks, each asking the fleet's live processes in turn every `pace`, until `until`.
/// Requests to a process in `killed` may fail (it is gone); every other must be a `200`.
fn run_clients(
    urls: Arc<Mutex<Vec<String>>>,
    killed: Arc<Mutex<Vec<String>>>,
    clients: usize,
    pace: Duration,
    until: Instant,
    stop: Arc<AtomicBool>,
) -> Vec<tokio::task::JoinHandle<Tally>> {
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(10))
        .build()
        .unwrap();
    (0..clients)
        .map(|c| {
            let http = http.clone();
            let urls = urls.clone();
            let killed = killed.clone();
            let stop = stop.clone();
            tokio::spawn(async move {
                let mut tally = Tally::default();
                let mut n = c;
                while Instant::now() < until && !stop.load(Ordering::Relaxed) {
                    let url = {
                        let urls = urls.lock().unwrap();
                        urls[n % urls.len()].clone()
                    };
                    n += 1;
                    let started = Instant::now();
                    let result = http.get(&url).send().await;
                    tally.requests += 1;
                    match result {
                        Ok(r) if r.status() == 200 => {
                            let v: serde_json::Value = r.json().await.unwrap();
                            if v.is_null() {
                                tally.nulls += 1;
                            } else if v["stale"] == true {
                                tally.stale += 1;
                            }
                        }
                        Ok(r) => tally.non_200.push(format!("{url}: {}", r.status())),
                        Err(e) => {
                            if !killed.lock().unwrap().contains(&url) {
                                tally.non_200.push(format!("{url}: {e}"));
                            }
                        }
                    }
                    tally.slowest = tally.slowest.max(started.elapsed());
                    tokio::time::sleep(pace).await;
                }
                tally
            })
        })
        .collect()
}

async fn sum(tasks: Vec<tokio::task::JoinHandle<Tally>>) -> Tally {
    let mut total = Tally::default();
    for t in tasks {
        let t = t.await.unwrap();
        total.requests += t.requests;
        total.non_200.extend(t.non_200);
        total.nulls += t.nulls;
        total.stale += t.stale;
        total.slowest = total.slowest.max(t.slowest);
    }
    total
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn four_processes_share_one_answer_and_one_token() {
    const PROCESSES: usize = 4;
    const CLIENTS: usize = 32;
    const RUN: Duration = Duration::from_secs(20);
    const TTL_S: u64 = 2;

    let env = EmulatorEnv::create().await;
    let fake = FakeSpotify::start().await;
    // Signed in by this version: with the player's scope (RESPECT_PRIVATE_SESSION).
    fake.grant_scopes(
        "user-read-currently-playing user-read-recently-played user-read-playback-state",
    );
    fake.set_current(song());
    let fleet = Fleet::start(PROCESSES, &fake, &env, &TTL_S.to_string());

    let started = Instant::now();
    let urls = Arc::new(Mutex::new(fleet.urls.clone()));
    let tasks = run_clients(
        urls,
        Arc::default(),
        CLIENTS,
        Duration::from_millis(100),
        started + RUN,
        Arc::default(),
    );
    // Two forced expiries of every access token during the run.
    let mut expiries = 0;
    for at in [Duration::from_secs(6), Duration::from_secs(13)] {
        tokio::time::sleep_until((started + at).into()).await;
        fake.expire_access_tokens();
        expiries += 1;
    }
    let tally = sum(tasks).await;
    let duration = started.elapsed();

    let stats = fake.stats();
    let floor = duration.as_secs_f64() / TTL_S as f64;
    // One call per window, one more for the window the run starts in, one more at either edge,
    // and one per forced expiry: that window's fetch meets a 401, refreshes and asks again, and
    // on a loaded machine it can outlast its lease so that one other process asks too. Without
    // the shared answer it would be about one call per process per window (four times as many).
    let bound = floor + 2.0 + expiries as f64;
    eprintln!(
        "{PROCESSES} processes, {CLIENTS} clients, {:.1} s: {} requests (slowest {:?}, {} null, {} stale); \
         currently-playing {} (bound {:.1}); token refreshes {} (bound {}); invalid_grant {}; 401s {}",
        duration.as_secs_f64(),
        tally.requests,
        tally.slowest,
        tally.nulls,
        tally.stale,
        stats.currently_playing,
        bound,
        stats.token_refreshes,
        expiries + 1,
        stats.invalid_grant,
        stats.unauthorized,
    );
    assert!(tally.non_200.is_empty(), "not 200: {:?}", tally.non_200);
    assert!(
        tally.requests >= (CLIENTS as u64) * 20,
        "{} requests",
        tally.requests
    );
    assert_eq!(tally.nulls, 0, "Spotify was fine all along");
    assert!(
        stats.currently_playing as f64 <= bound,
        "{} currently-playing calls for {:.1} s at a {TTL_S} s window",
        stats.currently_playing,
        duration.as_secs_f64()
    );
    assert!(
        stats.token_refreshes <= expiries + 1,
        "{} refreshes",
        stats.token_refreshes
    );
    assert!(
        stats.token_refreshes >= expiries,
        "the expiries were noticed"
    );
    assert_eq!(stats.invalid_grant, 0);
    assert_eq!(
        env.secret_token().await,
        stats.valid_refresh_token.clone().unwrap(),
        "the secret holds the current refresh token"
    );
    let warns: Vec<String> = fleet
        .stderr()
        .into_iter()
        .filter(|l| l.contains("WARN") || l.contains("ERROR"))
        .collect();
    assert!(warns.is_empty(), "{warns:#?}");
    fleet.assert_no_secret_logged(&fake);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lease_holder_killed_mid_refresh_is_taken_over() {
    const PROCESSES: usize = 4;
    let env = EmulatorEnv::create().await;
    let fake = FakeSpotify::start().await;
    // Signed in by this version: with the player's scope (RESPECT_PRIVATE_SESSION).
    fake.grant_scopes(
        "user-read-currently-playing user-read-recently-played user-read-playback-state",
    );
    fake.set_current(song());
    let mut fleet = Fleet::start(PROCESSES, &fake, &env, "1");

    // Warm: every process answers, one token is shared.
    let http = reqwest::Client::new();
    for url in &fleet.urls {
        let v: serde_json::Value = http.get(url).send().await.unwrap().json().await.unwrap();
        assert_eq!(v["name"], "Song");
    }
    assert_eq!(fake.stats().token_refreshes, 1);

    let started = Instant::now();
    let urls = Arc::new(Mutex::new(fleet.urls.clone()));
    let killed = Arc::new(Mutex::new(Vec::new()));
    let stop = Arc::new(AtomicBool::new(false));
    let tasks = run_clients(
        urls.clone(),
        killed.clone(),
        8,
        Duration::from_millis(100),
        started + Duration::from_secs(45),
        stop.clone(),
    );

    // Spotify's token endpoint turns slow, and every access token expires: the next fetch
    // takes the token lease and waits on Spotify.
    fake.set_token(TokenBehavior {
        delay_ms: 2_000,
        ..Default::default()
    });
    fake.expire_access_tokens();
    let poll_until = Instant::now() + Duration::from_secs(10);
    let holder = loop {
        if let Some(item) = aws::raw_item(&env.ddb, &env.table, TOKEN_LEASE_KEY).await {
            break aws::attr_s(&item, "owner");
        }
        assert!(Instant::now() < poll_until, "nobody took the token lease");
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    // Its refresh request has reached Spotify (which takes 2 s to answer): kill it now.
    let poll_until = Instant::now() + Duration::from_secs(5);
    while fake.stats().token_calls < 2 {
        assert!(
            Instant::now() < poll_until,
            "the refresh did not reach Spotify"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let pid: u32 = holder
        .split('-')
        .next()
        .unwrap()
        .parse()
        .expect("owner is PID-random");
    let index = fleet
        .children
        .iter()
        .position(|c| c.id() == pid)
        .expect("the lease holder is one of ours");
    let victim = fleet.urls[index].clone();
    killed.lock().unwrap().push(victim.clone());
    urls.lock().unwrap().retain(|u| *u != victim);
    fleet.children[index].kill().unwrap(); // SIGKILL, mid-refresh
    fleet.children[index].wait().unwrap();
    let killed_at = started.elapsed();
    let refreshes_at_kill = fake.stats().token_refreshes;
    fake.set_token(TokenBehavior::default());

    // The others take over once the lease lapses, with the token the dead one never used up.
    let lease_item = aws::raw_item(&env.ddb, &env.table, TOKEN_LEASE_KEY).await;
    eprintln!("killed process {index} (pid {pid}) at {killed_at:?}; lease item now {lease_item:?}");
    // The lease is sized for the worst case of a refresh (docs/architecture.md), so a dead
    // holder blocks refreshes for that long.
    let lease = nowplaying::tokens::REFRESH_LEASE;
    let poll_until = Instant::now() + lease + Duration::from_secs(15);
    let mut recovered_at = None;
    loop {
        if recovered_at.is_none() && fake.stats().token_refreshes > refreshes_at_kill {
            recovered_at = Some(started.elapsed());
        }
        // A fresh answer from a survivor.
        let url = urls.lock().unwrap()[0].clone();
        let v: serde_json::Value = http.get(&url).send().await.unwrap().json().await.unwrap();
        if recovered_at.is_some() && v["name"] == "Song" && v["stale"] == false {
            break;
        }
        assert!(
            Instant::now() < poll_until,
            "no survivor refreshed the token"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let recovered_at = recovered_at.unwrap();
    // A little more traffic on the recovered fleet, then stop.
    tokio::time::sleep(Duration::from_secs(2)).await;
    stop.store(true, Ordering::Relaxed);
    let tally = sum(tasks).await;
    let stats = fake.stats();
    eprintln!(
        "killed at {killed_at:?}, refreshed by a survivor at {recovered_at:?}; {} requests (slowest {:?}, {} null, {} stale); refreshes {}, invalid_grant {}",
        tally.requests, tally.slowest, tally.nulls, tally.stale, stats.token_refreshes, stats.invalid_grant
    );
    assert!(tally.non_200.is_empty(), "not 200: {:?}", tally.non_200);
    assert_eq!(tally.nulls, 0, "the last good answer was served meanwhile");
    // Token lease + one wait (3 s) + the window + slack.
    assert!(
        recovered_at < killed_at + lease + Duration::from_secs(3 + 1 + 3),
        "{recovered_at:?}"
    );
    assert_eq!(stats.invalid_grant, 0, "no refresh token was lost");
    assert_eq!(stats.token_refreshes, 2);
    assert_eq!(
        env.secret_token().await,
        stats.valid_refresh_token.clone().unwrap()
    );
    fleet.assert_no_secret_logged(&fake);
}

/// One process of three reaches DynamoDB through a proxy that answers `500` while the others
/// reach it directly; traffic on all, two forced expiries. The broken process never refreshes
/// (it cannot read the privacy switch, so it does not ask Spotify; and without the lease tokens
/// fail closed anyway) and serves its last good answer or `null`; the
/// others refresh with the newest token; nothing presents a token twice. Once its table is back,
/// it answers fresh again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_process_without_dynamodb_never_refreshes_with_an_old_token() {
    const RUN: Duration = Duration::from_secs(14);
    let env = EmulatorEnv::create().await;
    let fake = FakeSpotify::start().await;
    // Signed in by this version: with the player's scope (RESPECT_PRIVATE_SESSION).
    fake.grant_scopes(
        "user-read-currently-playing user-read-recently-played user-read-playback-state",
    );
    fake.set_current(song());
    let proxy = aws::FaultProxy::start(&aws_endpoint()).await;
    let broken_url = proxy.url.clone();
    let fleet = Fleet::start_with(3, &fake, &env, "1", |i| {
        if i == 2 {
            vec![("AWS_ENDPOINT_URL_DYNAMODB", broken_url.clone())]
        } else {
            vec![]
        }
    });
    // Warm: every process answers after a window has passed, so each one reads Spotify once
    // with the shared access token (the broken one too, before its table breaks).
    let http = reqwest::Client::new();
    for url in &fleet.urls {
        tokio::time::sleep(Duration::from_millis(1_100)).await;
        let v: serde_json::Value = http.get(url).send().await.unwrap().json().await.unwrap();
        assert_eq!(v["name"], "Song");
    }
    assert_eq!(fake.stats().token_refreshes, 1);
    proxy.set(aws::Mode::Error500);

    let started = Instant::now();
    let tasks = run_clients(
        Arc::new(Mutex::new(fleet.urls.clone())),
        Arc::default(),
        6,
        Duration::from_millis(100),
        started + RUN,
        Arc::default(),
    );
    for at in [Duration::from_secs(3), Duration::from_secs(8)] {
        tokio::time::sleep_until((started + at).into()).await;
        fake.expire_access_tokens();
    }
    let tally = sum(tasks).await;
    // After the expiries the broken process has only its last good answer.
    let v: serde_json::Value = http
        .get(&fleet.urls[2])
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(
        (&v["name"], &v["stale"]),
        (&"Song".into(), &true.into()),
        "{v}"
    );
    let stats = fake.stats();
    eprintln!(
        "{} requests ({} null, {} stale); refreshes {}, invalid_grant {}, reuse {}",
        tally.requests,
        tally.nulls,
        tally.stale,
        stats.token_refreshes,
        stats.invalid_grant,
        stats.reuse_detected
    );
    assert!(tally.non_200.is_empty(), "not 200: {:?}", tally.non_200);
    assert_eq!(stats.invalid_grant, 0, "no old token presented");
    assert_eq!(stats.reuse_detected, 0, "no token presented twice");
    assert!(
        (2..=3).contains(&stats.token_refreshes),
        "the healthy processes refreshed once per expiry: {}",
        stats.token_refreshes
    );
    assert!(
        tally.stale > 0,
        "the broken process served its last good answer: {:#?}",
        fleet
            .stderr()
            .iter()
            .filter(|l| l.starts_with("[2]"))
            .collect::<Vec<_>>()
    );
    assert_eq!(
        env.secret_token().await,
        stats.valid_refresh_token.clone().unwrap(),
        "the secret holds the newest refresh token"
    );
    // It cannot read the privacy switch either, so it does not even ask Spotify (which is why
    // it never needs a refresh), and says so.
    let said = fleet.stderr().iter().any(|l| {
        l.starts_with("[2]") && l.contains("privacy switch cannot be read from the table")
    });
    assert!(said, "the broken process says why it does not ask Spotify");

    // Its table is back: within a few seconds it answers fresh, with the shared token.
    proxy.pass();
    let until = Instant::now() + Duration::from_secs(20);
    loop {
        let v: serde_json::Value = http
            .get(&fleet.urls[2])
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        if v["name"] == "Song" && v["stale"] == false {
            break;
        }
        assert!(Instant::now() < until, "the broken process recovers: {v}");
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    assert_eq!(fake.stats().invalid_grant, 0);
    assert_eq!(fake.stats().reuse_detected, 0);
    fleet.assert_no_secret_logged(&fake);
}
