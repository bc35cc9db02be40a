//! [`PatientStore`] on SQLite.

use clinic_ops::id::PatientId;
use clinic_ops::patient::{MobileNumber, Patient, PatientEvent, ResidentId};
use clinic_ops::store::{
    PatientStore, StagedPatient, StoreError, Version, Versioned, stage_patient_commit,
};
use rusqlite::{OptionalExtension, Transaction, params};

use crate::SqliteStore;
use crate::store::{Erases, encode_err, int, uint, unique_violation};

fn patient_id(v: i64) -> Result<PatientId, StoreError> {
    uint("patient id", v).map(PatientId::new)
}

impl PatientStore for SqliteStore {
    fn get(&self, id: PatientId) -> Result<Option<Versioned<Patient>>, StoreError> {
        let key = int("patient id", id.get())?;
        crate::store::load_snapshot(
            &self.conn,
            "SELECT version, state FROM patients WHERE id = ?1",
            key,
            "patient",
            id,
            |e| self.read_err(e),
        )
    }

    fn commit(
        &mut self,
        id: PatientId,
        expected: Option<Version>,
        events: &[PatientEvent],
    ) -> Result<Version, StoreError> {
        let key = int("patient id", id.get())?;
        let path = self.path().to_path_buf();
        let err = move |e| crate::store::db_at(e, &path);
        let erases = Erases::when(crate::erasure::patient_erases(events));
        self.write_erasing(erases, |tx| {
            let current = crate::store::load_snapshot(
                tx,
                "SELECT version, state FROM patients WHERE id = ?1",
                key,
                "patient",
                id,
                &err,
            )?;
            let Some(staged) = stage_patient_commit(id, current, expected, events)? else {
                return expected.ok_or(StoreError::NotFound {
                    what: "patient",
                    key: id.to_string(),
                });
            };
            let state = serde_json::to_string(&staged.patient).map_err(encode_err("patient"))?;
            let v = int("version", staged.version.get())?;
            if let Err(e) = write_patient(tx, key, v, &staged, &state) {
                // The UNIQUE indexes are the check; the holder is looked up only to name it.
                return Err(
                    match unique_violation(&e).and_then(|c| column_of(c, &staged)) {
                        Some(key) => duplicate(tx, key).unwrap_or_else(&err),
                        None => err(e),
                    },
                );
            }
            Ok(staged.version)
        })
    }

    fn find_by_mobile(&self, mobile: &MobileNumber) -> Result<Option<PatientId>, StoreError> {
        self.find("SELECT id FROM patients WHERE mobile = ?1", mobile.expose())
    }

    fn find_by_resident_id(&self, id: &ResidentId) -> Result<Option<PatientId>, StoreError> {
        self.find(
            "SELECT id FROM patients WHERE resident_id = ?1",
            id.expose(),
        )
    }

    fn scan(
        &self,
        after: Option<PatientId>,
        limit: usize,
    ) -> Result<Vec<Versioned<Patient>>, StoreError> {
        self.scan_snapshots(
            "SELECT id, version, state FROM patients WHERE id > ?1 ORDER BY id LIMIT ?2",
            after,
            limit,
            "patient",
        )
    }
}

impl SqliteStore {
    fn find(&self, sql: &str, key: &str) -> Result<Option<PatientId>, StoreError> {
        let id: Option<i64> = self
            .conn
            .prepare_cached(sql)
            .and_then(|mut s| s.query_row([key], |r| r.get(0)).optional())
            .map_err(|e| self.read_err(e))?;
        id.map(patient_id).transpose()
    }
}

fn write_patient(
    tx: &Transaction<'_>,
    key: i64,
    version: i64,
    staged: &StagedPatient,
    state: &str,
) -> Result<(), rusqlite::Error> {
    tx.prepare_cached(
        "INSERT INTO patients (id, version, mobile, resident_id, state)
         VALUES (?1, ?2, ?3, ?4, ?5)
         ON CONFLICT (id) DO UPDATE SET version = excluded.version, mobile = excluded.mobile,
             resident_id = excluded.resident_id, state = excluded.state",
    )?
    .execute(params![
        key,
        version,
        staged.mobile.as_ref().map(MobileNumber::expose),
        staged.resident_id.as_ref().map(ResidentId::expose),
        state,
    ])?;
    Ok(())
}

/// The unique key of `staged` that the index `constraint` refused: its kind, column, raw
/// value and masked form.
fn column_of(
    constraint: &str,
    staged: &StagedPatient,
) -> Option<(&'static str, &'static str, String, String)> {
    match (constraint, &staged.mobile, &staged.resident_id) {
        ("patients.mobile", Some(m), _) => {
            Some(("mobile", "mobile", m.expose().to_owned(), m.masked()))
        }
        ("patients.resident_id", _, Some(r)) => Some((
            "resident id",
            "resident_id",
            r.expose().to_owned(),
            r.masked(),
        )),
        _ => None,
    }
}

/// The [`StoreError::Duplicate`] for a refused key, with its holder looked up in the same
/// transaction.
fn duplicate(
    tx: &Transaction<'_>,
    (what, column, exposed, masked): (&'static str, &'static str, String, String),
) -> Result<StoreError, rusqlite::Error> {
    let holder: i64 = tx.query_row(
        &format!("SELECT id FROM patients WHERE {column} = ?1"),
        [exposed],
        |r| r.get(0),
    )?;
    Ok(StoreError::Duplicate {
        what,
        key: masked,
        holder: u64::try_from(holder)
            .map(|h| PatientId::new(h).to_string())
            .unwrap_or_else(|_| holder.to_string()),
    })
}
