//! [`ContactStore`] on PostgreSQL: one row per patient holding the log as JSON, like the
//! follow-up histories.

use clinic_ops::id::PatientId;
use clinic_ops::relationship::{ContactEvent, ContactLog};
use clinic_ops::store::{ContactStore, StoreError, Version, Versioned, stage_contact_commit};

use crate::PgStore;
use crate::store::{commit_snapshot, db, int, load_snapshot};

const WHAT: &str = "contact log";
const GET: &str = "SELECT version, state FROM contact_logs WHERE patient = $1";

impl ContactStore for PgStore {
    fn get_contacts(
        &self,
        patient: PatientId,
    ) -> Result<Option<Versioned<ContactLog>>, StoreError> {
        let key = int("patient id", patient.get())?;
        load_snapshot(&mut *self.conn()?, GET, key, WHAT, patient)
    }

    fn commit_contacts(
        &mut self,
        patient: PatientId,
        expected: Option<Version>,
        events: &[ContactEvent],
    ) -> Result<Version, StoreError> {
        let key = int("patient id", patient.get())?;
        self.write(|tx| {
            commit_snapshot(
                tx,
                GET,
                "INSERT INTO contact_logs (patient, version, state) VALUES ($1, $2, $3)
                     ON CONFLICT (patient) DO UPDATE SET version = excluded.version,
                         state = excluded.state",
                key,
                WHAT,
                patient,
                expected,
                events,
                stage_contact_commit,
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
                 WHERE patient > $1 ORDER BY patient LIMIT $2",
            after,
            limit,
            WHAT,
        )
    }

    /// Deletes the patient's row. The old row version becomes a dead tuple that
    /// (auto)vacuum removes: see [`PgStore::vacuum_erased`].
    fn erase_contacts(&mut self, patient: PatientId) -> Result<bool, StoreError> {
        let key = int("patient id", patient.get())?;
        // A delete that finds no row takes no transaction id and writes nothing: erasing
        // twice commits nothing.
        self.write(|tx| {
            let n = tx
                .execute("DELETE FROM contact_logs WHERE patient = $1", &[&key])
                .map_err(db)?;
            Ok(n > 0)
        })
    }
}
