//! `nowplaying serve` drops slow and idle clients: a half-sent header and an idle kept-alive
//! connection are closed within the stated header-read timeout, and new visitors are served while
//! many connections are held open, also under a small open-file limit. Real sockets against the
//! real binary (`serve --demo`, loopback only); every test is bounded in time.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use nowplaying::cli::connections::HEADER_READ_TIMEOUT;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// A `serve --demo` child, killed and reaped when the test ends.
struct Served {
    child: Child,
    addr: String,
}

impl Drop for Served {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Served {
    /// Starts `serve --demo` on a free loopback port, with at most `open_files` open files when
    /// given (the soft and hard `RLIMIT_NOFILE` of the child).
    fn start(open_files: Option<u64>) -> Served {
        let mut command = Command::new(env!("CARGO_BIN_EXE_nowplaying"));
        command
            .args(["serve", "--demo", "--addr", "127.0.0.1:0"])
            .env_remove("TOKEN_SECRET_ID")
            .env_remove("CACHE_TABLE")
            .stdout(Stdio::piped())
            .stderr(Stdio::null());
        if let Some(n) = open_files {
            use std::os::unix::process::CommandExt;
            // SAFETY: setrlimit is async-signal-safe, which is all a pre_exec hook may call.
            unsafe {
                command.pre_exec(move || {
                    let limit = libc::rlimit {
                        rlim_cur: n,
                        rlim_max: n,
                    };
                    if libc::setrlimit(libc::RLIMIT_NOFILE, &limit) == 0 {
                        Ok(())
                    } else {
                        Err(std::io::Error::last_os_error())
                    }
                });
            }
        }
        let mut child = command.spawn().unwrap();
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        let addr = line
            .split_whitespace()
            .find_map(|w| w.strip_prefix("http://127.0.0.1:"))
            .map(|port| format!("127.0.0.1:{}", port.trim_end_matches('/')))
            .unwrap_or_else(|| panic!("no address on the first line: {line:?}"));
        Served { child, addr }
    }

    async fn connect(&self) -> TcpStream {
        TcpStream::connect(&self.addr).await.unwrap()
    }

    /// One `GET /api/spotify` on a new connection: its status line, and how long it took.
    async fn visit(&self) -> (String, Duration) {
        let started = Instant::now();
        let mut s = self.connect().await;
        s.write_all(b"GET /api/spotify HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n")
            .await
            .unwrap();
        let mut answer = Vec::new();
        let _ = s.read_to_end(&mut answer).await;
        let text = String::from_utf8_lossy(&answer);
        (
            text.lines().next().unwrap_or_default().to_string(),
            started.elapsed(),
        )
    }
}

/// A connection that sent half a request head and stops.
async fn half_a_header(served: &Served) -> TcpStream {
    let mut s = served.connect().await;
    s.write_all(b"GET /api/spotify HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: ")
        .await
        .unwrap();
    s
}

/// Reads until the server closes the connection (or resets it); how long that took.
async fn closed_after(mut s: TcpStream, bound: Duration) -> Duration {
    let started = Instant::now();
    let mut sink = [0u8; 4096];
    tokio::time::timeout(bound, async {
        loop {
            match s.read(&mut sink).await {
                Ok(0) | Err(_) => break,
                Ok(_) => {}
            }
        }
    })
    .await
    .unwrap_or_else(|_| panic!("the server kept the connection open for {bound:?}"));
    started.elapsed()
}

const SLACK: Duration = Duration::from_secs(3);

#[tokio::test]
async fn a_half_sent_header_is_closed_within_the_header_timeout() {
    let served = Served::start(None);
    let s = half_a_header(&served).await;
    let took = closed_after(s, HEADER_READ_TIMEOUT + SLACK).await;
    eprintln!("a half-sent header closed after {took:?}");
    // Closed by the timeout, not at once (which would be some other failure).
    assert!(
        took >= HEADER_READ_TIMEOUT - Duration::from_secs(1),
        "closed after {took:?}"
    );
    // The server itself still answers.
    assert!(served.visit().await.0.contains("200"));
}

#[tokio::test]
async fn an_idle_kept_alive_connection_is_closed_within_the_idle_timeout() {
    let served = Served::start(None);
    let mut s = served.connect().await;
    s.write_all(b"GET /widget.js HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
        .await
        .unwrap();
    // Read the whole answer (its head, then Content-Length bytes): the connection stays open.
    let mut buf = Vec::new();
    let mut chunk = [0u8; 16 * 1024];
    let body_len = tokio::time::timeout(Duration::from_secs(5), async {
        loop {
            let n = s.read(&mut chunk).await.unwrap();
            assert!(n > 0, "closed before the answer was complete");
            buf.extend_from_slice(&chunk[..n]);
            let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") else {
                continue;
            };
            let head = String::from_utf8_lossy(&buf[..end]).to_ascii_lowercase();
            assert!(head.starts_with("http/1.1 200"), "{head}");
            let len: usize = head
                .lines()
                .find_map(|l| l.strip_prefix("content-length:"))
                .expect("a Content-Length")
                .trim()
                .parse()
                .unwrap();
            if buf.len() >= end + 4 + len {
                break len;
            }
        }
    })
    .await
    .expect("the answer within 5 s");
    assert!(body_len > 0);
    let took = closed_after(s, HEADER_READ_TIMEOUT + SLACK).await;
    eprintln!("an idle kept-alive connection closed after {took:?}");
    assert!(
        took >= HEADER_READ_TIMEOUT - Duration::from_secs(1),
        "closed after {took:?}"
    );
}

#[tokio::test]
async fn a_new_visitor_is_served_while_200_connections_are_held_open() {
    let served = Served::start(None);
    let started = Instant::now();
    let mut held = Vec::new();
    for _ in 0..200 {
        held.push(half_a_header(&served).await);
    }
    let (status, took) = tokio::time::timeout(Duration::from_secs(5), served.visit())
        .await
        .expect("served within 5 s");
    assert!(status.contains("200"), "{status}");
    eprintln!("with 200 held open: a visitor served in {took:?}");
    // Well before any held connection timed out: served beside them, not after them.
    assert!(
        started.elapsed() < HEADER_READ_TIMEOUT - Duration::from_secs(2),
        "took {took:?}"
    );
    // The held connections are still open (none was dropped to make room).
    let mut probe = [0u8; 1];
    for s in &held {
        assert!(matches!(
            s.try_read(&mut probe),
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock
        ));
    }
}

#[tokio::test]
async fn under_a_64_file_limit_60_idle_sockets_delay_a_visitor_by_one_header_timeout_at_most() {
    let served = Served::start(Some(64));
    // The demo is up and answers.
    assert!(served.visit().await.0.contains("200"));
    let mut held = Vec::new();
    for _ in 0..60 {
        held.push(served.connect().await);
    }
    let (status, took) = tokio::time::timeout(HEADER_READ_TIMEOUT + SLACK, served.visit())
        .await
        .expect("served within the header timeout");
    assert!(status.contains("200"), "{status} after {took:?}");
    eprintln!("under 64 files with 60 idle sockets: a visitor served after {took:?}");
    // And again right away: the process still has files to answer with.
    assert!(served.visit().await.0.contains("200"));
    drop(held);
}
