//! Erasure on SQLite: every personal-data port behind one handle, and the rule that makes
//! an anonymising commit leave no old byte in any file of the database.
//!
//! # Why a commit alone is not enough
//!
//! `secure_delete = ON` zeroes the bytes a rewrite frees in the page it writes, and
//! free pages too, so the new image of a page is clean. But in WAL mode every commit
//! appends whole page images to the `-wal` file, and the images written before the erasure
//! stay there: a checkpoint copies pages into the main file without clearing the log, and
//! a later commit overwrites the log from its start without shortening it. Only when the
//! last connection closes does SQLite delete the log.
//!
//! # The rule
//!
//! 1. A commit whose events anonymise (`PatientEvent::Anonymised`,
//!    `FollowUpEvent::Anonymised`, the `PatientErased` events of appointment books,
//!    complaints and outreach rosters, the erasure of a patient's purchase categories, of
//!    their feedback comments, of their contact log and of their group events)
//!    bumps a row of the `erasure_pending` table in the same
//!    transaction, so the erasure and the duty to finish it commit together.
//! 2. After every write transaction that saw that row (on any handle, in any process), and
//!    when a handle opens the file for writing, the handle runs
//!    `PRAGMA wal_checkpoint(TRUNCATE)`: every frame is copied into the main file and the
//!    log is cut to zero bytes. Only if that succeeded does it delete the row, and only if
//!    no other erasure bumped it meanwhile.
//! 3. The checkpoint cannot finish while another connection reads a snapshot that still
//!    needs the log (a read transaction begun before the erasure): that reader may
//!    legitimately see the old row. The anonymising commit waits for such readers for up
//!    to [`ERASURE_WAIT`]; later writes try without waiting, so a long-lived reader of
//!    another program cannot slow every commit. The row stays until a try succeeds.
//!
//! So the old bytes are gone when the anonymising commit returns unless another
//! connection held an older snapshot for longer than [`ERASURE_WAIT`]; then they are gone
//! at the first write after that snapshot ends. [`SqliteStore::erasure_pending`] tells
//! whether an erasure is unfinished; [`SqliteStore::complete_erasure`] waits (up to the
//! busy timeout) and says so with a typed error when it cannot finish.

use std::time::Duration;

use clinic_ops::followup::FollowUpEvent;
use clinic_ops::patient::PatientEvent;
use clinic_ops::store::{
    AppointmentStore, ContactStore, FeedbackStore, GroupStore, OutreachEventStore, PatientStore,
    PersonalDataPorts, PurchaseStore, TaskStore,
};
use rusqlite::{Connection, ErrorCode, OptionalExtension, Transaction};

use crate::{SqliteError, SqliteStore};

/// How long an anonymising commit waits for readers of older snapshots before it leaves
/// the truncation to later writes. Far above what the adapter's own reads (one statement
/// each) and commits take.
pub(crate) const ERASURE_WAIT: Duration = Duration::from_millis(250);

impl PersonalDataPorts for SqliteStore {
    fn patients(&mut self) -> &mut dyn PatientStore {
        self
    }
    fn follow_ups(&mut self) -> &mut dyn TaskStore {
        self
    }
    fn purchases(&mut self) -> &mut dyn PurchaseStore {
        self
    }
    fn contacts(&mut self) -> &mut dyn ContactStore {
        self
    }
    fn groups(&mut self) -> &mut dyn GroupStore {
        self
    }
    fn appointments(&mut self) -> &mut dyn AppointmentStore {
        self
    }
    fn feedback(&mut self) -> &mut dyn FeedbackStore {
        self
    }
    fn outreach_events(&mut self) -> &mut dyn OutreachEventStore {
        self
    }
}

/// Whether a patient commit anonymises.
pub(crate) fn patient_erases(events: &[PatientEvent]) -> bool {
    events
        .iter()
        .any(|e| matches!(e, PatientEvent::Anonymised { .. }))
}

/// Whether a follow-up commit anonymises.
pub(crate) fn follow_ups_erase(events: &[FollowUpEvent]) -> bool {
    events
        .iter()
        .any(|e| matches!(e, FollowUpEvent::Anonymised { .. }))
}

/// Records, inside the anonymising transaction, that the log must be truncated.
pub(crate) fn mark(tx: &Transaction<'_>) -> Result<(), rusqlite::Error> {
    tx.prepare_cached(
        "INSERT INTO erasure_pending (id, generation) VALUES (1, 1)
         ON CONFLICT (id) DO UPDATE SET generation = generation + 1",
    )?
    .execute([])?;
    Ok(())
}

/// The generation of the unfinished erasure, if there is one.
pub(crate) fn pending(conn: &Connection) -> Result<Option<i64>, rusqlite::Error> {
    conn.prepare_cached("SELECT generation FROM erasure_pending WHERE id = 1")?
        .query_row([], |r| r.get(0))
        .optional()
}

