//! The command line's own surface: `--help` names the environment variables and the exit codes,
//! bad flag values are refused with a clear message (exit 2), and the owner's commands keep their
//! report free of INFO log lines (RUST_LOG unset).

use std::process::{Command, Output};

const BIN: &str = env!("CARGO_BIN_EXE_nowplaying");

fn run(args: &[&str], env: &[(&str, &str)]) -> Output {
    let home = tempfile::tempdir().unwrap();
    let mut cmd = Command::new(BIN);
    cmd.args(args)
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("HOME", home.path())
        .env(
            "NOWPLAYING_CREDENTIALS",
            home.path().join("credentials.json"),
        )
        // Unreachable on purpose: nothing here may talk to Spotify.
        .env("SPOTIFY_API_BASE_URL", "http://127.0.0.1:9")
        .env("SPOTIFY_ACCOUNTS_BASE_URL", "http://127.0.0.1:9");
    for (k, v) in env {
        cmd.env(k, v);
    }
    cmd.output().unwrap()
}

fn text(out: &Output) -> (String, String) {
    (
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn help_lists_the_exit_codes_on_every_command() {
    for args in [
        &["--help"][..],
        &["serve", "--help"],
        &["authorize", "--help"],
        &["status", "--help"],
        &["disconnect", "--help"],
        &["hide", "--help"],
        &["show", "--help"],
        &["import", "--help"],
        &["import", "spotify-export", "--help"],
        &["import", "lastfm", "--help"],
        &["export", "--help"],
        &["forget", "--help"],
    ] {
        let out = run(args, &[]);
        let (stdout, _) = text(&out);
        assert_eq!(out.status.code(), Some(0), "{args:?}");
        assert!(stdout.contains("Exit codes:"), "{args:?}: {stdout}");
        for code in ["  0  ", "  1  the owner must act", "  2  bad configuration"] {
            assert!(stdout.contains(code), "{args:?} lacks {code:?}: {stdout}");
        }
    }
}

#[test]
fn authorize_help_shows_env_and_where_credentials_go() {
    let out = run(
        &["authorize", "--help"],
        &[("SPOTIFY_CLIENT_ID", "id-not-to-be-shown")],
    );
    let (stdout, _) = text(&out);
    assert!(stdout.contains("[env: SPOTIFY_CLIENT_ID]"), "{stdout}");
    assert!(
        !stdout.contains("id-not-to-be-shown"),
        "help printed a value: {stdout}"
    );
    for var in [
        "TOKEN_SECRET_ID",
        "NOWPLAYING_CREDENTIALS",
        "CACHE_TABLE",
        "AWS_REGION",
        "PROFILE_ENDPOINTS",
        "SPOTIFY_CLIENT_SECRET",
    ] {
        assert!(
            stdout.contains(var),
            "authorize --help lacks {var}: {stdout}"
        );
    }
}

#[test]
fn bad_flag_values_are_refused_with_exit_2() {
    for (args, flag) in [
        (&["authorize", "--timeout", "0"][..], "--timeout"),
        (&["authorize", "--timeout", "soon"], "--timeout"),
        (&["authorize", "--timeout", "86401"], "--timeout"),
        (&["authorize", "--port", "0"], "--port"),
        (&["authorize", "--port", "70000"], "--port"),
        (&["serve", "--addr", "localhost"], "--addr"),
    ] {
        let out = run(args, &[]);
        let (_, stderr) = text(&out);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {stderr}");
        assert!(
            stderr.contains("invalid value") && stderr.contains(flag),
            "{args:?}: {stderr}"
        );
    }
    let (_, stderr) = text(&run(&["authorize", "--timeout", "0"], &[]));
    assert!(stderr.contains("from 1 to 86400"), "{stderr}");
}

#[test]
fn bad_configuration_exits_2_naming_the_variable() {
    let out = run(&["status"], &[("CACHE_TTL_SECONDS", "soon")]);
    let (_, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("CACHE_TTL_SECONDS"), "{stderr}");
}

#[test]
fn owner_commands_log_warn_and_above_unless_rust_log_says_otherwise() {
    // No credentials: status reports it and exits 1; its report has no INFO log lines.
    let out = run(&["status"], &[]);
    let (stdout, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(1), "{stdout}{stderr}");
    assert!(
        !stdout.contains(" INFO ") && !stderr.contains(" INFO "),
        "{stdout}{stderr}"
    );
    // The privacy switch with a local file: no INFO lines either.
    let out = run(&["hide"], &[]);
    let (_, stderr) = text(&out);
    assert!(!stderr.contains(" INFO "), "{stderr}");
}

/// Credentials in Secrets Manager without the shared table: the Lambda refuses to start (every
/// instance would refresh under a lease of its own), naming the variable; `status` does not
/// refresh from a laptop that cannot see the service's lease.
#[test]
fn a_shared_secret_without_the_table_is_refused() {
    let out = Command::new(env!("CARGO_BIN_EXE_nowplaying-lambda"))
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("TOKEN_SECRET_ID", "nowplaying/credentials")
        .output()
        .unwrap();
    let (_, err) = text(&out);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(err.contains("CACHE_TABLE"), "{err}");
    assert!(err.contains("TOKEN_SECRET_ID"), "{err}");
    assert_eq!(err.trim().lines().count(), 1, "one line: {err}");
}
