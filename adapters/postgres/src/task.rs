//! [`TaskStore`] on PostgreSQL.

use clinic_ops::followup::{FollowUpEvent, FollowUpHistory};
use clinic_ops::id::PatientId;
use clinic_ops::store::{StoreError, TaskStore, Version, Versioned, stage_task_commit};

use crate::PgStore;
use crate::store::{commit_snapshot, int, load_snapshot};

const WHAT: &str = "follow-up history";
const GET: &str = "SELECT version, state FROM followup_histories WHERE patient = $1";

impl TaskStore for PgStore {
    fn get(&self, patient: PatientId) -> Result<Option<Versioned<FollowUpHistory>>, StoreError> {
        let key = int("patient id", patient.get())?;
        load_snapshot(&mut *self.conn()?, GET, key, WHAT, patient)
    }

    fn commit(
        &mut self,
        patient: PatientId,
        expected: Option<Version>,
        events: &[FollowUpEvent],
    ) -> Result<Version, StoreError> {
        let key = int("patient id", patient.get())?;
        self.write(|tx| {
            commit_snapshot(
                tx,
                GET,
                "INSERT INTO followup_histories (patient, version, state) VALUES ($1, $2, $3)
                     ON CONFLICT (patient) DO UPDATE SET version = excluded.version,
                         state = excluded.state",
                key,
                WHAT,
                patient,
                expected,
                events,
                stage_task_commit,
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
                 WHERE patient > $1 ORDER BY patient LIMIT $2",
            after,
            limit,
            WHAT,
        )
    }
}
