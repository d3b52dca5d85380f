//! The AWS emulator the tests talk to. `scripts/test` starts one and exports `AWS_ENDPOINT_URL`;
//! without that variable, the first test that needs the emulator starts one for the whole test
//! binary (moto, installed in `.tools/venv` by `scripts/test`) and points the AWS SDK at it.

use std::io::{Read, Write};
use std::net::{Ipv4Addr, TcpListener, TcpStream};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

/// What the emulator's start gave: its endpoint, or the one line that says why there is none.
static ENDPOINT: OnceLock<Result<String, String>> = OnceLock::new();

/// The emulator's own process, kept for as long as the test binary runs. Its standard input is
/// a pipe nobody writes to: when this process ends, the kernel closes it and the emulator exits.
static EMULATOR: OnceLock<Child> = OnceLock::new();

/// How long moto may take to start answering (it imports every service model on start).
const START_TIMEOUT: Duration = Duration::from_secs(60);

/// The emulator's base URL: `AWS_ENDPOINT_URL` when set, else the one this binary started.
/// A test that needs the emulator fails (never skips) when there is none.
pub fn endpoint() -> String {
    match ENDPOINT.get_or_init(start_or_reuse) {
        Ok(url) => url.clone(),
        Err(why) => panic!("{why}"),
    }
}

fn start_or_reuse() -> Result<String, String> {
    if let Ok(url) = std::env::var("AWS_ENDPOINT_URL") {
        return Ok(url);
    }
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let python = root.join(".tools/venv/bin/python");
    let moto_installed = root.join(".tools/venv/bin/moto_server").exists();
    if !python.exists() || !moto_installed {
        return Err(
            "the AWS emulator is not installed in .tools/venv: run scripts/test once".to_string(),
        );
    }
    let port = free_port();
    let url = format!("http://127.0.0.1:{port}");
    let log = std::fs::File::create(root.join(".tools/moto-cargo-test.log"))
        .map_err(|e| format!("cannot write .tools/moto-cargo-test.log: {e}"))?;
    let mut child = Command::new(&python)
        .arg(root.join("scripts/emulator/moto_server.py"))
        .args([
            "--exit-with-stdin",
            "-H",
            "127.0.0.1",
            "-p",
            &port.to_string(),
        ])
        .stdin(Stdio::piped())
        .stdout(log.try_clone().map_err(|e| e.to_string())?)
        .stderr(log)
        .spawn()
        .map_err(|e| format!("cannot start the AWS emulator ({}): {e}", python.display()))?;
    let ready = wait_until_answering(&mut child, port);
    let _ = EMULATOR.set(child);
    ready?;
    // Before any SDK client reads them; every later test and child process inherits them. The
    // dummy credentials and the region are what moto accepts; no instance metadata is asked.
    for (name, value) in [
        ("AWS_ENDPOINT_URL", url.as_str()),
        ("AWS_ACCESS_KEY_ID", "test"),
        ("AWS_SECRET_ACCESS_KEY", "test"),
        ("AWS_REGION", "us-east-1"),
        ("AWS_DEFAULT_REGION", "us-east-1"),
        ("AWS_EC2_METADATA_DISABLED", "true"),
    ] {
        std::env::set_var(name, value);
    }
    std::env::remove_var("AWS_PROFILE");
    std::env::remove_var("AWS_SESSION_TOKEN");
    Ok(url)
}

/// A loopback port nothing listens on now.
fn free_port() -> u16 {
    TcpListener::bind((Ipv4Addr::LOCALHOST, 0))
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free loopback port")
}

/// Waits until moto answers `GET /moto-api/` with `200`.
fn wait_until_answering(child: &mut Child, port: u16) -> Result<(), String> {
    let deadline = Instant::now() + START_TIMEOUT;
    while Instant::now() < deadline {
        if let Ok(Some(status)) = child.try_wait() {
            return Err(format!(
                "the AWS emulator exited ({status}) before answering (see .tools/moto-cargo-test.log)"
            ));
        }
        if let Ok(mut s) = TcpStream::connect((Ipv4Addr::LOCALHOST, port)) {
            let _ = s.set_read_timeout(Some(Duration::from_secs(5)));
            let request = "GET /moto-api/ HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n";
            let mut head = [0u8; 12];
            if s.write_all(request.as_bytes()).is_ok()
                && s.read_exact(&mut head).is_ok()
                && head.ends_with(b" 200")
            {
                return Ok(());
            }
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    Err(format!(
        "the AWS emulator did not answer on 127.0.0.1:{port} within {}s (see .tools/moto-cargo-test.log)",
        START_TIMEOUT.as_secs()
    ))
}
