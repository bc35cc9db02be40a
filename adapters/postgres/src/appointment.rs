//! [`AppointmentStore`] and [`FeedbackStore`] on PostgreSQL, laid out as in the SQLite
//! adapter: each clinic's appointment book and each complaint is one snapshot row
//! (version, JSON state); feedback is one JSON row per record, keyed by its id, never
//! updated. Every row read back goes through its type's serde validation.

use clinic_ops::appointment::{AppointmentBook, AppointmentEvent};
use clinic_ops::feedback::{Complaint, ComplaintEvent, Feedback};
use std::cell::RefCell;

use clinic_ops::id::{ClinicId, ComplaintId, FeedbackId, PatientId};
use clinic_ops::store::{
    AppointmentStore, FeedbackStore, StoreError, Version, Versioned, erased_feedback,
    stage_book_commit, stage_complaint_commit, stage_feedback_append,
};

use crate::PgStore;
use crate::store::{
    Db, col, commit_snapshot, db, decode_err, encode_err, int, load_snapshot, page, snapshot, uint,
};

const BOOK: &str = "appointment book";
const COMPLAINT: &str = "complaint";
const FEEDBACK: &str = "feedback";

const GET_BOOK: &str = "SELECT version, state FROM appointment_books WHERE clinic = $1";
const GET_COMPLAINT: &str = "SELECT version, state FROM complaints WHERE id = $1";

impl AppointmentStore for PgStore {
    fn get_book(&self, clinic: ClinicId) -> Result<Option<Versioned<AppointmentBook>>, StoreError> {
        let key = int("clinic id", clinic.get())?;
        load_snapshot(&mut *self.conn()?, GET_BOOK, key, BOOK, clinic)
    }

    /// A commit erasing a patient's intake answers (health data) rewrites the book's row;
    /// the old row version is a dead tuple until vacuumed: see [`PgStore::vacuum_erased`].
    fn commit_book(
        &mut self,
        clinic: ClinicId,
        expected: Option<Version>,
        events: &[AppointmentEvent],
    ) -> Result<Version, StoreError> {
        let key = int("clinic id", clinic.get())?;
        self.write(|tx| {
            commit_snapshot(
                tx,
                GET_BOOK,
                "INSERT INTO appointment_books (clinic, version, state) VALUES ($1, $2, $3)
                     ON CONFLICT (clinic) DO UPDATE SET version = excluded.version,
                         state = excluded.state",
                key,
                BOOK,
                clinic,
                expected,
                events,
                stage_book_commit,
            )
        })
    }

    fn book_clinics(
        &self,
        after: Option<ClinicId>,
        limit: usize,
    ) -> Result<Vec<ClinicId>, StoreError> {
        let (after, limit) = page(after.map(ClinicId::get), "clinic id", limit)?;
        let rows = self
            .conn()?
            .query(
                "SELECT clinic FROM appointment_books WHERE clinic > $1 ORDER BY clinic LIMIT $2",
                &[&after, &limit],
            )
            .map_err(db)?;
        rows.iter()
            .map(|r| Ok(ClinicId::new(uint("clinic id", col(r, 0)?)?)))
            .collect()
    }
}

/// Whether the patient's feedback comments were erased.
fn erased(c: &mut impl Db, patient: PatientId) -> Result<bool, StoreError> {
    let key = int("patient id", patient.get())?;
    c.query_opt(
        "SELECT 1 FROM feedback_erasures WHERE patient = $1",
        &[&key],
    )
    .map(|r| r.is_some())
    .map_err(db)
}

impl FeedbackStore for PgStore {
    fn get_complaint(&self, id: ComplaintId) -> Result<Option<Versioned<Complaint>>, StoreError> {
        let key = int("complaint id", id.get())?;
        load_snapshot(&mut *self.conn()?, GET_COMPLAINT, key, COMPLAINT, id)
    }

    fn commit_complaint(
        &mut self,
        id: ComplaintId,
        expected: Option<Version>,
        events: &[ComplaintEvent],
    ) -> Result<Version, StoreError> {
        let key = int("complaint id", id.get())?;
        self.write(|tx| {
            commit_snapshot(
                tx,
                GET_COMPLAINT,
                "INSERT INTO complaints (id, version, state) VALUES ($1, $2, $3)
                     ON CONFLICT (id) DO UPDATE SET version = excluded.version,
                         state = excluded.state",
                key,
                COMPLAINT,
                id,
                expected,
                events,
                stage_complaint_commit,
            )
        })
    }