/// Truncates the log, waiting up to `wait` for other connections, and clears the pending
/// erasure it was run for. `Ok(false)` when another connection's snapshot or lock kept the
/// log from being truncated.
pub(crate) fn purge(
    conn: &Connection,
    generation: i64,
    wait: Duration,
    restore: Duration,
) -> Result<bool, rusqlite::Error> {
    conn.busy_timeout(wait)?;
    let truncated = conn.query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |r| {
        r.get::<_, i64>(0)
    });
    conn.busy_timeout(restore)?;
    match truncated {
        Ok(0) => {}
        Ok(_) => return Ok(false),
        Err(e)
            if matches!(
                e.sqlite_error_code(),
                Some(ErrorCode::DatabaseBusy | ErrorCode::DatabaseLocked)
            ) =>
        {
            return Ok(false);
        }
        Err(e) => return Err(e),
    }
    // The log is empty: every page image older than this point is gone. Deleting the row
    // writes only its own page (zeroed by secure_delete) to the fresh log. A newer erasure
    // committed meanwhile bumped the generation and keeps the row for its own truncation.
    conn.prepare_cached("DELETE FROM erasure_pending WHERE id = 1 AND generation = ?1")?
        .execute([generation])?;
    Ok(true)
}

impl SqliteStore {
    /// Whether an anonymising commit has not yet been able to truncate the write-ahead
    /// log, so that old page images with the erased data may still be in the `-wal` file.
    /// See [`SqliteStore::complete_erasure`].
    ///
    /// # Errors
    ///
    /// [`SqliteError::Sqlite`] when the query fails.
    pub fn erasure_pending(&self) -> Result<bool, SqliteError> {
        Ok(pending(&self.conn)?.is_some())
    }

    /// Finishes an unfinished erasure now: truncates the write-ahead log, waiting up to the
    /// busy timeout (10 s) for other connections to end read transactions begun before
    /// the erasure. `Ok` proves that no file of the database holds the erased bytes
    /// (nothing to do when no erasure is pending).
    ///
    /// An anonymising commit does this itself and only leaves it unfinished when another
    /// connection held an older snapshot; the next write on any handle also retries it.
    ///
    /// # Errors
    ///
    /// [`SqliteError::ErasureBlocked`] when another connection still reads an older
    /// snapshot after the wait: end it, then call again; [`SqliteError::ReadOnly`] on a
    /// read-only handle; [`SqliteError::Sqlite`] for any other failure.
    pub fn complete_erasure(&mut self) -> Result<(), SqliteError> {
        let Some(generation) = pending(&self.conn)? else {
            return Ok(());
        };
        if self.is_read_only() {
            return Err(SqliteError::ReadOnly {
                path: self.path().to_path_buf(),
            });
        }
        let timeout = crate::store::BUSY_TIMEOUT;
        if purge(&self.conn, generation, timeout, timeout)? {
            Ok(())
        } else {
            Err(SqliteError::ErasureBlocked {
                path: self.path().to_path_buf(),
            })
        }
    }

    /// After a write: finishes the pending erasure, if the transaction saw one. Waits
    /// `wait` for other connections. A failure leaves the row for the next write, and
    /// never fails the write, which is already committed.
    pub(crate) fn after_write(&self, generation: Option<i64>, wait: Duration) {
        if let Some(g) = generation {
            let _unfinished = purge(&self.conn, g, wait, crate::store::BUSY_TIMEOUT);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn open(path: &std::path::Path) -> SqliteStore {
        SqliteStore::open(path).unwrap()
    }

    fn mark_once(store: &mut SqliteStore) {
        let tx = store.conn.transaction().unwrap();
        mark(&tx).unwrap();
        tx.commit().unwrap();
    }

    #[test]
    fn a_truncation_that_raced_a_newer_erasure_keeps_its_row() {
        let dir = tempfile::tempdir().unwrap();
        let mut store = open(&dir.path().join("c.db"));
        mark_once(&mut store);
        let seen = pending(&store.conn).unwrap().unwrap();
        mark_once(&mut store);
        assert!(purge(&store.conn, seen, Duration::ZERO, Duration::ZERO).unwrap());
        assert_eq!(pending(&store.conn).unwrap(), Some(seen + 1));
        assert!(purge(&store.conn, seen + 1, Duration::ZERO, Duration::ZERO).unwrap());
        assert_eq!(pending(&store.conn).unwrap(), None);
    }

    #[test]
    fn an_older_snapshot_blocks_the_truncation_and_keeps_the_row() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("c.db");
        let mut store = open(&path);
        let reader = rusqlite::Connection::open(&path).unwrap();
        reader.execute_batch("BEGIN").unwrap();
        let _: i64 = reader
            .query_row("SELECT count(*) FROM erasure_pending", [], |r| r.get(0))
            .unwrap();
        mark_once(&mut store);
        let g = pending(&store.conn).unwrap().unwrap();
        let wait = Duration::from_millis(20);
        assert!(!purge(&store.conn, g, wait, crate::store::BUSY_TIMEOUT).unwrap());
        assert_eq!(pending(&store.conn).unwrap(), Some(g));
        drop(reader);
        assert!(purge(&store.conn, g, wait, crate::store::BUSY_TIMEOUT).unwrap());
        assert_eq!(pending(&store.conn).unwrap(), None);
    }
}
