//! The schema and its migrations, recorded in `PRAGMA user_version`.

use rusqlite::{Connection, TransactionBehavior};

use crate::SqliteError;

/// The migrations, in order: migration `i` takes the schema from version `i` to `i + 1`.
///
/// Append only: a released migration is never edited, because files in the field already
/// ran it. A port added later adds its tables as a new migration in the same change.
const MIGRATIONS: &[&str] = &[
    // 1: patients. The current state as JSON; mobile and resident id as columns so that
    // their UNIQUE indexes, not a read-then-write check, keep them unique. NULL (anonymised,
    // or no resident id) is never a duplicate.
    "CREATE TABLE patients (
        id          INTEGER PRIMARY KEY,
        version     INTEGER NOT NULL CHECK (version >= 1),
        mobile      TEXT UNIQUE,
        resident_id TEXT UNIQUE,
        state       TEXT NOT NULL
    ) STRICT;",
];

/// The schema version this build writes.
pub(crate) const LATEST: i64 = MIGRATIONS.len() as i64;

/// Brings the schema up to [`LATEST`], or refuses a newer one.
///
/// The check and the migrations run in one `BEGIN IMMEDIATE` transaction, so two processes
/// opening a fresh file at once migrate it exactly once.
pub(crate) fn migrate(conn: &mut Connection) -> Result<(), SqliteError> {
    let found = user_version(conn)?;
    if found == LATEST {
        return Ok(());
    }
    check_not_newer(found)?;
    let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
    let found: i64 = tx.query_row("PRAGMA user_version", [], |r| r.get(0))?;
    check_not_newer(found)?;
    let start = usize::try_from(found).unwrap_or(0);
    for sql in MIGRATIONS.iter().skip(start) {
        tx.execute_batch(sql)?;
    }
    tx.pragma_update(None, "user_version", LATEST)?;
    tx.commit()?;
    Ok(())
}

/// The schema version recorded in the file.
pub(crate) fn user_version(conn: &Connection) -> Result<i64, SqliteError> {
    Ok(conn.query_row("PRAGMA user_version", [], |r| r.get(0))?)
}

pub(crate) fn check_not_newer(found: i64) -> Result<(), SqliteError> {
    if found > LATEST {
        return Err(SqliteError::NewerSchema {
            found,
            supported: LATEST,
        });
    }
    Ok(())
}
