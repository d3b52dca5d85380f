//! The history in a SQLite file (`serve` and the owner's commands on a laptop): created on first
//! use (mode 0600 on Unix: it is the owner's data), in WAL mode so a `collect` run and a
//! `serve` can share it, with a `schema_version` table. Plays are a `WITHOUT ROWID` table whose
//! primary key is `(played_at, key)`, plus an index on `(source, played_at)` for
//! [`HistoryStore::newest`]; every query is a search of one of them, never a scan.

use std::num::NonZeroUsize;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use rusqlite::{params, Connection, OptionalExtension};

use super::{validate_all, AddOutcome, Cursor, HistoryStore, Page, Play, PlayKind, PlaySource};
use crate::clock::Timestamp;
use crate::store::StoreError;

/// The schema this version writes; `migrate` brings an older file up to it.
pub const SCHEMA_VERSION: i64 = 1;

/// How long a write waits for another process's transaction before failing.
const BUSY_TIMEOUT: Duration = Duration::from_secs(5);

/// The migrations, in order: `MIGRATIONS[i]` takes a file from version `i` to `i + 1`.
const MIGRATIONS: &[&str] = &["CREATE TABLE plays (
        played_at INTEGER NOT NULL,
        key TEXT NOT NULL,
        name TEXT NOT NULL,
        artists TEXT NOT NULL,
        album TEXT NOT NULL,
        album_image TEXT,
        song_url TEXT,
        track_id TEXT,
        kind TEXT NOT NULL,
        ms_played INTEGER,
        short INTEGER NOT NULL,
        source TEXT NOT NULL,
        PRIMARY KEY (played_at, key)
    ) WITHOUT ROWID;
    CREATE INDEX plays_by_source ON plays (source, played_at);"];

/// The history in a SQLite file at a path; the file is opened (and created) by the first call.
pub struct SqliteHistory {
    path: PathBuf,
    conn: Arc<Mutex<Option<Connection>>>,
}

impl std::fmt::Debug for SqliteHistory {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SqliteHistory")
            .field("path", &self.path)
            .finish()
    }
}

impl SqliteHistory {
    /// The history in the file at `path`; nothing is opened or created before the first call.
    pub fn new(path: impl Into<PathBuf>) -> SqliteHistory {
        SqliteHistory {
            path: path.into(),
            conn: Arc::new(Mutex::new(None)),
        }
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Runs `f` on the connection (opened first when needed) on a blocking thread.
    async fn with<T, F>(&self, f: F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: FnOnce(&mut Connection) -> rusqlite::Result<T> + Send + 'static,
    {
        let (conn, path, store) = (self.conn.clone(), self.path.clone(), self.describe());
        let store2 = store.clone();
        tokio::task::spawn_blocking(move || {
            let mut guard = conn.lock().unwrap_or_else(|p| p.into_inner());
            if guard.is_none() {
                *guard = Some(open(&path, &store)?);
            }
            let c = guard.as_mut().expect("opened above");
            f(c).map_err(|e| unavailable(&store, e))
        })
        .await
        .map_err(|e| StoreError::Unavailable {
            store: store2,
            reason: format!("the database task failed ({e})"),
        })?
    }
}

fn unavailable(store: &str, e: rusqlite::Error) -> StoreError {
    StoreError::Unavailable {
        store: store.to_string(),
        reason: e.to_string(),
    }
}

/// Opens the file (creating it and its folder), turns on WAL and brings the schema up to date.
fn open(path: &Path, store: &str) -> Result<Connection, StoreError> {
    let invalid = |reason: String| StoreError::Invalid {
        store: store.to_string(),
        reason,
    };
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).map_err(|e| StoreError::Unavailable {
            store: store.to_string(),
            reason: format!("cannot create {} ({e})", dir.display()),
        })?;
    }
    let existed = path.exists();
    let mut conn = Connection::open(path).map_err(|e| unavailable(store, e))?;
    #[cfg(unix)]
    if !existed {
        use std::os::unix::fs::PermissionsExt;
        let _ = std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600));
    }
    #[cfg(not(unix))]
    let _ = existed;
    conn.busy_timeout(BUSY_TIMEOUT)
        .map_err(|e| unavailable(store, e))?;
    let mode: String = retry_busy(|| conn.query_row("PRAGMA journal_mode = WAL", [], |r| r.get(0)))
        .map_err(|e| {
            if e.sqlite_error_code() == Some(rusqlite::ErrorCode::NotADatabase) {
                invalid(format!("not a SQLite database ({e})"))
            } else {
                unavailable(store, e)
            }
        })?;
    if !mode.eq_ignore_ascii_case("wal") {
        return Err(invalid(format!("cannot use WAL (journal mode {mode})")));
    }
    retry_migrate(&mut conn).map_err(|e| match e {
        Migrate::Sql(e) => unavailable(store, e),
        Migrate::Newer(v) => invalid(format!(
            "schema version {v} was written by a newer nowplaying (this one knows {SCHEMA_VERSION})"
        )),
    })?;
    Ok(conn)
}

