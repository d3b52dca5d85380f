//! The history commands as the owner runs them, on the SQLite history next to a credentials file
//! in a temporary folder: `import spotify-export` and `import lastfm` with their summaries (and no
//! progress bar off a terminal), `export` in JSON and CSV reading back into exactly the stored
//! plays, `forget --before` and `--all`, `disconnect` leaving the history alone and saying so, and
//! every one of them refused while `PROFILE_ENDPOINTS` lacks `history`.

use crate::history_import::write_export;
use crate::support;

use std::path::Path;
use std::process::Stdio;
use std::time::Duration;

use nowplaying::history::export::ExportRow;
use nowplaying::history::Play;
use support::fake_lastfm::{bodies, FakeLastfm, API_KEY, USER};
use tokio::process::Command;

const BIN: &str = env!("CARGO_BIN_EXE_nowplaying");

/// Variables of the developer's shell that must not leak into the commands under test.
const SCRUB: &[&str] = &[
    "TOKEN_SECRET_ID",
    "CACHE_TABLE",
    "HISTORY_TABLE",
    "NOWPLAYING_CREDENTIALS",
    "PROFILE_ENDPOINTS",
    "OWNER_SPOTIFY_ID",
    "SOURCE",
    "LASTFM_USER",
    "LASTFM_API_KEY",
    "LASTFM_API_BASE_URL",
    "AWS_LAMBDA_LOG_FORMAT",
];

const HISTORY_ON: (&str, &str) = ("PROFILE_ENDPOINTS", "history");

/// Runs the command with its credentials (and so its history) in `dir`.
async fn run(dir: &Path, vars: &[(&str, &str)], args: &[&str]) -> (i32, String, String) {
    let mut c = Command::new(BIN);
    for v in SCRUB {
        c.env_remove(v);
    }
    c.env("NOWPLAYING_CREDENTIALS", dir.join("credentials.json"))
        .env("RUST_LOG", "warn")
        .env("SPOTIFY_API_BASE_URL", "http://127.0.0.1:9")
        .env("SPOTIFY_ACCOUNTS_BASE_URL", "http://127.0.0.1:9")
        .envs(vars.iter().copied())
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true);
    let out = tokio::time::timeout(Duration::from_secs(60), c.output())
        .await
        .expect("finished within 60 s")
        .unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

async fn export_json(dir: &Path, range: &[&str]) -> Vec<Play> {
    let mut args = vec!["export", "--format", "json"];
    args.extend_from_slice(range);
    let (code, out, err) = run(dir, &[HISTORY_ON], &args).await;
    assert_eq!(code, 0, "{err}");
    let rows: Vec<ExportRow> = serde_json::from_str(&out).expect(&out);
    rows.into_iter()
        .map(|r| Play::try_from(r).unwrap())
        .collect()
}

#[tokio::test]
async fn the_history_commands_need_the_history_on() {
    let dir = tempfile::tempdir().unwrap();
    let export = tempfile::tempdir().unwrap();
    write_export(export.path(), "owner");
    let path = export.path().to_str().unwrap();
    for args in [
        &["import", "spotify-export", path][..],
        &["import", "lastfm"],
        &["export", "--format", "csv"],
        &["forget", "--all", "--yes"],
    ] {
        let (code, out, err) = run(dir.path(), &[("PROFILE_ENDPOINTS", "top")], args).await;
        assert_eq!(code, 2, "{args:?}: {out}{err}");
        assert_eq!(err.lines().count(), 1, "{err}");
        assert!(
            err.contains("PROFILE_ENDPOINTS") && err.contains("history"),
            "{err}"
        );
        assert!(out.is_empty(), "{out}");
    }
    assert!(
        !dir.path().join("history.sqlite3").exists(),
        "nothing written"
    );
}

