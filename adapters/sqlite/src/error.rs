use std::path::PathBuf;

/// What went wrong in the SQLite adapter.
///
/// [`SqliteStore::open`](crate::SqliteStore::open) returns it directly. Inside a port call it
/// travels as the source of [`StoreError::Backend`](clinic_ops::store::StoreError::Backend),
/// where a host can `downcast_ref::<SqliteError>()` it.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SqliteError {
    /// The file exists but is not an SQLite database (or its header is corrupt).
    #[error("{} is not a database", .path.display())]
    NotADatabase {
        /// The file.
        path: PathBuf,
    },
    /// SQLite found damaged pages in the file (open succeeded; a read or write hit them).
    #[error("{} is corrupt", .path.display())]
    Corrupt {
        /// The file.
        path: PathBuf,
    },
    /// The file was opened for writing but the operating system only allows reading it, or
    /// a write was attempted through a handle opened with
    /// [`SqliteStore::open_read_only`](crate::SqliteStore::open_read_only).
    #[error("{} is read-only", .path.display())]
    ReadOnly {
        /// The file.
        path: PathBuf,
    },
    /// The database was written by a newer version of this adapter: opening it could
    /// misread rows that an older schema does not know.
    #[error("database schema version {found} is newer than this adapter's {supported}")]
    NewerSchema {
        /// The version recorded in the file.
        found: i64,
        /// The newest version this adapter knows.
        supported: i64,
    },
    /// A read-only handle found a file that still needs a migration.
    #[error(
        "database schema version {found} is older than this adapter's {supported}: open it for writing once to migrate"
    )]
    OutdatedSchema {
        /// The version recorded in the file.
        found: i64,
        /// The version this adapter needs.
        supported: i64,
    },
    /// SQLite would not switch the file to WAL mode (for example on a file system without
    /// shared memory), so concurrent readers and crash safety could not be promised.
    #[error("journal mode stayed {mode}, wal is required")]
    NoWal {
        /// The journal mode SQLite reported.
        mode: String,
    },
    /// Rows that must agree do not (an account row and its postings): the file was edited
    /// outside the adapter or is damaged.
    #[error("stored {what} {key} is inconsistent: {detail}")]
    Inconsistent {
        /// The kind of aggregate.
        what: &'static str,
        /// Its key.
        key: String,
        /// What disagrees.
        detail: String,
    },
    /// A stored row did not decode into its domain type.
    #[error("stored {what} {key} does not decode: {source}")]
    Decode {
        /// The kind of row.
        what: &'static str,
        /// Its key.
        key: String,
        /// Why.
        #[source]
        source: serde_json::Error,
    },
    /// A value did not encode for storage.
    #[error("{what} does not encode: {source}")]
    Encode {
        /// The kind of value.
        what: &'static str,
        /// Why.
        #[source]
        source: serde_json::Error,
    },
    /// A number does not fit SQLite's signed 64-bit integers.
    #[error("{what} {value} is out of range for sqlite")]
    OutOfRange {
        /// Which number.
        what: &'static str,
        /// Its value.
        value: String,
    },
    /// An anonymisation is committed, but another connection still reads a snapshot taken
    /// before it, so the write-ahead log that holds the old page images cannot be truncated
    /// yet. End that read transaction and call
    /// [`SqliteStore::complete_erasure`](crate::SqliteStore::complete_erasure) again (or
    /// just write: the next write on any handle retries).
    #[error("{}: erased data is still in the write-ahead log: another connection reads an older snapshot", .path.display())]
    ErasureBlocked {
        /// The file.
        path: PathBuf,
    },
    /// Any other SQLite failure.
    #[error("sqlite: {0}")]
    Sqlite(#[from] rusqlite::Error),
}
