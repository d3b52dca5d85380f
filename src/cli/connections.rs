//! `serve`'s connection loop: hyper's HTTP/1 server with a header-read timeout (which is also
//! the keep-alive idle timeout) and a cap on open connections, so slow or idle clients cannot
//! hold the process's sockets (docs/api.md, "Command line", the limits of `serve`).

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use hyper::server::conn::http1;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::server::graceful::GracefulShutdown;
use hyper_util::service::TowerToHyperService;
use tokio::net::TcpListener;
use tokio::sync::Semaphore;

/// How long a connection may take to send a whole request head, counted from the moment the
/// server waits for one: on a new connection, and on a kept-alive connection after each answer.
/// A client that sends half a header and stops, or keeps an idle connection open, is closed then.
pub const HEADER_READ_TIMEOUT: Duration = Duration::from_secs(10);

/// The most connections `serve` keeps open at once. Lowered to fit the process's open-file limit
/// (see [`connection_cap`]); when every slot is taken, new connections wait in the listen
/// backlog until one closes, which an idle one does within [`HEADER_READ_TIMEOUT`].
pub const MAX_CONNECTIONS: usize = 512;

/// Open files kept free for everything else (Spotify and AWS connections, the credentials
/// file, the runtime's own): a quarter of the limit, at least this many.
const RESERVED_FILES: u64 = 32;

/// How long open connections may finish their answers once Ctrl-C stopped the listener.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(5);

/// A pause after a failed `accept` (out of files, say), so a persistent failure does not spin.
const ACCEPT_RETRY: Duration = Duration::from_millis(100);

/// The limits one `serve` process keeps.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// See [`HEADER_READ_TIMEOUT`].
    pub header_read_timeout: Duration,
    /// See [`MAX_CONNECTIONS`].
    pub max_connections: usize,
}

impl Limits {
    /// The stated limits, with the connection cap fitted to this process's open-file limit.
    pub fn for_this_process() -> Limits {
        Limits {
            header_read_timeout: HEADER_READ_TIMEOUT,
            max_connections: connection_cap(open_file_limit()),
        }
    }
}

/// The connection cap for a soft open-file limit (`None`: unknown or unlimited): at most
/// [`MAX_CONNECTIONS`], and always leaving a quarter of the files (at least 32) for the rest.
pub fn connection_cap(open_files: Option<u64>) -> usize {
    let Some(files) = open_files else {
        return MAX_CONNECTIONS;
    };
    let usable = files.saturating_sub((files / 4).max(RESERVED_FILES));
    usize::try_from(usable)
        .unwrap_or(MAX_CONNECTIONS)
        .clamp(1, MAX_CONNECTIONS)
}

/// The soft limit on open files (`RLIMIT_NOFILE`), when there is one.
#[cfg(unix)]
fn open_file_limit() -> Option<u64> {
    let mut limit = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit writes only the struct it is given, which lives for the whole call.
    let rc = unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) };
    // `rlim_t` is not a u64 on every Unix.
    #[allow(clippy::unnecessary_cast)]
    let soft = limit.rlim_cur as u64;
    (rc == 0 && limit.rlim_cur != libc::RLIM_INFINITY).then_some(soft)
}

#[cfg(not(unix))]
fn open_file_limit() -> Option<u64> {
    None
}

/// Serves `router` on `listener` within `limits` until `shutdown` completes; then stops
/// accepting and gives open connections [`SHUTDOWN_GRACE`] to finish.
pub async fn serve(
    listener: TcpListener,
    router: Router,
    limits: Limits,
    shutdown: impl Future<Output = ()>,
) {
    let slots = Arc::new(Semaphore::new(limits.max_connections));
    let graceful = GracefulShutdown::new();
    let mut http = http1::Builder::new();
    http.timer(TokioTimer::new())
        .header_read_timeout(limits.header_read_timeout)
        .keep_alive(true);
    tokio::pin!(shutdown);
    loop {
        // A slot first: at the cap, new connections wait in the backlog, not in our memory.
        let slot = tokio::select! {
            slot = slots.clone().acquire_owned() => slot.expect("the semaphore is never closed"),
            () = &mut shutdown => break,
        };
        let (stream, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(e) => {
                    tracing::warn!(error = %e, "could not accept a connection");
                    tokio::time::sleep(ACCEPT_RETRY).await;
                    continue;
                }
            },
            () = &mut shutdown => break,
        };
        let _ = stream.set_nodelay(true);
        let connection = graceful.watch(http.serve_connection(
            TokioIo::new(stream),
            TowerToHyperService::new(router.clone()),
        ));
        tokio::spawn(async move {
            if let Err(e) = connection.await {
                // A header-read timeout, a client that went away, a malformed request.
                tracing::debug!(%peer, error = %e, "connection closed");
            }
            drop(slot);
        });
    }
    drop(listener);
    tokio::select! {
        () = graceful.shutdown() => {}
        () = tokio::time::sleep(SHUTDOWN_GRACE) => {
            tracing::info!("stopped with connections still open after the grace period");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_cap_leaves_files_for_everything_else() {
        assert_eq!(connection_cap(None), MAX_CONNECTIONS);
        assert_eq!(connection_cap(Some(1_048_576)), MAX_CONNECTIONS);
        assert_eq!(connection_cap(Some(20_000)), MAX_CONNECTIONS);
        assert_eq!(connection_cap(Some(1024)), 512);
        assert_eq!(connection_cap(Some(256)), 192);
        assert_eq!(connection_cap(Some(64)), 32);
        assert_eq!(connection_cap(Some(10)), 1);
    }
}
