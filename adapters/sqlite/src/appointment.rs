//! [`AppointmentStore`] and [`FeedbackStore`] on SQLite.

use clinic_ops::appointment::{AppointmentBook, AppointmentEvent};
use clinic_ops::feedback::{Complaint, ComplaintEvent, Feedback};
use clinic_ops::id::{ClinicId, ComplaintId, FeedbackId, PatientId};
use clinic_ops::store::{
    AppointmentStore, FeedbackStore, StoreError, Version, Versioned, erased_feedback,
    stage_book_commit, stage_complaint_commit, stage_feedback_append,
};
use rusqlite::{Connection, OptionalExtension, params};

use crate::SqliteStore;
use crate::store::{Erases, commit_snapshot, db_at, decode_err, encode_err, int, snapshot, uint};

const BOOK: &str = "appointment book";
const COMPLAINT: &str = "complaint";
const FEEDBACK: &str = "feedback";

impl AppointmentStore for SqliteStore {
    fn get_book(&self, clinic: ClinicId) -> Result<Option<Versioned<AppointmentBook>>, StoreError> {
        let key = int("clinic id", clinic.get())?;
        crate::store::load_snapshot(
            &self.conn,
            "SELECT version, state FROM appointment_books WHERE clinic = ?1",
            key,
            BOOK,
            clinic,
            |e| self.read_err(e),
        )
    }

    fn commit_book(
        &mut self,
        clinic: ClinicId,
        expected: Option<Version>,
        events: &[AppointmentEvent],
    ) -> Result<Version, StoreError> {
        let key = int("clinic id", clinic.get())?;
        let path = self.path().to_path_buf();
        let err = move |e| db_at(e, &path);
        // Erasing intake answers (health data) must leave no old page image behind.
        let erases = Erases::when(
            events
                .iter()
                .any(|e| matches!(e, AppointmentEvent::PatientErased { .. })),
        );
        self.write_erasing(erases, |tx| {
            commit_snapshot(
                tx,
                "SELECT version, state FROM appointment_books WHERE clinic = ?1",
                "INSERT INTO appointment_books (clinic, version, state) VALUES (?1, ?2, ?3)
                 ON CONFLICT (clinic) DO UPDATE SET version = excluded.version,
                     state = excluded.state",
                key,
                BOOK,
                clinic,
                expected,
                events,
                stage_book_commit,
                &err,
            )
        })
    }

    fn book_clinics(
        &self,
        after: Option<ClinicId>,
        limit: usize,
    ) -> Result<Vec<ClinicId>, StoreError> {
        let after = match after {
            Some(a) => int("clinic id", a.get())?,
            None => -1,
        };
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        let keys: Vec<i64> = self
            .conn
            .prepare_cached(
                "SELECT clinic FROM appointment_books WHERE clinic > ?1 ORDER BY clinic LIMIT ?2",
            )
            .and_then(|mut s| s.query_map([after, limit], |r| r.get(0))?.collect())
            .map_err(|e| self.read_err(e))?;
        keys.into_iter()
            .map(|k| Ok(ClinicId::new(uint("clinic id", k)?)))
            .collect()
    }
}

/// Whether the patient's feedback comments were erased.
fn erased(tx: &Connection, patient: PatientId) -> Result<bool, rusqlite::Error> {
    let key = i64::try_from(patient.get()).unwrap_or(i64::MAX);
    tx.prepare_cached("SELECT 1 FROM feedback_erasures WHERE patient = ?1")?
        .query_row([key], |_| Ok(()))
        .optional()
        .map(|r| r.is_some())
}

impl FeedbackStore for SqliteStore {
    fn get_complaint(&self, id: ComplaintId) -> Result<Option<Versioned<Complaint>>, StoreError> {
        let key = int("complaint id", id.get())?;
        crate::store::load_snapshot(
            &self.conn,
            "SELECT version, state FROM complaints WHERE id = ?1",
            key,
            COMPLAINT,
            id,
            |e| self.read_err(e),
        )
    }

    fn commit_complaint(
        &mut self,
        id: ComplaintId,
        expected: Option<Version>,
        events: &[ComplaintEvent],
    ) -> Result<Version, StoreError> {
        let key = int("complaint id", id.get())?;
        let path = self.path().to_path_buf();
        let err = move |e| db_at(e, &path);
        // Erasing a complaint's words must leave no old page image behind.
        let erases = Erases::when(
            events
                .iter()
                .any(|e| matches!(e, ComplaintEvent::PatientErased { .. })),
        );
        self.write_erasing(erases, |tx| {
            commit_snapshot(
                tx,
                "SELECT version, state FROM complaints WHERE id = ?1",
                "INSERT INTO complaints (id, version, state) VALUES (?1, ?2, ?3)
                 ON CONFLICT (id) DO UPDATE SET version = excluded.version,
                     state = excluded.state",
                key,
                COMPLAINT,
                id,
                expected,
                events,
                stage_complaint_commit,
                &err,
            )
        })
    }

