//! [`TaskStore`] on SQLite.

use clinic_ops::followup::{FollowUpEvent, FollowUpHistory};
use clinic_ops::id::PatientId;
use clinic_ops::store::{StoreError, TaskStore, Version, Versioned, stage_task_commit};

use crate::SqliteStore;
use crate::store::{Erases, commit_snapshot, db_at, int};

const WHAT: &str = "follow-up history";

impl TaskStore for SqliteStore {
    fn get(&self, patient: PatientId) -> Result<Option<Versioned<FollowUpHistory>>, StoreError> {
        let key = int("patient id", patient.get())?;
        crate::store::load_snapshot(
            &self.conn,
            "SELECT version, state FROM followup_histories WHERE patient = ?1",
            key,
            WHAT,
            patient,
            |e| self.read_err(e),
        )
    }

    fn commit(
        &mut self,
        patient: PatientId,
        expected: Option<Version>,
        events: &[FollowUpEvent],
    ) -> Result<Version, StoreError> {
        let key = int("patient id", patient.get())?;
        let path = self.path().to_path_buf();
        let err = move |e| db_at(e, &path);
        let erases = Erases::when(crate::erasure::follow_ups_erase(events));
        self.write_erasing(erases, |tx| {
            commit_snapshot(
                tx,
                "SELECT version, state FROM followup_histories WHERE patient = ?1",
                "INSERT INTO followup_histories (patient, version, state) VALUES (?1, ?2, ?3)
                 ON CONFLICT (patient) DO UPDATE SET version = excluded.version,
                     state = excluded.state",
                key,
                WHAT,
                patient,
                expected,
                events,
                stage_task_commit,
                &err,
            )
        })
    }

    fn scan(
        &self,
        after: Option<PatientId>,
        limit: usize,
    ) -> Result<Vec<Versioned<FollowUpHistory>>, StoreError> {
        self.scan_snapshots(
            "SELECT patient, version, state FROM followup_histories
                 WHERE patient > ?1 ORDER BY patient LIMIT ?2",
            after,
            limit,
            WHAT,
        )
    }
}
