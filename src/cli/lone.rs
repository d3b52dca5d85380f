//! Without a shared table, the refresh lease lives in one process's memory, so only one process
//! may use a set of credentials at a time (see docs/architecture.md, "Tokens fail closed").
//! `serve` holds an advisory lock on `<credentials>.lock` for as long as it runs and
//! `nowplaying collect` for its run: a collection never refreshes next to a running `serve`.

use std::fs::{File, OpenOptions, TryLockError};
use std::path::{Path, PathBuf};
use std::time::Duration;

/// The lock held while this process is the only one using its credentials; released on drop
/// (and by the system when the process ends, however it ends).
#[derive(Debug)]
pub struct LoneProcess {
    _file: File,
}

/// The lock file of the credentials at `credentials`.
pub fn lock_path(credentials: &Path) -> PathBuf {
    let mut name = credentials
        .file_name()
        .map(|n| n.to_os_string())
        .unwrap_or_else(|| "credentials.json".into());
    name.push(".lock");
    credentials.with_file_name(name)
}

/// Takes the lock, trying for `patience`. `Ok(None)`: another process holds it.
pub async fn take(credentials: &Path, patience: Duration) -> Result<Option<LoneProcess>, String> {
    let path = lock_path(credentials);
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir)
            .map_err(|e| format!("could not create {}: {e}", dir.display()))?;
    }
    let file = OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&path)
        .map_err(|e| format!("could not open {}: {e}", path.display()))?;
    let started = tokio::time::Instant::now();
    loop {
        match file.try_lock() {
            Ok(()) => return Ok(Some(LoneProcess { _file: file })),
            Err(TryLockError::WouldBlock) if started.elapsed() < patience => {
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
            Err(TryLockError::WouldBlock) => return Ok(None),
            Err(TryLockError::Error(e)) => {
                return Err(format!("could not lock {}: {e}", path.display()))
            }
        }
    }
}
