//! `nowplaying serve --demo` and `serve` without credentials.
use crate::support;

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::Duration;

use nowplaying::clock::SystemClock;
use nowplaying::store::memory::{MemoryCredentials, MemoryState};
use nowplaying::store::Credentials;

/// The simulated Spotify, through the real client and Router, shows every state in turn.
#[tokio::test]
async fn demo_moves_through_every_state() {
    let base = nowplaying::demo::start_with_step(Duration::from_millis(700))
        .await
        .unwrap();
    let config = nowplaying::config::Config::from_lookup(|k| match k {
        "SPOTIFY_API_BASE_URL" | "SPOTIFY_ACCOUNTS_BASE_URL" => Some(base.clone()),
        "CACHE_TTL_SECONDS" => Some("1".into()),
        _ => None,
    })
    .unwrap();
    let credentials = Arc::new(MemoryCredentials::new(Some(Credentials {
        client_id: "demo".into(),
        client_secret: "demo".into(),
        refresh_token: Some("demo".into()),
        ..Default::default()
    })));
    let dir = tempfile::tempdir().unwrap();
    let stores = nowplaying::app::Stores::local(
        credentials,
        Arc::new(MemoryState::new()),
        dir.path().join("credentials.json"),
    );
    let spotify = nowplaying::spotify::SpotifyClient::new(&base, &base);
    let app = nowplaying::app::build(&config, &stores, spotify, Arc::new(SystemClock));
    let url = support::serve(app).await;
    let mut seen = std::collections::BTreeSet::new();
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    while seen.len() < 5 && std::time::Instant::now() < deadline {
        let v: serde_json::Value = reqwest::get(format!("{url}/api/spotify"))
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let label = match (
            v["status"].as_str(),
            v["type"].as_str(),
            v["trackId"].is_null(),
        ) {
            (Some("playing"), Some("episode"), _) => "episode",
            (Some("playing"), Some("track"), true) => "local",
            (Some("playing"), _, _) => "playing",
            (Some("paused"), _, _) => "paused",
            (Some("recent"), _, _) => "recent",
            _ => panic!("unexpected demo answer {v}"),
        };
        seen.insert(label);
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    assert_eq!(
        seen.into_iter().collect::<Vec<_>>(),
        vec!["episode", "local", "paused", "playing", "recent"]
    );
}

#[test]
fn serve_demo_prints_the_url_and_serves() {
    let mut child = Command::new(env!("CARGO_BIN_EXE_nowplaying"))
        .args(["serve", "--demo", "--addr", "127.0.0.1:0"])
        .env_remove("TOKEN_SECRET_ID")
        .env_remove("CACHE_TABLE")
        // An owner's environment may name the console: the demo has none to offer.
        .env("OWNER_SPOTIFY_ID", "the-owner")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let url = line
        .split_whitespace()
        .find(|w| w.starts_with("http://127.0.0.1:"))
        .expect("a URL on the first line")
        .trim_end_matches('/')
        .to_string();
    let body = reqwest::blocking::get(format!("{url}/api/spotify"))
        .unwrap()
        .text()
        .unwrap();
    // The demo turns the listening profile on too, with a history that folds a repeat.
    let get = |path: &str| -> serde_json::Value {
        reqwest::blocking::get(format!("{url}{path}"))
            .unwrap()
            .json()
            .unwrap()
    };
    let recent = get("/api/spotify/recent?limit=3");
    let artists = get("/api/spotify/top/artists");
    let saved = get("/api/spotify/saved");
    let console = reqwest::blocking::get(format!("{url}/owner"))
        .unwrap()
        .status();
    child.kill().unwrap();
    assert_eq!(console, 404, "the console is off in the demo");
    assert_eq!(recent["items"][1]["count"], 2, "{recent}");
    assert!(
        !artists["items"].as_array().unwrap().is_empty(),
        "{artists}"
    );
    assert!(saved["items"][0]["addedAt"].is_string(), "{saved}");
    let _ = child.wait();
    let v: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(v["status"], "playing", "{v}");
}

#[test]
fn serve_without_credentials_points_at_authorize_and_demo() {
    let dir = tempfile::tempdir().unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_nowplaying"))
        .args(["serve", "--addr", "127.0.0.1:0"])
        .env("NOWPLAYING_CREDENTIALS", dir.path().join("none.json"))
        .env_remove("TOKEN_SECRET_ID")
        .env_remove("CACHE_TABLE")
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    let lines: Vec<_> = err.lines().filter(|l| l.contains("nowplaying:")).collect();
    assert_eq!(lines.len(), 1, "{err}");
    assert!(lines[0].contains("nowplaying authorize") && lines[0].contains("--demo"));
}

#[test]
fn a_bad_variable_stops_start_up_naming_it() {
    let out = Command::new(env!("CARGO_BIN_EXE_nowplaying"))
        .args(["serve", "--demo", "--addr", "127.0.0.1:0"])
        .env("CACHE_TTL_SECONDS", "soon")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("CACHE_TTL_SECONDS") && err.contains("soon"),
        "{err}"
    );
    assert_eq!(err.trim().lines().count(), 1, "{err}");
}
