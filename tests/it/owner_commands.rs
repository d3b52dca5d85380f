//! The owner's commands, run as the real binary against the fake Spotify (in this process) and the
//! AWS emulator: `authorize` (the whole browser round trip, and each way it must fail cleanly),
//! `disconnect` (a running `serve` stops within one cache window), `status` (exit codes), `hide` / `show`.

use crate::support;

use std::collections::HashMap;
use std::path::PathBuf;
use std::process::Stdio;
use std::time::Duration;

use aws_sdk_dynamodb::types::AttributeValue;
use serde_json::Value;
use support::fake_spotify::{CLIENT_ID, CLIENT_SECRET, FIRST_REFRESH_TOKEN};
use support::*;
use tokio::io::{AsyncBufReadExt, AsyncReadExt, BufReader};
use tokio::process::{Child, ChildStdout, Command};

const BIN: &str = env!("CARGO_BIN_EXE_nowplaying");

/// Variables of the developer's shell that must not leak into the commands under test.
const SCRUB: &[&str] = &[
    "TOKEN_SECRET_ID",
    "CACHE_TABLE",
    "CACHE_TTL_SECONDS",
    "NOWPLAYING_CREDENTIALS",
    "ALLOWED_ORIGINS",
    "SHOW_RECENT",
    "PROFILE_ENDPOINTS",
    "SPOTIFY_CLIENT_ID",
    "SPOTIFY_CLIENT_SECRET",
    "SPOTIFY_API_BASE_URL",
    "SPOTIFY_ACCOUNTS_BASE_URL",
    "XDG_CONFIG_HOME",
    "AWS_LAMBDA_LOG_FORMAT",
    "SOURCE",
    "LASTFM_USER",
    "LASTFM_API_KEY",
    "LASTFM_API_BASE_URL",
    "RECENT_TTL_SECONDS",
    "TOP_TTL_SECONDS",
    "SAVED_TTL_SECONDS",
];

/// One owner's machine: a home folder, a credentials path, and the environment of the commands.
struct Owner {
    _dir: tempfile::TempDir,
    creds: PathBuf,
    vars: Vec<(String, String)>,
}

impl Owner {
    fn new(fake: &FakeSpotify, extra: &[(&str, &str)]) -> Owner {
        let dir = tempfile::tempdir().unwrap();
        let creds = dir.path().join("config").join("credentials.json");
        Owner::at(fake, dir, creds, extra)
    }

    fn at(
        fake: &FakeSpotify,
        dir: tempfile::TempDir,
        creds: PathBuf,
        extra: &[(&str, &str)],
    ) -> Owner {
        let mut vars: Vec<(String, String)> = vec![
            ("HOME".into(), dir.path().to_string_lossy().into_owned()),
            (
                "NOWPLAYING_CREDENTIALS".into(),
                creds.to_string_lossy().into_owned(),
            ),
            ("SPOTIFY_API_BASE_URL".into(), fake.base.clone()),
            ("SPOTIFY_ACCOUNTS_BASE_URL".into(), fake.base.clone()),
            ("SPOTIFY_CLIENT_ID".into(), CLIENT_ID.into()),
            ("SPOTIFY_CLIENT_SECRET".into(), CLIENT_SECRET.into()),
            ("RUST_LOG".into(), "warn".into()),
        ];
        vars.extend(extra.iter().map(|(k, v)| (k.to_string(), v.to_string())));
        Owner {
            _dir: dir,
            creds,
            vars,
        }
    }