/// Whether `e` is another connection's lock.
fn is_busy(e: &rusqlite::Error) -> bool {
    matches!(
        e.sqlite_error_code(),
        Some(rusqlite::ErrorCode::DatabaseBusy | rusqlite::ErrorCode::DatabaseLocked)
    )
}

/// Runs `f` again, for up to [`BUSY_TIMEOUT`], while another connection holds a lock that
/// SQLite's busy handler does not wait for: two handles opening a new file at once race to turn
/// on WAL and to create the schema, and the loser gets `SQLITE_BUSY` at once.
fn retry_busy<T>(mut f: impl FnMut() -> rusqlite::Result<T>) -> rusqlite::Result<T> {
    let deadline = std::time::Instant::now() + BUSY_TIMEOUT;
    loop {
        match f() {
            Err(e) if is_busy(&e) && std::time::Instant::now() < deadline => {
                std::thread::sleep(Duration::from_millis(20));
            }
            result => return result,
        }
    }
}

/// [`migrate`], again while another opener holds the lock (see [`retry_busy`]).
fn retry_migrate(conn: &mut Connection) -> Result<(), Migrate> {
    let deadline = std::time::Instant::now() + BUSY_TIMEOUT;
    loop {
        match migrate(conn) {
            Err(Migrate::Sql(e)) if is_busy(&e) && std::time::Instant::now() < deadline => {
                std::thread::sleep(Duration::from_millis(20));
            }
            result => return result,
        }
    }
}

enum Migrate {
    Sql(rusqlite::Error),
    Newer(i64),
}

impl From<rusqlite::Error> for Migrate {
    fn from(e: rusqlite::Error) -> Migrate {
        Migrate::Sql(e)
    }
}

/// Applies the migrations the file lacks, in one transaction.
fn migrate(conn: &mut Connection) -> Result<(), Migrate> {
    let tx = conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
    tx.execute_batch("CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL)")?;
    let current: Option<i64> = tx
        .query_row("SELECT max(version) FROM schema_version", [], |r| r.get(0))
        .optional()?
        .flatten();
    let current = current.unwrap_or(0);
    if current > SCHEMA_VERSION {
        return Err(Migrate::Newer(current));
    }
    for (i, sql) in MIGRATIONS.iter().enumerate().skip(current as usize) {
        tx.execute_batch(sql)?;
        tx.execute("DELETE FROM schema_version", [])?;
        tx.execute(
            "INSERT INTO schema_version (version) VALUES (?1)",
            [i as i64 + 1],
        )?;
    }
    tx.commit()?;
    Ok(())
}

/// A stored time as SQLite's integer (a [`Timestamp`] is at most [`super::LATEST`]).
fn millis(t: Timestamp) -> i64 {
    i64::try_from(t.as_millis()).unwrap_or(i64::MAX)
}

const COLUMNS: &str = "played_at, key, name, artists, album, album_image, song_url, track_id, \
                       kind, ms_played, short, source";

