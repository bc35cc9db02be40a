//! [`VisitStore`] and [`PurchaseStore`] on SQLite: one JSON row per record, written once
//! per id (a visit's refund rewrites its row).

use std::ops::Range;

use clinic_ops::chrono::{DateTime, Utc};
use clinic_ops::id::{PatientId, PurchaseId, VisitId};
use clinic_ops::journey::{Purchase, Visit};
use clinic_ops::store::{
    JourneyRecord, PurchaseStore, RecordCursor, RecordWrite, StoreError, VisitStore,
    erased_purchase, stage_purchase_append, stage_record_append, stage_visit_refund,
};
use rusqlite::{Connection, OptionalExtension, Transaction, params};

use crate::SqliteStore;
use crate::store::{Erases, db_at, decode_err, encode_err, int};

/// The SQL of one record table.
struct Table {
    get: &'static str,
    upsert: &'static str,
    of: &'static str,
    page: &'static str,
}

const VISITS: Table = Table {
    get: "SELECT record FROM visits WHERE id = ?1",
    upsert: "INSERT INTO visits (id, patient, at, record) VALUES (?1, ?2, ?3, ?4)
             ON CONFLICT (id) DO UPDATE SET record = excluded.record",
    of: "SELECT id, record FROM visits WHERE patient = ?1 ORDER BY at, id",
    page: "SELECT id, record FROM visits WHERE at >= ?1 AND at < ?2 AND (at, id) > (?3, ?4)
           ORDER BY at, id LIMIT ?5",
};

const PURCHASES: Table = Table {
    get: "SELECT record FROM purchases WHERE id = ?1",
    upsert: "INSERT INTO purchases (id, patient, at, record) VALUES (?1, ?2, ?3, ?4)
             ON CONFLICT (id) DO UPDATE SET record = excluded.record",
    of: "SELECT id, record FROM purchases WHERE patient = ?1 ORDER BY at, id",
    page: "SELECT id, record FROM purchases WHERE at >= ?1 AND at < ?2 AND (at, id) > (?3, ?4)
           ORDER BY at, id LIMIT ?5",
};

/// An instant as stored: nanoseconds since the epoch. Exact for every instant a record may
/// hold (the stage helpers refuse the rest); bounds of a query beyond it are clamped,
/// which selects the same rows.
fn nanos(at: DateTime<Utc>) -> i64 {
    at.timestamp_nanos_opt().unwrap_or(if at.timestamp() < 0 {
        i64::MIN
    } else {
        i64::MAX
    })
}

fn decode<R: JourneyRecord>(id: i64, record: &str) -> Result<R, StoreError> {
    // Through the record's serde validation: a stored row is never trusted.
    serde_json::from_str(record).map_err(decode_err(R::WHAT, id))
}

fn get<R: JourneyRecord>(
    conn: &Connection,
    t: &Table,
    id: u64,
    err: impl Fn(rusqlite::Error) -> StoreError,
) -> Result<Option<R>, StoreError> {
    let key = int("record id", id)?;
    let row: Option<String> = conn
        .prepare_cached(t.get)
        .and_then(|mut s| s.query_row([key], |r| r.get(0)).optional())
        .map_err(err)?;
    row.map(|r| decode(key, &r)).transpose()
}

fn list<R: JourneyRecord>(
    conn: &Connection,
    sql: &str,
    params: impl rusqlite::Params,
    err: impl Fn(rusqlite::Error) -> StoreError,
) -> Result<Vec<R>, StoreError> {
    let rows: Vec<(i64, String)> = conn
        .prepare_cached(sql)
        .and_then(|mut s| {
            s.query_map(params, |r| Ok((r.get(0)?, r.get(1)?)))?
                .collect()
        })
        .map_err(err)?;
    rows.iter().map(|(id, r)| decode(*id, r)).collect()
}

fn write<R: JourneyRecord>(
    tx: &Transaction<'_>,
    t: &Table,
    writes: &[RecordWrite<R>],
    err: impl Fn(rusqlite::Error) -> StoreError,
) -> Result<usize, StoreError> {
    let mut stmt = tx.prepare_cached(t.upsert).map_err(&err)?;
    let mut added = 0;
    for w in writes {
        let r = &w.record;
        let json = serde_json::to_string(r).map_err(encode_err(R::WHAT))?;
        stmt.execute(params![
            int("record id", r.raw_id())?,
            int("patient id", r.patient().get())?,
            nanos(r.at()),
            json
        ])
        .map_err(&err)?;
        added += usize::from(w.new);
    }
    Ok(added)
}

impl SqliteStore {
    fn page<R: JourneyRecord>(
        &self,
        t: &Table,
        period: &Range<DateTime<Utc>>,
        after: Option<(DateTime<Utc>, u64)>,
        limit: usize,
    ) -> Result<Vec<R>, StoreError> {
        let (at, id) = match after {
            Some((at, id)) => (nanos(at), int("record id", id)?),
            None => (i64::MIN, -1),
        };
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        list(
            &self.conn,
            t.page,
            params![nanos(period.start), nanos(period.end), at, id, limit],
            |e| self.read_err(e),
        )
    }
}

