//! [`ContactStore`] on SQLite: one row per patient holding the log as JSON, like the
//! follow-up histories.

use clinic_ops::id::PatientId;
use clinic_ops::relationship::{ContactEvent, ContactLog};
use clinic_ops::store::{ContactStore, StoreError, Version, Versioned, stage_contact_commit};
use rusqlite::OptionalExtension;

use crate::SqliteStore;
use crate::store::{Erases, commit_snapshot, db_at, int};

const WHAT: &str = "contact log";
const LOAD: &str = "SELECT version, state FROM contact_logs WHERE patient = ?1";

impl ContactStore for SqliteStore {
    fn get_contacts(
        &self,
        patient: PatientId,
    ) -> Result<Option<Versioned<ContactLog>>, StoreError> {
        let key = int("patient id", patient.get())?;
        crate::store::load_snapshot(&self.conn, LOAD, key, WHAT, patient, |e| self.read_err(e))
    }

    fn commit_contacts(
        &mut self,
        patient: PatientId,
        expected: Option<Version>,
        events: &[ContactEvent],
    ) -> Result<Version, StoreError> {
        let key = int("patient id", patient.get())?;
        let path = self.path().to_path_buf();
        let err = move |e| db_at(e, &path);
        self.write(|tx| {
            commit_snapshot(
                tx,
                LOAD,
                "INSERT INTO contact_logs (patient, version, state) VALUES (?1, ?2, ?3)
                 ON CONFLICT (patient) DO UPDATE SET version = excluded.version,
                     state = excluded.state",
                key,
                WHAT,
                patient,
                expected,
                events,
                stage_contact_commit,
                &err,
            )
        })
    }

    fn scan_contacts(
        &self,
        after: Option<PatientId>,
        limit: usize,
    ) -> Result<Vec<Versioned<ContactLog>>, StoreError> {
        self.scan_snapshots(
            "SELECT patient, version, state FROM contact_logs
                 WHERE patient > ?1 ORDER BY patient LIMIT ?2",
            after,
            limit,
            WHAT,
        )
    }

    fn erase_contacts(&mut self, patient: PatientId) -> Result<bool, StoreError> {
        let key = int("patient id", patient.get())?;
        let present: Option<i64> = self
            .conn
            .prepare_cached("SELECT 1 FROM contact_logs WHERE patient = ?1")
            .and_then(|mut s| s.query_row([key], |r| r.get(0)).optional())
            .map_err(|e| self.read_err(e))?;
        if present.is_none() {
            // Nothing to write: erasing twice commits nothing.
            return Ok(false);
        }
        let path = self.path().to_path_buf();
        self.write_erasing(Erases::Yes, |tx| {
            let n = tx
                .prepare_cached("DELETE FROM contact_logs WHERE patient = ?1")
                .and_then(|mut s| s.execute([key]))
                .map_err(|e| db_at(e, &path))?;
            Ok(n > 0)
        })
    }
}