    fn scan_complaints(
        &self,
        after: Option<ComplaintId>,
        limit: usize,
    ) -> Result<Vec<Versioned<Complaint>>, StoreError> {
        let (after, limit) = page(after.map(ComplaintId::get), "complaint id", limit)?;
        let rows = self
            .conn()?
            .query(
                "SELECT id, version, state FROM complaints WHERE id > $1 ORDER BY id LIMIT $2",
                &[&after, &limit],
            )
            .map_err(db)?;
        rows.iter()
            .map(|r| {
                let id = ComplaintId::new(uint("complaint id", col(r, 0)?)?);
                snapshot(COMPLAINT, id, col(r, 1)?, col(r, 2)?)
            })
            .collect()
    }

    fn append_feedback(&mut self, records: &[Feedback]) -> Result<usize, StoreError> {
        self.write(|tx| {
            let new = {
                // Both staging callbacks read through the one transaction.
                let cell = RefCell::new(&mut *tx);
                stage_feedback_append(
                    records,
                    |p| erased(&mut **cell.borrow_mut(), p),
                    |id| {
                        let key = int("feedback id", id.get())?;
                        let row = cell
                            .borrow_mut()
                            .query_opt("SELECT record FROM feedback WHERE id = $1", &[&key])
                            .map_err(db)?;
                        row.map(|r| {
                            serde_json::from_str(col::<&str>(&r, 0)?)
                                .map_err(decode_err(FEEDBACK, id))
                        })
                        .transpose()
                    },
                )?
            };
            let insert = tx
                .prepare("INSERT INTO feedback (id, record) VALUES ($1, $2)")
                .map_err(db)?;
            for r in &new {
                let key = int("feedback id", r.id.get())?;
                let record = serde_json::to_string(r).map_err(encode_err(FEEDBACK))?;
                tx.execute(&insert, &[&key, &record]).map_err(db)?;
            }
            Ok(new.len())
        })
    }

    fn feedback_page(
        &self,
        after: Option<FeedbackId>,
        limit: usize,
    ) -> Result<Vec<Feedback>, StoreError> {
        let (after, limit) = page(after.map(FeedbackId::get), "feedback id", limit)?;
        let rows = self
            .conn()?
            .query(
                "SELECT id, record FROM feedback WHERE id > $1 ORDER BY id LIMIT $2",
                &[&after, &limit],
            )
            .map_err(db)?;
        rows.iter()
            .map(|r| {
                let id = FeedbackId::new(uint("feedback id", col(r, 0)?)?);
                serde_json::from_str(col::<&str>(r, 1)?).map_err(decode_err(FEEDBACK, id))
            })
            .collect()
    }

    /// Rewrites the patient's feedback rows without their comments and records the
    /// erasure, so later appends are stored without them too. The rows are found by the
    /// patient inside their JSON (feedback has no patient column), a scan of the table that
    /// only an erasure pays. The old row versions become dead tuples that (auto)vacuum
    /// removes: see [`PgStore::vacuum_erased`].
    fn erase_feedback_comments(&mut self, patient: PatientId) -> Result<usize, StoreError> {
        let key = int("patient id", patient.get())?;
        self.write(|tx| {
            let already = erased(tx, patient)?;
            let rows = tx
                .query(
                    "SELECT id, record FROM feedback
                     WHERE (record::jsonb ->> 'patient')::bigint = $1
                       AND jsonb_typeof(record::jsonb -> 'comment') = 'string'
                     ORDER BY id",
                    &[&key],
                )
                .map_err(db)?;
            if already && rows.is_empty() {
                // Nothing to write: erasing twice commits nothing.
                return Ok(0);
            }
            tx.execute(
                "INSERT INTO feedback_erasures (patient) VALUES ($1) ON CONFLICT DO NOTHING",
                &[&key],
            )
            .map_err(db)?;
            let update = tx
                .prepare("UPDATE feedback SET record = $2 WHERE id = $1")
                .map_err(db)?;
            for r in &rows {
                let k: i64 = col(r, 0)?;
                let id = FeedbackId::new(uint("feedback id", k)?);
                let f: Feedback =
                    serde_json::from_str(col::<&str>(r, 1)?).map_err(decode_err(FEEDBACK, id))?;
                let record =
                    serde_json::to_string(&erased_feedback(&f)).map_err(encode_err(FEEDBACK))?;
                tx.execute(&update, &[&k, &record]).map_err(db)?;
            }
            Ok(rows.len())
        })
    }
}
