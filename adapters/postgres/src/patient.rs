//! [`PatientStore`] on PostgreSQL.

use clinic_ops::id::PatientId;
use clinic_ops::patient::{MobileNumber, Patient, PatientEvent, ResidentId};
use clinic_ops::store::{PatientStore, StoreError, Version, Versioned, stage_patient_commit};

use crate::PgStore;
use crate::store::{col, db, encode_err, int, load_snapshot, uint};

const GET: &str = "SELECT version, state FROM patients WHERE id = $1";

fn patient_id(v: i64) -> Result<PatientId, StoreError> {
    uint("patient id", v).map(PatientId::new)
}

impl PatientStore for PgStore {
    fn get(&self, id: PatientId) -> Result<Option<Versioned<Patient>>, StoreError> {
        let key = int("patient id", id.get())?;
        load_snapshot(&mut *self.conn()?, GET, key, "patient", id)
    }

    fn commit(
        &mut self,
        id: PatientId,
        expected: Option<Version>,
        events: &[PatientEvent],
    ) -> Result<Version, StoreError> {
        let key = int("patient id", id.get())?;
        self.write(|tx| {
            let current = load_snapshot(tx, GET, key, "patient", id)?;
            let Some(staged) = stage_patient_commit(id, current, expected, events)? else {
                return expected.ok_or(StoreError::NotFound {
                    what: "patient",
                    key: id.to_string(),
                });
            };
            let mobile = staged.mobile.as_ref().map(MobileNumber::expose);
            let resident = staged.resident_id.as_ref().map(ResidentId::expose);
            // The UNIQUE constraints are the guarantee. This read names the holder before
            // the insert, so the usual duplicate never becomes a server error whose DETAIL
            // (with the number in it) lands in the server's log; two new patients racing
            // for one number both pass it, and the loser's unique violation reruns the
            // transaction, which then finds the holder here.
            let holder = tx
                .query_opt(
                    "SELECT id, mobile = $2 FROM patients
                     WHERE (mobile = $2 OR resident_id = $3) AND id <> $1 LIMIT 1",
                    &[&key, &mobile, &resident],
                )
                .map_err(db)?;
            if let Some(r) = holder {
                let holder = patient_id(col(&r, 0)?)?.to_string();
                let by_mobile: Option<bool> = col(&r, 1)?;
                return Err(match (by_mobile, &staged.mobile, &staged.resident_id) {
                    (Some(true), Some(m), _) => StoreError::Duplicate {
                        what: "mobile",
                        key: m.masked(),
                        holder,
                    },
                    (_, _, Some(r)) => StoreError::Duplicate {
                        what: "resident id",
                        key: r.masked(),
                        holder,
                    },
                    (_, Some(m), None) => StoreError::Duplicate {
                        what: "mobile",
                        key: m.masked(),
                        holder,
                    },
                    (_, None, None) => StoreError::Duplicate {
                        what: "patient key",
                        key: "***".to_owned(),
                        holder,
                    },
                });
            }
            let state = serde_json::to_string(&staged.patient).map_err(encode_err("patient"))?;
            let v = int("version", staged.version.get())?;
            tx.execute(
                "INSERT INTO patients (id, version, mobile, resident_id, state)
                 VALUES ($1, $2, $3, $4, $5)
                 ON CONFLICT (id) DO UPDATE SET version = excluded.version,
                     mobile = excluded.mobile, resident_id = excluded.resident_id,
                     state = excluded.state",
                &[&key, &v, &mobile, &resident, &state],
            )
            .map_err(db)?;
            Ok(staged.version)
        })
    }

    fn find_by_mobile(&self, mobile: &MobileNumber) -> Result<Option<PatientId>, StoreError> {
        self.find("SELECT id FROM patients WHERE mobile = $1", mobile.expose())
    }

    fn find_by_resident_id(&self, id: &ResidentId) -> Result<Option<PatientId>, StoreError> {
        self.find(
            "SELECT id FROM patients WHERE resident_id = $1",
            id.expose(),
        )
    }

    fn scan(
        &self,
        after: Option<PatientId>,
        limit: usize,
    ) -> Result<Vec<Versioned<Patient>>, StoreError> {
        self.scan_snapshots(
            "SELECT id, version, state FROM patients WHERE id > $1 ORDER BY id LIMIT $2",
            after,
            limit,
            "patient",
        )
    }
}

impl PgStore {
    fn find(&self, sql: &str, key: &str) -> Result<Option<PatientId>, StoreError> {
        let row = self.conn()?.query_opt(sql, &[&key]).map_err(db)?;
        row.map(|r| patient_id(col(&r, 0)?)).transpose()
    }
}