#[tokio::test]
async fn bad_dates_and_missing_choices_are_usage_errors() {
    let dir = tempfile::tempdir().unwrap();
    for (args, flag) in [
        (
            &["export", "--format", "json", "--from", "yesterday"][..],
            "--from",
        ),
        (
            &["export", "--format", "json", "--to", "2026-02-30"],
            "--to",
        ),
        (&["forget", "--before", "2026-11-01 10:00"], "--before"),
        (&["import", "lastfm", "--from", "1969-12-31"], "--from"),
        (&["export", "--format", "xml"], "--format"),
        (&["forget"], "--before"),
        (&["forget", "--all", "--before", "2026-01-01"], "--all"),
    ] {
        let (code, _, err) = run(dir.path(), &[HISTORY_ON], args).await;
        assert_eq!(code, 2, "{args:?}: {err}");
        assert!(err.contains(flag), "{args:?}: {err}");
    }
    assert!(
        !dir.path().join("history.sqlite3").exists(),
        "nothing written"
    );
}

#[tokio::test]
async fn import_export_round_trip_and_forget() {
    let dir = tempfile::tempdir().unwrap();
    let export = tempfile::tempdir().unwrap();
    let expected = write_export(export.path(), "owner");
    let path = export.path().to_str().unwrap();
    let (code, out, err) = run(
        dir.path(),
        &[HISTORY_ON],
        &["import", "spotify-export", path],
    )
    .await;
    assert_eq!(code, 0, "{out}{err}");
    assert!(err.is_empty(), "no progress bar off a terminal: {err:?}");
    assert!(
        out.contains(&format!(
            "{} new plays stored, 1 already stored",
            expected.len()
        )),
        "{out}"
    );
    assert!(
        out.contains("private session") && out.contains("entry 8"),
        "{out}"
    );
    assert!(
        out.contains("Streaming_History_Audio_2025_1.json: not a JSON array of plays at line 3"),
        "{out}"
    );
    let db = std::fs::read(dir.path().join("history.sqlite3")).unwrap();
    for never in ["203.0.113.7", "Android OS", "trackdone", "Secret Song"] {
        assert!(
            !db.windows(never.len()).any(|w| w == never.as_bytes()),
            "{never} stored"
        );
    }
    let (code, out, _) = run(
        dir.path(),
        &[HISTORY_ON],
        &["import", "spotify-export", path],
    )
    .await;
    assert_eq!(code, 0);
    assert!(
        out.contains(&format!(
            "0 new plays stored, {} already stored",
            expected.len() + 1
        )),
        "{out}"
    );

    assert_eq!(export_json(dir.path(), &[]).await, expected);
    let (code, csv_out, _) = run(dir.path(), &[HISTORY_ON], &["export", "--format", "csv"]).await;
    assert_eq!(code, 0);
    assert!(csv_out.starts_with("playedAt,key,name,artists,album,albumImage,songUrl,trackId,type,msPlayed,short,source\n"), "{csv_out}");
    assert!(csv_out.contains("\"Pip, Scroobius\""), "quoted: {csv_out}");
    let rows: Vec<Play> = csv::Reader::from_reader(csv_out.as_bytes())
        .deserialize::<ExportRow>()
        .map(|r| Play::try_from(r.unwrap()).unwrap())
        .collect();
    assert_eq!(rows, expected);
    let january: Vec<Play> = expected
        .iter()
        .filter(|p| (1_704_067_200_000..1_706_745_600_000).contains(&p.played_at.as_millis()))
        .cloned()
        .collect();
    assert_eq!(january.len(), 5);
    assert_eq!(
        export_json(
            dir.path(),
            &["--from", "2024-01-01", "--to", "2024-02-01T00:00:00Z"]
        )
        .await,
        january
    );

    let (code, out, _) = run(
        dir.path(),
        &[HISTORY_ON],
        &["forget", "--before", "2024-01-01"],
    )
    .await;
    assert_eq!(code, 0);
    assert!(
        out.contains("Removed 3 plays played before 2024-01-01T00:00:00.000Z"),
        "{out}"
    );
    assert_eq!(
        export_json(dir.path(), &[]).await,
        expected[..expected.len() - 3]
    );
    let (code, _, err) = run(dir.path(), &[HISTORY_ON], &["forget", "--all"]).await;
    assert_eq!(code, 1, "no terminal to confirm on: {err}");
    assert!(err.contains("--yes"), "{err}");
    assert_eq!(export_json(dir.path(), &[]).await.len(), expected.len() - 3);
    let (code, out, _) = run(dir.path(), &[HISTORY_ON], &["forget", "--all", "--yes"]).await;
    assert_eq!(code, 0);
    assert!(
        out.contains(&format!(
            "Removed {} plays (all of them)",
            expected.len() - 3
        )),
        "{out}"
    );
    assert!(export_json(dir.path(), &[]).await.is_empty());
    let (_, csv_out, _) = run(dir.path(), &[HISTORY_ON], &["export", "--format", "csv"]).await;
    assert_eq!(csv_out.lines().count(), 1, "the header alone: {csv_out}");
}