impl VisitStore for SqliteStore {
    fn append_visits(&mut self, visits: &[Visit]) -> Result<usize, StoreError> {
        if visits.is_empty() {
            return Ok(0);
        }
        let path = self.path().to_path_buf();
        let err = move |e| db_at(e, &path);
        self.write(|tx| {
            let writes =
                stage_record_append(visits, |id: VisitId| get(tx, &VISITS, id.get(), &err))?;
            write(tx, &VISITS, &writes, &err)
        })
    }

    fn refund_visit(&mut self, id: VisitId, at: DateTime<Utc>) -> Result<Visit, StoreError> {
        let path = self.path().to_path_buf();
        let err = move |e| db_at(e, &path);
        self.write(|tx| {
            let current: Option<Visit> = get(tx, &VISITS, id.get(), &err)?;
            match stage_visit_refund(id, current.clone(), at)? {
                Some(v) => {
                    let w = RecordWrite {
                        record: v,
                        new: false,
                    };
                    write(tx, &VISITS, std::slice::from_ref(&w), &err)?;
                    Ok(w.record)
                }
                None => current.ok_or_else(|| StoreError::NotFound {
                    what: "visit",
                    key: id.to_string(),
                }),
            }
        })
    }

    fn visit(&self, id: VisitId) -> Result<Option<Visit>, StoreError> {
        get(&self.conn, &VISITS, id.get(), |e| self.read_err(e))
    }

    fn visits_of(&self, patient: PatientId) -> Result<Vec<Visit>, StoreError> {
        let key = int("patient id", patient.get())?;
        list(&self.conn, VISITS.of, [key], |e| self.read_err(e))
    }

    fn visits_in(
        &self,
        period: Range<DateTime<Utc>>,
        after: Option<RecordCursor<VisitId>>,
        limit: usize,
    ) -> Result<Vec<Visit>, StoreError> {
        self.page(&VISITS, &period, after.map(|c| (c.at, c.id.get())), limit)
    }
}

fn erased(tx: &Connection, patient: PatientId) -> Result<bool, rusqlite::Error> {
    let key = i64::try_from(patient.get()).unwrap_or(i64::MAX);
    tx.prepare_cached("SELECT 1 FROM purchase_erasures WHERE patient = ?1")?
        .query_row([key], |_| Ok(()))
        .optional()
        .map(|r| r.is_some())
}

impl PurchaseStore for SqliteStore {
    fn append_purchases(&mut self, purchases: &[Purchase]) -> Result<usize, StoreError> {
        if purchases.is_empty() {
            return Ok(0);
        }
        let path = self.path().to_path_buf();
        let err = move |e| db_at(e, &path);
        self.write(|tx| {
            let writes = stage_purchase_append(
                purchases,
                |p| erased(tx, p).map_err(&err),
                |id: PurchaseId| get(tx, &PURCHASES, id.get(), &err),
            )?;
            write(tx, &PURCHASES, &writes, &err)
        })
    }

    fn purchase(&self, id: PurchaseId) -> Result<Option<Purchase>, StoreError> {
        get(&self.conn, &PURCHASES, id.get(), |e| self.read_err(e))
    }

    fn purchases_of(&self, patient: PatientId) -> Result<Vec<Purchase>, StoreError> {
        let key = int("patient id", patient.get())?;
        list(&self.conn, PURCHASES.of, [key], |e| self.read_err(e))
    }

    fn purchases_in(
        &self,
        period: Range<DateTime<Utc>>,
        after: Option<RecordCursor<PurchaseId>>,
        limit: usize,
    ) -> Result<Vec<Purchase>, StoreError> {
        self.page(
            &PURCHASES,
            &period,
            after.map(|c| (c.at, c.id.get())),
            limit,
        )
    }

    /// Rewrites the patient's purchase rows without their categories and, like every
    /// anonymising commit, truncates the write-ahead log that still holds the old rows
    /// (`secure_delete` zeroes the bytes the rewrite frees).
    fn erase_purchase_categories(&mut self, patient: PatientId) -> Result<(), StoreError> {
        let key = int("patient id", patient.get())?;
        let path = self.path().to_path_buf();
        let err = move |e| db_at(e, &path);
        let stored = self.purchases_of(patient)?;
        let already = erased(&self.conn, patient).map_err(&err)?;
        if already && stored.iter().all(|p| p.category.is_none()) {
            // Nothing to write: erasing twice commits nothing.
            return Ok(());
        }
        self.write_erasing(Erases::Yes, |tx| {
            tx.prepare_cached("INSERT OR IGNORE INTO purchase_erasures (patient) VALUES (?1)")
                .and_then(|mut s| s.execute([key]))
                .map_err(&err)?;
            let current: Vec<Purchase> = list(tx, PURCHASES.of, [key], &err)?;
            let writes: Vec<RecordWrite<Purchase>> = current
                .iter()
                .filter(|p| p.category.is_some())
                .map(|p| RecordWrite {
                    record: erased_purchase(p),
                    new: false,
                })
                .collect();
            write(tx, &PURCHASES, &writes, &err).map(|_| ())
        })
    }
}