fn row_to_play(r: &rusqlite::Row<'_>) -> rusqlite::Result<Play> {
    let text = |i: usize, what: &str, v: String| {
        rusqlite::Error::FromSqlConversionFailure(
            i,
            rusqlite::types::Type::Text,
            format!("unknown {what} {v:?}").into(),
        )
    };
    let kind: String = r.get(8)?;
    let source: String = r.get(11)?;
    let ms: Option<i64> = r.get(9)?;
    Ok(Play {
        played_at: Timestamp::from_millis(r.get::<_, i64>(0)?.max(0) as u64),
        key: r.get(1)?,
        name: r.get(2)?,
        artists: r.get(3)?,
        album: r.get(4)?,
        album_image: r.get(5)?,
        song_url: r.get(6)?,
        track_id: r.get(7)?,
        kind: PlayKind::parse(&kind).ok_or_else(|| text(8, "kind", kind.clone()))?,
        ms_played: ms.map(|ms| Duration::from_millis(ms.max(0) as u64)),
        short: r.get::<_, i64>(10)? != 0,
        source: PlaySource::parse(&source).ok_or_else(|| text(11, "source", source.clone()))?,
    })
}

#[async_trait]
impl HistoryStore for SqliteHistory {
    async fn add(&self, plays: &[Play]) -> Result<AddOutcome, StoreError> {
        validate_all(&self.describe(), plays)?;
        let plays = plays.to_vec();
        self.with(move |conn| {
            let tx = conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
            let mut outcome = AddOutcome::default();
            {
                let mut insert = tx.prepare_cached(&format!(
                    "INSERT OR IGNORE INTO plays ({COLUMNS}) \
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12)"
                ))?;
                for p in &plays {
                    let ms = p
                        .ms_played
                        .map(|d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX));
                    let n = insert.execute(params![
                        millis(p.played_at),
                        p.key,
                        p.name,
                        p.artists,
                        p.album,
                        p.album_image,
                        p.song_url,
                        p.track_id,
                        p.kind.as_str(),
                        ms,
                        p.short as i64,
                        p.source.as_str(),
                    ])?;
                    if n == 1 {
                        outcome.new += 1;
                    } else {
                        outcome.already += 1;
                    }
                }
            }
            tx.commit()?;
            Ok(outcome)
        })
        .await
    }

    async fn range(
        &self,
        from: Timestamp,
        to: Timestamp,
        limit: NonZeroUsize,
        cursor: Option<&Cursor>,
    ) -> Result<Page, StoreError> {
        if from >= to {
            return Ok(Page::default());
        }
        let cursor = cursor.cloned();
        let want = limit.get() + 1;
        let mut plays = self
            .with(move |conn| {
                let (sql, rows) = match &cursor {
                    None => (
                        format!(
                            "SELECT {COLUMNS} FROM plays WHERE played_at >= ?1 AND played_at < ?2 \
                             ORDER BY played_at DESC, key DESC LIMIT ?3"
                        ),
                        vec![
                            rusqlite::types::Value::from(millis(from)),
                            millis(to).into(),
                            (want as i64).into(),
                        ],
                    ),
                    Some(c) => (
                        format!(
                            "SELECT {COLUMNS} FROM plays WHERE played_at >= ?1 AND played_at < ?2 \
                             AND (played_at, key) < (?4, ?5) \
                             ORDER BY played_at DESC, key DESC LIMIT ?3"
                        ),
                        vec![
                            rusqlite::types::Value::from(millis(from)),
                            millis(to).into(),
                            (want as i64).into(),
                            millis(c.played_at).into(),
                            c.key.clone().into(),
                        ],
                    ),
                };
                let mut stmt = conn.prepare_cached(&sql)?;
                let plays = stmt
                    .query_map(rusqlite::params_from_iter(rows), row_to_play)?
                    .collect::<rusqlite::Result<Vec<Play>>>()?;
                Ok(plays)
            })
            .await?;
        let next = if plays.len() > limit.get() {
            plays.truncate(limit.get());
            plays.last().map(Cursor::after)
        } else {
            None
        };
        Ok(Page { plays, next })
    }

    async fn newest(&self, source: PlaySource) -> Result<Option<Timestamp>, StoreError> {
        self.with(move |conn| {
            let at: Option<i64> = conn
                .prepare_cached("SELECT max(played_at) FROM plays WHERE source = ?1")?
                .query_row([source.as_str()], |r| r.get(0))?;
            Ok(at.map(|ms| Timestamp::from_millis(ms.max(0) as u64)))
        })
        .await
    }

    async fn forget(&self, before: Option<Timestamp>) -> Result<u64, StoreError> {
        self.with(move |conn| {
            let n = match before {
                None => conn.execute("DELETE FROM plays", [])?,
                Some(b) => conn.execute("DELETE FROM plays WHERE played_at < ?1", [millis(b)])?,
            };
            Ok(n as u64)
        })
        .await
    }

    fn describe(&self) -> String {
        format!("the history file {}", self.path.display())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn plan(conn: &Connection, sql: &str) -> String {
        let mut stmt = conn.prepare(&format!("EXPLAIN QUERY PLAN {sql}")).unwrap();
        let rows = stmt
            .query_map([], |r| r.get::<_, String>(3))
            .unwrap()
            .collect::<rusqlite::Result<Vec<_>>>()
            .unwrap();
        rows.join("; ")
    }

    #[tokio::test]
    async fn the_file_is_created_on_first_use_in_wal_mode_at_the_schema_version() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("sub/history.sqlite3");
        let store = SqliteHistory::new(&path);
        assert!(!path.exists(), "nothing is created before the first call");
        assert_eq!(store.newest(PlaySource::Spotify).await.unwrap(), None);
        assert!(path.exists());
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&path).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600, "{mode:o}");
        }
        let conn = Connection::open(&path).unwrap();
        let mode: String = conn
            .query_row("PRAGMA journal_mode", [], |r| r.get(0))
            .unwrap();
        assert_eq!(mode, "wal");
        let version: i64 = conn
            .query_row("SELECT version FROM schema_version", [], |r| r.get(0))
            .unwrap();
        assert_eq!(version, SCHEMA_VERSION);
        // Opening again keeps one version row.
        drop(store);
        SqliteHistory::new(&path)
            .forget(Some(Timestamp::EPOCH))
            .await
            .unwrap();
        let rows: i64 = conn
            .query_row("SELECT count(*) FROM schema_version", [], |r| r.get(0))
            .unwrap();
        assert_eq!(rows, 1);
    }

    #[tokio::test]
    async fn a_file_from_a_newer_version_or_not_sqlite_is_refused_with_its_reason() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("history.sqlite3");
        {
            let conn = Connection::open(&path).unwrap();
            conn.execute_batch(
                "CREATE TABLE schema_version (version INTEGER NOT NULL);
                 INSERT INTO schema_version VALUES (99);",
            )
            .unwrap();
        }
        let err = SqliteHistory::new(&path)
            .newest(PlaySource::Export)
            .await
            .unwrap_err();
        assert!(matches!(err, StoreError::Invalid { .. }), "{err}");
        assert!(err.to_string().contains("schema version 99"), "{err}");
        assert!(err.to_string().contains("history.sqlite3"), "{err}");

        let junk = dir.path().join("junk.sqlite3");
        std::fs::write(&junk, vec![b'x'; 4096]).unwrap();
        let err = SqliteHistory::new(&junk)
            .newest(PlaySource::Export)
            .await
            .unwrap_err();
        assert!(err.to_string().contains("junk.sqlite3"), "{err}");
    }

    #[test]
    fn every_query_searches_an_index_and_none_scans_the_table() {
        let dir = tempfile::tempdir().unwrap();
        let conn = open(&dir.path().join("h.sqlite3"), "test").unwrap();
        for sql in [
            format!(
                "SELECT {COLUMNS} FROM plays WHERE played_at >= 1 AND played_at < 2 \
                 ORDER BY played_at DESC, key DESC LIMIT 3"
            ),
            format!(
                "SELECT {COLUMNS} FROM plays WHERE played_at >= 1 AND played_at < 2 \
                 AND (played_at, key) < (2, 'k') ORDER BY played_at DESC, key DESC LIMIT 3"
            ),
            "SELECT max(played_at) FROM plays WHERE source = 'spotify'".to_string(),
            "DELETE FROM plays WHERE played_at < 5".to_string(),
        ] {
            let plan = plan(&conn, &sql);
            assert!(plan.contains("SEARCH"), "{sql}: {plan}");
            assert!(!plan.contains("SCAN"), "{sql}: {plan}");
            assert!(!plan.contains("TEMP B-TREE"), "no sort: {sql}: {plan}");
        }
    }
}