    fn scan_complaints(
        &self,
        after: Option<ComplaintId>,
        limit: usize,
    ) -> Result<Vec<Versioned<Complaint>>, StoreError> {
        let after = match after {
            Some(a) => int("complaint id", a.get())?,
            None => -1,
        };
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        let rows: Vec<(i64, i64, String)> = self
            .conn
            .prepare_cached(
                "SELECT id, version, state FROM complaints WHERE id > ?1 ORDER BY id LIMIT ?2",
            )
            .and_then(|mut s| {
                s.query_map([after, limit], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))?
                    .collect()
            })
            .map_err(|e| self.read_err(e))?;
        rows.into_iter()
            .map(|(k, v, state)| {
                snapshot(
                    COMPLAINT,
                    ComplaintId::new(uint("complaint id", k)?),
                    v,
                    &state,
                )
            })
            .collect()
    }

    fn append_feedback(&mut self, records: &[Feedback]) -> Result<usize, StoreError> {
        let path = self.path().to_path_buf();
        let err = move |e| db_at(e, &path);
        self.write(|tx| {
            let new = stage_feedback_append(
                records,
                |p| erased(tx, p).map_err(&err),
                |id| {
                    let key = int("feedback id", id.get())?;
                    let found: Option<String> = tx
                        .prepare_cached("SELECT record FROM feedback WHERE id = ?1")
                        .and_then(|mut s| s.query_row([key], |r| r.get(0)).optional())
                        .map_err(&err)?;
                    found
                        .map(|s| serde_json::from_str(&s).map_err(decode_err(FEEDBACK, id)))
                        .transpose()
                },
            )?;
            for r in &new {
                let key = int("feedback id", r.id.get())?;
                let record = serde_json::to_string(r).map_err(encode_err(FEEDBACK))?;
                tx.prepare_cached("INSERT INTO feedback (id, record) VALUES (?1, ?2)")
                    .and_then(|mut s| s.execute(params![key, record]))
                    .map_err(&err)?;
            }
            Ok(new.len())
        })
    }

    fn feedback_page(
        &self,
        after: Option<FeedbackId>,
        limit: usize,
    ) -> Result<Vec<Feedback>, StoreError> {
        let after = match after {
            Some(a) => int("feedback id", a.get())?,
            None => -1,
        };
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        let rows: Vec<(i64, String)> = self
            .conn
            .prepare_cached("SELECT id, record FROM feedback WHERE id > ?1 ORDER BY id LIMIT ?2")
            .and_then(|mut s| {
                s.query_map([after, limit], |r| Ok((r.get(0)?, r.get(1)?)))?
                    .collect()
            })
            .map_err(|e| self.read_err(e))?;
        rows.into_iter()
            .map(|(k, s)| {
                serde_json::from_str(&s).map_err(decode_err(
                    FEEDBACK,
                    FeedbackId::new(uint("feedback id", k)?),
                ))
            })
            .collect()
    }

    /// Rewrites the patient's feedback rows without their comments and records the
    /// erasure, so later appends are stored without them too; like every anonymising
    /// commit, it truncates the write-ahead log that still holds the old rows. The rows
    /// are found by the patient inside their JSON (feedback has no patient column), a scan
    /// of the table that only an erasure pays.
    fn erase_feedback_comments(&mut self, patient: PatientId) -> Result<usize, StoreError> {
        let key = int("patient id", patient.get())?;
        let path = self.path().to_path_buf();
        let err = move |e| db_at(e, &path);
        const OF: &str = "SELECT id, record FROM feedback
             WHERE json_extract(record, '$.patient') = ?1
               AND json_extract(record, '$.comment') IS NOT NULL
             ORDER BY id";
        let pending: i64 = self
            .conn
            .prepare_cached(&format!("SELECT count(*) FROM ({OF})"))
            .and_then(|mut s| s.query_row([key], |r| r.get(0)))
            .map_err(&err)?;
        if pending == 0 && erased(&self.conn, patient).map_err(&err)? {
            // Nothing to write: erasing twice commits nothing.
            return Ok(0);
        }
        self.write_erasing(Erases::Yes, |tx| {
            tx.prepare_cached("INSERT OR IGNORE INTO feedback_erasures (patient) VALUES (?1)")
                .and_then(|mut s| s.execute([key]))
                .map_err(&err)?;
            let rows: Vec<(i64, String)> = tx
                .prepare_cached(OF)
                .and_then(|mut s| {
                    s.query_map([key], |r| Ok((r.get(0)?, r.get(1)?)))?
                        .collect()
                })
                .map_err(&err)?;
            for (k, record) in &rows {
                let id = FeedbackId::new(uint("feedback id", *k)?);
                let f: Feedback = serde_json::from_str(record).map_err(decode_err(FEEDBACK, id))?;
                let record =
                    serde_json::to_string(&erased_feedback(&f)).map_err(encode_err(FEEDBACK))?;
                tx.prepare_cached("UPDATE feedback SET record = ?2 WHERE id = ?1")
                    .and_then(|mut s| s.execute(params![k, record]))
                    .map_err(&err)?;
            }
            Ok(rows.len())
        })
    }
}