    fn command(&self, args: &[&str]) -> Command {
        let mut c = Command::new(BIN);
        for v in SCRUB {
            c.env_remove(v);
        }
        c.envs(self.vars.iter().map(|(k, v)| (k.as_str(), v.as_str())))
            .args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true);
        c
    }

    /// Runs a command to its end: (exit code, stdout, stderr).
    async fn run(&self, args: &[&str]) -> (i32, String, String) {
        let out = tokio::time::timeout(Duration::from_secs(60), self.command(args).output())
            .await
            .expect("command finished within 60 s")
            .unwrap();
        (
            out.status.code().unwrap_or(-1),
            String::from_utf8_lossy(&out.stdout).into_owned(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    }

    fn stored(&self) -> Option<Value> {
        std::fs::read_to_string(&self.creds)
            .ok()
            .map(|t| serde_json::from_str(&t).unwrap())
    }

    /// Writes the credentials file as the owner keeps it (mode 0600).
    fn write_credentials(&self, doc: Value) {
        use std::os::unix::fs::PermissionsExt;
        std::fs::create_dir_all(self.creds.parent().unwrap()).unwrap();
        std::fs::write(&self.creds, doc.to_string()).unwrap();
        std::fs::set_permissions(&self.creds, std::fs::Permissions::from_mode(0o600)).unwrap();
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn credentials_doc(refresh_token: Option<&str>, authorized_at: &str) -> Value {
    let mut doc = serde_json::json!({
        "client_id": CLIENT_ID,
        "client_secret": CLIENT_SECRET,
        "authorized_at": authorized_at,
        "scope": "user-read-currently-playing user-read-recently-played",
        "note": "kept as it is",
    });
    if let Some(t) = refresh_token {
        doc["refresh_token"] = Value::from(t);
    }
    doc
}

fn rfc3339_days_ago(days: u64) -> String {
    let t = time::OffsetDateTime::now_utc() - time::Duration::days(days as i64);
    t.replace_nanosecond(0)
        .unwrap()
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap()
}

/// A running `authorize`, with the authorization URL it printed.
struct Authorize {
    child: Child,
    stdout: tokio::io::Lines<BufReader<ChildStdout>>,
    seen: Vec<String>,
    url: String,
}

impl Authorize {
    async fn start(owner: &Owner, fake: &FakeSpotify, extra_args: &[&str]) -> Authorize {
        let port = free_port().to_string();
        let mut args = vec!["authorize", "--no-browser", "--port", &port];
        args.extend_from_slice(extra_args);
        let mut child = owner.command(&args).spawn().unwrap();
        let mut stdout = BufReader::new(child.stdout.take().unwrap()).lines();
        let mut seen = Vec::new();
        let prefix = format!("{}/authorize?", fake.base);
        let url = tokio::time::timeout(Duration::from_secs(30), async {
            while let Some(line) = stdout.next_line().await.unwrap() {
                seen.push(line.clone());
                if line.starts_with(&prefix) {
                    return line;
                }
            }
            let mut err = String::new();
            child
                .stderr
                .take()
                .unwrap()
                .read_to_string(&mut err)
                .await
                .unwrap();
            panic!("authorize printed no URL; stdout {seen:?}, stderr {err}");
        })
        .await
        .expect("the authorization URL within 30 s");
        Authorize {
            child,
            stdout,
            seen,
            url,
        }
    }

    /// The query of the authorization URL.
    fn query(&self) -> HashMap<String, String> {
        url::Url::parse(&self.url)
            .unwrap()
            .query_pairs()
            .into_owned()
            .collect()
    }

    /// Plays the browser: Spotify's page answers with a redirect; `tamper` may change its target.
    /// Returns the page the callback answered with.
    async fn browse(&self, tamper: impl Fn(String) -> String) -> String {
        let browser = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .unwrap();
        let r = browser.get(&self.url).send().await.unwrap();
        assert_eq!(r.status(), 303, "Spotify's page redirects back");
        let location = r.headers()[reqwest::header::LOCATION]
            .to_str()
            .unwrap()
            .to_string();
        assert!(location.starts_with("http://127.0.0.1:"), "{location}");
        let page = browser.get(tamper(location)).send().await.unwrap();
        page.text().await.unwrap()
    }

    /// Waits for the end: (exit code, all stdout, stderr).
    async fn finish(mut self) -> (i32, String, String) {
        let status = tokio::time::timeout(Duration::from_secs(30), self.child.wait())
            .await
            .expect("authorize ended within 30 s")
            .unwrap();
        while let Some(line) = self.stdout.next_line().await.unwrap() {
            self.seen.push(line);
        }
        let mut err = String::new();
        self.child
            .stderr
            .take()
            .unwrap()
            .read_to_string(&mut err)
            .await
            .unwrap();
        (status.code().unwrap_or(-1), self.seen.join("\n"), err)
    }
}

/// A failed command: non-zero, exactly one line on stderr, no secret anywhere.
fn assert_one_clear_line(code: i32, out: &str, err: &str, must_contain: &str) {
    assert_ne!(code, 0, "stdout: {out}\nstderr: {err}");
    let lines: Vec<&str> = err.lines().collect();
    assert_eq!(lines.len(), 1, "one line on stderr: {err:?}");
    assert!(lines[0].starts_with("nowplaying: "), "{err}");
    assert!(
        lines[0].to_lowercase().contains(must_contain),
        "{must_contain:?} in {err}"
    );
    assert_no_secrets(out, err);
}

fn assert_no_secrets(out: &str, err: &str) {
    for s in [CLIENT_SECRET, "refresh-token-", "access-"] {
        assert!(!out.contains(s), "{s} printed on stdout: {out}");
        assert!(!err.contains(s), "{s} printed on stderr: {err}");
    }
}

// --- AWS emulator -----------------------------------------------------------------------------

async fn aws() -> aws_config::SdkConfig {
    support::aws::sdk_config().await
}

async fn create_table(aws: &aws_config::SdkConfig) -> (aws_sdk_dynamodb::Client, String) {
    let ddb = aws_sdk_dynamodb::Client::new(aws);
    let table = support::aws::create_table(&ddb).await;
    (ddb, table)
}

async fn put_item(ddb: &aws_sdk_dynamodb::Client, table: &str, pk: &str, v: &str) {
    ddb.put_item()
        .table_name(table)
        .item("pk", AttributeValue::S(pk.into()))
        .item("v", AttributeValue::S(v.into()))
        .item("exp", AttributeValue::N("99999999999999".into()))
        .item("ttl", AttributeValue::N("9999999999".into()))
        .send()
        .await
        .unwrap();
}

/// The value (`v`) of an item; `None` when there is no item, or only the marks the owner's
/// commands leave on an answer's item (no value).
async fn get_item(ddb: &aws_sdk_dynamodb::Client, table: &str, pk: &str) -> Option<String> {
    get_attr(ddb, table, pk, "v").await
}

async fn get_attr(
    ddb: &aws_sdk_dynamodb::Client,
    table: &str,
    pk: &str,
    name: &str,
) -> Option<String> {
    ddb.get_item()
        .table_name(table)
        .key("pk", AttributeValue::S(pk.into()))
        .consistent_read(true)
        .send()
        .await
        .unwrap()
        .item
        .and_then(|i| i.get(name).and_then(|v| v.as_s().ok()).cloned())
}

async fn create_secret(
    aws: &aws_config::SdkConfig,
    doc: &Value,
) -> (aws_sdk_secretsmanager::Client, String) {
    let sm = aws_sdk_secretsmanager::Client::new(aws);
    let name = support::aws::create_secret_raw(&sm, &doc.to_string()).await;
    (sm, name)
}

async fn read_secret(sm: &aws_sdk_secretsmanager::Client, name: &str) -> Value {
    support::aws::secret_json(sm, name).await
}

// --- serve as a process -----------------------------------------------------------------------

struct Served {
    _child: Child,
    url: String,
}

async fn serve(owner: &Owner) -> Served {
    let port = free_port();
    let addr = format!("127.0.0.1:{port}");
    let child = owner.command(&["serve", "--addr", &addr]).spawn().unwrap();
    let url = format!("http://{addr}/api/spotify");
    let http = reqwest::Client::new();
    for _ in 0..300 {
        if http.get(&url).send().await.is_ok() {
            return Served { _child: child, url };
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("serve did not start on {addr}");
}

async fn answer(url: &str) -> Value {
    let r = reqwest::get(url).await.unwrap();
    assert_eq!(r.status(), 200);
    r.json().await.unwrap()
}

/// Polls until the answer is `null`, for at most `within`.
async fn null_within(url: &str, within: Duration) -> bool {
    let deadline = tokio::time::Instant::now() + within;
    loop {
        if answer(url).await.is_null() {
            return true;
        }
        if tokio::time::Instant::now() >= deadline {
            return false;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

// --- authorize ------------------------------------------------------------------------------

/// `PROFILE_ENDPOINTS=playlists` makes the sign-in ask for the playlists scope; without it the
/// scope is not asked for.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn authorize_asks_for_the_playlists_scope_only_when_playlists_are_on() {
    let fake = FakeSpotify::start().await;
    let on = Owner::new(&fake, &[("PROFILE_ENDPOINTS", "playlists")]);
    let scope = Authorize::start(&on, &fake, &[]).await.query()["scope"].clone();
    assert!(
        scope.split(' ').any(|s| s == "playlist-read-private"),
        "{scope}"
    );
    let off = Owner::new(&fake, &[("PROFILE_ENDPOINTS", "top,saved")]);
    let scope = Authorize::start(&off, &fake, &[]).await.query()["scope"].clone();
    assert!(!scope.contains("playlist-read-private"), "{scope}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn authorize_stores_the_credentials_in_the_file() {
    let fake = FakeSpotify::start().await;
    fake.set_current(song());
    let owner = Owner::new(&fake, &[("PROFILE_ENDPOINTS", "top")]);
    // An earlier sign-in with a field of the owner's own: replaced, the field kept.
    owner.write_credentials(credentials_doc(Some("old-refresh"), "2026-01-01T00:00:00Z"));

    let auth = Authorize::start(&owner, &fake, &[]).await;
    let q = auth.query();
    let port = q["redirect_uri"]
        .strip_prefix("http://127.0.0.1:")
        .and_then(|r| r.strip_suffix("/callback"))
        .expect("a loopback redirect URI on 127.0.0.1");
    assert!(port.parse::<u16>().is_ok());
    assert!(
        auth.seen
            .iter()
            .any(|l| l.contains(&q["redirect_uri"]) && l.contains("Redirect URI")),
        "the redirect URI to register is printed: {:?}",
        auth.seen
    );
    assert_eq!(
        q["scope"],
        "user-read-currently-playing user-read-recently-played user-top-read user-read-playback-state"
    );
    assert_eq!(q["code_challenge_method"], "S256");
    assert_eq!(q["client_id"], CLIENT_ID);
    assert!(q["state"].len() >= 16);

    let page = auth.browse(|l| l).await;
    assert!(page.contains("connected"), "{page}");
    let (code, out, err) = auth.finish().await;
    assert_eq!(code, 0, "stdout: {out}\nstderr: {err}");
    assert_no_secrets(&out, &err);
    assert!(
        out.contains("Song"),
        "the currently-playing check is reported: {out}"
    );
    assert!(out.contains(&owner.creds.display().to_string()), "{out}");

    let stored = owner.stored().unwrap();
    let stats = fake.stats();
    assert_eq!(stats.code_exchanges, 1);
    assert_eq!(stored["client_id"], CLIENT_ID);
    assert_eq!(stored["client_secret"], CLIENT_SECRET);
    assert_eq!(
        stored["refresh_token"].as_str(),
        stats.valid_refresh_token.as_deref()
    );
    assert!(stored["scope"].as_str().unwrap().contains("user-top-read"));
    assert_eq!(stored["note"], "kept as it is");
    assert!(stored.get("access_token").is_none());
    let at = time::OffsetDateTime::parse(
        stored["authorized_at"].as_str().unwrap(),
        &time::format_description::well_known::Rfc3339,
    )
    .unwrap();
    assert!((time::OffsetDateTime::now_utc() - at).whole_seconds().abs() < 120);
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&owner.creds)
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn authorize_prints_a_hostile_title_without_its_escape_sequences() {
    let fake = FakeSpotify::start().await;
    // A local file's tags can say anything: OSC 52 (write the clipboard), a colour, a C1 CSI, a
    // bidirectional override.
    let mut track = bodies::track("t1", "Song\u{1b}]52;c;cm0gLXJmIH4=\u{7}\u{1b}[31mRed");
    track["artists"][0]["name"] = "Art\u{9b}2Jist\u{202e}one".into();
    fake.set_current(Scripted::json(bodies::playing(track, true, 1000)));
    let owner = Owner::new(&fake, &[]);
    let auth = Authorize::start(&owner, &fake, &[]).await;
    let page = auth.browse(|l| l).await;
    assert!(page.contains("connected"), "{page}");
    let (code, out, err) = auth.finish().await;
    assert_eq!(code, 0, "stdout: {out}\nstderr: {err}");
    let checked = out
        .lines()
        .find(|l| l.starts_with("Checked with Spotify"))
        .unwrap_or_else(|| panic!("no check line: {out}"));
    assert!(
        checked.contains("Song]52;c;cm0gLXJmIH4=[31mRed") && checked.contains("Art2Jistone"),
        "the printable rest is shown: {checked:?}"
    );
    for c in out.chars().chain(err.chars()) {
        assert!(
            c == '\n' || !(c.is_control() || ('\u{202a}'..='\u{202e}').contains(&c)),
            "{c:?} reached the terminal: {out:?}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn status_prints_a_hostile_title_without_its_escape_sequences() {
    let fake = FakeSpotify::start().await;
    let mut track = bodies::track("t1", "Song\u{1b}]52;c;cm0gLXJmIH4=\u{7}\u{1b}[2J");
    track["artists"][0]["name"] = "Art\u{9b}31mist\u{2066}".into();
    fake.set_current(Scripted::json(bodies::playing(track, true, 1000)));
    let owner = Owner::new(&fake, &[]);
    owner.write_credentials(credentials_doc(
        Some(FIRST_REFRESH_TOKEN),
        &rfc3339_days_ago(1),
    ));
    let (code, out, err) = owner.run(&["status"]).await;
    assert_eq!(code, 0, "stdout: {out}\nstderr: {err}");
    let live = out
        .lines()
        .find(|l| l.starts_with("Spotify:"))
        .unwrap_or_else(|| panic!("no live check line: {out}"));
    assert!(
        live.contains("Song]52;c;cm0gLXJmIH4=[2J") && live.contains("Art31mist"),
        "{live:?}"
    );
    for c in out.chars() {
        assert!(
            c == '\n' || !(c.is_control() || ('\u{2066}'..='\u{2069}').contains(&c)),
            "{c:?} reached the terminal: {out:?}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_credentials_file_readable_by_others_is_warned_about_and_new_folders_are_private() {
    use std::os::unix::fs::PermissionsExt;
    let fake = FakeSpotify::start().await;
    fake.set_current(song());
    let owner = Owner::new(&fake, &[]);
    // The first sign-in creates the folder: only the owner may list it.
    let auth = Authorize::start(&owner, &fake, &[]).await;
    auth.browse(|l| l).await;
    let (code, out, err) = auth.finish().await;
    assert_eq!(code, 0, "stdout: {out}\nstderr: {err}");
    let mode = |p: &std::path::Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode(owner.creds.parent().unwrap()), 0o700);
    assert_eq!(mode(&owner.creds), 0o600);
    let (code, _, err) = owner.run(&["status"]).await;
    assert_eq!(code, 0, "{err}");
    assert!(!err.contains("readable by"), "no warning at 0600: {err}");

    // Copied with `cp` under a 022 umask, say: every command says so, and how to fix it.
    for args in [
        &["status"][..],
        &["authorize", "--timeout", "1", "--no-browser"],
    ] {
        // Again before each command: a command that rewrites the file (status persisting a
        // rotated token) writes it 0600.
        std::fs::set_permissions(&owner.creds, std::fs::Permissions::from_mode(0o644)).unwrap();
        let (_, _, err) = owner.run(args).await;
        let warning: Vec<&str> = err.lines().filter(|l| l.contains("readable by")).collect();
        assert_eq!(warning.len(), 1, "{args:?}: {err}");
        assert!(
            warning[0].contains("others")
                && warning[0].contains("0644")
                && warning[0].contains(&format!("chmod 600 {}", owner.creds.display())),
            "{}",
            warning[0]
        );
    }
    std::fs::set_permissions(&owner.creds, std::fs::Permissions::from_mode(0o640)).unwrap();
    let (_, _, err) = owner.run(&["status"]).await;
    assert!(err.contains("readable by its group"), "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn authorize_stores_the_credentials_in_the_secret_and_clears_the_table() {
    let aws = aws().await;
    let (ddb, table) = create_table(&aws).await;
    let (sm, secret) = create_secret(
        &aws,
        &credentials_doc(Some("old-refresh"), "2026-01-01T00:00:00Z"),
    )
    .await;
    for key in ["token", "pending-refresh-token", "answer:now"] {
        put_item(&ddb, &table, key, "something cached").await;
    }
    put_item(&ddb, &table, "hidden", "true").await;

    let fake = FakeSpotify::start().await;
    let owner = Owner::new(
        &fake,
        &[("TOKEN_SECRET_ID", &secret), ("CACHE_TABLE", &table)],
    );
    let auth = Authorize::start(&owner, &fake, &[]).await;
    auth.browse(|l| l).await;
    let (code, out, err) = auth.finish().await;
    assert_eq!(code, 0, "stdout: {out}\nstderr: {err}");
    assert_no_secrets(&out, &err);
    assert!(out.contains(&secret), "{out}");
    assert!(
        out.to_lowercase().contains("hidden"),
        "the privacy switch is mentioned: {out}"
    );

    let stored = read_secret(&sm, &secret).await;
    assert_eq!(
        stored["refresh_token"].as_str(),
        fake.stats().valid_refresh_token.as_deref()
    );
    assert_eq!(stored["client_secret"], CLIENT_SECRET);
    assert_eq!(stored["note"], "kept as it is");
    assert!(owner.stored().is_none(), "no local file with a secret set");
    for key in ["token", "pending-refresh-token", "answer:now"] {
        assert_eq!(get_item(&ddb, &table, key).await, None, "{key} cleared");
    }
    let generation = get_item(&ddb, &table, "auth-generation").await;
    assert!(generation.is_some());
    assert_eq!(
        get_attr(&ddb, &table, "answer:now", "gen").await,
        generation,
        "the answer's item is marked with the new sign-in"
    );
    assert_eq!(
        get_item(&ddb, &table, "hidden").await.as_deref(),
        Some("true"),
        "the privacy switch stays as it was"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn authorize_denied_stores_nothing() {
    let fake = FakeSpotify::start().await;
    fake.deny_authorization(true);
    let owner = Owner::new(&fake, &[]);
    let auth = Authorize::start(&owner, &fake, &[]).await;
    let page = auth.browse(|l| l).await;
    assert!(page.contains("Not connected"), "{page}");
    let (code, out, err) = auth.finish().await;
    assert_one_clear_line(code, &out, &err, "access_denied");
    assert!(owner.stored().is_none());
    assert_eq!(fake.stats().token_calls, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn authorize_with_a_wrong_state_stores_nothing() {
    let fake = FakeSpotify::start().await;
    let owner = Owner::new(&fake, &[]);
    // A stray callback does not end the sign-in: it waits for the real one until
    // its time-out.
    let auth = Authorize::start(&owner, &fake, &["--timeout", "3"]).await;
    let state = auth.query()["state"].clone();
    let page = auth
        .browse(|l| l.replace(&format!("state={state}"), "state=forged"))
        .await;
    assert!(
        page.contains("Not connected") && page.contains("state"),
        "{page}"
    );
    let (code, out, err) = auth.finish().await;
    assert_one_clear_line(code, &out, &err, "timed out");
    assert!(owner.stored().is_none());
    assert_eq!(fake.stats().code_exchanges, 0, "the code is not exchanged");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn authorize_with_a_wrong_secret_stores_nothing() {
    let fake = FakeSpotify::start().await;
    let owner = Owner::new(
        &fake,
        &[("SPOTIFY_CLIENT_SECRET", "wrong-secret-do-not-print")],
    );
    let auth = Authorize::start(&owner, &fake, &[]).await;
    auth.browse(|l| l).await;
    let (code, out, err) = auth.finish().await;
    assert_one_clear_line(code, &out, &err, "invalid_client");
    assert!(
        !out.contains("wrong-secret-do-not-print") && !err.contains("wrong-secret-do-not-print")
    );
    assert!(owner.stored().is_none());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn authorize_on_a_busy_port_stores_nothing() {
    let fake = FakeSpotify::start().await;
    let owner = Owner::new(&fake, &[]);
    let busy = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = busy.local_addr().unwrap().port().to_string();
    let (code, out, err) = owner
        .run(&["authorize", "--no-browser", "--port", &port])
        .await;
    assert_one_clear_line(code, &out, &err, "in use");
    assert!(err.contains(&port));
    assert!(owner.stored().is_none());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn authorize_times_out_and_stores_nothing() {
    let fake = FakeSpotify::start().await;
    let owner = Owner::new(&fake, &[]);
    let port = free_port().to_string();
    let (code, out, err) = owner
        .run(&[
            "authorize",
            "--no-browser",
            "--port",
            &port,
            "--timeout",
            "1",
        ])
        .await;
    assert_one_clear_line(code, &out, &err, "timed out");
    assert!(owner.stored().is_none());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn authorize_reads_the_secret_from_stdin_and_the_id_from_a_flag() {
    let fake = FakeSpotify::start().await;
    let owner = Owner::new(&fake, &[]);
    let port = free_port().to_string();
    let mut cmd = owner.command(&[
        "authorize",
        "--no-browser",
        "--port",
        &port,
        "--client-id",
        CLIENT_ID,
        "--client-secret-stdin",
    ]);
    cmd.env_remove("SPOTIFY_CLIENT_ID")
        .env_remove("SPOTIFY_CLIENT_SECRET")
        .env("SPOTIFY_CLIENT_ID", "")
        .env("SPOTIFY_CLIENT_SECRET", "")
        .stdin(Stdio::piped());
    let mut child = cmd.spawn().unwrap();
    {
        use tokio::io::AsyncWriteExt;
        let mut stdin = child.stdin.take().unwrap();
        stdin
            .write_all(format!("{CLIENT_SECRET}\n").as_bytes())
            .await
            .unwrap();
    }
    let mut stdout = BufReader::new(child.stdout.take().unwrap()).lines();
    let prefix = format!("{}/authorize?", fake.base);
    let mut seen = Vec::new();
    let url = loop {
        let line = stdout.next_line().await.unwrap().expect("a URL");
        seen.push(line.clone());
        if line.starts_with(&prefix) {
            break line;
        }
    };
    let auth = Authorize {
        child,
        stdout,
        seen,
        url,
    };
    auth.browse(|l| l).await;
    let (code, out, err) = auth.finish().await;
    assert_eq!(code, 0, "stdout: {out}\nstderr: {err}");
    assert_no_secrets(&out, &err);
    assert_eq!(owner.stored().unwrap()["client_secret"], CLIENT_SECRET);
}

// --- disconnect -----------------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn disconnect_stops_a_running_serve_with_a_local_file() {
    let fake = FakeSpotify::start().await;
    fake.set_current(song());
    let owner = Owner::new(&fake, &[("CACHE_TTL_SECONDS", "1")]);
    owner.write_credentials(credentials_doc(
        Some(FIRST_REFRESH_TOKEN),
        &rfc3339_days_ago(1),
    ));
    let served = serve(&owner).await;
    assert_eq!(answer(&served.url).await["name"], "Song");
    let refreshes = fake.stats().token_refreshes;

    let (code, out, err) = owner.run(&["disconnect"]).await;
    assert_eq!(code, 0, "stdout: {out}\nstderr: {err}");
    assert_no_secrets(&out, &err);
    assert!(
        out.contains("https://www.spotify.com/account/apps/"),
        "{out}"
    );
    let stored = owner.stored().unwrap();
    assert!(stored.get("refresh_token").is_none(), "{stored}");
    assert_eq!(stored["client_id"], CLIENT_ID);
    assert_eq!(stored["client_secret"], CLIENT_SECRET);
    assert_eq!(stored["note"], "kept as it is");

    // Its access token is still valid at Spotify for an hour: the process must drop it anyway.
    assert!(
        null_within(&served.url, Duration::from_secs(5)).await,
        "serve answers null after disconnect"
    );
    tokio::time::sleep(Duration::from_millis(1_200)).await;
    assert!(answer(&served.url).await.is_null());
    assert_eq!(
        fake.stats().token_refreshes,
        refreshes,
        "the removed refresh token is never used again"
    );
    assert!(owner.stored().unwrap().get("refresh_token").is_none());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn disconnect_with_a_secret_and_a_table_answers_null_within_one_cache_window() {
    let aws = aws().await;
    let (ddb, table) = create_table(&aws).await;
    let (sm, secret) = create_secret(
        &aws,
        &credentials_doc(Some(FIRST_REFRESH_TOKEN), &rfc3339_days_ago(1)),
    )
    .await;
    let fake = FakeSpotify::start().await;
    fake.set_current(song());
    // A running process answers from memory for at most one cache window: then it
    // reads the table again and notices.
    let owner = Owner::new(
        &fake,
        &[
            ("TOKEN_SECRET_ID", &secret),
            ("CACHE_TABLE", &table),
            ("CACHE_TTL_SECONDS", "2"),
        ],
    );
    let served = serve(&owner).await;
    assert_eq!(answer(&served.url).await["name"], "Song");
    assert!(get_item(&ddb, &table, "token").await.is_some());

    let (code, out, err) = owner.run(&["disconnect"]).await;
    assert_eq!(code, 0, "stdout: {out}\nstderr: {err}");
    assert_no_secrets(&out, &err);
    assert!(read_secret(&sm, &secret)
        .await
        .get("refresh_token")
        .is_none());
    for key in ["token", "answer:now"] {
        assert_eq!(get_item(&ddb, &table, key).await, None, "{key} deleted");
    }
    let refreshes = fake.stats().token_refreshes;
    assert!(
        null_within(&served.url, Duration::from_millis(2_000 + 1_000)).await,
        "null within one cache window"
    );
    assert_eq!(fake.stats().token_refreshes, refreshes);
    assert!(read_secret(&sm, &secret)
        .await
        .get("refresh_token")
        .is_none());
}

// --- status ---------------------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn status_is_zero_when_authorized_and_fresh_and_persists_the_rotation() {
    let fake = FakeSpotify::start().await;
    fake.set_current(song());
    let owner = Owner::new(&fake, &[]);
    owner.write_credentials(credentials_doc(
        Some(FIRST_REFRESH_TOKEN),
        &rfc3339_days_ago(1),
    ));
    let (code, out, err) = owner.run(&["status"]).await;
    assert_eq!(code, 0, "stdout: {out}\nstderr: {err}");
    assert_no_secrets(&out, &err);
    assert!(out.contains("Song"), "{out}");
    assert!(out.contains("days left"), "{out}");
    let stats = fake.stats();
    assert_eq!(stats.token_refreshes, 1);
    assert_eq!(
        owner.stored().unwrap()["refresh_token"].as_str(),
        stats.valid_refresh_token.as_deref(),
        "the rotated refresh token is persisted"
    );
    // And again, with the rotated one.
    let (code, _, err) = owner.run(&["status"]).await;
    assert_eq!(code, 0, "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn status_is_one_without_credentials() {
    let fake = FakeSpotify::start().await;
    let owner = Owner::new(&fake, &[]);
    let (code, out, err) = owner.run(&["status"]).await;
    assert_eq!(code, 1, "stdout: {out}\nstderr: {err}");
    assert!(err.contains("nowplaying authorize"), "{err}");
    assert_eq!(err.lines().count(), 1, "{err}");
    assert_eq!(fake.stats().token_calls, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn status_is_one_when_the_six_month_limit_is_near() {
    let fake = FakeSpotify::start().await;
    let owner = Owner::new(&fake, &[]);
    owner.write_credentials(credentials_doc(
        Some(FIRST_REFRESH_TOKEN),
        &rfc3339_days_ago(170),
    ));
    let (code, out, err) = owner.run(&["status"]).await;
    assert_eq!(code, 1, "stdout: {out}\nstderr: {err}");
    assert!(out.contains("WARNING"), "{out}");
    assert!(err.contains("six-month"), "{err}");
    assert_no_secrets(&out, &err);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn status_is_one_on_invalid_grant() {
    let fake = FakeSpotify::start().await;
    fake.set_refresh_token(Some("a-token-from-another-sign-in"));
    let owner = Owner::new(&fake, &[]);
    owner.write_credentials(credentials_doc(
        Some(FIRST_REFRESH_TOKEN),
        &rfc3339_days_ago(1),
    ));
    let (code, out, err) = owner.run(&["status"]).await;
    assert_eq!(code, 1, "stdout: {out}\nstderr: {err}");
    assert!(err.contains("invalid_grant"), "{err}");
    assert_no_secrets(&out, &err);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn status_is_one_when_a_configured_endpoint_lacks_its_scope() {
    let fake = FakeSpotify::start().await;
    let owner = Owner::new(&fake, &[("PROFILE_ENDPOINTS", "saved")]);
    owner.write_credentials(credentials_doc(
        Some(FIRST_REFRESH_TOKEN),
        &rfc3339_days_ago(1),
    ));
    let (code, out, err) = owner.run(&["status"]).await;
    assert_eq!(code, 1, "stdout: {out}\nstderr: {err}");
    assert!(err.contains("user-library-read"), "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn status_is_one_when_the_top_lists_lack_user_top_read() {
    let fake = FakeSpotify::start().await;
    fake.set_current(song());
    let owner = Owner::new(&fake, &[("PROFILE_ENDPOINTS", "top")]);
    // Signed in before the top lists were turned on: the stored scope lacks user-top-read.
    owner.write_credentials(credentials_doc(
        Some(FIRST_REFRESH_TOKEN),
        &rfc3339_days_ago(1),
    ));
    let (code, out, err) = owner.run(&["status"]).await;
    assert_eq!(code, 1, "stdout: {out}\nstderr: {err}");
    let line = out
        .lines()
        .chain(err.lines())
        .find(|l| l.contains("MISSING") && l.contains("user-top-read"))
        .unwrap_or_else(|| panic!("no line naming the missing scope:\n{out}\n{err}"));
    assert!(!line.contains("user-library-read"), "{line}");
    assert!(err.contains("nowplaying authorize"), "{err}");
    assert_no_secrets(&out, &err);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn status_is_one_when_the_table_is_unreachable() {
    let fake = FakeSpotify::start().await;
    let owner = Owner::new(
        &fake,
        &[("CACHE_TABLE", "nowplaying-table-that-does-not-exist")],
    );
    owner.write_credentials(credentials_doc(
        Some(FIRST_REFRESH_TOKEN),
        &rfc3339_days_ago(1),
    ));
    let _ = aws_endpoint();
    let (code, out, err) = owner.run(&["status"]).await;
    assert_eq!(code, 1, "stdout: {out}\nstderr: {err}");
    assert!(err.contains("unreachable"), "{err}");
}

// --- hide / show ----------------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hide_answers_null_without_asking_spotify_and_show_brings_it_back() {
    let app = TestApp::start(&[]).await;
    app.fake.set_current(song());
    assert_eq!(app.now().await["name"], "Song");
    let dir = tempfile::tempdir().unwrap();
    let owner = Owner::at(&app.fake, dir, app.creds_path.clone(), &[]);

    let (code, out, err) = owner.run(&["hide"]).await;
    assert_eq!(code, 0, "stdout: {out}\nstderr: {err}");
    assert!(out.starts_with("Hidden"), "{out}");
    assert!(app.creds_path.with_file_name("hidden").exists());
    app.expire_cache();
    let before = app.fake.stats();
    assert!(app.now().await.is_null());
    let after = app.fake.stats();
    assert_eq!(
        after.currently_playing, before.currently_playing,
        "no Spotify call"
    );
    assert_eq!(after.recently_played, before.recently_played);
    assert_eq!(after.token_calls, before.token_calls);

    let (code, out, err) = owner.run(&["show"]).await;
    assert_eq!(code, 0, "stdout: {out}\nstderr: {err}");
    assert!(out.starts_with("Shown"), "{out}");
    app.expire_cache();
    assert_eq!(app.now().await["name"], "Song");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hide_says_how_long_copies_already_sent_may_be_kept() {
    let app = TestApp::start(&[("PROFILE_ENDPOINTS", "top")]).await;
    app.fake.set_current(song());
    // What the service itself sends: max-age plus stale-while-revalidate, for the answer and
    // for a top list.
    let kept_for = |cc: &str| -> u64 {
        ["max-age=", "stale-while-revalidate="]
            .iter()
            .map(|name| {
                cc.split(',')
                    .find_map(|d| d.trim().strip_prefix(name))
                    .unwrap_or_else(|| panic!("no {name} in {cc}"))
                    .parse::<u64>()
                    .unwrap()
            })
            .sum()
    };
    let now = app.get("/api/spotify").await;
    let now_kept = kept_for(now.headers()["cache-control"].to_str().unwrap());
    let top = app.get("/api/spotify/top/tracks").await;
    let top_kept = kept_for(top.headers()["cache-control"].to_str().unwrap());
    assert!(
        top_kept >= 3600,
        "a top list may be kept for an hour or more: {top_kept}"
    );

    let dir = tempfile::tempdir().unwrap();
    let owner = Owner::at(
        &app.fake,
        dir,
        app.creds_path.clone(),
        &[("PROFILE_ENDPOINTS", "top")],
    );
    let (code, out, err) = owner.run(&["hide"]).await;
    assert_eq!(code, 0, "stdout: {out}\nstderr: {err}");
    let line = out
        .lines()
        .find(|l| l.contains("not recalled"))
        .unwrap_or_else(|| panic!("hide says nothing of copies already sent: {out}"));
    let stated: Vec<u64> = line
        .split_whitespace()
        .filter_map(|w| w.parse().ok())
        .collect();
    assert_eq!(stated, vec![now_kept, top_kept], "{line}");
    let (code, _, _) = owner.run(&["show"]).await;
    assert_eq!(code, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hide_and_show_with_a_table_switch_the_record_and_drop_the_answer() {
    let aws = aws().await;
    let (ddb, table) = create_table(&aws).await;
    let fake = FakeSpotify::start().await;
    fake.set_current(song());
    // A running process answers from memory for at most one cache window.
    let owner = Owner::new(
        &fake,
        &[("CACHE_TABLE", &table), ("CACHE_TTL_SECONDS", "2")],
    );
    owner.write_credentials(credentials_doc(
        Some(FIRST_REFRESH_TOKEN),
        &rfc3339_days_ago(1),
    ));
    let served = serve(&owner).await;
    assert_eq!(answer(&served.url).await["name"], "Song");

    let (code, out, err) = owner.run(&["hide"]).await;
    assert_eq!(code, 0, "stdout: {out}\nstderr: {err}");
    assert_eq!(
        get_item(&ddb, &table, "hidden").await.as_deref(),
        Some("true")
    );
    let before = fake.stats();
    assert!(
        null_within(&served.url, Duration::from_millis(2_000 + 1_000)).await,
        "null within one cache window"
    );
    assert_eq!(fake.stats().currently_playing, before.currently_playing);
    let (_, out, _) = owner.run(&["status"]).await;
    assert!(out.contains("ON"), "{out}");

    let (code, _, err) = owner.run(&["show"]).await;
    assert_eq!(code, 0, "{err}");
    assert_eq!(get_item(&ddb, &table, "hidden").await, None);
    let deadline = tokio::time::Instant::now() + Duration::from_millis(2_000 + 1_000);
    while answer(&served.url).await.is_null() {
        assert!(
            tokio::time::Instant::now() < deadline,
            "back within one cache window"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(answer(&served.url).await["name"], "Song");
}

/// The shared table cannot be written: `disconnect` changes nothing (the secret keeps its
/// refresh token, so running processes cannot be left half-told) and says so with exit 1.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn disconnect_fails_loudly_and_changes_nothing_when_the_table_cannot_be_written() {
    let aws = aws().await;
    let (sm, secret) = create_secret(
        &aws,
        &credentials_doc(Some(FIRST_REFRESH_TOKEN), &rfc3339_days_ago(1)),
    )
    .await;
    let fake = FakeSpotify::start().await;
    let owner = Owner::new(
        &fake,
        &[
            ("TOKEN_SECRET_ID", &secret),
            ("CACHE_TABLE", "nowplaying-table-that-does-not-exist"),
        ],
    );
    let (code, out, err) = owner.run(&["disconnect"]).await;
    assert_eq!(code, 1, "stdout: {out}\nstderr: {err}");
    assert!(err.contains("nothing was changed"), "{err}");
    assert!(
        err.contains("nowplaying-table-that-does-not-exist"),
        "{err}"
    );
    assert_no_secrets(&out, &err);
    assert_eq!(
        read_secret(&sm, &secret).await["refresh_token"],
        FIRST_REFRESH_TOKEN,
        "the secret is untouched"
    );
}

/// Starts an owner signed in a day ago, whose table holds the cooldown document `cooldown`,
/// with Spotify answering `current`.
async fn owner_in_a_cooldown(
    current: Scripted,
    cooldown: &str,
) -> (FakeSpotify, Owner, aws_sdk_dynamodb::Client, String) {
    let aws = aws().await;
    let (ddb, table) = create_table(&aws).await;
    let fake = FakeSpotify::start().await;
    fake.set_current(current);
    let owner = Owner::new(&fake, &[("CACHE_TABLE", &table)]);
    owner.write_credentials(credentials_doc(
        Some(FIRST_REFRESH_TOKEN),
        &rfc3339_days_ago(1),
    ));
    put_item(&ddb, &table, "cooldown", cooldown).await;
    (fake, owner, ddb, table)
}

/// A `QUOTA_EXCEEDED` cooldown in the table: `status` tells it apart from a plain rate limit.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn status_tells_a_quota_exceeded_cooldown_apart() {
    let (_fake, owner, ddb, table) =
        owner_in_a_cooldown(song(), r#"{"reason":"rate_limited","quota_exceeded":true}"#).await;
    let (code, out, err) = owner.run(&["status"]).await;
    assert_eq!(code, 0, "a warning, not an action: {out}\n{err}");
    assert!(out.contains("QUOTA_EXCEEDED"), "{out}");
    assert!(out.contains("warning"), "{out}");
    // Advice that helps since 2025/2026: no "ask for an extension"; the windows, and the
    // account's other development-mode apps sharing the quota.
    assert!(!out.contains("extension"), "{out}");
    for part in [
        "CACHE_TTL_SECONDS",
        "TOP_TTL_SECONDS",
        "other development-mode apps",
        "250k",
    ] {
        assert!(out.contains(part), "{part}: {out}");
    }
    put_item(&ddb, &table, "cooldown", r#"{"reason":"rate_limited"}"#).await;
    let (_, out, _) = owner.run(&["status"]).await;
    assert!(
        out.contains("rate limited (429)") && !out.contains("QUOTA"),
        "{out}"
    );
}

/// A lapsed Premium: Spotify answers `403` naming Premium. `status` exits 1 with one line that
/// says to renew Premium and that the service resumes within hours; never a missing scope.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn status_is_one_when_premium_has_lapsed() {
    let fake = FakeSpotify::start().await;
    fake.set_current(Scripted::status_json(403, bodies::premium_required()));
    let owner = Owner::new(&fake, &[]);
    owner.write_credentials(credentials_doc(
        Some(FIRST_REFRESH_TOKEN),
        &rfc3339_days_ago(1),
    ));
    let (code, out, err) = owner.run(&["status"]).await;
    assert_eq!(code, 1, "stdout: {out}\nstderr: {err}");
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(err.contains("renew Premium"), "{err}");
    assert!(err.contains("resumes by itself within hours"), "{err}");
    assert!(out.contains("PROBLEM") && out.contains("Premium"), "{out}");
    assert!(!out.contains("MISSING"), "{out}");
    assert!(!err.contains("scope"), "{err}");
    assert_no_secrets(&out, &err);
    // Renewed: all good again.
    fake.set_current(song());
    let (code, out, err) = owner.run(&["status"]).await;
    assert_eq!(code, 0, "stdout: {out}\nstderr: {err}");
}

/// A Premium cooldown in the table (the service saw the `403`): `status` says so and exits 1,
/// even before its own check reaches Spotify.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn status_is_one_during_a_premium_cooldown() {
    let (_fake, owner, _, _) = owner_in_a_cooldown(
        Scripted::status_json(403, bodies::premium_required()),
        r#"{"reason":"premium_required","step":3}"#,
    )
    .await;
    let (code, out, err) = owner.run(&["status"]).await;
    assert_eq!(code, 1, "stdout: {out}\nstderr: {err}");
    assert!(out.contains("3 time(s) in a row"), "{out}");
    assert!(err.contains("renew Premium"), "{err}");
    assert_eq!(err.matches("renew Premium").count(), 1, "said once: {err}");
    assert_no_secrets(&out, &err);
}

/// `authorize` while the app's owner has no Premium: one line naming Premium (not User
/// Management or a scope), nothing stored; a plain `403` still points at User Management.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn authorize_tells_a_lapsed_premium_apart() {
    let fake = FakeSpotify::start().await;
    fake.set_current(Scripted::status_json(403, bodies::premium_required()));
    let owner = Owner::new(&fake, &[]);
    let auth = Authorize::start(&owner, &fake, &[]).await;
    auth.browse(|l| l).await;
    let (code, out, err) = auth.finish().await;
    assert_one_clear_line(code, &out, &err, "premium");
    assert!(!err.contains("User Management"), "{err}");
    assert!(owner.stored().is_none());

    fake.set_current(Scripted::status_json(
        403,
        serde_json::json!({"error": {"status": 403, "message": "Forbidden"}}),
    ));
    let auth = Authorize::start(&owner, &fake, &[]).await;
    auth.browse(|l| l).await;
    let (code, out, err) = auth.finish().await;
    assert_one_clear_line(code, &out, &err, "user management");
    assert!(owner.stored().is_none());
}
