//! The owner's commands with Last.fm as a source: `status` checks the key, the user and that the
//! recent listening is public; `serve` needs no Spotify sign-in with `SOURCE=lastfm` but does
//! need the key; `serve --demo --source lastfm` simulates Last.fm.
use crate::support;

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::Stdio;
use std::time::Duration;

use serde_json::{json, Value};
use tokio::process::Command;

use support::fake_lastfm::{self, FakeLastfm, API_KEY, RECENT, USER};
use support::Scripted;

const BIN: &str = env!("CARGO_BIN_EXE_nowplaying");

/// Variables of the developer's shell that must not leak into the commands under test.
const SCRUB: &[&str] = &[
    "TOKEN_SECRET_ID",
    "CACHE_TABLE",
    "NOWPLAYING_CREDENTIALS",
    "SHOW_RECENT",
    "PROFILE_ENDPOINTS",
    "SPOTIFY_API_BASE_URL",
    "SPOTIFY_ACCOUNTS_BASE_URL",
    "SOURCE",
    "LASTFM_USER",
    "LASTFM_API_KEY",
    "LASTFM_API_BASE_URL",
    "AWS_LAMBDA_LOG_FORMAT",
];

fn command(creds: &Path, vars: &[(&str, &str)], args: &[&str]) -> Command {
    let mut c = Command::new(BIN);
    for v in SCRUB {
        c.env_remove(v);
    }
    c.env("NOWPLAYING_CREDENTIALS", creds)
        .env("RUST_LOG", "warn")
        .envs(vars.iter().copied())
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true);
    c
}

async fn run(creds: &Path, vars: &[(&str, &str)], args: &[&str]) -> (i32, String, String) {
    let out = tokio::time::timeout(Duration::from_secs(60), command(creds, vars, args).output())
        .await
        .expect("finished within 60 s")
        .unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[tokio::test]
async fn status_checks_lastfm_without_demanding_spotify() {
    let lf = FakeLastfm::start().await;
    let dir = tempfile::tempdir().unwrap();
    let creds = dir.path().join("credentials.json");
    let vars = [
        ("SOURCE", "lastfm"),
        ("LASTFM_USER", USER),
        ("LASTFM_API_KEY", API_KEY),
        ("LASTFM_API_BASE_URL", lf.base.as_str()),
    ];
    let (code, out, err) = run(&creds, &vars, &["status"]).await;
    assert_eq!(code, 0, "{out}\n{err}");
    assert!(out.contains("Last.fm") && out.contains(USER), "{out}");
    assert!(out.contains("from LASTFM_API_KEY"), "{out}");
    assert!(out.contains("recent listening is public"), "{out}");
    assert!(out.contains("not needed (SOURCE=lastfm)"), "{out}");
    assert!(!out.contains(API_KEY) && !err.contains(API_KEY));

    // Each problem the owner must fix: exit 1, with what to do.
    for (code_n, words) in [
        (10, "rejected the API key"),
        (26, "suspended"),
        (6, "LASTFM_USER"),
        (17, "Hide recent listening"),
    ] {
        lf.set(RECENT, fake_lastfm::error(403, code_n));
        let (code, out, err) = run(&creds, &vars, &["status"]).await;
        assert_eq!(code, 1, "{code_n}: {out}\n{err}");
        assert!(
            out.contains(words) && err.contains(words),
            "{code_n}: {out}\n{err}"
        );
    }
    // A temporary failure is a warning only.
    lf.set(RECENT, fake_lastfm::error(200, 16));
    let (code, out, _) = run(&creds, &vars, &["status"]).await;
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("WARNING"), "{out}");

    // The key in the credentials file instead of the environment.
    lf.set(RECENT, Scripted::json(fake_lastfm::bodies::recent_only()));
    std::fs::write(&creds, json!({"lastfm_api_key": API_KEY}).to_string()).unwrap();
    let vars_file = [
        ("SOURCE", "lastfm"),
        ("LASTFM_USER", USER),
        ("LASTFM_API_BASE_URL", lf.base.as_str()),
    ];
    let (code, out, err) = run(&creds, &vars_file, &["status"]).await;
    assert_eq!(code, 0, "{out}\n{err}");
    assert!(out.contains("stored in the credentials"), "{out}");
    std::fs::write(&creds, "{}").unwrap();
    let (code, out, err) = run(&creds, &vars_file, &["status"]).await;
    assert_eq!(code, 1, "{out}");
    assert!(err.contains("lastfm_api_key"), "{err}");
}

