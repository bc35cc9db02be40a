use std::cell::RefCell;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use clinic_ops::id::PatientId;
use clinic_ops::store::{StoreError, Version, Versioned};
use rusqlite::{Connection, ErrorCode, MAIN_DB, OpenFlags, OptionalExtension, TransactionBehavior};

use crate::ledger::LedgerCache;
use crate::{SqliteError, schema};

/// How long a connection waits for another writer's lock before giving up with
/// [`StoreError::Backend`]. Commits are short, so this is only reached when something
/// holds the database far longer than a commit.
pub(crate) const BUSY_TIMEOUT: Duration = Duration::from_secs(10);
/// The pause between two attempts to switch a fresh file to WAL mode.
const WAL_RETRY_PAUSE: Duration = Duration::from_millis(5);

/// What a commit that returned `Ok` survives: SQLite's `synchronous` setting in WAL mode.
///
/// Neither setting can corrupt the database or leave half a commit: the difference is only
/// whether the last commits before a power cut or an operating-system crash may be rolled
/// back. A killed process (SIGKILL, a panic, an OOM kill) loses nothing under either.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum Durability {
    /// `synchronous = FULL`: each commit waits for the write-ahead log to reach the disk
    /// (one `fsync`), so it survives a power cut. The default, because points and
    /// consents are promises made to patients.
    #[default]
    PowerSafe,
    /// `synchronous = NORMAL`: the log is synced at checkpoints, not at each commit. A
    /// commit survives the death of the process but may be rolled back by a power cut or
    /// an OS crash. Several times faster on a disk with slow `fsync`; fine for imports and
    /// for hosts that can replay their last requests.
    ProcessSafe,
}

impl Durability {
    fn pragma(self) -> &'static str {
        match self {
            Durability::PowerSafe => "FULL",
            Durability::ProcessSafe => "NORMAL",
        }
    }
}

/// Whether a write transaction anonymises a patient.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Erases {
    /// It does: truncate the write-ahead log after it.
    Yes,
    /// It does not.
    No,
}