#[tokio::test]
async fn another_persons_export_needs_force() {
    let dir = tempfile::tempdir().unwrap();
    let theirs = tempfile::tempdir().unwrap();
    let plays = write_export(theirs.path(), "someone-else");
    let file = theirs.path().join("Streaming_History_Audio_2024_0.json");
    let file = file.to_str().unwrap();
    let vars = [HISTORY_ON, ("OWNER_SPOTIFY_ID", "owner")];
    let (code, out, err) = run(dir.path(), &vars, &["import", "spotify-export", file]).await;
    assert_eq!(code, 1, "{out}{err}");
    assert!(
        err.contains(file) && err.contains("someone-else") && err.contains("--force"),
        "{err}"
    );
    assert!(
        export_json(dir.path(), &[]).await.is_empty(),
        "nothing written"
    );
    let (code, out, err) = run(
        dir.path(),
        &vars,
        &["import", "spotify-export", "--force", file],
    )
    .await;
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("5 new plays stored"), "{out}");
    assert_eq!(export_json(dir.path(), &[]).await.len(), 5);
    assert!(plays.len() > 5);
}

#[tokio::test]
async fn disconnect_leaves_the_history_and_says_so() {
    let dir = tempfile::tempdir().unwrap();
    let export = tempfile::tempdir().unwrap();
    let expected = write_export(export.path(), "owner");
    let path = export.path().to_str().unwrap();
    let (code, _, _) = run(
        dir.path(),
        &[HISTORY_ON],
        &["import", "spotify-export", path],
    )
    .await;
    assert_eq!(code, 0);
    let (code, out, err) = run(dir.path(), &[HISTORY_ON], &["disconnect"]).await;
    assert_eq!(code, 0, "{out}{err}");
    assert!(
        out.contains("listening history")
            && out.contains("left as it is")
            && out.contains("forget --all"),
        "{out}"
    );
    assert_eq!(export_json(dir.path(), &[]).await, expected);
    let (code, out, _) = run(dir.path(), &[], &["disconnect"]).await;
    assert_eq!(code, 0);
    assert!(!out.contains("listening history"), "history off: {out}");
}

#[tokio::test]
async fn import_lastfm_stores_the_whole_scrobble_history() {
    let lf = FakeLastfm::start().await;
    lf.set_scrobbles(
        (0..250)
            .map(|i| bodies::scrobble(&format!("Song {i}"), 1_795_000_000 - i * 60))
            .collect(),
    );
    let dir = tempfile::tempdir().unwrap();
    let mut vars = vec![
        HISTORY_ON,
        ("LASTFM_USER", USER),
        ("LASTFM_API_BASE_URL", lf.base.as_str()),
    ];
    let (code, _, err) = run(dir.path(), &vars, &["import", "lastfm"]).await;
    assert_eq!(code, 1);
    assert!(err.contains("LASTFM_API_KEY"), "{err}");
    vars.push(("LASTFM_API_KEY", API_KEY));
    let (code, out, err) = run(
        dir.path(),
        &vars,
        &["import", "lastfm", "--from", "2026-11-18"],
    )
    .await;
    assert_eq!(code, 0, "{out}{err}");
    assert!(err.is_empty(), "{err:?}");
    assert!(
        out.contains("250 new plays stored, 0 already stored"),
        "{out}"
    );
    assert!(!out.contains(API_KEY));
    assert!(!dir.path().join("lastfm-import.json").exists());
    let plays = export_json(dir.path(), &[]).await;
    assert_eq!(plays.len(), 250);
    assert_eq!(plays[0].name, "Song 0");
    let pages: Vec<String> = lf.queries().iter().map(|q| q["page"].clone()).collect();
    assert_eq!(pages, ["1", "2"], "200 a page");
    assert!(lf
        .queries()
        .iter()
        .all(|q| q["limit"] == "200" && q["from"] == "1794960000"));
}
