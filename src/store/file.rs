//! Credentials in a local JSON file (mode 0600), replaced atomically: a crash mid-write leaves
//! either the old or the new document, never half of one.

use std::io::Write;
use std::path::{Path, PathBuf};

use async_trait::async_trait;

use super::{CredentialStore, Credentials, StoreError, Swap, Versioned};

/// The file's version: a digest of its bytes.
fn version_of(text: &str) -> String {
    use sha2::Digest;
    let digest = sha2::Sha256::digest(text.as_bytes());
    digest.iter().take(16).map(|b| format!("{b:02x}")).collect()
}

/// One conditional write at a time in this process (the compare and the rename under one lock).
static SWAP: std::sync::Mutex<()> = std::sync::Mutex::new(());

#[derive(Debug, Clone)]
pub struct FileCredentials {
    path: PathBuf,
}

impl FileCredentials {
    pub fn new(path: impl Into<PathBuf>) -> Self {
        FileCredentials { path: path.into() }
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    fn unavailable(&self, e: std::io::Error) -> StoreError {
        StoreError::Unavailable {
            store: self.describe(),
            reason: e.to_string(),
        }
    }
}

/// Writes `contents` to `path` atomically with mode 0600: a temporary file in the same folder,
/// flushed to disk, then renamed over the old one. Folders it creates are 0700 (only the owner
/// may list them); existing ones are left as they are.
pub fn write_atomic(path: &Path, contents: &[u8]) -> std::io::Result<()> {
    let dir = path
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    create_private_dir(dir)?;
    let file_name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "credentials".into());
    let tmp = dir.join(format!(
        ".{file_name}.tmp-{}-{}",
        std::process::id(),
        rand::random::<u32>()
    ));
    let result = (|| {
        let mut options = std::fs::OpenOptions::new();
        options.write(true).create_new(true);
        #[cfg(unix)]
        {
            use std::os::unix::fs::OpenOptionsExt;
            options.mode(0o600);
        }
        let mut f = options.open(&tmp)?;
        f.write_all(contents)?;
        f.sync_all()?;
        drop(f);
        std::fs::rename(&tmp, path)?;
        // Make the rename itself durable.
        if let Ok(d) = std::fs::File::open(dir) {
            let _ = d.sync_all();
        }
        Ok(())
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    result
}

/// Creates `dir` and its missing parents with mode 0700.
fn create_private_dir(dir: &Path) -> std::io::Result<()> {
    let mut builder = std::fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::DirBuilderExt;
        builder.mode(0o700);
    }
    builder.create(dir)
}

/// The files already warned about in this process: one warning per file, not one per read.
static WARNED: std::sync::Mutex<Vec<PathBuf>> = std::sync::Mutex::new(Vec::new());

/// Warns (once per process and file) when the credentials file can be read by its group or by
/// others: it holds the client secret and the refresh token.
fn warn_if_readable_by_others(path: &Path) {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let Ok(meta) = std::fs::metadata(path) else {
            return;
        };
        let mode = meta.permissions().mode() & 0o777;
        if mode & 0o077 == 0 {
            return;
        }
        let mut warned = WARNED.lock().unwrap_or_else(|e| e.into_inner());
        if warned.iter().any(|p| p == path) {
            return;
        }
        warned.push(path.to_path_buf());
        tracing::warn!(
            path = %path.display(),
            mode = format_args!("{mode:04o}"),
            "the credentials file {} is readable by {} (mode {mode:04o}): it holds your client secret and refresh token; run `chmod 600 {}`",
            path.display(),
            if mode & 0o007 != 0 { "others" } else { "its group" },
            path.display()
        );
    }
    #[cfg(not(unix))]
    let _ = path;
}

#[async_trait]
impl CredentialStore for FileCredentials {
    async fn load_versioned(&self) -> Result<Option<Versioned>, StoreError> {
        match std::fs::read_to_string(&self.path) {
            Ok(text) if text.trim().is_empty() => Ok(None),
            Ok(text) => {
                warn_if_readable_by_others(&self.path);
                Ok(Some(Versioned {
                    credentials: Credentials::from_json(&self.describe(), &text)?,
                    version: version_of(&text),
                }))
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(self.unavailable(e)),
        }
    }

    async fn save(&self, credentials: &Credentials) -> Result<(), StoreError> {
        write_atomic(&self.path, credentials.to_json().as_bytes()).map_err(|e| self.unavailable(e))
    }

    /// Compares the file's digest and renames the new one over it under one lock: exact within
    /// this process; another process writing the same file between the two (an owner's command
    /// on the same machine, within microseconds) is the one race a plain file leaves open.
    async fn save_if(&self, credentials: &Credentials, expected: &str) -> Result<Swap, StoreError> {
        let _one = SWAP.lock().unwrap_or_else(|e| e.into_inner());
        let current = match std::fs::read_to_string(&self.path) {
            Ok(text) => version_of(&text),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Swap::Changed),
            Err(e) => return Err(self.unavailable(e)),
        };
        if current != expected {
            return Ok(Swap::Changed);
        }
        let text = credentials.to_json();
        write_atomic(&self.path, text.as_bytes()).map_err(|e| self.unavailable(e))?;
        Ok(Swap::Written(version_of(&text)))
    }

    fn describe(&self) -> String {
        format!("credentials file {}", self.path.display())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::secret::Secret;

    #[tokio::test]
    async fn round_trip_keeps_unknown_fields_and_mode() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("sub").join("credentials.json");
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(
            &path,
            r#"{"client_id":"id","client_secret":"cs","refresh_token":"rt1","authorized_at":"2026-11-23T10:00:00Z","note":"keep me"}"#,
        )
        .unwrap();
        let store = FileCredentials::new(&path);
        let mut c = store.load().await.unwrap().unwrap();
        assert!(c.is_complete());
        c.refresh_token = Some(Secret::new("rt2"));
        store.save(&c).await.unwrap();
        let back: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
        assert_eq!(back["refresh_token"], "rt2");
        assert_eq!(back["note"], "keep me");
        assert_eq!(back["authorized_at"], "2026-11-23T10:00:00Z");
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&path).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        // No temporary files left behind.
        let names: Vec<_> = std::fs::read_dir(path.parent().unwrap())
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(names.len(), 1, "{names:?}");
    }

    #[cfg(unix)]
    #[tokio::test]
    async fn new_folders_are_private() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("a").join("b").join("credentials.json");
        FileCredentials::new(&path)
            .save(&crate::store::Credentials::default())
            .await
            .unwrap();
        let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode(&dir.path().join("a")), 0o700);
        assert_eq!(mode(path.parent().unwrap()), 0o700);
        assert_eq!(mode(&path), 0o600);
    }

    #[tokio::test]
    async fn missing_file_is_none_and_garbage_is_invalid() {
        let dir = tempfile::tempdir().unwrap();
        let store = FileCredentials::new(dir.path().join("nope.json"));
        assert!(store.load().await.unwrap().is_none());
        std::fs::write(dir.path().join("bad.json"), "{not json").unwrap();
        let bad = FileCredentials::new(dir.path().join("bad.json"));
        assert!(matches!(bad.load().await, Err(StoreError::Invalid { .. })));
    }
}