impl Erases {
    pub(crate) fn when(yes: bool) -> Self {
        if yes { Erases::Yes } else { Erases::No }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mode {
    ReadWrite,
    ReadOnly,
}

/// A connection to one SQLite database file, implementing every storage port of
/// `clinic-ops`.
///
/// One handle is one connection: it is [`Send`] but not [`Sync`]. For another thread or
/// another process, open the same path again ([`SqliteStore::reopen`], or
/// [`SqliteStore::open`] in the other process); SQLite's file locks and the adapter's
/// `BEGIN IMMEDIATE` transactions serialise the writers, and the optimistic versions turn a
/// lost race into [`StoreError::Conflict`].
///
/// Every handle runs in WAL mode with `synchronous = FULL` (a commit that returned `Ok` is
/// on disk, even across a power cut; see [`Durability`] for the faster setting),
/// `secure_delete = ON` (bytes freed by a rewrite are zeroed, not left in the page or in
/// free pages) and a busy timeout of 10 s. An anonymising commit also truncates the
/// write-ahead log, which still holds the old page images: see
/// [`SqliteStore::complete_erasure`] for when that has to wait for other connections.
///
/// A handle keeps the points postings it has read or written, per account (up to 100,000
/// postings in all): ledger rows are never edited, so a later `load` only reads and decodes
/// the appends made since. Replacing the database file under an open handle (restoring a
/// backup) is not detected by that cache: reopen the handles, or call
/// [`SqliteStore::clear_cache`], after a restore.
#[derive(Debug)]
pub struct SqliteStore {
    pub(crate) conn: Connection,
    path: PathBuf,
    mode: Mode,
    durability: Durability,
    pub(crate) ledger_cache: RefCell<LedgerCache>,
}

impl SqliteStore {
    /// Opens (creating if missing) the database at `path` for reading and writing, turns on
    /// WAL mode and brings the schema up to date.
    ///
    /// # Errors
    ///
    /// [`SqliteError::NotADatabase`] when the file is something else;
    /// [`SqliteError::ReadOnly`] when the operating system will not let us write it;
    /// [`SqliteError::NewerSchema`] when a newer adapter wrote it;
    /// [`SqliteError::Sqlite`] for anything else (a missing directory, a lock held past
    /// the busy timeout).
    pub fn open(path: impl AsRef<Path>) -> Result<Self, SqliteError> {
        Self::open_mode(path.as_ref(), Mode::ReadWrite, Durability::default())
    }

    /// As [`SqliteStore::open`], with a chosen [`Durability`] for this handle's commits.
    ///
    /// # Errors
    ///
    /// As [`SqliteStore::open`].
    pub fn open_with(path: impl AsRef<Path>, durability: Durability) -> Result<Self, SqliteError> {
        Self::open_mode(path.as_ref(), Mode::ReadWrite, durability)
    }

    /// Opens an existing database for reading only: every `commit` fails with
    /// [`SqliteError::ReadOnly`] inside [`StoreError::Backend`], and the file is never
    /// migrated or written.
    ///
    /// # Errors
    ///
    /// As [`SqliteStore::open`], and [`SqliteError::OutdatedSchema`] when the file needs a
    /// migration (open it once for writing to migrate it).
    pub fn open_read_only(path: impl AsRef<Path>) -> Result<Self, SqliteError> {
        Self::open_mode(path.as_ref(), Mode::ReadOnly, Durability::default())
    }

    /// A new connection to the same file, in the same mode and with the same durability:
    /// the handle to give another thread.
    ///
    /// # Errors
    ///
    /// As [`SqliteStore::open`].
    pub fn reopen(&self) -> Result<Self, SqliteError> {
        Self::open_mode(&self.path, self.mode, self.durability)
    }

    /// The path this handle was opened with.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Whether this handle only reads.
    pub fn is_read_only(&self) -> bool {
        self.mode == Mode::ReadOnly
    }

    /// The schema version recorded in the file (`PRAGMA user_version`).
    ///
    /// # Errors
    ///
    /// [`SqliteError::Sqlite`] when the query fails.
    pub fn schema_version(&self) -> Result<i64, SqliteError> {
        schema::user_version(&self.conn)
    }

    /// The newest schema version this build of the adapter knows and writes.
    pub const LATEST_SCHEMA_VERSION: i64 = schema::LATEST;

    /// Forgets the points postings this handle keeps decoded, so the next `load` of each
    /// account reads and decodes all its rows again. Needed only if the file was replaced
    /// under the handle (a backup restored).
    pub fn clear_cache(&self) {
        *self.ledger_cache.borrow_mut() = LedgerCache::default();
    }

    /// This handle's durability.
    pub fn durability(&self) -> Durability {
        self.durability
    }

    fn open_mode(path: &Path, mode: Mode, durability: Durability) -> Result<Self, SqliteError> {
        let flags = match mode {
            Mode::ReadWrite => OpenFlags::default(),
            Mode::ReadOnly => {
                OpenFlags::SQLITE_OPEN_READ_ONLY
                    | OpenFlags::SQLITE_OPEN_URI
                    | OpenFlags::SQLITE_OPEN_NO_MUTEX
            }
        };
        let conn =
            Connection::open_with_flags(path, flags).map_err(|e| classify(e.into(), path))?;
        let mut store = SqliteStore {
            conn,
            path: path.to_path_buf(),
            mode,
            durability,
            ledger_cache: RefCell::default(),
        };
        store.configure().map_err(|e| classify(e, path))?;
        Ok(store)
    }

    fn configure(&mut self) -> Result<(), SqliteError> {
        let conn = &mut self.conn;
        conn.busy_timeout(BUSY_TIMEOUT)?;
        // The first statement reads the header: a file that is not a database fails here.
        let found = schema::user_version(conn)?;
        schema::check_not_newer(found)?;
        conn.execute_batch("PRAGMA foreign_keys = ON; PRAGMA secure_delete = ON;")?;
        conn.pragma_update(None, "synchronous", self.durability.pragma())?;
        match self.mode {
            Mode::ReadOnly => {
                if found < schema::LATEST {
                    return Err(SqliteError::OutdatedSchema {
                        found,
                        supported: schema::LATEST,
                    });
                }
            }
            Mode::ReadWrite => {
                // SQLite quietly falls back to read-only when the OS refuses writes: refuse
                // now rather than fail at the first commit.
                if conn.is_readonly(MAIN_DB)? {
                    return Err(SqliteError::ReadOnly {
                        path: self.path.clone(),
                    });
                }
                enable_wal(conn)?;
                schema::migrate(conn)?;
                // Finish an erasure a crashed or blocked handle left unfinished. Best effort:
                // a page that cannot be read fails the first port call that needs it, with a
                // typed error, and every write checks again.
                if let Ok(generation) = crate::erasure::pending(conn) {
                    self.after_write(generation, Duration::ZERO);
                }
            }
        }
        Ok(())
    }

    /// Runs `f` in one `BEGIN IMMEDIATE` transaction and commits it if `f` returns `Ok`.
    /// Taking the write lock up front means the versions `f` reads cannot change before it
    /// writes, and a second writer waits (busy timeout) instead of failing mid-transaction.
    pub(crate) fn write<T>(
        &mut self,
        f: impl FnOnce(&rusqlite::Transaction<'_>) -> Result<T, StoreError>,
    ) -> Result<T, StoreError> {
        self.write_erasing(Erases::No, f)
    }

    /// As [`SqliteStore::write`]; with [`Erases::Yes`] the transaction also records that
    /// the write-ahead log must be truncated, and the handle then truncates it, waiting up
    /// to [`ERASURE_WAIT`](crate::erasure::ERASURE_WAIT) for readers of older snapshots.
    /// Every write finishes an erasure still pending (see [`crate::erasure`]).
    pub(crate) fn write_erasing<T>(
        &mut self,
        erases: Erases,
        f: impl FnOnce(&rusqlite::Transaction<'_>) -> Result<T, StoreError>,
    ) -> Result<T, StoreError> {
        if self.mode == Mode::ReadOnly {
            return Err(StoreError::backend(SqliteError::ReadOnly {
                path: self.path.clone(),
            }));
        }
        let path = self.path.clone();
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(|e| db_at(e, &path))?;
        let out = f(&tx)?;
        let wait = match erases {
            Erases::Yes => {
                crate::erasure::mark(&tx).map_err(|e| db_at(e, &path))?;
                crate::erasure::ERASURE_WAIT
            }
            Erases::No => Duration::ZERO,
        };
        let generation = crate::erasure::pending(&tx).map_err(|e| db_at(e, &path))?;
        tx.commit().map_err(|e| db_at(e, &path))?;
        self.after_write(generation, wait);
        Ok(out)
    }

    pub(crate) fn read_err(&self, e: rusqlite::Error) -> StoreError {
        db_at(e, &self.path)
    }
}

/// Gives SQLite's error codes that a host can act on their own variants.
fn classify(e: SqliteError, path: &Path) -> SqliteError {
    match e {
        SqliteError::Sqlite(rusqlite::Error::SqliteFailure(f, _)) => match f.code {
            ErrorCode::NotADatabase => SqliteError::NotADatabase {
                path: path.to_path_buf(),
            },
            ErrorCode::ReadOnly => SqliteError::ReadOnly {
                path: path.to_path_buf(),
            },
            ErrorCode::DatabaseCorrupt => SqliteError::Corrupt {
                path: path.to_path_buf(),
            },
            _ => SqliteError::Sqlite(rusqlite::Error::SqliteFailure(f, None)),
        },
        other => other,
    }
}

/// A rusqlite error inside a port call.
pub(crate) fn db_at(e: rusqlite::Error, path: &Path) -> StoreError {
    StoreError::backend(classify(SqliteError::Sqlite(e), path))
}

/// A u64 key or version as an SQLite integer.
pub(crate) fn int(what: &'static str, v: u64) -> Result<i64, StoreError> {
    i64::try_from(v).map_err(|_| {
        StoreError::backend(SqliteError::OutOfRange {
            what,
            value: v.to_string(),
        })
    })
}

/// A stored integer as a u64 (a key or a version).
pub(crate) fn uint(what: &'static str, v: i64) -> Result<u64, StoreError> {
    u64::try_from(v).map_err(|_| {
        StoreError::backend(SqliteError::OutOfRange {
            what,
            value: v.to_string(),
        })
    })
}

/// A stored version.
pub(crate) fn version(v: i64) -> Result<Version, StoreError> {
    uint("version", v).map(Version::new)
}

/// Why a value did not encode as JSON for a state column.
pub(crate) fn encode_err(what: &'static str) -> impl Fn(serde_json::Error) -> StoreError {
    move |source| StoreError::backend(SqliteError::Encode { what, source })
}

/// Why a JSON state column did not decode.
pub(crate) fn decode_err(
    what: &'static str,
    key: impl std::fmt::Display,
) -> impl FnOnce(serde_json::Error) -> StoreError {
    move |source| {
        StoreError::backend(SqliteError::Decode {
            what,
            key: key.to_string(),
            source,
        })
    }
}

/// Decodes one snapshot row, `(version, JSON state)`, of the aggregate `what` keyed by `key`.
pub(crate) fn snapshot<T: serde::de::DeserializeOwned>(
    what: &'static str,
    key: impl std::fmt::Display,
    v: i64,
    state: &str,
) -> Result<Versioned<T>, StoreError> {
    Ok(Versioned {
        value: serde_json::from_str(state).map_err(decode_err(what, key))?,
        version: version(v)?,
    })
}

/// Loads and decodes the snapshot row that `sql` (selecting `version, state` by one integer
/// key) finds, on a connection or inside a write transaction. Every snapshot-style port
/// (patients, referral bindings, follow-up histories) reads its rows through this one path.
pub(crate) fn load_snapshot<T: serde::de::DeserializeOwned>(
    conn: &Connection,
    sql: &str,
    key: i64,
    what: &'static str,
    id: impl std::fmt::Display,
    err: impl FnOnce(rusqlite::Error) -> StoreError,
) -> Result<Option<Versioned<T>>, StoreError> {
    let found: Option<(i64, String)> = conn
        .prepare_cached(sql)
        .and_then(|mut s| {
            s.query_row([key], |r| Ok((r.get(0)?, r.get(1)?)))
                .optional()
        })
        .map_err(err)?;
    found.map(|(v, s)| snapshot(what, id, v, &s)).transpose()
}

/// The one write path of the event-sourced snapshot ports (follow-up histories, contact logs,
/// rosters, appointment books, complaints): inside the caller's transaction, loads the row
/// with `get`, stages `events` on it with the core's `stage` function, and writes the new state
/// and version with `upsert` (`?1` key, `?2` version, `?3` state). An empty commit on an
/// existing row answers its version; on a missing row with an expected version, `NotFound`.
#[allow(clippy::too_many_arguments)]
pub(crate) fn commit_snapshot<T, E, I>(
    conn: &Connection,
    get: &str,
    upsert: &str,
    key: i64,
    what: &'static str,
    id: I,
    expected: Option<Version>,
    events: &[E],
    stage: impl FnOnce(
        I,
        Option<Versioned<T>>,
        Option<Version>,
        &[E],
    ) -> Result<Option<Versioned<T>>, StoreError>,
    err: &impl Fn(rusqlite::Error) -> StoreError,
) -> Result<Version, StoreError>
where
    T: serde::Serialize + serde::de::DeserializeOwned,
    I: std::fmt::Display + Copy,
{
    let current = load_snapshot(conn, get, key, what, id, err)?;
    let Some(staged) = stage(id, current, expected, events)? else {
        return expected.ok_or(StoreError::NotFound {
            what,
            key: id.to_string(),
        });
    };
    let state = serde_json::to_string(&staged.value).map_err(encode_err(what))?;
    let v = int("version", staged.version.get())?;
    conn.prepare_cached(upsert)
        .and_then(|mut s| s.execute(rusqlite::params![key, v, state]))
        .map_err(err)?;
    Ok(staged.version)
}

impl SqliteStore {
    /// Runs `sql` (selecting `key, version, state` rows) and decodes every row: the one read
    /// path of the snapshot ports' scans and listings.
    pub(crate) fn query_snapshots<T: serde::de::DeserializeOwned>(
        &self,
        sql: &str,
        params: impl rusqlite::Params,
        what: &'static str,
    ) -> Result<Vec<Versioned<T>>, StoreError> {
        let rows: Vec<(i64, i64, String)> = self
            .conn
            .prepare_cached(sql)
            .and_then(|mut s| {
                s.query_map(params, |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))?
                    .collect()
            })
            .map_err(|e| self.read_err(e))?;
        rows.into_iter()
            .map(|(k, v, state)| snapshot(what, PatientId::new(uint("patient id", k)?), v, &state))
            .collect()
    }

    /// A page of a snapshot port's scan: `sql` takes the exclusive lower key and the limit.
    pub(crate) fn scan_snapshots<T: serde::de::DeserializeOwned>(
        &self,
        sql: &str,
        after: Option<PatientId>,
        limit: usize,
        what: &'static str,
    ) -> Result<Vec<Versioned<T>>, StoreError> {
        let after = match after {
            Some(a) => int("patient id", a.get())?,
            None => -1,
        };
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        self.query_snapshots(sql, [after, limit], what)
    }
}

/// The constraint a unique-index violation names ("patients.mobile"), if it is one.
pub(crate) fn unique_violation(e: &rusqlite::Error) -> Option<&str> {
    match e {
        rusqlite::Error::SqliteFailure(f, Some(msg))
            if f.extended_code == rusqlite::ffi::SQLITE_CONSTRAINT_UNIQUE
                || f.extended_code == rusqlite::ffi::SQLITE_CONSTRAINT_PRIMARYKEY =>
        {
            msg.strip_prefix("UNIQUE constraint failed: ")
        }
        _ => None,
    }
}

/// Switches the file to WAL mode, or checks that it already is.
///
/// Changing the journal mode needs an exclusive lock, and SQLite answers `SQLITE_BUSY` at
/// once rather than calling the busy handler when another connection holds any lock: that
/// happens when several connections open a brand-new file together. So the switch is
/// retried, with a short sleep, until it succeeds or the busy timeout has passed. A file
/// already in WAL mode answers without taking the lock.
fn enable_wal(conn: &Connection) -> Result<(), SqliteError> {
    let start = Instant::now();
    loop {
        match conn.query_row("PRAGMA journal_mode = WAL", [], |r| r.get::<_, String>(0)) {
            Ok(mode) if mode.eq_ignore_ascii_case("wal") => return Ok(()),
            Ok(mode) => return Err(SqliteError::NoWal { mode }),
            Err(e)
                if e.sqlite_error_code() == Some(ErrorCode::DatabaseBusy)
                    && start.elapsed() < BUSY_TIMEOUT =>
            {
                std::thread::sleep(WAL_RETRY_PAUSE);
            }
            Err(e) => return Err(e.into()),
        }
    }
}