#[tokio::test]
async fn serve_with_lastfm_needs_the_key_not_the_spotify_sign_in() {
    let lf = FakeLastfm::start().await;
    let dir = tempfile::tempdir().unwrap();
    let creds = dir.path().join("none.json");
    // No key anywhere: one line naming what to do.
    let (code, _, err) = run(
        &creds,
        &[("SOURCE", "lastfm"), ("LASTFM_USER", USER)],
        &["serve", "--addr", "127.0.0.1:0"],
    )
    .await;
    assert_eq!(code, 1, "{err}");
    let lines: Vec<_> = err.lines().filter(|l| l.contains("nowplaying:")).collect();
    assert_eq!(lines.len(), 1, "{err}");
    assert!(lines[0].contains("LASTFM_API_KEY") && lines[0].contains("lastfm_api_key"));
    // No user: a configuration error naming LASTFM_USER (exit 2).
    let (code, _, err) = run(&creds, &[("SOURCE", "lastfm")], &["serve"]).await;
    assert_eq!(code, 2, "{err}");
    assert!(err.trim().starts_with("nowplaying: LASTFM_USER"), "{err}");
    assert_eq!(err.trim().lines().count(), 1, "{err}");
    let (code, _, err) = run(&creds, &[], &["serve", "--source", "lastfm"]).await;
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("LASTFM_USER"), "{err}");

    // With the key: it serves, without Spotify credentials, from Last.fm.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let addr = format!("127.0.0.1:{port}");
    let vars = [
        ("SOURCE", "lastfm"),
        ("LASTFM_USER", USER),
        ("LASTFM_API_KEY", API_KEY),
        ("LASTFM_API_BASE_URL", lf.base.as_str()),
    ];
    let mut child = command(&creds, &vars, &["serve", "--addr", &addr])
        .spawn()
        .unwrap();
    let url = format!("http://{addr}/api/spotify");
    let mut v = Value::Null;
    for _ in 0..100 {
        if let Ok(r) = reqwest::get(&url).await {
            v = r.json().await.unwrap();
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    child.kill().await.unwrap();
    assert_eq!(
        (&v["source"], &v["name"]),
        (&json!("lastfm"), &json!("Now Song")),
        "{v}"
    );
}

#[test]
fn serve_demo_source_lastfm_simulates_lastfm() {
    let mut child = std::process::Command::new(BIN)
        .args([
            "serve",
            "--demo",
            "--source",
            "lastfm",
            "--addr",
            "127.0.0.1:0",
        ])
        .env_remove("TOKEN_SECRET_ID")
        .env_remove("CACHE_TABLE")
        .env_remove("SOURCE")
        .env_remove("LASTFM_USER")
        .env_remove("LASTFM_API_KEY")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    assert!(line.contains("simulated Last.fm"), "{line}");
    let url = line
        .split_whitespace()
        .find(|w| w.starts_with("http://127.0.0.1:"))
        .expect("a URL on the first line")
        .trim_end_matches('/')
        .to_string();
    let get = |path: &str| -> Value {
        reqwest::blocking::get(format!("{url}{path}"))
            .unwrap()
            .json()
            .unwrap()
    };
    let now = get("/api/spotify");
    let recent = get("/api/spotify/recent?limit=3");
    let artists = get("/api/spotify/top/artists");
    let saved = get("/api/spotify/saved");
    let page = reqwest::blocking::get(format!("{url}/")).unwrap().status();
    child.kill().unwrap();
    let _ = child.wait();
    assert_eq!(now["source"], "lastfm", "{now}");
    assert_eq!(now["status"], "playing", "{now}");
    assert!(now["songUrl"]
        .as_str()
        .unwrap()
        .starts_with("https://www.last.fm/"));
    assert_eq!(recent["items"][1]["count"], 2, "{recent}");
    assert_eq!(recent["items"][0]["source"], "lastfm");
    assert_eq!(artists["items"][0]["source"], "lastfm", "{artists}");
    assert!(saved["items"][0]["addedAt"].is_string(), "{saved}");
    assert_eq!(page, 200);
}
